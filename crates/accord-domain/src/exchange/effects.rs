//! What a command on an exchange produces: the next exchange, the audit event(s) to append to
//! the log in the same transaction, and the notices for each agency's inbox; or a typed
//! [`Refusal`] saying why nothing happened.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Exchange, ExchangeState, InvalidTransition};
use crate::ids::{AgencyId, CategoryId};
use crate::validation::FieldViolation;

/// The kind of an audit log entry. The spelling ([`AuditEventKind::as_str`]) is hashed into
/// the chain, so it never changes for an existing kind; new kinds get new spellings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditEventKind {
    /// A request was submitted (the policy check's outcome follows as its own entry).
    Submitted,
    /// The policy check refused the request.
    Refused,
    /// The policy check sent the request to the holding agency for approval.
    SentForApproval,
    /// The approver asked the requester for more information.
    AskForMoreInformation,
    /// The requester answered a request for more information.
    AnswerInformationRequest,
    Approve,
    ApprovePart,
    Decline,
    /// Escalation by an approver or, after a decline, by the requester.
    Escalate,
    /// The response deadline passed without a decision.
    Overdue,
    /// The holder sent the response.
    Respond,
    /// The requester read the response (every read is recorded).
    Fetch,
    Acknowledge,
    Close,
    Withdraw,
    /// An exchange left waiting on one party for too long was ended by the broker.
    Expire,
    /// Response content and the request were purged at the end of their retention.
    ContentPurged,
    /// The request of an exchange that ended without a response was purged.
    RequestPurged,
    /// The decision record (the request's reasons, the decisions and theirs) was purged at
    /// the end of the protocol's record retention, after the content had gone.
    DecisionRecordPurged,
    SignatorySuspended,
    SignatoryReinstated,
    SignatoryReaffirmed,
    /// Auditors' reads of the log are themselves logged.
    AuditQueried,
    AuditVerified,
    AuditExported,
    AuditStatisticsRead,
}

impl AuditEventKind {
    pub const ALL: &'static [AuditEventKind] = &[
        Self::Submitted,
        Self::Refused,
        Self::SentForApproval,
        Self::AskForMoreInformation,
        Self::AnswerInformationRequest,
        Self::Approve,
        Self::ApprovePart,
        Self::Decline,
        Self::Escalate,
        Self::Overdue,
        Self::Respond,
        Self::Fetch,
        Self::Acknowledge,
        Self::Close,
        Self::Withdraw,
        Self::Expire,
        Self::ContentPurged,
        Self::RequestPurged,
        Self::DecisionRecordPurged,
        Self::SignatorySuspended,
        Self::SignatoryReinstated,
        Self::SignatoryReaffirmed,
        Self::AuditQueried,
        Self::AuditVerified,
        Self::AuditExported,
        Self::AuditStatisticsRead,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::Refused => "refused",
            Self::SentForApproval => "sent_for_approval",
            Self::AskForMoreInformation => "ask_for_more_information",
            Self::AnswerInformationRequest => "answer_information_request",
            Self::Approve => "approve",
            Self::ApprovePart => "approve_part",
            Self::Decline => "decline",
            Self::Escalate => "escalate",
            Self::Overdue => "overdue",
            Self::Respond => "respond",
            Self::Fetch => "fetch",
            Self::Acknowledge => "acknowledge",
            Self::Close => "close",
            Self::Withdraw => "withdraw",
            Self::Expire => "expire",
            Self::ContentPurged => "content_purged",
            Self::RequestPurged => "request_purged",
            Self::DecisionRecordPurged => "decision_record_purged",
            Self::SignatorySuspended => "signatory_suspended",
            Self::SignatoryReinstated => "signatory_reinstated",
            Self::SignatoryReaffirmed => "signatory_reaffirmed",
            Self::AuditQueried => "audit_queried",
            Self::AuditVerified => "audit_verified",
            Self::AuditExported => "audit_exported",
            Self::AuditStatisticsRead => "audit_statistics_read",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.as_str() == s)
    }

    /// The changes to the registry, replayed on start and synchronised across replicas.
    pub const REGISTRY_CHANGES: &'static [AuditEventKind] = &[
        Self::SignatorySuspended,
        Self::SignatoryReinstated,
        Self::SignatoryReaffirmed,
    ];

    /// The entry recording a state change made by `action`.
    pub fn of_action(action: super::Action) -> Self {
        use super::Action as A;
        match action {
            A::Refuse => Self::Refused,
            A::SendForApproval => Self::SentForApproval,
            A::AskForMoreInformation => Self::AskForMoreInformation,
            A::AnswerInformationRequest => Self::AnswerInformationRequest,
            A::Approve => Self::Approve,
            A::ApprovePart => Self::ApprovePart,
            A::Decline => Self::Decline,
            A::Escalate => Self::Escalate,
            A::Respond => Self::Respond,
            A::Fetch => Self::Fetch,
            A::Acknowledge => Self::Acknowledge,
            A::Close => Self::Close,
            A::Withdraw => Self::Withdraw,
            A::Expire => Self::Expire,
        }
    }
}

impl std::fmt::Display for AuditEventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One audit entry about an exchange, before the store adds the exchange's parties, purpose
/// and subjects, and chains it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub kind: AuditEventKind,
    pub from: Option<ExchangeState>,
    pub to: Option<ExchangeState>,
    pub categories: Vec<CategoryId>,
    /// Digest and size of shared content, for respond and fetch.
    pub content: Option<(String, u64)>,
    /// Everything else the entry records; free text only as [`text_digest`]s.
    pub detail: serde_json::Value,
}

/// What an inbox notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    RequestReceived,
    DecisionMade,
    MoreInfoRequested,
    InformationProvided,
    ResponseReady,
    Acknowledged,
    Escalated,
    Overdue,
    Withdrawn,
    Refused,
}

/// A notice for one agency's inbox: a short line without content or child identifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub to: AgencyId,
    pub kind: NoticeKind,
    pub summary: String,
}

/// The result of a command that was allowed.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The exchange after the command (version and `updated_at` advanced when it changed).
    pub next: Exchange,
    /// Whether anything of the exchange itself changed (a re-fetch changes nothing but is
    /// still recorded).
    pub changed: bool,
    pub events: Vec<AuditEvent>,
    pub notices: Vec<Notice>,
}

/// Why a command was not carried out. Nothing was changed or recorded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// The transition table does not allow the action from the current state.
    #[error(transparent)]
    Transition(#[from] InvalidTransition),
    /// The exchange is not in a state this command applies to (a narrower rule than the
    /// transition table, e.g. only a declined request can be escalated by the requester).
    #[error("{0}")]
    WrongState(String),
    /// The person may not do this (role, four-eyes or escalation rules).
    #[error("{0}")]
    NotPermitted(String),
    /// The command's content contradicts the exchange (categories outside the scope, a
    /// retention beyond the purpose's); every problem with the field it concerns.
    #[error("invalid: {}", .0.iter().map(|v| format!("{}: {}", v.field, v.reason)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldViolation>),
    /// There is no response to read yet.
    #[error("there is no response to fetch yet")]
    NoResponse,
    /// The content was purged at the end of its retention.
    #[error("the response content was purged at the end of its retention")]
    Purged,
    /// A deadline-driven command came before its deadline.
    #[error("{0}")]
    NotDue(String),
}

/// A free text as the permanent log records it: `{"sha256": <hex of the UTF-8 text>, "chars":
/// <characters>}`, or `null` for empty text. The text itself stays in the exchange record, so
/// whoever holds it can show it is what was recorded, while the unpurgeable log never holds it.
pub fn text_digest(text: &str) -> serde_json::Value {
    if text.is_empty() {
        return serde_json::Value::Null;
    }
    serde_json::json!({
        "sha256": hex_lower(&Sha256::digest(text.as_bytes())),
        "chars": text.chars().count(),
    })
}

/// [`text_digest`] of each text of a list, in order.
pub fn text_digests(texts: &[String]) -> serde_json::Value {
    serde_json::Value::Array(texts.iter().map(|t| text_digest(t)).collect())
}

fn hex_lower(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_keep_their_spelling() {
        for k in AuditEventKind::ALL {
            assert_eq!(AuditEventKind::parse(k.as_str()), Some(*k));
        }
        // Hashed into existing chains: these spellings never change.
        assert_eq!(
            AuditEventKind::SentForApproval.as_str(),
            "sent_for_approval"
        );
        assert_eq!(AuditEventKind::ContentPurged.as_str(), "content_purged");
        assert_eq!(
            AuditEventKind::DecisionRecordPurged.as_str(),
            "decision_record_purged"
        );
        assert_eq!(
            AuditEventKind::SignatorySuspended.as_str(),
            "signatory_suspended"
        );
    }

    #[test]
    fn digests_hold_no_text() {
        assert_eq!(text_digest(""), serde_json::Value::Null);
        let d = text_digest("abc");
        assert_eq!(
            d["sha256"],
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(d["chars"], 3);
    }
}
