//! The store's public types (its API, as opposed to the rows of `records.rs`): what callers
//! (the gRPC server, the CLI, tests) pass in and get back. The server codes against these.

use accord_domain::{
    Actor, AgencyId, Assessment, AuditEventKind, CategoryId, Command, ExchangeState,
    IdempotencyKey, LevelOfNeed, PurposeId, RecordRetention, Request, Urgency,
};
pub use accord_domain::{Exchange, ResponseMeta};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// How to open a store. Keys come from the broker's configuration; `accord dev init`
/// generates development ones.
#[derive(Clone)]
pub struct StoreConfig {
    /// `sqlite://path/to/accord.db` (created in WAL mode if missing) or `postgres://...`.
    pub url: String,
    /// HMAC-SHA256 key for subject identifiers in the audit log.
    pub audit_key: [u8; 32],
    /// AES-256-GCM key for request and response content at rest.
    pub content_key: [u8; 32],
    /// Ed25519 key that signs checkpoints of the audit chain head.
    pub signing_key: ed25519_dalek::SigningKey,
    /// A signed checkpoint is written after at least this many entries.
    pub checkpoint_every: u64,
    /// Most operations committed in one group-commit transaction.
    pub max_batch: usize,
    /// Maximum pool connections.
    pub max_connections: u32,
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print keys.
        f.debug_struct("StoreConfig")
            .field("url", &redact_url(&self.url))
            .field("checkpoint_every", &self.checkpoint_every)
            .field("max_batch", &self.max_batch)
            .finish_non_exhaustive()
    }
}

fn redact_url(url: &str) -> String {
    match url.split_once('@') {
        Some((scheme_user, host)) => {
            let scheme = scheme_user.split("://").next().unwrap_or("db");
            format!("{scheme}://***@{host}")
        }
        None => url.to_owned(),
    }
}

/// A new request, already assessed, to be recorded.
#[derive(Debug, Clone)]
pub struct Submission {
    /// Client-chosen key: a retry with the same key (and requesting agency) returns the first
    /// exchange instead of creating a second.
    pub idempotency_key: IdempotencyKey,
    pub request: Request,
    pub assessment: Assessment,
    pub actor: Actor,
    pub now: OffsetDateTime,
    /// How long the exchange's decision record is kept from `now`: the protocol's
    /// `record_retention`.
    pub record_retention: RecordRetention,
}

/// The result of a submission.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub exchange: Exchange,
    /// True when this was a retry that returned the first exchange.
    pub replayed: bool,
}

/// A row of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct ExchangeSummary {
    pub id: Uuid,
    pub state: ExchangeState,
    pub version: u64,
    pub requesting_agency: AgencyId,
    pub holding_agency: AgencyId,
    pub purpose: PurposeId,
    pub urgency: Urgency,
    /// The request's level of need, kept in the clear beside the encrypted request (the audit
    /// log records it too). `None` only for an exchange recorded before the store kept it
    /// whose `submitted` audit entry did not give it (see migration 0003).
    pub level_of_need: Option<LevelOfNeed>,
    pub respond_by: OffsetDateTime,
    pub overdue: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// Which side of an exchange an agency is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    Requester,
    Holder,
    Either,
}

/// Filters for listing exchanges. Always scoped to one agency: nobody lists another's, and a
/// holder never lists an exchange not visible to it (`ExchangeState::visible_to_holder`).
#[derive(Debug, Clone)]
pub struct ExchangeQuery {
    pub agency: AgencyId,
    pub party: Party,
    /// Empty means any state.
    pub states: Vec<ExchangeState>,
    pub purpose: Option<PurposeId>,
    pub created_after: Option<OffsetDateTime>,
    pub created_before: Option<OffsetDateTime>,
    pub page_size: u32,
    /// Opaque token from a previous page.
    pub page_token: Option<String>,
}

/// One page of results.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_page_token: Option<String>,
}

/// A command on an exchange with who gives it and when: what [`crate::Store::apply`] takes.
/// The rules are the aggregate's ([`accord_domain::Exchange::handle`]).
#[derive(Debug, Clone)]
pub struct Change {
    pub command: Command,
    pub actor: Actor,
    pub now: OffsetDateTime,
}

/// What an inbox event is about (the aggregate's notice kinds).
pub use accord_domain::NoticeKind as InboxEventKind;

/// An event for one agency's inbox. `cursor` is a per-deployment increasing number; an
/// agency resumes with the last cursor it saw and receives exactly what came after.
#[derive(Debug, Clone, PartialEq)]
pub struct InboxEvent {
    pub cursor: u64,
    pub agency: AgencyId,
    pub exchange_id: Uuid,
    pub kind: InboxEventKind,
    pub state: ExchangeState,
    pub occurred_at: OffsetDateTime,
    /// A short line without content or child identifiers.
    pub summary: String,
}

/// An administrative change to the registry, audited like any exchange step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdminEvent {
    /// A registry change (`signatory_suspended`, …) or an auditor's read (`audit_queried`, …).
    pub kind: AuditEventKind,
    pub protocol_id: String,
    pub agency_id: Option<AgencyId>,
    pub detail: serde_json::Value,
}

/// One entry of the audit log, as auditors see it: metadata only, never content, and
/// subject identifiers only as keyed hashes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub sequence: u64,
    /// SHA-256 over `prev_hash` and the canonical encoding of this entry, lowercase hex.
    pub entry_hash: String,
    pub prev_hash: String,
    pub occurred_at: OffsetDateTime,
    /// e.g. `submitted`, `refused`, `sent_for_approval`, `approve_part`, `respond`,
    /// `fetch`, `acknowledge`, `signatory_suspended`.
    pub event_kind: String,
    pub exchange_id: Option<Uuid>,
    pub actor_agency: Option<AgencyId>,
    pub actor_subject: String,
    pub actor_roles: Vec<String>,
    pub requesting_agency: Option<AgencyId>,
    pub holding_agency: Option<AgencyId>,
    pub purpose: Option<PurposeId>,
    pub state_from: Option<ExchangeState>,
    pub state_to: Option<ExchangeState>,
    /// HMAC-SHA256 (audit key) of each subject identifier's canonical form, lowercase hex.
    pub subject_hashes: Vec<String>,
    pub categories: Vec<CategoryId>,
    pub content_sha256: Option<String>,
    pub content_size: Option<u64>,
    /// Everything else that must be recorded (`DOMAIN.md` "What must be recorded"): lawful
    /// basis, level of need, consent and who gave it, reasons, conditions, findings.
    pub detail: serde_json::Value,
}

/// Filters for audit queries. All set filters must match.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub exchange_id: Option<Uuid>,
    /// Matches entries where the agency is requester, holder or actor.
    pub agency: Option<AgencyId>,
    /// Keyed hash of a subject identifier (see `Store::subject_hash`).
    pub subject_hash: Option<String>,
    pub purpose: Option<PurposeId>,
    pub event_kind: Option<String>,
    pub state_to: Option<ExchangeState>,
    pub from: Option<OffsetDateTime>,
    pub to: Option<OffsetDateTime>,
    pub page_size: u32,
    pub page_token: Option<String>,
}

/// The result of walking the audit chain.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifyReport {
    pub ok: bool,
    pub entries_checked: u64,
    /// The first entry whose stored hash, predecessor link or sequence does not match.
    pub first_bad_sequence: Option<u64>,
    pub problem: Option<String>,
    pub last_checkpoint_sequence: Option<u64>,
    /// Every checkpoint's signature verified with the configured key.
    pub checkpoints_valid: bool,
}

/// Counts for auditors and the partnership.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Stats {
    /// Exchanges created in the window, by current state.
    pub by_state: Vec<(ExchangeState, u64)>,
    pub by_purpose: Vec<(PurposeId, u64)>,
    /// (requesting, holding) → count.
    pub by_agency_pair: Vec<(AgencyId, AgencyId, u64)>,
    /// Time from submission to the first approve/approve part/decline, in seconds.
    pub decision_seconds_p50: Option<f64>,
    pub decision_seconds_p90: Option<f64>,
    pub decided: u64,
    /// Open exchanges past their response deadline.
    pub overdue: u64,
}
