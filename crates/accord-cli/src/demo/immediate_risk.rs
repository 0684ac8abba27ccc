//! Scene (d): an immediate-risk request: a deadline in minutes and the advice to tell the
//! police.

use std::time::Instant;

use accord_proto::v1 as pb;
use accord_proto::v1::decide_request::Decision;
use time::OffsetDateTime;

use super::people::{COUNCIL_EDT, NHS_IG, NHS_NURSE};
use super::{
    act, categories, child, days_ago, is, practitioner, scenario, state, submit, Demo, Played,
};
use crate::output::{self, name};
use crate::{approvals_cmd, request_cmd, response_cmd};

pub(super) async fn play(demo: &mut Demo, protocol: &pb::Protocol) -> anyhow::Result<Played> {
    let now = OffsetDateTime::now_utc;
    scenario(
        'd',
        "Immediate risk: a deadline in minutes",
        "At 11pm the council's emergency duty team is called about a 6-month-old with unexplained \
         bruising and asks the hospital trust about the baby's A&E attendances. The check sets a \
         deadline in minutes and reminds the practitioner to tell the police now; the trust's IG \
         lead approves at once and the named nurse answers.",
    );
    let edt = demo.person(&COUNCIL_EDT).await?;
    act(
        &COUNCIL_EDT,
        "submits an immediate-risk request to sandwell-west-birmingham-nhs",
    );
    let submitted_at = Instant::now();
    let r = submit(
        &edt,
        pb::InformationRequest {
            protocol_id: protocol.id.clone(),
            protocol_version: protocol.version.clone(),
            requesting_agency_id: COUNCIL_EDT.agency.into(),
            practitioner: practitioner(&COUNCIL_EDT, "Social worker, emergency duty team", "01215690000"),
            holding_agency_id: "sandwell-west-birmingham-nhs".into(),
            child: child("Baby Example", &days_ago(180), "943 476 5870"),
            purpose_id: "s47-enquiry".into(),
            necessity_justification: "Unexplained bruising on a non-mobile baby; earlier attendances decide whether the baby is safe at home tonight.".into(),
            expected_outcome: "A decision tonight on the baby's immediate safety.".into(),
            level_of_need: pb::LevelOfNeed::ImmediateRisk as i32,
            risk_summary: "Bruising to the face and arms of a 6-month-old, no explanation given.".into(),
            lawful_basis: Some(pb::LawfulBasisClaim {
                article6: pb::LawfulBasis::PublicTask as i32,
                special_condition: pb::SpecialCategoryCondition::SafeguardingChildren as i32,
                gateways: vec![pb::StatutoryGateway::Ca1989S47 as i32],
            }),
            consent: Some(pb::Consent {
                status: pb::ConsentStatus::NotRequired as i32,
                not_required_reason: pb::NotRequiredReason::StatutoryDuty as i32,
                ..Default::default()
            }),
            categories: categories(&[(
                "physical-health",
                "A&E attendances and injuries recorded since birth",
            )]),
            records_from: "2026-01-01".into(),
            urgency: pb::Urgency::Immediate as i32,
            onward_disclosure: Some(pb::OnwardDisclosure::default()),
            subject_notification: Some(pb::SubjectNotification {
                will_inform: false,
                reason_not_informing: "Telling the parents before the baby is safe could increase the risk.".into(),
            }),
            idempotency_key: uuid::Uuid::new_v4().to_string(),
            ..Default::default()
        },
    )
    .await?;
    request_cmd::print_submitted(&r, now());
    let d_id = r.exchange_id.clone();
    let a = r.assessment.clone().unwrap_or_default();
    demo.check(
        is(r.state, pb::ExchangeState::AwaitingApproval),
        "the exchange is awaiting_approval",
    )?;
    let minutes = a
        .respond_by
        .as_ref()
        .and_then(output::instant)
        .map(|t| (t - now()).whole_minutes());
    demo.check(
        minutes.is_some_and(|m| (0..=60).contains(&m)),
        format!(
            "the deadline is in minutes, not days (respond by {})",
            output::relative(a.respond_by.as_ref(), now())
        ),
    )?;
    demo.check(
        a.findings
            .iter()
            .any(|f| f.rule_id == "R16-immediate-risk-tell-police"),
        "the check advises telling the police now (R16-immediate-risk-tell-police)",
    )?;

    let nhs_ig = demo.person(&NHS_IG).await?;
    act(&NHS_IG, "approves in full at once");
    let x = approvals_cmd::decide(
        &nhs_ig,
        &d_id,
        Decision::Approve(pb::Approve {
            conditions: Some(pb::Conditions {
                no_onward_disclosure: false,
                retention_days: 30,
                inform_subject: false,
                other: String::new(),
            }),
        }),
        "Immediate risk: approved by phone with the duty manager.",
        None,
    )
    .await?;
    request_cmd::print_changed(false, Some(&x), "decided")?;
    demo.check(
        state(&x) == pb::ExchangeState::Approved,
        "the exchange is approved",
    )?;
    let nurse = demo.person(&NHS_NURSE).await?;
    act(&NHS_NURSE, "answers");
    let sent = response_cmd::submit(
        &nurse,
        &d_id,
        vec![
            pb::ResponseItem {
                category_id: "physical-health".into(),
                kind: pb::ItemKind::Fact as i32,
                content: "Two A&E attendances: 3 weeks ago (fall from sofa, bruised cheek) and 9 days ago (crying, no injury found).".into(),
                recorded_on: days_ago(9),
                historical: false,
                source_system: "Symphony ED".into(),
            },
            pb::ResponseItem {
                category_id: "physical-health".into(),
                kind: pb::ItemKind::Opinion as i32,
                content: "The triage nurse noted that a fall from a sofa did not fit the bruising seen.".into(),
                recorded_on: days_ago(21),
                historical: false,
                source_system: String::new(),
            },
        ],
        None,
    )
    .await?;
    request_cmd::print_changed(false, sent.exchange.as_ref(), "2 items sent")?;
    act(&COUNCIL_EDT, "fetches the response");
    let fetched = response_cmd::fetch(&edt, &d_id).await?;
    response_cmd::print_fetched(&fetched);
    demo.check(
        is(fetched.state, pb::ExchangeState::Delivered),
        format!(
            "delivered {} ms after the request was made",
            submitted_at.elapsed().as_millis()
        ),
    )?;
    Ok(Played {
        scenario: "(d) immediate risk",
        exchange_id: d_id,
        state: name::<pb::ExchangeState>(fetched.state),
    })
}
