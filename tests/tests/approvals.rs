//! The approval step end to end: concurrent decisions, the person-level rules (disputed
//! declines, Caldicott Guardians, escalation roles), questions and answers, the deadline job,
//! and the administrators' registry changes.

use std::time::Duration;

use accord_domain::Role;
use accord_tests::*;
use anyhow::{anyhow, Result};
use pb::decide_request::Decision as D;
use tonic::Code;

backend_tests!(
    two_ig_leads_deciding_at_once_one_wins,
    disputed_decline_is_decided_by_another_approver,
    health_data_without_consent_needs_the_caldicott_guardian,
    escalation_to_a_role_is_decided_by_that_role,
    questions_and_answers_go_back_to_approval,
    overdue_requests_are_escalated_by_the_deadline_job,
    withdrawn_request_is_told_to_the_holder,
    admin_suspension_is_audited_and_enforced,
    suspension_reaches_every_replica,
);

async fn submit(c: &mut Clients, holder: &str, child: &str) -> Result<pb::SubmitRequestResponse> {
    let agency = c.agency.clone();
    let subject = c.subject.clone();
    Ok(c.exchanges
        .submit_request(pb::SubmitRequestRequest {
            request: Some(s47_request(&agency, holder, &subject, child, child)),
        })
        .await?
        .into_inner())
}

async fn decide(
    c: &mut Clients,
    id: &str,
    version: u64,
    decision: D,
) -> Result<pb::Exchange, tonic::Status> {
    c.approvals
        .decide(pb::DecideRequest {
            exchange_id: id.into(),
            expected_version: version,
            decision: Some(decision),
            note: String::new(),
        })
        .await?
        .into_inner()
        .exchange
        .ok_or_else(|| tonic::Status::internal("no exchange in the response"))
}

fn decline(reason: &str) -> D {
    D::Decline(pb::Decline {
        reasons: vec![reason.into()],
    })
}

fn approve() -> D {
    D::Approve(pb::Approve::default())
}

async fn two_ig_leads_deciding_at_once_one_wins(backend: Backend) -> Result<()> {
    let app = spawn_app(backend).await?;
    let mut pc = app.clients(POLICE, Role::Practitioner).await?;
    let s = submit(&mut pc, TRUST, "race-child").await?;
    let mut a = app.clients_as(TRUST, "ig-a", &[Role::IgLead]).await?;
    let mut b = app.clients_as(TRUST, "ig-b", &[Role::IgLead]).await?;
    let (ra, rb) = tokio::join!(
        decide(&mut a, &s.exchange_id, s.version, approve()),
        decide(
            &mut b,
            &s.exchange_id,
            s.version,
            decline("Not proportionate")
        ),
    );
    let codes = [code_of(&ra), code_of(&rb)];
    assert!(
        codes == [Code::Ok, Code::Aborted] || codes == [Code::Aborted, Code::Ok],
        "{ra:?} / {rb:?}"
    );
    // Exactly one decision is recorded.
    let x = pc
        .exchanges
        .get_exchange(pb::GetExchangeRequest {
            exchange_id: s.exchange_id.clone(),
        })
        .await?
        .into_inner()
        .exchange
        .ok_or_else(|| anyhow!("no exchange"))?;
    assert_eq!(x.decisions.len(), 1);
    assert_eq!(x.version, s.version + 1);
    app.stop().await
}

async fn disputed_decline_is_decided_by_another_approver(backend: Backend) -> Result<()> {
    let app = spawn_app(backend).await?;
    let mut pc = app.clients(POLICE, Role::Practitioner).await?;
    let s = submit(&mut pc, TRUST, "dispute-child").await?;
    let mut first = app.clients_as(TRUST, "ig-first", &[Role::IgLead]).await?;
    let mut second = app.clients_as(TRUST, "ig-second", &[Role::IgLead]).await?;
    let declined = decide(
        &mut first,
        &s.exchange_id,
        s.version,
        decline("The purpose does not need social care history"),
    )
    .await?;
    assert_eq!(declined.state, pb::ExchangeState::Declined as i32);

    // The requester disputes it (`002 14.1`).
    let escalated = pc
        .exchanges
        .escalate_decline(pb::EscalateDeclineRequest {
            exchange_id: s.exchange_id.clone(),
            reason: "The strategy discussion needs it today".into(),
            expected_version: declined.version,
        })
        .await?
        .into_inner()
        .exchange
        .ok_or_else(|| anyhow!("no exchange"))?;
    assert_eq!(escalated.state, pb::ExchangeState::Escalated as i32);
    assert_eq!(escalated.requester_actions.len(), 1);
    assert_eq!(
        escalated.requester_actions[0].kind,
        pb::RequesterActionKind::EscalatedDecline as i32
    );

    // The approver who declined may not decide again; another one may.
    let e = expect_err(decide(&mut first, &s.exchange_id, escalated.version, approve()).await)?;
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    let pending_first = first
        .approvals
        .list_pending(pb::ListPendingRequest {
            include_escalated: true,
            ..Default::default()
        })
        .await?
        .into_inner();
    assert!(pending_first.exchanges.is_empty());
    let pending_second = second
        .approvals
        .list_pending(pb::ListPendingRequest {
            include_escalated: true,
            ..Default::default()
        })
        .await?
        .into_inner();
    assert_eq!(pending_second.exchanges.len(), 1);
    let approved = decide(&mut second, &s.exchange_id, escalated.version, approve()).await?;
    assert_eq!(approved.state, pb::ExchangeState::Approved as i32);

    // Only a declined request can be disputed.
    let e = expect_err(
        pc.exchanges
            .escalate_decline(pb::EscalateDeclineRequest {
                exchange_id: s.exchange_id.clone(),
                reason: "again".into(),
                expected_version: 0,
            })
            .await,
    )?;
    assert_eq!(e.code(), Code::FailedPrecondition);

    // The escalation and its outcome are recorded.
    let mut auditor = app.clients(COUNCIL, Role::Auditor).await?;
    let kinds: Vec<String> = auditor
        .audit
        .query_audit(pb::QueryAuditRequest {
            exchange_id: s.exchange_id,
            ..Default::default()
        })
        .await?
        .into_inner()
        .entries
        .into_iter()
        .map(|e| e.event_kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "submitted",
            "sent_for_approval",
            "decline",
            "escalate",
            "approve"
        ]
    );
    app.stop().await
}

/// A B&NES request for health records about a child without consent (not sought, with a
/// reason): the purpose requires a Caldicott Guardian's approval (`004 FAQ`).
fn health_request(practitioner: &str) -> pb::InformationRequest {
    use pb::*;
    let mut r = s47_request(
        BANES_COUNCIL,
        BANES_HOSPITAL,
        practitioner,
        "health-child",
        "h-1",
    );
    r.protocol_id = BANES.into();
    r.protocol_version = "2018".into();
    r.purpose_id = "health-information".into();
    r.level_of_need = LevelOfNeed::ChildInNeed as i32;
    r.lawful_basis = Some(LawfulBasisClaim {
        article6: LawfulBasis::PublicTask as i32,
        special_condition: SpecialCategoryCondition::HealthSocialCare as i32,
        gateways: vec![StatutoryGateway::Ca2004S11 as i32],
    });
    r.consent = Some(Consent {
        status: ConsentStatus::NotSought as i32,
        not_sought_reasons: vec![NotSoughtReason::IncreasedRiskOfHarm as i32],
        not_sought_detail: "Asking the parents would alert the alleged abuser".into(),
        ..Default::default()
    });
    r.categories = vec![
        CategoryRequest {
            category_id: "physical-health".into(),
            reason: "Injuries seen at A&E".into(),
        },
        CategoryRequest {
            category_id: "identity-and-contact".into(),
            reason: "To match hospital records".into(),
        },
    ];
    r
}

async fn health_data_without_consent_needs_the_caldicott_guardian(backend: Backend) -> Result<()> {
    let app = spawn_app(backend).await?;
    let mut sw = app.clients(BANES_COUNCIL, Role::Practitioner).await?;
    let subject = sw.subject.clone();
    let s = sw
        .exchanges
        .submit_request(pb::SubmitRequestRequest {
            request: Some(health_request(&subject)),
        })
        .await?
        .into_inner();
    let a = s
        .assessment
        .clone()
        .ok_or_else(|| anyhow!("no assessment"))?;
    assert_eq!(
        s.state,
        pb::ExchangeState::AwaitingApproval as i32,
        "{:#?}",
        a.findings
    );
    assert!(a
        .required_approver_roles
        .contains(&(pb::Role::CaldicottGuardian as i32)));

    let mut ig = app.clients(BANES_HOSPITAL, Role::IgLead).await?;
    let e = expect_err(decide(&mut ig, &s.exchange_id, s.version, approve()).await)?;
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    let e = expect_err(
        decide(
            &mut ig,
            &s.exchange_id,
            s.version,
            D::ApprovePart(pb::ApprovePart {
                categories: vec!["identity-and-contact".into()],
                conditions: None,
            }),
        )
        .await,
    )?;
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    let mut cg = app.clients(BANES_HOSPITAL, Role::CaldicottGuardian).await?;
    let x = decide(&mut cg, &s.exchange_id, s.version, approve()).await?;
    assert_eq!(x.state, pb::ExchangeState::Approved as i32);
    assert_eq!(
        x.decisions[0].decided_by_role,
        pb::Role::CaldicottGuardian as i32
    );
    app.stop().await
}

async fn escalation_to_a_role_is_decided_by_that_role(backend: Backend) -> Result<()> {
    let app = spawn_app(backend).await?;
    let mut pc = app.clients(POLICE, Role::Practitioner).await?;
    let s = submit(&mut pc, TRUST, "escalate-child").await?;
    let mut ig = app.clients(TRUST, Role::IgLead).await?;
    let e = expect_err(
        decide(
            &mut ig,
            &s.exchange_id,
            s.version,
            D::Escalate(pb::Escalate {
                reason: "Needs a second opinion".into(),
                to_role: pb::Role::Auditor as i32,
            }),
        )
        .await,
    )?;
    assert_eq!(violated_fields(&e), ["escalate.to_role"]);
    let x = decide(
        &mut ig,
        &s.exchange_id,
        s.version,
        D::Escalate(pb::Escalate {
            reason: "Needs the Caldicott Guardian".into(),
            to_role: pb::Role::CaldicottGuardian as i32,
        }),
    )
    .await?;
    assert_eq!(x.state, pb::ExchangeState::Escalated as i32);
    let mut other_ig = app.clients_as(TRUST, "ig-other", &[Role::IgLead]).await?;
    let e = expect_err(decide(&mut other_ig, &s.exchange_id, x.version, approve()).await)?;
    assert_eq!(e.code(), Code::PermissionDenied);
    let mut cg = app.clients(TRUST, Role::CaldicottGuardian).await?;
    let x = decide(&mut cg, &s.exchange_id, x.version, approve()).await?;
    assert_eq!(x.state, pb::ExchangeState::Approved as i32);
    // The police were told of the escalation and of the decision.
    let kinds: Vec<i32> = read_inbox(&mut pc, "")
        .await?
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            pb::InboxEventKind::Escalated as i32,
            pb::InboxEventKind::DecisionMade as i32
        ]
    );
    app.stop().await
}

async fn questions_and_answers_go_back_to_approval(backend: Backend) -> Result<()> {
    let app = spawn_app(backend).await?;
    let mut pc = app.clients(POLICE, Role::Practitioner).await?;
    let s = submit(&mut pc, TRUST, "question-child").await?;
    let mut ig = app.clients(TRUST, Role::IgLead).await?;
    let asked = decide(
        &mut ig,
        &s.exchange_id,
        s.version,
        D::Ask(pb::AskForMoreInformation {
            questions: vec!["Which school term do you need?".into()],
        }),
    )
    .await?;
    assert_eq!(asked.state, pb::ExchangeState::MoreInfoRequested as i32);
    assert_eq!(asked.decisions[0].questions.len(), 1);
    // Amending the categories is not supported yet; a plain answer is.
    let e = expect_err(
        pc.exchanges
            .answer_information_request(pb::AnswerInformationRequestRequest {
                exchange_id: s.exchange_id.clone(),
                answer: "This term".into(),
                amended_categories: vec![pb::CategoryRequest {
                    category_id: "education".into(),
                    reason: "attendance".into(),
                }],
                expected_version: asked.version,
            })
            .await,
    )?;
    assert_eq!(violated_fields(&e), ["amended_categories"]);
    let answered = pc
        .exchanges
        .answer_information_request(pb::AnswerInformationRequestRequest {
            exchange_id: s.exchange_id.clone(),
            answer: "This term only".into(),
            amended_categories: Vec::new(),
            expected_version: asked.version,
        })
        .await?
        .into_inner()
        .exchange
        .ok_or_else(|| anyhow!("no exchange"))?;
    assert_eq!(answered.state, pb::ExchangeState::AwaitingApproval as i32);
    assert_eq!(
        answered.requester_actions[0].kind,
        pb::RequesterActionKind::Answered as i32
    );
    assert_eq!(answered.requester_actions[0].text, "This term only");
    let kinds: Vec<i32> = read_inbox(&mut ig, "")
        .await?
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            pb::InboxEventKind::RequestReceived as i32,
            pb::InboxEventKind::InformationProvided as i32
        ]
    );
    // An old version is refused.
    let e = expect_err(decide(&mut ig, &s.exchange_id, asked.version, approve()).await)?;
    assert_eq!(e.code(), Code::Aborted);
    decide(&mut ig, &s.exchange_id, answered.version, approve()).await?;
    app.stop().await
}

async fn overdue_requests_are_escalated_by_the_deadline_job(backend: Backend) -> Result<()> {
    let app = spawn_app(backend).await?;
    let mut pc = app.clients(POLICE, Role::Practitioner).await?;
    let agency = pc.agency.clone();
    let subject = pc.subject.clone();
    let mut request = s47_request(&agency, TRUST, &subject, "urgent-child", "urgent-1");
    request.urgency = pb::Urgency::Immediate as i32;
    let s = pc
        .exchanges
        .submit_request(pb::SubmitRequestRequest {
            request: Some(request),
        })
        .await?
        .into_inner();
    let respond_by = s
        .assessment
        .as_ref()
        .and_then(|a| a.respond_by)
        .ok_or_else(|| anyhow!("no deadline"))?;
    // Sandwell: immediate requests are answered within 30 minutes.
    let minutes = (respond_by.seconds - app.clock.now().unix_timestamp()) / 60;
    assert!((29..=30).contains(&minutes), "{minutes} minutes");

    // An hour passes without a decision; the deadline job (every 100 ms) escalates it.
    app.clock.advance(time::Duration::hours(1));
    let mut pc = app.clients(POLICE, Role::Practitioner).await?;
    let mut escalated = None;
    for _ in 0..200 {
        let x = pc
            .exchanges
            .get_exchange(pb::GetExchangeRequest {
                exchange_id: s.exchange_id.clone(),
            })
            .await?
            .into_inner()
            .exchange
            .ok_or_else(|| anyhow!("no exchange"))?;
        if x.overdue {
            escalated = Some(x);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let x = escalated.ok_or_else(|| anyhow!("not marked overdue within 10 s"))?;
    assert_eq!(x.state, pb::ExchangeState::Escalated as i32);

    for agency in [POLICE, TRUST] {
        let mut c = app.clients(agency, Role::IgLead).await?;
        let events = read_inbox(&mut c, "").await?;
        assert!(
            events
                .iter()
                .any(|e| e.kind == pb::InboxEventKind::Overdue as i32
                    && e.exchange_id == s.exchange_id),
            "{agency}: {events:?}"
        );
    }
    let mut auditor = app.clients(COUNCIL, Role::Auditor).await?;
    let overdue = auditor
        .audit
        .query_audit(pb::QueryAuditRequest {
            exchange_id: s.exchange_id.clone(),
            event_kinds: vec!["overdue".into()],
            ..Default::default()
        })
        .await?
        .into_inner()
        .entries;
    assert_eq!(overdue.len(), 1);
    assert!(overdue[0].actor_subject.is_empty() || overdue[0].actor_agency_id.is_empty());
    let stats = auditor
        .audit
        .get_statistics(pb::GetStatisticsRequest::default())
        .await?
        .into_inner();
    assert_eq!(stats.overdue_count, 1);
    // Still decidable by the holder's IG lead.
    let mut ig = app.clients(TRUST, Role::IgLead).await?;
    let pending = ig
        .approvals
        .list_pending(pb::ListPendingRequest {
            include_escalated: true,
            ..Default::default()
        })
        .await?
        .into_inner();
    assert_eq!(pending.exchanges.len(), 1);
    decide(&mut ig, &s.exchange_id, x.version, approve()).await?;
    app.stop().await
}

async fn withdrawn_request_is_told_to_the_holder(backend: Backend) -> Result<()> {
    let app = spawn_app(backend).await?;
    let mut pc = app.clients(POLICE, Role::Practitioner).await?;
    let s = submit(&mut pc, TRUST, "withdraw-child").await?;
    let x = pc
        .exchanges
        .withdraw_request(pb::WithdrawRequestRequest {
            exchange_id: s.exchange_id.clone(),
            reason: "Child located and safe".into(),
            expected_version: s.version,
        })
        .await?
        .into_inner()
        .exchange
        .ok_or_else(|| anyhow!("no exchange"))?;
    assert_eq!(x.state, pb::ExchangeState::Withdrawn as i32);
    let mut ig = app.clients(TRUST, Role::IgLead).await?;
    let kinds: Vec<i32> = read_inbox(&mut ig, "")
        .await?
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            pb::InboxEventKind::RequestReceived as i32,
            pb::InboxEventKind::Withdrawn as i32
        ]
    );
    let e = expect_err(decide(&mut ig, &s.exchange_id, x.version, approve()).await)?;
    assert_eq!(e.code(), Code::FailedPrecondition);
    app.stop().await
}

async fn admin_suspension_is_audited_and_enforced(backend: Backend) -> Result<()> {
    let app = spawn_app(backend).await?;
    let mut admin = app.clients(COUNCIL, Role::Admin).await?;
    let mut pc = app.clients(POLICE, Role::Practitioner).await?;
    pc.registry
        .list_protocols(pb::ListProtocolsRequest {})
        .await?;
    let mut following = pc
        .inbox
        .watch_inbox(pb::WatchInboxRequest {
            after_cursor: String::new(),
            follow: true,
        })
        .await?
        .into_inner();
    let suspended = admin
        .registry
        .suspend_signatory(pb::SuspendSignatoryRequest {
            protocol_id: SANDWELL.into(),
            agency_id: POLICE.into(),
            reason: "Breach under investigation".into(),
        })
        .await?
        .into_inner();
    let signatory = suspended.signatory.ok_or_else(|| anyhow!("no signatory"))?;
    assert_eq!(signatory.status, pb::SignatoryStatus::Suspended as i32);
    assert_eq!(signatory.status_reason, "Breach under investigation");
    assert!(suspended.audit_sequence > 0);
    // The police can no longer take part.
    let e = expect_err(
        pc.registry
            .list_protocols(pb::ListProtocolsRequest {})
            .await,
    )?;
    assert_eq!(e.code(), Code::PermissionDenied);
    // A stream opened before the suspension ends with it.
    let ended = tokio::time::timeout(Duration::from_secs(10), following.message())
        .await
        .map_err(|_| anyhow!("the inbox stream outlived the suspension"))?;
    assert_eq!(ended.err().map(|s| s.code()), Some(Code::PermissionDenied));
    // Suspending again is a state problem; reinstating works and is audited too.
    let e = expect_err(
        admin
            .registry
            .suspend_signatory(pb::SuspendSignatoryRequest {
                protocol_id: SANDWELL.into(),
                agency_id: POLICE.into(),
                reason: "again".into(),
            })
            .await,
    )?;
    assert_eq!(e.code(), Code::FailedPrecondition);
    let reinstated = admin
        .registry
        .reinstate_signatory(pb::ReinstateSignatoryRequest {
            protocol_id: SANDWELL.into(),
            agency_id: POLICE.into(),
            reason: "Investigation closed".into(),
        })
        .await?
        .into_inner();
    assert!(reinstated.audit_sequence > suspended.audit_sequence);
    pc.registry
        .list_protocols(pb::ListProtocolsRequest {})
        .await?;
    let reaffirmed = admin
        .registry
        .reaffirm_signatory(pb::ReaffirmSignatoryRequest {
            protocol_id: SANDWELL.into(),
            agency_id: POLICE.into(),
            affirmed_on: convert_date(app.clock.now().date()),
        })
        .await?
        .into_inner();
    assert_eq!(
        reaffirmed.signatory.map(|s| s.last_affirmed_on),
        Some(convert_date(app.clock.now().date()))
    );
    let mut auditor = app.clients(COUNCIL, Role::Auditor).await?;
    let entries = auditor
        .audit
        .query_audit(pb::QueryAuditRequest {
            event_kinds: vec![
                "signatory_suspended".into(),
                "signatory_reinstated".into(),
                "signatory_reaffirmed".into(),
            ],
            ..Default::default()
        })
        .await?
        .into_inner()
        .entries;
    let kinds: Vec<&str> = entries.iter().map(|e| e.event_kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "signatory_suspended",
            "signatory_reinstated",
            "signatory_reaffirmed"
        ]
    );
    assert_eq!(entries[0].sequence, suspended.audit_sequence);
    assert_eq!(entries[0].actor_subject, admin.subject);
    app.stop().await
}

/// Calls `ListProtocols` as `c` until the result has `want` as its code, for at most ~5 s.
async fn until_code(c: &mut Clients, want: Code) -> Result<()> {
    let mut last = Code::Unknown;
    for _ in 0..50 {
        last = code_of(&c.registry.list_protocols(pb::ListProtocolsRequest {}).await);
        if last == want {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(anyhow!(
        "{} still gets {last:?}, not {want:?}, after 5 s",
        c.agency
    ))
}

/// Two replicas on one database: a suspension made through the first reaches the second
/// within the registry sync interval (100 ms here), and so does the reinstatement.
async fn suspension_reaches_every_replica(backend: Backend) -> Result<()> {
    let one = spawn_app(backend).await?;
    let two = one.spawn_replica().await?;
    let mut admin_one = one.clients(COUNCIL, Role::Admin).await?;
    let mut admin_two = two.clients(COUNCIL, Role::Admin).await?;
    let mut pc_one = one.clients(POLICE, Role::Practitioner).await?;
    let mut pc_two = two.clients(POLICE, Role::Practitioner).await?;
    pc_two
        .registry
        .list_protocols(pb::ListProtocolsRequest {})
        .await?;

    let suspended = admin_one
        .registry
        .suspend_signatory(pb::SuspendSignatoryRequest {
            protocol_id: SANDWELL.into(),
            agency_id: POLICE.into(),
            reason: "Breach under investigation".into(),
        })
        .await?
        .into_inner();
    // At once on the replica that made the change; within the interval on the other.
    let e = expect_err(
        pc_one
            .registry
            .list_protocols(pb::ListProtocolsRequest {})
            .await,
    )?;
    assert_eq!(e.code(), Code::PermissionDenied);
    until_code(&mut pc_two, Code::PermissionDenied).await?;
    let e = expect_err(
        pc_two
            .exchanges
            .submit_request(pb::SubmitRequestRequest {
                request: Some(s47_request(POLICE, TRUST, &pc_two.subject, "c-r1", "c-r1")),
            })
            .await,
    )?;
    assert_eq!(e.code(), Code::PermissionDenied);
    // Replica two holds the same status and reason, and knows suspending again is wrong.
    let signatories = admin_two
        .registry
        .list_signatories(pb::ListSignatoriesRequest {
            protocol_id: SANDWELL.into(),
        })
        .await?
        .into_inner()
        .signatories;
    let police = signatories
        .iter()
        .find(|s| s.agency_id == POLICE)
        .ok_or_else(|| anyhow!("no police signatory"))?;
    assert_eq!(police.status, pb::SignatoryStatus::Suspended as i32);
    assert_eq!(police.status_reason, "Breach under investigation");
    assert!(two.state.registry.applied_through() >= suspended.audit_sequence);
    let e = expect_err(
        admin_two
            .registry
            .suspend_signatory(pb::SuspendSignatoryRequest {
                protocol_id: SANDWELL.into(),
                agency_id: POLICE.into(),
                reason: "again".into(),
            })
            .await,
    )?;
    assert_eq!(e.code(), Code::FailedPrecondition);

    // Replica one's own sync read its own change back without effect.
    until_applied(&one, suspended.audit_sequence).await?;
    assert_eq!(
        code_of(
            &pc_one
                .registry
                .list_protocols(pb::ListProtocolsRequest {})
                .await
        ),
        Code::PermissionDenied
    );

    admin_one
        .registry
        .reinstate_signatory(pb::ReinstateSignatoryRequest {
            protocol_id: SANDWELL.into(),
            agency_id: POLICE.into(),
            reason: "Investigation closed".into(),
        })
        .await?;
    until_code(&mut pc_two, Code::Ok).await?;
    pc_two
        .exchanges
        .submit_request(pb::SubmitRequestRequest {
            request: Some(s47_request(POLICE, TRUST, &pc_two.subject, "c-r2", "c-r2")),
        })
        .await?;
    pc_one
        .registry
        .list_protocols(pb::ListProtocolsRequest {})
        .await?;
    two.stop().await?;
    one.stop().await
}

/// Waits (at most ~5 s) until `app`'s registry sync has read the log through `sequence`.
async fn until_applied(app: &App, sequence: u64) -> Result<()> {
    for _ in 0..50 {
        if app.state.registry.applied_through() >= sequence {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(anyhow!(
        "the registry sync did not reach sequence {sequence}"
    ))
}

fn convert_date(d: time::Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}
