//! Who may call what: the authorisation matrix of the v1 API as data ([`MATRIX`]) and one pure
//! function over it ([`authorize`]).
//!
//! A decision depends on three things only: the operation, the caller's roles (from the
//! token) and the caller's agency's relation to the exchange (from the certificate and the
//! stored exchange). State-dependent rules (is the exchange awaiting approval? is the caller
//! the approver the assessment requires?) belong to the handlers and the store.
//!
//! `docs/security.md` carries the table rendered by [`render_markdown`]; a unit test fails if
//! the two differ.

use std::fmt;

use accord_domain::{AgencyId, Role};
use tonic::Status;
use tracing::error;
use uuid::Uuid;

use crate::error::ApiError;

/// Every RPC of the `accord.v1` API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    SubmitRequest,
    CheckRequest,
    GetExchange,
    ListExchanges,
    WithdrawRequest,
    AnswerInformationRequest,
    SubmitResponse,
    FetchResponse,
    AcknowledgeResponse,
    EscalateDecline,
    WatchInbox,
    ListPending,
    Decide,
    QueryAudit,
    VerifyAudit,
    ExportAudit,
    GetStatistics,
    ListProtocols,
    GetProtocol,
    ListSignatories,
    SuspendSignatory,
    ReinstateSignatory,
    ReaffirmSignatory,
}

impl Operation {
    /// Every operation, in the order of the services in the proto files.
    pub const ALL: &'static [Operation] = &[
        Self::SubmitRequest,
        Self::CheckRequest,
        Self::GetExchange,
        Self::ListExchanges,
        Self::WithdrawRequest,
        Self::AnswerInformationRequest,
        Self::SubmitResponse,
        Self::FetchResponse,
        Self::AcknowledgeResponse,
        Self::EscalateDecline,
        Self::WatchInbox,
        Self::ListPending,
        Self::Decide,
        Self::QueryAudit,
        Self::VerifyAudit,
        Self::ExportAudit,
        Self::GetStatistics,
        Self::ListProtocols,
        Self::GetProtocol,
        Self::ListSignatories,
        Self::SuspendSignatory,
        Self::ReinstateSignatory,
        Self::ReaffirmSignatory,
    ];

    /// The service the RPC belongs to, as named in the proto (`ExchangeService`).
    pub fn service(self) -> &'static str {
        use Operation as O;
        match self {
            O::SubmitRequest
            | O::CheckRequest
            | O::GetExchange
            | O::ListExchanges
            | O::WithdrawRequest
            | O::AnswerInformationRequest
            | O::SubmitResponse
            | O::FetchResponse
            | O::AcknowledgeResponse
            | O::EscalateDecline => "ExchangeService",
            O::WatchInbox => "InboxService",
            O::ListPending | O::Decide => "ApprovalService",
            O::QueryAudit | O::VerifyAudit | O::ExportAudit | O::GetStatistics => "AuditService",
            O::ListProtocols
            | O::GetProtocol
            | O::ListSignatories
            | O::SuspendSignatory
            | O::ReinstateSignatory
            | O::ReaffirmSignatory => "RegistryService",
        }
    }

    /// The RPC's name as in the proto (`SubmitRequest`).
    pub fn method(self) -> &'static str {
        use Operation as O;
        match self {
            O::SubmitRequest => "SubmitRequest",
            O::CheckRequest => "CheckRequest",
            O::GetExchange => "GetExchange",
            O::ListExchanges => "ListExchanges",
            O::WithdrawRequest => "WithdrawRequest",
            O::AnswerInformationRequest => "AnswerInformationRequest",
            O::SubmitResponse => "SubmitResponse",
            O::FetchResponse => "FetchResponse",
            O::AcknowledgeResponse => "AcknowledgeResponse",
            O::EscalateDecline => "EscalateDecline",
            O::WatchInbox => "WatchInbox",
            O::ListPending => "ListPending",
            O::Decide => "Decide",
            O::QueryAudit => "QueryAudit",
            O::VerifyAudit => "VerifyAudit",
            O::ExportAudit => "ExportAudit",
            O::GetStatistics => "GetStatistics",
            O::ListProtocols => "ListProtocols",
            O::GetProtocol => "GetProtocol",
            O::ListSignatories => "ListSignatories",
            O::SuspendSignatory => "SuspendSignatory",
            O::ReinstateSignatory => "ReinstateSignatory",
            O::ReaffirmSignatory => "ReaffirmSignatory",
        }
    }

    /// The HTTP/2 path of the RPC, e.g. `/accord.v1.ExchangeService/SubmitRequest`.
    pub fn path(self) -> String {
        format!("/accord.v1.{}/{}", self.service(), self.method())
    }

    /// The operation served at an HTTP/2 path, if it is an Accord RPC.
    pub fn from_path(path: &str) -> Option<Operation> {
        let rest = path.strip_prefix("/accord.v1.")?;
        let (service, method) = rest.split_once('/')?;
        Self::ALL
            .iter()
            .copied()
            .find(|op| op.service() == service && op.method() == method)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.service(), self.method())
    }
}

/// The caller's agency's relation to the exchange the call is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Relation {
    /// The caller's agency made the request (for `SubmitRequest` and `CheckRequest`: is named
    /// as requester).
    Requester,
    /// The request is addressed to the caller's agency.
    Holder,
    /// The caller's agency is on neither side.
    NonParty,
    /// The call is not about one exchange (lists, audit, registry).
    NotApplicable,
}

impl Relation {
    pub const ALL: &'static [Relation] = &[
        Self::Requester,
        Self::Holder,
        Self::NonParty,
        Self::NotApplicable,
    ];

    /// The relation of `agency` to an exchange between `requesting` and `holding`.
    pub fn of(agency: &AgencyId, requesting: &AgencyId, holding: &AgencyId) -> Relation {
        if agency == requesting {
            Relation::Requester
        } else if agency == holding {
            Relation::Holder
        } else {
            Relation::NonParty
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Relation::Requester => "the requesting agency",
            Relation::Holder => "the holding agency",
            Relation::NonParty => "an agency that is not party to the exchange",
            Relation::NotApplicable => "any agency",
        }
    }
}

/// One cell of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Callers holding any of these roles may proceed; an empty list denies everyone
    /// (`PERMISSION_DENIED`).
    Roles(&'static [Role]),
    /// The exchange is hidden: `NOT_FOUND`, exactly as if it did not exist.
    Hidden,
    /// This relation never applies to the operation; asking is a bug in the caller of
    /// [`authorize`] and fails closed.
    NotApplicable,
}

/// The row of the matrix for one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub op: Operation,
    pub requester: Access,
    pub holder: Access,
    pub non_party: Access,
    pub no_exchange: Access,
}

impl Rule {
    pub fn access(&self, relation: Relation) -> Access {
        match relation {
            Relation::Requester => self.requester,
            Relation::Holder => self.holder,
            Relation::NonParty => self.non_party,
            Relation::NotApplicable => self.no_exchange,
        }
    }
}

const PRACTITIONER: &[Role] = &[Role::Practitioner];
const AGENCY_STAFF: &[Role] = &[Role::Practitioner, Role::IgLead, Role::CaldicottGuardian];
const APPROVERS: &[Role] = &[Role::IgLead, Role::CaldicottGuardian];
const AUDITOR: &[Role] = &[Role::Auditor];
const ADMIN: &[Role] = &[Role::Admin];
const ANY_ROLE: &[Role] = &[
    Role::Practitioner,
    Role::IgLead,
    Role::CaldicottGuardian,
    Role::Auditor,
    Role::Admin,
];
const NOBODY: &[Role] = &[];

/// An operation on one exchange: parties by role, non-parties see nothing.
const fn on_exchange(op: Operation, requester: &'static [Role], holder: &'static [Role]) -> Rule {
    Rule {
        op,
        requester: Access::Roles(requester),
        holder: Access::Roles(holder),
        non_party: Access::Hidden,
        no_exchange: Access::NotApplicable,
    }
}

/// An operation that is not about one exchange.
const fn agency_wide(op: Operation, roles: &'static [Role]) -> Rule {
    Rule {
        op,
        requester: Access::NotApplicable,
        holder: Access::NotApplicable,
        non_party: Access::NotApplicable,
        no_exchange: Access::Roles(roles),
    }
}

/// The caller names itself as requester; submitting for another agency (or as the holder) is
/// refused outright: there is no existing exchange to hide.
const SUBMIT_REQUEST: Rule = Rule {
    op: Operation::SubmitRequest,
    requester: Access::Roles(PRACTITIONER),
    holder: Access::Roles(NOBODY),
    non_party: Access::Roles(NOBODY),
    no_exchange: Access::NotApplicable,
};

/// The authorisation matrix: one row per RPC, in [`Operation::ALL`] order.
pub const MATRIX: &[Rule] = &[
    SUBMIT_REQUEST,
    // A dry run of SubmitRequest: exactly its cells, so a draft that checks cleanly is one
    // the caller may submit.
    Rule {
        op: Operation::CheckRequest,
        ..SUBMIT_REQUEST
    },
    on_exchange(Operation::GetExchange, AGENCY_STAFF, AGENCY_STAFF),
    agency_wide(Operation::ListExchanges, AGENCY_STAFF),
    on_exchange(Operation::WithdrawRequest, PRACTITIONER, NOBODY),
    on_exchange(Operation::AnswerInformationRequest, PRACTITIONER, NOBODY),
    on_exchange(Operation::SubmitResponse, NOBODY, PRACTITIONER),
    on_exchange(Operation::FetchResponse, PRACTITIONER, NOBODY),
    on_exchange(Operation::AcknowledgeResponse, PRACTITIONER, NOBODY),
    on_exchange(Operation::EscalateDecline, PRACTITIONER, NOBODY),
    agency_wide(Operation::WatchInbox, AGENCY_STAFF),
    agency_wide(Operation::ListPending, APPROVERS),
    // Only the holder decides; nobody decides on their own agency's request.
    on_exchange(Operation::Decide, NOBODY, APPROVERS),
    agency_wide(Operation::QueryAudit, AUDITOR),
    agency_wide(Operation::VerifyAudit, AUDITOR),
    agency_wide(Operation::ExportAudit, AUDITOR),
    agency_wide(Operation::GetStatistics, AUDITOR),
    agency_wide(Operation::ListProtocols, ANY_ROLE),
    agency_wide(Operation::GetProtocol, ANY_ROLE),
    agency_wide(Operation::ListSignatories, ANY_ROLE),
    agency_wide(Operation::SuspendSignatory, ADMIN),
    agency_wide(Operation::ReinstateSignatory, ADMIN),
    agency_wide(Operation::ReaffirmSignatory, ADMIN),
];

/// The matrix row of an operation.
pub fn rule(op: Operation) -> &'static Rule {
    // Every operation has a row (tested); should one ever be missing, fail closed.
    const MISSING: Rule = Rule {
        op: Operation::SubmitRequest,
        requester: Access::NotApplicable,
        holder: Access::NotApplicable,
        non_party: Access::NotApplicable,
        no_exchange: Access::NotApplicable,
    };
    MATRIX.iter().find(|r| r.op == op).unwrap_or(&MISSING)
}

/// Why a call is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// The caller's agency is not a party: answer as if the exchange did not exist.
    NotFound,
    /// The caller is identified but may not do this.
    PermissionDenied(String),
    /// The handler asked about a relation that does not apply to the operation (a bug).
    Misuse(String),
}

impl Denied {
    /// The status to return for a call about exchange `id`. `NotFound` is spelt exactly as the
    /// store's not-found, so non-parties learn nothing.
    pub fn into_status(self, exchange: Option<Uuid>) -> Status {
        self.into_api_error(exchange).into()
    }

    /// The [`ApiError`] for a call about exchange `id`.
    pub fn into_api_error(self, exchange: Option<Uuid>) -> ApiError {
        match (self, exchange) {
            (Denied::NotFound, Some(id)) => ApiError::ExchangeNotFound(id),
            (Denied::NotFound, None) => ApiError::NotFound("exchange not found".into()),
            (Denied::PermissionDenied(m), _) => ApiError::NotPermitted(m),
            (Denied::Misuse(m), _) => {
                error!(detail = %m, "authorisation misuse");
                ApiError::Internal
            }
        }
    }
}

impl From<Denied> for Status {
    fn from(d: Denied) -> Self {
        d.into_status(None)
    }
}

/// Decides whether a caller with `roles`, whose agency stands in `relation` to the exchange,
/// may perform `op`. On success returns the role that grants access (the first of the cell's
/// roles the caller holds), which handlers record as the role the caller acted in.
pub fn authorize(op: Operation, roles: &[Role], relation: Relation) -> Result<Role, Denied> {
    match rule(op).access(relation) {
        Access::Hidden => Err(Denied::NotFound),
        Access::NotApplicable => Err(Denied::Misuse(format!(
            "{op} does not apply to relation {relation:?}"
        ))),
        Access::Roles([]) => Err(Denied::PermissionDenied(format!(
            "{op} is not open to {}",
            relation.describe()
        ))),
        Access::Roles(allowed) => allowed
            .iter()
            .copied()
            .find(|r| roles.contains(r))
            .ok_or_else(|| {
                Denied::PermissionDenied(format!(
                    "{op} requires the role {} in {}; the token has {}",
                    list_roles(allowed, " or "),
                    relation.describe(),
                    if roles.is_empty() {
                        "no roles".to_owned()
                    } else {
                        format!("roles {}", list_roles(roles, ", "))
                    }
                ))
            }),
    }
}

fn list_roles(roles: &[Role], sep: &str) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(sep)
}

fn render_access(a: Access) -> String {
    match a {
        Access::Hidden => "NOT_FOUND".to_owned(),
        Access::NotApplicable => "n/a".to_owned(),
        Access::Roles([]) => "denied".to_owned(),
        Access::Roles(r) if r == ANY_ROLE => "any role".to_owned(),
        Access::Roles(r) => list_roles(r, ", "),
    }
}

/// The matrix as a Markdown table, as it appears in `docs/security.md`.
pub fn render_markdown() -> String {
    let mut out = String::from(
        "| RPC | caller's agency is requester | caller's agency is holder | not a party | not about one exchange |\n\
         |---|---|---|---|---|\n",
    );
    for r in MATRIX {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            r.op,
            render_access(r.requester),
            render_access(r.holder),
            render_access(r.non_party),
            render_access(r.no_exchange),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// The matrix written out independently of [`MATRIX`]: one line per RPC, columns
    /// requester / holder / non-party / no exchange. Letters are roles (P practitioner,
    /// I ig_lead, C caldicott_guardian, A auditor, D admin), `-` denied to every role,
    /// `404` hidden, `x` not applicable.
    const SPEC: &str = "
        SubmitRequest             P    -    -    x
        CheckRequest              P    -    -    x
        GetExchange               PIC  PIC  404  x
        ListExchanges             x    x    x    PIC
        WithdrawRequest           P    -    404  x
        AnswerInformationRequest  P    -    404  x
        SubmitResponse            -    P    404  x
        FetchResponse             P    -    404  x
        AcknowledgeResponse       P    -    404  x
        EscalateDecline           P    -    404  x
        WatchInbox                x    x    x    PIC
        ListPending               x    x    x    IC
        Decide                    -    IC   404  x
        QueryAudit                x    x    x    A
        VerifyAudit               x    x    x    A
        ExportAudit               x    x    x    A
        GetStatistics             x    x    x    A
        ListProtocols             x    x    x    PICAD
        GetProtocol               x    x    x    PICAD
        ListSignatories           x    x    x    PICAD
        SuspendSignatory          x    x    x    D
        ReinstateSignatory        x    x    x    D
        ReaffirmSignatory         x    x    x    D
    ";

    #[derive(Debug, PartialEq)]
    enum Expect {
        Allow,
        Forbidden,
        NotFound,
        Misuse,
    }

    fn letter(role: Role) -> char {
        match role {
            Role::Practitioner => 'P',
            Role::IgLead => 'I',
            Role::CaldicottGuardian => 'C',
            Role::Auditor => 'A',
            Role::Admin => 'D',
        }
    }

    fn expect(cell: &str, role: Option<Role>) -> Expect {
        match cell {
            "404" => Expect::NotFound,
            "x" => Expect::Misuse,
            "-" => Expect::Forbidden,
            letters => match role {
                Some(r) if letters.contains(letter(r)) => Expect::Allow,
                _ => Expect::Forbidden,
            },
        }
    }

    fn outcome(r: Result<Role, Denied>) -> Expect {
        match r {
            Ok(_) => Expect::Allow,
            Err(Denied::NotFound) => Expect::NotFound,
            Err(Denied::PermissionDenied(_)) => Expect::Forbidden,
            Err(Denied::Misuse(_)) => Expect::Misuse,
        }
    }

    #[test]
    fn every_cell_of_the_matrix_matches_the_spec() {
        let rows: Vec<Vec<&str>> = SPEC
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .filter(|cols| !cols.is_empty())
            .collect();
        assert_eq!(rows.len(), Operation::ALL.len());
        let mut checked = 0;
        for cols in rows {
            let op = Operation::ALL
                .iter()
                .copied()
                .find(|o| o.method() == cols[0])
                .unwrap_or_else(|| panic!("unknown operation {}", cols[0]));
            for (relation, cell) in Relation::ALL.iter().zip(&cols[1..]) {
                // Each role alone, no role at all, and every role at once.
                for role in Role::ALL.iter().copied().map(Some).chain([None]) {
                    let roles: Vec<Role> = role.into_iter().collect();
                    let got = outcome(authorize(op, &roles, *relation));
                    assert_eq!(got, expect(cell, role), "{op} {relation:?} {role:?}");
                    checked += 1;
                }
                let everyone = outcome(authorize(op, Role::ALL, *relation));
                let want = match *cell {
                    "404" => Expect::NotFound,
                    "x" => Expect::Misuse,
                    "-" => Expect::Forbidden,
                    _ => Expect::Allow,
                };
                assert_eq!(everyone, want, "{op} {relation:?} all roles");
            }
        }
        assert_eq!(
            checked,
            Operation::ALL.len() * Relation::ALL.len() * (Role::ALL.len() + 1)
        );
    }

    #[test]
    fn matrix_rows_are_in_operation_order() {
        assert_eq!(MATRIX.len(), Operation::ALL.len());
        for (rule, op) in MATRIX.iter().zip(Operation::ALL) {
            assert_eq!(rule.op, *op);
            assert_eq!(super::rule(*op).op, *op);
        }
    }

    #[test]
    fn operations_are_exactly_the_rpcs_of_the_proto() {
        let set = prost_types::FileDescriptorSet::decode(accord_proto::FILE_DESCRIPTOR_SET)
            .unwrap_or_else(|e| panic!("descriptor set: {e}"));
        let mut in_proto = Vec::new();
        for file in set.file.iter().filter(|f| f.package() == "accord.v1") {
            for service in &file.service {
                for method in &service.method {
                    in_proto.push(format!("/accord.v1.{}/{}", service.name(), method.name()));
                }
            }
        }
        in_proto.sort();
        let mut ours: Vec<String> = Operation::ALL.iter().map(|o| o.path()).collect();
        ours.sort();
        assert_eq!(ours, in_proto);
        for op in Operation::ALL {
            assert_eq!(Operation::from_path(&op.path()), Some(*op));
        }
        assert_eq!(Operation::from_path("/grpc.health.v1.Health/Check"), None);
    }

    #[test]
    fn granting_role_is_reported() {
        let roles = [Role::CaldicottGuardian, Role::IgLead];
        assert_eq!(
            authorize(Operation::Decide, &roles, Relation::Holder),
            Ok(Role::IgLead)
        );
        assert_eq!(
            authorize(
                Operation::Decide,
                &[Role::CaldicottGuardian],
                Relation::Holder
            ),
            Ok(Role::CaldicottGuardian)
        );
    }

    #[test]
    fn refusals_explain_themselves() {
        let e = authorize(Operation::Decide, &[Role::IgLead], Relation::Requester);
        assert_eq!(
            e,
            Err(Denied::PermissionDenied(
                "ApprovalService.Decide is not open to the requesting agency".into()
            ))
        );
        let e = authorize(
            Operation::FetchResponse,
            &[Role::Auditor],
            Relation::Requester,
        );
        assert_eq!(
            e,
            Err(Denied::PermissionDenied(
                "ExchangeService.FetchResponse requires the role practitioner in the requesting agency; the token has roles auditor".into()
            ))
        );
    }

    #[test]
    fn hidden_exchanges_look_missing() {
        let id = Uuid::now_v7();
        let hidden = Denied::NotFound.into_status(Some(id));
        let missing = crate::error::store_status(accord_store::StoreError::NotFound(id));
        assert_eq!(hidden.code(), missing.code());
        assert_eq!(hidden.message(), missing.message());
    }

    #[test]
    fn relation_of_agency() {
        let a = AgencyId::parse("a").unwrap_or_else(|e| panic!("{e}"));
        let b = AgencyId::parse("b").unwrap_or_else(|e| panic!("{e}"));
        let c = AgencyId::parse("c").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(Relation::of(&a, &a, &b), Relation::Requester);
        assert_eq!(Relation::of(&b, &a, &b), Relation::Holder);
        assert_eq!(Relation::of(&c, &a, &b), Relation::NonParty);
    }

    #[test]
    fn security_doc_contains_the_matrix() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/security.md");
        let doc = std::fs::read_to_string(path).unwrap_or_default();
        let table = render_markdown();
        assert!(
            doc.contains(&table),
            "docs/security.md does not contain the current authorisation matrix; paste this:\n\n{table}"
        );
    }
}
