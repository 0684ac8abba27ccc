//! `GetProtocol` end to end: every term of every purpose reaches the client as the protocol
//! file writes it (read here straight from the TOML, not through the broker's loader), and a
//! request built from the answer alone passes the check.

use std::collections::BTreeMap;

use accord_domain::Role;
use accord_tests::*;
use anyhow::{anyhow, ensure, Context, Result};

backend_tests!(
    get_protocol_gives_every_purpose_term_as_the_file_writes_it,
    a_request_built_from_get_protocol_alone_goes_to_approval,
);

async fn get_protocol(c: &mut Clients, id: &str) -> Result<pb::Protocol> {
    c.registry
        .get_protocol(pb::GetProtocolRequest {
            protocol_id: id.into(),
        })
        .await?
        .into_inner()
        .protocol
        .ok_or_else(|| anyhow!("GetProtocol returned no protocol"))
}

/// The protocol file's word for an API enum value: its name without the enum's prefix, in
/// lowercase (`CONSENT_REQUIREMENT_NOT_REQUIRED` -> `not_required`).
fn word(full: &str, prefix: &str) -> String {
    full.strip_prefix(prefix)
        .unwrap_or(full)
        .to_ascii_lowercase()
}

fn words<E>(values: &[i32], prefix: &str, name: impl Fn(E) -> &'static str) -> Vec<String>
where
    E: TryFrom<i32>,
{
    values
        .iter()
        .map(|v| match E::try_from(*v) {
            Ok(e) => word(name(e), prefix),
            Err(_) => format!("unknown({v})"),
        })
        .collect()
}

fn consent_words(u: &pb::Purpose) -> BTreeMap<String, String> {
    u.consent_rules
        .iter()
        .map(|r| {
            let level = pb::LevelOfNeed::try_from(r.level_of_need)
                .map(|l| word(l.as_str_name(), "LEVEL_OF_NEED_"))
                .unwrap_or_default();
            let req = pb::ConsentRequirement::try_from(r.requirement)
                .map(|c| word(c.as_str_name(), "CONSENT_REQUIREMENT_"))
                .unwrap_or_default();
            (level, req)
        })
        .collect()
}

/// A list of words under `key` in a TOML table; empty when the key is absent (optional lists).
fn toml_words(t: &toml::Value, key: &str) -> Vec<String> {
    t.get(key)
        .and_then(toml::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Compares every purpose of the API's protocol with the `[[purpose]]` tables of `file`.
fn assert_matches_file(p: &pb::Protocol, file: &str) -> Result<()> {
    let text = std::fs::read_to_string(workspace_file(file)).with_context(|| file.to_owned())?;
    let doc: toml::Value = toml::from_str(&text)?;
    let purposes = doc
        .get("purpose")
        .and_then(toml::Value::as_array)
        .ok_or_else(|| anyhow!("{file}: no [[purpose]]"))?;
    let descriptions: BTreeMap<String, String> = doc
        .get("category")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| {
            Some((
                c.get("id")?.as_str()?.to_owned(),
                c.get("description")?.as_str()?.to_owned(),
            ))
        })
        .collect();
    ensure!(p.purposes.len() == purposes.len(), "{file}: purpose count");
    for t in purposes {
        let id = t
            .get("id")
            .and_then(toml::Value::as_str)
            .unwrap_or_default();
        let u = p
            .purposes
            .iter()
            .find(|u| u.id == id)
            .ok_or_else(|| anyhow!("{file}: purpose {id} missing from GetProtocol"))?;
        let consent: BTreeMap<String, String> = t
            .get("consent")
            .and_then(toml::Value::as_table)
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect();
        assert_eq!(consent_words(u), consent, "{id}: consent rules");
        for r in &u.consent_rules {
            let explicit = r.requirement == pb::ConsentRequirement::Explicit as i32;
            assert_eq!(
                r.explicit, explicit,
                "{id}: explicit agrees with requirement"
            );
            assert_eq!(r.consent_required, explicit, "{id}: consent_required");
        }
        assert_eq!(
            words(
                &u.special_conditions,
                "SPECIAL_CATEGORY_CONDITION_",
                |e: pb::SpecialCategoryCondition| e.as_str_name()
            ),
            toml_words(t, "special_conditions"),
            "{id}: special conditions"
        );
        assert_eq!(
            words(&u.approving_roles, "ROLE_", |e: pb::Role| e.as_str_name()),
            toml_words(t, "approving_roles"),
            "{id}: approving roles"
        );
        assert_eq!(
            words(
                &u.approving_roles_without_consent,
                "ROLE_",
                |e: pb::Role| e.as_str_name()
            ),
            toml_words(t, "approving_roles_without_consent"),
            "{id}: approving roles without consent"
        );
        assert_eq!(
            words(&u.lawful_bases, "LAWFUL_BASIS_", |e: pb::LawfulBasis| e
                .as_str_name()),
            toml_words(t, "lawful_bases"),
            "{id}: lawful bases"
        );
        assert_eq!(
            words(
                &u.gateways,
                "STATUTORY_GATEWAY_",
                |e: pb::StatutoryGateway| e.as_str_name()
            ),
            toml_words(t, "gateways"),
            "{id}: gateways"
        );
        let categories = toml_words(t, "categories");
        assert_eq!(u.categories, categories, "{id}: categories");
        let allowed: Vec<(String, String)> = u
            .allowed_categories
            .iter()
            .map(|c| (c.id.clone(), c.description.clone()))
            .collect();
        let expected: Vec<(String, String)> = categories
            .iter()
            .map(|c| (c.clone(), descriptions.get(c).cloned().unwrap_or_default()))
            .collect();
        assert_eq!(allowed, expected, "{id}: allowed categories");
        assert_eq!(
            i64::from(u.retention_days),
            t.get("retention_days")
                .and_then(toml::Value::as_integer)
                .unwrap_or_default(),
            "{id}: retention"
        );
        assert_eq!(u.deadlines.len(), 3, "{id}: a deadline per urgency");
    }
    Ok(())
}

fn purpose<'a>(p: &'a pb::Protocol, id: &str) -> Result<&'a pb::Purpose> {
    p.purposes
        .iter()
        .find(|u| u.id == id)
        .ok_or_else(|| anyhow!("no purpose {id}"))
}

fn requirements(u: &pb::Purpose) -> Vec<pb::ConsentRequirement> {
    u.consent_rules
        .iter()
        .map(|r| {
            pb::ConsentRequirement::try_from(r.requirement)
                .unwrap_or(pb::ConsentRequirement::Unspecified)
        })
        .collect()
}

async fn get_protocol_gives_every_purpose_term_as_the_file_writes_it(
    backend: Backend,
) -> Result<()> {
    use pb::ConsentRequirement::{Explicit, NotRequired, Sought};
    use pb::SpecialCategoryCondition as S;
    use pb::StatutoryGateway as G;
    let app = spawn_app(backend).await?;
    // Any role reads the protocol; a practitioner builds requests from it.
    let mut c = app.clients(POLICE, Role::Practitioner).await?;

    let p = get_protocol(&mut c, SANDWELL).await?;
    assert_matches_file(&p, "deploy/protocols/sandwell-partnership.toml")?;
    assert_eq!(p.version, "1.0");
    assert_eq!(p.consent_capacity_age, 12);

    // s47-enquiry: the three states, levels in order (002 App.2).
    let s47 = purpose(&p, "s47-enquiry")?;
    assert_eq!(
        requirements(s47),
        [Explicit, Sought, NotRequired, NotRequired]
    );
    assert_eq!(s47.special_conditions, [S::SafeguardingChildren as i32]);
    assert_eq!(s47.approving_roles, [pb::Role::IgLead as i32]);
    assert!(s47.approving_roles_without_consent.is_empty());
    // s47 puts a duty to share; s11 is a duty to safeguard, not to share.
    assert_eq!(s47.duty_gateways, [G::Ca1989S47 as i32]);
    assert_eq!(
        s47.deadlines
            .iter()
            .map(|d| d.within.as_ref().map(|w| w.seconds).unwrap_or_default())
            .collect::<Vec<_>>(),
        [5 * 86_400, 86_400, 30 * 60]
    );

    // early-help rests on consent at every level; case-review needs none at any level.
    let early = purpose(&p, "early-help")?;
    assert_eq!(requirements(early), [Explicit; 4]);
    assert_eq!(early.special_conditions, [S::ExplicitConsent as i32]);
    assert!(early.duty_gateways.is_empty());
    let review = purpose(&p, "case-review")?;
    assert_eq!(requirements(review), [NotRequired; 4]);
    assert_eq!(
        review.special_conditions,
        [S::SafeguardingChildren as i32, S::StatutoryPurposes as i32]
    );
    assert_eq!(
        review.duty_gateways,
        [G::Ca2004S14b as i32, G::Ca2004S16h as i32]
    );
    let s115 = purpose(&p, "crime-prevention-s115")?;
    assert_eq!(s115.special_conditions, [S::PreventingCrime as i32]);
    assert!(
        s115.duty_gateways.is_empty(),
        "s115 permits, it does not require"
    );
    let health = s47
        .allowed_categories
        .iter()
        .find(|c| c.id == "mental-health")
        .ok_or_else(|| anyhow!("mental-health not allowed for s47-enquiry"))?;
    assert!(health.special_category);

    // B&NES: health records shared without consent need the Caldicott Guardian (004 FAQ).
    let p = get_protocol(&mut c, BANES).await?;
    assert_matches_file(&p, "deploy/protocols/banes-guidance.toml")?;
    let health = purpose(&p, "health-information")?;
    assert_eq!(health.approving_roles, [pb::Role::IgLead as i32]);
    assert_eq!(
        health.approving_roles_without_consent,
        [pb::Role::CaldicottGuardian as i32]
    );
    assert_eq!(
        requirements(health),
        [Explicit, Sought, NotRequired, NotRequired]
    );
    assert_eq!(
        health.special_conditions,
        [
            S::HealthSocialCare as i32,
            S::SafeguardingChildren as i32,
            S::VitalInterests as i32,
            S::ExplicitConsent as i32,
        ]
    );
    assert!(!p.signatories.is_empty());
    assert!(p.signatories.iter().all(|s| s.reaffirm_due.len() == 10));
    app.stop().await
}

/// A request for `purpose` at `level`, every term taken from the GetProtocol answer: the
/// version, a lawful basis other than consent, a special condition the purpose accepts, every
/// category it allows with a reason, and a consent position its rule accepts without consent.
fn request_from(
    p: &pb::Protocol,
    u: &pb::Purpose,
    level: pb::LevelOfNeed,
    requester: &str,
    practitioner: &str,
    holder: &str,
) -> Result<pb::InformationRequest> {
    use pb::*;
    let rule = u
        .consent_rules
        .iter()
        .find(|r| r.level_of_need == level as i32)
        .ok_or_else(|| anyhow!("{}: no consent rule for {level:?}", u.id))?;
    let consent = match ConsentRequirement::try_from(rule.requirement)? {
        ConsentRequirement::Sought => Consent {
            status: ConsentStatus::NotSought as i32,
            not_sought_reasons: vec![NotSoughtReason::IncreasedRiskOfHarm as i32],
            ..Default::default()
        },
        ConsentRequirement::NotRequired => Consent {
            status: ConsentStatus::NotRequired as i32,
            not_required_reason: NotRequiredReason::StatutoryDuty as i32,
            ..Default::default()
        },
        other => anyhow::bail!("{}: this test shares without consent, not {other:?}", u.id),
    };
    let article6 = u
        .lawful_bases
        .iter()
        .copied()
        .find(|b| *b != LawfulBasis::Consent as i32)
        .ok_or_else(|| anyhow!("{}: no basis other than consent", u.id))?;
    let special = u.allowed_categories.iter().any(|c| c.special_category);
    let special_condition = if special {
        *u.special_conditions
            .first()
            .ok_or_else(|| anyhow!("{}: special data without a condition", u.id))?
    } else {
        SpecialCategoryCondition::None as i32
    };
    Ok(InformationRequest {
        protocol_id: p.id.clone(),
        protocol_version: p.version.clone(),
        requesting_agency_id: requester.into(),
        practitioner: Some(Practitioner {
            subject: practitioner.into(),
            name: "Sam Worker".into(),
            job_title: "Social worker".into(),
            contact: "sam.worker@example.org".into(),
        }),
        holding_agency_id: holder.into(),
        child: Some(Subject {
            identifiers: vec![SubjectIdentifier {
                scheme: "local_case_id".into(),
                value: "reg-1".into(),
            }],
            name: "Test Child".into(),
            date_of_birth: "2014-06-01".into(),
            identifiable: true,
            relationship: String::new(),
        }),
        other_people: Vec::new(),
        purpose_id: u.id.clone(),
        necessity_justification: "The assessment needs the child's health history".into(),
        expected_outcome: "Decide what support the child needs".into(),
        level_of_need: level as i32,
        risk_summary: "Concerns about the child's wellbeing".into(),
        lawful_basis: Some(LawfulBasisClaim {
            article6,
            special_condition,
            gateways: Vec::new(),
        }),
        consent: Some(consent),
        categories: u
            .allowed_categories
            .iter()
            .map(|c| CategoryRequest {
                category_id: c.id.clone(),
                reason: format!("Needed for the assessment: {}", c.description),
            })
            .collect(),
        records_from: "2020-01-01".into(),
        records_to: String::new(),
        anonymised_would_suffice: false,
        urgency: Urgency::Routine as i32,
        needed_by: None,
        onward_disclosure: Some(OnwardDisclosure::default()),
        subject_notification: Some(SubjectNotification {
            will_inform: true,
            reason_not_informing: String::new(),
        }),
        idempotency_key: format!("from-get-protocol-{}", u.id),
    })
}

async fn a_request_built_from_get_protocol_alone_goes_to_approval(backend: Backend) -> Result<()> {
    let app = spawn_app(backend).await?;
    let mut c = app.clients(BANES_COUNCIL, Role::Practitioner).await?;
    let p = get_protocol(&mut c, BANES).await?;
    let u = purpose(&p, "health-information")?;
    let subject = c.subject.clone();
    let request = request_from(
        &p,
        u,
        pb::LevelOfNeed::ChildInNeed,
        BANES_COUNCIL,
        &subject,
        BANES_HOSPITAL,
    )?;
    let submitted_at = app.clock.now();
    let r = c
        .exchanges
        .submit_request(pb::SubmitRequestRequest {
            request: Some(request),
        })
        .await?
        .into_inner();
    let a = r.assessment.ok_or_else(|| anyhow!("no assessment"))?;
    let blocking: Vec<&str> = a
        .findings
        .iter()
        .filter(|f| f.severity == pb::Severity::Blocking as i32)
        .map(|f| f.rule_id.as_str())
        .collect();
    assert!(blocking.is_empty(), "blocking findings: {blocking:?}");
    assert_eq!(
        a.outcome,
        pb::AssessmentOutcome::ProceedToApproval as i32,
        "{:?}",
        a.findings
    );
    assert_eq!(r.state, pb::ExchangeState::AwaitingApproval as i32);
    assert_eq!(
        a.proposed_scope, u.categories,
        "everything the purpose allows"
    );
    // Shared without consent: the purpose's approvers plus those it names for that case, as
    // GetProtocol said.
    let mut expected: Vec<i32> = u
        .approving_roles
        .iter()
        .chain(&u.approving_roles_without_consent)
        .copied()
        .collect();
    expected.sort_unstable();
    expected.dedup();
    assert_eq!(a.required_approver_roles, expected);
    assert!(expected.contains(&(pb::Role::CaldicottGuardian as i32)));
    // Answered within the routine deadline GetProtocol gave.
    let routine = u
        .deadlines
        .iter()
        .find(|d| d.urgency == pb::Urgency::Routine as i32)
        .and_then(|d| d.within.as_ref())
        .map(|d| d.seconds)
        .ok_or_else(|| anyhow!("no routine deadline"))?;
    let respond_by = a.respond_by.map(|t| t.seconds).unwrap_or_default();
    let expected_by = submitted_at.unix_timestamp() + routine;
    assert!(
        (respond_by - expected_by).abs() <= 5,
        "respond_by {respond_by}, expected about {expected_by}"
    );
    app.stop().await
}
