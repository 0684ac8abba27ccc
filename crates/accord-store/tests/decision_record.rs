//! The decision record: the request's reasons and the decisions with theirs, kept encrypted
//! after the shared content is purged and purged at the end of their own retention; and rows
//! written before the record existed, read as they are and upgraded when the store opens.
//! Every body runs on both backends.

mod common;

use accord_domain::*;
use accord_store::*;
use anyhow::{anyhow, ensure, Result};
use common::*;
use time::Duration;

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
    record_survives_the_content_and_goes_at_its_own_retention,
    record_never_goes_before_the_content,
    decisions_and_reasons_are_never_stored_in_clear,
    rows_from_before_the_record_are_read_and_upgraded,
);

const RISK: &str = "Bruising to both upper arms noticed by the PE teacher";
const PUBLIC_INTEREST: &str = "Sibling also at risk; sharing protects both children";
const CATEGORY_REASON: &str = "Injuries recorded by the GP surgery";
const DECISION_REASON: &str = "Proportionate: only the injuries are shared";

/// A submission whose reasons carry recognisable texts, with its record kept `retention`.
fn recorded(key: &str, child: &str, retention: RecordRetention) -> Submission {
    let mut s = submission(
        key,
        "police",
        "council",
        &nhs(child),
        Outcome::ProceedToApproval,
        at(0),
    );
    s.request.risk_summary = RISK.into();
    s.request.consent = Consent::with_status(ConsentStatus::Refused);
    s.request.consent.public_interest_justification = PUBLIC_INTEREST.into();
    s.request.categories[0].reason = CATEGORY_REASON.into();
    s.record_retention = retention;
    s
}

fn approve(now: time::OffsetDateTime) -> Change {
    let lead = ig_lead("council", "lead");
    let mut d = decision(DecisionKind::Approve, &lead, now, vec![]);
    d.reasons = vec![DECISION_REASON.into()];
    change(Action::Approve, &lead, now, Some(d))
}

/// Submitted, approved, responded to (content kept one day) and fetched.
async fn shared(store: &Store, s: Submission) -> Result<Exchange> {
    let x = store.submit(s).await?.exchange;
    let x = store.apply(x.id, Some(x.version), approve(at(1))).await?;
    let x = store
        .respond(
            x.id,
            x.version,
            vec![item("health", "Seen at A&E on 2025-01-09")],
            practitioner("council"),
            at(2),
            1,
        )
        .await?;
    store
        .fetch_response(x.id, practitioner("police"), at(3))
        .await?;
    Ok(store.get(x.id).await?)
}

fn reasons_of(x: &Exchange) -> Result<&RequestReasons> {
    x.reasons
        .as_ref()
        .ok_or_else(|| anyhow!("exchange {} has no reasons", x.id))
}

async fn record_survives_the_content_and_goes_at_its_own_retention(t: TestDb) -> Result<()> {
    let store = t.open().await?;
    let sub = recorded("k", "1", RecordRetention::Days(60));
    let request = sub.request.clone();
    let x = shared(&store, sub).await?;
    let kept_until = at(0) + Duration::days(60);
    assert_eq!(x.record_retain_until, Some(kept_until));
    assert!(!x.record_purged);
    assert_eq!(x.reasons.as_ref(), Some(&RequestReasons::of(&request)));

    // The content goes at the end of its retention; the record stays.
    let content_until = at(2) + Duration::days(1);
    assert_eq!(store.purge_expired_content(content_until).await?, 1);
    let after = store.get(x.id).await?;
    assert!(after.request.is_none(), "the request goes with the content");
    assert!(after.response.as_ref().is_some_and(|r| r.purged));
    let reasons = reasons_of(&after)?;
    assert_eq!(reasons.risk_summary, RISK);
    assert_eq!(reasons.level_of_need, LevelOfNeed::SignificantHarm);
    assert_eq!(
        reasons.consent.public_interest_justification,
        PUBLIC_INTEREST
    );
    assert_eq!(reasons.categories[0].reason, CATEGORY_REASON);
    assert_eq!(reasons.lawful_basis, request.lawful_basis);
    assert_eq!(
        reasons.necessity_justification,
        request.necessity_justification
    );
    assert_eq!(after.decisions, x.decisions);
    assert_eq!(after.decisions[0].reasons, vec![DECISION_REASON.to_owned()]);
    assert!(!after.record_purged);

    // Not before its own retention ends.
    assert_eq!(
        store
            .purge_decision_records(kept_until - Duration::seconds(1))
            .await?,
        0
    );
    assert_eq!(store.purge_decision_records(kept_until).await?, 1);
    assert_eq!(
        store.purge_decision_records(kept_until).await?,
        0,
        "purged once"
    );
    let gone = store.get(x.id).await?;
    assert!(gone.record_purged);
    assert!(gone.reasons.is_none());
    assert!(gone.decisions.is_empty());
    assert_eq!(gone.state, after.state, "the state stays");
    assert_eq!(gone.version, after.version + 1);
    assert_eq!(gone.approved_scope, after.approved_scope);
    assert_eq!(gone.first_decision_at, after.first_decision_at);
    for column in ["reasons_ct", "decisions_ct"] {
        let sql = format!("SELECT {column} FROM exchanges WHERE id = $1");
        assert_eq!(t.blob(&sql, x.id).await?, None, "{column}");
    }

    let entries = store
        .audit_query(AuditQuery {
            exchange_id: Some(x.id),
            event_kind: Some("decision_record_purged".into()),
            ..Default::default()
        })
        .await?
        .items;
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert!(e.actor_agency.is_none(), "the broker purges");
    assert_eq!(e.occurred_at, kept_until);
    assert_eq!(e.detail["decisions_purged"], 1);
    assert_eq!(e.detail["reasons_purged"], true);
    assert_eq!(
        e.detail["record_retain_until_us"],
        kept_until.unix_timestamp() * 1_000_000
    );
    // The log still holds the decision's metadata and the digest of its reason.
    let approve = store
        .audit_query(AuditQuery {
            exchange_id: Some(x.id),
            event_kind: Some("approve".into()),
            ..Default::default()
        })
        .await?
        .items;
    assert_eq!(approve.len(), 1);
    assert_eq!(
        approve[0].detail["decision"]["reasons"][0],
        accord_domain::exchange::text_digest(DECISION_REASON)
    );
    ensure!(store.audit_verify().await?.ok, "the chain verifies");
    store.close().await;
    Ok(())
}

async fn record_never_goes_before_the_content(t: TestDb) -> Result<()> {
    let store = t.open().await?;
    // A record kept one day, for content kept a day from the response: the record's end
    // comes first, and it waits.
    let x = shared(&store, recorded("a", "1", RecordRetention::Days(1))).await?;
    let record_until = at(0) + Duration::days(1);
    let content_until = at(2) + Duration::days(1);
    assert_eq!(store.purge_decision_records(record_until).await?, 0);
    assert!(store.get(x.id).await?.reasons.is_some());
    // A declined exchange keeps its request until the unanswered-request purge.
    let y = store
        .submit(recorded("b", "2", RecordRetention::Days(1)))
        .await?
        .exchange;
    let lead = ig_lead("council", "lead");
    let mut d = decision(DecisionKind::Decline, &lead, at(1), vec![]);
    d.reasons = vec![DECISION_REASON.into()];
    store
        .apply(
            y.id,
            Some(y.version),
            change(Action::Decline, &lead, at(1), Some(d)),
        )
        .await?;
    let later = at(0) + Duration::days(30);
    assert_eq!(store.purge_decision_records(later).await?, 0);

    assert_eq!(store.purge_expired_content(content_until).await?, 1);
    assert_eq!(store.purge_decision_records(later).await?, 1);
    assert!(store.get(x.id).await?.record_purged);
    assert!(!store.get(y.id).await?.record_purged);
    assert_eq!(store.purge_unanswered_requests(at(2)).await?, 1);
    let declined = store.get(y.id).await?;
    assert!(declined.request.is_none());
    assert_eq!(
        reasons_of(&declined)?.risk_summary,
        RISK,
        "the reasons outlive the request"
    );
    assert_eq!(
        declined.decisions[0].reasons,
        vec![DECISION_REASON.to_owned()]
    );
    assert_eq!(store.purge_decision_records(later).await?, 1);
    assert!(store.get(y.id).await?.record_purged);
    ensure!(store.audit_verify().await?.ok, "the chain verifies");
    store.close().await;
    Ok(())
}

async fn decisions_and_reasons_are_never_stored_in_clear(t: TestDb) -> Result<()> {
    let store = t.open().await?;
    let x = shared(&store, recorded("k", "1", RecordRetention::DEFAULT)).await?;
    assert_eq!(x.decisions[0].reasons, vec![DECISION_REASON.to_owned()]);
    let clear = [
        RISK,
        PUBLIC_INTEREST,
        CATEGORY_REASON,
        DECISION_REASON,
        "Proportionate",
        "Bruising",
    ];
    let check = |text: String, table: &str| -> Result<()> {
        for c in clear {
            ensure!(!text.contains(c), "{table} holds {c:?} in clear");
        }
        Ok(())
    };
    for table in ["exchanges", "audit_log", "inbox_events", "responses"] {
        check(t.table_text(table).await?, table)?;
    }
    // The plain decisions column is left empty; the decisions are in decisions_ct.
    assert_eq!(
        t.exec("UPDATE exchanges SET version = version WHERE decisions <> ''")
            .await?,
        0
    );
    let ct = t
        .blob("SELECT decisions_ct FROM exchanges WHERE id = $1", x.id)
        .await?
        .ok_or_else(|| anyhow!("no decisions_ct"))?;
    ensure!(!ct.windows(13).any(|w| w == b"Proportionate"));
    // Ciphertexts are bound to their kind: the reasons do not pass for the request.
    t.exec(&format!(
        "UPDATE exchanges SET request_ct = reasons_ct WHERE {}",
        id_is(&t, x.id)
    ))
    .await?;
    let r = store.get(x.id).await;
    ensure!(
        matches!(r, Err(StoreError::Database(_))),
        "a swapped blob must not decrypt: {r:?}"
    );
    store.close().await;
    if t.backend() == Backend::Sqlite {
        for f in t.sqlite_files() {
            let bytes = std::fs::read(&f)?;
            for c in clear {
                ensure!(
                    !bytes.windows(c.len()).any(|w| w == c.as_bytes()),
                    "{} holds {c:?} in clear",
                    f.display()
                );
            }
        }
    }
    Ok(())
}

/// `id = <uuid>` as each backend writes a UUID literal.
fn id_is(t: &TestDb, id: uuid::Uuid) -> String {
    match t.backend() {
        Backend::Sqlite => format!("id = X'{}'", id.simple()),
        Backend::Postgres => format!("id = '{id}'"),
    }
}

async fn rows_from_before_the_record_are_read_and_upgraded(t: TestDb) -> Result<()> {
    let store = t.open().await?;
    let sub = recorded("a", "1", RecordRetention::Days(60));
    let request = sub.request.clone();
    let a = store.submit(sub).await?.exchange;
    let a = store.apply(a.id, Some(a.version), approve(at(1))).await?;
    let b = store
        .submit(recorded("b", "2", RecordRetention::Days(60)))
        .await?
        .exchange;
    let b = store.apply(b.id, Some(b.version), approve(at(1))).await?;
    let entries = store.audit_head().await?.sequence;

    // Put both rows back as the store wrote them before migration 0006: decisions as plain
    // JSON, no record; b's request already purged.
    for (x, request_ct) in [(&a, "request_ct"), (&b, "NULL")] {
        let json = serde_json::to_string(&x.decisions)?.replace('\'', "''");
        t.exec(&format!(
            "UPDATE exchanges SET decisions = '{json}', decisions_ct = NULL, reasons_ct = NULL, \
             record_retain_until = NULL, request_ct = {request_ct} WHERE {}",
            id_is(&t, x.id)
        ))
        .await?;
    }
    ensure!(t.table_text("exchanges").await?.contains(DECISION_REASON));
    // Read as they are.
    let old = store.get(a.id).await?;
    assert_eq!(old.decisions, a.decisions);
    assert!(old.reasons.is_none() && old.record_retain_until.is_none());
    assert!(!old.record_purged);
    store.close().await;

    // Opening upgrades them: the decisions encrypted, the reasons from the request where it
    // is still held, the record kept six years from submission; nothing is logged.
    let store = t.open().await?;
    let a2 = store.get(a.id).await?;
    assert_eq!(a2.decisions, a.decisions);
    assert_eq!(a2.reasons.as_ref(), Some(&RequestReasons::of(&request)));
    assert_eq!(
        a2.record_retain_until,
        Some(RecordRetention::Years(6).keep_until(at(0)))
    );
    assert_eq!(a2.version, a.version, "no fact changed");
    let b2 = store.get(b.id).await?;
    assert_eq!(b2.decisions, b.decisions);
    assert!(b2.reasons.is_none(), "its request was already gone");
    assert!(b2.record_retain_until.is_some() && !b2.record_purged);
    ensure!(!t.table_text("exchanges").await?.contains(DECISION_REASON));
    assert_eq!(store.audit_head().await?.sequence, entries);

    // An upgraded row changes and is purged like any other.
    let x = store
        .respond(
            a.id,
            a2.version,
            vec![item("health", "Seen at A&E")],
            practitioner("council"),
            at(2),
            1,
        )
        .await?;
    assert_eq!(x.decisions, a.decisions);
    store
        .purge_expired_content(at(2) + Duration::days(1))
        .await?;
    let six_years = RecordRetention::Years(6).keep_until(at(0));
    assert_eq!(store.purge_decision_records(six_years).await?, 2);
    ensure!(store.audit_verify().await?.ok, "the chain verifies");
    store.close().await;
    Ok(())
}
