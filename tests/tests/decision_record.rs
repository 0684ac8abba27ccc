//! The decision record end to end: after the retention job purges the shared content and the
//! request, both parties still read through GetExchange why the information was asked for
//! and why it was shared; auditors still see only metadata; at the end of the protocol's
//! record retention the job purges the record too, and says so in the log.

use std::time::Duration;

use accord_domain::{RecordRetention, Role};
use accord_tests::*;
use anyhow::{anyhow, ensure, Result};

backend_tests!(reasons_outlive_the_content_and_go_at_the_record_retention);

const NOTE: &str = "Only education is needed for the strategy discussion";

async fn get(c: &mut Clients, id: &str) -> Result<pb::Exchange> {
    c.exchanges
        .get_exchange(pb::GetExchangeRequest {
            exchange_id: id.into(),
        })
        .await?
        .into_inner()
        .exchange
        .ok_or_else(|| anyhow!("no exchange in the response"))
}

async fn reasons_outlive_the_content_and_go_at_the_record_retention(
    backend: Backend,
) -> Result<()> {
    let app = spawn_app(backend).await?;
    let mut pc = app.clients(POLICE, Role::Practitioner).await?;
    let request = s47_request(POLICE, TRUST, &pc.subject, "record-child", "record-1");
    let s = pc
        .exchanges
        .submit_request(pb::SubmitRequestRequest {
            request: Some(request.clone()),
        })
        .await?
        .into_inner();
    let mut ig = app.clients(TRUST, Role::IgLead).await?;
    let x = ig
        .approvals
        .decide(pb::DecideRequest {
            exchange_id: s.exchange_id.clone(),
            expected_version: s.version,
            decision: Some(pb::decide_request::Decision::ApprovePart(pb::ApprovePart {
                categories: vec!["education".into()],
                conditions: None,
            })),
            note: NOTE.into(),
        })
        .await?
        .into_inner()
        .exchange
        .ok_or_else(|| anyhow!("no exchange"))?;
    let mut sw = app.clients(TRUST, Role::Practitioner).await?;
    sw.exchanges
        .submit_response(pb::SubmitResponseRequest {
            exchange_id: x.id.clone(),
            expected_version: x.version,
            items: vec![pb::ResponseItem {
                category_id: "education".into(),
                kind: pb::ItemKind::Fact as i32,
                content: "Attends regularly".into(),
                recorded_on: "2026-01-01".into(),
                historical: false,
                source_system: String::new(),
            }],
        })
        .await?;
    let id = x.id;
    let before = get(&mut pc, &id).await?;
    let created = before
        .created_at
        .ok_or_else(|| anyhow!("no created_at"))?
        .seconds;
    let kept_until = before
        .record_retain_until
        .ok_or_else(|| anyhow!("no record_retain_until"))?
        .seconds;
    // Sandwell writes out six years.
    let six_years = RecordRetention::Years(6)
        .keep_until(time::OffsetDateTime::from_unix_timestamp(created)?)
        .unix_timestamp();
    assert_eq!(kept_until, six_years);

    // Sandwell keeps s47 content for 30 days; 31 pass and the retention job runs.
    app.clock.advance(time::Duration::days(31));
    let mut pc = app.clients(POLICE, Role::Practitioner).await?;
    let mut purged = None;
    for _ in 0..200 {
        let x = get(&mut pc, &id).await?;
        if !x.response_available {
            purged = Some(x);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let x = purged.ok_or_else(|| anyhow!("content not purged within 10 s"))?;
    assert!(x.request.is_none(), "the request content is purged");

    // Both parties still read why it was asked for and why it was shared.
    let mut holder = app.clients(TRUST, Role::IgLead).await?;
    for x in [x, get(&mut holder, &id).await?] {
        let r = x
            .reasons
            .as_ref()
            .ok_or_else(|| anyhow!("no reasons after the purge"))?;
        assert_eq!(r.necessity_justification, request.necessity_justification);
        assert_eq!(r.expected_outcome, request.expected_outcome);
        assert_eq!(r.risk_summary, request.risk_summary);
        assert_eq!(r.level_of_need, pb::LevelOfNeed::SignificantHarm as i32);
        assert_eq!(r.lawful_basis, request.lawful_basis);
        assert_eq!(r.consent, request.consent);
        assert_eq!(r.categories, request.categories);
        assert_eq!(r.practitioner, request.practitioner);
        assert_eq!(x.decisions.len(), 1);
        assert_eq!(x.decisions[0].note, NOTE);
        assert_eq!(x.decisions[0].categories, ["education"]);
        assert!(!x.record_purged);
        assert_eq!(
            x.assessment.as_ref().map(|a| a.protocol_id.as_str()),
            Some(SANDWELL),
            "the record names the protocol the assessment applied"
        );
    }

    // Auditors read metadata only: none of the reasons' text is in the log.
    let mut auditor = app.clients(COUNCIL, Role::Auditor).await?;
    let entries = auditor
        .audit
        .query_audit(pb::QueryAuditRequest {
            exchange_id: id.clone(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .entries;
    ensure!(!entries.is_empty());
    let logged = format!("{entries:?}");
    for text in [
        request.necessity_justification.as_str(),
        request.risk_summary.as_str(),
        request.categories[0].reason.as_str(),
        NOTE,
    ] {
        ensure!(!logged.contains(text), "the log holds {text:?}");
    }

    // Six years on, the job purges the record. (The signatories' affirmations have lapsed by
    // then, so the store is read directly.)
    app.clock.advance(time::Duration::days(6 * 366));
    let uuid = uuid::Uuid::parse_str(&id)?;
    let mut gone = None;
    for _ in 0..200 {
        let x = app.store().get(uuid).await?;
        if x.record_purged {
            gone = Some(x);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let x = gone.ok_or_else(|| anyhow!("record not purged within 10 s"))?;
    assert!(x.reasons.is_none() && x.decisions.is_empty());
    let purges = app
        .store()
        .audit_query(accord_store::AuditQuery {
            exchange_id: Some(uuid),
            event_kind: Some("decision_record_purged".into()),
            ..Default::default()
        })
        .await?
        .items;
    assert_eq!(purges.len(), 1);
    assert!(purges[0].actor_agency.is_none(), "the broker purges");
    ensure!(app.store().audit_verify().await?.ok, "the chain verifies");
    app.stop().await
}
