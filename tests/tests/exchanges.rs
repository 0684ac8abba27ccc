//! Exchanges end to end: the whole lifecycle with its audit trail, refusals, idempotent
//! retries, responses that stray outside the approval, bad input, and the inbox.

use std::time::Duration;

use accord_domain::Role;
use accord_tests::*;
use anyhow::{anyhow, Result};
use tonic::Code;
use tonic_types::StatusExt;

backend_tests!(
    full_lifecycle_is_audited_and_verifies,
    refused_request_is_recorded_with_its_findings,
    retried_submission_returns_the_first_exchange,
    response_with_an_unapproved_category_stores_nothing,
    bad_input_names_the_field,
    inbox_resumes_from_a_cursor_with_exactly_the_missed_events,
    following_inbox_delivers_new_events_and_ends_on_shutdown,
    submitting_for_another_agency_or_person_is_refused,
    listing_filters_and_pages,
    content_is_purged_after_its_retention,
    over_long_list_is_one_violation_naming_the_list,
    refused_request_is_hidden_from_the_holder,
    agency_suspended_in_the_exchanges_protocol_cannot_read_it,
);

fn exchange_of(x: Option<pb::Exchange>) -> Result<pb::Exchange> {
    x.ok_or_else(|| anyhow!("no exchange in the response"))
}

async fn submit(
    c: &mut Clients,
    holder: &str,
    child: &str,
    key: &str,
) -> Result<pb::SubmitRequestResponse> {
    let agency = c.agency.clone();
    let subject = c.subject.clone();
    Ok(c.exchanges
        .submit_request(pb::SubmitRequestRequest {
            request: Some(s47_request(&agency, holder, &subject, child, key)),
        })
        .await?
        .into_inner())
}

async fn get(c: &mut Clients, id: &str) -> Result<pb::Exchange> {
    exchange_of(
        c.exchanges
            .get_exchange(pb::GetExchangeRequest {
                exchange_id: id.into(),
            })
            .await?
            .into_inner()
            .exchange,
    )
}

async fn full_lifecycle_is_audited_and_verifies(backend: Backend) -> Result<()> {
    let app = spawn_app(backend).await?;
    let mut pc = app.clients(POLICE, Role::Practitioner).await?;
    let mut ig = app.clients(TRUST, Role::IgLead).await?;
    let mut sw = app.clients(TRUST, Role::Practitioner).await?;
    let mut auditor = app.clients(COUNCIL, Role::Auditor).await?;

    // Submit: the check sends it to the trust's IG lead.
    let s = submit(&mut pc, TRUST, "lifecycle-child", "lifecycle-1").await?;
    assert_eq!(s.state, pb::ExchangeState::AwaitingApproval as i32);
    assert!(!s.replayed);
    let assessment = s
        .assessment
        .clone()
        .ok_or_else(|| anyhow!("no assessment"))?;
    assert_eq!(
        assessment.outcome,
        pb::AssessmentOutcome::ProceedToApproval as i32
    );
    assert_eq!(
        assessment.proposed_scope,
        ["education", "social-care-involvement", "agency-involvement"]
    );
    let id = s.exchange_id.clone();

    // The IG lead sees it pending and approves part of it, for 7 days.
    let pending = ig
        .approvals
        .list_pending(pb::ListPendingRequest::default())
        .await?
        .into_inner();
    assert_eq!(pending.exchanges.len(), 1);
    assert_eq!(pending.exchanges[0].id, id);
    // ListPending returns whole exchanges: the level of need is the request's.
    assert_eq!(
        pending.exchanges[0]
            .request
            .as_ref()
            .map(|r| r.level_of_need),
        Some(pb::LevelOfNeed::SignificantHarm as i32),
        "the pending listing shows the level of need"
    );
    let decided = exchange_of(
        ig.approvals
            .decide(pb::DecideRequest {
                exchange_id: id.clone(),
                expected_version: s.version,
                decision: Some(pb::decide_request::Decision::ApprovePart(pb::ApprovePart {
                    categories: vec!["education".into(), "agency-involvement".into()],
                    conditions: Some(pb::Conditions {
                        no_onward_disclosure: true,
                        retention_days: 7,
                        inform_subject: false,
                        other: String::new(),
                    }),
                })),
                note: "Advice taken from the designated safeguarding lead".into(),
            })
            .await?
            .into_inner()
            .exchange,
    )?;
    assert_eq!(decided.state, pb::ExchangeState::PartlyApproved as i32);
    assert_eq!(
        decided.approved_categories,
        ["education", "agency-involvement"]
    );
    assert_eq!(decided.decisions.len(), 1);
    assert_eq!(decided.decisions[0].decided_by, ig.subject);

    // The trust responds with approved categories only.
    let responded = sw
        .exchanges
        .submit_response(pb::SubmitResponseRequest {
            exchange_id: id.clone(),
            expected_version: decided.version,
            items: vec![
                pb::ResponseItem {
                    category_id: "education".into(),
                    kind: pb::ItemKind::Fact as i32,
                    content: "Attendance 71% this term; two unexplained absences".into(),
                    recorded_on: "2026-01-15".into(),
                    historical: false,
                    source_system: "SIMS".into(),
                },
                pb::ResponseItem {
                    category_id: "agency-involvement".into(),
                    kind: pb::ItemKind::Opinion as i32,
                    content: "Family engages well with the school nurse".into(),
                    recorded_on: "2025-11-02".into(),
                    historical: true,
                    source_system: String::new(),
                },
            ],
        })
        .await?
        .into_inner();
    let after_response = exchange_of(responded.exchange)?;
    assert_eq!(after_response.state, pb::ExchangeState::Responded as i32);
    assert!(after_response.response_available);
    assert_eq!(responded.content_sha256.len(), 64);

    // The police fetch it (delivered) and acknowledge it.
    let fetched = pc
        .exchanges
        .fetch_response(pb::FetchResponseRequest {
            exchange_id: id.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(fetched.state, pb::ExchangeState::Delivered as i32);
    let response = fetched.response.ok_or_else(|| anyhow!("no response"))?;
    assert_eq!(response.items.len(), 2);
    assert_eq!(response.items[0].kind, pb::ItemKind::Fact as i32);
    assert_eq!(response.items[1].kind, pb::ItemKind::Opinion as i32);
    assert!(response.items[1].historical);
    assert_eq!(response.content_sha256, responded.content_sha256);
    assert_eq!(response.submitted_by, sw.subject);
    assert_eq!(fetched.conditions.map(|c| c.retention_days), Some(7));
    let retain_until = fetched
        .retain_until
        .ok_or_else(|| anyhow!("no retain_until"))?;
    let days = (retain_until.seconds - app.clock.now().unix_timestamp()) as f64 / 86_400.0;
    assert!((6.9..=7.1).contains(&days), "retained for {days} days");
    let acked = exchange_of(
        pc.exchanges
            .acknowledge_response(pb::AcknowledgeResponseRequest {
                exchange_id: id.clone(),
                note: "Strategy meeting booked".into(),
                expected_version: fetched.version,
            })
            .await?
            .into_inner()
            .exchange,
    )?;
    assert_eq!(acked.state, pb::ExchangeState::Acknowledged as i32);

    // The audit log has every step, in order, and verifies.
    let entries = auditor
        .audit
        .query_audit(pb::QueryAuditRequest {
            exchange_id: id.clone(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .entries;
    let kinds: Vec<&str> = entries.iter().map(|e| e.event_kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "submitted",
            "sent_for_approval",
            "approve_part",
            "respond",
            "fetch",
            "acknowledge"
        ]
    );
    let submitted = &entries[0];
    assert_eq!(submitted.actor_subject, pc.subject);
    assert_eq!(submitted.actor_role, pb::Role::Practitioner as i32);
    assert_eq!(submitted.requesting_agency_id, POLICE);
    assert_eq!(submitted.holding_agency_id, TRUST);
    assert_eq!(submitted.purpose_id, "s47-enquiry");
    assert!(!submitted.subject_hashes.is_empty());
    assert_eq!(entries[2].actor_subject, ig.subject);
    assert_eq!(entries[2].categories, ["education", "agency-involvement"]);
    assert_eq!(entries[3].content_sha256, responded.content_sha256);
    assert_eq!(entries[5].state_to, pb::ExchangeState::Acknowledged as i32);

    // Auditors find the child's exchanges by identifier, which is held only as a hash.
    let by_child = auditor
        .audit
        .query_audit(pb::QueryAuditRequest {
            child_identifier: Some(pb::SubjectIdentifier {
                scheme: "local_case_id".into(),
                value: "lifecycle-child".into(),
            }),
            ..Default::default()
        })
        .await?
        .into_inner()
        .entries;
    assert!(!by_child.is_empty());
    assert!(by_child.iter().all(|e| e.exchange_id == id));

    let verified = auditor
        .audit
        .verify_audit(pb::VerifyAuditRequest::default())
        .await?
        .into_inner();
    assert!(verified.ok, "{verified:?}");
    assert!(verified.entries_checked >= 6);
    assert_eq!(verified.head_sequence, verified.entries_checked);
    assert_eq!(verified.head_hash.len(), 64);
    let ranged = auditor
        .audit
        .verify_audit(pb::VerifyAuditRequest {
            from_sequence: 2,
            to_sequence: 5,
        })
        .await?
        .into_inner();
    assert!(ranged.ok, "{ranged:?}");
    assert_eq!(ranged.entries_checked, 4);

    // The export is the whole chain, without content or identifiers in clear.
    let mut stream = auditor
        .audit
        .export_audit(pb::ExportAuditRequest::default())
        .await?
        .into_inner();
    let mut exported = Vec::new();
    while let Some(m) = stream.message().await? {
        exported.push(m.entry.ok_or_else(|| anyhow!("empty export message"))?);
    }
    assert!(exported.len() as u64 > verified.entries_checked);
    for (i, e) in exported.iter().enumerate() {
        assert_eq!(e.sequence, i as u64 + 1);
        if i > 0 {
            assert_eq!(e.prev_hash, exported[i - 1].entry_hash);
        }
        let text = format!("{e:?}");
        assert!(!text.contains("Attendance 71%"), "content in the audit log");
        assert!(
            !text.contains("lifecycle-child"),
            "identifier in the audit log"
        );
    }

    let stats = auditor
        .audit
        .get_statistics(pb::GetStatisticsRequest::default())
        .await?
        .into_inner();
    assert_eq!(stats.total_exchanges, 1);
    assert!(stats.median_time_to_decision.is_some());

    // The inbox of each side tells its story.
    let police_events: Vec<i32> = read_inbox(&mut pc, "")
        .await?
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        police_events,
        [
            pb::InboxEventKind::DecisionMade as i32,
            pb::InboxEventKind::ResponseReady as i32
        ]
    );
    let trust_events: Vec<i32> = read_inbox(&mut sw, "")
        .await?
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        trust_events,
        [
            pb::InboxEventKind::RequestReceived as i32,
            pb::InboxEventKind::Acknowledged as i32
        ]
    );
    app.stop().await
}

async fn refused_request_is_recorded_with_its_findings(backend: Backend) -> Result<()> {
    let app = spawn_app(backend).await?;
    let mut pc = app.clients(POLICE, Role::Practitioner).await?;
    // Anonymised information would do, yet identifiable information is asked for
    // (`002 App.2 Q1`): the check refuses it.
    let mut request = s47_request(POLICE, TRUST, &pc.subject, "refused-child", "refused-1");
    request.anonymised_would_suffice = true;
    let s = pc
        .exchanges
        .submit_request(pb::SubmitRequestRequest {
            request: Some(request),
        })
        .await?
        .into_inner();
    assert_eq!(s.state, pb::ExchangeState::Refused as i32);
    let a = s.assessment.ok_or_else(|| anyhow!("no assessment"))?;
    assert_eq!(a.outcome, pb::AssessmentOutcome::Refuse as i32);
    assert!(a.proposed_scope.is_empty());
    let blocking: Vec<&pb::Finding> = a
        .findings
        .iter()
        .filter(|f| f.severity == pb::Severity::Blocking as i32)
        .collect();
    assert!(!blocking.is_empty(), "{:?}", a.findings);
    assert!(blocking
        .iter()
        .all(|f| !f.source.is_empty() && !f.message.is_empty()));
    // Most severe first.
    assert_eq!(a.findings[0].severity, pb::Severity::Blocking as i32);

    // Recorded: readable by the requester, in its inbox, and in the audit log.
    let x = get(&mut pc, &s.exchange_id).await?;
    assert_eq!(x.state, pb::ExchangeState::Refused as i32);
    let events = read_inbox(&mut pc, "").await?;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, pb::InboxEventKind::Refused as i32);
    let mut trust = app.clients(TRUST, Role::IgLead).await?;
    assert!(read_inbox(&mut trust, "").await?.is_empty());
    let pending = trust
        .approvals
        .list_pending(pb::ListPendingRequest::default())
        .await?
        .into_inner();
    assert!(pending.exchanges.is_empty());
    let mut auditor = app.clients(COUNCIL, Role::Auditor).await?;
    let kinds: Vec<String> = auditor
        .audit
        .query_audit(pb::QueryAuditRequest {
            exchange_id: s.exchange_id.clone(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .entries
        .into_iter()
        .map(|e| e.event_kind)
        .collect();
    assert_eq!(kinds, ["submitted", "refused"]);
    // A refused request cannot be decided: to the holder it does not exist.
    let e = expect_err(
        trust
            .approvals
            .decide(pb::DecideRequest {
                exchange_id: s.exchange_id,
                expected_version: s.version,
                decision: Some(pb::decide_request::Decision::Approve(pb::Approve::default())),
                note: String::new(),
            })
            .await,
    )?;
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    app.stop().await
}

async fn retried_submission_returns_the_first_exchange(backend: Backend) -> Result<()> {
    let app = spawn_app(backend).await?;
    let mut pc = app.clients(POLICE, Role::Practitioner).await?;
    let first = submit(&mut pc, TRUST, "retry-child", "same-key").await?;
    let again = submit(&mut pc, TRUST, "retry-child", "same-key").await?;
    assert!(!first.replayed);
    assert!(again.replayed);
    assert_eq!(again.exchange_id, first.exchange_id);
    assert_eq!(again.version, first.version);
    let listed = pc
        .exchanges
        .list_exchanges(pb::ListExchangesRequest::default())
        .await?
        .into_inner();
    assert_eq!(listed.exchanges.len(), 1);
    // A different key is a different request.
    let other = submit(&mut pc, TRUST, "retry-child", "another-key").await?;
    assert_ne!(other.exchange_id, first.exchange_id);
    app.stop().await
}

/// Submits and part-approves a request; returns (exchange id, version).
async fn part_approved(app: &App, pc: &mut Clients, child: &str) -> Result<(String, u64)> {
    let s = submit(pc, TRUST, child, &format!("key-{child}")).await?;
    let mut ig = app.clients(TRUST, Role::IgLead).await?;
    let x = exchange_of(
        ig.approvals
            .decide(pb::DecideRequest {
                exchange_id: s.exchange_id.clone(),
                expected_version: s.version,
                decision: Some(pb::decide_request::Decision::ApprovePart(pb::ApprovePart {
                    categories: vec!["education".into()],
                    conditions: None,
                })),
                note: String::new(),
            })
            .await?
            .into_inner()
            .exchange,
    )?;
    Ok((x.id, x.version))
}

async fn response_with_an_unapproved_category_stores_nothing(backend: Backend) -> Result<()> {
    let app = spawn_app(backend).await?;
    let mut pc = app.clients(POLICE, Role::Practitioner).await?;
    let (id, version) = part_approved(&app, &mut pc, "scope-child").await?;
    let mut sw = app.clients(TRUST, Role::Practitioner).await?;
    let item = |category: &str, kind: pb::ItemKind, recorded_on: &str| pb::ResponseItem {
        category_id: category.into(),
        kind: kind as i32,
        content: "Something recorded".into(),
        recorded_on: recorded_on.into(),
        historical: false,
        source_system: String::new(),
    };
    let e = expect_err(
        sw.exchanges
            .submit_response(pb::SubmitResponseRequest {
                exchange_id: id.clone(),
                expected_version: version,
                items: vec![
                    item("education", pb::ItemKind::Fact, "2026-01-01"),
                    // Proposed but not approved.
                    item("social-care-involvement", pb::ItemKind::Fact, "2026-01-01"),
                    // Neither fact nor opinion, and no date.
                    item("education", pb::ItemKind::Unspecified, ""),
                ],
            })
            .await,
    )?;
    assert_eq!(e.code(), Code::InvalidArgument);
    let fields = violated_fields(&e);
    for want in [
        "items[1].category_id",
        "items[2].kind",
        "items[2].recorded_on",
    ] {
        assert!(fields.iter().any(|f| f == want), "{want} not in {fields:?}");
    }
    // Nothing stored: same version, no response, nothing for the requester.
    let x = get(&mut pc, &id).await?;
    assert_eq!(x.version, version);
    assert_eq!(x.state, pb::ExchangeState::PartlyApproved as i32);
    assert!(!x.response_available);
    let fetch = expect_err(
        pc.exchanges
            .fetch_response(pb::FetchResponseRequest {
                exchange_id: id.clone(),
            })
            .await,
    )?;
    assert_eq!(fetch.code(), Code::FailedPrecondition);
    let events = read_inbox(&mut pc, "").await?;
    assert!(events
        .iter()
        .all(|e| e.kind != pb::InboxEventKind::ResponseReady as i32));

    // A response against an older version is ABORTED; the right one is accepted.
    let stale = expect_err(
        sw.exchanges
            .submit_response(pb::SubmitResponseRequest {
                exchange_id: id.clone(),
                expected_version: version - 1,
                items: vec![item("education", pb::ItemKind::Fact, "2026-01-01")],
            })
            .await,
    )?;
    assert_eq!(stale.code(), Code::Aborted);
    sw.exchanges
        .submit_response(pb::SubmitResponseRequest {
            exchange_id: id,
            expected_version: version,
            items: vec![item("education", pb::ItemKind::Fact, "2026-01-01")],
        })
        .await?;
    app.stop().await
}

async fn bad_input_names_the_field(backend: Backend) -> Result<()> {
    let app = spawn_app(backend).await?;
    let mut pc = app.clients(POLICE, Role::Practitioner).await?;
    let mut request = s47_request(POLICE, TRUST, &pc.subject, "bad-child", "bad-1");
    if let Some(child) = request.child.as_mut() {
        child.date_of_birth = "2015-13-45".into();
    }
    request.urgency = pb::Urgency::Unspecified as i32;
    request.categories[1].reason = String::new();
    let e = expect_err(
        pc.exchanges
            .submit_request(pb::SubmitRequestRequest {
                request: Some(request),
            })
            .await,
    )?;
    assert_eq!(e.code(), Code::InvalidArgument);
    let fields = violated_fields(&e);
    for want in [
        "request.child.date_of_birth",
        "request.urgency",
        "request.categories[1].reason",
    ] {
        assert!(fields.iter().any(|f| f == want), "{want} not in {fields:?}");
    }
    // The reason never repeats what was sent.
    assert!(!format!("{:?}", e.get_error_details()).contains("2015-13-45"));

    // An unknown protocol, a malformed exchange id, an oversized page, a bad cursor.
    let mut request = s47_request(POLICE, TRUST, &pc.subject, "bad-child", "bad-2");
    request.protocol_id = "no-such-protocol".into();
    let e = expect_err(
        pc.exchanges
            .submit_request(pb::SubmitRequestRequest {
                request: Some(request),
            })
            .await,
    )?;
    assert_eq!(violated_fields(&e), ["request.protocol_id"]);
    let e = expect_err(
        pc.exchanges
            .get_exchange(pb::GetExchangeRequest {
                exchange_id: "not-a-uuid".into(),
            })
            .await,
    )?;
    assert_eq!(violated_fields(&e), ["exchange_id"]);
    let e = expect_err(
        pc.exchanges
            .list_exchanges(pb::ListExchangesRequest {
                states: vec![0],
                page: Some(pb::PageRequest {
                    page_size: 501,
                    page_token: String::new(),
                }),
                ..Default::default()
            })
            .await,
    )?;
    assert_eq!(violated_fields(&e), ["states[0]", "page.page_size"]);
    let e = expect_err(read_inbox(&mut pc, "not-a-cursor").await.map_err(|e| {
        e.downcast::<tonic::Status>()
            .unwrap_or_else(|e| tonic::Status::unknown(e.to_string()))
    }))?;
    assert_eq!(violated_fields(&e), ["after_cursor"]);

    // Decisions: an approve-part outside the scope names the category.
    let s = submit(&mut pc, TRUST, "bad-child", "bad-3").await?;
    let mut ig = app.clients(TRUST, Role::IgLead).await?;
    let e = expect_err(
        ig.approvals
            .decide(pb::DecideRequest {
                exchange_id: s.exchange_id.clone(),
                expected_version: s.version,
                decision: Some(pb::decide_request::Decision::ApprovePart(pb::ApprovePart {
                    categories: vec!["education".into(), "offending-history".into()],
                    conditions: Some(pb::Conditions {
                        retention_days: 365,
                        ..Default::default()
                    }),
                })),
                note: String::new(),
            })
            .await,
    )?;
    assert_eq!(
        violated_fields(&e),
        [
            "approve_part.categories[1]",
            "approve_part.conditions.retention_days"
        ]
    );
    let e = expect_err(
        ig.approvals
            .decide(pb::DecideRequest {
                exchange_id: s.exchange_id.clone(),
                expected_version: s.version,
                decision: Some(pb::decide_request::Decision::Decline(pb::Decline {
                    reasons: Vec::new(),
                })),
                note: String::new(),
            })
            .await,
    )?;
    assert_eq!(violated_fields(&e), ["decline.reasons"]);
    let e = expect_err(
        ig.approvals
            .decide(pb::DecideRequest {
                exchange_id: s.exchange_id.clone(),
                expected_version: s.version,
                decision: Some(pb::decide_request::Decision::Ask(
                    pb::AskForMoreInformation {
                        questions: Vec::new(),
                    },
                )),
                note: String::new(),
            })
            .await,
    )?;
    assert_eq!(violated_fields(&e), ["ask.questions"]);
    // None of it changed the exchange.
    assert_eq!(get(&mut pc, &s.exchange_id).await?.version, s.version);
    app.stop().await
}

async fn inbox_resumes_from_a_cursor_with_exactly_the_missed_events(
    backend: Backend,
) -> Result<()> {
    let app = spawn_app(backend).await?;
    let mut pc = app.clients(POLICE, Role::Practitioner).await?;
    let mut trust = app.clients(TRUST, Role::Practitioner).await?;
    let first = submit(&mut pc, TRUST, "inbox-1", "inbox-1").await?;
    let seen = read_inbox(&mut trust, "").await?;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].exchange_id, first.exchange_id);
    assert_eq!(seen[0].kind, pb::InboxEventKind::RequestReceived as i32);
    assert!(
        !seen[0].summary.contains("inbox-1"),
        "identifier in a summary"
    );
    let cursor = seen[0].cursor.clone();

    // While the trust is away: two more requests for it, one for the council.
    let second = submit(&mut pc, TRUST, "inbox-2", "inbox-2").await?;
    submit(&mut pc, COUNCIL, "inbox-3", "inbox-3").await?;
    let third = submit(&mut pc, TRUST, "inbox-4", "inbox-4").await?;

    let missed = read_inbox(&mut trust, &cursor).await?;
    let ids: Vec<&str> = missed.iter().map(|e| e.exchange_id.as_str()).collect();
    assert_eq!(
        ids,
        [second.exchange_id.as_str(), third.exchange_id.as_str()]
    );
    // Resuming from the last one yields nothing; from the start, everything again.
    let last = missed.last().map(|e| e.cursor.clone()).unwrap_or_default();
    assert!(read_inbox(&mut trust, &last).await?.is_empty());
    assert_eq!(read_inbox(&mut trust, "").await?.len(), 3);
    app.stop().await
}

async fn following_inbox_delivers_new_events_and_ends_on_shutdown(backend: Backend) -> Result<()> {
    let app = spawn_app(backend).await?;
    let mut pc = app.clients(POLICE, Role::Practitioner).await?;
    let mut trust = app.clients(TRUST, Role::IgLead).await?;
    let mut stream = trust
        .inbox
        .watch_inbox(pb::WatchInboxRequest {
            after_cursor: String::new(),
            follow: true,
        })
        .await?
        .into_inner();
    let s = submit(&mut pc, TRUST, "follow-child", "follow-1").await?;
    let event = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .map_err(|_| anyhow!("no event within 10 s"))??
        .and_then(|m| m.event)
        .ok_or_else(|| anyhow!("stream ended"))?;
    assert_eq!(event.exchange_id, s.exchange_id);
    assert_eq!(event.state, pb::ExchangeState::AwaitingApproval as i32);

    // Shutdown ends the stream cleanly, and the server stops.
    let reader = tokio::spawn(async move {
        loop {
            match stream.message().await {
                Ok(Some(_)) => continue,
                Ok(None) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    });
    app.stop().await?;
    let ended = tokio::time::timeout(Duration::from_secs(10), reader)
        .await
        .map_err(|_| anyhow!("the stream did not end"))??;
    assert!(ended.is_ok(), "{ended:?}");
    Ok(())
}

async fn submitting_for_another_agency_or_person_is_refused(backend: Backend) -> Result<()> {
    let app = spawn_app(backend).await?;
    let mut pc = app.clients(POLICE, Role::Practitioner).await?;
    // As another agency.
    let e = expect_err(
        pc.exchanges
            .submit_request(pb::SubmitRequestRequest {
                request: Some(s47_request(COUNCIL, TRUST, &pc.subject, "c", "k1")),
            })
            .await,
    )?;
    assert_eq!(e.code(), Code::PermissionDenied);
    // Naming another practitioner.
    let e = expect_err(
        pc.exchanges
            .submit_request(pb::SubmitRequestRequest {
                request: Some(s47_request(POLICE, TRUST, "someone-else", "c", "k2")),
            })
            .await,
    )?;
    assert_eq!(violated_fields(&e), ["request.practitioner.subject"]);
    // Under a protocol the caller's agency has not signed.
    let mut other = app.clients(BANES_COUNCIL, Role::Practitioner).await?;
    let e = expect_err(
        other
            .exchanges
            .submit_request(pb::SubmitRequestRequest {
                request: Some(s47_request(BANES_COUNCIL, TRUST, &other.subject, "c", "k3")),
            })
            .await,
    )?;
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    // Nothing was recorded.
    let listed = pc
        .exchanges
        .list_exchanges(pb::ListExchangesRequest::default())
        .await?
        .into_inner();
    assert!(listed.exchanges.is_empty());
    app.stop().await
}

async fn listing_filters_and_pages(backend: Backend) -> Result<()> {
    let app = spawn_app(backend).await?;
    let mut pc = app.clients(POLICE, Role::Practitioner).await?;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            submit(&mut pc, TRUST, &format!("list-{i}"), &format!("list-{i}"))
                .await?
                .exchange_id,
        );
    }
    let mut refused = s47_request(POLICE, TRUST, &pc.subject, "list-r", "list-r");
    refused.anonymised_would_suffice = true;
    pc.exchanges
        .submit_request(pb::SubmitRequestRequest {
            request: Some(refused),
        })
        .await?;

    // Newest first, two at a time.
    let page = |token: String| pb::ListExchangesRequest {
        states: vec![pb::ExchangeState::AwaitingApproval as i32],
        page: Some(pb::PageRequest {
            page_size: 2,
            page_token: token,
        }),
        ..Default::default()
    };
    let first = pc
        .exchanges
        .list_exchanges(page(String::new()))
        .await?
        .into_inner();
    let token = first.page.map(|p| p.next_page_token).unwrap_or_default();
    assert_eq!(first.exchanges.len(), 2);
    assert!(!token.is_empty());
    let second = pc.exchanges.list_exchanges(page(token)).await?.into_inner();
    assert_eq!(second.exchanges.len(), 1);
    assert_eq!(second.page.map(|p| p.next_page_token), Some(String::new()));
    let listed: Vec<String> = first
        .exchanges
        .iter()
        .chain(&second.exchanges)
        .map(|x| x.id.clone())
        .collect();
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(listed, newest_first);
    // Each row shows the level of need, as submitted.
    assert!(first
        .exchanges
        .iter()
        .chain(&second.exchanges)
        .all(|x| x.level_of_need == pb::LevelOfNeed::SignificantHarm as i32));

    // By side: the trust holds three (the refused one is hidden from it), requested none.
    let mut trust = app.clients(TRUST, Role::IgLead).await?;
    let held = trust
        .exchanges
        .list_exchanges(pb::ListExchangesRequest {
            party_role: pb::PartyRole::Holder as i32,
            ..Default::default()
        })
        .await?
        .into_inner();
    assert_eq!(held.exchanges.len(), 3);
    let requested = trust
        .exchanges
        .list_exchanges(pb::ListExchangesRequest {
            party_role: pb::PartyRole::Requester as i32,
            ..Default::default()
        })
        .await?
        .into_inner();
    assert!(requested.exchanges.is_empty());
    let e = expect_err(
        pc.exchanges
            .list_exchanges(pb::ListExchangesRequest {
                page: Some(pb::PageRequest {
                    page_size: 2,
                    page_token: "bm90LWEtdG9rZW4".into(),
                }),
                ..Default::default()
            })
            .await,
    )?;
    assert_eq!(violated_fields(&e), ["page.page_token"]);

    // A request at another level lists at that level, to both sides. Below significant harm
    // s47 is not a gateway anyone may claim (002 App.2 Q1; the protocol's [[gateway]]), so it
    // is a child in need assessment under s17, consent not sought for a documented reason.
    let mut other_level = s47_request(POLICE, TRUST, &pc.subject, "list-n", "list-n");
    other_level.level_of_need = pb::LevelOfNeed::ChildInNeed as i32;
    other_level.purpose_id = "child-in-need-assessment".into();
    if let Some(basis) = other_level.lawful_basis.as_mut() {
        basis.gateways = vec![pb::StatutoryGateway::Ca1989S17 as i32];
    }
    other_level.consent = Some(pb::Consent {
        status: pb::ConsentStatus::NotSought as i32,
        not_sought_reasons: vec![pb::NotSoughtReason::IncreasedRiskOfHarm as i32],
        ..Default::default()
    });
    let other_id = pc
        .exchanges
        .submit_request(pb::SubmitRequestRequest {
            request: Some(other_level),
        })
        .await?
        .into_inner()
        .exchange_id;
    for c in [&mut pc, &mut trust] {
        let listed = c
            .exchanges
            .list_exchanges(pb::ListExchangesRequest::default())
            .await?
            .into_inner();
        let row = listed
            .exchanges
            .iter()
            .find(|x| x.id == other_id)
            .ok_or_else(|| anyhow!("{} does not list {other_id}", c.agency))?;
        assert_eq!(row.level_of_need, pb::LevelOfNeed::ChildInNeed as i32);
    }
    app.stop().await
}

async fn content_is_purged_after_its_retention(backend: Backend) -> Result<()> {
    let app = spawn_app(backend).await?;
    let mut pc = app.clients(POLICE, Role::Practitioner).await?;
    let (id, version) = part_approved(&app, &mut pc, "purge-child").await?;
    let mut sw = app.clients(TRUST, Role::Practitioner).await?;
    sw.exchanges
        .submit_response(pb::SubmitResponseRequest {
            exchange_id: id.clone(),
            expected_version: version,
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
    assert!(x.request.is_none(), "the request content is purged too");
    let e = expect_err(
        pc.exchanges
            .fetch_response(pb::FetchResponseRequest {
                exchange_id: id.clone(),
            })
            .await,
    )?;
    assert_eq!(e.code(), Code::FailedPrecondition);
    // The record of what was shared stays.
    let mut auditor = app.clients(COUNCIL, Role::Auditor).await?;
    let entries = auditor
        .audit
        .query_audit(pb::QueryAuditRequest {
            exchange_id: id,
            event_kinds: vec!["respond".into(), "content_purged".into()],
            ..Default::default()
        })
        .await?
        .into_inner()
        .entries;
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].content_sha256, entries[1].content_sha256);
    app.stop().await
}

/// A list far over its limit is refused whole: one violation naming the list, its elements
/// unread.
async fn over_long_list_is_one_violation_naming_the_list(backend: Backend) -> Result<()> {
    let app = spawn_app(backend).await?;
    let mut pc = app.clients(POLICE, Role::Practitioner).await?;
    let e = expect_err(
        pc.exchanges
            .list_exchanges(pb::ListExchangesRequest {
                states: vec![0; 500_000],
                ..Default::default()
            })
            .await,
    )?;
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert_eq!(violated_fields(&e), ["states"]);
    let mut request = s47_request(POLICE, TRUST, &pc.subject, "long-child", "long-1");
    if let Some(l) = request.lawful_basis.as_mut() {
        l.gateways = vec![0; 500_000];
    }
    let e = expect_err(
        pc.exchanges
            .submit_request(pb::SubmitRequestRequest {
                request: Some(request),
            })
            .await,
    )?;
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert_eq!(violated_fields(&e), ["request.lawful_basis.gateways"]);
    app.stop().await
}

/// A request the check refused ("do not share") never reaches the holder: reading it is
/// NOT_FOUND, as for a stranger, and no listing of the holder shows it. The requester still
/// sees it.
async fn refused_request_is_hidden_from_the_holder(backend: Backend) -> Result<()> {
    let app = spawn_app(backend).await?;
    let mut pc = app.clients(POLICE, Role::Practitioner).await?;
    let kept = submit(&mut pc, TRUST, "hidden-kept", "hidden-kept").await?;
    let mut request = s47_request(POLICE, TRUST, &pc.subject, "hidden-child", "hidden-1");
    request.anonymised_would_suffice = true;
    let s = pc
        .exchanges
        .submit_request(pb::SubmitRequestRequest {
            request: Some(request),
        })
        .await?
        .into_inner();
    assert_eq!(s.state, pb::ExchangeState::Refused as i32);
    assert_eq!(
        get(&mut pc, &s.exchange_id).await?.state,
        pb::ExchangeState::Refused as i32
    );

    let refused = pb::ExchangeState::Refused as i32;
    let awaiting = pb::ExchangeState::AwaitingApproval as i32;
    for role in [Role::Practitioner, Role::IgLead] {
        let mut trust = app.clients(TRUST, role).await?;
        let e = expect_err(
            trust
                .exchanges
                .get_exchange(pb::GetExchangeRequest {
                    exchange_id: s.exchange_id.clone(),
                })
                .await,
        )?;
        assert_eq!(e.code(), Code::NotFound, "{e:?}");
        assert_eq!(e.message(), format!("exchange {} not found", s.exchange_id));
        // (party role, states filter, whether the kept exchange is listed)
        for (party_role, states, lists_kept) in [
            (pb::PartyRole::Unspecified, vec![], true),
            (pb::PartyRole::Holder, vec![], true),
            (pb::PartyRole::Any, vec![refused], false),
            (pb::PartyRole::Holder, vec![refused], false),
            (pb::PartyRole::Holder, vec![refused, awaiting], true),
        ] {
            let listed: Vec<String> = trust
                .exchanges
                .list_exchanges(pb::ListExchangesRequest {
                    party_role: party_role as i32,
                    states: states.clone(),
                    ..Default::default()
                })
                .await?
                .into_inner()
                .exchanges
                .into_iter()
                .map(|x| x.id)
                .collect();
            let want: Vec<String> = if lists_kept {
                vec![kept.exchange_id.clone()]
            } else {
                Vec::new()
            };
            assert_eq!(listed, want, "{party_role:?} {states:?}");
        }
    }
    // The requester lists it.
    let mine = pc
        .exchanges
        .list_exchanges(pb::ListExchangesRequest {
            states: vec![refused],
            ..Default::default()
        })
        .await?
        .into_inner();
    assert_eq!(mine.exchanges.len(), 1);
    assert_eq!(mine.exchanges[0].id, s.exchange_id);
    app.stop().await
}

/// An agency suspended in the protocol an exchange was made under, though still active in
/// another protocol (so its calls authenticate), can no longer read or act on the exchange.
async fn agency_suspended_in_the_exchanges_protocol_cannot_read_it(backend: Backend) -> Result<()> {
    // A second protocol signed by the same agencies.
    let dir = tempfile::tempdir()?;
    let text =
        std::fs::read_to_string(workspace_file("deploy/protocols/sandwell-partnership.toml"))?;
    let copied = text.replacen(
        &format!("id = \"{SANDWELL}\""),
        "id = \"sandwell-second-isp\"",
        1,
    );
    assert_ne!(copied, text);
    let copy = dir.path().join("second.toml");
    std::fs::write(&copy, copied)?;
    let app = spawn_app_with_protocols(backend, &[copy]).await?;

    let mut pc = app.clients(POLICE, Role::Practitioner).await?;
    let s = submit(&mut pc, TRUST, "suspended-child", "suspended-1").await?;
    get(&mut pc, &s.exchange_id).await?;

    let mut admin = app.clients(COUNCIL, Role::Admin).await?;
    admin
        .registry
        .suspend_signatory(pb::SuspendSignatoryRequest {
            protocol_id: SANDWELL.into(),
            agency_id: POLICE.into(),
            reason: "Breach under investigation".into(),
        })
        .await?;
    // Still active in the second protocol: the police's calls authenticate...
    pc.registry
        .list_protocols(pb::ListProtocolsRequest {})
        .await?;
    // ... but not for the Sandwell exchange.
    let e = expect_err(
        pc.exchanges
            .get_exchange(pb::GetExchangeRequest {
                exchange_id: s.exchange_id.clone(),
            })
            .await,
    )?;
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert_eq!(
        e.message(),
        format!("agency {POLICE} is not an active signatory of protocol {SANDWELL}")
    );
    let e = expect_err(
        pc.exchanges
            .fetch_response(pb::FetchResponseRequest {
                exchange_id: s.exchange_id.clone(),
            })
            .await,
    )?;
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    let e = expect_err(
        pc.exchanges
            .withdraw_request(pb::WithdrawRequestRequest {
                exchange_id: s.exchange_id.clone(),
                reason: "no longer needed".into(),
                expected_version: 0,
            })
            .await,
    )?;
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    // The holder, still active in Sandwell, reads it as before.
    let mut trust = app.clients(TRUST, Role::IgLead).await?;
    get(&mut trust, &s.exchange_id).await?;
    app.stop().await
}
