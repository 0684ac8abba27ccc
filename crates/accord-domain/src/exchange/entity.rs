//! What an exchange is: the parties, the request's assessment, the decisions made on it,
//! what was approved and what was sent. The store persists it; [`Exchange::handle`]
//! (in `decide.rs`) is the only code that changes it.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Action, ExchangeState};
use crate::assessment::Assessment;
use crate::enums::{ItemKind, LevelOfNeed, Role, Urgency};
use crate::ids::{AgencyId, CategoryId, PurposeId};
use crate::record::RequestReasons;
use crate::request::Request;

/// Who did something: the agency from the client certificate, the person and roles from the
/// token. The broker itself (deadline and retention jobs) acts as `Actor::system()`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub agency: Option<AgencyId>,
    pub subject: String,
    pub roles: Vec<Role>,
}

impl Actor {
    pub fn system() -> Self {
        Self {
            agency: None,
            subject: "accord-broker".into(),
            roles: Vec::new(),
        }
    }

    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// Conditions attached to an approval (`002 App.2 Q6`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conditions {
    pub no_onward_disclosure: bool,
    /// Overrides the purpose's retention when set (must not exceed it).
    pub retention_days: Option<u32>,
    pub inform_subject: bool,
    pub other: String,
}

/// The kind of a human decision on an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    Approve,
    ApprovePart,
    Decline,
    AskForMoreInformation,
    Escalate,
    /// The requester's answer to a request for more information.
    InformationProvided,
    /// The requester escalating a decline (`002 14.1`).
    DeclineEscalated,
}

impl DecisionKind {
    pub fn action(self) -> Action {
        match self {
            Self::Approve => Action::Approve,
            Self::ApprovePart => Action::ApprovePart,
            Self::Decline => Action::Decline,
            Self::AskForMoreInformation => Action::AskForMoreInformation,
            Self::Escalate | Self::DeclineEscalated => Action::Escalate,
            Self::InformationProvided => Action::AnswerInformationRequest,
        }
    }
}

/// A recorded human decision (`001 Record`: reasons for declining are recorded and given).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub kind: DecisionKind,
    pub decided_by: Actor,
    pub decided_at: OffsetDateTime,
    /// Approved categories (approve: the proposed scope; approve part: the chosen subset).
    pub categories: Vec<CategoryId>,
    pub conditions: Conditions,
    pub reasons: Vec<String>,
    pub questions: Vec<String>,
    pub escalate_to: Option<Role>,
    pub note: String,
}

/// One item of a response (`001 Accurate`, `004 FAQ` past clients).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseItem {
    pub category: CategoryId,
    pub kind: ItemKind,
    pub content: String,
    pub recorded_on: time::Date,
    pub historical: bool,
    pub source_system: Option<String>,
}

/// Metadata of a stored response. The content itself is only returned to the requester.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseMeta {
    pub submitted_at: OffsetDateTime,
    pub submitted_by: String,
    /// SHA-256 of the canonical plaintext content, lowercase hex.
    pub content_sha256: String,
    pub content_size: u64,
    pub categories: Vec<CategoryId>,
    /// Content is purged after this instant.
    pub retain_until: OffsetDateTime,
    pub purged: bool,
}

/// One exchange with everything about it except response content.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    pub id: Uuid,
    pub state: ExchangeState,
    /// Incremented by every change; used for optimistic concurrency.
    pub version: u64,
    pub idempotency_key: String,
    /// The request, decrypted. Purged at the end of its retention (then `None`); the audit
    /// log keeps what was asked for as metadata. The rules in [`Exchange::handle`] never
    /// need it, so the store may hand them an exchange without it.
    pub request: Option<Request>,
    pub requesting_agency: AgencyId,
    pub holding_agency: AgencyId,
    pub purpose: PurposeId,
    pub urgency: Urgency,
    /// The request's level of need, kept beside the encrypted request. `None` only for an
    /// exchange recorded before the store kept it.
    pub level_of_need: Option<LevelOfNeed>,
    pub assessment: Assessment,
    pub decisions: Vec<Decision>,
    /// Categories approved for the response (empty until approved).
    pub approved_scope: Vec<CategoryId>,
    pub conditions: Conditions,
    pub respond_by: OffsetDateTime,
    pub overdue: bool,
    /// When the first approve, approve part or decline was made (time to decision).
    pub first_decision_at: Option<OffsetDateTime>,
    pub response: Option<ResponseMeta>,
    /// The request's reasons as the decision record keeps them (taken from the request at
    /// submission), still there after the request is purged with the content, until
    /// `record_retain_until`. `None` once the record was purged, and for an exchange whose
    /// request was purged before the broker kept a decision record. The rules never need it.
    pub reasons: Option<RequestReasons>,
    /// When the decision record (`reasons`, and `decisions` with their reasons) may be purged,
    /// once the content has gone too: submission plus the protocol's record retention.
    pub record_retain_until: Option<OffsetDateTime>,
    /// The decision record was purged: `reasons` is `None` and the decisions made until then
    /// are gone (the audit log keeps their metadata and digests).
    pub record_purged: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}
