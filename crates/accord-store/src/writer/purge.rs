//! The writer's retention operations: purging content at the end of its retention, the
//! requests of exchanges that ended without a response, and decision records at the end of
//! theirs; and setting up the decision record of rows written before it existed. Each runs
//! on at most `limit` exchanges in the batch's transaction and writes its audit entries
//! there.

use accord_domain::{AuditEventKind, ExchangeState, RecordRetention, Request, RequestReasons};
use serde_json::json;

use super::{exchange_entry, load, BatchCtx, Pending, SYSTEM};
use crate::canonical::canonical_json;
use crate::crypto::Blob;
use crate::db::{BatchTx, RecordUpgrade};
use crate::records::{corrupt, from_us, to_us};
use crate::{Result, StoreError};

/// Purges the response content and the request of exchanges whose `retain_until` has come.
/// The decision record stays.
pub(super) async fn content<T: BatchTx>(
    tx: &mut T,
    now: i64,
    limit: i64,
    ctx: &mut BatchCtx<'_>,
) -> Result<Pending> {
    let ids = tx.expired_responses(now, limit).await?;
    let mut n = 0u64;
    for id in ids {
        let mut rec = load(tx, id, ctx.keys).await?;
        let Some(resp) = rec.response.as_mut() else {
            continue;
        };
        resp.purged = true;
        let (categories, sha, size, retain_until) = (
            resp.categories.clone(),
            resp.content_sha256.clone(),
            resp.content_size,
            resp.retain_until,
        );
        rec.request_ct = None;
        rec.version += 1;
        rec.updated_at = now;
        let w = rec.to_write(ctx.keys)?;
        tx.purge_content(id).await?;
        tx.update_exchange(&w).await?;
        // The digest, size and categories stay in the log: what was shared, not the content.
        let mut entry = exchange_entry(
            &rec,
            AuditEventKind::ContentPurged,
            &SYSTEM,
            now,
            None,
            None,
        );
        entry.categories = categories.iter().map(|c| c.to_string()).collect();
        entry.content_sha256 = Some(sha);
        entry.content_size = Some(size);
        entry.detail = canonical_json(&json!({
            "retain_until_us": retain_until,
            "request_purged": true,
            "response_purged": true,
        }));
        ctx.audit.push(entry);
        n += 1;
    }
    Ok(Pending::Purged(n))
}

/// Whether an exchange in `state` (with no response row) counts as ended without a response,
/// so its request is kept only for the unanswered-request retention period, counted from its
/// last change. `declined` and `refused` are included although they may still be escalated
/// or closed.
fn ended_unanswered(state: ExchangeState) -> bool {
    matches!(
        state,
        ExchangeState::Refused
            | ExchangeState::Declined
            | ExchangeState::Withdrawn
            | ExchangeState::Expired
            | ExchangeState::Closed
    )
}

/// Purges the request of exchanges that ended without a response and have not changed since
/// `ended_before`. The decision record stays.
pub(super) async fn unanswered<T: BatchTx>(
    tx: &mut T,
    ended_before: i64,
    now: i64,
    limit: i64,
    ctx: &mut BatchCtx<'_>,
) -> Result<Pending> {
    let ids = tx.unanswered_requests(ended_before, limit).await?;
    let mut n = 0u64;
    for id in ids {
        let mut rec = load(tx, id, ctx.keys).await?;
        // Checked again on the row as loaded: the query's conditions, in Rust.
        if rec.response.is_some()
            || rec.request_ct.is_none()
            || !ended_unanswered(rec.state)
            || rec.updated_at > ended_before
        {
            continue;
        }
        rec.request_ct = None;
        rec.version += 1;
        // Never backwards, whatever the clocks of the caller and the store say.
        rec.updated_at = rec.updated_at.max(now);
        let w = rec.to_write(ctx.keys)?;
        tx.update_exchange(&w).await?;
        let mut entry = exchange_entry(
            &rec,
            AuditEventKind::RequestPurged,
            &SYSTEM,
            now,
            None,
            None,
        );
        entry.detail = canonical_json(&json!({
            "ended_state": rec.state.as_str(),
            "request_purged": true,
        }));
        ctx.audit.push(entry);
        n += 1;
    }
    Ok(Pending::Purged(n))
}

/// Purges the decision record (the request's reasons, the decisions and theirs) of exchanges
/// whose `record_retain_until` has come and whose content is already gone: the record never
/// goes before what it explains. The audit log keeps the decisions' metadata and digests.
pub(super) async fn records<T: BatchTx>(
    tx: &mut T,
    now: i64,
    limit: i64,
    ctx: &mut BatchCtx<'_>,
) -> Result<Pending> {
    let ids = tx.expired_records(now, limit).await?;
    let mut n = 0u64;
    for id in ids {
        let mut rec = load(tx, id, ctx.keys).await?;
        // The query's conditions again, on the row as loaded.
        let content_gone =
            rec.request_ct.is_none() && rec.response.as_ref().is_none_or(|r| r.purged);
        let Some(retain_until) = rec.record_retain_until else {
            continue;
        };
        if rec.record_purged || !content_gone || retain_until > now {
            continue;
        }
        let decisions = rec.decisions.len();
        let reasons = rec.reasons_ct.is_some();
        rec.decisions = Vec::new();
        rec.reasons_ct = None;
        rec.record_purged = true;
        rec.version += 1;
        rec.updated_at = rec.updated_at.max(now);
        let w = rec.to_write(ctx.keys)?;
        tx.update_exchange(&w).await?;
        tx.purge_record(id).await?;
        let mut entry = exchange_entry(
            &rec,
            AuditEventKind::DecisionRecordPurged,
            &SYSTEM,
            now,
            None,
            None,
        );
        entry.detail = canonical_json(&json!({
            "record_retain_until_us": retain_until,
            "decisions_purged": decisions,
            "reasons_purged": reasons,
        }));
        ctx.audit.push(entry);
        n += 1;
    }
    Ok(Pending::Purged(n))
}

/// Sets up the decision record of rows written before migration 0006: the decisions
/// encrypted, the reasons taken from the request when it is still held, and the record kept
/// for [`RecordRetention::DEFAULT`] from submission (the store does not know the protocol the
/// exchange was made under). No fact changes, so neither the version nor the log.
pub(super) async fn upgrade_records<T: BatchTx>(
    tx: &mut T,
    limit: i64,
    ctx: &mut BatchCtx<'_>,
) -> Result<Pending> {
    let ids = tx.records_to_upgrade(limit).await?;
    let mut n = 0u64;
    for id in ids {
        let rec = load(tx, id, ctx.keys).await?;
        if rec.record_retain_until.is_some() {
            continue;
        }
        let reasons_ct = match &rec.request_ct {
            None => None,
            Some(ct) => {
                let plain = ctx.keys.decrypt(id, Blob::Request, ct)?;
                let request: Request =
                    serde_json::from_slice(&plain).map_err(|_| corrupt("request"))?;
                let reasons = serde_json::to_vec(&RequestReasons::of(&request))
                    .map_err(|e| StoreError::Database(format!("serialise reasons: {e}")))?;
                Some(ctx.keys.encrypt(id, Blob::Reasons, &reasons)?)
            }
        };
        let decisions_ct = rec
            .decisions_ct(ctx.keys)?
            .ok_or_else(|| corrupt("decisions of a record not yet set up"))?;
        let kept_until = RecordRetention::DEFAULT.keep_until(from_us(rec.created_at)?);
        tx.upgrade_record(&RecordUpgrade {
            id,
            decisions_ct,
            reasons_ct,
            record_retain_until: to_us(kept_until)?,
        })
        .await?;
        n += 1;
    }
    Ok(Pending::Purged(n))
}
