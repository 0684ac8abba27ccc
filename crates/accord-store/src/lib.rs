//! Accord's durable store on SQLite (the embedded default) and PostgreSQL.
//!
//! It owns the exchange state machine as persisted rows, the append-only hash-chained audit
//! log (group commit, signed checkpoints, verification), inbox events, and request and
//! response content encrypted at rest and purged at the end of retention.
//!
//! [`Store`]'s methods are spread over modules by what they serve:
//!
//! - `open.rs`: opening (configuration, migrations, the writer task) and closing;
//! - `exchanges.rs`: what agencies do with exchanges (submit, read, list, the pending queue,
//!   decide, respond, fetch), and earlier exchanges about a child;
//! - `upkeep.rs`: what the broker's jobs do (deadlines, expiry, purges);
//! - `inbox.rs`: inbox events;
//! - `audit.rs`: reading the audit log (queries, ranges, the head, events since a sequence)
//!   and recording admin changes;
//! - `verify.rs`: verifying the chain, in the database and offline;
//! - `stats.rs`: counts for auditors.
//!
//! Underneath: `writer.rs` (the group-commit writer), `db/` (the queries of both backends),
//! `records.rs` (rows and their conversion), `public.rs` (the public types), `canonical.rs` (the hashed encoding), `crypto.rs`
//! (keys), `page_token.rs` (page tokens of the listings).

#![forbid(unsafe_code)]

mod audit;
mod canonical;
mod crypto;
mod db;
mod exchanges;
mod inbox;
mod open;
mod page_token;
mod public;
mod records;
mod stats;
mod upkeep;
mod verify;
mod writer;

pub use audit::AuditHead;
pub use public::*;
#[doc(hidden)]
pub use verify::bench_support;
pub use verify::{compute_entry_hash, verify_entries};

use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use crate::crypto::Keys;
use crate::db::Db;
use crate::writer::Msg;

/// Errors the store reports. Never carries database error text to a client: the server maps
/// `Database` to an opaque internal error and logs the detail.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("exchange {0} not found")]
    NotFound(Uuid),
    /// The exchange changed since the caller read it (optimistic concurrency).
    #[error(
        "exchange {id} was changed by someone else (expected version {expected}, found {found})"
    )]
    Conflict { id: Uuid, expected: u64, found: u64 },
    /// The transition table does not allow the action from the exchange's state.
    #[error(transparent)]
    InvalidTransition(#[from] accord_domain::InvalidTransition),
    /// The exchange's rules refused the command (who may act, scope, no response yet,
    /// content purged, …): [`accord_domain::Exchange::handle`].
    #[error(transparent)]
    Refused(accord_domain::Refusal),
    /// An argument the store cannot take: `field` names it (a page token it did not issue,
    /// an idempotency key out of bounds, an instant or number out of range).
    #[error("{field}: {reason}")]
    InvalidInput { field: &'static str, reason: String },
    /// An audit entry given for offline verification is not well formed.
    #[error("malformed audit entry: {0}")]
    MalformedEntry(&'static str),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("database error: {0}")]
    Database(String),
    #[error("store is shutting down")]
    Closed,
}

impl From<accord_domain::Refusal> for StoreError {
    fn from(r: accord_domain::Refusal) -> Self {
        match r {
            accord_domain::Refusal::Transition(t) => StoreError::InvalidTransition(t),
            r => StoreError::Refused(r),
        }
    }
}

impl StoreError {
    pub(crate) fn bad_page_token() -> Self {
        StoreError::InvalidInput {
            field: "page_token",
            reason: "invalid page token".into(),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Handle to the store; cheap to clone, shared by every request handler.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    keys: Arc<Keys>,
    writer_tx: mpsc::Sender<Msg>,
    inbox_rx: watch::Receiver<u64>,
    writer: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backend = match self.inner.db {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        };
        f.debug_struct("Store")
            .field("backend", &backend)
            .finish_non_exhaustive()
    }
}
