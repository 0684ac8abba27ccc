//! The necessity and proportionality check end to end: requests submitted over gRPC under the
//! example protocols, judged by the rules the documents give, with the findings (rule id,
//! severity, source clause) the requester receives.

use accord_domain::Role;
use accord_tests::*;
use anyhow::{anyhow, Result};

backend_tests!(
    school_claiming_s47_at_child_in_need_with_consent_refused_is_refused,
    school_claiming_s47_at_significant_harm_goes_to_approval,
    police_s115_at_early_help_not_seeking_consent_for_crime_goes_to_approval,
    police_s115_at_early_help_not_seeking_consent_without_that_reason_is_refused,
    not_telling_the_family_without_a_reason_is_a_warning_not_an_error,
    consent_not_sought_without_a_reason_is_refused_by_the_check_not_by_validation,
);

/// Sandwell: schools and colleges (an education relevant agency, `002 App.5`).
const SCHOOLS: &str = "sandwell-schools";

async fn submit(
    app: &App,
    agency: &str,
    request: pb::InformationRequest,
) -> Result<pb::SubmitRequestResponse> {
    let mut c = app.clients(agency, Role::Practitioner).await?;
    let mut request = request;
    request.requesting_agency_id = agency.into();
    if let Some(p) = request.practitioner.as_mut() {
        p.subject = c.subject.clone();
    }
    Ok(c.exchanges
        .submit_request(pb::SubmitRequestRequest {
            request: Some(request),
        })
        .await?
        .into_inner())
}

fn findings(s: &pb::SubmitRequestResponse) -> Result<Vec<pb::Finding>> {
    Ok(s.assessment
        .as_ref()
        .ok_or_else(|| anyhow!("no assessment"))?
        .findings
        .clone())
}

fn finding<'a>(findings: &'a [pb::Finding], rule_id: &str) -> Option<&'a pb::Finding> {
    findings.iter().find(|f| f.rule_id == rule_id)
}

/// A school asks the children's trust about a child under s47, with the parent's refusal of
/// consent recorded.
fn school_s47(level: pb::LevelOfNeed, key: &str) -> pb::InformationRequest {
    let mut r = s47_request(SCHOOLS, TRUST, "", key, key);
    r.level_of_need = level as i32;
    r.consent = Some(pb::Consent {
        status: pb::ConsentStatus::Refused as i32,
        ..Default::default()
    });
    r
}

/// `002 App.2` Q1: "Is there a legal basis or statutory duty for sharing the information?
/// (e.g. s47 of the Children Act 1989 …)"; s47 is for "reasonable cause to suspect" significant
/// harm, and Sandwell's `[[gateway]]` allows it at significant harm or immediate risk only. A
/// school claiming it at the child-in-need level, with consent refused, used to get only
/// warnings and go to approval; the claim is refused, and it overrides no one's refusal.
async fn school_claiming_s47_at_child_in_need_with_consent_refused_is_refused(
    backend: Backend,
) -> Result<()> {
    let app = spawn_app(backend).await?;
    let s = submit(
        &app,
        SCHOOLS,
        school_s47(pb::LevelOfNeed::ChildInNeed, "school-s47-cin"),
    )
    .await?;
    let f = findings(&s)?;
    assert_eq!(s.state, pb::ExchangeState::Refused as i32, "{f:#?}");
    let claim = finding(&f, "R03-gateway-claim-not-allowed")
        .ok_or_else(|| anyhow!("no R03-gateway-claim-not-allowed: {f:#?}"))?;
    assert_eq!(claim.severity, pb::Severity::Blocking as i32);
    assert_eq!(claim.source, "002 App.2 Q1, 001 Legislative framework");
    // The protocol file's own clause for s47 is quoted.
    assert!(
        claim
            .message
            .contains("Children Act 1989 s47; 002 App.2 Q1, 002 App.2 Safeguarding"),
        "{}",
        claim.message
    );
    // No duty: the refusal of consent stands, and is not merely weighed.
    let refused = finding(&f, "R07-consent-refused")
        .ok_or_else(|| anyhow!("no R07-consent-refused: {f:#?}"))?;
    assert_eq!(refused.severity, pb::Severity::Blocking as i32);
    assert!(
        finding(&f, "R07-sharing-against-wishes").is_none(),
        "{f:#?}"
    );
    // Refused: the holder never sees it.
    let mut ig = app.clients(TRUST, Role::IgLead).await?;
    let pending = ig
        .approvals
        .list_pending(pb::ListPendingRequest::default())
        .await?
        .into_inner();
    assert!(pending.exchanges.is_empty());
    app.stop().await
}

/// The same school at significant harm: s47(9)-(11) binds education to assist the enquiries,
/// so the claim stands and the IG lead weighs sharing against the parent's wishes
/// (`002 App.2` Q5: "Where there is a clear risk of significant harm to a child, the public
/// interest test will almost certainly be satisfied").
async fn school_claiming_s47_at_significant_harm_goes_to_approval(backend: Backend) -> Result<()> {
    let app = spawn_app(backend).await?;
    let s = submit(
        &app,
        SCHOOLS,
        school_s47(pb::LevelOfNeed::SignificantHarm, "school-s47-sh"),
    )
    .await?;
    let f = findings(&s)?;
    assert_eq!(
        s.state,
        pb::ExchangeState::AwaitingApproval as i32,
        "{f:#?}"
    );
    assert!(finding(&f, "R03-gateway-claim-not-allowed").is_none());
    let against = finding(&f, "R07-sharing-against-wishes")
        .ok_or_else(|| anyhow!("no R07-sharing-against-wishes: {f:#?}"))?;
    assert_eq!(against.severity, pb::Severity::Warning as i32);
    app.stop().await
}

/// The police ask the schools under s115 at the early-help level (Sandwell's
/// `crime-prevention-s115` requires explicit consent there, `002 App.2` Early Help), consent
/// not sought for `reasons`.
fn police_s115_early_help(reasons: Vec<pb::NotSoughtReason>, key: &str) -> pb::InformationRequest {
    let mut r = s47_request(POLICE, SCHOOLS, "", key, key);
    r.purpose_id = "crime-prevention-s115".into();
    r.level_of_need = pb::LevelOfNeed::EarlyHelp as i32;
    r.lawful_basis = Some(pb::LawfulBasisClaim {
        article6: pb::LawfulBasis::PublicTask as i32,
        special_condition: pb::SpecialCategoryCondition::PreventingCrime as i32,
        gateways: vec![pb::StatutoryGateway::Cda1998S115 as i32],
    });
    r.consent = Some(pb::Consent {
        status: pb::ConsentStatus::NotSought as i32,
        not_sought_reasons: reasons.into_iter().map(|r| r as i32).collect(),
        not_sought_detail: "Older siblings are suspected of drug dealing from the home".into(),
        ..Default::default()
    });
    r.categories = vec![
        pb::CategoryRequest {
            category_id: "education".into(),
            reason: "Attendance on the days of the reported incidents".into(),
        },
        pb::CategoryRequest {
            category_id: "agency-involvement".into(),
            reason: "Who else works with the family".into(),
        },
    ];
    r
}

/// `002 6.3`: "Consent should not be sought if doing so would: … prejudice the prevention,
/// detection or prosecution of a serious crime". The request used to be refused by
/// R06-explicit-consent-required; it goes to approval, with the exception and its source.
async fn police_s115_at_early_help_not_seeking_consent_for_crime_goes_to_approval(
    backend: Backend,
) -> Result<()> {
    let app = spawn_app(backend).await?;
    let s = submit(
        &app,
        POLICE,
        police_s115_early_help(
            vec![pb::NotSoughtReason::PrejudiceCrimePrevention],
            "s115-crime",
        ),
    )
    .await?;
    let f = findings(&s)?;
    assert_eq!(
        s.state,
        pb::ExchangeState::AwaitingApproval as i32,
        "{f:#?}"
    );
    assert!(finding(&f, "R06-explicit-consent-required").is_none());
    let exception = finding(&f, "R06-not-sought-crime-exception")
        .ok_or_else(|| anyhow!("no R06-not-sought-crime-exception: {f:#?}"))?;
    assert_eq!(exception.severity, pb::Severity::Warning as i32);
    assert_eq!(exception.source, "002 6.3, 002 App.2, 004 App.1");
    assert!(
        exception.message.contains("002 6.3"),
        "{}",
        exception.message
    );
    // The schools' IG lead has it to decide.
    let mut ig = app.clients(SCHOOLS, Role::IgLead).await?;
    let pending = ig
        .approvals
        .list_pending(pb::ListPendingRequest::default())
        .await?
        .into_inner();
    assert_eq!(pending.exchanges.len(), 1);
    app.stop().await
}

/// The same request without the crime reason: explicit consent is still required.
async fn police_s115_at_early_help_not_seeking_consent_without_that_reason_is_refused(
    backend: Backend,
) -> Result<()> {
    let app = spawn_app(backend).await?;
    let s = submit(
        &app,
        POLICE,
        police_s115_early_help(vec![pb::NotSoughtReason::UnjustifiedDelay], "s115-delay"),
    )
    .await?;
    let f = findings(&s)?;
    assert_eq!(s.state, pb::ExchangeState::Refused as i32, "{f:#?}");
    let r06 = finding(&f, "R06-explicit-consent-required")
        .ok_or_else(|| anyhow!("no R06-explicit-consent-required: {f:#?}"))?;
    assert_eq!(r06.severity, pb::Severity::Blocking as i32);
    assert!(finding(&f, "R06-not-sought-crime-exception").is_none());
    app.stop().await
}

/// `001 How`: "Where possible, be transparent with the individual, informing them that the
/// information has been shared, as long as doing so does not create or increase the risk of
/// harm". No reason for not telling the family used to be refused as bad input, so
/// R15-not-informing-without-reason could never be reached; it is a warning for the IG lead.
async fn not_telling_the_family_without_a_reason_is_a_warning_not_an_error(
    backend: Backend,
) -> Result<()> {
    let app = spawn_app(backend).await?;
    let mut r = s47_request(POLICE, TRUST, "", "no-inform", "no-inform");
    r.subject_notification = Some(pb::SubjectNotification {
        will_inform: false,
        reason_not_informing: String::new(),
    });
    let s = submit(&app, POLICE, r).await?;
    let f = findings(&s)?;
    assert_eq!(
        s.state,
        pb::ExchangeState::AwaitingApproval as i32,
        "{f:#?}"
    );
    let r15 = finding(&f, "R15-not-informing-without-reason")
        .ok_or_else(|| anyhow!("no R15-not-informing-without-reason: {f:#?}"))?;
    assert_eq!(r15.severity, pb::Severity::Warning as i32);
    assert_eq!(r15.source, "001 How, 002 App.2 Q5");
    app.stop().await
}

/// `004 FAQ`: "It is not good practice to use lack of consent to share information when consent
/// has not been attempted"; `002 6.3` lists the reasons not to seek it. Consent not sought with
/// no reason used to be refused as bad input, so R08-not-sought-without-reason could never be
/// reached; the check refuses it where the protocol says consent should be sought (a child in
/// need assessment), and asks for nothing where the protocol needs no consent (s47 at
/// significant harm, `002 App.2` Safeguarding: "consent is not required").
async fn consent_not_sought_without_a_reason_is_refused_by_the_check_not_by_validation(
    backend: Backend,
) -> Result<()> {
    let app = spawn_app(backend).await?;
    let not_sought = || {
        Some(pb::Consent {
            status: pb::ConsentStatus::NotSought as i32,
            ..Default::default()
        })
    };
    let mut r = s47_request(POLICE, TRUST, "", "cin-not-sought", "cin-not-sought");
    r.purpose_id = "child-in-need-assessment".into();
    r.level_of_need = pb::LevelOfNeed::ChildInNeed as i32;
    if let Some(basis) = r.lawful_basis.as_mut() {
        basis.gateways = vec![pb::StatutoryGateway::Ca1989S17 as i32];
    }
    r.consent = not_sought();
    let s = submit(&app, POLICE, r).await?;
    let f = findings(&s)?;
    assert_eq!(s.state, pb::ExchangeState::Refused as i32, "{f:#?}");
    let r08 = finding(&f, "R08-not-sought-without-reason")
        .ok_or_else(|| anyhow!("no R08-not-sought-without-reason: {f:#?}"))?;
    assert_eq!(r08.severity, pb::Severity::Blocking as i32);
    assert_eq!(r08.source, "002 6.3, 002 App.2, 004 FAQ");

    let mut r = s47_request(POLICE, TRUST, "", "sh-not-sought", "sh-not-sought");
    r.consent = not_sought();
    let s = submit(&app, POLICE, r).await?;
    let f = findings(&s)?;
    assert_eq!(
        s.state,
        pb::ExchangeState::AwaitingApproval as i32,
        "{f:#?}"
    );
    assert!(finding(&f, "R08-not-sought-without-reason").is_none());
    app.stop().await
}
