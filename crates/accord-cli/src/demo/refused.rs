//! Scene (a): an early help request without explicit consent, refused by the check.

use accord_proto::v1 as pb;
use time::OffsetDateTime;

use super::people::SCHOOL_DSL;
use super::{act, categories, child, is, practitioner, scenario, submit, Demo, Played};
use crate::output::name;
use crate::request_cmd;

pub(super) async fn play(demo: &mut Demo, protocol: &pb::Protocol) -> anyhow::Result<Played> {
    let now = OffsetDateTime::now_utc;
    scenario(
        'a',
        "An early help request, refused by the check",
        "A school's designated safeguarding lead wants to know whether a family already has an \
         Early Help plan with the council. The parents have not been asked. Sandwell's protocol \
         (002 App.2) needs freely given, explicit consent at the early help level, so the broker \
         refuses the request before anyone at the council sees it, and says why.",
    );
    let dsl = demo.person(&SCHOOL_DSL).await?;
    act(
        &SCHOOL_DSL,
        "submits a request to sandwell-council (purpose early-help)",
    );
    let r = submit(
        &dsl,
        pb::InformationRequest {
            protocol_id: protocol.id.clone(),
            protocol_version: protocol.version.clone(),
            requesting_agency_id: SCHOOL_DSL.agency.into(),
            practitioner: practitioner(&SCHOOL_DSL, "Designated safeguarding lead, Oak Primary", "dsl@oakprimary.example"),
            holding_agency_id: "sandwell-council".into(),
            child: child("Leo Example", "2016-09-02", "485 777 3456"),
            purpose_id: "early-help".into(),
            necessity_justification: "Leo's attendance has fallen to 82% and he arrives hungry; the school wants to know whether an Early Help plan already exists before offering support.".into(),
            expected_outcome: "Coordinated early help support rather than a second assessment.".into(),
            level_of_need: pb::LevelOfNeed::EarlyHelp as i32,
            risk_summary: "Low attendance and signs of neglect; no disclosure.".into(),
            lawful_basis: Some(pb::LawfulBasisClaim {
                article6: pb::LawfulBasis::PublicTask as i32,
                special_condition: pb::SpecialCategoryCondition::None as i32,
                gateways: vec![],
            }),
            consent: Some(pb::Consent {
                status: pb::ConsentStatus::NotSought as i32,
                not_sought_reasons: vec![pb::NotSoughtReason::UnjustifiedDelay as i32],
                not_sought_detail: "The parents are hard to reach at the school gate.".into(),
                ..Default::default()
            }),
            categories: categories(&[
                ("early-help-involvement", "Whether an Early Help plan or assessment exists"),
                ("agency-involvement", "Which practitioners already work with the family"),
            ]),
            records_from: "2025-01-01".into(),
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
    let a = r.assessment.clone().unwrap_or_default();
    request_cmd::print_submitted(&r, now());
    demo.check(
        is(r.state, pb::ExchangeState::Refused)
            && a.outcome == pb::AssessmentOutcome::Refuse as i32,
        "the exchange is refused by the check, before any person sees it",
    )?;
    let r06 = a.findings.iter().find(|f| f.rule_id.starts_with("R06-"));
    demo.check(
        r06.is_some_and(|f| f.severity == pb::Severity::Blocking as i32 && !f.source.is_empty() && !f.message.is_empty()),
        "a blocking finding of rule R06 (explicit consent at early help) gives its source and a message",
    )?;
    demo.check(
        a.proposed_scope.is_empty(),
        "nothing is proposed for sharing",
    )?;
    Ok(Played {
        scenario: "(a) early help, no consent",
        exchange_id: r.exchange_id,
        state: name::<pb::ExchangeState>(r.state),
    })
}
