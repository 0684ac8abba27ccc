//! CheckRequest end to end: a dry run of SubmitRequest that answers exactly as a submission of
//! the same draft would (findings, scope, deadline, approvers, the state it would enter), is
//! validated and authorised as a submission is, and writes nothing: no exchange, no audit
//! entry, no inbox event, no history for the repeat rule.

use accord_domain::Role;
use accord_tests::*;
use anyhow::{anyhow, Result};
use tonic::{Code, Status};

backend_tests!(
    check_answers_as_a_submission_of_the_same_draft,
    check_stores_audits_and_tells_nothing,
    refused_draft_is_answered_with_its_blocking_findings,
    bad_draft_names_the_fields_as_a_submission_does,
    check_is_authorised_as_a_submission_is,
);

async fn check(c: &mut Clients, draft: pb::InformationRequest) -> Result<pb::CheckRequestResponse> {
    Ok(c.exchanges
        .check_request(pb::CheckRequestRequest {
            request: Some(draft),
        })
        .await?
        .into_inner())
}

async fn submit(
    c: &mut Clients,
    draft: pb::InformationRequest,
) -> Result<pb::SubmitRequestResponse> {
    Ok(c.exchanges
        .submit_request(pb::SubmitRequestRequest {
            request: Some(draft),
        })
        .await?
        .into_inner())
}

/// A draft from the caller of `c` to `holder`, with no idempotency key (a check needs none).
fn draft(c: &Clients, holder: &str, child: &str) -> pb::InformationRequest {
    s47_request(&c.agency, holder, &c.subject, child, "")
}

fn keyed(mut r: pb::InformationRequest, key: &str) -> pb::InformationRequest {
    r.idempotency_key = key.into();
    r
}

fn seconds(t: Option<&prost_types::Timestamp>) -> Option<i128> {
    t.map(|t| i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos))
}

/// `respond_by` as a duration after `assessed_at`: the deadline, independent of the instant
/// the check ran.
fn deadline(a: &pb::Assessment) -> Option<i128> {
    Some(seconds(a.respond_by.as_ref())? - seconds(a.assessed_at.as_ref())?)
}

fn assessment_of(a: Option<pb::Assessment>) -> Result<pb::Assessment> {
    a.ok_or_else(|| anyhow!("no assessment in the response"))
}

/// What must be the same for a check and a submission of one draft; the instants differ by
/// the time between the calls, so the deadline is compared as a duration.
fn assert_same_assessment(checked: &pb::Assessment, submitted: &pb::Assessment) {
    assert_eq!(checked.outcome, submitted.outcome);
    assert_eq!(checked.findings, submitted.findings);
    assert_eq!(checked.proposed_scope, submitted.proposed_scope);
    assert_eq!(checked.trimmed_categories, submitted.trimmed_categories);
    assert_eq!(
        checked.required_approver_roles,
        submitted.required_approver_roles
    );
    assert_eq!(checked.protocol_id, submitted.protocol_id);
    assert_eq!(checked.protocol_version, submitted.protocol_version);
    assert_eq!(checked.respond_by.is_some(), submitted.respond_by.is_some());
    assert_eq!(deadline(checked), deadline(submitted));
}

/// The rule, severity, source and category of each finding: what a finding says apart from its
/// message (which may mention how long ago an earlier exchange was).
fn rules(a: &pb::Assessment) -> Vec<(String, i32, String, String)> {
    a.findings
        .iter()
        .map(|f| {
            (
                f.rule_id.clone(),
                f.severity,
                f.source.clone(),
                f.category_id.clone(),
            )
        })
        .collect()
}

async fn check_answers_as_a_submission_of_the_same_draft(backend: Backend) -> Result<()> {
    let app = spawn_app(backend).await?;
    let mut pc = app.clients(POLICE, Role::Practitioner).await?;
    // Special category data without consent (a warning) and a category the purpose does not
    // allow (trimmed), needed urgently.
    let mut d = draft(&pc, TRUST, "same-child");
    d.categories.push(pb::CategoryRequest {
        category_id: "physical-health".into(),
        reason: "Injuries seen by the GP".into(),
    });
    d.categories.push(pb::CategoryRequest {
        category_id: "agency-chronology".into(),
        reason: "Everything the trust has recorded".into(),
    });
    d.urgency = pb::Urgency::Urgent as i32;

    let c = check(&mut pc, d.clone()).await?;
    let s = submit(&mut pc, keyed(d.clone(), "same-1")).await?;
    assert_eq!(c.state, pb::ExchangeState::AwaitingApproval as i32);
    assert_eq!(c.state, s.state);
    let ca = assessment_of(c.assessment)?;
    let sa = assessment_of(s.assessment)?;
    assert_same_assessment(&ca, &sa);
    assert_eq!(
        ca.outcome,
        pb::AssessmentOutcome::ProceedToApproval as i32,
        "{ca:?}"
    );
    assert!(!ca.findings.is_empty());
    assert!(ca
        .findings
        .iter()
        .all(|f| !f.rule_id.is_empty() && !f.source.is_empty()));
    assert_eq!(ca.trimmed_categories, ["agency-chronology"]);
    assert!(ca.proposed_scope.iter().any(|c| c == "physical-health"));
    assert!(ca
        .required_approver_roles
        .contains(&(pb::Role::IgLead as i32)));
    // 24 hours for an urgent s47 enquiry.
    assert_eq!(deadline(&ca), Some(24 * 3600 * 1_000_000_000));

    // The check reads the child's history as a submission does: after the first submission,
    // checking the same draft again notes the request in progress (R13), exactly as
    // submitting it again does.
    let again = assessment_of(check(&mut pc, d.clone()).await?.assessment)?;
    let resubmitted = assessment_of(submit(&mut pc, keyed(d, "same-2")).await?.assessment)?;
    assert!(
        again.findings.iter().any(|f| f.rule_id.starts_with("R13-")),
        "{again:?}"
    );
    assert_eq!(rules(&again), rules(&resubmitted));
    assert_eq!(again.proposed_scope, resubmitted.proposed_scope);
    assert_eq!(deadline(&again), deadline(&resubmitted));
    app.stop().await
}

async fn audit_entries(auditor: &mut Clients) -> Result<Vec<pb::AuditEntry>> {
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let page = auditor
            .audit
            .query_audit(pb::QueryAuditRequest {
                page: Some(pb::PageRequest {
                    page_size: 500,
                    page_token: token,
                }),
                ..Default::default()
            })
            .await?
            .into_inner();
        out.extend(page.entries);
        token = page.page.map(|p| p.next_page_token).unwrap_or_default();
        if token.is_empty() {
            return Ok(out);
        }
    }
}

/// The log's entries apart from those recording the auditor's own reads of it.
fn exchange_entries(entries: Vec<pb::AuditEntry>) -> Vec<pb::AuditEntry> {
    entries
        .into_iter()
        .filter(|e| !e.event_kind.starts_with("audit_"))
        .collect()
}

async fn check_stores_audits_and_tells_nothing(backend: Backend) -> Result<()> {
    let app = spawn_app(backend).await?;
    let mut pc = app.clients(POLICE, Role::Practitioner).await?;
    let mut ig = app.clients(TRUST, Role::IgLead).await?;
    let mut auditor = app.clients(COUNCIL, Role::Auditor).await?;
    // Something in the log first, so "unchanged" is not "still empty".
    let first = s47_request(POLICE, TRUST, &pc.subject, "other-child", "k-0");
    submit(&mut pc, first).await?;
    let before = exchange_entries(audit_entries(&mut auditor).await?);
    let head = app.store().audit_head().await?;
    let listed = pc
        .exchanges
        .list_exchanges(pb::ListExchangesRequest::default())
        .await?
        .into_inner()
        .exchanges;
    let police_inbox = read_inbox(&mut pc, "").await?;
    let trust_inbox = read_inbox(&mut ig, "").await?;

    // A draft that would go to approval, and one that would be refused.
    let quiet = draft(&pc, TRUST, "quiet-child");
    let c = check(&mut pc, quiet.clone()).await?;
    assert_eq!(c.state, pb::ExchangeState::AwaitingApproval as i32);
    let mut refused = quiet.clone();
    refused.anonymised_would_suffice = true;
    let c = check(&mut pc, refused).await?;
    assert_eq!(c.state, pb::ExchangeState::Refused as i32);

    // No audit entry: the head of the log did not move, and the entries are the same.
    let after_head = app.store().audit_head().await?;
    assert_eq!(after_head.sequence, head.sequence);
    assert_eq!(after_head.entry_hash, head.entry_hash);
    assert_eq!(exchange_entries(audit_entries(&mut auditor).await?), before);
    // No exchange, on either side.
    let now_listed = pc
        .exchanges
        .list_exchanges(pb::ListExchangesRequest::default())
        .await?
        .into_inner()
        .exchanges;
    assert_eq!(now_listed, listed);
    assert_eq!(now_listed.len(), 1);
    let pending = ig
        .approvals
        .list_pending(pb::ListPendingRequest::default())
        .await?
        .into_inner()
        .exchanges;
    assert!(pending.iter().all(|x| x.id == listed[0].id), "{pending:?}");
    // No inbox event, for the requester or the holder.
    assert_eq!(read_inbox(&mut pc, "").await?, police_inbox);
    assert_eq!(read_inbox(&mut ig, "").await?, trust_inbox);
    // No history: submitting the checked draft is neither a repeat of the checks nor a
    // duplicate of one in progress (R13).
    let s = submit(&mut pc, keyed(quiet, "k-1")).await?;
    let a = assessment_of(s.assessment)?;
    assert!(
        a.findings.iter().all(|f| !f.rule_id.starts_with("R13-")),
        "{a:?}"
    );
    app.stop().await
}

async fn refused_draft_is_answered_with_its_blocking_findings(backend: Backend) -> Result<()> {
    let app = spawn_app(backend).await?;
    let mut pc = app.clients(POLICE, Role::Practitioner).await?;
    // Anonymised information would do, yet identifiable information is asked for.
    let mut d = draft(&pc, TRUST, "refused-child");
    d.anonymised_would_suffice = true;
    let c = check(&mut pc, d.clone()).await?;
    assert_eq!(c.state, pb::ExchangeState::Refused as i32);
    let a = assessment_of(c.assessment)?;
    assert_eq!(a.outcome, pb::AssessmentOutcome::Refuse as i32);
    assert!(a.proposed_scope.is_empty());
    assert!(a.respond_by.is_none());
    let blocking: Vec<&pb::Finding> = a
        .findings
        .iter()
        .filter(|f| f.severity == pb::Severity::Blocking as i32)
        .collect();
    assert!(!blocking.is_empty(), "{:?}", a.findings);
    assert!(blocking
        .iter()
        .all(|f| !f.rule_id.is_empty() && !f.source.is_empty() && !f.message.is_empty()));
    assert_eq!(a.findings[0].severity, pb::Severity::Blocking as i32);
    // The same a submission gets.
    let s = submit(&mut pc, keyed(d, "refused-1")).await?;
    assert_eq!(s.state, c.state);
    assert_same_assessment(&a, &assessment_of(s.assessment)?);
    app.stop().await
}

/// The code and field paths of a refused call.
fn refusal(r: std::result::Result<impl std::fmt::Debug, Status>) -> Result<(Code, Vec<String>)> {
    let s = expect_err(r)?;
    Ok((s.code(), violated_fields(&s)))
}

async fn bad_draft_names_the_fields_as_a_submission_does(backend: Backend) -> Result<()> {
    let app = spawn_app(backend).await?;
    let mut pc = app.clients(POLICE, Role::Practitioner).await?;
    let mut bad = draft(&pc, TRUST, "bad-child");
    if let Some(child) = bad.child.as_mut() {
        child.date_of_birth = "2015-13-45".into();
    }
    bad.urgency = pb::Urgency::Unspecified as i32;
    bad.categories[1].reason = String::new();
    let mut unknown_protocol = draft(&pc, TRUST, "bad-child");
    unknown_protocol.protocol_id = "no-such-protocol".into();
    let someone_else = s47_request(POLICE, TRUST, "someone-else", "bad-child", "");
    let long_key = keyed(draft(&pc, TRUST, "bad-child"), &"k".repeat(129));

    for (what, d, want) in [
        (
            "bad fields",
            bad,
            vec![
                "request.child.date_of_birth",
                "request.urgency",
                "request.categories[1].reason",
            ],
        ),
        (
            "unknown protocol",
            unknown_protocol,
            vec!["request.protocol_id"],
        ),
        (
            "another practitioner",
            someone_else,
            vec!["request.practitioner.subject"],
        ),
        ("over-long key", long_key, vec!["request.idempotency_key"]),
    ] {
        let checked = refusal(
            pc.exchanges
                .check_request(pb::CheckRequestRequest {
                    request: Some(d.clone()),
                })
                .await,
        )?;
        assert_eq!(checked.0, Code::InvalidArgument, "{what}");
        for field in &want {
            assert!(
                checked.1.iter().any(|f| f == field),
                "{what}: {field} not in {:?}",
                checked.1
            );
        }
        // Exactly what SubmitRequest reports for the same draft (given the key it requires).
        let mut for_submit = d;
        if for_submit.idempotency_key.is_empty() {
            for_submit.idempotency_key = "bad-key".into();
        }
        let submitted = refusal(
            pc.exchanges
                .submit_request(pb::SubmitRequestRequest {
                    request: Some(for_submit),
                })
                .await,
        )?;
        assert_eq!(checked, submitted, "{what}");
    }
    // A missing request, as for SubmitRequest.
    let (code, fields) = refusal(
        pc.exchanges
            .check_request(pb::CheckRequestRequest { request: None })
            .await,
    )?;
    assert_eq!(code, Code::InvalidArgument);
    assert_eq!(fields, ["request"]);
    // No key is needed for a check; a submission requires one.
    let unkeyed = draft(&pc, TRUST, "bad-child");
    check(&mut pc, unkeyed.clone()).await?;
    let (code, fields) = refusal(
        pc.exchanges
            .submit_request(pb::SubmitRequestRequest {
                request: Some(unkeyed),
            })
            .await,
    )?;
    assert_eq!(code, Code::InvalidArgument);
    assert_eq!(fields, ["request.idempotency_key"]);
    app.stop().await
}

async fn check_is_authorised_as_a_submission_is(backend: Backend) -> Result<()> {
    let app = spawn_app(backend).await?;
    let mut cases: Vec<(String, Clients, pb::InformationRequest)> = Vec::new();
    // Every role but practitioner, in the requesting agency.
    for role in Role::ALL
        .iter()
        .copied()
        .filter(|r| *r != Role::Practitioner)
    {
        let c = app.clients(POLICE, role).await?;
        let d = s47_request(POLICE, TRUST, &c.subject, "authz-child", "");
        cases.push((format!("police {role}"), c, d));
    }
    // A practitioner of another agency naming the police as requester, of the holder, and of
    // an agency that has not signed the draft's protocol.
    let c = app.clients(COUNCIL, Role::Practitioner).await?;
    let d = s47_request(POLICE, TRUST, &c.subject, "authz-child", "");
    cases.push(("another agency".into(), c, d));
    let c = app.clients(TRUST, Role::Practitioner).await?;
    let d = s47_request(POLICE, TRUST, &c.subject, "authz-child", "");
    cases.push(("the holder".into(), c, d));
    let c = app.clients(BANES_COUNCIL, Role::Practitioner).await?;
    let d = s47_request(BANES_COUNCIL, TRUST, &c.subject, "authz-child", "");
    cases.push(("not a signatory".into(), c, d));

    for (what, mut c, d) in cases {
        let checked = expect_err(
            c.exchanges
                .check_request(pb::CheckRequestRequest {
                    request: Some(d.clone()),
                })
                .await,
        )?;
        assert_eq!(
            checked.code(),
            Code::PermissionDenied,
            "{what}: {checked:?}"
        );
        let submitted = expect_err(
            c.exchanges
                .submit_request(pb::SubmitRequestRequest {
                    request: Some(keyed(d, "authz-key")),
                })
                .await,
        )?;
        assert_eq!(submitted.code(), checked.code(), "{what}");
        let same_reason = submitted.message()
            == checked.message().replace(
                "ExchangeService.CheckRequest",
                "ExchangeService.SubmitRequest",
            );
        assert!(same_reason, "{what}: {checked:?} / {submitted:?}");
    }
    // Without a token: UNAUTHENTICATED, as for every call.
    let mut anonymous = Clients::new(POLICE, "nobody", app.channel(POLICE).await?, "x")?;
    let e = expect_err(
        anonymous
            .exchanges
            .check_request(pb::CheckRequestRequest {
                request: Some(s47_request(POLICE, TRUST, "nobody", "authz-child", "")),
            })
            .await,
    )?;
    assert_eq!(e.code(), Code::Unauthenticated);
    // Nothing was recorded.
    let mut pc = app.clients(POLICE, Role::Practitioner).await?;
    let listed = pc
        .exchanges
        .list_exchanges(pb::ListExchangesRequest::default())
        .await?
        .into_inner();
    assert!(listed.exchanges.is_empty());
    app.stop().await
}
