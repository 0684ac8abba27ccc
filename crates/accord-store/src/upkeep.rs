//! What the broker's background jobs ask of the store: exchanges past their deadline
//! (marked overdue and escalated), exchanges left waiting on a party that never acted (to be
//! expired), purges of content and requests at the end of their retention and of decision
//! records at the end of theirs.

use accord_domain::Actor;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::db::dispatch;
use crate::open::wrong_output;
use crate::records::to_us;
use crate::writer::{Op, Output};
use crate::{Change, Exchange, Result, Store, StoreError};

/// Exchanges purged per writer operation, so one purge never holds a batch for long.
const PURGE_CHUNK: i64 = 200;

impl Store {
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

    /// Purges the decision record (the request's reasons, the decisions with theirs) of
    /// exchanges whose record retention ended by `now`, once their content is gone too (no
    /// request, no unpurged response): the reasons and decisions become `None` and empty,
    /// `record_purged` is set, the version and `updated_at` move on, and a
    /// `decision_record_purged` entry (actor the broker; detail the record's end and how many
    /// decisions went) is written in the same transaction. The audit log keeps the
    /// decisions' metadata and digests, and the exchange its state and metadata. Returns how
    /// many records were purged.
    pub async fn purge_decision_records(&self, now: OffsetDateTime) -> Result<u64> {
        let now = to_us(now)?;
        self.purge_in_chunks(|limit| Op::PurgeRecords { now, limit })
            .await
    }

    /// Sets up the decision record of exchanges written before the store kept one (migration
    /// 0006); run when the store opens. Returns how many were upgraded.
    pub(crate) async fn upgrade_records(&self) -> Result<u64> {
        self.purge_in_chunks(|limit| Op::UpgradeRecords { limit })
            .await
    }

    /// Runs a purge as writer operations of at most `PURGE_CHUNK` exchanges each, until one
    /// purges fewer: a purged exchange no longer matches, so every full chunk is progress.
    async fn purge_in_chunks(&self, op: impl Fn(i64) -> Op) -> Result<u64> {
        let mut total = 0;
        loop {
            let n = match self.call(op(PURGE_CHUNK)).await? {
                Output::Purged(n) => n,
                _ => return Err(wrong_output()),
            };
            total += n;
            if (n as i64) < PURGE_CHUNK {
                return Ok(total);
            }
        }
    }
}
