//! What the necessity and proportionality check returns, and the history it is given.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::enums::Role;
use crate::exchange::ExchangeState;
use crate::ids::{AgencyId, CategoryId, PurposeId};
use crate::request::SubjectIdentifier;

/// How much a finding weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Recorded for the file; needs no action.
    Info,
    /// Advice to the practitioner or IG lead.
    Advisory,
    /// The IG lead must weigh this before approving.
    Warning,
    /// The request cannot go forward as asked.
    Blocking,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Advisory => "advisory",
            Severity::Warning => "warning",
            Severity::Blocking => "blocking",
        }
    }
}

/// The check's overall result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Cannot go forward as asked; the requester may amend and resubmit.
    Refuse,
    /// Goes to the holding agency's IG lead, with the findings to weigh.
    ProceedToApproval,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Refuse => "refuse",
            Outcome::ProceedToApproval => "proceed_to_approval",
        }
    }
}

/// One finding: which rule, how serious, where the rule comes from, and what it means for a
/// practitioner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable rule id, e.g. `R06-early-help-explicit-consent`.
    pub rule_id: String,
    pub severity: Severity,
    /// Source clause, e.g. `002 App.2`.
    pub source: String,
    pub message: String,
    /// The category concerned, when the finding is about one.
    pub category: Option<CategoryId>,
}

/// The check's answer for one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    pub outcome: Outcome,
    pub findings: Vec<Finding>,
    /// Categories that may be shared: a subset of those requested and allowed.
    pub proposed_scope: Vec<CategoryId>,
    /// Requested categories left out of the scope (not allowed for the purpose, or unknown).
    pub trimmed: Vec<CategoryId>,
    /// When the holding agency must answer by, from the purpose's deadline for the urgency.
    pub respond_by: OffsetDateTime,
    /// Roles that must approve before anything is shared.
    pub required_approver_roles: Vec<Role>,
    pub assessed_at: OffsetDateTime,
}

impl Assessment {
    pub fn blocking(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Blocking)
    }
}

/// An earlier exchange, as the check needs to see it (repeat sharing, `004 FAQ`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriorExchange {
    pub exchange_id: Uuid,
    pub requesting_agency: AgencyId,
    pub holding_agency: AgencyId,
    pub purpose: PurposeId,
    pub child_identifiers: Vec<SubjectIdentifier>,
    /// The categories of information the earlier exchange concerned, so the check can tell
    /// whether the same information is sought again. Once a scope was approved, the approved
    /// scope (what the holder agreed to share, the more precise answer); until then, or when
    /// nothing was approved, the categories requested. Empty when not known: the check then
    /// treats the exchange as concerning the same information.
    #[serde(default)]
    pub categories: Vec<CategoryId>,
    pub state: ExchangeState,
    pub submitted_at: OffsetDateTime,
}

/// Earlier exchanges that may be relevant to a new request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub prior: Vec<PriorExchange>,
}
