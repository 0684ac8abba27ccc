//! The two backends. The schemas are column-for-column the same (`migrations/`), and the
//! queries use `$n` placeholders, which both SQLite and PostgreSQL accept, so each query is
//! written once and expanded for `sqlx::Sqlite` and `sqlx::Postgres` by [`backend!`],
//! type-checked against each:
//!
//! - `rows.rs`: decoding rows into the `Raw*` types of `records.rs`;
//! - `batch.rs`: the group-commit writer's batch transaction (`BatchTx`);
//! - `reads.rs`: reads straight from the pool, never through the writer.
//!
//! What differs per backend lives in `sqlite.rs` and `postgres.rs`: how a batch transaction
//! starts (the lock that serialises chain extension) and how rows are bulk-inserted.
//! Everything above this module sees the `Db` enum, `dispatch!` and the `BatchTx` trait.

use std::future::Future;

use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use uuid::Uuid;

use crate::records::{AuditRecord, ExchangeWrite, InboxDraft, RawExchange};
use crate::{Result, StoreError};

mod batch;
mod reads;
mod rows;

pub(crate) mod postgres;
pub(crate) mod sqlite;

pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

#[derive(Clone)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Calls the same-named function of the backend module for whichever pool `db` holds.
macro_rules! dispatch {
    ($db:expr, $f:ident($($arg:expr),*)) => {
        match $db {
            $crate::db::Db::Sqlite(p) => $crate::db::sqlite::$f(p, $($arg),*).await,
            $crate::db::Db::Postgres(p) => $crate::db::postgres::$f(p, $($arg),*).await,
        }
    };
}
pub(crate) use dispatch;

/// The chain head and counters read at the start of a batch, under the batch's lock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Head {
    pub sequence: u64,
    pub hash: [u8; 32],
    pub last_checkpoint: u64,
    pub last_cursor: u64,
}

/// A response row to insert.
#[derive(Debug, Clone)]
pub(crate) struct ResponseWrite {
    pub exchange_id: Uuid,
    pub submitted_at: i64,
    pub submitted_by: String,
    pub content_ct: Vec<u8>,
    pub content_sha256: String,
    pub content_size: i64,
    pub categories: String,
    pub retain_until: i64,
}

/// The decision record of a row written before migration 0006, set up by the store.
#[derive(Debug, Clone)]
pub(crate) struct RecordUpgrade {
    pub id: Uuid,
    pub decisions_ct: Vec<u8>,
    pub reasons_ct: Option<Vec<u8>>,
    pub record_retain_until: i64,
}

/// A subject index row: (keyed hash, exchange, role, created_at).
pub(crate) type SubjectRow = (String, Uuid, &'static str, i64);

/// What the group-commit writer does inside one batch transaction.
pub(crate) trait BatchTx: Send {
    fn head(&mut self) -> impl Future<Output = Result<Head>> + Send;
    fn load_exchange(
        &mut self,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<RawExchange>>> + Send;
    fn find_idempotent(
        &mut self,
        agency: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<Uuid>>> + Send;
    fn insert_exchange(&mut self, w: &ExchangeWrite) -> impl Future<Output = Result<()>> + Send;
    fn update_exchange(&mut self, w: &ExchangeWrite) -> impl Future<Output = Result<()>> + Send;
    fn insert_subjects(&mut self, rows: &[SubjectRow]) -> impl Future<Output = Result<()>> + Send;
    fn insert_response(&mut self, r: &ResponseWrite) -> impl Future<Output = Result<()>> + Send;
    /// `None`: no response row; `Some(None)`: purged.
    fn response_content(
        &mut self,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<Option<Vec<u8>>>>> + Send;
    fn expired_responses(
        &mut self,
        now: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Uuid>>> + Send;
    fn purge_content(&mut self, id: Uuid) -> impl Future<Output = Result<()>> + Send;
    /// Exchanges whose decision record is still kept though its retention ended at or
    /// before `now` and whose content is gone (no request, no unpurged response), soonest
    /// ended first.
    fn expired_records(
        &mut self,
        now: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Uuid>>> + Send;
    /// Clears the decision record: the reasons and the decisions.
    fn purge_record(&mut self, id: Uuid) -> impl Future<Output = Result<()>> + Send;
    /// Rows written before migration 0006 that still need their decision record set up.
    fn records_to_upgrade(&mut self, limit: i64) -> impl Future<Output = Result<Vec<Uuid>>> + Send;
    /// Sets up the decision record of a row written before migration 0006; a no-op when it
    /// already has one.
    fn upgrade_record(&mut self, r: &RecordUpgrade) -> impl Future<Output = Result<()>> + Send;
    /// Exchanges that ended without a response (refused, declined, withdrawn, expired, or
    /// closed with no response row) at or before `ended_before` and still hold their
    /// encrypted request, oldest first.
    fn unanswered_requests(
        &mut self,
        ended_before: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Uuid>>> + Send;
    fn insert_audit(&mut self, rows: &[AuditRecord]) -> impl Future<Output = Result<()>> + Send;
    fn insert_inbox(
        &mut self,
        rows: &[(i64, InboxDraft)],
    ) -> impl Future<Output = Result<()>> + Send;
    fn insert_checkpoint(
        &mut self,
        sequence: i64,
        head: [u8; 32],
        signature: Vec<u8>,
        key_id: String,
        now: i64,
    ) -> impl Future<Output = Result<()>> + Send;
    fn commit(self) -> impl Future<Output = Result<()>> + Send;
}

/// Rows per multi-row INSERT: well under SQLite's 32766 and PostgreSQL's 65535 bind
/// parameters for the widest table (19 columns).
const INSERT_CHUNK: usize = 256;

pub(crate) const EXCHANGE_COLS: &str =
    "e.id, e.state, e.version, e.idempotency_key, e.requesting_agency, \
     e.holding_agency, e.purpose, e.urgency, e.level_of_need, e.respond_by, e.overdue, \
     e.created_at, e.updated_at, e.first_decision_at, e.request_ct, e.subject_hashes, \
     e.assessment, e.decisions, e.approved_scope, e.conditions, e.decisions_ct, e.reasons_ct, \
     e.record_retain_until, r.submitted_at AS r_submitted_at, \
     r.submitted_by AS r_submitted_by, r.content_sha256 AS r_content_sha256, \
     r.content_size AS r_content_size, r.categories AS r_categories, \
     r.retain_until AS r_retain_until, r.purged AS r_purged";

pub(crate) const AUDIT_COLS: &str = "sequence, prev_hash, entry_hash, occurred_at, event_kind, \
     exchange_id, actor_agency, actor_subject, actor_roles, requesting_agency, holding_agency, \
     purpose, state_from, state_to, subject_hashes, categories, content_sha256, content_size, detail";

const SUMMARY_COLS: &str = "id, state, version, requesting_agency, holding_agency, purpose, \
     urgency, level_of_need, respond_by, overdue, created_at, updated_at";

/// Audit query filters in stored form.
#[derive(Debug, Clone, Default)]
pub(crate) struct AuditFilter {
    pub exchange_id: Option<Uuid>,
    pub agency: Option<String>,
    pub subject_hash: Option<String>,
    pub purpose: Option<String>,
    pub event_kind: Option<String>,
    pub state_to: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Keyset: strictly after (occurred_at, sequence).
    pub after: Option<(i64, i64)>,
    pub limit: i64,
}

/// The pending queue of a holding agency in stored form, oldest deadline first.
#[derive(Debug, Clone)]
pub(crate) struct PendingFilter {
    pub agency: String,
    /// A subset of the states awaiting a decision (`awaiting_approval`, `escalated`).
    pub states: Vec<&'static str>,
    /// Keyset: strictly after (respond_by, id).
    pub after: Option<(i64, Uuid)>,
    pub limit: i64,
}

/// Exchange listing filters in stored form.
#[derive(Debug, Clone)]
pub(crate) struct ListFilter {
    pub agency: String,
    pub party: crate::Party,
    pub states: Vec<&'static str>,
    pub purpose: Option<String>,
    pub created_after: Option<i64>,
    pub created_before: Option<i64>,
    /// Keyset: strictly before (created_at, id), newest first.
    pub before: Option<(i64, Uuid)>,
    pub limit: i64,
}

/// A row of `prior_exchanges`: the matching keyed hash and the exchange's metadata.
#[derive(Debug, Clone)]
pub(crate) struct PriorRow {
    pub subject_hash: String,
    pub id: Uuid,
    pub requesting_agency: String,
    pub holding_agency: String,
    pub purpose: String,
    pub state: String,
    pub created_at: i64,
    /// JSON of the exchange's assessment and approved scope, for its categories.
    pub assessment: String,
    pub approved_scope: String,
}

/// Expands one backend module's queries for database `$DB` with pool type `$Pool`; `begin`
/// is the statement that starts a batch transaction. The invoking module provides `bulk`,
/// with `insert_audit` and `insert_inbox` over its connection type.
macro_rules! backend {
    ($DB:ty, $Pool:ty, begin = $begin:expr) => {
        use sqlx::{QueryBuilder, Row};
        use uuid::Uuid;

        use $crate::db::*;
        use $crate::records::{
            AuditRecord, ExchangeWrite, InboxDraft, RawAudit, RawCheckpoint, RawExchange, RawInbox,
            RawResponse, RawSummary,
        };
        use $crate::Result;

        type DbRow = <$DB as sqlx::Database>::Row;

        $crate::db::rows::decoders!($DB);
        $crate::db::batch::batch_tx!($DB, $Pool, $begin);
        $crate::db::reads::reads!($DB, $Pool);
    };
}
pub(crate) use backend;
