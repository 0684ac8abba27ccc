//! The `accord.v1` services. Every handler follows the same order:
//!
//! 1. authenticate ([`AppState::authenticate`]): certificate → agency, token → person;
//! 2. authorise against the matrix ([`crate::authz`]): for a call about one exchange the
//!    exchange is read first, and a non-party gets exactly the not-found status;
//! 3. validate the input, reporting every problem as a field violation
//!    ([`crate::error::invalid_argument`]);
//! 4. act on the store, mapping its errors with [`crate::error::store_status`];
//! 5. convert the result ([`crate::api`]).
//!
//! Handlers never log content, names or child identifiers: only exchange ids, agencies and
//! the request id (already on the call's span).

pub mod approvals;
pub mod audit;
pub mod exchanges;
pub mod inbox;
pub mod registry;

#[cfg(test)]
use accord_domain::FieldViolation;
use accord_domain::{Actor, Command, Protocol, Purpose, Role};
use accord_proto::v1 as pb;
use accord_store::{Change, Exchange, StoreError};
use std::sync::Arc;
use tonic::Status;
use uuid::Uuid;

use crate::api;
use crate::auth::Caller;
use crate::authz::Operation;
#[cfg(test)]
use crate::error::MORE_PROBLEMS;
use crate::error::{exchange_not_found, invalid_argument, store_status, StoreResultExt};
use crate::AppState;
#[cfg(test)]
use accord_domain::validation::MAX_VIOLATIONS;
use accord_domain::Violations;

pub use approvals::ApprovalHandlers;
pub use audit::AuditHandlers;
pub use exchanges::ExchangeHandlers;
pub use inbox::InboxHandlers;
pub use registry::RegistryHandlers;

/// Largest page a list call may ask for (`PageRequest.page_size`).
pub const MAX_PAGE_SIZE: u32 = accord_domain::limits::PAGE_SIZE;
/// Page size when the client leaves it at 0.
pub const DEFAULT_PAGE_SIZE: u32 = accord_domain::limits::DEFAULT_PAGE_SIZE;

/// Collects field violations for one request through the one bounded collector
/// ([`Violations`]: at most [`MAX_VIOLATIONS`], then one "… and more problems"), and answers
/// `INVALID_ARGUMENT` with all of them.
#[derive(Debug, Default)]
pub(crate) struct Fields(pub(crate) Violations);

impl std::ops::Deref for Fields {
    type Target = Violations;
    fn deref(&self) -> &Violations {
        &self.0
    }
}

impl std::ops::DerefMut for Fields {
    fn deref_mut(&mut self) -> &mut Violations {
        &mut self.0
    }
}

impl Fields {
    /// `Ok` when nothing was reported, else `INVALID_ARGUMENT` with every violation.
    pub(crate) fn finish(self) -> Result<(), Status> {
        self.0.finish().map_err(invalid_argument)
    }
}

/// Parses an exchange id field, or answers `INVALID_ARGUMENT` naming it.
pub(crate) fn exchange_id(field: &str, value: &str) -> Result<Uuid, Status> {
    api::exchange_id_from_proto(field, value).map_err(|v| invalid_argument(vec![v]))
}

/// Page size and token of an optional `PageRequest` at `field`; reports a size over the
/// maximum.
pub(crate) fn page(
    fields: &mut Fields,
    field: &str,
    page: Option<&pb::PageRequest>,
) -> (u32, Option<String>) {
    let Some(p) = page else {
        return (DEFAULT_PAGE_SIZE, None);
    };
    if p.page_size > MAX_PAGE_SIZE {
        fields.push(
            format!("{field}.page_size"),
            format!("must be at most {MAX_PAGE_SIZE} (found {})", p.page_size),
        );
    }
    if p.page_token.len() > accord_domain::limits::PAGE_TOKEN {
        fields.push(
            format!("{field}.page_token"),
            "is not a token of this server",
        );
    }
    let size = if p.page_size == 0 {
        DEFAULT_PAGE_SIZE
    } else {
        p.page_size.min(MAX_PAGE_SIZE)
    };
    let token = (!p.page_token.is_empty()).then(|| p.page_token.clone());
    (size, token)
}

/// The actor recorded for a caller: the person and agency, with the role that granted the
/// call first (the audit log shows the first role as the role the person acted in).
pub(crate) fn actor_as(caller: &Caller, role: Role) -> Actor {
    let mut roles = vec![role];
    roles.extend(caller.roles.iter().copied().filter(|r| *r != role));
    Actor {
        agency: Some(caller.agency.clone()),
        subject: caller.subject.clone(),
        roles,
    }
}

/// Reads an exchange and authorises the caller for `op` on it. A missing exchange and one the
/// caller's agency is not party to give the same `NOT_FOUND`; so does a request the check
/// refused, to the holding agency ([`hidden_from_holder`]). A party that is no longer an
/// active signatory of the exchange's own protocol (suspended or withdrawn there, though
/// active in another) is `PERMISSION_DENIED`.
pub(crate) async fn load_authorized(
    state: &AppState,
    caller: &Caller,
    op: Operation,
    id: Uuid,
) -> Result<(Exchange, Role), Status> {
    let x = state.store().get(id).await.or_status()?;
    let role = caller.authorize_exchange(op, id, &x.requesting_agency, &x.holding_agency)?;
    // A request the check refused never reached the holder: to it the exchange does not exist
    // (`NOT_FOUND`, as for a non-party; the store leaves it out of the holder's listings too).
    if caller.agency == x.holding_agency && !x.state.visible_to_holder() {
        return Err(exchange_not_found(id));
    }
    // Authentication admits an agency active in *some* protocol; the exchange was made under
    // one protocol, and only its active signatories may act on it or read it. When the
    // request was purged at the end of its retention the protocol is no longer known: what
    // is left (state, dates, agencies, the audit trail) carries no shared content, so the
    // parties keep their access to it.
    if let Some(protocol) = x.request.as_ref().map(|r| &r.protocol_id) {
        if !caller.active_in(protocol) {
            return Err(Status::permission_denied(format!(
                "agency {} is not an active signatory of protocol {protocol}",
                caller.agency
            )));
        }
    }
    Ok((x, role))
}

/// The `ABORTED` status for a version mismatch, spelt as the store spells it.
pub(crate) fn version_conflict(id: Uuid, expected: u64, found: u64) -> Status {
    store_status(StoreError::Conflict {
        id,
        expected,
        found,
    })
}

/// Carries out a command on an exchange as `actor`, now. The rules run in the store's
/// writer on the exchange as it is at that moment (`accord_domain::Exchange::handle`), so no
/// check is made on a stale read; with `expected` (the client's `expected_version`) a
/// mismatch is `ABORTED`.
pub(crate) async fn apply_change(
    state: &AppState,
    id: Uuid,
    expected: Option<u64>,
    command: Command,
    actor: Actor,
) -> Result<Exchange, Status> {
    let change = Change {
        command,
        actor,
        now: state.clock.now(),
    };
    state.store().apply(id, expected, change).await.or_status()
}

/// The protocol and purpose an exchange was made under, from the registry.
pub(crate) fn purpose_of(
    state: &AppState,
    x: &Exchange,
) -> Result<(Arc<Protocol>, Purpose), Status> {
    let Some(request) = &x.request else {
        return Err(Status::failed_precondition(format!(
            "the request of exchange {} was purged at the end of its retention",
            x.id
        )));
    };
    let protocol = state
        .registry
        .protocol(request.protocol_id.as_str())
        .map_err(|_| {
            Status::failed_precondition(format!(
                "protocol {} of exchange {} is no longer loaded",
                request.protocol_id, x.id
            ))
        })?;
    let purpose = protocol.purpose(&x.purpose).cloned().ok_or_else(|| {
        Status::failed_precondition(format!(
            "purpose {} of exchange {} is no longer in protocol {}",
            x.purpose, x.id, protocol.id
        ))
    })?;
    Ok((protocol, purpose))
}

/// `Some(v)` for a non-zero `expected_version`, `None` for 0 (no check).
pub(crate) fn optional_version(v: u64) -> Option<u64> {
    (v != 0).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_report_every_problem() {
        let mut f = Fields::default();
        f.text("a", "", 1, 10);
        f.text("b", "   ", 1, 10);
        f.text("c", "", 0, 10);
        f.text("d", "ééééé", 1, 4);
        f.text_list("e", &["ok".into(), String::new()], 1, 1, 10);
        f.text_list("g", &["ok".into(), String::new()], 1, 2, 10);
        let fields: Vec<String> = f.0.as_slice().iter().map(|v| v.field.clone()).collect();
        assert_eq!(fields, ["a", "b", "d", "e", "g[1]"]);
        assert!(f.finish().is_err());
        assert!(Fields::default().finish().is_ok());
    }

    #[test]
    fn an_over_long_list_is_one_violation() {
        // A million empty texts: one violation for the list, none for its elements.
        let values = vec![String::new(); 1_000_000];
        let mut f = Fields::default();
        f.text_list("ask.questions", &values, 1, 20, 2000);
        assert_eq!(f.0.as_slice().len(), 1);
        assert_eq!(f.0.as_slice()[0].field, "ask.questions");
        assert_eq!(
            f.0.as_slice()[0].reason,
            "at most 20 entries (found 1000000)"
        );
    }

    #[test]
    fn fields_stop_collecting_at_the_cap() {
        let mut f = Fields::default();
        let values = vec![String::new(); 20];
        for i in 0..100 {
            f.text_list(&format!("l{i}"), &values, 1, 20, 10);
        }
        f.extend((0..1_000_000).map(|i| FieldViolation::new(format!("x{i}"), "bad")));
        assert_eq!(f.0.as_slice().len(), MAX_VIOLATIONS + 1);
        assert_eq!(f.0.as_slice()[MAX_VIOLATIONS].field, "");
        assert_eq!(f.0.as_slice()[MAX_VIOLATIONS].reason, MORE_PROBLEMS);
    }

    #[test]
    fn pages_are_bounded() {
        let mut f = Fields::default();
        assert_eq!(page(&mut f, "page", None), (DEFAULT_PAGE_SIZE, None));
        let p = pb::PageRequest {
            page_size: 501,
            page_token: "t".into(),
        };
        assert_eq!(page(&mut f, "page", Some(&p)), (500, Some("t".into())));
        assert_eq!(f.0.as_slice().len(), 1);
        assert_eq!(f.0.as_slice()[0].field, "page.page_size");
    }

    #[test]
    fn actor_lists_the_granting_role_first() {
        let caller = Caller {
            request_id: Uuid::nil(),
            agency: accord_domain::AgencyId::parse("a").unwrap_or_else(|e| panic!("{e}")),
            agency_kind: accord_domain::AgencyKind::Police,
            protocols: Vec::new(),
            subject: "u".into(),
            name: None,
            roles: vec![Role::Auditor, Role::IgLead],
            peer: "127.0.0.1:1".parse().unwrap_or_else(|e| panic!("{e}")),
        };
        assert_eq!(
            actor_as(&caller, Role::IgLead).roles,
            vec![Role::IgLead, Role::Auditor]
        );
    }
}
