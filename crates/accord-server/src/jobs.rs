//! The broker's background jobs, started with the server and stopped when it drains:
//!
//! - the **deadline job** (`[jobs] deadline_interval_ms`): exchanges still awaiting a decision
//!   after their `respond_by` are marked overdue and escalated ("an overdue request is
//!   escalated, not forgotten"); the store writes the audit entry and the inbox events to both
//!   agencies;
//! - the **retention job** (`[jobs] retention_interval_ms`): request and response content past
//!   its retention is purged; the audit log keeps the digests. Then the requests of exchanges
//!   that ended without a response (refused, declined, withdrawn, expired, closed unanswered)
//!   and have not changed for `[jobs] unanswered_request_retention_days` are purged too.
//!
//! Both read the time from the [`Clock`], so tests move time instead of waiting for it. Both
//! are safe with several replicas: marking overdue is idempotent and purging is a no-op for
//! content already purged.

use std::time::Duration;

use accord_store::{Store, StoreError};
use time::OffsetDateTime;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tracing::{info, warn};

use crate::config::JobSettings;
use crate::context::{Clock, Shutdown};
use crate::AppState;

/// Overdue candidates read per batch.
const DEADLINE_BATCH: u32 = 100;
/// Batches per run, so one run always ends (a candidate the store keeps refusing is retried on
/// the next run, not in a loop).
const DEADLINE_MAX_BATCHES: usize = 50;

/// Marks every exchange whose deadline has passed at `now` as overdue (escalating it).
/// Returns how many were marked.
pub async fn run_deadline_once(store: &Store, now: OffsetDateTime) -> Result<usize, StoreError> {
    let mut marked = 0;
    for _ in 0..DEADLINE_MAX_BATCHES {
        let ids = store.overdue_candidates(now, DEADLINE_BATCH).await?;
        let n = ids.len();
        let mut progress = false;
        for id in ids {
            match store.mark_overdue(id, now).await {
                Ok(x) => {
                    progress = true;
                    marked += 1;
                    info!(exchange_id = %id, state = %x.state, "exchange overdue; escalated");
                }
                Err(StoreError::Closed) => return Err(StoreError::Closed),
                Err(e) => warn!(exchange_id = %id, error = %e, "could not mark exchange overdue"),
            }
        }
        if n < DEADLINE_BATCH as usize || !progress {
            break;
        }
    }
    Ok(marked)
}

/// Purges content whose retention ended by `now`, then the requests of exchanges that ended
/// without a response and have not changed for `unanswered_request_retention`; returns how
/// many exchanges were purged by both together.
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
        .ok_or_else(|| {
            StoreError::Precondition(format!(
                "unanswered request retention {unanswered_request_retention:?} before {now} is out of range"
            ))
        })?;
    let requests = store.purge_unanswered_requests(ended_before).await?;
    if requests > 0 {
        info!(
            exchanges = requests,
            "requests that ended without a response purged at the end of their retention"
        );
    }
    Ok(purged + requests)
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
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let stop = shutdown.triggered();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = ticks.tick() => {}
        }
        let now = clock.now();
        let result = match job {
            Job::Deadline => run_deadline_once(&store, now).await.map(|_| ()),
            Job::Retention => {
                run_retention_once(&store, now, settings.unanswered_request_retention)
                    .await
                    .map(|_| ())
            }
        };
        match result {
            Ok(()) => {}
            Err(StoreError::Closed) => break,
            Err(e) => {
                warn!(job = job.name(), error = %e, "background job failed; retrying at the next interval")
            }
        }
    }
    info!(job = job.name(), "background job stopped");
}

/// Starts both jobs for a server with a store; none without one.
pub fn spawn(state: &AppState) -> Vec<JoinHandle<()>> {
    let Some(store) = state.store.clone() else {
        return Vec::new();
    };
    let settings = state.config.jobs;
    [Job::Deadline, Job::Retention]
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
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Arc;

    use accord_domain::*;
    use accord_store::{Change, InboxEventKind, StoreConfig, Submission};
    use time::macros::datetime;

    use super::*;

    const T0: OffsetDateTime = datetime!(2025-03-03 09:00:00 UTC);

    /// The default unanswered request retention (`[jobs] unanswered_request_retention_days`).
    const UNANSWERED: Duration = Duration::from_secs(365 * 86_400);

    /// Both jobs every 20 ms, requests that ended unanswered kept for the default year.
    fn fast_settings() -> JobSettings {
        JobSettings {
            deadline_interval: Duration::from_millis(20),
            retention_interval: Duration::from_millis(20),
            unanswered_request_retention: UNANSWERED,
        }
    }

    fn id<T: std::str::FromStr>(s: &str) -> T
    where
        T::Err: std::fmt::Debug,
    {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e:?}"))
    }

    /// A clock the test moves by hand.
    #[derive(Clone)]
    struct TestClock(Arc<AtomicI64>);

    impl TestClock {
        fn new() -> TestClock {
            TestClock(Arc::new(AtomicI64::new(T0.unix_timestamp())))
        }
        fn advance(&self, by: time::Duration) {
            self.0.fetch_add(by.whole_seconds(), Ordering::SeqCst);
        }
        fn now(&self) -> OffsetDateTime {
            OffsetDateTime::from_unix_timestamp(self.0.load(Ordering::SeqCst))
                .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        }
        fn clock(&self) -> Clock {
            let me = self.clone();
            Clock::from_fn(move || me.now())
        }
    }

    async fn store(dir: &tempfile::TempDir) -> Store {
        Store::open(StoreConfig {
            url: format!("sqlite://{}", dir.path().join("accord.db").display()),
            audit_key: [7; 32],
            content_key: [9; 32],
            signing_key: ed25519_dalek::SigningKey::from_bytes(&[11; 32]),
            checkpoint_every: 1000,
            max_batch: 64,
            max_connections: 4,
        })
        .await
        .unwrap_or_else(|e| panic!("open store: {e}"))
    }

    fn submission(key: &str, now: OffsetDateTime, respond_within: time::Duration) -> Submission {
        let request = Request {
            protocol_id: id("test-isp"),
            protocol_version: "1.0".into(),
            requesting_agency: id("police"),
            practitioner: Practitioner {
                subject: "pc-1".into(),
                name: "Pat".into(),
                job_title: "DC".into(),
                contact: "pat@example.org".into(),
            },
            holding_agency: id("council"),
            child: Subject {
                identifiers: vec![SubjectIdentifier {
                    scheme: "local_case_id".into(),
                    value: "c-1".into(),
                }],
                name: String::new(),
                date_of_birth: None,
                identifiable: true,
                relationship: String::new(),
            },
            other_people: Vec::new(),
            purpose: id("s47-enquiry"),
            necessity_justification: "needed".into(),
            expected_outcome: "safety".into(),
            level_of_need: LevelOfNeed::SignificantHarm,
            risk_summary: "risk".into(),
            lawful_basis: LawfulBasisClaim {
                article6: LawfulBasis::PublicTask,
                special_condition: SpecialCondition::None,
                gateways: Vec::new(),
            },
            consent: Consent::with_status(ConsentStatus::NotRequired),
            categories: vec![CategoryRequest {
                category: id("education"),
                reason: "attendance".into(),
            }],
            records_from: None,
            records_to: None,
            anonymised_would_suffice: false,
            urgency: Urgency::Urgent,
            needed_by: None,
            onward_disclosure: OnwardDisclosure::default(),
            notification: SubjectNotification {
                will_inform: true,
                reason_not_informing: String::new(),
            },
        };
        Submission {
            idempotency_key: key.into(),
            request,
            assessment: Assessment {
                outcome: Outcome::ProceedToApproval,
                findings: Vec::new(),
                proposed_scope: vec![id("education")],
                trimmed: Vec::new(),
                respond_by: now + respond_within,
                required_approver_roles: vec![Role::IgLead],
                assessed_at: now,
            },
            actor: Actor {
                agency: Some(id("police")),
                subject: "pc-1".into(),
                roles: vec![Role::Practitioner],
            },
            now,
        }
    }

    #[tokio::test]
    async fn deadline_job_escalates_overdue_exchanges_once() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = store(&dir).await;
        let clock = TestClock::new();
        let late = store
            .submit(submission("a", clock.now(), time::Duration::hours(1)))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .exchange;
        let later = store
            .submit(submission("b", clock.now(), time::Duration::days(5)))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .exchange;

        // Before the deadline nothing happens.
        let marked = run_deadline_once(&store, clock.now()).await;
        assert_eq!(marked.ok(), Some(0));

        clock.advance(time::Duration::hours(2));
        let marked = run_deadline_once(&store, clock.now()).await;
        assert_eq!(marked.ok(), Some(1));
        let x = store.get(late.id).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(x.overdue);
        assert_eq!(x.state, ExchangeState::Escalated);
        let other = store.get(later.id).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(!other.overdue);
        assert_eq!(other.state, ExchangeState::AwaitingApproval);

        // Both agencies hear of it; a second run changes nothing.
        for agency in ["police", "council"] {
            let events = store
                .inbox(&id(agency), None, 100)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(
                events
                    .iter()
                    .any(|e| e.kind == InboxEventKind::Overdue && e.exchange_id == late.id),
                "{agency}: {events:?}"
            );
        }
        assert_eq!(run_deadline_once(&store, clock.now()).await.ok(), Some(0));
        let audit = store
            .audit_query(accord_store::AuditQuery {
                exchange_id: Some(late.id),
                event_kind: Some("overdue".into()),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(audit.items.len(), 1);
        assert!(audit.items[0].actor_agency.is_none(), "the broker acts");
        store.close().await;
    }

    #[tokio::test]
    async fn deadline_loop_follows_the_clock_and_stops_on_shutdown() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = store(&dir).await;
        let clock = TestClock::new();
        let x = store
            .submit(submission("a", clock.now(), time::Duration::minutes(30)))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .exchange;
        let shutdown = Shutdown::new();
        let job = tokio::spawn(run_job(
            Job::Deadline,
            store.clone(),
            clock.clock(),
            fast_settings(),
            shutdown.clone(),
        ));
        // Time moves past the deadline; the next run marks it.
        clock.advance(time::Duration::hours(1));
        let mut overdue = false;
        for _ in 0..250 {
            if store.get(x.id).await.map(|x| x.overdue).unwrap_or(false) {
                overdue = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(overdue, "the deadline job did not mark the exchange");
        shutdown.trigger();
        tokio::time::timeout(Duration::from_secs(10), job)
            .await
            .unwrap_or_else(|_| panic!("the job did not stop on shutdown"))
            .unwrap_or_else(|e| panic!("{e}"));
        store.close().await;
    }

    #[tokio::test]
    async fn retention_job_purges_content_after_its_retention() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = store(&dir).await;
        let clock = TestClock::new();
        let x = store
            .submit(submission("a", clock.now(), time::Duration::days(5)))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .exchange;
        let ig = Actor {
            agency: Some(id("council")),
            subject: "ig-1".into(),
            roles: vec![Role::IgLead],
        };
        let decision = Decision {
            kind: DecisionKind::Approve,
            decided_by: ig.clone(),
            decided_at: clock.now(),
            categories: vec![id("education")],
            conditions: Conditions::default(),
            reasons: Vec::new(),
            questions: Vec::new(),
            escalate_to: None,
            note: String::new(),
        };
        let x = store
            .apply(
                x.id,
                Some(x.version),
                Change {
                    action: Action::Approve,
                    actor: ig.clone(),
                    now: clock.now(),
                    decision: Some(decision),
                    note: String::new(),
                    approved_scope: Some((vec![id("education")], Conditions::default())),
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let x = store
            .respond(
                x.id,
                x.version,
                vec![ResponseItem {
                    category: id("education"),
                    kind: ItemKind::Fact,
                    content: "attends".into(),
                    recorded_on: T0.date(),
                    historical: false,
                    source_system: None,
                }],
                Actor {
                    roles: vec![Role::Practitioner],
                    ..ig
                },
                clock.now(),
                clock.now() + time::Duration::days(30),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // One that ended without a response (withdrawn now), one still awaiting approval.
        let police = Actor {
            agency: Some(id("police")),
            subject: "pc-1".into(),
            roles: vec![Role::Practitioner],
        };
        let withdrawn = store
            .submit(submission("b", clock.now(), time::Duration::days(5)))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .exchange;
        let withdrawn = store
            .apply(
                withdrawn.id,
                Some(withdrawn.version),
                Change {
                    action: Action::Withdraw,
                    actor: police.clone(),
                    now: clock.now(),
                    decision: None,
                    note: String::new(),
                    approved_scope: None,
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(withdrawn.state, ExchangeState::Withdrawn);
        let waiting = store
            .submit(submission("c", clock.now(), time::Duration::days(5)))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .exchange;

        assert_eq!(
            run_retention_once(&store, clock.now(), UNANSWERED)
                .await
                .ok(),
            Some(0)
        );
        clock.advance(time::Duration::days(31));
        let shutdown = Shutdown::new();
        let job = tokio::spawn(run_job(
            Job::Retention,
            store.clone(),
            clock.clock(),
            fast_settings(),
            shutdown.clone(),
        ));
        let mut purged = false;
        for _ in 0..250 {
            let now = store.get(x.id).await.unwrap_or_else(|e| panic!("{e}"));
            if now.response.as_ref().is_some_and(|r| r.purged) {
                assert!(
                    now.request.is_none(),
                    "the request is purged with the response"
                );
                purged = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(purged, "the retention job did not purge the content");
        // A month on, the withdrawn request is still within its year.
        let now = store
            .get(withdrawn.id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(now.request.is_some(), "withdrawn request purged too early");

        // A year after it was withdrawn, the running job purges it.
        clock.advance(time::Duration::days(335));
        let mut request_purged = false;
        for _ in 0..250 {
            let now = store
                .get(withdrawn.id)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            if now.request.is_none() {
                assert_eq!(now.state, ExchangeState::Withdrawn);
                request_purged = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            request_purged,
            "the retention job did not purge the unanswered request"
        );
        shutdown.trigger();
        tokio::time::timeout(Duration::from_secs(10), job)
            .await
            .unwrap_or_else(|_| panic!("the job did not stop on shutdown"))
            .unwrap_or_else(|e| panic!("{e}"));
        let fetched = store.fetch_response(x.id, police, clock.now()).await;
        assert!(matches!(fetched, Err(StoreError::Precondition(_))));
        // Still awaiting approval: an open exchange keeps its request.
        let open = store
            .get(waiting.id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(open.request.is_some(), "an open request was purged");
        let audit = store
            .audit_query(accord_store::AuditQuery {
                exchange_id: Some(withdrawn.id),
                event_kind: Some("request_purged".into()),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(audit.items.len(), 1);
        assert!(audit.items[0].actor_agency.is_none(), "the broker acts");
        assert_eq!(audit.items[0].detail["ended_state"], "withdrawn");
        // Nothing is left to purge.
        assert_eq!(
            run_retention_once(&store, clock.now(), UNANSWERED)
                .await
                .ok(),
            Some(0)
        );
        assert!(
            store
                .audit_verify()
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .ok
        );
        store.close().await;
    }
}
