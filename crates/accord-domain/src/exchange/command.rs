//! What can be asked of an exchange once it exists. The edges (gRPC handlers, background
//! jobs) parse their input into a [`Command`]; [`super::Exchange::handle`] decides it.

use super::{Conditions, DecisionKind};
use crate::enums::Role;
use crate::ids::CategoryId;

/// A command on an existing exchange. Who gives it is the [`super::Actor`] passed beside it.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// An approver's decision at the holding agency: approve, approve in part, decline, ask
    /// for more information or escalate.
    Decide(DecisionDraft),
    /// The requester answers a request for more information.
    AnswerInformationRequest { answer: String },
    /// The requester disputes a decline (`002 14.1`).
    EscalateDecline { reason: String },
    /// The requester withdraws the request.
    Withdraw { reason: String },
    /// The requester confirms it received the response.
    Acknowledge { note: String },
    /// A finished exchange is closed.
    Close,
    /// The broker ends an exchange left waiting on one party for too long.
    Expire,
    /// The broker marks an exchange whose response deadline passed without a decision.
    MarkOverdue,
    /// The holder sends the response.
    Respond(ResponseDraft),
    /// The requester reads the response.
    Fetch,
}

/// A decision as the approver gave it. Which fields count depends on `kind`: `categories`
/// for approve part (approve takes the proposed scope), `conditions` for both approvals,
/// `reasons` for decline and escalate, `questions` for ask, `escalate_to` for escalate.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionDraft {
    pub kind: DecisionKind,
    pub categories: Vec<CategoryId>,
    pub conditions: Conditions,
    pub reasons: Vec<String>,
    pub questions: Vec<String>,
    pub escalate_to: Option<Role>,
    pub note: String,
    /// The retention of the exchange's purpose, when the caller knows it: an approval's
    /// retention condition must not exceed it.
    pub purpose_retention_days: Option<u32>,
}

impl DecisionDraft {
    /// A draft of `kind` with nothing else filled in.
    pub fn new(kind: DecisionKind) -> Self {
        DecisionDraft {
            kind,
            categories: Vec::new(),
            conditions: Conditions::default(),
            reasons: Vec::new(),
            questions: Vec::new(),
            escalate_to: None,
            note: String::new(),
            purpose_retention_days: None,
        }
    }
}

/// What the holder sends, as the rules need it (the content itself is encrypted by the store
/// and never reaches the aggregate).
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseDraft {
    /// The category of each item, in item order.
    pub item_categories: Vec<CategoryId>,
    /// SHA-256 of the canonical plaintext content, lowercase hex.
    pub content_sha256: String,
    pub content_size: u64,
    /// Counts recorded in the audit entry: items, facts, opinions, historical items.
    pub facts: usize,
    pub opinions: usize,
    pub historical: usize,
    /// The retention of the exchange's purpose; an approval's condition may shorten it.
    pub purpose_retention_days: u32,
}
