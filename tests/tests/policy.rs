//! The necessity and proportionality check end to end: requests submitted over gRPC under the
//! example protocols, judged by the rules the documents give, with the findings (rule id,
//! severity, source clause) the requester receives.

use accord_domain::Role;
use accord_tests::*;
use anyhow::{anyhow, Result};

backend_tests!(
    school_claiming_s47_at_child_in_need_with_consent_refused_is_refused,
    school_claiming_s47_at_significant_harm_goes_to_approval,
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
