//! The broker's background jobs, started with the server and stopped when it drains:
//!
//! - the **deadline job** (`[jobs] deadline_interval_ms`): exchanges still awaiting a decision
//!   after their `respond_by` are marked overdue and escalated ("an overdue request is
//!   escalated, not forgotten"); the store writes the audit entry and the inbox events to both
//!   agencies;
//! - the **retention job** (`[jobs] retention_interval_ms`): request and response content past
//!   its retention is purged; the audit log keeps the digests. Then the requests of exchanges
//!   that ended without a response (refused, declined, withdrawn, expired, closed unanswered)
//!   and have not changed for `[jobs] unanswered_request_retention_days` are purged too. Last,
//!   the decision records (the request's reasons, the decisions with theirs) whose protocol's
//!   `record_retention` ended and whose content is gone.
//!
//! - the **registry sync job** (`[jobs] registry_sync_interval_ms`): reads the audit entries
//!   after the last one it applied ([`Registry::applied_through`], set at start by
//!   [`replay_admin_changes`]) and applies the administrators' signatory changes among them
//!   ([`Registry::apply_logged`]), so a suspension made through one replica takes effect on
//!   every replica within the interval, not at their next restart. The store reads the log;
//!   these jobs only say which entries they want.
//!
//! The first two read the time from the [`Clock`], so tests move time instead of waiting for
//! it. All are safe with several replicas: marking overdue is idempotent, purging is a no-op
//! for content already purged, and a registry change already in effect is a no-op.

use std::future::Future;
use std::time::Duration;

use accord_domain::{Actor, AuditEventKind, Command};
use accord_store::{AuditEntry, Change, Store, StoreError};
use time::OffsetDateTime;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tracing::{debug, info, warn};

use crate::config::JobSettings;
use crate::context::{Clock, Shutdown};
use crate::registry::{AdminChange, AdminChangeEvent, Registry};
use crate::AppState;

/// Overdue candidates read per batch.
const DEADLINE_BATCH: u32 = 100;
/// Batches per run, so one run always ends (a candidate the store keeps refusing is retried on
/// the next run, not in a loop).
const DEADLINE_MAX_BATCHES: usize = 50;

/// Marks every exchange whose deadline has passed at `now` as overdue (escalating it).
/// Returns how many were marked.
pub async fn run_deadline_once(store: &Store, now: OffsetDateTime) -> Result<usize, StoreError> {
    act_on_candidates(
        || store.overdue_candidates(now, DEADLINE_BATCH),
        |id| async move {
            let x = store.mark_overdue(id, now).await?;
            info!(exchange_id = %id, state = %x.state, "exchange overdue; escalated");
            Ok(())
        },
        "could not mark exchange overdue",
    )
    .await
}

/// Expires every exchange left waiting past its response deadline plus `grace`: approved or
/// partly approved with no response from the holder, or a request for more information the
/// requester never answered. Expired exchanges then fall under the unanswered-request purge,
/// so a request nobody acts on is not kept for ever. Returns how many were expired.
pub async fn run_expiry_once(
    store: &Store,
    now: OffsetDateTime,
    grace: Duration,
) -> Result<usize, StoreError> {
    let grace = time::Duration::try_from(grace).map_err(|_| StoreError::InvalidInput {
        field: "expiry_grace",
        reason: format!("{grace:?} is out of range"),
    })?;
    act_on_candidates(
        || store.expiry_candidates(now, grace, DEADLINE_BATCH),
        |id| async move {
            let change = Change {
                command: Command::Expire,
                actor: Actor::system(),
                now,
            };
            let x = store.apply(id, None, change).await?;
            info!(exchange_id = %id, state = %x.state, "exchange expired past its deadline");
            Ok(())
        },
        "could not expire exchange",
    )
    .await
}

/// Reads candidates in batches and acts on each until a batch is short or makes no progress,
/// at most `DEADLINE_MAX_BATCHES` batches. A candidate that fails (it moved on since it was
/// read) is logged and left for the next run; only a closing store stops the run.
async fn act_on_candidates<C, CF, A, AF>(
    mut candidates: C,
    mut act: A,
    failure: &'static str,
) -> Result<usize, StoreError>
where
    C: FnMut() -> CF,
    CF: Future<Output = Result<Vec<uuid::Uuid>, StoreError>>,
    A: FnMut(uuid::Uuid) -> AF,
    AF: Future<Output = Result<(), StoreError>>,
{
    let mut done = 0;
    for _ in 0..DEADLINE_MAX_BATCHES {
        let ids = candidates().await?;
        let n = ids.len();
        let mut progress = false;
        for id in ids {
            match act(id).await {
                Ok(()) => {
                    progress = true;
                    done += 1;
                }
                Err(StoreError::Closed) => return Err(StoreError::Closed),
                Err(e) => warn!(exchange_id = %id, error = %e, "{failure}"),
            }
        }
        if n < DEADLINE_BATCH as usize || !progress {
            break;
        }
    }
    Ok(done)
}

/// Purges content whose retention ended by `now`, then the requests of exchanges that ended
/// without a response and have not changed for `unanswered_request_retention`, then the
/// decision records whose own retention (the protocol's `record_retention`) ended by `now`
/// and whose content is gone; returns how many purges were made by the three together.
pub async fn run_retention_once(
    store: &Store,
    now: OffsetDateTime,
    unanswered_request_retention: Duration,
) -> Result<u64, StoreError> {
    let purged = store.purge_expired_content(now).await?;
    if purged > 0 {
        info!(
            exchanges = purged,
            "content purged at the end of its retention"
        );
    }
    let ended_before = time::Duration::try_from(unanswered_request_retention)
        .ok()
        .and_then(|d| now.checked_sub(d))
        .ok_or_else(|| StoreError::InvalidInput {
            field: "unanswered_request_retention",
            reason: format!("{unanswered_request_retention:?} before {now} is out of range"),
        })?;
    let requests = store.purge_unanswered_requests(ended_before).await?;
    if requests > 0 {
        info!(
            exchanges = requests,
            "requests that ended without a response purged at the end of their retention"
        );
    }
    // Last, so a record whose content went in this run goes in the same run.
    let records = store.purge_decision_records(now).await?;
    if records > 0 {
        info!(
            exchanges = records,
            "decision records purged at the end of their retention"
        );
    }
    Ok(purged + requests + records)
}

/// Audit entries read per batch by the registry sync and the replay at start.
const SYNC_BATCH: u32 = 500;
/// Batches per registry sync run, so one run always ends; the rest is read on the next run.
const SYNC_MAX_BATCHES: usize = 200;

/// Re-applies the admin changes recorded in the audit log to a freshly loaded `registry`
/// ([`Registry::replay`]), in log order, and records where the registry sync starts: the
/// head of the log before the changes were read. Entries appended meanwhile (by other
/// replicas) are read again by the sync, which applies them idempotently. Returns how many
/// changed the registry.
pub async fn replay_admin_changes(store: &Store, registry: &Registry) -> Result<usize, StoreError> {
    let head = audit_head(store).await?;
    let mut events = Vec::new();
    loop {
        let after = events.last().map_or(0, |e: &AuditEntry| e.sequence);
        let page = store
            .events_since(after, AuditEventKind::REGISTRY_CHANGES, SYNC_BATCH)
            .await?;
        let n = page.len();
        events.extend(page);
        if n < SYNC_BATCH as usize {
            break;
        }
    }
    let applied = registry.replay(events.iter().map(|e| (e.event_kind.as_str(), &e.detail)));
    registry.advance_to(head);
    Ok(applied)
}

/// Applies the admin changes recorded in the audit log after [`Registry::applied_through`]
/// to `registry`, in log order, and moves `applied_through` on to the head of the log as it
/// was when the run started (or to the last change read, if a run ends before reaching it).
/// The store reads the changes by sequence (`Store::events_since`), so each run reads only
/// what is new. Returns how many changes took effect (changes already in effect, e.g. made
/// through this replica, are no-ops).
pub async fn run_registry_sync_once(
    store: &Store,
    registry: &Registry,
) -> Result<usize, StoreError> {
    // Read first: every entry up to it is committed, so once the changes up to it are
    // applied, the entries in between (none of them a change) need not be read again.
    let head = audit_head(store).await?;
    let mut applied = 0;
    for _ in 0..SYNC_MAX_BATCHES {
        let entries = store
            .events_since(
                registry.applied_through(),
                AuditEventKind::REGISTRY_CHANGES,
                SYNC_BATCH,
            )
            .await?;
        for e in &entries {
            let change = match AdminChange::from_audit(&e.event_kind, &e.detail) {
                None => continue,
                Some(Ok(change)) => change,
                Some(Err(problem)) => {
                    warn!(sequence = e.sequence, kind = %e.event_kind, problem = %problem, "unreadable admin event skipped");
                    continue;
                }
            };
            match registry.apply_logged(e.sequence, &change) {
                Ok(Some(_)) => {
                    applied += 1;
                    info!(
                        sequence = e.sequence,
                        kind = %e.event_kind,
                        agency = %change.agency_id(),
                        "registry change applied from the log"
                    );
                }
                Ok(None) => debug!(
                    sequence = e.sequence,
                    kind = %e.event_kind,
                    agency = %change.agency_id(),
                    "registry change from the log already in effect"
                ),
                Err(error) => warn!(
                    sequence = e.sequence,
                    kind = %e.event_kind,
                    agency = %change.agency_id(),
                    error = %error,
                    "admin event from the log does not apply; skipped"
                ),
            }
        }
        let last = entries.last().map_or(0, |e| e.sequence);
        if entries.len() < SYNC_BATCH as usize {
            registry.advance_to(last.max(head));
            break;
        }
        registry.advance_to(last);
    }
    Ok(applied)
}

/// The last sequence of the audit log (0 when it is empty).
pub async fn audit_head(store: &Store) -> Result<u64, StoreError> {
    Ok(store.audit_head().await?.sequence)
}

/// Which job a loop runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    Deadline,
    Retention,
}

impl Job {
    fn name(self) -> &'static str {
        match self {
            Job::Deadline => "deadline",
            Job::Retention => "retention",
        }
    }
}

/// Runs `job` every interval `settings` give it (first run at once) until `shutdown` triggers
/// or the store closes.
pub async fn run_job(
    job: Job,
    store: Store,
    clock: Clock,
    settings: JobSettings,
    shutdown: Shutdown,
) {
    let interval = match job {
        Job::Deadline => settings.deadline_interval,
        Job::Retention => settings.retention_interval,
    };
    every(job.name(), interval, shutdown, || {
        let now = clock.now();
        let store = store.clone();
        async move {
            match job {
                Job::Deadline => {
                    run_deadline_once(&store, now).await?;
                    run_expiry_once(&store, now, settings.expiry_grace)
                        .await
                        .map(|_| ())
                }
                Job::Retention => {
                    run_retention_once(&store, now, settings.unanswered_request_retention)
                        .await
                        .map(|_| ())
                }
            }
        }
    })
    .await;
}

/// Runs the registry sync ([`run_registry_sync_once`]) every `interval` (first run at once)
/// until `shutdown` triggers or the store closes.
pub async fn run_registry_sync(
    store: Store,
    registry: Registry,
    interval: Duration,
    shutdown: Shutdown,
) {
    every("registry_sync", interval, shutdown, || {
        let store = store.clone();
        let registry = registry.clone();
        async move { run_registry_sync_once(&store, &registry).await.map(|_| ()) }
    })
    .await;
}

/// Calls `run` every `interval` (first at once) until `shutdown` triggers or the store closes;
/// a failed run is retried at the next interval.
async fn every<F, Fut>(name: &'static str, interval: Duration, shutdown: Shutdown, mut run: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), StoreError>>,
{
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let stop = shutdown.triggered();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = ticks.tick() => {}
        }
        match run().await {
            Ok(()) => {}
            Err(StoreError::Closed) => break,
            Err(e) => {
                warn!(job = name, error = %e, "background job failed; retrying at the next interval")
            }
        }
    }
    info!(job = name, "background job stopped");
}

/// Starts the background jobs on the server's store.
pub fn spawn(state: &AppState) -> Vec<JoinHandle<()>> {
    let store = state.store.clone();
    let settings = state.config.jobs;
    let mut jobs: Vec<JoinHandle<()>> = [Job::Deadline, Job::Retention]
        .into_iter()
        .map(|job| {
            tokio::spawn(run_job(
                job,
                store.clone(),
                state.clock.clone(),
                settings,
                state.shutdown.clone(),
            ))
        })
        .collect();
    jobs.push(tokio::spawn(run_registry_sync(
        store,
        state.registry.clone(),
        settings.registry_sync_interval,
        state.shutdown.clone(),
    )));
    jobs
}

#[cfg(test)]
mod tests;
