//! The protocols the broker enforces, held in memory and shared by every call.
//!
//! Protocols are loaded once at start (see [`crate::config`]). Administrators change
//! signatories at run time (suspend, reinstate, re-affirm); those changes are applied here,
//! to the in-memory copy, and recorded in the audit log by the handler that made them
//! ([`AdminChange::to_event`]). On start the changes recorded in the audit log are replayed
//! over the files ([`Registry::replay`]), so a restart does not reinstate a suspended agency;
//! while running, the registry sync job ([`crate::jobs`]) applies the changes other replicas
//! recorded ([`Registry::apply_logged`]), remembering the last audit sequence it applied
//! ([`Registry::applied_through`]).
//!
//! Changes read back from the log are applied idempotently ([`Registry::apply_replayed`]): a
//! change already in effect (suspending a suspended signatory, reinstating an active one,
//! re-affirming on or before the recorded date) is a no-op, so the same entry may be applied
//! by the replica that recorded it, by its own sync, and again after a restart. Applying the
//! log's entries in sequence order from any point therefore ends in the same registry.
//!
//! Readers get an `Arc<Protocol>` snapshot: a call sees one consistent protocol even if an
//! administrator changes it meanwhile. The lock is only held to clone an `Arc` or to apply
//! one change, never across an `.await`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use accord_domain::{AgencyId, Protocol, ProtocolId, Signatory, SignatoryStatus};
use accord_store::AdminEvent;
use serde_json::json;
use time::Date;
use tonic::Status;
use tracing::warn;

/// A protocol and the file it came from.
#[derive(Debug, Clone)]
pub struct LoadedProtocol {
    pub path: PathBuf,
    pub protocol: Protocol,
}

/// A signatory of one protocol, as the certificate mapping finds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Membership {
    pub protocol_id: ProtocolId,
    pub signatory: Signatory,
}

/// Why a registry lookup or change failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("protocol {0:?} not found")]
    UnknownProtocol(String),
    #[error("agency {agency:?} is not a signatory of protocol {protocol}")]
    UnknownSignatory {
        protocol: ProtocolId,
        agency: String,
    },
    #[error("protocol {0} is loaded twice")]
    DuplicateProtocol(ProtocolId),
    /// The change is not allowed from the signatory's current status.
    #[error(
        "signatory {agency} of protocol {protocol} is {status}: {action} needs it to be {needs}"
    )]
    WrongStatus {
        protocol: ProtocolId,
        agency: AgencyId,
        status: SignatoryStatus,
        action: &'static str,
        needs: SignatoryStatus,
    },
    #[error("re-affirmation date {date} is {problem}")]
    BadAffirmationDate { date: Date, problem: String },
}

impl From<RegistryError> for Status {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::UnknownProtocol(_) | RegistryError::UnknownSignatory { .. } => {
                Status::not_found(e.to_string())
            }
            RegistryError::WrongStatus { .. } => Status::failed_precondition(e.to_string()),
            RegistryError::BadAffirmationDate { .. } => {
                crate::error::invalid_field("affirmed_on", e.to_string())
            }
            RegistryError::DuplicateProtocol(_) => Status::internal("internal error"),
        }
    }
}

/// An administrative change to a signatory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminChange {
    Suspend {
        protocol_id: ProtocolId,
        agency_id: AgencyId,
        reason: String,
    },
    Reinstate {
        protocol_id: ProtocolId,
        agency_id: AgencyId,
        reason: String,
    },
    Reaffirm {
        protocol_id: ProtocolId,
        agency_id: AgencyId,
        affirmed_on: Date,
    },
}

/// Audit event kinds of the admin changes.
pub const EVENT_SUSPENDED: &str = "signatory_suspended";
pub const EVENT_REINSTATED: &str = "signatory_reinstated";
pub const EVENT_REAFFIRMED: &str = "signatory_reaffirmed";

impl AdminChange {
    pub fn protocol_id(&self) -> &ProtocolId {
        match self {
            Self::Suspend { protocol_id, .. }
            | Self::Reinstate { protocol_id, .. }
            | Self::Reaffirm { protocol_id, .. } => protocol_id,
        }
    }

    pub fn agency_id(&self) -> &AgencyId {
        match self {
            Self::Suspend { agency_id, .. }
            | Self::Reinstate { agency_id, .. }
            | Self::Reaffirm { agency_id, .. } => agency_id,
        }
    }

    /// The audit event recording this change (`Store::record_admin`). The detail repeats the
    /// protocol and agency so the change can be read back from the audit entry alone.
    pub fn to_event(&self) -> AdminEvent {
        let protocol_id = self.protocol_id().to_string();
        let agency_id = self.agency_id().to_string();
        let (kind, detail) = match self {
            Self::Suspend { reason, .. } => (
                EVENT_SUSPENDED,
                json!({ "protocol_id": protocol_id, "agency_id": agency_id, "reason": reason }),
            ),
            Self::Reinstate { reason, .. } => (
                EVENT_REINSTATED,
                json!({ "protocol_id": protocol_id, "agency_id": agency_id, "reason": reason }),
            ),
            Self::Reaffirm { affirmed_on, .. } => (
                EVENT_REAFFIRMED,
                json!({
                    "protocol_id": protocol_id,
                    "agency_id": agency_id,
                    "affirmed_on": crate::convert::format_date(*affirmed_on),
                }),
            ),
        };
        AdminEvent {
            kind: kind.to_owned(),
            protocol_id,
            agency_id: Some(self.agency_id().clone()),
            detail,
        }
    }

    /// Reads back a change from an audit entry's event kind and detail (as written by
    /// [`Self::to_event`]); `None` for other event kinds.
    pub fn from_audit(
        kind: &str,
        detail: &serde_json::Value,
    ) -> Option<Result<AdminChange, String>> {
        if ![EVENT_SUSPENDED, EVENT_REINSTATED, EVENT_REAFFIRMED].contains(&kind) {
            return None;
        }
        // The store may nest the event's own detail under "detail" next to the protocol and
        // agency ids; read either form.
        let text = |key: &str| {
            detail
                .get(key)
                .or_else(|| detail.get("detail").and_then(|d| d.get(key)))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
                .ok_or(format!("detail.{key} missing"))
        };
        let parsed = (|| {
            let protocol_id = ProtocolId::parse(&text("protocol_id")?)
                .map_err(|e| format!("detail.protocol_id: {e}"))?;
            let agency_id = AgencyId::parse(&text("agency_id")?)
                .map_err(|e| format!("detail.agency_id: {e}"))?;
            Ok(match kind {
                EVENT_SUSPENDED => AdminChange::Suspend {
                    protocol_id,
                    agency_id,
                    reason: text("reason")?,
                },
                EVENT_REINSTATED => AdminChange::Reinstate {
                    protocol_id,
                    agency_id,
                    reason: text("reason")?,
                },
                _ => AdminChange::Reaffirm {
                    protocol_id,
                    agency_id,
                    affirmed_on: crate::convert::parse_date(&text("affirmed_on")?)
                        .ok_or("detail.affirmed_on is not a date")?,
                },
            })
        })();
        Some(parsed)
    }
}

#[derive(Debug)]
struct Entry {
    protocol: Arc<Protocol>,
    source: PathBuf,
    /// Why each suspended or withdrawn signatory has its status (shown as `status_reason`).
    reasons: BTreeMap<AgencyId, String>,
}

#[derive(Debug, Default)]
struct State {
    protocols: BTreeMap<ProtocolId, Entry>,
    /// Every audit entry up to this sequence has been applied (0: none yet).
    applied_through: u64,
}

/// The loaded protocols. Cheap to clone; every clone sees the same protocols.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    inner: Arc<RwLock<State>>,
}

impl Registry {
    pub fn new(protocols: Vec<LoadedProtocol>) -> Result<Registry, RegistryError> {
        let mut state = State::default();
        for LoadedProtocol { path, protocol } in protocols {
            let id = protocol.id.clone();
            if state.protocols.contains_key(&id) {
                return Err(RegistryError::DuplicateProtocol(id));
            }
            state.protocols.insert(
                id,
                Entry {
                    protocol: Arc::new(protocol),
                    source: path,
                    reasons: BTreeMap::new(),
                },
            );
        }
        Ok(Registry {
            inner: Arc::new(RwLock::new(state)),
        })
    }

    // A panic while holding the lock cannot leave a half-applied change (changes are
    // computed first, then swapped in), so a poisoned lock is still safe to use.
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Every protocol, by id.
    pub fn protocols(&self) -> Vec<Arc<Protocol>> {
        self.read()
            .protocols
            .values()
            .map(|e| e.protocol.clone())
            .collect()
    }

    /// One protocol by its id as a client wrote it.
    pub fn protocol(&self, id: &str) -> Result<Arc<Protocol>, RegistryError> {
        let id_parsed =
            ProtocolId::parse(id).map_err(|_| RegistryError::UnknownProtocol(id.to_owned()))?;
        self.read()
            .protocols
            .get(&id_parsed)
            .map(|e| e.protocol.clone())
            .ok_or_else(|| RegistryError::UnknownProtocol(id.to_owned()))
    }

    /// The file a protocol was loaded from.
    pub fn source(&self, id: &ProtocolId) -> Option<PathBuf> {
        self.read().protocols.get(id).map(|e| e.source.clone())
    }

    /// One signatory of one protocol.
    pub fn signatory(&self, protocol: &str, agency: &str) -> Result<Signatory, RegistryError> {
        let p = self.protocol(protocol)?;
        AgencyId::parse(agency)
            .ok()
            .and_then(|a| p.signatory(&a).cloned())
            .ok_or_else(|| RegistryError::UnknownSignatory {
                protocol: p.id.clone(),
                agency: agency.to_owned(),
            })
    }

    /// The reason recorded for a signatory's suspension (empty when active).
    pub fn status_reason(&self, protocol: &ProtocolId, agency: &AgencyId) -> String {
        self.read()
            .protocols
            .get(protocol)
            .and_then(|e| e.reasons.get(agency).cloned())
            .unwrap_or_default()
    }

    /// Every signatory, in any protocol, whose certificate identity is one of `san_uris` or
    /// whose pinned fingerprints include `fingerprint_hex`.
    pub fn memberships(&self, san_uris: &[String], fingerprint_hex: &str) -> Vec<Membership> {
        self.read()
            .protocols
            .values()
            .filter_map(|e| {
                e.protocol
                    .signatory_by_certificate(san_uris, fingerprint_hex)
                    .map(|s| Membership {
                        protocol_id: e.protocol.id.clone(),
                        signatory: s.clone(),
                    })
            })
            .collect()
    }

    /// The signatory as `change` would leave it, without applying it (the same checks as
    /// [`Self::apply`]). Lets a handler record the change in the audit log before applying it.
    pub fn preview(&self, change: &AdminChange, today: Date) -> Result<Signatory, RegistryError> {
        let state = self.read();
        let entry = state
            .protocols
            .get(change.protocol_id())
            .ok_or_else(|| RegistryError::UnknownProtocol(change.protocol_id().to_string()))?;
        compute_change(entry, change, today).map(|(s, _)| s)
    }

    /// Applies an administrative change and returns the signatory after it. `today` bounds
    /// re-affirmation dates.
    pub fn apply(&self, change: &AdminChange, today: Date) -> Result<Signatory, RegistryError> {
        let mut state = self.write();
        let entry = state
            .protocols
            .get_mut(change.protocol_id())
            .ok_or_else(|| RegistryError::UnknownProtocol(change.protocol_id().to_string()))?;
        let (updated, reason_update) = compute_change(entry, change, today)?;
        store_change(entry, change.agency_id(), &updated, reason_update);
        Ok(updated)
    }

    /// Re-applies changes recorded in the audit log, given as (event kind, detail) in log
    /// order, idempotently ([`Self::apply_replayed`]). Events that no longer apply (the
    /// protocol file changed since) are skipped with a warning. Returns how many changed the
    /// registry.
    pub fn replay<'a>(
        &self,
        events: impl IntoIterator<Item = (&'a str, &'a serde_json::Value)>,
    ) -> usize {
        let mut applied = 0;
        for (kind, detail) in events {
            match AdminChange::from_audit(kind, detail) {
                None => {}
                Some(Err(problem)) => {
                    warn!(kind = %kind, problem = %problem, "unreadable admin event skipped");
                }
                Some(Ok(change)) => match self.apply_replayed(&change) {
                    Ok(Some(_)) => applied += 1,
                    Ok(None) => {}
                    Err(e) => {
                        warn!(kind = %kind, error = %e, "admin event no longer applies; skipped");
                    }
                },
            }
        }
        applied
    }

    /// Applies a change read back from the audit log. Idempotent: a change already in effect
    /// is a no-op (`Ok(None)`); otherwise returns the signatory after it. The log is
    /// authoritative, so a re-affirmation is not checked against today's date (the replica
    /// that recorded it did); one on or before the recorded date changes nothing.
    pub fn apply_replayed(&self, change: &AdminChange) -> Result<Option<Signatory>, RegistryError> {
        apply_replayed_in(&mut self.write(), change)
    }

    /// Applies the change recorded at audit `sequence`, for the registry sync: entries at or
    /// before [`Self::applied_through`] are skipped (`Ok(None)`), others are applied with
    /// [`Self::apply_replayed`], and the sequence becomes the new `applied_through` whether
    /// or not the change applied (an entry that no longer applies is not retried).
    pub fn apply_logged(
        &self,
        sequence: u64,
        change: &AdminChange,
    ) -> Result<Option<Signatory>, RegistryError> {
        let mut state = self.write();
        if sequence <= state.applied_through {
            return Ok(None);
        }
        state.applied_through = sequence;
        apply_replayed_in(&mut state, change)
    }

    /// Applies a change the caller has just recorded at audit `sequence` (after a successful
    /// [`Self::preview`]) and returns the signatory after it. If the registry sync has already
    /// applied that entry (and perhaps later ones), the registry is left as it is: applying an
    /// older change over newer ones would undo them.
    pub fn apply_recorded(
        &self,
        sequence: u64,
        change: &AdminChange,
    ) -> Result<Signatory, RegistryError> {
        let mut state = self.write();
        if sequence > state.applied_through {
            apply_replayed_in(&mut state, change)?;
        }
        let entry = state
            .protocols
            .get(change.protocol_id())
            .ok_or_else(|| RegistryError::UnknownProtocol(change.protocol_id().to_string()))?;
        entry
            .protocol
            .signatory(change.agency_id())
            .cloned()
            .ok_or_else(|| RegistryError::UnknownSignatory {
                protocol: change.protocol_id().clone(),
                agency: change.agency_id().to_string(),
            })
    }

    /// The last audit sequence through which every entry has been applied (0: none).
    pub fn applied_through(&self) -> u64 {
        self.read().applied_through
    }

    /// Records that every audit entry up to `sequence` has been applied (never moves back).
    pub fn advance_to(&self, sequence: u64) {
        let mut state = self.write();
        state.applied_through = state.applied_through.max(sequence);
    }
}

/// [`Registry::apply_replayed`] under the caller's write lock.
fn apply_replayed_in(
    state: &mut State,
    change: &AdminChange,
) -> Result<Option<Signatory>, RegistryError> {
    let entry = state
        .protocols
        .get_mut(change.protocol_id())
        .ok_or_else(|| RegistryError::UnknownProtocol(change.protocol_id().to_string()))?;
    let Some((updated, reason_update)) = compute_replayed(entry, change)? else {
        return Ok(None);
    };
    store_change(entry, change.agency_id(), &updated, reason_update);
    Ok(Some(updated))
}

/// Swaps a computed change into the entry.
fn store_change(
    entry: &mut Entry,
    agency: &AgencyId,
    updated: &Signatory,
    reason_update: Option<Option<String>>,
) {
    let protocol = Arc::make_mut(&mut entry.protocol);
    if let Some(slot) = protocol.signatory_mut(agency) {
        *slot = updated.clone();
    }
    match reason_update {
        Some(Some(r)) => {
            entry.reasons.insert(agency.clone(), r);
        }
        Some(None) => {
            entry.reasons.remove(agency);
        }
        None => {}
    }
}

/// What a change read back from the log does: `None` when it is already in effect, else as
/// [`compute_change`]. Still an error when the change cannot apply at all (an unknown
/// signatory, suspending or reinstating a withdrawn one).
fn compute_replayed(
    entry: &Entry,
    change: &AdminChange,
) -> Result<Option<Computed>, RegistryError> {
    let agency = change.agency_id();
    let current =
        entry
            .protocol
            .signatory(agency)
            .ok_or_else(|| RegistryError::UnknownSignatory {
                protocol: change.protocol_id().clone(),
                agency: agency.to_string(),
            })?;
    let in_effect = match change {
        AdminChange::Suspend { .. } => current.status == SignatoryStatus::Suspended,
        AdminChange::Reinstate { .. } => current.status == SignatoryStatus::Active,
        AdminChange::Reaffirm { affirmed_on, .. } => *affirmed_on <= current.last_affirmed_on,
    };
    if in_effect {
        return Ok(None);
    }
    // The log is authoritative: no "today" bound on a recorded re-affirmation.
    compute_change(entry, change, Date::MAX).map(Some)
}

/// What `change` does to its signatory: the signatory after it, and the new status reason
/// (`Some(None)` clears it).
type Computed = (Signatory, Option<Option<String>>);

fn compute_change(
    entry: &Entry,
    change: &AdminChange,
    today: Date,
) -> Result<Computed, RegistryError> {
    let agency = change.agency_id();
    let current =
        entry
            .protocol
            .signatory(agency)
            .ok_or_else(|| RegistryError::UnknownSignatory {
                protocol: change.protocol_id().clone(),
                agency: agency.to_string(),
            })?;
    let wrong = |action, needs| RegistryError::WrongStatus {
        protocol: change.protocol_id().clone(),
        agency: agency.clone(),
        status: current.status,
        action,
        needs,
    };
    let mut updated = current.clone();
    let mut reason_update: Option<Option<String>> = None;
    match change {
        AdminChange::Suspend { reason, .. } => {
            if current.status != SignatoryStatus::Active {
                return Err(wrong("suspend", SignatoryStatus::Active));
            }
            updated.status = SignatoryStatus::Suspended;
            reason_update = Some(Some(reason.clone()));
        }
        AdminChange::Reinstate { .. } => {
            if current.status != SignatoryStatus::Suspended {
                return Err(wrong("reinstate", SignatoryStatus::Suspended));
            }
            updated.status = SignatoryStatus::Active;
            reason_update = Some(None);
        }
        AdminChange::Reaffirm { affirmed_on, .. } => {
            let date = *affirmed_on;
            if date > today {
                return Err(RegistryError::BadAffirmationDate {
                    date,
                    problem: "in the future".into(),
                });
            }
            if date < current.last_affirmed_on {
                return Err(RegistryError::BadAffirmationDate {
                    date,
                    problem: format!(
                        "before the previous re-affirmation ({})",
                        current.last_affirmed_on
                    ),
                });
            }
            updated.last_affirmed_on = date;
        }
    }
    Ok((updated, reason_update))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use time::macros::date;

    /// A minimal valid protocol with the given signatories (agency id, status).
    pub(crate) fn protocol_text(
        id: &str,
        partnership: &str,
        signatories: &[(&str, &str)],
    ) -> String {
        let mut s = format!(
            r#"
[protocol]
id = "{id}"
title = "Test protocol"
version = "1.0"
approved_on = 2024-01-01
review_due = 2030-01-01
capacity_age = 12
repeat_window_days = 90

[[category]]
id = "education"
description = "School attendance"
special = false

[[purpose]]
id = "s47-enquiry"
description = "Section 47 enquiry"
lawful_bases = ["public_task"]
categories = ["education"]
retention_days = 365
approving_roles = ["ig_lead"]
[purpose.consent]
early_help = "explicit"
child_in_need = "sought"
significant_harm = "not_required"
immediate_risk = "not_required"
[purpose.deadlines]
immediate = "1h"
urgent = "24h"
routine = "10d"
"#
        );
        for (agency, status) in signatories {
            s.push_str(&format!(
                r#"
[[signatory]]
agency_id = "{agency}"
name = "{agency}"
kind = "police"
relevant_authority = true
signed_on = 2024-01-01
reaffirm_every_months = 24
status = "{status}"
certificate_identity = "spiffe://{partnership}/agency/{agency}"
token_issuer = "https://id.{agency}.example/"
"#
            ));
        }
        s
    }

    pub(crate) fn protocol(id: &str, signatories: &[(&str, &str)]) -> Protocol {
        accord_domain::parse_protocol(&protocol_text(id, "test", signatories), "test.toml")
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn registry() -> Registry {
        Registry::new(vec![
            LoadedProtocol {
                path: "a.toml".into(),
                protocol: protocol("proto-a", &[("police", "active"), ("council", "active")]),
            },
            LoadedProtocol {
                path: "b.toml".into(),
                protocol: protocol("proto-b", &[("police", "suspended")]),
            },
        ])
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn ids(p: &str, a: &str) -> (ProtocolId, AgencyId) {
        (
            ProtocolId::parse(p).unwrap_or_else(|e| panic!("{e}")),
            AgencyId::parse(a).unwrap_or_else(|e| panic!("{e}")),
        )
    }

    #[test]
    fn finds_memberships_by_san_uri() {
        let r = registry();
        let m = r.memberships(&["spiffe://test/agency/police".into()], "00");
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].protocol_id.as_str(), "proto-a");
        assert_eq!(m[1].signatory.status, SignatoryStatus::Suspended);
        assert!(r
            .memberships(&["spiffe://other/agency/police".into()], "00")
            .is_empty());
    }

    #[test]
    fn suspend_and_reinstate() {
        let r = registry();
        let snapshot = r.protocol("proto-a").unwrap_or_else(|e| panic!("{e}"));
        let (protocol_id, agency_id) = ids("proto-a", "police");
        let s = r
            .apply(
                &AdminChange::Suspend {
                    protocol_id: protocol_id.clone(),
                    agency_id: agency_id.clone(),
                    reason: "breach".into(),
                },
                date!(2025 - 01 - 01),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.status, SignatoryStatus::Suspended);
        assert_eq!(r.status_reason(&protocol_id, &agency_id), "breach");
        // A snapshot taken before the change is unaffected.
        assert_eq!(
            snapshot.signatory(&agency_id).map(|s| s.status),
            Some(SignatoryStatus::Active)
        );
        // Suspending twice is a precondition failure.
        let again = r.apply(
            &AdminChange::Suspend {
                protocol_id: protocol_id.clone(),
                agency_id: agency_id.clone(),
                reason: "x".into(),
            },
            date!(2025 - 01 - 01),
        );
        assert!(matches!(again, Err(RegistryError::WrongStatus { .. })));
        assert_eq!(
            Status::from(
                again
                    .err()
                    .unwrap_or(RegistryError::UnknownProtocol(String::new()))
            )
            .code(),
            tonic::Code::FailedPrecondition
        );
        let s = r
            .apply(
                &AdminChange::Reinstate {
                    protocol_id: protocol_id.clone(),
                    agency_id: agency_id.clone(),
                    reason: "fixed".into(),
                },
                date!(2025 - 01 - 01),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.status, SignatoryStatus::Active);
        assert_eq!(r.status_reason(&protocol_id, &agency_id), "");
        let m = r.memberships(&["spiffe://test/agency/police".into()], "");
        assert_eq!(m[0].signatory.status, SignatoryStatus::Active);
    }

    #[test]
    fn reinstate_needs_suspended() {
        let r = registry();
        let (protocol_id, agency_id) = ids("proto-a", "council");
        let e = r.apply(
            &AdminChange::Reinstate {
                protocol_id,
                agency_id,
                reason: "x".into(),
            },
            date!(2025 - 01 - 01),
        );
        assert!(matches!(
            e,
            Err(RegistryError::WrongStatus {
                needs: SignatoryStatus::Suspended,
                ..
            })
        ));
    }

    #[test]
    fn reaffirm_checks_dates() {
        let r = registry();
        let (protocol_id, agency_id) = ids("proto-a", "council");
        let today = date!(2025 - 06 - 01);
        let future = AdminChange::Reaffirm {
            protocol_id: protocol_id.clone(),
            agency_id: agency_id.clone(),
            affirmed_on: date!(2025 - 06 - 02),
        };
        assert!(matches!(
            r.apply(&future, today),
            Err(RegistryError::BadAffirmationDate { .. })
        ));
        let before = AdminChange::Reaffirm {
            protocol_id: protocol_id.clone(),
            agency_id: agency_id.clone(),
            affirmed_on: date!(2023 - 12 - 31),
        };
        assert!(matches!(
            r.apply(&before, today),
            Err(RegistryError::BadAffirmationDate { .. })
        ));
        let ok = AdminChange::Reaffirm {
            protocol_id,
            agency_id,
            affirmed_on: today,
        };
        let s = r.apply(&ok, today).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.last_affirmed_on, today);
    }

    #[test]
    fn unknown_protocol_and_signatory() {
        let r = registry();
        assert!(matches!(
            r.protocol("nope"),
            Err(RegistryError::UnknownProtocol(_))
        ));
        assert!(matches!(
            r.protocol("Bad Id"),
            Err(RegistryError::UnknownProtocol(_))
        ));
        assert!(matches!(
            r.signatory("proto-a", "nobody"),
            Err(RegistryError::UnknownSignatory { .. })
        ));
        assert_eq!(
            Status::from(RegistryError::UnknownProtocol("x".into())).code(),
            tonic::Code::NotFound
        );
    }

    #[test]
    fn duplicate_protocols_are_refused() {
        let p = protocol("proto-a", &[("police", "active")]);
        let e = Registry::new(vec![
            LoadedProtocol {
                path: "1.toml".into(),
                protocol: p.clone(),
            },
            LoadedProtocol {
                path: "2.toml".into(),
                protocol: p,
            },
        ]);
        assert!(matches!(e, Err(RegistryError::DuplicateProtocol(_))));
    }

    #[test]
    fn admin_events_round_trip_and_replay() {
        let (protocol_id, agency_id) = ids("proto-a", "police");
        let changes = [
            AdminChange::Suspend {
                protocol_id: protocol_id.clone(),
                agency_id: agency_id.clone(),
                reason: "breach".into(),
            },
            AdminChange::Reinstate {
                protocol_id: protocol_id.clone(),
                agency_id: agency_id.clone(),
                reason: "ok".into(),
            },
            AdminChange::Reaffirm {
                protocol_id: protocol_id.clone(),
                agency_id: agency_id.clone(),
                affirmed_on: date!(2025 - 02 - 03),
            },
            AdminChange::Suspend {
                protocol_id: protocol_id.clone(),
                agency_id: agency_id.clone(),
                reason: "again".into(),
            },
        ];
        let events: Vec<AdminEvent> = changes.iter().map(AdminChange::to_event).collect();
        for (c, e) in changes.iter().zip(&events) {
            assert_eq!(
                AdminChange::from_audit(&e.kind, &e.detail),
                Some(Ok(c.clone()))
            );
        }
        assert_eq!(AdminChange::from_audit("something_else", &json!({})), None);
        // As the store records it: the event's detail nested beside the ids.
        let stored = json!({ "protocol_id": "proto-a", "agency_id": "police", "detail": { "reason": "breach" } });
        assert_eq!(
            AdminChange::from_audit(EVENT_SUSPENDED, &stored),
            Some(Ok(changes[0].clone()))
        );
        assert!(matches!(
            AdminChange::from_audit(EVENT_SUSPENDED, &json!({})),
            Some(Err(_))
        ));

        let r = registry();
        // The suspend of proto-b's already suspended police is already in effect.
        let mut all = events.clone();
        all.push(
            AdminChange::Suspend {
                protocol_id: ids("proto-b", "police").0,
                agency_id: agency_id.clone(),
                reason: "x".into(),
            }
            .to_event(),
        );
        assert_eq!(
            r.replay(all.iter().map(|e| (e.kind.as_str(), &e.detail))),
            4
        );
        let s = r
            .signatory("proto-a", "police")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.status, SignatoryStatus::Suspended);
        assert_eq!(s.last_affirmed_on, date!(2025 - 02 - 03));
        assert_eq!(r.status_reason(&protocol_id, &agency_id), "again");
    }

    #[test]
    fn replaying_the_same_change_twice_is_harmless() {
        let r = registry();
        let (protocol_id, agency_id) = ids("proto-a", "police");
        let suspend = AdminChange::Suspend {
            protocol_id: protocol_id.clone(),
            agency_id: agency_id.clone(),
            reason: "breach".into(),
        };
        let reinstate = AdminChange::Reinstate {
            protocol_id: protocol_id.clone(),
            agency_id: agency_id.clone(),
            reason: "fixed".into(),
        };
        let status = || {
            r.signatory("proto-a", "police")
                .map(|s| s.status)
                .unwrap_or_else(|e| panic!("{e}"))
        };

        // The sync applies entry 5 once; reading it again is skipped by sequence.
        let first = r
            .apply_logged(5, &suspend)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(first.map(|s| s.status), Some(SignatoryStatus::Suspended));
        assert_eq!(r.applied_through(), 5);
        assert_eq!(r.apply_logged(5, &suspend), Ok(None));
        // Replayed again outside the sync (a restart, the recording replica): a no-op, where
        // the strict `apply` would refuse it.
        assert_eq!(r.apply_replayed(&suspend), Ok(None));
        assert!(matches!(
            r.apply(&suspend, date!(2025 - 01 - 01)),
            Err(RegistryError::WrongStatus { .. })
        ));
        let recorded = r
            .apply_recorded(5, &suspend)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(recorded.status, SignatoryStatus::Suspended);
        assert_eq!(status(), SignatoryStatus::Suspended);
        assert_eq!(r.status_reason(&protocol_id, &agency_id), "breach");

        // Reinstated at 6, applied twice by sequence and twice as a replay: active once.
        assert!(matches!(r.apply_logged(6, &reinstate), Ok(Some(_))));
        assert_eq!(r.apply_logged(6, &reinstate), Ok(None));
        assert_eq!(r.apply_replayed(&reinstate), Ok(None));
        assert_eq!(status(), SignatoryStatus::Active);
        assert_eq!(r.status_reason(&protocol_id, &agency_id), "");

        // A change this replica recorded at 5 but the sync already passed (through 6) does not
        // undo the later reinstatement.
        let after = r
            .apply_recorded(5, &suspend)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(after.status, SignatoryStatus::Active);

        // Replaying a whole log twice ends where replaying it once does.
        let events: Vec<AdminEvent> = [suspend.clone(), reinstate.clone(), suspend.clone()]
            .iter()
            .map(AdminChange::to_event)
            .collect();
        let once = r.replay(events.iter().map(|e| (e.kind.as_str(), &e.detail)));
        let twice = r.replay(events.iter().map(|e| (e.kind.as_str(), &e.detail)));
        // From active: all three apply; the second time the first suspend is already in effect.
        assert_eq!((once, twice), (3, 2));
        assert_eq!(status(), SignatoryStatus::Suspended);

        // Re-affirmations: an older or equal date changes nothing; no "today" bound.
        let (_, council) = ids("proto-a", "council");
        let reaffirm = |d| AdminChange::Reaffirm {
            protocol_id: protocol_id.clone(),
            agency_id: council.clone(),
            affirmed_on: d,
        };
        assert!(matches!(
            r.apply_replayed(&reaffirm(date!(2025 - 02 - 03))),
            Ok(Some(_))
        ));
        assert_eq!(r.apply_replayed(&reaffirm(date!(2025 - 02 - 03))), Ok(None));
        assert_eq!(r.apply_replayed(&reaffirm(date!(2024 - 06 - 01))), Ok(None));
        // A withdrawn or unknown signatory still cannot be changed.
        assert!(matches!(
            r.apply_replayed(&AdminChange::Suspend {
                protocol_id: protocol_id.clone(),
                agency_id: AgencyId::parse("nobody").unwrap_or_else(|e| panic!("{e}")),
                reason: "x".into(),
            }),
            Err(RegistryError::UnknownSignatory { .. })
        ));
        r.advance_to(3);
        assert_eq!(r.applied_through(), 6, "applied_through never moves back");
    }
}
