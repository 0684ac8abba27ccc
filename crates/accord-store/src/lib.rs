//! Accord's durable store on SQLite (the embedded default) and PostgreSQL.
//!
//! It owns the exchange state machine as persisted rows, the append-only hash-chained audit
//! log (group commit, signed checkpoints, verification), inbox events, and request and
//! response content encrypted at rest and purged at the end of retention.

#![forbid(unsafe_code)]

mod types;

pub use types::*;

use accord_domain::{Actor, AgencyId, PriorExchange, ResponseItem, SubjectIdentifier};
use time::OffsetDateTime;
use uuid::Uuid;

/// Errors the store reports. Never carries database error text to a client: the server maps
/// `Database` to an opaque internal error and logs the detail.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("exchange {0} not found")]
    NotFound(Uuid),
    /// The exchange changed since the caller read it (optimistic concurrency).
    #[error("exchange {id} was changed by someone else (expected version {expected}, found {found})")]
    Conflict { id: Uuid, expected: u64, found: u64 },
    #[error(transparent)]
    InvalidTransition(#[from] accord_domain::InvalidTransition),
    /// The operation is not valid for reasons other than the state (e.g. no response yet,
    /// content already purged).
    #[error("{0}")]
    Precondition(String),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("database error: {0}")]
    Database(String),
    #[error("store is shutting down")]
    Closed,
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Handle to the store; cheap to clone, shared by every request handler.
#[derive(Clone)]
pub struct Store {
    _private: (),
}

fn not_built<T>() -> Result<T> {
    Err(StoreError::Precondition("store not built yet".into()))
}

impl Store {
    /// Opens (creating and migrating if needed) the database at `config.url` and starts the
    /// group-commit writer.
    pub async fn open(config: StoreConfig) -> Result<Store> {
        let _ = config;
        not_built()
    }

    /// Records a new, assessed request: state `refused` or `awaiting_approval` from the
    /// assessment outcome, its audit entries and inbox events, in one transaction. A second
    /// submission with the same (requesting agency, idempotency key) returns the first.
    pub async fn submit(&self, submission: Submission) -> Result<Submitted> {
        let _ = submission;
        not_built()
    }

    pub async fn get(&self, id: Uuid) -> Result<Exchange> {
        let _ = id;
        not_built()
    }

    pub async fn list(&self, query: ExchangeQuery) -> Result<Page<ExchangeSummary>> {
        let _ = query;
        not_built()
    }

    /// Applies a state change: checks the transition with `ExchangeState::apply`, checks
    /// `expected_version` when given (else `Conflict`), writes the new state, the decision,
    /// the audit entry and inbox events in one transaction.
    pub async fn apply(&self, id: Uuid, expected_version: Option<u64>, change: Change) -> Result<Exchange> {
        let _ = (id, expected_version, change);
        not_built()
    }

    /// Marks an exchange overdue and escalates it (deadline job): audit entry `overdue` and
    /// inbox events to both agencies. Idempotent: an exchange already overdue is skipped.
    pub async fn mark_overdue(&self, id: Uuid, now: OffsetDateTime) -> Result<Exchange> {
        let _ = (id, now);
        not_built()
    }

    /// Open exchanges awaiting a decision whose `respond_by` has passed and are not yet
    /// marked overdue.
    pub async fn overdue_candidates(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<Uuid>> {
        let _ = (now, limit);
        not_built()
    }

    /// Stores the holder's response (encrypted), moves the exchange to `responded`, audits the
    /// content's SHA-256, size and categories (never the content).
    pub async fn respond(
        &self,
        id: Uuid,
        expected_version: u64,
        items: Vec<ResponseItem>,
        actor: Actor,
        now: OffsetDateTime,
        retain_until: OffsetDateTime,
    ) -> Result<Exchange> {
        let _ = (id, expected_version, items, actor, now, retain_until);
        not_built()
    }

    /// Returns the decrypted response to the requester and records the fetch (state
    /// `delivered`). `Precondition` if there is no response or it was purged.
    pub async fn fetch_response(&self, id: Uuid, actor: Actor, now: OffsetDateTime) -> Result<(Exchange, Vec<ResponseItem>)> {
        let _ = (id, actor, now);
        not_built()
    }

    /// Purges request and response content whose retention ended; the audit log keeps the
    /// digests. Returns how many exchanges were purged.
    pub async fn purge_expired_content(&self, now: OffsetDateTime) -> Result<u64> {
        let _ = now;
        not_built()
    }

    /// Earlier exchanges about any of these child identifiers submitted at or after `since`
    /// (for the repeat-sharing rule). Matched by keyed hash, never by clear identifier.
    pub async fn prior_exchanges(&self, child: &[SubjectIdentifier], since: OffsetDateTime) -> Result<Vec<PriorExchange>> {
        let _ = (child, since);
        not_built()
    }

    /// Inbox events for an agency after `after` (exclusive; `None` = from the first), oldest
    /// first, at most `limit`.
    pub async fn inbox(&self, agency: &AgencyId, after: Option<u64>, limit: u32) -> Result<Vec<InboxEvent>> {
        let _ = (agency, after, limit);
        not_built()
    }

    /// Wakes up whenever new inbox events were committed by this process; a follower then
    /// reads `inbox` from its cursor. (Other replicas' events are found by polling.)
    pub fn inbox_notifier(&self) -> tokio::sync::watch::Receiver<u64> {
        tokio::sync::watch::channel(0).1
    }

    /// Appends an audited administrative change (suspend, reinstate, re-affirm).
    pub async fn record_admin(&self, event: AdminEvent, actor: Actor, now: OffsetDateTime) -> Result<AuditEntry> {
        let _ = (event, actor, now);
        not_built()
    }

    pub async fn audit_query(&self, query: AuditQuery) -> Result<Page<AuditEntry>> {
        let _ = query;
        not_built()
    }

    /// Entries with `from <= sequence <= to` (inclusive), oldest first, at most `limit`.
    pub async fn audit_range(&self, from: u64, to: Option<u64>, limit: u32) -> Result<Vec<AuditEntry>> {
        let _ = (from, to, limit);
        not_built()
    }

    /// Walks the whole chain and every checkpoint; names the first entry that does not match.
    pub async fn audit_verify(&self) -> Result<VerifyReport> {
        not_built()
    }

    pub async fn stats(&self, from: Option<OffsetDateTime>, to: Option<OffsetDateTime>, now: OffsetDateTime) -> Result<Stats> {
        let _ = (from, to, now);
        not_built()
    }

    /// Keyed hash (HMAC-SHA256 with the audit key) of a subject identifier's canonical form.
    pub fn subject_hash(&self, id: &SubjectIdentifier) -> String {
        let _ = id;
        String::new()
    }

    /// Stops the writer after committing what it holds.
    pub async fn close(&self) {}
}
