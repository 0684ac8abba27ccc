//! The reads the server's approval queue and background jobs rely on: a holder's pending queue
//! (`Store::pending_for`), the head of the audit log and the entries of given kinds since a
//! sequence (`Store::audit_head`, `Store::events_since`). Every body runs on both backends.

mod common;

use accord_domain::*;
use accord_store::*;
use anyhow::{ensure, Result};
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
    pending_queue_is_oldest_deadline_first_and_pages,
    audit_head_and_events_since_read_by_sequence,
);

const BOTH: &[ExchangeState] = &[ExchangeState::AwaitingApproval, ExchangeState::Escalated];

fn ids(xs: &[Exchange]) -> Vec<Uuid> {
    xs.iter().map(|x| x.id).collect()
}

async fn pending_queue_is_oldest_deadline_first_and_pages(t: TestDb) -> Result<()> {
    let store = t.open().await?;
    let submit = |key: &'static str, to: &'static str, outcome, minutes| {
        let store = store.clone();
        async move {
            Ok::<_, anyhow::Error>(
                store
                    .submit(submission(
                        key,
                        "police",
                        to,
                        &nhs(key),
                        outcome,
                        at(minutes),
                    ))
                    .await?
                    .exchange,
            )
        }
    };
    // Submitted out of deadline order; two share a deadline (ordered by id).
    let late = submit("late", "council", Outcome::ProceedToApproval, 30).await?;
    let early = submit("early", "council", Outcome::ProceedToApproval, 0).await?;
    let tie_a = submit("tie-a", "council", Outcome::ProceedToApproval, 10).await?;
    let tie_b = submit("tie-b", "council", Outcome::ProceedToApproval, 10).await?;
    let (tie_1, tie_2) = if tie_a.id < tie_b.id {
        (tie_a, tie_b)
    } else {
        (tie_b, tie_a)
    };
    // Not in the council's queue: another holder's, refused, decided.
    submit("school", "school", Outcome::ProceedToApproval, 5).await?;
    submit("refused", "council", Outcome::Refuse, 5).await?;
    let decided = submit("decided", "council", Outcome::ProceedToApproval, 5).await?;
    let lead = ig_lead("council", "lead");
    store
        .apply(
            decided.id,
            Some(decided.version),
            change(
                Action::Approve,
                &lead,
                at(6),
                Some(decision(DecisionKind::Approve, &lead, at(6), vec![])),
            ),
        )
        .await?;
    // Escalated by the deadline job: pending when escalations are asked for.
    let escalated = submit("escalated", "council", Outcome::ProceedToApproval, 20).await?;
    store
        .mark_overdue(escalated.id, escalated.respond_by + Duration::minutes(1))
        .await?;

    let council = agency("council");
    let all = store.pending_for(&council, BOTH, None, 0).await?;
    ensure!(
        ids(&all) == vec![early.id, tie_1.id, tie_2.id, escalated.id, late.id],
        "oldest deadline first, ties by id: {all:?}"
    );
    ensure!(
        all[0].request.is_some(),
        "whole exchanges, request included"
    );
    let awaiting = store
        .pending_for(&council, &[ExchangeState::AwaitingApproval], None, 0)
        .await?;
    ensure!(ids(&awaiting) == vec![early.id, tie_1.id, tie_2.id, late.id]);
    let escalated_only = store
        .pending_for(&council, &[ExchangeState::Escalated], None, 0)
        .await?;
    ensure!(ids(&escalated_only) == vec![escalated.id]);
    // States that never await a decision are never pending.
    ensure!(store
        .pending_for(&council, &[ExchangeState::Approved], None, 0)
        .await?
        .is_empty());
    ensure!(store
        .pending_for(&agency("police"), BOTH, None, 0)
        .await?
        .is_empty());

    // Pages of two, each resuming strictly after the last one read.
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = store.pending_for(&council, BOTH, after, 2).await?;
        ensure!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some((last.respond_by, last.id));
        paged.extend(ids(&page));
    }
    ensure!(paged == ids(&all), "paging {paged:?} differs from {all:?}");
    // Resuming inside a tie: after the first of the pair comes the second.
    let rest = store
        .pending_for(&council, BOTH, Some((tie_1.respond_by, tie_1.id)), 1)
        .await?;
    ensure!(ids(&rest) == vec![tie_2.id]);
    store.close().await;
    Ok(())
}

async fn audit_head_and_events_since_read_by_sequence(t: TestDb) -> Result<()> {
    let store = t.open().await?;
    let head = store.audit_head().await?;
    ensure!(
        head.sequence == 0 && head.entry_hash == "0".repeat(64),
        "{head:?}"
    );
    ensure!(store.events_since(0, &[], 10).await?.is_empty());

    let admin = Actor {
        agency: Some(agency("council")),
        subject: "admin-1".into(),
        roles: vec![Role::Admin],
    };
    let event = |kind: &str| AdminEvent {
        kind: AuditEventKind::parse(kind).unwrap_or_else(|| panic!("{kind}")),
        protocol_id: "test-isp".into(),
        agency_id: Some(agency("police")),
        detail: serde_json::json!({ "reason": "review" }),
    };
    let mut suspended = Vec::new();
    for (i, key) in ["a", "b", "c"].into_iter().enumerate() {
        store
            .submit(submission(
                key,
                "police",
                "council",
                &nhs(key),
                Outcome::ProceedToApproval,
                at(i as i64),
            ))
            .await?;
        let e = store
            .record_event(event("signatory_suspended"), admin.clone(), at(i as i64))
            .await?;
        suspended.push(e.sequence);
    }
    let reinstated = store
        .record_event(event("signatory_reinstated"), admin.clone(), at(9))
        .await?;
    store
        .submit(submission(
            "d",
            "police",
            "council",
            &nhs("d"),
            Outcome::ProceedToApproval,
            at(10),
        ))
        .await?;

    let everything = store.audit_range(1, None, 1000).await?;
    let last = everything
        .last()
        .ok_or_else(|| anyhow::anyhow!("empty log"))?;
    let head = store.audit_head().await?;
    ensure!(
        head.sequence == last.sequence && head.entry_hash == last.entry_hash,
        "{head:?} is not the last entry {}",
        last.sequence
    );

    let seqs = |v: Vec<AuditEntry>| v.into_iter().map(|e| e.sequence).collect::<Vec<_>>();
    ensure!(
        seqs(
            store
                .events_since(0, &[AuditEventKind::SignatorySuspended], 10)
                .await?
        ) == suspended
    );
    ensure!(
        seqs(
            store
                .events_since(suspended[0], &[AuditEventKind::SignatorySuspended], 10)
                .await?
        ) == suspended[1..],
        "after is exclusive"
    );
    ensure!(
        seqs(
            store
                .events_since(
                    0,
                    &[
                        AuditEventKind::SignatorySuspended,
                        AuditEventKind::SignatoryReinstated
                    ],
                    2
                )
                .await?
        ) == suspended[..2],
        "at most limit, oldest first"
    );
    ensure!(
        seqs(
            store
                .events_since(
                    suspended[2],
                    &[
                        AuditEventKind::SignatorySuspended,
                        AuditEventKind::SignatoryReinstated
                    ],
                    10
                )
                .await?
        ) == vec![reinstated.sequence]
    );
    ensure!(
        seqs(store.events_since(0, &[], 1000).await?) == seqs(everything),
        "no kinds: every entry"
    );
    ensure!(store.events_since(head.sequence, &[], 10).await?.is_empty());
    store.close().await;
    Ok(())
}
