//! Accord's durable store on SQLite (the embedded default) and PostgreSQL.
//!
//! It owns the exchange state machine as persisted rows, the append-only hash-chained audit
//! log (group commit, signed checkpoints, verification), inbox events, and request and
//! response content encrypted at rest and purged at the end of retention.

#![forbid(unsafe_code)]

mod canonical;
mod crypto;
mod db;
mod model;
mod types;
mod writer;

pub use types::*;

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use accord_domain::{Actor, AgencyId, PriorExchange, ResponseItem, SubjectIdentifier};
use base64::Engine as _;
use serde_json::json;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

use crate::canonical::{canonical_json, entry_hash, GENESIS};
use crate::crypto::{Blob, Keys};
use crate::db::{dispatch, AuditFilter, Db, ListFilter};
use crate::model::{corrupt, from_us, i64_of, to_us, u64_of, AuditRecord, RawAudit};
use crate::writer::{Job, Msg, Op, Output, RespondOp, SubmitOp, Writer};

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

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// Rows read per page when verifying the chain.
const VERIFY_PAGE: i64 = 10_000;
/// Exchanges purged per writer operation, so one purge never holds a batch for long.
const PURGE_CHUNK: i64 = 200;

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

fn config_err(what: impl Into<String>) -> StoreError {
    StoreError::Config(what.into())
}

/// Opaque page tokens: base64url of `tag|a|b`. Callers must not parse them; the tag lets a
/// token from one listing be rejected by another.
fn encode_token(tag: &str, a: i64, b: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{tag}|{a}|{b}"))
}

fn decode_token(tag: &str, token: &str) -> Result<(i64, String)> {
    let bad = StoreError::bad_page_token;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let mut parts = text.splitn(3, '|');
    if parts.next() != Some(tag) {
        return Err(bad());
    }
    let a = parts.next().and_then(|a| a.parse().ok()).ok_or_else(bad)?;
    let b = parts.next().ok_or_else(bad)?.to_owned();
    Ok((a, b))
}

fn page_size(requested: u32, default: u32, max: u32) -> i64 {
    i64::from(if requested == 0 {
        default
    } else {
        requested.min(max)
    })
}

fn exchange_of(out: Output, keys: &Keys) -> Result<Exchange> {
    match out {
        Output::Exchange { rec, .. } | Output::Fetched { rec, .. } => rec.to_exchange(keys),
        _ => Err(StoreError::Database(
            "writer answered with the wrong kind of result".into(),
        )),
    }
}

impl Store {
    /// Opens (creating and migrating if needed) the database at `config.url` and starts the
    /// group-commit writer.
    pub async fn open(config: StoreConfig) -> Result<Store> {
        if config.max_batch == 0 {
            return Err(config_err("max_batch must be at least 1"));
        }
        if config.max_connections < 2 {
            // One connection for the writer's batch, at least one for reads.
            return Err(config_err("max_connections must be at least 2"));
        }
        let url = config.url.as_str();
        let db = if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(|_| {
                    config_err(
                        "the SQLite URL does not parse (expected sqlite://path/to/accord.db)",
                    )
                })?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // FULL: a commit is acknowledged only once it is on disk, also in WAL mode.
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true);
            // A fresh machine may not have the data directory yet.
            if let Some(dir) = opts.get_filename().parent() {
                if !dir.as_os_str().is_empty() && !opts.get_filename().starts_with(":memory:") {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| config_err(format!("cannot create {}: {e}", dir.display())))?;
                }
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(config.max_connections)
                .connect_with(opts)
                .await
                .map_err(db::db_err)?;
            SQLITE_MIGRATIONS
                .run(&pool)
                .await
                .map_err(|e| StoreError::Database(format!("migration: {e}")))?;
            Db::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let opts = PgConnectOptions::from_str(url).map_err(|_| {
                config_err("the PostgreSQL URL does not parse (expected postgres://user@host/db)")
            })?;
            let pool = PgPoolOptions::new()
                .max_connections(config.max_connections)
                .connect_with(opts)
                .await
                .map_err(db::db_err)?;
            // sqlx takes an advisory lock while migrating, so replicas starting together
            // do not race.
            POSTGRES_MIGRATIONS
                .run(&pool)
                .await
                .map_err(|e| StoreError::Database(format!("migration: {e}")))?;
            Db::Postgres(pool)
        } else {
            return Err(config_err(
                "the store URL must start with sqlite: or postgres:",
            ));
        };

        let keys = Arc::new(Keys::new(
            config.audit_key,
            config.content_key,
            config.signing_key.clone(),
        ));
        let (inbox_tx, inbox_rx) = watch::channel(0u64);
        // Bounded so a flood of callers waits here instead of growing memory without limit.
        let (writer_tx, writer_rx) = mpsc::channel(config.max_batch.saturating_mul(4).max(64));
        let writer = Writer {
            db: db.clone(),
            keys: keys.clone(),
            max_batch: config.max_batch,
            checkpoint_every: config.checkpoint_every,
            inbox_tx,
        };
        let handle = tokio::spawn(writer.run(writer_rx));
        Ok(Store {
            inner: Arc::new(Inner {
                db,
                keys,
                writer_tx,
                inbox_rx,
                writer: Mutex::new(Some(handle)),
            }),
        })
    }

    async fn call(&self, op: Op) -> Result<Output> {
        let (reply, rx) = oneshot::channel();
        self.inner
            .writer_tx
            .send(Msg::Job(Job { op, reply }))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Records a new, assessed request: state `refused` or `awaiting_approval` from the
    /// assessment outcome, its audit entries and inbox events, in one transaction. A second
    /// submission with the same (requesting agency, idempotency key) returns the first.
    pub async fn submit(&self, submission: Submission) -> Result<Submitted> {
        let Submission {
            idempotency_key,
            request,
            assessment,
            actor,
            now,
        } = submission;
        let now = to_us(now)?;
        let id = Uuid::now_v7();
        let keys = &self.inner.keys;
        let plain = serde_json::to_vec(&request)
            .map_err(|e| StoreError::Database(format!("serialise request: {e}")))?;
        let request_ct = keys.encrypt(id, Blob::Request, &plain)?;
        let mut subjects = Vec::new();
        for i in &request.child.identifiers {
            subjects.push((keys.subject_hash(&i.canonical()), "child"));
        }
        for p in &request.other_people {
            for i in &p.identifiers {
                subjects.push((keys.subject_hash(&i.canonical()), "other"));
            }
        }
        let op = SubmitOp {
            id,
            idempotency_key: idempotency_key.as_str().to_owned(),
            requesting_agency: request.requesting_agency.clone(),
            holding_agency: request.holding_agency.clone(),
            purpose: request.purpose.clone(),
            urgency: request.urgency,
            level_of_need: request.level_of_need,
            now,
            request_ct,
            subjects,
            categories_sought: request.category_ids().map(|c| c.to_string()).collect(),
            submitted_detail: canonical_json(&submitted_detail(&request)),
            outcome_detail: canonical_json(&outcome_detail(&assessment)),
            assessment,
            actor,
        };
        match self.call(Op::Submit(Box::new(op))).await? {
            Output::Exchange { rec, replayed } => Ok(Submitted {
                exchange: rec.to_exchange(keys)?,
                replayed,
            }),
            other => exchange_of(other, keys).map(|exchange| Submitted {
                exchange,
                replayed: false,
            }),
        }
    }

    pub async fn get(&self, id: Uuid) -> Result<Exchange> {
        let raw = dispatch!(&self.inner.db, get_exchange(id))?.ok_or(StoreError::NotFound(id))?;
        raw.decode()?.to_exchange(&self.inner.keys)
    }

    pub async fn list(&self, query: ExchangeQuery) -> Result<Page<ExchangeSummary>> {
        let limit = page_size(query.page_size, 50, 500);
        let before = match &query.page_token {
            None => None,
            Some(t) => {
                let (at, id) = decode_token("x1", t)?;
                let id = Uuid::parse_str(&id).map_err(|_| StoreError::bad_page_token())?;
                Some((at, id))
            }
        };
        let filter = ListFilter {
            agency: query.agency.to_string(),
            party: query.party,
            states: query.states.iter().map(|s| s.as_str()).collect(),
            purpose: query.purpose.as_ref().map(|p| p.to_string()),
            created_after: query.created_after.map(to_us).transpose()?,
            created_before: query.created_before.map(to_us).transpose()?,
            before,
            limit: limit + 1,
        };
        let rows = dispatch!(&self.inner.db, list(&filter))?;
        let more = rows.len() as i64 > limit;
        let mut items = Vec::with_capacity(rows.len());
        let mut last = None;
        for r in rows.into_iter().take(limit as usize) {
            last = Some((r.created_at, r.id));
            items.push(r.decode()?);
        }
        let next_page_token = match (more, last) {
            (true, Some((at, id))) => Some(encode_token("x1", at, &id.to_string())),
            _ => None,
        };
        Ok(Page {
            items,
            next_page_token,
        })
    }

    /// Carries out a command on an exchange: checks `expected_version` when given (else
    /// `Conflict`), lets the aggregate decide ([`accord_domain::Exchange::handle`]; a refusal
    /// is `InvalidTransition` or `Refused`), and writes the new state, the decision, the audit
    /// entries and inbox events in one transaction.
    pub async fn apply(
        &self,
        id: Uuid,
        expected_version: Option<u64>,
        change: Change,
    ) -> Result<Exchange> {
        let now = to_us(change.now)?;
        let out = self
            .call(Op::Apply {
                id,
                expected_version,
                change: Box::new(change),
                now,
            })
            .await?;
        exchange_of(out, &self.inner.keys)
    }

    /// Marks an exchange overdue and escalates it (deadline job): audit entry `overdue` and
    /// inbox events to both agencies. Idempotent: an exchange already overdue is skipped.
    pub async fn mark_overdue(&self, id: Uuid, now: OffsetDateTime) -> Result<Exchange> {
        self.apply(
            id,
            None,
            Change {
                command: accord_domain::Command::MarkOverdue,
                actor: Actor::system(),
                now,
            },
        )
        .await
    }

    /// Open exchanges awaiting a decision whose `respond_by` has passed and are not yet
    /// marked overdue.
    pub async fn overdue_candidates(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<Uuid>> {
        let now = to_us(now)?;
        dispatch!(&self.inner.db, overdue_candidates(now, i64::from(limit)))
    }

    /// Exchanges left waiting on a party that never acted, to be expired: in
    /// `more_info_requested` (the requester never answered), `approved` or `partly_approved`
    /// (the holder never responded) with `respond_by + grace <= now`, oldest deadline first, at
    /// most `limit`. The caller expires each with
    /// `apply(id, None, Change { command: Command::Expire, actor: Actor::system(), .. })`; one
    /// that moved on meanwhile fails that transition and is skipped.
    pub async fn expiry_candidates(
        &self,
        now: OffsetDateTime,
        grace: time::Duration,
        limit: u32,
    ) -> Result<Vec<Uuid>> {
        let deadline = now
            .checked_sub(grace)
            .ok_or_else(|| StoreError::InvalidInput {
                field: "grace",
                reason: "now - grace is out of range".into(),
            })?;
        let deadline = to_us(deadline)?;
        dispatch!(
            &self.inner.db,
            expiry_candidates(deadline, i64::from(limit))
        )
    }

    /// Stores the holder's response (encrypted), moves the exchange to `responded`, audits the
    /// content's SHA-256, size and categories (never the content). The aggregate checks the
    /// items against the approved scope and sets how long the content is kept: the approval's
    /// retention condition, else `purpose_retention_days`.
    pub async fn respond(
        &self,
        id: Uuid,
        expected_version: u64,
        items: Vec<ResponseItem>,
        actor: Actor,
        now: OffsetDateTime,
        purpose_retention_days: u32,
    ) -> Result<Exchange> {
        let value = serde_json::to_value(&items)
            .map_err(|e| StoreError::Database(format!("serialise response: {e}")))?;
        let plain = canonical_json(&value);
        let content_ct = self
            .inner
            .keys
            .encrypt(id, Blob::Response, plain.as_bytes())?;
        let count = |f: &dyn Fn(&ResponseItem) -> bool| items.iter().filter(|i| f(i)).count();
        let draft = accord_domain::ResponseDraft {
            item_categories: items.iter().map(|i| i.category.clone()).collect(),
            content_sha256: crypto::sha256_hex(plain.as_bytes()),
            content_size: plain.len() as u64,
            facts: count(&|i| i.kind == accord_domain::ItemKind::Fact),
            opinions: count(&|i| i.kind == accord_domain::ItemKind::Opinion),
            historical: count(&|i| i.historical),
            purpose_retention_days,
        };
        let op = RespondOp {
            id,
            expected_version,
            content_ct,
            draft,
            actor,
            // The aggregate sees instants at the store's resolution.
            now: to_us(now)?,
        };
        let out = self.call(Op::Respond(Box::new(op))).await?;
        exchange_of(out, &self.inner.keys)
    }

    /// Returns the decrypted response to the requester and records the fetch (state
    /// `delivered`). `Refused` if there is no response or it was purged.
    pub async fn fetch_response(
        &self,
        id: Uuid,
        actor: Actor,
        now: OffsetDateTime,
    ) -> Result<(Exchange, Vec<ResponseItem>)> {
        match self
            .call(Op::Fetch {
                id,
                actor,
                now: to_us(now)?,
            })
            .await?
        {
            Output::Fetched { rec, content_ct } => {
                let keys = &self.inner.keys;
                let plain = keys.decrypt(id, Blob::Response, &content_ct)?;
                let items: Vec<ResponseItem> =
                    serde_json::from_slice(&plain).map_err(|_| corrupt("response content"))?;
                Ok((rec.to_exchange(keys)?, items))
            }
            _ => Err(StoreError::Database(
                "writer answered with the wrong kind of result".into(),
            )),
        }
    }

    /// Purges request and response content whose retention ended; the audit log keeps the
    /// digests. Returns how many exchanges were purged.
    pub async fn purge_expired_content(&self, now: OffsetDateTime) -> Result<u64> {
        let now = to_us(now)?;
        self.purge_in_chunks(|limit| Op::Purge { now, limit }).await
    }

    /// Purges the encrypted request of exchanges that ended without a response (`refused`,
    /// `declined`, `withdrawn`, `expired`, or `closed` with no response) and have not changed
    /// since `ended_before`: `request_ct` becomes NULL, the version and `updated_at` move on,
    /// and a `request_purged` entry (actor the broker, detail `ended_state`) is written in the
    /// same transaction. Afterwards `get` returns `request: None`; the metadata, subject
    /// hashes and audit log stay. Returns how many exchanges were purged.
    ///
    /// The caller gives only the cutoff (typically now minus the unanswered-request retention
    /// period); the purge itself is stamped with the store's clock.
    pub async fn purge_unanswered_requests(&self, ended_before: OffsetDateTime) -> Result<u64> {
        let ended_before = to_us(ended_before)?;
        let now = to_us(OffsetDateTime::now_utc())?;
        self.purge_in_chunks(|limit| Op::PurgeUnanswered {
            ended_before,
            now,
            limit,
        })
        .await
    }

    /// Runs a purge as writer operations of at most `PURGE_CHUNK` exchanges each, until one
    /// purges fewer: a purged exchange no longer matches, so every full chunk is progress.
    async fn purge_in_chunks(&self, op: impl Fn(i64) -> Op) -> Result<u64> {
        let mut total = 0;
        loop {
            let n = match self.call(op(PURGE_CHUNK)).await? {
                Output::Purged(n) => n,
                _ => {
                    return Err(StoreError::Database(
                        "writer answered with the wrong kind of result".into(),
                    ))
                }
            };
            total += n;
            if (n as i64) < PURGE_CHUNK {
                return Ok(total);
            }
        }
    }

    /// Earlier exchanges about any of these child identifiers submitted at or after `since`
    /// (for the repeat-sharing rule). Matched by keyed hash, never by clear identifier.
    ///
    /// `child_identifiers` of each result are those of `child` that matched it: the store
    /// never decrypts an earlier request to answer this. `categories` come from the stored
    /// approved scope, or, before anything was approved, from the assessment's proposed scope
    /// and trimmed categories (every category requested).
    pub async fn prior_exchanges(
        &self,
        child: &[SubjectIdentifier],
        since: OffsetDateTime,
    ) -> Result<Vec<PriorExchange>> {
        let mut by_hash: Vec<(String, &SubjectIdentifier)> = Vec::new();
        for i in child {
            by_hash.push((self.subject_hash(i), i));
        }
        let mut hashes: Vec<String> = by_hash.iter().map(|(h, _)| h.clone()).collect();
        hashes.sort();
        hashes.dedup();
        let rows = dispatch!(&self.inner.db, prior(&hashes, to_us(since)?))?;
        let mut out: Vec<PriorExchange> = Vec::new();
        for r in rows {
            let idents: Vec<SubjectIdentifier> = by_hash
                .iter()
                .filter(|(h, _)| *h == r.subject_hash)
                .map(|(_, i)| (*i).clone())
                .collect();
            if let Some(p) = out.iter_mut().find(|p| p.exchange_id == r.id) {
                for i in idents {
                    if !p.child_identifiers.contains(&i) {
                        p.child_identifiers.push(i);
                    }
                }
                continue;
            }
            out.push(PriorExchange {
                exchange_id: r.id,
                requesting_agency: model::parse_agency(&r.requesting_agency)?,
                holding_agency: model::parse_agency(&r.holding_agency)?,
                purpose: model::parse_purpose(&r.purpose)?,
                child_identifiers: idents,
                categories: model::prior_categories(&r.assessment, &r.approved_scope)?,
                state: model::parse_state(&r.state)?,
                submitted_at: from_us(r.created_at)?,
            });
        }
        Ok(out)
    }

    /// Inbox events for an agency after `after` (exclusive; `None` = from the first), oldest
    /// first, at most `limit`.
    pub async fn inbox(
        &self,
        agency: &AgencyId,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<InboxEvent>> {
        let after = i64_of(after.unwrap_or(0))?;
        let limit = page_size(limit, 100, 1000);
        let rows = dispatch!(&self.inner.db, inbox(agency.as_str(), after, limit))?;
        rows.into_iter().map(|r| r.decode()).collect()
    }

    /// Wakes up whenever new inbox events were committed by this process; a follower then
    /// reads `inbox` from its cursor. (Other replicas' events are found by polling.)
    pub fn inbox_notifier(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.inbox_rx.clone()
    }

    /// Appends an audited administrative change (suspend, reinstate, re-affirm).
    pub async fn record_admin(
        &self,
        event: AdminEvent,
        actor: Actor,
        now: OffsetDateTime,
    ) -> Result<AuditEntry> {
        match self
            .call(Op::Admin {
                event,
                actor,
                now: to_us(now)?,
            })
            .await?
        {
            Output::Audit(r) => r.to_entry(),
            _ => Err(StoreError::Database(
                "writer answered with the wrong kind of result".into(),
            )),
        }
    }

    /// Entries matching every set filter, ordered by (occurred_at, sequence). `from` is
    /// inclusive and `to` exclusive.
    pub async fn audit_query(&self, query: AuditQuery) -> Result<Page<AuditEntry>> {
        let limit = page_size(query.page_size, 100, 1000);
        let after = match &query.page_token {
            None => None,
            Some(t) => {
                let (at, seq) = decode_token("a1", t)?;
                let seq: i64 = seq.parse().map_err(|_| StoreError::bad_page_token())?;
                Some((at, seq))
            }
        };
        let filter = AuditFilter {
            exchange_id: query.exchange_id,
            agency: query.agency.as_ref().map(|a| a.to_string()),
            subject_hash: query.subject_hash.clone(),
            purpose: query.purpose.as_ref().map(|p| p.to_string()),
            event_kind: query.event_kind.clone(),
            state_to: query.state_to.map(|s| s.as_str().to_owned()),
            from: query.from.map(to_us).transpose()?,
            to: query.to.map(to_us).transpose()?,
            after,
            limit: limit + 1,
        };
        let rows = dispatch!(&self.inner.db, audit_query(&filter))?;
        let more = rows.len() as i64 > limit;
        let mut items = Vec::with_capacity(rows.len());
        for r in rows.into_iter().take(limit as usize) {
            items.push(decode_audit(r)?.to_entry()?);
        }
        let next_page_token = match (more, items.last()) {
            (true, Some(e)) => Some(encode_token(
                "a1",
                to_us(e.occurred_at)?,
                &e.sequence.to_string(),
            )),
            _ => None,
        };
        Ok(Page {
            items,
            next_page_token,
        })
    }

    /// Entries with `from <= sequence <= to` (inclusive), oldest first, at most `limit`.
    pub async fn audit_range(
        &self,
        from: u64,
        to: Option<u64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>> {
        let from = i64::try_from(from).unwrap_or(i64::MAX);
        let to = to
            .map(|t| i64::try_from(t).unwrap_or(i64::MAX))
            .unwrap_or(i64::MAX);
        let rows = dispatch!(&self.inner.db, audit_range(from, to, i64::from(limit)))?;
        rows.into_iter()
            .map(|r| decode_audit(r)?.to_entry())
            .collect()
    }

    /// Walks the whole chain and every checkpoint; names the first entry that does not match.
    pub async fn audit_verify(&self) -> Result<VerifyReport> {
        // Checkpoints first, so the walk keeps only the hashes they need (not one per entry).
        let checkpoints = dispatch!(&self.inner.db, checkpoints())?;
        let mut v = ChainVerifier {
            wanted: checkpoints
                .iter()
                .filter_map(|c| u64::try_from(c.sequence).ok())
                .collect(),
            ..ChainVerifier::default()
        };
        let mut next: i64 = 1;
        'pages: loop {
            let rows = dispatch!(&self.inner.db, audit_range(next, i64::MAX, VERIFY_PAGE))?;
            let n = rows.len();
            for raw in rows {
                next = raw.sequence.saturating_add(1);
                let seq = raw.sequence;
                let ok = match raw.decode() {
                    Ok(rec) => v.check(&rec),
                    Err(problem) => v.unreadable(seq, problem),
                };
                if !ok {
                    break 'pages;
                }
            }
            if (n as i64) < VERIFY_PAGE {
                break;
            }
        }
        Ok(v.finish(&checkpoints, &self.inner.keys))
    }

    pub async fn stats(
        &self,
        from: Option<OffsetDateTime>,
        to: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<Stats> {
        let from = from.map(to_us).transpose()?.unwrap_or(i64::MIN);
        let to = to.map(to_us).transpose()?.unwrap_or(i64::MAX);
        let db = &self.inner.db;
        let mut stats = Stats::default();
        for (state, _, n) in dispatch!(db, count_by("state", from, to))? {
            stats
                .by_state
                .push((model::parse_state(&state)?, u64_of(n, "count")?));
        }
        for (purpose, _, n) in dispatch!(db, count_by("purpose", from, to))? {
            stats
                .by_purpose
                .push((model::parse_purpose(&purpose)?, u64_of(n, "count")?));
        }
        for (req, hold, n) in
            dispatch!(db, count_by("requesting_agency, holding_agency", from, to))?
        {
            stats.by_agency_pair.push((
                model::parse_agency(&req)?,
                model::parse_agency(&hold)?,
                u64_of(n, "count")?,
            ));
        }
        let mut times = dispatch!(db, decision_times(from, to))?;
        times.sort_unstable();
        stats.decided = times.len() as u64;
        stats.decision_seconds_p50 = percentile(&times, 0.50);
        stats.decision_seconds_p90 = percentile(&times, 0.90);
        stats.overdue = u64_of(
            dispatch!(db, overdue_count(from, to, to_us(now)?))?,
            "count",
        )?;
        Ok(stats)
    }

    /// Keyed hash (HMAC-SHA256 with the audit key) of a subject identifier's canonical form.
    pub fn subject_hash(&self, id: &SubjectIdentifier) -> String {
        self.inner.keys.subject_hash(&id.canonical())
    }

    /// Stops the writer after committing what it holds.
    pub async fn close(&self) {
        let (done, wait) = oneshot::channel();
        if self.inner.writer_tx.send(Msg::Close(done)).await.is_ok() {
            let _ = wait.await;
        }
        let handle = match self.inner.writer.lock() {
            Ok(mut h) => h.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(h) = handle {
            let _ = h.await;
        }
        match &self.inner.db {
            Db::Sqlite(p) => p.close().await,
            Db::Postgres(p) => p.close().await,
        }
    }
}

fn decode_audit(raw: RawAudit) -> Result<AuditRecord> {
    raw.decode().map_err(|e| corrupt(&e))
}

/// Nearest-rank percentile of sorted microsecond durations, in seconds.
fn percentile(sorted_us: &[i64], q: f64) -> Option<f64> {
    if sorted_us.is_empty() {
        return None;
    }
    let rank = ((q * sorted_us.len() as f64).ceil() as usize).clamp(1, sorted_us.len());
    Some(sorted_us[rank - 1] as f64 / 1e6)
}

/// Walks entries in sequence order, recomputing each hash.
#[derive(Default)]
struct ChainVerifier {
    checked: u64,
    prev: Option<[u8; 32]>,
    last_seq: u64,
    bad: Option<(u64, String)>,
    /// Sequences that have a checkpoint, and the entry hashes found there.
    wanted: std::collections::HashSet<u64>,
    hashes: std::collections::HashMap<u64, [u8; 32]>,
    buf: Vec<u8>,
}

impl ChainVerifier {
    /// A row whose columns cannot even be decoded: it is the first bad entry.
    fn unreadable(&mut self, sequence: i64, problem: String) -> bool {
        let expected_seq = self.last_seq + 1;
        self.bad = Some((u64::try_from(sequence).unwrap_or(expected_seq), problem));
        false
    }

    /// Checks the next entry of the walk. Returns false once a bad entry was found (the walk
    /// stops there).
    fn check(&mut self, rec: &AuditRecord) -> bool {
        let expected_seq = self.last_seq + 1;
        if rec.sequence != expected_seq {
            self.bad = Some((
                expected_seq,
                format!(
                    "entry {expected_seq} is missing (the next stored entry is {})",
                    rec.sequence
                ),
            ));
            return false;
        }
        let prev = self.prev.unwrap_or(GENESIS);
        if rec.prev_hash != prev {
            self.bad = Some((
                rec.sequence,
                "prev_hash does not match the previous entry's hash".into(),
            ));
            return false;
        }
        let computed = entry_hash(&mut self.buf, &prev, rec.sequence, &rec.fields);
        if computed != rec.entry_hash {
            self.bad = Some((
                rec.sequence,
                "entry_hash does not match the entry's content: it was altered".into(),
            ));
            return false;
        }
        if self.wanted.contains(&rec.sequence) {
            self.hashes.insert(rec.sequence, rec.entry_hash);
        }
        self.prev = Some(rec.entry_hash);
        self.last_seq = rec.sequence;
        self.checked += 1;
        true
    }

    fn finish(self, checkpoints: &[model::RawCheckpoint], keys: &Keys) -> VerifyReport {
        let mut checkpoints_valid = true;
        let mut problem = self.bad.as_ref().map(|(_, p)| p.clone());
        let mut last_checkpoint_sequence = None;
        for cp in checkpoints {
            let seq = u64::try_from(cp.sequence).unwrap_or(0);
            last_checkpoint_sequence = Some(seq);
            let head = match cp.head() {
                Ok(h) => h,
                Err(_) => {
                    checkpoints_valid = false;
                    problem.get_or_insert_with(|| {
                        format!("checkpoint {seq}: head hash is not 32 bytes")
                    });
                    continue;
                }
            };
            if cp.key_id != keys.key_id() || !keys.verify_checkpoint(seq, &head, &cp.signature) {
                checkpoints_valid = false;
                problem.get_or_insert_with(|| {
                    format!("checkpoint {seq}: signature does not verify with the configured key")
                });
                continue;
            }
            match self.hashes.get(&seq) {
                Some(h) if *h == head => {}
                Some(_) => {
                    checkpoints_valid = false;
                    problem.get_or_insert_with(|| {
                        format!("checkpoint {seq}: signed head differs from entry {seq}")
                    });
                }
                // Only a complaint when the walk got that far: beyond a bad entry the chain
                // is already reported.
                None if self.bad.is_none() => {
                    checkpoints_valid = false;
                    problem.get_or_insert_with(|| {
                        format!(
                            "checkpoint {seq} is beyond the last entry ({}): entries were removed",
                            self.last_seq
                        )
                    });
                }
                None => {}
            }
        }
        let first_bad_sequence = self.bad.as_ref().map(|(s, _)| *s);
        VerifyReport {
            ok: first_bad_sequence.is_none() && checkpoints_valid,
            entries_checked: self.checked,
            first_bad_sequence,
            problem,
            last_checkpoint_sequence,
            checkpoints_valid,
        }
    }
}

/// What the audit log keeps about a request (`DOMAIN.md` "What must be recorded"): who asked,
/// whom, for what purpose, on what legal basis, the level of need, consent and who gave it
/// (dated), why consent was not sought, what was asked for and why. Names and identifiers of
/// the child and family stay in the encrypted request only.
/// The `submitted` entry's detail. Structured values as they are; every free text (category
/// reasons, consent scope and explanations, onward-disclosure purpose, why the child will not be
/// told) only as [`crypto::text_digest`]: the log is permanent and readable by auditors, the
/// text stays in the encrypted request (`docs/storage.md`). The practitioner's name and job
/// title (who asked) and onward recipients (agency ids or body names) are not about the child.
fn submitted_detail(r: &accord_domain::Request) -> serde_json::Value {
    use crypto::text_digest;
    let c = &r.consent;
    let categories: Vec<_> = r
        .categories
        .iter()
        .map(|k| json!({ "category": k.category, "reason": text_digest(&k.reason) }))
        .collect();
    let onward = &r.onward_disclosure;
    json!({
        "protocol_id": r.protocol_id,
        "protocol_version": r.protocol_version,
        "practitioner": {
            "subject": r.practitioner.subject,
            "name": r.practitioner.name,
            "job_title": r.practitioner.job_title,
        },
        "level_of_need": r.level_of_need,
        "urgency": r.urgency,
        "needed_by": r.needed_by.map(|t| t.unix_timestamp()),
        "lawful_basis": r.lawful_basis,
        "consent": {
            "status": c.status,
            "given_by": c.given_by,
            "given_on": c.given_on.map(|d| d.to_string()),
            "explicit": c.explicit,
            "scope": text_digest(&c.scope),
            "capacity_assessed": c.capacity_assessed,
            "parental_consent_recorded": c.parental_consent_recorded,
            "not_sought_reasons": c.not_sought_reasons,
            "not_sought_detail": text_digest(&c.not_sought_detail),
            "not_required_reason": c.not_required_reason,
            "public_interest_justification": text_digest(&c.public_interest_justification),
        },
        "categories": categories,
        "records_from": r.records_from.map(|d| d.to_string()),
        "records_to": r.records_to.map(|d| d.to_string()),
        "anonymised_would_suffice": r.anonymised_would_suffice,
        "child_identifiable": r.child.identifiable,
        "other_people": r.other_people.len(),
        "onward_disclosure": {
            "intended": onward.intended,
            "recipients": onward.recipients,
            "purpose": text_digest(&onward.purpose),
        },
        "notification": {
            "will_inform": r.notification.will_inform,
            "reason_not_informing": text_digest(&r.notification.reason_not_informing),
        },
    })
}

fn outcome_detail(a: &accord_domain::Assessment) -> serde_json::Value {
    json!({
        "outcome": a.outcome,
        "findings": a.findings,
        "proposed_scope": a.proposed_scope,
        "trimmed": a.trimmed,
        "respond_by": a.respond_by.unix_timestamp(),
        "required_approver_roles": a.required_approver_roles,
        "assessed_at": a.assessed_at.unix_timestamp(),
    })
}

fn entry_ref(e: &AuditEntry) -> Result<canonical::EntryRef<'_, accord_domain::CategoryId>> {
    Ok(canonical::EntryRef {
        occurred_at_us: to_us(e.occurred_at)?,
        event_kind: &e.event_kind,
        exchange_id: e.exchange_id,
        actor_agency: e.actor_agency.as_ref().map(|a| a.as_str()),
        actor_subject: &e.actor_subject,
        actor_roles: &e.actor_roles,
        requesting_agency: e.requesting_agency.as_ref().map(|a| a.as_str()),
        holding_agency: e.holding_agency.as_ref().map(|a| a.as_str()),
        purpose: e.purpose.as_ref().map(|p| p.as_str()),
        state_from: e.state_from.map(|s| s.as_str()),
        state_to: e.state_to.map(|s| s.as_str()),
        subject_hashes: &e.subject_hashes,
        categories: &e.categories,
        content_sha256: e.content_sha256.as_deref(),
        content_size: e.content_size,
        detail: canonical::Detail::Json(&e.detail),
    })
}

fn hash_from_hex(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// Benchmark hook, not part of the API: the hashing `Store::audit_verify` does over rows it
/// has read, timed without the reads.
#[doc(hidden)]
pub mod bench_support {
    use super::*;

    /// Audit rows in the form `audit_verify` holds them after reading a page.
    pub struct StoredRows(Vec<AuditRecord>);

    impl StoredRows {
        /// Converts exported entries into stored rows (canonical detail text, raw hashes).
        pub fn from_entries(entries: &[AuditEntry]) -> Result<StoredRows> {
            let mut rows = Vec::with_capacity(entries.len());
            for e in entries {
                let r = entry_ref(e)?;
                let bad = || StoreError::MalformedEntry("hash is not 64 hex digits");
                rows.push(AuditRecord {
                    sequence: e.sequence,
                    prev_hash: hash_from_hex(&e.prev_hash).ok_or_else(bad)?,
                    entry_hash: hash_from_hex(&e.entry_hash).ok_or_else(bad)?,
                    fields: canonical::EntryFields {
                        occurred_at_us: r.occurred_at_us,
                        event_kind: e.event_kind.clone(),
                        exchange_id: e.exchange_id,
                        actor_agency: r.actor_agency.map(str::to_owned),
                        actor_subject: e.actor_subject.clone(),
                        actor_roles: e.actor_roles.clone(),
                        requesting_agency: r.requesting_agency.map(str::to_owned),
                        holding_agency: r.holding_agency.map(str::to_owned),
                        purpose: r.purpose.map(str::to_owned),
                        state_from: r.state_from.map(str::to_owned),
                        state_to: r.state_to.map(str::to_owned),
                        subject_hashes: e.subject_hashes.clone(),
                        categories: e.categories.iter().map(|c| c.to_string()).collect(),
                        content_sha256: e.content_sha256.clone(),
                        content_size: e.content_size,
                        detail: canonical_json(&e.detail),
                    },
                });
            }
            Ok(StoredRows(rows))
        }

        /// Walks the rows exactly as `audit_verify` does (without checkpoints).
        pub fn verify(&self) -> VerifyReport {
            let mut v = ChainVerifier::default();
            for r in &self.0 {
                if !v.check(r) {
                    break;
                }
            }
            v.finish(
                &[],
                &Keys::new(
                    [0; 32],
                    [0; 32],
                    ed25519_dalek::SigningKey::from_bytes(&[0; 32]),
                ),
            )
        }
    }
}

/// Recomputes an audit entry's hash (lowercase hex) from its fields and its `prev_hash`,
/// exactly as `Store::audit_verify` does: `SHA-256(prev_hash || canonical_encoding(entry))`
/// (`docs/storage.md`). Lets an auditor check an exported entry without the database.
pub fn compute_entry_hash(entry: &AuditEntry) -> Result<String> {
    let prev = hash_from_hex(&entry.prev_hash)
        .ok_or(StoreError::MalformedEntry("prev_hash is not 64 hex digits"))?;
    let h = canonical::entry_hash_ref(&mut Vec::new(), &prev, entry.sequence, &entry_ref(entry)?);
    Ok(hex::encode(h))
}

/// Verifies a contiguous run of audit entries held in memory (an export, or pages of
/// `audit_range`) without the database: consecutive sequences, each `prev_hash` equal to the
/// previous `entry_hash` (the genesis hash, 64 zeros, before entry 1), and every hash
/// recomputed. The first entry of a run that starts later is taken as given. Checkpoints are
/// not part of an export; `checkpoints_valid` is reported true and
/// `last_checkpoint_sequence` as `None`.
pub fn verify_entries(entries: &[AuditEntry]) -> VerifyReport {
    // Each entry's hash depends only on its own stored prev_hash, so the hashing is split
    // across cores; the links between neighbours are checked in the same pass.
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let chunk = entries.len().div_ceil(threads).max(1024);
    let first_bad = std::thread::scope(|scope| {
        let handles: Vec<_> = entries
            .chunks(chunk)
            .enumerate()
            .map(|(ci, part)| scope.spawn(move || check_run(entries, ci * chunk, part.len())))
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().ok().flatten())
            .min_by_key(|(i, _)| *i)
    });
    match first_bad {
        None => VerifyReport {
            ok: true,
            entries_checked: entries.len() as u64,
            first_bad_sequence: None,
            problem: None,
            last_checkpoint_sequence: None,
            checkpoints_valid: true,
        },
        Some((i, problem)) => VerifyReport {
            ok: false,
            entries_checked: i as u64,
            first_bad_sequence: Some(entries[i].sequence),
            problem: Some(problem),
            last_checkpoint_sequence: None,
            checkpoints_valid: true,
        },
    }
}

/// Checks `entries[start..start + len]`; returns the first bad index and why.
fn check_run(entries: &[AuditEntry], start: usize, len: usize) -> Option<(usize, String)> {
    let mut buf = Vec::with_capacity(1024);
    for i in start..start + len {
        let e = &entries[i];
        if i == 0 {
            if e.sequence == 1 && e.prev_hash != hex::encode(GENESIS) {
                return Some((i, "entry 1 does not start from the genesis hash".into()));
            }
        } else {
            let before = &entries[i - 1];
            if e.sequence != before.sequence + 1 {
                return Some((
                    i,
                    format!(
                        "entry {} does not follow entry {}",
                        e.sequence, before.sequence
                    ),
                ));
            }
            if e.prev_hash != before.entry_hash {
                return Some((
                    i,
                    "prev_hash does not match the previous entry's hash".into(),
                ));
            }
        }
        let Some(prev) = hash_from_hex(&e.prev_hash) else {
            return Some((i, "prev_hash is not 64 hex digits".into()));
        };
        let Ok(fields) = entry_ref(e) else {
            return Some((i, "occurred_at is out of range".into()));
        };
        let h = canonical::entry_hash_ref(&mut buf, &prev, e.sequence, &fields);
        if hash_from_hex(&e.entry_hash) != Some(h) {
            return Some((
                i,
                "entry_hash does not match the entry's content: it was altered".into(),
            ));
        }
    }
    None
}
