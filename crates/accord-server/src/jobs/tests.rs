//! Tests of the background jobs against a real SQLite store, with a clock the tests move.

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
        registry_sync_interval: Duration::from_millis(20),
        unanswered_request_retention: UNANSWERED,
        expiry_grace: Duration::from_secs(30 * 86_400),
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

/// The holding agency's IG lead, who decides in these tests.
fn ig_lead() -> Actor {
    Actor {
        agency: Some(id("council")),
        subject: "ig-1".into(),
        roles: vec![Role::IgLead],
    }
}

/// A decision with nothing but its kind, maker and time; tests fill in the rest.
fn decision(kind: DecisionKind, by: &Actor, at: OffsetDateTime) -> Decision {
    Decision {
        kind,
        decided_by: by.clone(),
        decided_at: at,
        categories: Vec::new(),
        conditions: Conditions::default(),
        reasons: Vec::new(),
        questions: Vec::new(),
        escalate_to: None,
        note: String::new(),
    }
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
        idempotency_key: IdempotencyKey::parse(key).unwrap_or_else(|e| panic!("{e}")),
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
        record_retention: RecordRetention::DEFAULT,
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
async fn expiry_job_expires_unanswered_requests_for_information_after_the_grace() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = store(&dir).await;
    let clock = TestClock::new();
    let asked = store
        .submit(submission("asked", clock.now(), time::Duration::hours(1)))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .exchange;
    let waiting = store
        .submit(submission("waiting", clock.now(), time::Duration::hours(1)))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .exchange;
    let ig = ig_lead();
    let ask = Decision {
        questions: vec!["Which school does the child attend?".into()],
        ..decision(DecisionKind::AskForMoreInformation, &ig, clock.now())
    };
    store
        .apply(
            asked.id,
            Some(asked.version),
            Change {
                command: Command::Decide(DecisionDraft {
                    questions: ask.questions,
                    ..DecisionDraft::new(DecisionKind::AskForMoreInformation)
                }),
                actor: ig,
                now: clock.now(),
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let grace = Duration::from_secs(2 * 86_400);

    // Past the deadline but within the grace: nothing expires.
    clock.advance(time::Duration::days(1));
    assert_eq!(
        run_expiry_once(&store, clock.now(), grace).await.ok(),
        Some(0)
    );

    // Past deadline and grace: the unanswered request for information expires; the
    // exchange still awaiting a decision is the deadline job's (escalation), not expiry's.
    clock.advance(time::Duration::days(2));
    assert_eq!(
        run_expiry_once(&store, clock.now(), grace).await.ok(),
        Some(1)
    );
    let x = store.get(asked.id).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(x.state, ExchangeState::Expired);
    let other = store
        .get(waiting.id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(other.state, ExchangeState::AwaitingApproval);
    assert_eq!(
        run_expiry_once(&store, clock.now(), grace).await.ok(),
        Some(0)
    );
    let audit = store
        .audit_query(accord_store::AuditQuery {
            exchange_id: Some(asked.id),
            event_kind: Some("expire".into()),
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
    let ig = ig_lead();
    let decision = Decision {
        categories: vec![id("education")],
        ..decision(DecisionKind::Approve, &ig, clock.now())
    };
    let x = store
        .apply(
            x.id,
            Some(x.version),
            Change {
                // Approve takes the proposed scope: education.
                command: Command::Decide(DecisionDraft {
                    conditions: decision.conditions,
                    ..DecisionDraft::new(DecisionKind::Approve)
                }),
                actor: ig.clone(),
                now: clock.now(),
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
            30,
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
                command: Command::Withdraw {
                    reason: String::new(),
                },
                actor: police.clone(),
                now: clock.now(),
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
    assert!(matches!(fetched, Err(StoreError::Refused(Refusal::Purged))));
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

#[tokio::test]
async fn retention_job_purges_decision_records_once_their_content_is_gone() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = store(&dir).await;
    let clock = TestClock::new();
    let mut sub = submission("a", clock.now(), time::Duration::days(5));
    sub.record_retention = RecordRetention::Days(40);
    let x = store
        .submit(sub)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .exchange;
    store
        .apply(
            x.id,
            Some(x.version),
            Change {
                command: Command::Withdraw {
                    reason: "no longer needed".into(),
                },
                actor: Actor {
                    agency: Some(id("police")),
                    subject: "pc-1".into(),
                    roles: vec![Role::Practitioner],
                },
                now: clock.now(),
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let run = |at| {
        let store = store.clone();
        async move {
            run_retention_once(&store, at, UNANSWERED)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        }
    };
    // Past the record's retention, but the withdrawn request is kept for its year: the
    // record waits for it.
    clock.advance(time::Duration::days(41));
    assert_eq!(run(clock.now()).await, 0);
    let kept = store.get(x.id).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(kept.request.is_some() && kept.reasons.is_some() && !kept.record_purged);

    // A year on, the request goes, and the record after it in the same run.
    clock.advance(time::Duration::days(366));
    assert_eq!(run(clock.now()).await, 2);
    let gone = store.get(x.id).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(gone.request.is_none() && gone.reasons.is_none() && gone.record_purged);
    let audit = store
        .audit_query(accord_store::AuditQuery {
            exchange_id: Some(x.id),
            event_kind: Some("decision_record_purged".into()),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(audit.items.len(), 1);
    assert!(audit.items[0].actor_agency.is_none(), "the broker acts");
    assert_eq!(run(clock.now()).await, 0, "nothing is left to purge");
    assert!(
        store
            .audit_verify()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .ok
    );
    store.close().await;
}

fn registry() -> Registry {
    Registry::new(vec![crate::registry::LoadedProtocol {
        path: "test.toml".into(),
        protocol: crate::registry::tests::protocol(
            "test-isp",
            &[("police", "active"), ("council", "active")],
        ),
    }])
    .unwrap_or_else(|e| panic!("{e}"))
}

fn police_status(r: &Registry) -> SignatoryStatus {
    r.signatory("test-isp", "police")
        .map(|s| s.status)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Records `change` as the handler does: check, record, apply to `r`.
async fn record(store: &Store, r: &Registry, change: &AdminChange) -> u64 {
    r.preview(change, T0.date())
        .unwrap_or_else(|e| panic!("{e}"));
    let admin = Actor {
        agency: Some(id("council")),
        subject: "admin-1".into(),
        roles: vec![Role::Admin],
    };
    let entry = store
        .record_event(change.to_event(), admin, T0)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    r.apply_recorded(entry.sequence, change)
        .unwrap_or_else(|e| panic!("{e}"));
    entry.sequence
}

#[tokio::test]
async fn registry_sync_applies_other_replicas_changes_once() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = store(&dir).await;
    assert_eq!(audit_head(&store).await.ok(), Some(0));
    // Some unrelated entries first.
    for key in ["a", "b", "c"] {
        store
            .submit(submission(key, T0, time::Duration::days(5)))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let head = audit_head(&store).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(head >= 3, "{head}");
    let last = store
        .audit_range(head, None, 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(last.len(), 1, "the head is the last entry");

    // Two replicas, both started (synced) at the current head.
    let one = registry();
    let two = registry();
    one.advance_to(head);
    two.advance_to(head);
    let suspend = AdminChange::Suspend {
        protocol_id: id("test-isp"),
        agency_id: id("police"),
        reason: "breach".into(),
    };
    let seq = record(&store, &one, &suspend).await;
    assert_eq!(audit_head(&store).await.ok(), Some(seq));
    assert_eq!(police_status(&one), SignatoryStatus::Suspended);
    assert_eq!(police_status(&two), SignatoryStatus::Active);

    // Replica two learns of it; replica one's own change is a no-op for its sync.
    assert_eq!(run_registry_sync_once(&store, &two).await.ok(), Some(1));
    assert_eq!(police_status(&two), SignatoryStatus::Suspended);
    assert_eq!(two.applied_through(), seq);
    assert_eq!(run_registry_sync_once(&store, &one).await.ok(), Some(0));
    assert_eq!(police_status(&one), SignatoryStatus::Suspended);
    // Nothing new: nothing applied.
    assert_eq!(run_registry_sync_once(&store, &two).await.ok(), Some(0));

    // A registry that never synced reads the whole log and ends in the same place.
    let fresh = registry();
    assert_eq!(run_registry_sync_once(&store, &fresh).await.ok(), Some(1));
    assert_eq!(police_status(&fresh), SignatoryStatus::Suspended);

    // The running loop on replica two picks up a reinstatement made through one.
    let shutdown = Shutdown::new();
    let job = tokio::spawn(run_registry_sync(
        store.clone(),
        two.clone(),
        Duration::from_millis(20),
        shutdown.clone(),
    ));
    let reinstate = AdminChange::Reinstate {
        protocol_id: id("test-isp"),
        agency_id: id("police"),
        reason: "closed".into(),
    };
    record(&store, &one, &reinstate).await;
    let mut active = false;
    for _ in 0..250 {
        if police_status(&two) == SignatoryStatus::Active {
            active = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(active, "the sync job did not apply the reinstatement");
    shutdown.trigger();
    tokio::time::timeout(Duration::from_secs(10), job)
        .await
        .unwrap_or_else(|_| panic!("the job did not stop on shutdown"))
        .unwrap_or_else(|e| panic!("{e}"));
    store.close().await;
}
