//! Scene (c): a request declined, escalated by the requester, and decided by a different
//! approver.

use accord_proto::v1 as pb;
use accord_proto::v1::decide_request::Decision;
use time::OffsetDateTime;

use super::people::{NHS_HEAD_OF_IG, NHS_IG, SOCIAL_WORKER};
use super::{
    act, categories, child, days_ago, expect_refusal, is, practitioner, scenario, state, submit,
    Demo, Played,
};
use crate::client::CallExt as _;
use crate::output::{self, name, Table};
use crate::{approvals_cmd, request_cmd, view};

pub(super) async fn play(demo: &mut Demo, protocol: &pb::Protocol) -> anyhow::Result<Played> {
    let now = OffsetDateTime::now_utc;
    scenario(
        'c',
        "Declined, escalated by the requester, decided by someone else",
        "The social worker asks the NHS trust about the mother's mental health and the child's \
         hospital attendances for a child in need assessment; the mother has given explicit \
         consent. The trust's IG lead declines. The social worker disputes the decline (002 \
         14.1); the escalation goes to a different approver, and the one who declined cannot \
         decide it again.",
    );
    let sw = demo.person(&SOCIAL_WORKER).await?;
    act(
        &SOCIAL_WORKER,
        "submits a request to sandwell-west-birmingham-nhs (child-in-need-assessment)",
    );
    let r = submit(
        &sw,
        pb::InformationRequest {
            protocol_id: protocol.id.clone(),
            protocol_version: protocol.version.clone(),
            requesting_agency_id: SOCIAL_WORKER.agency.into(),
            practitioner: practitioner(&SOCIAL_WORKER, "Social worker, child in need team", "sam.okafor@sandwellchildrenstrust.example"),
            holding_agency_id: "sandwell-west-birmingham-nhs".into(),
            child: child("Maya Example", "2018-02-11", "401 023 2137"),
            purpose_id: "child-in-need-assessment".into(),
            necessity_justification: "The assessment must judge whether the mother's mental health affects her care of Maya; she says she is treated by the trust and agreed to us asking.".into(),
            expected_outcome: "A child in need plan with the right support for mother and child.".into(),
            level_of_need: pb::LevelOfNeed::ChildInNeed as i32,
            risk_summary: "Missed health appointments; the mother reports low mood.".into(),
            lawful_basis: Some(pb::LawfulBasisClaim {
                article6: pb::LawfulBasis::PublicTask as i32,
                special_condition: pb::SpecialCategoryCondition::SafeguardingChildren as i32,
                gateways: vec![pb::StatutoryGateway::Ca1989S17 as i32],
            }),
            consent: Some(pb::Consent {
                status: pb::ConsentStatus::Obtained as i32,
                given_by: pb::ConsentGiver::ParentalResponsibility as i32,
                given_by_name: "Jo Example".into(),
                given_on: days_ago(2),
                explicit: true,
                scope: "Her own mental health treatment and Maya's hospital attendances, shared with the social worker for the assessment.".into(),
                ..Default::default()
            }),
            categories: categories(&[
                ("mental-health", "The mother's diagnosis and engagement with treatment"),
                ("physical-health", "Maya's hospital and A&E attendances"),
            ]),
            records_from: "2024-01-01".into(),
            urgency: pb::Urgency::Routine as i32,
            onward_disclosure: Some(pb::OnwardDisclosure::default()),
            subject_notification: Some(pb::SubjectNotification {
                will_inform: true,
                reason_not_informing: String::new(),
            }),
            idempotency_key: uuid::Uuid::new_v4().to_string(),
            ..Default::default()
        },
    )
    .await?;
    request_cmd::print_submitted(&r, now());
    let c_id = r.exchange_id.clone();
    demo.check(
        is(r.state, pb::ExchangeState::AwaitingApproval),
        "the exchange is awaiting_approval",
    )?;

    let nhs_ig = demo.person(&NHS_IG).await?;
    act(&NHS_IG, "declines, with reasons");
    let x = approvals_cmd::decide(
        &nhs_ig,
        &c_id,
        Decision::Decline(pb::Decline {
            reasons: vec![
                "The consent recorded does not say the mother was told her psychiatric notes would be shared.".into(),
            ],
        }),
        "",
        None,
    )
    .await?;
    request_cmd::print_changed(false, Some(&x), "decided")?;
    demo.check(
        state(&x) == pb::ExchangeState::Declined,
        "the exchange is declined",
    )?;
    demo.check(
        x.decisions.last().is_some_and(|d| !d.reasons.is_empty()),
        "the decline carries its reasons for the requester",
    )?;

    act(&SOCIAL_WORKER, "disputes the decline");
    let x = sw
        .exchange
        .clone()
        .escalate_decline(pb::EscalateDeclineRequest {
            exchange_id: c_id.clone(),
            reason: "The signed consent form names her psychiatric treatment explicitly; a copy is on the case file and can be sent.".into(),
            expected_version: x.version,
        })
        .await
        .rpc("EscalateDecline")?
        .exchange
        .unwrap_or_default();
    request_cmd::print_changed(false, Some(&x), "escalated")?;
    demo.check(
        state(&x) == pb::ExchangeState::Escalated,
        "the exchange is escalated",
    )?;

    act(
        &NHS_IG,
        "tries to decide the escalation of their own decline",
    );
    let refused = expect_refusal(
        approvals_cmd::decide(
            &nhs_ig,
            &c_id,
            Decision::Decline(pb::Decline {
                reasons: vec!["Still declined.".into()],
            }),
            "",
            Some(x.version),
        )
        .await,
    );
    if let Some(e) = &refused {
        outln!("  refused: {}", e.brief());
    }
    demo.check(
        refused.is_some(),
        "the approver who declined cannot decide the escalation",
    )?;

    let head = demo.person(&NHS_HEAD_OF_IG).await?;
    act(
        &NHS_HEAD_OF_IG,
        "reviews the escalation and approves, with conditions",
    );
    let pending = approvals_cmd::pending(&head, true, 50, "").await?;
    demo.check(
        pending.exchanges.iter().any(|p| p.id == c_id),
        "the escalation is on the other approver's list",
    )?;
    let x = approvals_cmd::decide(
        &head,
        &c_id,
        Decision::Approve(pb::Approve {
            conditions: Some(pb::Conditions {
                no_onward_disclosure: true,
                retention_days: 30,
                inform_subject: true,
                other: String::new(),
            }),
        }),
        "Consent form seen; it covers the psychiatric notes.",
        None,
    )
    .await?;
    request_cmd::print_changed(false, Some(&x), "decided")?;
    view::decisions_table(&x.decisions).print();
    if !x.requester_actions.is_empty() {
        let mut t = Table::new(&["TIME", "BY", "REQUESTER ACTION", "TEXT"]).wrap(3, 60);
        for a in &x.requester_actions {
            t.row([
                output::time(a.acted_at.as_ref()),
                a.acted_by.clone(),
                name::<pb::RequesterActionKind>(a.kind),
                a.text.clone(),
            ]);
        }
        outln!();
        t.print();
    }
    demo.check(
        state(&x) == pb::ExchangeState::Approved,
        "the escalation ends in approval",
    )?;
    let deciders: Vec<&str> = x.decisions.iter().map(|d| d.decided_by.as_str()).collect();
    demo.check(
        deciders.first() == Some(&NHS_IG.sub) && deciders.last() == Some(&NHS_HEAD_OF_IG.sub),
        format!(
            "declined by {} and decided after escalation by {}",
            NHS_IG.sub, NHS_HEAD_OF_IG.sub
        ),
    )?;
    Ok(Played {
        scenario: "(c) declined, escalated",
        exchange_id: c_id,
        state: name::<pb::ExchangeState>(x.state),
    })
}
