//! Accord's domain: the types every other crate speaks in.
//!
//! This crate owns the information sharing protocol as data (and its TOML loader), the
//! request an agency sends, the assessment the policy check returns, the exchange state
//! machine, decisions and responses. It does no I/O beyond reading a protocol file, so
//! everything here is tested in microseconds.

pub mod assessment;
pub mod enums;
pub mod exchange;
pub mod ids;
pub mod loader;
pub mod protocol;
pub mod record;
pub mod request;
pub mod signatory;
pub mod validation;

pub use assessment::{Assessment, Finding, History, Outcome, PriorExchange, Severity};
pub use enums::*;
pub use exchange::{
    Action, Actor, Applied, AuditEvent, AuditEventKind, Command, Conditions, Decision,
    DecisionDraft, DecisionKind, Exchange, ExchangeState, InvalidTransition, Notice, NoticeKind,
    Refusal, ResponseDraft, ResponseItem, ResponseMeta,
};
pub use ids::{AgencyId, CategoryId, IdError, ProtocolId, PurposeId};
pub use loader::{load_protocol_file, parse_protocol, ProtocolError, ProtocolErrors};
pub use protocol::{ConsentRequirement, DataCategory, GatewayRule, Protocol, Purpose, Signatory};
pub use record::{RecordRetention, RequestReasons};
pub use request::{
    CategoryRequest, Consent, LawfulBasisClaim, OnwardDisclosure, Practitioner, Request, Subject,
    SubjectIdentifier, SubjectNotification,
};
pub use signatory::{AdminChange, SignatoryChanged, SignatoryRefusal};
pub use validation::{limits, FieldViolation, IdempotencyKey, Violations};
