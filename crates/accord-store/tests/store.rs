//! The store's test suite. Every test body runs against both backends: `<name>::sqlite` on a
//! fresh SQLite file and `<name>::postgres` on a fresh PostgreSQL database (which fails,
//! not skips, when the server is unreachable).

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use accord_domain::*;
use accord_store::*;
use anyhow::{anyhow, bail, ensure, Result};
use common::*;
use time::Duration;
use uuid::Uuid;

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    run(Backend::Sqlite, super::$name).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    run(Backend::Postgres, super::$name).await
                }
            }
        )*
    };
}

on_both_backends!(
    full_lifecycle,
    refused_submission_is_recorded,
    idempotent_retry_returns_the_first_exchange,
    invalid_transition_is_an_error,
    concurrent_decisions_exactly_one_wins,
    failures_in_a_batch_fail_alone,
    tampered_audit_row_is_named,
    checkpoints_are_signed_and_forgeries_detected,
    subject_hash_finds_the_child_and_log_holds_no_identifier,
    response_encrypted_at_rest_and_purged_after_retention,
    unanswered_requests_purged_after_their_retention,
    inbox_resumes_from_cursor,
    list_is_scoped_to_one_agency,
    overdue_requests_are_escalated_once,
    audit_query_filters_and_pages,
    stats_count_exchanges,
    two_stores_append_concurrently_to_one_chain,
    crash_loses_no_acknowledged_append,
);

fn kinds(entries: &[AuditEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.event_kind.as_str()).collect()
}

async fn all_entries(store: &Store) -> Result<Vec<AuditEntry>> {
    Ok(store.audit_range(1, None, 1_000_000).await?)
}

async fn full_lifecycle(t: TestDb) -> Result<()> {
    let store = t.open().await?;
    let child = nhs("943 476 5919");
    let sub = store
        .submit(submission(
            "k1",
            "police",
            "council",
            &child,
            Outcome::ProceedToApproval,
            at(0),
        ))
        .await?;
    assert!(!sub.replayed);
    let x = sub.exchange;
    assert_eq!(x.state, ExchangeState::AwaitingApproval);
    assert_eq!(x.version, 1);
    assert_eq!(
        x.request.as_ref().map(|r| r.child.name.as_str()),
        Some(CHILD_NAME)
    );
    assert_eq!(x.created_at, at(0));

    let holder_inbox = store.inbox(&agency("council"), None, 10).await?;
    assert_eq!(holder_inbox.len(), 1);
    assert_eq!(holder_inbox[0].kind, InboxEventKind::RequestReceived);
    assert!(store.inbox(&agency("police"), None, 10).await?.is_empty());

    let lead = ig_lead("council", "lead");
    let asked = store
        .apply(
            x.id,
            Some(1),
            change(
                Action::AskForMoreInformation,
                &lead,
                at(5),
                Some(decision(
                    DecisionKind::AskForMoreInformation,
                    &lead,
                    at(5),
                    vec![],
                )),
            ),
        )
        .await?;
    assert_eq!(asked.state, ExchangeState::MoreInfoRequested);
    let answered = store
        .apply(
            x.id,
            Some(2),
            change(
                Action::AnswerInformationRequest,
                &practitioner("police"),
                at(6),
                None,
            ),
        )
        .await?;
    assert_eq!(answered.state, ExchangeState::AwaitingApproval);
    let mut part = decision(
        DecisionKind::ApprovePart,
        &lead,
        at(10),
        vec![cat("health")],
    );
    part.conditions = Conditions {
        no_onward_disclosure: true,
        ..Conditions::default()
    };
    let approve = change(Action::ApprovePart, &lead, at(10), Some(part));
    let approved = store.apply(x.id, Some(3), approve).await?;
    assert_eq!(approved.state, ExchangeState::PartlyApproved);
    assert_eq!(approved.approved_scope, vec![cat("health")]);
    assert!(approved.conditions.no_onward_disclosure);
    assert_eq!(approved.decisions.len(), 2);
    // The repeat-sharing rule sees the approved scope, not everything that was asked for.
    let prior = store
        .prior_exchanges(std::slice::from_ref(&child), at(0))
        .await?;
    assert_eq!(prior.len(), 1);
    assert_eq!(prior[0].categories, vec![cat("health")]);

    // Only approved categories may be delivered.
    let err = store
        .respond(
            x.id,
            4,
            vec![item("education", "attendance 80%")],
            practitioner("council"),
            at(20),
            30,
        )
        .await;
    assert!(
        matches!(err, Err(StoreError::Refused(Refusal::Invalid(_)))),
        "{err:?}"
    );

    let responded = store
        .respond(
            x.id,
            4,
            vec![item("health", "seen at A&E")],
            practitioner("council"),
            at(20),
            30,
        )
        .await?;
    assert_eq!(responded.state, ExchangeState::Responded);
    let meta = responded
        .response
        .clone()
        .ok_or_else(|| anyhow!("no response meta"))?;
    assert_eq!(meta.categories, vec![cat("health")]);
    assert!(!meta.purged);

    let (delivered, items) = store
        .fetch_response(x.id, practitioner("police"), at(30))
        .await?;
    assert_eq!(delivered.state, ExchangeState::Delivered);
    assert_eq!(items, vec![item("health", "seen at A&E")]);
    // A re-fetch of delivered content is allowed, changes nothing, and is recorded.
    let (again, items2) = store
        .fetch_response(x.id, practitioner("police"), at(31))
        .await?;
    assert_eq!(again.version, delivered.version);
    assert_eq!(items2, items);

    let acked = store
        .apply(
            x.id,
            Some(delivered.version),
            change(Action::Acknowledge, &practitioner("police"), at(40), None),
        )
        .await?;
    assert_eq!(acked.state, ExchangeState::Acknowledged);
    let closed = store
        .apply(
            x.id,
            None,
            change(Action::Close, &practitioner("police"), at(41), None),
        )
        .await?;
    assert_eq!(closed.state, ExchangeState::Closed);
    assert_eq!(store.get(x.id).await?, closed);

    let entries = all_entries(&store).await?;
    assert_eq!(
        kinds(&entries),
        [
            "submitted",
            "sent_for_approval",
            "ask_for_more_information",
            "answer_information_request",
            "approve_part",
            "respond",
            "fetch",
            "fetch",
            "acknowledge",
            "close"
        ]
    );
    let respond = &entries[5];
    assert_eq!(
        respond.content_sha256.as_deref(),
        Some(meta.content_sha256.as_str())
    );
    assert_eq!(respond.content_size, Some(meta.content_size));
    assert_eq!(respond.state_from, Some(ExchangeState::PartlyApproved));
    assert_eq!(respond.state_to, Some(ExchangeState::Responded));
    assert_eq!(entries[0].detail["practitioner"]["name"], "Pat Officer");
    for w in entries.windows(2) {
        assert_eq!(w[1].prev_hash, w[0].entry_hash);
    }
    let requester_inbox = store.inbox(&agency("police"), None, 10).await?;
    assert_eq!(
        requester_inbox.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [
            InboxEventKind::MoreInfoRequested,
            InboxEventKind::DecisionMade,
            InboxEventKind::ResponseReady
        ]
    );
    let report = store.audit_verify().await?;
    assert!(report.ok, "{report:?}");
    assert_eq!(report.entries_checked, 10);
    store.close().await;
    Ok(())
}

async fn refused_submission_is_recorded(t: TestDb) -> Result<()> {
    let store = t.open().await?;
    let x = store
        .submit(submission(
            "k1",
            "police",
            "council",
            &nhs("1"),
            Outcome::Refuse,
            at(0),
        ))
        .await?
        .exchange;
    assert_eq!(x.state, ExchangeState::Refused);
    let entries = all_entries(&store).await?;
    assert_eq!(kinds(&entries), ["submitted", "refused"]);
    assert_eq!(entries[1].state_from, Some(ExchangeState::Submitted));
    assert_eq!(entries[1].state_to, Some(ExchangeState::Refused));
    assert_eq!(
        entries[1].detail["findings"][0]["rule_id"],
        "R13-repeat-sharing"
    );
    let inbox = store.inbox(&agency("police"), None, 10).await?;
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].kind, InboxEventKind::Refused);
    assert!(
        store.inbox(&agency("council"), None, 10).await?.is_empty(),
        "holder must not see a refused request"
    );
    // A refused request cannot be approved.
    let lead = ig_lead("council", "lead");
    let r = store
        .apply(
            x.id,
            None,
            change(
                Action::Approve,
                &lead,
                at(1),
                Some(decision(DecisionKind::Approve, &lead, at(1), vec![])),
            ),
        )
        .await;
    assert!(matches!(r, Err(StoreError::InvalidTransition(_))), "{r:?}");
    store.close().await;
    Ok(())
}

async fn idempotent_retry_returns_the_first_exchange(t: TestDb) -> Result<()> {
    let store = t.open().await?;
    let first = store
        .submit(submission(
            "same",
            "police",
            "council",
            &nhs("1"),
            Outcome::ProceedToApproval,
            at(0),
        ))
        .await?;
    let retry = store
        .submit(submission(
            "same",
            "police",
            "council",
            &nhs("1"),
            Outcome::ProceedToApproval,
            at(1),
        ))
        .await?;
    assert!(retry.replayed);
    assert_eq!(retry.exchange, first.exchange);
    // Concurrent retries land in one batch or several; either way one exchange.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.submit(submission(
                "burst",
                "police",
                "council",
                &nhs("2"),
                Outcome::ProceedToApproval,
                at(2),
            ))
            .await
        }));
    }
    let mut ids = HashSet::new();
    let mut fresh = 0;
    for t in tasks {
        let r = t.await??;
        ids.insert(r.exchange.id);
        fresh += usize::from(!r.replayed);
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(fresh, 1);
    // The key is scoped to the requesting agency.
    let other = store
        .submit(submission(
            "same",
            "school",
            "council",
            &nhs("1"),
            Outcome::ProceedToApproval,
            at(3),
        ))
        .await?;
    assert!(!other.replayed);
    assert_ne!(other.exchange.id, first.exchange.id);
    assert_eq!(
        all_entries(&store).await?.len(),
        6,
        "retries write no audit entries"
    );
    store.close().await;
    Ok(())
}

async fn invalid_transition_is_an_error(t: TestDb) -> Result<()> {
    let store = t.open().await?;
    let x = store
        .submit(submission(
            "k",
            "police",
            "council",
            &nhs("1"),
            Outcome::ProceedToApproval,
            at(0),
        ))
        .await?
        .exchange;
    let before = all_entries(&store).await?.len();
    let r = store
        .apply(
            x.id,
            Some(1),
            change(Action::Acknowledge, &practitioner("police"), at(1), None),
        )
        .await;
    assert!(
        matches!(
            r,
            Err(StoreError::InvalidTransition(InvalidTransition {
                from: ExchangeState::AwaitingApproval,
                action: Action::Acknowledge
            }))
        ),
        "{r:?}"
    );
    let r = store
        .respond(
            x.id,
            1,
            vec![item("health", "x")],
            practitioner("council"),
            at(1),
            1,
        )
        .await;
    assert!(matches!(r, Err(StoreError::InvalidTransition(_))), "{r:?}");
    let r = store
        .fetch_response(x.id, practitioner("police"), at(1))
        .await;
    assert!(
        matches!(r, Err(StoreError::Refused(Refusal::NoResponse))),
        "{r:?}"
    );
    let r = store
        .apply(
            Uuid::now_v7(),
            None,
            change(Action::Withdraw, &practitioner("police"), at(1), None),
        )
        .await;
    assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");
    // A decline must carry its decision and reasons.
    let r = store
        .apply(
            x.id,
            Some(1),
            change(Action::Decline, &ig_lead("council", "l"), at(1), None),
        )
        .await;
    assert!(
        matches!(r, Err(StoreError::Refused(Refusal::Invalid(_)))),
        "{r:?}"
    );
    assert_eq!(store.get(x.id).await?, x, "nothing changed");
    assert_eq!(all_entries(&store).await?.len(), before, "nothing audited");
    store.close().await;
    Ok(())
}

async fn concurrent_decisions_exactly_one_wins(t: TestDb) -> Result<()> {
    let store = t.open().await?;
    for round in 0..10 {
        let x = store
            .submit(submission(
                &format!("k{round}"),
                "police",
                "council",
                &nhs(&round.to_string()),
                Outcome::ProceedToApproval,
                at(0),
            ))
            .await?
            .exchange;
        let alice = ig_lead("council", "alice");
        let bob = ig_lead("council", "bob");
        let a = {
            let s = store.clone();
            let c = change(
                Action::Approve,
                &alice,
                at(1),
                Some(decision(DecisionKind::Approve, &alice, at(1), vec![])),
            );
            tokio::spawn(async move { s.apply(x.id, Some(1), c).await })
        };
        let b = {
            let s = store.clone();
            let c = change(
                Action::Decline,
                &bob,
                at(1),
                Some(decision(DecisionKind::Decline, &bob, at(1), vec![])),
            );
            tokio::spawn(async move { s.apply(x.id, Some(1), c).await })
        };
        let (a, b) = (a.await?, b.await?);
        let wins = usize::from(a.is_ok()) + usize::from(b.is_ok());
        ensure!(wins == 1, "round {round}: {a:?} / {b:?}");
        let loser = if a.is_ok() { b } else { a };
        assert!(
            matches!(
                loser,
                Err(StoreError::Conflict {
                    expected: 1,
                    found: 2,
                    ..
                })
            ),
            "{loser:?}"
        );
        let now = store.get(x.id).await?;
        assert_eq!(now.version, 2);
        assert_eq!(now.decisions.len(), 1);
    }
    let entries = all_entries(&store).await?;
    assert_eq!(entries.len(), 10 * 3, "one decision entry per exchange");
    assert!(store.audit_verify().await?.ok);
    store.close().await;
    Ok(())
}

async fn failures_in_a_batch_fail_alone(t: TestDb) -> Result<()> {
    let store = t.open().await?;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(
            store
                .submit(submission(
                    &format!("k{i}"),
                    "police",
                    "council",
                    &nhs(&i.to_string()),
                    Outcome::ProceedToApproval,
                    at(0),
                ))
                .await?
                .exchange
                .id,
        );
    }
    let lead = ig_lead("council", "lead");
    let mut tasks = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let s = store.clone();
        let id = *id;
        // Odd ones are invalid (wrong version); they must not disturb their batch-mates.
        let version = if i % 2 == 0 { 1 } else { 7 };
        let c = change(
            Action::Approve,
            &lead,
            at(1),
            Some(decision(DecisionKind::Approve, &lead, at(1), vec![])),
        );
        tasks.push(tokio::spawn(
            async move { s.apply(id, Some(version), c).await },
        ));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        let r = t.await?;
        if i % 2 == 0 {
            assert_eq!(r?.state, ExchangeState::Approved);
        } else {
            assert!(matches!(r, Err(StoreError::Conflict { .. })), "{r:?}");
        }
    }
    assert_eq!(all_entries(&store).await?.len(), 20 * 2 + 10);
    assert!(store.audit_verify().await?.ok);
    store.close().await;
    Ok(())
}

async fn make_entries(store: &Store, n: usize) -> Result<()> {
    for i in 0..n {
        store
            .record_event(
                AdminEvent {
                    kind: AuditEventKind::SignatoryReaffirmed,
                    protocol_id: "sandwell-isp".into(),
                    agency_id: Some(agency("school")),
                    detail: serde_json::json!({ "n": i }),
                },
                Actor {
                    agency: Some(agency("partnership")),
                    subject: "admin-1".into(),
                    roles: vec![Role::Admin],
                },
                at(i as i64),
            )
            .await?;
    }
    Ok(())
}

async fn tampered_audit_row_is_named(t: TestDb) -> Result<()> {
    let store = t.open().await?;
    store
        .submit(submission(
            "k",
            "police",
            "council",
            &nhs("1"),
            Outcome::ProceedToApproval,
            at(0),
        ))
        .await?;
    make_entries(&store, 6).await?;
    assert!(store.audit_verify().await?.ok);

    // An export verifies offline, and an altered exported entry is named too.
    let mut export = all_entries(&store).await?;
    let offline = verify_entries(&export);
    assert!(offline.ok && offline.entries_checked == 8, "{offline:?}");
    assert_eq!(compute_entry_hash(&export[2])?, export[2].entry_hash);
    assert!(
        verify_entries(&export[3..]).ok,
        "a run may start later in the chain"
    );
    export[4].detail["detail"]["n"] = serde_json::json!(99);
    assert_eq!(verify_entries(&export).first_bad_sequence, Some(5));

    t.exec("UPDATE audit_log SET actor_subject = 'mallory' WHERE sequence = 5")
        .await?;
    let report = store.audit_verify().await?;
    assert!(!report.ok);
    assert_eq!(report.first_bad_sequence, Some(5), "{report:?}");
    assert_eq!(report.entries_checked, 4);
    assert!(
        report.problem.as_deref().unwrap_or("").contains("altered"),
        "{report:?}"
    );

    // Re-hashing the altered row is caught by the next entry's link.
    t.exec("UPDATE audit_log SET actor_subject = 'admin-1' WHERE sequence = 5")
        .await?;
    assert!(store.audit_verify().await?.ok);
    t.exec("UPDATE audit_log SET prev_hash = entry_hash WHERE sequence = 3")
        .await?;
    assert_eq!(store.audit_verify().await?.first_bad_sequence, Some(3));
    t.exec("UPDATE audit_log SET prev_hash = (SELECT entry_hash FROM audit_log WHERE sequence = 2) WHERE sequence = 3").await?;
    // A deleted entry is named too.
    t.exec("DELETE FROM audit_log WHERE sequence = 4").await?;
    let report = store.audit_verify().await?;
    assert_eq!(report.first_bad_sequence, Some(4), "{report:?}");
    store.close().await;
    Ok(())
}

async fn checkpoints_are_signed_and_forgeries_detected(t: TestDb) -> Result<()> {
    let store = t.open_with(|c| c.checkpoint_every = 5).await?;
    make_entries(&store, 23).await?;
    let report = store.audit_verify().await?;
    assert!(report.ok && report.checkpoints_valid, "{report:?}");
    assert_eq!(report.last_checkpoint_sequence, Some(20));
    assert_eq!(t.count("audit_checkpoints").await?, 4);
    store.close().await;

    // The same log verified with another key: its checkpoints do not verify.
    let other = t
        .open_with(|c| c.signing_key = ed25519_dalek::SigningKey::from_bytes(&[42; 32]))
        .await?;
    let report = other.audit_verify().await?;
    assert!(!report.checkpoints_valid && !report.ok, "{report:?}");
    assert_eq!(
        report.first_bad_sequence, None,
        "the chain itself is intact"
    );
    other.close().await;

    // A forged signature (valid for another message) is detected.
    let store = t.open().await?;
    t.exec("UPDATE audit_checkpoints SET signature = (SELECT signature FROM audit_checkpoints WHERE sequence = 5) WHERE sequence = 10").await?;
    let report = store.audit_verify().await?;
    assert!(!report.checkpoints_valid, "{report:?}");
    assert!(
        report
            .problem
            .as_deref()
            .unwrap_or("")
            .contains("checkpoint 10"),
        "{report:?}"
    );
    store.close().await;

    // Truncating the log's tail is caught by a checkpoint that points past the end.
    let store = t.open().await?;
    t.exec("DELETE FROM audit_checkpoints WHERE sequence = 10")
        .await?;
    assert!(store.audit_verify().await?.ok);
    t.exec("DELETE FROM audit_log WHERE sequence > 18").await?;
    let report = store.audit_verify().await?;
    assert!(!report.ok, "{report:?}");
    assert!(
        report
            .problem
            .as_deref()
            .unwrap_or("")
            .contains("beyond the last entry"),
        "{report:?}"
    );
    store.close().await;
    Ok(())
}

async fn subject_hash_finds_the_child_and_log_holds_no_identifier(t: TestDb) -> Result<()> {
    let store = t.open().await?;
    let jess = nhs("943 476 5919");
    let other = nhs("401 023 2137");
    let a = store
        .submit(submission(
            "a",
            "police",
            "council",
            &jess,
            Outcome::ProceedToApproval,
            at(0),
        ))
        .await?
        .exchange;
    let b = store
        .submit(submission(
            "b",
            "school",
            "health-trust",
            &nhs("9434765919"),
            Outcome::Refuse,
            at(10),
        ))
        .await?
        .exchange;
    let c = store
        .submit(submission(
            "c",
            "police",
            "council",
            &other,
            Outcome::ProceedToApproval,
            at(20),
        ))
        .await?
        .exchange;

    let h = store.subject_hash(&jess);
    assert_eq!(h.len(), 64);
    assert_eq!(
        h,
        store.subject_hash(&nhs("9434765919")),
        "canonical form ignores spaces"
    );
    let page = store
        .audit_query(AuditQuery {
            subject_hash: Some(h.clone()),
            page_size: 100,
            ..AuditQuery::default()
        })
        .await?;
    let found: HashSet<Uuid> = page.items.iter().filter_map(|e| e.exchange_id).collect();
    assert_eq!(found, HashSet::from([a.id, b.id]));
    assert!(page.items.iter().all(|e| e.subject_hashes.contains(&h)));

    let prior = store
        .prior_exchanges(std::slice::from_ref(&jess), at(0))
        .await?;
    assert_eq!(
        prior.iter().map(|p| p.exchange_id).collect::<Vec<_>>(),
        [a.id, b.id]
    );
    assert_eq!(prior[0].child_identifiers, vec![jess.clone()]);
    // Nothing approved yet: the categories requested (the assessment's scope and trims).
    assert_eq!(prior[0].categories, vec![cat("health"), cat("education")]);
    assert_eq!(
        store
            .prior_exchanges(std::slice::from_ref(&jess), at(5))
            .await?
            .len(),
        1,
        "since is honoured"
    );
    assert_eq!(
        store
            .prior_exchanges(std::slice::from_ref(&other), at(0))
            .await?[0]
            .exchange_id,
        c.id
    );

    for table in [
        "audit_log",
        "exchange_subjects",
        "exchanges",
        "inbox_events",
    ] {
        let text = t.table_text(table).await?;
        assert!(!text.is_empty());
        for clear in [
            "9434765919",
            "943 476 5919",
            "4010232137",
            CHILD_NAME,
            "Jessamy",
            "disclosed harm",
        ] {
            assert!(!text.contains(clear), "{table} holds {clear:?} in clear");
        }
    }
    if t.backend() == Backend::Sqlite {
        store.close().await;
        for f in t.sqlite_files() {
            let bytes = std::fs::read(&f)?;
            for clear in ["9434765919".as_bytes(), CHILD_NAME.as_bytes()] {
                assert!(
                    !bytes.windows(clear.len()).any(|w| w == clear),
                    "{} holds an identifier in clear",
                    f.display()
                );
            }
        }
    } else {
        store.close().await;
    }
    Ok(())
}

async fn response_encrypted_at_rest_and_purged_after_retention(t: TestDb) -> Result<()> {
    let store = t.open().await?;
    let x = store
        .submit(submission(
            "k",
            "police",
            "council",
            &nhs("1"),
            Outcome::ProceedToApproval,
            at(0),
        ))
        .await?
        .exchange;
    let lead = ig_lead("council", "lead");
    store
        .apply(
            x.id,
            Some(1),
            change(
                Action::Approve,
                &lead,
                at(1),
                Some(decision(DecisionKind::Approve, &lead, at(1), vec![])),
            ),
        )
        .await?;
    let secret = "Injuries consistent with a fall, seen 2025-01-09 by Dr Verity";
    // Kept for the purpose's one day from the response.
    let retain_until = at(2) + Duration::days(1);
    let x = store
        .respond(
            x.id,
            2,
            vec![item("health", secret)],
            practitioner("council"),
            at(2),
            1,
        )
        .await?;

    let ct = t
        .blob(
            "SELECT content_ct FROM responses WHERE exchange_id = $1",
            x.id,
        )
        .await?
        .ok_or_else(|| anyhow!("no ciphertext"))?;
    assert!(
        !ct.windows(6).any(|w| w == b"Injuri"),
        "response stored in clear"
    );
    let req_ct = t
        .blob("SELECT request_ct FROM exchanges WHERE id = $1", x.id)
        .await?
        .ok_or_else(|| anyhow!("no request"))?;
    assert!(
        !req_ct.windows(8).any(|w| w == b"Jessamy "),
        "request stored in clear"
    );
    let text = t.table_text("responses").await?;
    assert!(!text.contains("Injuries") && !text.contains("Verity"));

    assert_eq!(
        store
            .purge_expired_content(retain_until - Duration::seconds(1))
            .await?,
        0,
        "not before retain_until"
    );
    let (_, items) = store
        .fetch_response(x.id, practitioner("police"), at(3))
        .await?;
    assert_eq!(items[0].content, secret);

    assert_eq!(store.purge_expired_content(retain_until).await?, 1);
    assert_eq!(
        store.purge_expired_content(retain_until).await?,
        0,
        "purged once"
    );
    let after = store.get(x.id).await?;
    assert!(after.request.is_none(), "request purged with the response");
    let meta = after
        .response
        .clone()
        .ok_or_else(|| anyhow!("response meta must stay"))?;
    assert!(meta.purged);
    assert_eq!(
        t.blob(
            "SELECT content_ct FROM responses WHERE exchange_id = $1",
            x.id
        )
        .await?,
        None
    );
    assert_eq!(
        t.blob("SELECT request_ct FROM exchanges WHERE id = $1", x.id)
            .await?,
        None
    );
    let r = store
        .fetch_response(x.id, practitioner("police"), at(60 * 25))
        .await;
    assert!(
        matches!(r, Err(StoreError::Refused(Refusal::Purged))),
        "{r:?}"
    );

    let entries = all_entries(&store).await?;
    let respond = entries
        .iter()
        .find(|e| e.event_kind == "respond")
        .ok_or_else(|| anyhow!("no respond entry"))?;
    let purged = entries
        .iter()
        .find(|e| e.event_kind == "content_purged")
        .ok_or_else(|| anyhow!("no purge entry"))?;
    assert_eq!(
        purged.content_sha256, respond.content_sha256,
        "the digest of what was shared stays"
    );
    assert_eq!(purged.content_size, respond.content_size);
    assert_eq!(purged.categories, vec![cat("health")]);
    // The digest is SHA-256 of the canonical plaintext: reproducible by anyone holding it.
    let canonical = format!(
        r#"[{{"category":"health","content":"{secret}","historical":false,"kind":"fact","recorded_on":[2025,10],"source_system":"records"}}]"#
    );
    use sha2::Digest;
    assert_eq!(
        respond.content_sha256.clone().unwrap_or_default(),
        hex::encode(sha2::Sha256::digest(canonical.as_bytes()))
    );
    assert!(store.audit_verify().await?.ok);
    store.close().await;
    Ok(())
}

async fn unanswered_requests_purged_after_their_retention(t: TestDb) -> Result<()> {
    let store = t.open().await?;
    let police = practitioner("police");
    let lead = ig_lead("council", "lead");
    let submit = |key: &'static str, outcome: Outcome| {
        let store = store.clone();
        async move {
            Ok::<_, anyhow::Error>(
                store
                    .submit(submission(
                        key,
                        "police",
                        "council",
                        &nhs(key),
                        outcome,
                        at(0),
                    ))
                    .await?
                    .exchange,
            )
        }
    };

    // Ended without a response: refused by the policy check at 0, withdrawn at 1.
    let refused = submit("refused", Outcome::Refuse).await?;
    assert_eq!(refused.state, ExchangeState::Refused);
    let withdrawn = submit("withdrawn", Outcome::ProceedToApproval).await?;
    let withdrawn = store
        .apply(
            withdrawn.id,
            Some(withdrawn.version),
            change(Action::Withdraw, &police, at(1), None),
        )
        .await?;
    assert_eq!(withdrawn.state, ExchangeState::Withdrawn);
    // Still open: awaiting approval since 0.
    let waiting = submit("waiting", Outcome::ProceedToApproval).await?;
    // Answered: responded at 3, and one answered and then closed (a terminal state, but
    // with a response row, so its request follows the response's retention instead).
    let mut answered = Vec::new();
    for key in ["responded", "answered-closed"] {
        let x = submit(key, Outcome::ProceedToApproval).await?;
        let x = store
            .apply(
                x.id,
                Some(x.version),
                change(
                    Action::Approve,
                    &lead,
                    at(2),
                    Some(decision(DecisionKind::Approve, &lead, at(2), vec![])),
                ),
            )
            .await?;
        let x = store
            .respond(
                x.id,
                x.version,
                vec![item("health", "seen at the clinic")],
                practitioner("council"),
                at(3),
                365,
            )
            .await?;
        answered.push(x);
    }
    let (x, _) = store
        .fetch_response(answered[1].id, police.clone(), at(4))
        .await?;
    let x = store
        .apply(
            x.id,
            Some(x.version),
            change(Action::Acknowledge, &police, at(5), None),
        )
        .await?;
    let x = store
        .apply(
            x.id,
            Some(x.version),
            change(Action::Close, &police, at(6), None),
        )
        .await?;
    assert_eq!(x.state, ExchangeState::Closed);
    answered[1] = x;

    // Only what ended at or before the cutoff: nothing before 0, the refused one (ended at
    // 0) at 0, the withdrawn one (ended at 1) later.
    assert_eq!(
        store
            .purge_unanswered_requests(at(0) - Duration::seconds(1))
            .await?,
        0,
        "not before the cutoff"
    );
    assert_eq!(store.purge_unanswered_requests(at(0)).await?, 1);
    assert!(store.get(refused.id).await?.request.is_none());
    assert!(store.get(withdrawn.id).await?.request.is_some());
    assert_eq!(store.purge_unanswered_requests(at(60 * 24)).await?, 1);
    assert_eq!(
        store.purge_unanswered_requests(at(60 * 24)).await?,
        0,
        "purged once"
    );

    for ended in [&refused, &withdrawn] {
        let after = store.get(ended.id).await?;
        assert!(after.request.is_none(), "{:?}: request kept", ended.state);
        assert_eq!(after.state, ended.state, "the state does not change");
        assert_eq!(after.version, ended.version + 1);
        assert!(after.updated_at >= ended.updated_at);
        assert_eq!(
            t.blob("SELECT request_ct FROM exchanges WHERE id = $1", ended.id)
                .await?,
            None,
            "{:?}: ciphertext still stored",
            ended.state
        );
        let entries = store
            .audit_query(AuditQuery {
                exchange_id: Some(ended.id),
                event_kind: Some("request_purged".into()),
                ..Default::default()
            })
            .await?
            .items;
        ensure!(entries.len() == 1, "{:?}: {entries:?}", ended.state);
        let e = &entries[0];
        assert_eq!(e.actor_agency, None, "the broker purges");
        assert_eq!(e.actor_subject, Actor::system().subject);
        assert_eq!(e.state_from, None);
        assert_eq!(e.state_to, None);
        assert_eq!(e.requesting_agency, Some(agency("police")));
        assert_eq!(e.detail["ended_state"], ended.state.as_str());
        assert_eq!(e.detail["request_purged"], true);
    }
    for kept in [&waiting, &answered[0], &answered[1]] {
        let after = store.get(kept.id).await?;
        assert!(after.request.is_some(), "{:?}: request purged", kept.state);
        assert_eq!(after.version, kept.version, "{:?}: changed", kept.state);
    }
    let (_, items) = store
        .fetch_response(answered[0].id, police.clone(), at(60 * 24))
        .await?;
    assert_eq!(
        items[0].content, "seen at the clinic",
        "the response is untouched"
    );

    let entries = all_entries(&store).await?;
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.event_kind == "request_purged")
            .count(),
        2
    );
    let report = store.audit_verify().await?;
    assert!(report.ok, "{report:?}");
    assert_eq!(report.entries_checked, entries.len() as u64);
    store.close().await;
    Ok(())
}

async fn inbox_resumes_from_cursor(t: TestDb) -> Result<()> {
    let store = t.open().await?;
    let mut notified = store.inbox_notifier();
    let before = *notified.borrow_and_update();
    for i in 0..5 {
        store
            .submit(submission(
                &format!("k{i}"),
                "police",
                "council",
                &nhs(&i.to_string()),
                Outcome::ProceedToApproval,
                at(i),
            ))
            .await?;
    }
    store
        .submit(submission(
            "r",
            "school",
            "council",
            &nhs("9"),
            Outcome::ProceedToApproval,
            at(9),
        ))
        .await?;
    assert!(
        notified.has_changed()?,
        "the notifier is bumped after a commit"
    );
    assert!(*notified.borrow() > before);
    let council = agency("council");
    let first = store.inbox(&council, None, 2).await?;
    assert_eq!(first.len(), 2);
    let rest = store.inbox(&council, Some(first[1].cursor), 100).await?;
    assert_eq!(rest.len(), 4);
    assert!(rest
        .iter()
        .all(|e| e.cursor > first[1].cursor && e.agency == council));
    let all = store.inbox(&council, None, 100).await?;
    assert_eq!(
        all.iter().map(|e| e.cursor).collect::<Vec<_>>(),
        first
            .iter()
            .chain(&rest)
            .map(|e| e.cursor)
            .collect::<Vec<_>>()
    );
    assert!(store
        .inbox(&council, Some(all[5].cursor), 100)
        .await?
        .is_empty());
    assert!(all.iter().all(|e| !e.summary.contains(CHILD_NAME)));
    store.close().await;
    Ok(())
}

async fn list_is_scoped_to_one_agency(t: TestDb) -> Result<()> {
    let store = t.open().await?;
    let ac = store
        .submit(submission(
            "1",
            "agency-a",
            "agency-c",
            &nhs("1"),
            Outcome::ProceedToApproval,
            at(0),
        ))
        .await?
        .exchange;
    let ab = store
        .submit(submission(
            "2",
            "agency-a",
            "agency-b",
            &nhs("2"),
            Outcome::ProceedToApproval,
            at(1),
        ))
        .await?
        .exchange;
    let bc = store
        .submit(submission(
            "3",
            "agency-b",
            "agency-c",
            &nhs("3"),
            Outcome::Refuse,
            at(2),
        ))
        .await?
        .exchange;
    let mut early_help = submission(
        "4",
        "agency-a",
        "agency-b",
        &nhs("4"),
        Outcome::ProceedToApproval,
        at(3),
    );
    early_help.request.level_of_need = LevelOfNeed::EarlyHelp;
    let ab2 = store.submit(early_help).await?.exchange;
    let q = |party, states: Vec<ExchangeState>, token: Option<String>| ExchangeQuery {
        agency: agency("agency-b"),
        party,
        states,
        purpose: None,
        created_after: None,
        created_before: None,
        page_size: 1,
        page_token: token,
    };
    // Page through everything agency B may see, one at a time.
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = store.list(q(Party::Either, vec![], token)).await?;
        seen.extend(page.items.iter().map(|s| s.id));
        token = page.next_page_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen, [ab2.id, bc.id, ab.id], "newest first, never A-C");
    assert!(!seen.contains(&ac.id));
    let holder = store
        .list(ExchangeQuery {
            page_size: 10,
            ..q(Party::Holder, vec![], None)
        })
        .await?;
    assert_eq!(
        holder.items.iter().map(|s| s.id).collect::<Vec<_>>(),
        [ab2.id, ab.id]
    );
    // Each row carries its request's level of need, kept beside the encrypted request.
    assert_eq!(
        holder
            .items
            .iter()
            .map(|s| s.level_of_need)
            .collect::<Vec<_>>(),
        [
            Some(LevelOfNeed::EarlyHelp),
            Some(LevelOfNeed::SignificantHarm)
        ]
    );
    let refused = store
        .list(ExchangeQuery {
            page_size: 10,
            ..q(Party::Requester, vec![ExchangeState::Refused], None)
        })
        .await?;
    assert_eq!(
        refused.items.iter().map(|s| s.id).collect::<Vec<_>>(),
        [bc.id]
    );
    let window = store
        .list(ExchangeQuery {
            page_size: 10,
            created_after: Some(at(1)),
            created_before: Some(at(3)),
            ..q(Party::Either, vec![], None)
        })
        .await?;
    assert_eq!(
        window.items.iter().map(|s| s.id).collect::<Vec<_>>(),
        [bc.id, ab.id]
    );
    let bad = store
        .list(q(Party::Either, vec![], Some("not-a-token".into())))
        .await;
    assert!(matches!(bad, Err(StoreError::InvalidInput { .. })));
    store.close().await;
    Ok(())
}

async fn overdue_requests_are_escalated_once(t: TestDb) -> Result<()> {
    let store = t.open().await?;
    let x = store
        .submit(submission(
            "k",
            "police",
            "council",
            &nhs("1"),
            Outcome::ProceedToApproval,
            at(0),
        ))
        .await?
        .exchange;
    let y = store
        .submit(submission(
            "k2",
            "police",
            "council",
            &nhs("2"),
            Outcome::ProceedToApproval,
            at(0),
        ))
        .await?
        .exchange;
    let lead = ig_lead("council", "lead");
    store
        .apply(
            y.id,
            Some(1),
            change(
                Action::Approve,
                &lead,
                at(1),
                Some(decision(DecisionKind::Approve, &lead, at(1), vec![])),
            ),
        )
        .await?;
    assert!(
        store.overdue_candidates(at(60), 10).await?.is_empty(),
        "not yet due"
    );
    let due = x.respond_by + Duration::minutes(1);
    assert_eq!(
        store.overdue_candidates(due, 10).await?,
        vec![x.id],
        "decided ones are not candidates"
    );
    let marked = store.mark_overdue(x.id, due).await?;
    assert!(marked.overdue);
    assert_eq!(marked.state, ExchangeState::Escalated);
    let again = store.mark_overdue(x.id, due).await?;
    assert_eq!(again.version, marked.version, "idempotent");
    assert!(store.overdue_candidates(due, 10).await?.is_empty());
    let entries = all_entries(&store).await?;
    assert_eq!(
        entries.iter().filter(|e| e.event_kind == "overdue").count(),
        1
    );
    for a in ["police", "council"] {
        assert!(store
            .inbox(&agency(a), None, 100)
            .await?
            .iter()
            .any(|e| e.kind == InboxEventKind::Overdue && e.exchange_id == x.id));
    }
    // Escalated requests can still be decided.
    let d = store
        .apply(
            x.id,
            Some(marked.version),
            change(
                Action::Approve,
                &lead,
                due,
                Some(decision(DecisionKind::Approve, &lead, due, vec![])),
            ),
        )
        .await?;
    assert_eq!(d.state, ExchangeState::Approved);
    store.close().await;
    Ok(())
}

async fn audit_query_filters_and_pages(t: TestDb) -> Result<()> {
    let store = t.open().await?;
    let x = store
        .submit(submission(
            "1",
            "police",
            "council",
            &nhs("1"),
            Outcome::ProceedToApproval,
            at(0),
        ))
        .await?
        .exchange;
    store
        .submit(submission(
            "2",
            "school",
            "health-trust",
            &nhs("2"),
            Outcome::ProceedToApproval,
            at(10),
        ))
        .await?;
    let lead = ig_lead("council", "lead");
    store
        .apply(
            x.id,
            Some(1),
            change(
                Action::Decline,
                &lead,
                at(20),
                Some(decision(DecisionKind::Decline, &lead, at(20), vec![])),
            ),
        )
        .await?;
    make_entries(&store, 3).await?; // actor agency "partnership", at(0..3)

    let q = |f: fn(&mut AuditQuery)| {
        let mut q = AuditQuery {
            page_size: 100,
            ..AuditQuery::default()
        };
        f(&mut q);
        q
    };
    let police = store
        .audit_query(q(|q| q.agency = Some(agency("police"))))
        .await?;
    assert_eq!(
        kinds(&police.items),
        ["submitted", "sent_for_approval", "decline"]
    );
    let council = store
        .audit_query(q(|q| q.agency = Some(agency("council"))))
        .await?;
    assert_eq!(council.items.len(), 3, "as holder");
    let partnership = store
        .audit_query(q(|q| q.agency = Some(agency("partnership"))))
        .await?;
    assert_eq!(partnership.items.len(), 3, "as actor");
    let declines = store
        .audit_query(q(|q| q.state_to = Some(ExchangeState::Declined)))
        .await?;
    assert_eq!(kinds(&declines.items), ["decline"]);
    let kind = store
        .audit_query(q(|q| q.event_kind = Some("signatory_reaffirmed".into())))
        .await?;
    assert_eq!(kind.items.len(), 3);
    let window = store
        .audit_query(q(|q| {
            q.from = Some(at(1));
            q.to = Some(at(20));
        }))
        .await?;
    // at(1), at(2) admin entries and the two entries of the second submission at(10).
    assert_eq!(window.items.len(), 4, "{:?}", kinds(&window.items));
    let by_x = store
        .audit_query(q(|q| q.exchange_id = Some(Uuid::nil())))
        .await?;
    assert!(by_x.items.is_empty());
    let purpose = store
        .audit_query(q(|q| {
            q.purpose = Some(PurposeId::parse("s47-enquiry").unwrap_or_else(|e| panic!("{e}")))
        }))
        .await?;
    assert_eq!(purpose.items.len(), 5);

    // Paging by agency and by nothing visits every entry once, in (time, sequence) order.
    for agency_filter in [None, Some(agency("police"))] {
        let mut seen = Vec::new();
        let mut token = None;
        loop {
            let page = store
                .audit_query(AuditQuery {
                    agency: agency_filter.clone(),
                    page_size: 2,
                    page_token: token,
                    ..AuditQuery::default()
                })
                .await?;
            seen.extend(page.items.iter().map(|e| (e.occurred_at, e.sequence)));
            token = page.next_page_token;
            if token.is_none() {
                break;
            }
        }
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(seen, sorted);
        assert_eq!(seen.len(), if agency_filter.is_some() { 3 } else { 8 });
    }
    store.close().await;
    Ok(())
}

async fn stats_count_exchanges(t: TestDb) -> Result<()> {
    let store = t.open().await?;
    let a = store
        .submit(submission(
            "1",
            "police",
            "council",
            &nhs("1"),
            Outcome::ProceedToApproval,
            at(0),
        ))
        .await?
        .exchange;
    store
        .submit(submission(
            "2",
            "police",
            "council",
            &nhs("2"),
            Outcome::ProceedToApproval,
            at(0),
        ))
        .await?;
    store
        .submit(submission(
            "3",
            "school",
            "council",
            &nhs("3"),
            Outcome::Refuse,
            at(0),
        ))
        .await?;
    let lead = ig_lead("council", "lead");
    store
        .apply(
            a.id,
            Some(1),
            change(
                Action::Approve,
                &lead,
                at(90),
                Some(decision(DecisionKind::Approve, &lead, at(90), vec![])),
            ),
        )
        .await?;
    let s = store.stats(None, None, at(60 * 24 * 3)).await?;
    assert_eq!(s.decided, 1);
    assert_eq!(s.decision_seconds_p50, Some(90.0 * 60.0));
    assert_eq!(s.overdue, 1, "the undecided one is past respond_by");
    let state = |st| s.by_state.iter().find(|(x, _)| *x == st).map(|(_, n)| *n);
    assert_eq!(state(ExchangeState::Approved), Some(1));
    assert_eq!(state(ExchangeState::AwaitingApproval), Some(1));
    assert_eq!(state(ExchangeState::Refused), Some(1));
    assert_eq!(
        s.by_agency_pair,
        vec![
            (agency("police"), agency("council"), 2),
            (agency("school"), agency("council"), 1)
        ]
    );
    assert_eq!(s.by_purpose.len(), 1);
    let empty = store.stats(Some(at(1)), None, at(1)).await?;
    assert!(empty.by_state.is_empty());
    store.close().await;
    Ok(())
}

async fn two_stores_append_concurrently_to_one_chain(t: TestDb) -> Result<()> {
    const TASKS: usize = 4;
    const OPS: usize = 200;
    let stores = [
        t.open_with(|c| c.checkpoint_every = 100).await?,
        t.open_with(|c| c.checkpoint_every = 100).await?,
    ];
    let mut handles = Vec::new();
    for (si, store) in stores.iter().enumerate() {
        for task in 0..TASKS {
            let s = store.clone();
            handles.push(tokio::spawn(async move {
                let mut seqs = Vec::with_capacity(OPS);
                for i in 0..OPS {
                    let e = s
                        .record_event(
                            AdminEvent {
                                kind: AuditEventKind::AuditQueried,
                                protocol_id: "p".into(),
                                agency_id: None,
                                detail: serde_json::json!({ "s": si, "t": task, "i": i }),
                            },
                            Actor::system(),
                            at(0),
                        )
                        .await?;
                    seqs.push(e.sequence);
                }
                Ok::<_, StoreError>(seqs)
            }));
        }
    }
    let mut all = HashSet::new();
    for h in handles {
        for s in h.await?? {
            ensure!(all.insert(s), "sequence {s} acknowledged twice");
        }
    }
    let total = (2 * TASKS * OPS) as u64;
    assert_eq!(all.len() as u64, total);
    assert_eq!(t.count("audit_log").await?, total as i64);
    let report = stores[0].audit_verify().await?;
    assert!(report.ok, "{report:?}");
    assert_eq!(report.entries_checked, total);
    assert!(report.checkpoints_valid && report.last_checkpoint_sequence.is_some());
    for s in stores {
        s.close().await;
    }
    Ok(())
}

/// The child half of `crash_loses_no_acknowledged_append`: appends under load and prints
/// every acknowledged append, until it is killed. A normal test that returns at once unless
/// the parent set `ACCORD_CRASH_WRITER_URL`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_writer_child() {
    let Ok(url) = std::env::var("ACCORD_CRASH_WRITER_URL") else {
        return;
    };
    let store = match Store::open(config_for(&url)).await {
        Ok(s) => s,
        Err(e) => panic!("child open: {e}"),
    };
    let mut tasks = Vec::new();
    for task in 0..8u32 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            // Bounded so an orphaned child cannot run for ever.
            for i in 0..20_000u32 {
                if i % 2 == 0 {
                    let sub = submission(
                        &format!("t{task}-{i}"),
                        "police",
                        "council",
                        &nhs(&format!("{task}{i}")),
                        Outcome::ProceedToApproval,
                        at(0),
                    );
                    if let Ok(x) = s.submit(sub).await {
                        println!("ACK X {}", x.exchange.id);
                    }
                } else if let Ok(e) = s
                    .record_event(
                        AdminEvent {
                            kind: AuditEventKind::AuditQueried,
                            protocol_id: "p".into(),
                            agency_id: None,
                            detail: serde_json::json!({}),
                        },
                        Actor::system(),
                        at(0),
                    )
                    .await
                {
                    println!("ACK S {}", e.sequence);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

async fn crash_loses_no_acknowledged_append(t: TestDb) -> Result<()> {
    // Migrate first so the child starts appending at once.
    t.open().await?.close().await;
    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "crash_writer_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("ACCORD_CRASH_WRITER_URL", t.url())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow!("no child stdout"))?;
    let reader = std::thread::spawn(move || {
        let mut acks = Vec::new();
        let mut lines = BufReader::new(stdout).lines();
        while let Some(Ok(line)) = lines.next() {
            if let Some(ack) = line.strip_prefix("ACK ") {
                acks.push(ack.to_owned());
            }
        }
        acks
    });
    // Kill it mid-load once it has acknowledged a good number of appends.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let n = t.count("audit_log").await.unwrap_or(0);
        if n >= 600 || std::time::Instant::now() > deadline {
            break;
        }
    }
    child.kill()?; // SIGKILL on Unix: no destructors, no flush, no clean shutdown
    child.wait()?;
    let acks = reader.join().map_err(|_| anyhow!("reader panicked"))?;
    ensure!(
        acks.len() >= 100,
        "child acknowledged only {} appends",
        acks.len()
    );
    eprintln!(
        "{:?}: child acknowledged {} appends before SIGKILL",
        t.backend(),
        acks.len()
    );

    let store = t.open().await?;
    let report = store.audit_verify().await?;
    assert!(report.ok, "{report:?}");
    for ack in &acks {
        match ack.split_once(' ') {
            Some(("X", id)) => {
                let id = Uuid::parse_str(id)?;
                store
                    .get(id)
                    .await
                    .map_err(|e| anyhow!("acknowledged exchange {id} lost: {e}"))?;
            }
            Some(("S", seq)) => {
                let seq: u64 = seq.parse()?;
                let e = store.audit_range(seq, Some(seq), 1).await?;
                ensure!(
                    e.len() == 1 && e[0].event_kind == "audit_queried",
                    "acknowledged entry {seq} lost"
                );
            }
            _ => bail!("bad ack line {ack:?}"),
        }
    }
    // The store keeps working after the crash.
    store
        .submit(submission(
            "after",
            "police",
            "council",
            &nhs("after"),
            Outcome::ProceedToApproval,
            at(1),
        ))
        .await?;
    assert!(store.audit_verify().await?.ok);
    store.close().await;
    Ok(())
}

/// Compile-time check: the server shares one `Store` across tonic handlers, whose futures
/// must be `Send`. Never called; type-checking it is the test.
#[allow(dead_code)]
fn store_and_its_futures_are_send(store: &Store, c: Change, q: AuditQuery) {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: T) {}
    send_sync(store);
    let child = nhs("1");
    send(store.submit(submission("k", "a", "b", &child, Outcome::Refuse, at(0))));
    send(store.apply(Uuid::nil(), None, c));
    send(store.prior_exchanges(std::slice::from_ref(&child), at(0)));
    send(store.audit_query(q));
    send(store.audit_verify());
    send(store.fetch_response(Uuid::nil(), Actor::system(), at(0)));
    send(store.purge_expired_content(at(0)));
    send(store.purge_unanswered_requests(at(0)));
    send(store.close());
}

/// SQLite only: `accord serve` on a fresh machine creates the file (and its directory), in
/// WAL mode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file_and_directory_are_created_in_wal_mode() -> Result<()> {
    use sqlx::Connection;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("data").join("nested").join("accord.db");
    let url = format!("sqlite://{}", path.display());
    let store = Store::open(config_for(&url)).await?;
    make_entries(&store, 1).await?;
    store.close().await;
    assert!(path.exists());
    let mut c = sqlx::SqliteConnection::connect(&url).await?;
    let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(&mut c)
        .await?;
    assert_eq!(mode, "wal");
    // Reopening an existing file migrates nothing and keeps the chain.
    let store = Store::open(config_for(&url)).await?;
    assert_eq!(store.audit_verify().await?.entries_checked, 1);
    store.close().await;
    let bad = Store::open(StoreConfig {
        url: "mysql://x".into(),
        ..config_for(&url)
    })
    .await;
    assert!(matches!(bad, Err(StoreError::Config(_))));
    Ok(())
}

on_both_backends!(audit_log_holds_digests_of_free_text_not_the_text);

/// SHA-256 (lowercase hex) of a text's UTF-8 bytes, as the audit detail records it.
fn sha256_of(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// Asserts `v` is the audit log's digest of `text`: `{"sha256", "chars"}`.
fn assert_digest(v: &serde_json::Value, text: &str) {
    assert_eq!(
        v,
        &serde_json::json!({ "sha256": sha256_of(text), "chars": text.chars().count() }),
        "digest of {text:.40?}"
    );
}

/// The permanent audit log (readable by auditors, never purged) holds no free text about the
/// child: each free-text field of the request, of every decision and of every note is there
/// only as a SHA-256 digest with its length, which matches the text the exchange still holds.
async fn audit_log_holds_digests_of_free_text_not_the_text(t: TestDb) -> Result<()> {
    let store = t.open().await?;
    let child = nhs("943 476 5919");
    // Distinctive text in every free-text field (some of it not ASCII: `chars` counts
    // characters, not bytes).
    let answer = format!("zqanswer {}", "Jessamy's aunt — détails ".repeat(300));
    let texts = [
        "zqreasonhealth: bruising seen by the GP",
        "zqreasoneducation: absent since the half term",
        "zqconsentscope: only the school nurse's notes",
        "zqnotsought: telling the stepfather would put her at risk",
        "zqpublicinterest: the risk of significant harm outweighs the refusal",
        "zqonwardpurpose: strategy discussion with the police",
        "zqnotinforming: mother's partner is the alleged abuser",
        "zqquestion: which school did she attend before",
        "zqasknote: the referral is unclear about dates",
        "zqdeclinereason: no lawful gateway for education records",
        "zqdeclinenote: discussed with the Caldicott guardian",
        "zqconditionother: share with the strategy meeting only",
        "zqwithdrawnote: the family moved out of area",
        answer.as_str(),
    ];
    let mut req = request("police", "council", &child);
    req.categories[0].reason = texts[0].into();
    req.categories[1].reason = texts[1].into();
    req.consent = Consent {
        status: ConsentStatus::NotSought,
        given_by: None,
        given_by_name: String::new(),
        given_on: None,
        explicit: false,
        scope: texts[2].into(),
        capacity_assessed: true,
        parental_consent_recorded: false,
        not_sought_reasons: vec![NotSoughtReason::IncreasedRiskOfHarm],
        not_sought_detail: texts[3].into(),
        not_required_reason: None,
        public_interest_justification: texts[4].into(),
    };
    req.onward_disclosure = OnwardDisclosure {
        intended: true,
        recipients: vec!["health-trust".into()],
        purpose: texts[5].into(),
    };
    req.notification = SubjectNotification {
        will_inform: false,
        reason_not_informing: texts[6].into(),
    };
    let submit = |key: &str| Submission {
        idempotency_key: IdempotencyKey::parse(key).unwrap_or_else(|e| panic!("{e}")),
        request: req.clone(),
        assessment: assessment(Outcome::ProceedToApproval, at(0)),
        actor: practitioner("police"),
        now: at(0),
        record_retention: RecordRetention::DEFAULT,
    };
    let lead = ig_lead("council", "lead");
    let police = practitioner("police");

    // A: asked for more information, answered, declined.
    let a = store.submit(submit("a")).await?.exchange;
    let mut ask = decision(DecisionKind::AskForMoreInformation, &lead, at(1), vec![]);
    ask.reasons = vec![];
    ask.questions = vec![texts[7].into()];
    ask.note = texts[8].into();
    let a = store
        .apply(
            a.id,
            Some(a.version),
            change(Action::AskForMoreInformation, &lead, at(1), Some(ask)),
        )
        .await?;
    let mut answered = decision(DecisionKind::InformationProvided, &police, at(2), vec![]);
    answered.reasons = vec![];
    answered.note = answer.clone();
    let a = store
        .apply(
            a.id,
            Some(a.version),
            change(
                Action::AnswerInformationRequest,
                &police,
                at(2),
                Some(answered),
            ),
        )
        .await?;
    let mut decline = decision(DecisionKind::Decline, &lead, at(3), vec![]);
    decline.reasons = vec![texts[9].into()];
    decline.note = texts[10].into();
    let declining = with_note(
        change(Action::Decline, &lead, at(3), Some(decline)),
        texts[10],
    );
    let a = store.apply(a.id, Some(a.version), declining).await?;
    assert_eq!(a.state, ExchangeState::Declined);

    // B: approved in part with a free-text condition, then withdrawn with a reason.
    let b = store.submit(submit("b")).await?.exchange;
    let mut part = decision(DecisionKind::ApprovePart, &lead, at(4), vec![cat("health")]);
    part.conditions = Conditions {
        no_onward_disclosure: true,
        retention_days: Some(30),
        inform_subject: false,
        other: texts[11].into(),
    };
    let b = store
        .apply(
            b.id,
            Some(b.version),
            change(Action::ApprovePart, &lead, at(4), Some(part)),
        )
        .await?;
    let withdraw = with_note(change(Action::Withdraw, &police, at(5), None), texts[12]);
    let b = store.apply(b.id, Some(b.version), withdraw).await?;
    assert_eq!(b.state, ExchangeState::Withdrawn);

    // The raw audit table holds none of the text.
    let raw = t.table_text("audit_log").await?;
    assert!(!raw.is_empty());
    for text in texts {
        let marker = &text[..text.find([' ', ':']).unwrap_or(text.len())];
        assert!(!raw.contains(marker), "audit_log holds {marker:?} in clear");
    }
    assert!(!raw.contains("Caldicott") && !raw.contains("stepfather"));

    // The digests prove what was recorded, and the chain still verifies.
    let entries = all_entries(&store).await?;
    let of = |id: Uuid, kind: &str| {
        entries
            .iter()
            .find(|e| e.exchange_id == Some(id) && e.event_kind == kind)
            .map(|e| e.detail.clone())
            .ok_or_else(|| anyhow!("no {kind} entry"))
    };
    let s = of(a.id, "submitted")?;
    assert_eq!(s["categories"][0]["category"], "health");
    assert_digest(&s["categories"][0]["reason"], texts[0]);
    assert_digest(&s["categories"][1]["reason"], texts[1]);
    assert_digest(&s["consent"]["scope"], texts[2]);
    assert_digest(&s["consent"]["not_sought_detail"], texts[3]);
    assert_digest(&s["consent"]["public_interest_justification"], texts[4]);
    assert_digest(&s["onward_disclosure"]["purpose"], texts[5]);
    assert_digest(&s["notification"]["reason_not_informing"], texts[6]);
    // Structured values stay as they are.
    assert_eq!(s["consent"]["status"], "not_sought");
    assert_eq!(s["consent"]["capacity_assessed"], true);
    assert_eq!(s["consent"]["not_required_reason"], serde_json::Value::Null);
    assert_eq!(
        s["onward_disclosure"]["recipients"],
        serde_json::json!(["health-trust"])
    );
    assert_eq!(s["notification"]["will_inform"], false);
    assert_eq!(s["practitioner"]["name"], "Pat Officer");
    assert_eq!(s["practitioner"]["job_title"], "Detective Constable");
    assert_eq!(s["level_of_need"], "significant_harm");
    assert_eq!(
        s["lawful_basis"]["gateways"],
        serde_json::json!(["ca1989_s47"])
    );

    let asked = of(a.id, "ask_for_more_information")?;
    assert_eq!(asked["decision"]["kind"], "ask_for_more_information");
    assert_eq!(asked["decision"]["decided_by"]["subject"], "council-lead");
    assert_digest(&asked["decision"]["questions"][0], texts[7]);
    assert_digest(&asked["decision"]["note"], texts[8]);
    assert_eq!(asked["decision"]["reasons"], serde_json::json!([]));
    assert_eq!(asked["note"], serde_json::Value::Null, "empty text is null");
    let ans = of(a.id, "answer_information_request")?;
    assert_digest(&ans["decision"]["note"], &answer);
    assert_ne!(answer.chars().count(), answer.len());
    let dec = of(a.id, "decline")?;
    assert_digest(&dec["decision"]["reasons"][0], texts[9]);
    assert_digest(&dec["decision"]["note"], texts[10]);
    // A decision's note is the decision's own (above); the entry has no second note.
    assert_eq!(dec["note"], serde_json::Value::Null);
    let appr = of(b.id, "approve_part")?;
    assert_eq!(appr["approved_scope"], serde_json::json!(["health"]));
    assert_eq!(appr["conditions"]["no_onward_disclosure"], true);
    assert_eq!(appr["conditions"]["retention_days"], 30);
    assert_digest(&appr["conditions"]["other"], texts[11]);
    assert_digest(&appr["decision"]["conditions"]["other"], texts[11]);
    assert_digest(&of(b.id, "withdraw")?["note"], texts[12]);
    let report = store.audit_verify().await?;
    assert!(report.ok, "{report:?}");

    // The exchange record keeps the full text for the parties.
    let a = store.get(a.id).await?;
    let notes: Vec<&str> = a.decisions.iter().map(|d| d.note.as_str()).collect();
    assert_eq!(notes, [texts[8], answer.as_str(), texts[10]]);
    assert_eq!(a.decisions[0].questions, vec![texts[7].to_owned()]);
    assert_eq!(a.decisions[2].reasons, vec![texts[9].to_owned()]);
    let r = a.request.as_ref().ok_or_else(|| anyhow!("request kept"))?;
    assert_eq!(r.consent.scope, texts[2]);
    assert_eq!(
        store.get(b.id).await?.decisions[0].conditions.other,
        texts[11]
    );
    store.close().await;
    Ok(())
}

on_both_backends!(expiry_candidates_are_exchanges_left_waiting_past_deadline_and_grace);

/// `expiry_candidates` finds exchanges waiting on a party that never acted (more information
/// never given, an approval never answered) once `respond_by + grace` has passed, and nothing
/// that is waiting on a decision, ended, or answered.
async fn expiry_candidates_are_exchanges_left_waiting_past_deadline_and_grace(
    t: TestDb,
) -> Result<()> {
    let store = t.open().await?;
    let lead = ig_lead("council", "lead");
    let day = 24 * 60;
    // Every exchange's respond_by is two days after its submission (`assessment`).
    let mut n = 0;
    let mut submit = |submitted: i64| {
        n += 1;
        let child = nhs(&format!("943 476 59{n:02}"));
        store.submit(submission(
            &format!("k{n}"),
            "police",
            "council",
            &child,
            Outcome::ProceedToApproval,
            at(submitted),
        ))
    };
    let (approved, part, asked, _waiting, declined, answered, later) = (
        submit(0).await?.exchange,
        submit(0).await?.exchange,
        submit(0).await?.exchange,
        submit(0).await?.exchange,
        submit(0).await?.exchange,
        submit(0).await?.exchange,
        submit(day).await?.exchange,
    );
    let decide = |x: &Exchange, kind: DecisionKind, cats: Vec<CategoryId>| {
        let action = kind.action();
        store.apply(
            x.id,
            Some(x.version),
            change(
                action,
                &lead,
                at(1),
                Some(decision(kind, &lead, at(1), cats)),
            ),
        )
    };
    let approved = decide(&approved, DecisionKind::Approve, vec![]).await?;
    decide(&part, DecisionKind::ApprovePart, vec![cat("health")]).await?;
    decide(&asked, DecisionKind::AskForMoreInformation, vec![]).await?;
    decide(&declined, DecisionKind::Decline, vec![]).await?;
    let answered = decide(&answered, DecisionKind::Approve, vec![]).await?;
    store
        .respond(
            answered.id,
            answered.version,
            vec![item("health", "seen")],
            practitioner("council"),
            at(2),
            100,
        )
        .await?;
    decide(&later, DecisionKind::Approve, vec![]).await?;

    let grace = Duration::days(1);
    let ids = |v: Vec<Uuid>| v.into_iter().collect::<HashSet<_>>();
    // Deadline (day 2) plus grace (one day) not yet reached.
    assert!(store
        .expiry_candidates(at(3 * day - 1), grace, 100)
        .await?
        .is_empty());
    let due = HashSet::from([approved.id, part.id, asked.id]);
    assert_eq!(
        ids(store.expiry_candidates(at(3 * day), grace, 100).await?),
        due
    );
    assert_eq!(
        store.expiry_candidates(at(3 * day), grace, 2).await?.len(),
        2,
        "limit is honoured"
    );
    assert!(
        store
            .expiry_candidates(at(3 * day), Duration::days(2), 100)
            .await?
            .is_empty(),
        "a longer grace waits longer"
    );
    // The exchange submitted a day later becomes due a day later.
    let mut all = due.clone();
    all.insert(later.id);
    assert_eq!(
        ids(store.expiry_candidates(at(4 * day), grace, 100).await?),
        all
    );

    // Expiring one (as the broker's job will) removes it from the candidates.
    let expired = store
        .apply(
            approved.id,
            None,
            Change {
                command: accord_domain::Command::Expire,
                actor: Actor::system(),
                now: at(3 * day),
            },
        )
        .await?;
    assert_eq!(expired.state, ExchangeState::Expired);
    assert_eq!(
        ids(store.expiry_candidates(at(3 * day), grace, 100).await?),
        HashSet::from([part.id, asked.id])
    );
    assert!(store.audit_verify().await?.ok);
    store.close().await;
    Ok(())
}
