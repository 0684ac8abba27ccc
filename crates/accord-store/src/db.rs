//! The two backends. The schemas are column-for-column the same (`migrations/`), and the
//! queries use `$n` placeholders, which both SQLite and PostgreSQL accept, so each query is
//! written once: the `backend!` macro below expands the same code for `sqlx::Sqlite` and
//! `sqlx::Postgres`, type-checked against each. What differs is only how the writer's batch
//! transaction starts (see `begin`). Everything above this module sees the `Db` enum and
//! the `BatchTx` trait.

use std::future::Future;

use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use uuid::Uuid;

use crate::model::{
    AuditRecord, ExchangeWrite, InboxDraft, RawAudit, RawCheckpoint, RawExchange, RawInbox,
    RawResponse, RawSummary,
};
use crate::{Result, StoreError};

/// Key of the PostgreSQL advisory lock that serialises audit-chain extension across every
/// process sharing the database ("ACCORDAU" in ASCII). Taken per batch, not per write.
pub(crate) const CHAIN_LOCK_KEY: i64 = 0x4143_434F_5244_4155;

/// Starts a PostgreSQL batch: BEGIN and the chain lock in one round trip (sqlx sends a custom
/// BEGIN as a simple query, which may hold several statements). Under READ COMMITTED the head
/// is then read by the next statement, whose snapshot is taken after the lock is held.
pub(crate) const PG_BEGIN: &str = "BEGIN; SELECT pg_advisory_xact_lock(4702676443866612053)";

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
     e.assessment, e.decisions, e.approved_scope, e.conditions, r.submitted_at AS r_submitted_at, \
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

macro_rules! backend {
    ($m:ident, $DB:ty, $Pool:ty, begin = $begin:expr, lock = $lock:expr, bulk = $($bulk:ident)::+) => {
        pub(crate) mod $m {
            use sqlx::{QueryBuilder, Row};
            use uuid::Uuid;

            use super::*;

            type DbRow = <$DB as sqlx::Database>::Row;

            fn raw_exchange(row: &DbRow) -> sqlx::Result<RawExchange> {
                let r_submitted_at: Option<i64> = row.try_get("r_submitted_at")?;
                let response = match r_submitted_at {
                    None => None,
                    Some(submitted_at) => Some(RawResponse {
                        submitted_at,
                        submitted_by: row.try_get("r_submitted_by")?,
                        content_sha256: row.try_get("r_content_sha256")?,
                        content_size: row.try_get("r_content_size")?,
                        categories: row.try_get("r_categories")?,
                        retain_until: row.try_get("r_retain_until")?,
                        purged: row.try_get("r_purged")?,
                    }),
                };
                Ok(RawExchange {
                    id: row.try_get("id")?,
                    state: row.try_get("state")?,
                    version: row.try_get("version")?,
                    idempotency_key: row.try_get("idempotency_key")?,
                    requesting_agency: row.try_get("requesting_agency")?,
                    holding_agency: row.try_get("holding_agency")?,
                    purpose: row.try_get("purpose")?,
                    urgency: row.try_get("urgency")?,
                    level_of_need: row.try_get("level_of_need")?,
                    respond_by: row.try_get("respond_by")?,
                    overdue: row.try_get("overdue")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                    first_decision_at: row.try_get("first_decision_at")?,
                    request_ct: row.try_get("request_ct")?,
                    subject_hashes: row.try_get("subject_hashes")?,
                    assessment: row.try_get("assessment")?,
                    decisions: row.try_get("decisions")?,
                    approved_scope: row.try_get("approved_scope")?,
                    conditions: row.try_get("conditions")?,
                    response,
                })
            }

            fn raw_audit(row: &DbRow) -> sqlx::Result<RawAudit> {
                Ok(RawAudit {
                    sequence: row.try_get("sequence")?,
                    prev_hash: row.try_get("prev_hash")?,
                    entry_hash: row.try_get("entry_hash")?,
                    occurred_at: row.try_get("occurred_at")?,
                    event_kind: row.try_get("event_kind")?,
                    exchange_id: row.try_get("exchange_id")?,
                    actor_agency: row.try_get("actor_agency")?,
                    actor_subject: row.try_get("actor_subject")?,
                    actor_roles: row.try_get("actor_roles")?,
                    requesting_agency: row.try_get("requesting_agency")?,
                    holding_agency: row.try_get("holding_agency")?,
                    purpose: row.try_get("purpose")?,
                    state_from: row.try_get("state_from")?,
                    state_to: row.try_get("state_to")?,
                    subject_hashes: row.try_get("subject_hashes")?,
                    categories: row.try_get("categories")?,
                    content_sha256: row.try_get("content_sha256")?,
                    content_size: row.try_get("content_size")?,
                    detail: row.try_get("detail")?,
                })
            }

            fn raw_summary(row: &DbRow) -> sqlx::Result<RawSummary> {
                Ok(RawSummary {
                    id: row.try_get("id")?,
                    state: row.try_get("state")?,
                    version: row.try_get("version")?,
                    requesting_agency: row.try_get("requesting_agency")?,
                    holding_agency: row.try_get("holding_agency")?,
                    purpose: row.try_get("purpose")?,
                    urgency: row.try_get("urgency")?,
                    level_of_need: row.try_get("level_of_need")?,
                    respond_by: row.try_get("respond_by")?,
                    overdue: row.try_get("overdue")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            }

            /// Multi-row VALUES inserts (SQLite: preparing a statement is local and cheap).
            #[allow(dead_code)]
            mod values {
                use sqlx::QueryBuilder;

                use super::super::*;

                pub(crate) async fn insert_audit(
                    conn: &mut <$DB as sqlx::Database>::Connection,
                    rows: &[AuditRecord],
                ) -> Result<()> {
                    for chunk in rows.chunks(INSERT_CHUNK) {
                        let mut lists = Vec::with_capacity(chunk.len());
                        for r in chunk {
                            lists.push(r.list_columns()?);
                        }
                        let mut qb: QueryBuilder<'_, $DB> = QueryBuilder::new(
                            "INSERT INTO audit_log (sequence, prev_hash, entry_hash, occurred_at, event_kind, \
                             exchange_id, actor_agency, actor_subject, actor_roles, requesting_agency, \
                             holding_agency, purpose, state_from, state_to, subject_hashes, categories, \
                             content_sha256, content_size, detail) ",
                        );
                        let mut err = None;
                        qb.push_values(chunk.iter().zip(lists), |mut b, (r, (roles, subjects, cats))| {
                            let f = &r.fields;
                            let seq = crate::model::i64_of(r.sequence);
                            let size = f.content_size.map(crate::model::i64_of).transpose();
                            let (seq, size) = match (seq, size) {
                                (Ok(s), Ok(z)) => (s, z),
                                (Err(e), _) | (_, Err(e)) => {
                                    err = Some(e);
                                    (0, None)
                                }
                            };
                            b.push_bind(seq)
                                .push_bind(r.prev_hash.to_vec())
                                .push_bind(r.entry_hash.to_vec())
                                .push_bind(f.occurred_at_us)
                                .push_bind(f.event_kind.clone())
                                .push_bind(f.exchange_id)
                                .push_bind(f.actor_agency.clone())
                                .push_bind(f.actor_subject.clone())
                                .push_bind(roles)
                                .push_bind(f.requesting_agency.clone())
                                .push_bind(f.holding_agency.clone())
                                .push_bind(f.purpose.clone())
                                .push_bind(f.state_from.clone())
                                .push_bind(f.state_to.clone())
                                .push_bind(subjects)
                                .push_bind(cats)
                                .push_bind(f.content_sha256.clone())
                                .push_bind(size)
                                .push_bind(f.detail.clone());
                        });
                        if let Some(e) = err {
                            return Err(e);
                        }
                        qb.build().persistent(false).execute(&mut *conn).await.map_err(db_err)?;
                    }
                    Ok(())
                }


                pub(crate) async fn insert_inbox(
                    conn: &mut <$DB as sqlx::Database>::Connection,
                    rows: &[(i64, InboxDraft)],
                ) -> Result<()> {
                    for chunk in rows.chunks(INSERT_CHUNK) {
                        let mut qb: QueryBuilder<'_, $DB> = QueryBuilder::new(
                            "INSERT INTO inbox_events (cursor, agency, exchange_id, kind, state, occurred_at, summary) ",
                        );
                        qb.push_values(chunk, |mut b, (cursor, d)| {
                            b.push_bind(*cursor)
                                .push_bind(d.agency.to_string())
                                .push_bind(d.exchange_id)
                                .push_bind(crate::model::kind_str(d.kind))
                                .push_bind(d.state.as_str())
                                .push_bind(d.occurred_at)
                                .push_bind(d.summary.clone());
                        });
                        qb.build().persistent(false).execute(&mut *conn).await.map_err(db_err)?;
                    }
                    Ok(())
                }

            }

            /// The writer's batch transaction.
            pub(crate) struct Tx(sqlx::Transaction<'static, $DB>);

            /// Starts a batch transaction that alone may extend the chain until it ends.
            pub(crate) async fn begin(pool: &$Pool) -> Result<Tx> {
                let mut tx = pool.begin_with($begin).await.map_err(db_err)?;
                let lock: Option<&'static str> = $lock;
                if let Some(lock) = lock {
                    // Its own statement: under READ COMMITTED the head is read by the next
                    // statement, whose snapshot is taken after the lock is held.
                    sqlx::query(lock).bind(CHAIN_LOCK_KEY).execute(&mut *tx).await.map_err(db_err)?;
                }
                Ok(Tx(tx))
            }

            impl BatchTx for Tx {
                async fn head(&mut self) -> Result<Head> {
                    let row = sqlx::query(
                        "SELECT (SELECT sequence FROM audit_log ORDER BY sequence DESC LIMIT 1) AS seq, \
                                (SELECT entry_hash FROM audit_log ORDER BY sequence DESC LIMIT 1) AS hash, \
                                (SELECT MAX(sequence) FROM audit_checkpoints) AS cp, \
                                (SELECT MAX(cursor) FROM inbox_events) AS cur",
                    )
                    .fetch_one(&mut *self.0)
                    .await
                    .map_err(db_err)?;
                    let seq: Option<i64> = row.try_get("seq").map_err(db_err)?;
                    let hash: Option<Vec<u8>> = row.try_get("hash").map_err(db_err)?;
                    let cp: Option<i64> = row.try_get("cp").map_err(db_err)?;
                    let cur: Option<i64> = row.try_get("cur").map_err(db_err)?;
                    let hash = match hash {
                        None => crate::canonical::GENESIS,
                        Some(h) => <[u8; 32]>::try_from(h.as_slice())
                            .map_err(|_| crate::model::corrupt("head hash"))?,
                    };
                    let nonneg = |v: Option<i64>, what| crate::model::u64_of(v.unwrap_or(0), what);
                    Ok(Head {
                        sequence: nonneg(seq, "head sequence")?,
                        hash,
                        last_checkpoint: nonneg(cp, "checkpoint sequence")?,
                        last_cursor: nonneg(cur, "inbox cursor")?,
                    })
                }

                async fn load_exchange(&mut self, id: Uuid) -> Result<Option<RawExchange>> {
                    let sql = format!(
                        "SELECT {EXCHANGE_COLS} FROM exchanges e \
                         LEFT JOIN responses r ON r.exchange_id = e.id WHERE e.id = $1"
                    );
                    let row = sqlx::query(&sql).bind(id).fetch_optional(&mut *self.0).await.map_err(db_err)?;
                    row.as_ref().map(raw_exchange).transpose().map_err(db_err)
                }

                async fn find_idempotent(&mut self, agency: &str, key: &str) -> Result<Option<Uuid>> {
                    let row = sqlx::query(
                        "SELECT id FROM exchanges WHERE requesting_agency = $1 AND idempotency_key = $2",
                    )
                    .bind(agency)
                    .bind(key)
                    .fetch_optional(&mut *self.0)
                    .await
                    .map_err(db_err)?;
                    row.map(|r| r.try_get::<Uuid, _>("id")).transpose().map_err(db_err)
                }

                async fn insert_exchange(&mut self, w: &ExchangeWrite) -> Result<()> {
                    sqlx::query(
                        "INSERT INTO exchanges (id, state, version, idempotency_key, requesting_agency, \
                         holding_agency, purpose, urgency, respond_by, overdue, created_at, updated_at, \
                         first_decision_at, request_ct, subject_hashes, assessment, decisions, \
                         approved_scope, conditions, level_of_need) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
                    )
                    .bind(w.id)
                    .bind(w.state)
                    .bind(w.version)
                    .bind(&w.idempotency_key)
                    .bind(&w.requesting_agency)
                    .bind(&w.holding_agency)
                    .bind(&w.purpose)
                    .bind(w.urgency)
                    .bind(w.respond_by)
                    .bind(w.overdue)
                    .bind(w.created_at)
                    .bind(w.updated_at)
                    .bind(w.first_decision_at)
                    .bind(&w.request_ct)
                    .bind(&w.subject_hashes)
                    .bind(&w.assessment)
                    .bind(&w.decisions)
                    .bind(&w.approved_scope)
                    .bind(&w.conditions)
                    .bind(w.level_of_need)
                    .execute(&mut *self.0)
                    .await
                    .map_err(db_err)?;
                    Ok(())
                }

                async fn update_exchange(&mut self, w: &ExchangeWrite) -> Result<()> {
                    sqlx::query(
                        "UPDATE exchanges SET state = $2, version = $3, respond_by = $4, overdue = $5, \
                         updated_at = $6, first_decision_at = $7, request_ct = $8, decisions = $9, \
                         approved_scope = $10, conditions = $11 WHERE id = $1",
                    )
                    .bind(w.id)
                    .bind(w.state)
                    .bind(w.version)
                    .bind(w.respond_by)
                    .bind(w.overdue)
                    .bind(w.updated_at)
                    .bind(w.first_decision_at)
                    .bind(&w.request_ct)
                    .bind(&w.decisions)
                    .bind(&w.approved_scope)
                    .bind(&w.conditions)
                    .execute(&mut *self.0)
                    .await
                    .map_err(db_err)?;
                    Ok(())
                }

                async fn insert_subjects(&mut self, rows: &[SubjectRow]) -> Result<()> {
                    for chunk in rows.chunks(INSERT_CHUNK) {
                        let mut qb: QueryBuilder<'_, $DB> = QueryBuilder::new(
                            "INSERT INTO exchange_subjects (subject_hash, exchange_id, role, created_at) ",
                        );
                        qb.push_values(chunk, |mut b, (hash, id, role, at)| {
                            b.push_bind(hash.as_str()).push_bind(*id).push_bind(*role).push_bind(*at);
                        });
                        // The same identifier may appear twice in one request.
                        qb.push(" ON CONFLICT DO NOTHING");
                        qb.build().execute(&mut *self.0).await.map_err(db_err)?;
                    }
                    Ok(())
                }

                async fn insert_response(&mut self, r: &ResponseWrite) -> Result<()> {
                    sqlx::query(
                        "INSERT INTO responses (exchange_id, submitted_at, submitted_by, content_ct, \
                         content_sha256, content_size, categories, retain_until, purged) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, FALSE)",
                    )
                    .bind(r.exchange_id)
                    .bind(r.submitted_at)
                    .bind(&r.submitted_by)
                    .bind(&r.content_ct)
                    .bind(&r.content_sha256)
                    .bind(r.content_size)
                    .bind(&r.categories)
                    .bind(r.retain_until)
                    .execute(&mut *self.0)
                    .await
                    .map_err(db_err)?;
                    Ok(())
                }

                async fn response_content(&mut self, id: Uuid) -> Result<Option<Option<Vec<u8>>>> {
                    let row = sqlx::query("SELECT content_ct FROM responses WHERE exchange_id = $1")
                        .bind(id)
                        .fetch_optional(&mut *self.0)
                        .await
                        .map_err(db_err)?;
                    row.map(|r| r.try_get::<Option<Vec<u8>>, _>("content_ct")).transpose().map_err(db_err)
                }

                async fn expired_responses(&mut self, now: i64, limit: i64) -> Result<Vec<Uuid>> {
                    let rows = sqlx::query(
                        "SELECT exchange_id FROM responses WHERE purged = FALSE AND retain_until <= $1 \
                         ORDER BY retain_until LIMIT $2",
                    )
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&mut *self.0)
                    .await
                    .map_err(db_err)?;
                    rows.iter().map(|r| r.try_get::<Uuid, _>("exchange_id")).collect::<sqlx::Result<_>>().map_err(db_err)
                }

                async fn purge_content(&mut self, id: Uuid) -> Result<()> {
                    sqlx::query("UPDATE responses SET content_ct = NULL, purged = TRUE WHERE exchange_id = $1")
                        .bind(id)
                        .execute(&mut *self.0)
                        .await
                        .map_err(db_err)?;
                    Ok(())
                }

                async fn unanswered_requests(&mut self, ended_before: i64, limit: i64) -> Result<Vec<Uuid>> {
                    // The state list and `request_ct IS NOT NULL` repeat the predicate of the
                    // partial index `exchanges_unanswered_retention` word for word: SQLite uses
                    // a partial index only when the query's WHERE contains its terms.
                    let rows = sqlx::query(
                        "SELECT e.id FROM exchanges e WHERE e.request_ct IS NOT NULL \
                         AND e.state IN ('refused', 'declined', 'withdrawn', 'expired', 'closed') \
                         AND e.updated_at <= $1 \
                         AND NOT EXISTS (SELECT 1 FROM responses r WHERE r.exchange_id = e.id) \
                         ORDER BY e.updated_at LIMIT $2",
                    )
                    .bind(ended_before)
                    .bind(limit)
                    .fetch_all(&mut *self.0)
                    .await
                    .map_err(db_err)?;
                    rows.iter().map(|r| r.try_get::<Uuid, _>("id")).collect::<sqlx::Result<_>>().map_err(db_err)
                }

                async fn insert_audit(&mut self, rows: &[AuditRecord]) -> Result<()> {
                    $($bulk)::+::insert_audit(&mut self.0, rows).await
                }

                async fn insert_inbox(&mut self, rows: &[(i64, InboxDraft)]) -> Result<()> {
                    $($bulk)::+::insert_inbox(&mut self.0, rows).await
                }

                async fn insert_checkpoint(
                    &mut self,
                    sequence: i64,
                    head: [u8; 32],
                    signature: Vec<u8>,
                    key_id: String,
                    now: i64,
                ) -> Result<()> {
                    sqlx::query(
                        "INSERT INTO audit_checkpoints (sequence, head_hash, signature, key_id, created_at) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(sequence)
                    .bind(head.to_vec())
                    .bind(signature)
                    .bind(key_id)
                    .bind(now)
                    .execute(&mut *self.0)
                    .await
                    .map_err(db_err)?;
                    Ok(())
                }

                async fn commit(self) -> Result<()> {
                    self.0.commit().await.map_err(db_err)
                }
            }

            // ---- reads, straight from the pool (never through the writer) ----

            pub(crate) async fn get_exchange(pool: &$Pool, id: Uuid) -> Result<Option<RawExchange>> {
                let sql = format!(
                    "SELECT {EXCHANGE_COLS} FROM exchanges e \
                     LEFT JOIN responses r ON r.exchange_id = e.id WHERE e.id = $1"
                );
                let row = sqlx::query(&sql).bind(id).fetch_optional(pool).await.map_err(db_err)?;
                row.as_ref().map(raw_exchange).transpose().map_err(db_err)
            }

            pub(crate) async fn list(pool: &$Pool, f: &ListFilter) -> Result<Vec<RawSummary>> {
                let mut qb: QueryBuilder<'_, $DB> =
                    QueryBuilder::new(format!("SELECT {SUMMARY_COLS} FROM exchanges WHERE "));
                match f.party {
                    crate::Party::Requester => {
                        qb.push("requesting_agency = ").push_bind(f.agency.clone());
                    }
                    // A holder never lists what is not visible to it (a refused request:
                    // `ExchangeState::visible_to_holder`).
                    crate::Party::Holder => {
                        qb.push("holding_agency = ")
                            .push_bind(f.agency.clone())
                            .push(" AND state <> ")
                            .push_bind(accord_domain::ExchangeState::Refused.as_str());
                    }
                    crate::Party::Either => {
                        qb.push("(requesting_agency = ")
                            .push_bind(f.agency.clone())
                            .push(" OR (holding_agency = ")
                            .push_bind(f.agency.clone())
                            .push(" AND state <> ")
                            .push_bind(accord_domain::ExchangeState::Refused.as_str())
                            .push("))");
                    }
                }
                if !f.states.is_empty() {
                    qb.push(" AND state IN (");
                    let mut sep = qb.separated(", ");
                    for s in &f.states {
                        sep.push_bind(*s);
                    }
                    qb.push(")");
                }
                if let Some(p) = &f.purpose {
                    qb.push(" AND purpose = ").push_bind(p.clone());
                }
                if let Some(t) = f.created_after {
                    qb.push(" AND created_at >= ").push_bind(t);
                }
                if let Some(t) = f.created_before {
                    qb.push(" AND created_at < ").push_bind(t);
                }
                if let Some((t, id)) = f.before {
                    qb.push(" AND (created_at, id) < (").push_bind(t).push(", ").push_bind(id).push(")");
                }
                qb.push(" ORDER BY created_at DESC, id DESC LIMIT ").push_bind(f.limit);
                let rows = qb.build().fetch_all(pool).await.map_err(db_err)?;
                rows.iter().map(raw_summary).collect::<sqlx::Result<_>>().map_err(db_err)
            }

            pub(crate) async fn overdue_candidates(pool: &$Pool, now: i64, limit: i64) -> Result<Vec<Uuid>> {
                let rows = sqlx::query(
                    "SELECT id FROM exchanges WHERE overdue = FALSE \
                     AND state IN ('awaiting_approval', 'escalated') AND respond_by < $1 \
                     ORDER BY respond_by LIMIT $2",
                )
                .bind(now)
                .bind(limit)
                .fetch_all(pool)
                .await
                .map_err(db_err)?;
                rows.iter().map(|r| r.try_get::<Uuid, _>("id")).collect::<sqlx::Result<_>>().map_err(db_err)
            }

            pub(crate) async fn expiry_candidates(pool: &$Pool, deadline: i64, limit: i64) -> Result<Vec<Uuid>> {
                // The state predicate repeats the partial index `exchanges_expiry` (migration
                // 0004) word for word: SQLite uses a partial index only then.
                let rows = sqlx::query(
                    "SELECT id FROM exchanges \
                     WHERE state IN ('more_info_requested', 'approved', 'partly_approved') \
                     AND respond_by <= $1 ORDER BY respond_by, id LIMIT $2",
                )
                .bind(deadline)
                .bind(limit)
                .fetch_all(pool)
                .await
                .map_err(db_err)?;
                rows.iter().map(|r| r.try_get::<Uuid, _>("id")).collect::<sqlx::Result<_>>().map_err(db_err)
            }

            pub(crate) async fn prior(pool: &$Pool, hashes: &[String], since: i64) -> Result<Vec<PriorRow>> {
                if hashes.is_empty() {
                    return Ok(Vec::new());
                }
                let mut qb: QueryBuilder<'_, $DB> = QueryBuilder::new(
                    "SELECT s.subject_hash, e.id, e.requesting_agency, e.holding_agency, e.purpose, \
                     e.state, e.created_at, e.assessment, e.approved_scope \
                     FROM exchange_subjects s JOIN exchanges e ON e.id = s.exchange_id \
                     WHERE s.role = 'child' AND s.created_at >= ",
                );
                qb.push_bind(since).push(" AND s.subject_hash IN (");
                let mut sep = qb.separated(", ");
                for h in hashes {
                    sep.push_bind(h.clone());
                }
                qb.push(") ORDER BY e.created_at, e.id");
                let rows = qb.build().fetch_all(pool).await.map_err(db_err)?;
                rows.iter()
                    .map(|r| {
                        Ok(PriorRow {
                            subject_hash: r.try_get("subject_hash")?,
                            id: r.try_get("id")?,
                            requesting_agency: r.try_get("requesting_agency")?,
                            holding_agency: r.try_get("holding_agency")?,
                            purpose: r.try_get("purpose")?,
                            state: r.try_get("state")?,
                            created_at: r.try_get("created_at")?,
                            assessment: r.try_get("assessment")?,
                            approved_scope: r.try_get("approved_scope")?,
                        })
                    })
                    .collect::<sqlx::Result<_>>()
                    .map_err(db_err)
            }

            pub(crate) async fn inbox(pool: &$Pool, agency: &str, after: i64, limit: i64) -> Result<Vec<RawInbox>> {
                let rows = sqlx::query(
                    "SELECT cursor, agency, exchange_id, kind, state, occurred_at, summary FROM inbox_events \
                     WHERE agency = $1 AND cursor > $2 ORDER BY cursor LIMIT $3",
                )
                .bind(agency)
                .bind(after)
                .bind(limit)
                .fetch_all(pool)
                .await
                .map_err(db_err)?;
                rows.iter()
                    .map(|r| {
                        Ok(RawInbox {
                            cursor: r.try_get("cursor")?,
                            agency: r.try_get("agency")?,
                            exchange_id: r.try_get("exchange_id")?,
                            kind: r.try_get("kind")?,
                            state: r.try_get("state")?,
                            occurred_at: r.try_get("occurred_at")?,
                            summary: r.try_get("summary")?,
                        })
                    })
                    .collect::<sqlx::Result<_>>()
                    .map_err(db_err)
            }

            /// Filters other than the agency, appended to a WHERE clause already begun.
            fn push_audit_filters(qb: &mut QueryBuilder<'_, $DB>, f: &AuditFilter) {
                if let Some(id) = f.exchange_id {
                    qb.push(" AND exchange_id = ").push_bind(id);
                }
                if let Some(h) = &f.subject_hash {
                    qb.push(" AND exchange_id IN (SELECT exchange_id FROM exchange_subjects WHERE subject_hash = ")
                        .push_bind(h.clone())
                        .push(")");
                }
                if let Some(p) = &f.purpose {
                    qb.push(" AND purpose = ").push_bind(p.clone());
                }
                if let Some(k) = &f.event_kind {
                    qb.push(" AND event_kind = ").push_bind(k.clone());
                }
                if let Some(s) = &f.state_to {
                    qb.push(" AND state_to = ").push_bind(s.clone());
                }
                if let Some(t) = f.from {
                    qb.push(" AND occurred_at >= ").push_bind(t);
                }
                if let Some(t) = f.to {
                    qb.push(" AND occurred_at < ").push_bind(t);
                }
                if let Some((t, s)) = f.after {
                    qb.push(" AND (occurred_at, sequence) > (").push_bind(t).push(", ").push_bind(s).push(")");
                }
            }

            pub(crate) async fn audit_query(pool: &$Pool, f: &AuditFilter) -> Result<Vec<RawAudit>> {
                let mut qb: QueryBuilder<'_, $DB> = QueryBuilder::new("");
                match &f.agency {
                    None => {
                        qb.push(format!("SELECT {AUDIT_COLS} FROM audit_log WHERE TRUE"));
                        push_audit_filters(&mut qb, f);
                    }
                    Some(agency) => {
                        // One index range scan per agency column, each already in order and
                        // limited, merged: an OR over three columns would make the database
                        // collect and sort every match before applying the limit.
                        qb.push(format!(
                            "SELECT {AUDIT_COLS} FROM audit_log WHERE sequence IN (SELECT sequence FROM ("
                        ));
                        for (i, col) in ["requesting_agency", "holding_agency", "actor_agency"].iter().enumerate() {
                            if i > 0 {
                                qb.push(" UNION ");
                            }
                            qb.push(format!(
                                "SELECT sequence, occurred_at FROM (SELECT sequence, occurred_at FROM audit_log WHERE {col} = "
                            ));
                            qb.push_bind(agency.clone());
                            push_audit_filters(&mut qb, f);
                            qb.push(" ORDER BY occurred_at, sequence LIMIT ").push_bind(f.limit);
                            qb.push(format!(") AS r{i}"));
                        }
                        qb.push(") AS u ORDER BY occurred_at, sequence LIMIT ").push_bind(f.limit).push(")");
                    }
                }
                qb.push(" ORDER BY occurred_at, sequence LIMIT ").push_bind(f.limit);
                let rows = qb.build().fetch_all(pool).await.map_err(db_err)?;
                rows.iter().map(raw_audit).collect::<sqlx::Result<_>>().map_err(db_err)
            }

            pub(crate) async fn audit_range(pool: &$Pool, from: i64, to: i64, limit: i64) -> Result<Vec<RawAudit>> {
                let sql = format!(
                    "SELECT {AUDIT_COLS} FROM audit_log WHERE sequence >= $1 AND sequence <= $2 \
                     ORDER BY sequence LIMIT $3"
                );
                let rows = sqlx::query(&sql)
                    .bind(from)
                    .bind(to)
                    .bind(limit)
                    .fetch_all(pool)
                    .await
                    .map_err(db_err)?;
                rows.iter().map(raw_audit).collect::<sqlx::Result<_>>().map_err(db_err)
            }

            pub(crate) async fn checkpoints(pool: &$Pool) -> Result<Vec<RawCheckpoint>> {
                let rows = sqlx::query(
                    "SELECT sequence, head_hash, signature, key_id FROM audit_checkpoints ORDER BY sequence",
                )
                .fetch_all(pool)
                .await
                .map_err(db_err)?;
                rows.iter()
                    .map(|r| {
                        Ok(RawCheckpoint {
                            sequence: r.try_get("sequence")?,
                            head_hash: r.try_get("head_hash")?,
                            signature: r.try_get("signature")?,
                            key_id: r.try_get("key_id")?,
                        })
                    })
                    .collect::<sqlx::Result<_>>()
                    .map_err(db_err)
            }

            /// (key, count) pairs from a grouped query over exchanges created in [from, to).
            pub(crate) async fn count_by(pool: &$Pool, cols: &str, from: i64, to: i64) -> Result<Vec<(String, String, i64)>> {
                // `cols` is one of a fixed set chosen by the caller, never user input.
                let sql = format!(
                    "SELECT {cols}, COUNT(*) AS n FROM exchanges WHERE created_at >= $1 AND created_at < $2 \
                     GROUP BY {cols} ORDER BY {cols}"
                );
                let rows = sqlx::query(&sql).bind(from).bind(to).fetch_all(pool).await.map_err(db_err)?;
                let two = cols.contains(',');
                rows.iter()
                    .map(|r| {
                        let a: String = r.try_get(0)?;
                        let b: String = if two { r.try_get(1)? } else { String::new() };
                        let n: i64 = r.try_get("n")?;
                        Ok((a, b, n))
                    })
                    .collect::<sqlx::Result<_>>()
                    .map_err(db_err)
            }

            /// Seconds from submission to first decision, for exchanges created in [from, to).
            pub(crate) async fn decision_times(pool: &$Pool, from: i64, to: i64) -> Result<Vec<i64>> {
                let rows = sqlx::query(
                    "SELECT first_decision_at - created_at AS d FROM exchanges \
                     WHERE created_at >= $1 AND created_at < $2 AND first_decision_at IS NOT NULL",
                )
                .bind(from)
                .bind(to)
                .fetch_all(pool)
                .await
                .map_err(db_err)?;
                rows.iter().map(|r| r.try_get::<i64, _>("d")).collect::<sqlx::Result<_>>().map_err(db_err)
            }

            pub(crate) async fn overdue_count(pool: &$Pool, from: i64, to: i64, now: i64) -> Result<i64> {
                let row = sqlx::query(
                    "SELECT COUNT(*) AS n FROM exchanges WHERE created_at >= $1 AND created_at < $2 \
                     AND state IN ('awaiting_approval', 'escalated') AND respond_by < $3",
                )
                .bind(from)
                .bind(to)
                .bind(now)
                .fetch_one(pool)
                .await
                .map_err(db_err)?;
                row.try_get::<i64, _>("n").map_err(db_err)
            }
        }
    };
}

// SQLite: BEGIN IMMEDIATE takes the database's write lock at once, so a batch never
// upgrades from a stale read snapshot (SQLITE_BUSY_SNAPSHOT) when another process writes.
backend!(
    sqlite,
    sqlx::Sqlite,
    SqlitePool,
    begin = "BEGIN IMMEDIATE",
    lock = None,
    bulk = values
);
// PostgreSQL: a transaction-scoped advisory lock serialises chain extension across every
// replica, per batch; it is released by COMMIT or ROLLBACK, and no row is locked.

#[cfg(test)]
mod tests {
    #[test]
    fn pg_begin_takes_the_chain_lock() {
        assert!(
            super::PG_BEGIN.ends_with(&format!("pg_advisory_xact_lock({})", super::CHAIN_LOCK_KEY))
        );
    }
}

backend!(
    postgres,
    sqlx::Postgres,
    PgPool,
    begin = PG_BEGIN,
    lock = None,
    bulk = super::unnest
);

/// PostgreSQL bulk inserts: one fixed statement per table taking one array per column.
/// Prepared once per connection and cached; a multi-row VALUES statement is different for
/// every batch size, and PostgreSQL parses and plans its 19 × N parameters every time (about
/// 70 µs per row measured here, against a few µs with arrays).
mod unnest {
    use sqlx::PgConnection;

    use super::*;
    use crate::model::i64_of;

    pub(crate) async fn insert_audit(conn: &mut PgConnection, rows: &[AuditRecord]) -> Result<()> {
        let n = rows.len();
        let mut seq = Vec::with_capacity(n);
        let mut prev = Vec::with_capacity(n);
        let mut hash = Vec::with_capacity(n);
        let mut at = Vec::with_capacity(n);
        let mut kind = Vec::with_capacity(n);
        let mut xid = Vec::with_capacity(n);
        let mut actor_agency = Vec::with_capacity(n);
        let mut actor_subject = Vec::with_capacity(n);
        let mut roles = Vec::with_capacity(n);
        let mut req = Vec::with_capacity(n);
        let mut hold = Vec::with_capacity(n);
        let mut purpose = Vec::with_capacity(n);
        let mut from = Vec::with_capacity(n);
        let mut to = Vec::with_capacity(n);
        let mut subjects = Vec::with_capacity(n);
        let mut cats = Vec::with_capacity(n);
        let mut sha = Vec::with_capacity(n);
        let mut size = Vec::with_capacity(n);
        let mut detail = Vec::with_capacity(n);
        for r in rows {
            let f = &r.fields;
            let (ro, su, ca) = r.list_columns()?;
            seq.push(i64_of(r.sequence)?);
            prev.push(r.prev_hash.to_vec());
            hash.push(r.entry_hash.to_vec());
            at.push(f.occurred_at_us);
            kind.push(f.event_kind.clone());
            xid.push(f.exchange_id);
            actor_agency.push(f.actor_agency.clone());
            actor_subject.push(f.actor_subject.clone());
            roles.push(ro);
            req.push(f.requesting_agency.clone());
            hold.push(f.holding_agency.clone());
            purpose.push(f.purpose.clone());
            from.push(f.state_from.clone());
            to.push(f.state_to.clone());
            subjects.push(su);
            cats.push(ca);
            sha.push(f.content_sha256.clone());
            size.push(f.content_size.map(i64_of).transpose()?);
            detail.push(f.detail.clone());
        }
        sqlx::query(
            "INSERT INTO audit_log (sequence, prev_hash, entry_hash, occurred_at, event_kind, exchange_id, \
             actor_agency, actor_subject, actor_roles, requesting_agency, holding_agency, purpose, state_from, \
             state_to, subject_hashes, categories, content_sha256, content_size, detail) \
             SELECT * FROM UNNEST($1::bigint[], $2::bytea[], $3::bytea[], $4::bigint[], $5::text[], $6::uuid[], \
             $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], \
             $15::text[], $16::text[], $17::text[], $18::bigint[], $19::text[])",
        )
        .bind(seq)
        .bind(prev)
        .bind(hash)
        .bind(at)
        .bind(kind)
        .bind(xid)
        .bind(actor_agency)
        .bind(actor_subject)
        .bind(roles)
        .bind(req)
        .bind(hold)
        .bind(purpose)
        .bind(from)
        .bind(to)
        .bind(subjects)
        .bind(cats)
        .bind(sha)
        .bind(size)
        .bind(detail)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    pub(crate) async fn insert_inbox(
        conn: &mut PgConnection,
        rows: &[(i64, InboxDraft)],
    ) -> Result<()> {
        let mut cursor = Vec::with_capacity(rows.len());
        let mut agency = Vec::with_capacity(rows.len());
        let mut xid = Vec::with_capacity(rows.len());
        let mut kind = Vec::with_capacity(rows.len());
        let mut state = Vec::with_capacity(rows.len());
        let mut at = Vec::with_capacity(rows.len());
        let mut summary = Vec::with_capacity(rows.len());
        for (c, d) in rows {
            cursor.push(*c);
            agency.push(d.agency.to_string());
            xid.push(d.exchange_id);
            kind.push(crate::model::kind_str(d.kind));
            state.push(d.state.as_str());
            at.push(d.occurred_at);
            summary.push(d.summary.clone());
        }
        sqlx::query(
            "INSERT INTO inbox_events (cursor, agency, exchange_id, kind, state, occurred_at, summary) \
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::bigint[], $7::text[])",
        )
        .bind(cursor)
        .bind(agency)
        .bind(xid)
        .bind(kind)
        .bind(state)
        .bind(at)
        .bind(summary)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
        Ok(())
    }
}
