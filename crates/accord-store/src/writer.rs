//! The group-commit writer: one task per `Store` owns every write.
//!
//! Callers send operations over a channel; the task takes what has queued up (at most
//! `max_batch`), runs all of it in ONE transaction, extends the audit chain once for the
//! whole batch, and answers each caller only after COMMIT returned. An operation that fails
//! validation (conflict, a refusal of the exchange's rules) fails alone: every check runs
//! before the operation writes anything, and its audit and inbox drafts are discarded. A
//! database error aborts the transaction; the batch is then retried one operation per
//! transaction so one bad operation cannot fail its neighbours, and an error at COMMIT is
//! given to every operation of the batch (none of it is acknowledged).

use std::sync::Arc;

use accord_domain::{
    Actor, AgencyId, Applied, Assessment, AuditEvent, AuditEventKind, Command, Conditions,
    ExchangeState, LevelOfNeed, Notice, PurposeId, Refusal, ResponseDraft, Urgency,
};
use serde_json::json;
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

use crate::canonical::{canonical_json, entry_hash, EntryFields};
use crate::crypto::Keys;
use crate::db::{self, BatchTx, Db, Head, ResponseWrite, SubjectRow};

mod purge;
use crate::records::{from_us, i64_of, to_json, AuditRecord, ExchangeRec, InboxDraft};
use crate::{AdminEvent, Change, Result, StoreError};

/// A new exchange, prepared (encrypted, hashed, described) by the caller's task so the
/// writer only does database work and hashing.
#[derive(Debug)]
pub(crate) struct SubmitOp {
    pub id: Uuid,
    pub idempotency_key: String,
    pub requesting_agency: AgencyId,
    pub holding_agency: AgencyId,
    pub purpose: PurposeId,
    pub urgency: Urgency,
    pub level_of_need: LevelOfNeed,
    pub now: i64,
    pub request_ct: Vec<u8>,
    /// The decision record's reasons, encrypted.
    pub reasons_ct: Vec<u8>,
    pub record_retain_until: i64,
    /// (keyed hash, role) for the child and the other people.
    pub subjects: Vec<(String, &'static str)>,
    pub assessment: Assessment,
    pub actor: Actor,
    pub categories_sought: Vec<String>,
    pub submitted_detail: String,
    pub outcome_detail: String,
}

#[derive(Debug)]
pub(crate) struct RespondOp {
    pub id: Uuid,
    pub expected_version: u64,
    pub content_ct: Vec<u8>,
    pub draft: ResponseDraft,
    pub actor: Actor,
    pub now: i64,
}

#[derive(Debug)]
pub(crate) enum Op {
    Submit(Box<SubmitOp>),
    Apply {
        id: Uuid,
        expected_version: Option<u64>,
        change: Box<Change>,
        now: i64,
    },
    Respond(Box<RespondOp>),
    Fetch {
        id: Uuid,
        actor: Actor,
        now: i64,
    },
    Purge {
        now: i64,
        limit: i64,
    },
    PurgeUnanswered {
        ended_before: i64,
        now: i64,
        limit: i64,
    },
    PurgeRecords {
        now: i64,
        limit: i64,
    },
    /// Sets up the decision record of rows written before migration 0006 (answered with
    /// `Purged(n)`: how many rows were upgraded).
    UpgradeRecords {
        limit: i64,
    },
    Admin {
        event: AdminEvent,
        actor: Actor,
        now: i64,
    },
}

#[derive(Debug)]
pub(crate) enum Output {
    Exchange {
        rec: Box<ExchangeRec>,
        replayed: bool,
    },
    Fetched {
        rec: Box<ExchangeRec>,
        content_ct: Vec<u8>,
    },
    Purged(u64),
    Audit(Box<AuditRecord>),
}

/// What an operation produced before the batch's audit entries were hashed.
enum Pending {
    Exchange {
        rec: Box<ExchangeRec>,
        replayed: bool,
    },
    Fetched {
        rec: Box<ExchangeRec>,
        content_ct: Vec<u8>,
    },
    Purged(u64),
    Audit(usize),
}

pub(crate) struct Job {
    pub op: Op,
    pub reply: oneshot::Sender<Result<Output>>,
}

pub(crate) enum Msg {
    Job(Job),
    /// Commit what is queued before this message, then stop.
    Close(oneshot::Sender<()>),
}

pub(crate) struct Writer {
    pub db: Db,
    pub keys: Arc<Keys>,
    pub max_batch: usize,
    pub checkpoint_every: u64,
    pub inbox_tx: watch::Sender<u64>,
}

impl Writer {
    pub(crate) async fn run(self, mut rx: mpsc::Receiver<Msg>) {
        let mut jobs: Vec<Job> = Vec::with_capacity(self.max_batch);
        let mut last_batch = 0usize;
        loop {
            let Some(first) = rx.recv().await else { return };
            let mut close = None;
            match first {
                Msg::Job(j) => jobs.push(j),
                Msg::Close(done) => close = Some(done),
            }
            // Callers woken by the previous commit are runnable but may not have queued
            // their next operation yet; one yield lets them, so batches stay full under load.
            // It costs a lone caller microseconds, not a timed wait.
            if close.is_none() && last_batch > 1 {
                tokio::task::yield_now().await;
            }
            // Take what queued up: this is the group commit.
            while close.is_none() && jobs.len() < self.max_batch {
                match rx.try_recv() {
                    Ok(Msg::Job(j)) => jobs.push(j),
                    Ok(Msg::Close(done)) => close = Some(done),
                    Err(_) => break,
                }
            }
            last_batch = jobs.len();
            if !jobs.is_empty() {
                self.process(std::mem::take(&mut jobs)).await;
            }
            if let Some(done) = close {
                let _ = done.send(());
                return;
            }
        }
    }

    async fn process(&self, jobs: Vec<Job>) {
        let (ops, replies): (Vec<Op>, Vec<_>) = jobs.into_iter().map(|j| (j.op, j.reply)).unzip();
        match self.run_batch(&ops).await {
            Ok(results) => {
                for (reply, r) in replies.into_iter().zip(results) {
                    let _ = reply.send(r);
                }
            }
            Err(BatchError::BeforeCommit(e)) if ops.len() > 1 => {
                tracing::warn!(error = %e, ops = ops.len(), "batch failed before commit; retrying its operations one by one");
                for (op, reply) in ops.into_iter().zip(replies) {
                    let r = match self.run_batch(std::slice::from_ref(&op)).await {
                        Ok(mut rs) => rs.pop().unwrap_or(Err(StoreError::Closed)),
                        Err(BatchError::BeforeCommit(e) | BatchError::Commit(e)) => Err(e),
                    };
                    let _ = reply.send(r);
                }
            }
            Err(BatchError::BeforeCommit(e) | BatchError::Commit(e)) => {
                let msg = e.to_string();
                tracing::error!(error = %msg, ops = ops.len(), "batch failed; nothing in it was committed");
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Database(msg.clone())));
                }
            }
        }
    }

    async fn run_batch(&self, ops: &[Op]) -> std::result::Result<Vec<Result<Output>>, BatchError> {
        match &self.db {
            Db::Sqlite(p) => {
                let tx = db::sqlite::begin(p)
                    .await
                    .map_err(BatchError::BeforeCommit)?;
                self.run_in(tx, ops).await
            }
            Db::Postgres(p) => {
                let tx = db::postgres::begin(p)
                    .await
                    .map_err(BatchError::BeforeCommit)?;
                self.run_in(tx, ops).await
            }
        }
    }

    async fn run_in<T: BatchTx>(
        &self,
        mut tx: T,
        ops: &[Op],
    ) -> std::result::Result<Vec<Result<Output>>, BatchError> {
        let head = tx.head().await.map_err(BatchError::BeforeCommit)?;
        let mut ctx = BatchCtx {
            keys: &self.keys,
            audit: Vec::new(),
            inbox: Vec::new(),
        };
        let mut pending = Vec::with_capacity(ops.len());
        for op in ops {
            let (na, ni) = (ctx.audit.len(), ctx.inbox.len());
            match run_op(&mut tx, op, &mut ctx).await {
                Ok(p) => pending.push(Ok(p)),
                Err(StoreError::Database(e)) => {
                    return Err(BatchError::BeforeCommit(StoreError::Database(e)))
                }
                Err(e) => {
                    // Validation failed before the operation wrote anything.
                    ctx.audit.truncate(na);
                    ctx.inbox.truncate(ni);
                    pending.push(Err(e));
                }
            }
        }

        // Extend the chain: sequences and hashes are assigned here, once per batch, from the
        // head read under the batch's lock.
        let mut records = Vec::with_capacity(ctx.audit.len());
        let mut prev = head.hash;
        let mut buf = Vec::with_capacity(512);
        for (i, fields) in ctx.audit.into_iter().enumerate() {
            let sequence = head.sequence + 1 + i as u64;
            let hash = entry_hash(&mut buf, &prev, sequence, &fields);
            records.push(AuditRecord {
                sequence,
                prev_hash: prev,
                entry_hash: hash,
                fields,
            });
            prev = hash;
        }
        if !records.is_empty() {
            tx.insert_audit(&records)
                .await
                .map_err(BatchError::BeforeCommit)?;
        }

        let new_head = head.sequence + records.len() as u64;
        let mut last_cursor = None;
        if !ctx.inbox.is_empty() {
            let mut rows = Vec::with_capacity(ctx.inbox.len());
            for (i, d) in ctx.inbox.into_iter().enumerate() {
                let cursor =
                    i64_of(head.last_cursor + 1 + i as u64).map_err(BatchError::BeforeCommit)?;
                last_cursor = Some(cursor);
                rows.push((cursor, d));
            }
            tx.insert_inbox(&rows)
                .await
                .map_err(BatchError::BeforeCommit)?;
        }
        self.maybe_checkpoint(&mut tx, &head, new_head, prev)
            .await
            .map_err(BatchError::BeforeCommit)?;

        tx.commit().await.map_err(BatchError::Commit)?;

        if let Some(c) = last_cursor {
            self.inbox_tx.send_replace(c as u64);
        }
        Ok(pending
            .into_iter()
            .map(|p| {
                p.and_then(|p| match p {
                    Pending::Exchange { rec, replayed } => Ok(Output::Exchange { rec, replayed }),
                    Pending::Fetched { rec, content_ct } => Ok(Output::Fetched { rec, content_ct }),
                    Pending::Purged(n) => Ok(Output::Purged(n)),
                    Pending::Audit(i) => records
                        .get(i)
                        .map(|r| Output::Audit(Box::new(r.clone())))
                        .ok_or_else(|| {
                            StoreError::Database("audit entry of the operation is missing".into())
                        }),
                })
            })
            .collect())
    }

    async fn maybe_checkpoint<T: BatchTx>(
        &self,
        tx: &mut T,
        head: &Head,
        new_head: u64,
        head_hash: [u8; 32],
    ) -> Result<()> {
        if self.checkpoint_every == 0
            || new_head == 0
            || new_head - head.last_checkpoint < self.checkpoint_every
        {
            return Ok(());
        }
        let sig = self.keys.sign_checkpoint(new_head, &head_hash);
        let now = crate::records::to_us(time::OffsetDateTime::now_utc())?;
        tx.insert_checkpoint(
            i64_of(new_head)?,
            head_hash,
            sig,
            self.keys.key_id().to_owned(),
            now,
        )
        .await
    }
}

enum BatchError {
    /// Nothing was committed; the operations may be retried.
    BeforeCommit(StoreError),
    /// COMMIT itself failed.
    Commit(StoreError),
}

/// What the operations of a batch share: the keys (decisions are stored encrypted), and the
/// audit entries and inbox events collected for the end of the batch.
struct BatchCtx<'k> {
    keys: &'k Keys,
    audit: Vec<EntryFields>,
    inbox: Vec<InboxDraft>,
}

fn roles(actor: &Actor) -> Vec<String> {
    actor.roles.iter().map(|r| r.as_str().to_owned()).collect()
}

/// An audit entry about an exchange, with the exchange's parties, purpose and subjects.
fn exchange_entry(
    rec: &ExchangeRec,
    kind: AuditEventKind,
    actor: &Actor,
    now: i64,
    from: Option<ExchangeState>,
    to: Option<ExchangeState>,
) -> EntryFields {
    EntryFields {
        occurred_at_us: now,
        event_kind: kind.as_str().to_owned(),
        exchange_id: Some(rec.id),
        actor_agency: actor.agency.as_ref().map(|a| a.to_string()),
        actor_subject: actor.subject.clone(),
        actor_roles: roles(actor),
        requesting_agency: Some(rec.requesting_agency.to_string()),
        holding_agency: Some(rec.holding_agency.to_string()),
        purpose: Some(rec.purpose.to_string()),
        state_from: from.map(|s| s.as_str().to_owned()),
        state_to: to.map(|s| s.as_str().to_owned()),
        subject_hashes: rec.subject_hashes.clone(),
        categories: Vec::new(),
        content_sha256: None,
        content_size: None,
        detail: "{}".to_owned(),
    }
}

/// The entry for an event the aggregate produced.
fn event_entry(rec: &ExchangeRec, e: AuditEvent, actor: &Actor, now: i64) -> EntryFields {
    let mut entry = exchange_entry(rec, e.kind, actor, now, e.from, e.to);
    entry.categories = e.categories.iter().map(|c| c.to_string()).collect();
    if let Some((sha, size)) = e.content {
        entry.content_sha256 = Some(sha);
        entry.content_size = Some(size);
    }
    entry.detail = canonical_json(&e.detail);
    entry
}

fn inbox(rec: &ExchangeRec, n: Notice, now: i64) -> InboxDraft {
    InboxDraft {
        agency: n.to,
        exchange_id: rec.id,
        kind: n.kind,
        state: rec.state,
        occurred_at: now,
        summary: n.summary,
    }
}

async fn load<T: BatchTx>(tx: &mut T, id: Uuid, keys: &Keys) -> Result<ExchangeRec> {
    tx.load_exchange(id)
        .await?
        .ok_or(StoreError::NotFound(id))
        .and_then(|raw| raw.decode(keys))
}

fn check_version(rec: &ExchangeRec, expected: Option<u64>) -> Result<()> {
    match expected {
        Some(v) if v != rec.version => Err(StoreError::Conflict {
            id: rec.id,
            expected: v,
            found: rec.version,
        }),
        _ => Ok(()),
    }
}

async fn run_op<T: BatchTx>(tx: &mut T, op: &Op, ctx: &mut BatchCtx<'_>) -> Result<Pending> {
    match op {
        Op::Submit(s) => submit(tx, s, ctx).await,
        Op::Apply {
            id,
            expected_version,
            change,
            now,
        } => {
            let rec = command(
                tx,
                *id,
                *expected_version,
                change.command.clone(),
                &change.actor,
                *now,
                ctx,
            )
            .await?;
            Ok(exchange_pending(rec))
        }
        Op::Respond(r) => respond(tx, r, ctx).await,
        Op::Fetch { id, actor, now } => fetch(tx, *id, actor, *now, ctx).await,
        Op::Purge { now, limit } => purge::content(tx, *now, *limit, ctx).await,
        Op::PurgeUnanswered {
            ended_before,
            now,
            limit,
        } => purge::unanswered(tx, *ended_before, *now, *limit, ctx).await,
        Op::PurgeRecords { now, limit } => purge::records(tx, *now, *limit, ctx).await,
        Op::UpgradeRecords { limit } => purge::upgrade_records(tx, *limit, ctx).await,
        Op::Admin { event, actor, now } => admin(event, actor, *now, ctx),
    }
}

fn exchange_pending(rec: ExchangeRec) -> Pending {
    Pending::Exchange {
        rec: Box::new(rec),
        replayed: false,
    }
}

/// Load → version check → [`Exchange::handle`] → persist: the one way an existing exchange
/// changes. The aggregate decides; this writes what it decided, its audit entries and its
/// inbox notices, in the batch's transaction.
async fn command<T: BatchTx>(
    tx: &mut T,
    id: Uuid,
    expected: Option<u64>,
    command: Command,
    actor: &Actor,
    now: i64,
    ctx: &mut BatchCtx<'_>,
) -> Result<ExchangeRec> {
    let mut rec = load(tx, id, ctx.keys).await?;
    // The version first: of two IG leads deciding at once, the loser must learn that someone
    // else decided (Conflict), not that the exchange is in a state it did not expect.
    check_version(&rec, expected)?;
    let applied = rec.aggregate()?.handle(command, actor, from_us(now)?)?;
    let Applied {
        next,
        changed,
        events,
        notices,
    } = applied;
    rec.absorb(next)?;
    if changed {
        tx.update_exchange(&rec.to_write(ctx.keys)?).await?;
    }
    for e in events {
        ctx.audit.push(event_entry(&rec, e, actor, now));
    }
    for n in notices {
        ctx.inbox.push(inbox(&rec, n, now));
    }
    Ok(rec)
}

async fn submit<T: BatchTx>(tx: &mut T, s: &SubmitOp, ctx: &mut BatchCtx<'_>) -> Result<Pending> {
    // Inside the batch's lock, so a concurrent retry on another replica cannot slip in
    // between this check and the insert.
    if let Some(id) = tx
        .find_idempotent(s.requesting_agency.as_str(), &s.idempotency_key)
        .await?
    {
        let rec = load(tx, id, ctx.keys).await?;
        return Ok(Pending::Exchange {
            rec: Box::new(rec),
            replayed: true,
        });
    }
    let mut subject_hashes: Vec<String> = Vec::new();
    for (h, _) in &s.subjects {
        if !subject_hashes.contains(h) {
            subject_hashes.push(h.clone());
        }
    }
    let mut rec = ExchangeRec {
        id: s.id,
        state: ExchangeState::Submitted,
        version: 0,
        idempotency_key: s.idempotency_key.clone(),
        requesting_agency: s.requesting_agency.clone(),
        holding_agency: s.holding_agency.clone(),
        purpose: s.purpose.clone(),
        urgency: s.urgency,
        level_of_need: Some(s.level_of_need),
        respond_by: crate::records::to_us(s.assessment.respond_by)?,
        overdue: false,
        created_at: s.now,
        updated_at: s.now,
        first_decision_at: None,
        request_ct: Some(s.request_ct.clone()),
        subject_hashes,
        assessment: s.assessment.clone(),
        decisions: Vec::new(),
        approved_scope: Vec::new(),
        conditions: Conditions::default(),
        response: None,
        reasons_ct: Some(s.reasons_ct.clone()),
        record_retain_until: Some(s.record_retain_until),
        record_purged: false,
    };
    let Applied {
        next,
        events,
        notices,
        ..
    } = rec.aggregate()?.open()?;
    rec.absorb(next)?;
    let w = rec.to_write(ctx.keys)?;
    let subjects: Vec<SubjectRow> = s
        .subjects
        .iter()
        .map(|(h, role)| (h.clone(), s.id, *role, s.now))
        .collect();

    tx.insert_exchange(&w).await?;
    if !subjects.is_empty() {
        tx.insert_subjects(&subjects).await?;
    }
    // The request's own record (lawful basis, consent, findings) was prepared by the caller.
    for e in events {
        let (actor, detail, categories) = if e.kind == AuditEventKind::Submitted {
            (&s.actor, &s.submitted_detail, s.categories_sought.clone())
        } else {
            (
                &*SYSTEM,
                &s.outcome_detail,
                e.categories.iter().map(|c| c.to_string()).collect(),
            )
        };
        let mut entry = exchange_entry(&rec, e.kind, actor, s.now, e.from, e.to);
        entry.categories = categories;
        entry.detail = detail.clone();
        ctx.audit.push(entry);
    }
    for n in notices {
        ctx.inbox.push(inbox(&rec, n, s.now));
    }
    Ok(exchange_pending(rec))
}

/// The broker itself, as the actor of the policy check's outcome and of background jobs.
static SYSTEM: std::sync::LazyLock<Actor> = std::sync::LazyLock::new(Actor::system);

async fn respond<T: BatchTx>(tx: &mut T, r: &RespondOp, ctx: &mut BatchCtx<'_>) -> Result<Pending> {
    let rec = command(
        tx,
        r.id,
        Some(r.expected_version),
        Command::Respond(r.draft.clone()),
        &r.actor,
        r.now,
        ctx,
    )
    .await?;
    let Some(meta) = &rec.response else {
        return Err(StoreError::Database("the response was not recorded".into()));
    };
    tx.insert_response(&ResponseWrite {
        exchange_id: r.id,
        submitted_at: meta.submitted_at,
        submitted_by: meta.submitted_by.clone(),
        content_ct: r.content_ct.clone(),
        content_sha256: meta.content_sha256.clone(),
        content_size: i64_of(meta.content_size)?,
        categories: to_json(&meta.categories)?,
        retain_until: meta.retain_until,
    })
    .await?;
    Ok(exchange_pending(rec))
}

async fn fetch<T: BatchTx>(
    tx: &mut T,
    id: Uuid,
    actor: &Actor,
    now: i64,
    ctx: &mut BatchCtx<'_>,
) -> Result<Pending> {
    let rec = command(tx, id, None, Command::Fetch, actor, now, ctx).await?;
    let Some(Some(content_ct)) = tx.response_content(id).await? else {
        return Err(StoreError::Refused(Refusal::Purged));
    };
    Ok(Pending::Fetched {
        rec: Box::new(rec),
        content_ct,
    })
}

fn admin(event: &AdminEvent, actor: &Actor, now: i64, ctx: &mut BatchCtx<'_>) -> Result<Pending> {
    ctx.audit.push(EntryFields {
        occurred_at_us: now,
        event_kind: event.kind.as_str().to_owned(),
        exchange_id: None,
        actor_agency: actor.agency.as_ref().map(|a| a.to_string()),
        actor_subject: actor.subject.clone(),
        actor_roles: roles(actor),
        requesting_agency: None,
        holding_agency: None,
        purpose: None,
        state_from: None,
        state_to: None,
        subject_hashes: Vec::new(),
        categories: Vec::new(),
        content_sha256: None,
        content_size: None,
        detail: canonical_json(&json!({
            "protocol_id": event.protocol_id,
            "agency_id": event.agency_id,
            "detail": event.detail,
        })),
    });
    Ok(Pending::Audit(ctx.audit.len() - 1))
}
