use super::*;

#[test]
fn protocol_converts() {
    let p = crate::registry::tests::protocol("proto-a", &[("police", "suspended")]);
    let x = protocol_to_proto(&p, |a| format!("reason for {a}"));
    assert_eq!(
        x.signatories[0].status,
        pb::SignatoryStatus::Suspended as i32
    );
    assert_eq!(x.signatories[0].status_reason, "reason for police");
    assert_eq!(x.purposes[0].deadlines.len(), 3);
    assert_eq!(x.purposes[0].consent_rules.len(), 4);
    assert_eq!(x.repeat_sharing_window.map(|d| d.seconds), Some(90 * 86400));
    assert_eq!(protocol_summary_to_proto(&p).review_due, "2030-01-01");
}

/// A protocol with one purpose that uses every term a request must respect: all three consent
/// states, special category conditions, a duty and a non-duty gateway, and a further approver
/// for sharing without consent.
fn health_protocol() -> d::Protocol {
    let text = r#"
[protocol]
id = "health-isp"
title = "Health sharing"
version = "2.1"
approved_on = 2024-01-01
review_due = 2030-01-01
capacity_age = 13
repeat_window_days = 60

[[category]]
id = "identity"
description = "Name and address"
special = false

[[category]]
id = "mental-health"
description = "Mental health records"
special = true

[[category]]
id = "unused"
description = "Not allowed for the purpose"
special = false

[[signatory]]
agency_id = "hospital"
name = "Hospital"
kind = "health"
relevant_authority = false
signed_on = 2024-03-31
reaffirm_every_months = 24
status = "active"
certificate_identity = "spiffe://t/agency/hospital"
token_issuer = "https://id.hospital.example/"

[[purpose]]
id = "health-information"
description = "Health records"
lawful_bases = ["public_task", "consent"]
special_conditions = ["health_social_care", "safeguarding_children"]
gateways = ["ca2004_s11", "court_order"]
categories = ["mental-health", "identity"]
retention_days = 45
approving_roles = ["ig_lead"]
approving_roles_without_consent = ["caldicott_guardian"]
[purpose.consent]
early_help = "explicit"
child_in_need = "sought"
significant_harm = "not_required"
immediate_risk = "not_required"
[purpose.deadlines]
immediate = "30m"
urgent = "24h"
routine = "10d"
"#;
    accord_domain::parse_protocol(text, "health.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn health_purpose() -> pb::Purpose {
    let p = health_protocol();
    let x = protocol_to_proto(&p, |_| String::new());
    assert_eq!(x.purposes.len(), 1);
    x.purposes[0].clone()
}

#[test]
fn consent_rules_tell_the_three_states_apart() {
    let u = health_purpose();
    let rules: Vec<(i32, i32, bool, bool)> = u
        .consent_rules
        .iter()
        .map(|r| {
            (
                r.level_of_need,
                r.requirement,
                r.consent_required,
                r.explicit,
            )
        })
        .collect();
    use pb::ConsentRequirement as C;
    use pb::LevelOfNeed as L;
    assert_eq!(
        rules,
        [
            (L::EarlyHelp as i32, C::Explicit as i32, true, true),
            (L::ChildInNeed as i32, C::Sought as i32, false, false),
            (
                L::SignificantHarm as i32,
                C::NotRequired as i32,
                false,
                false
            ),
            (L::ImmediateRisk as i32, C::NotRequired as i32, false, false),
        ]
    );
}

#[test]
fn purpose_carries_conditions_approvers_and_categories() {
    let u = health_purpose();
    assert_eq!(
        u.special_conditions,
        [
            pb::SpecialCategoryCondition::HealthSocialCare as i32,
            pb::SpecialCategoryCondition::SafeguardingChildren as i32,
        ]
    );
    assert_eq!(
        u.lawful_bases,
        [
            pb::LawfulBasis::PublicTask as i32,
            pb::LawfulBasis::Consent as i32
        ]
    );
    assert_eq!(u.approving_roles, [pb::Role::IgLead as i32]);
    assert_eq!(
        u.approving_roles_without_consent,
        [pb::Role::CaldicottGuardian as i32]
    );
    assert_eq!(u.retention_days, 45);
    // The purpose's own categories, in its order, with their descriptions; never "unused".
    let cats: Vec<(&str, &str, bool)> = u
        .allowed_categories
        .iter()
        .map(|c| (c.id.as_str(), c.description.as_str(), c.special_category))
        .collect();
    assert_eq!(
        cats,
        [
            ("mental-health", "Mental health records", true),
            ("identity", "Name and address", false),
        ]
    );
    assert_eq!(u.categories, ["mental-health", "identity"]);
}

#[test]
fn duty_gateways_are_the_purposes_gateways_that_require_sharing() {
    let u = health_purpose();
    assert_eq!(
        u.gateways,
        [
            pb::StatutoryGateway::Ca2004S11 as i32,
            pb::StatutoryGateway::CourtOrder as i32
        ]
    );
    // s11 is a duty to safeguard, not a duty to share; a court order requires sharing.
    assert_eq!(u.duty_gateways, [pb::StatutoryGateway::CourtOrder as i32]);
}

#[test]
fn deadlines_cover_every_urgency_in_order() {
    let u = health_purpose();
    let d: Vec<(i32, i64)> = u
        .deadlines
        .iter()
        .map(|d| (d.urgency, d.within.map(|w| w.seconds).unwrap_or_default()))
        .collect();
    assert_eq!(
        d,
        [
            (pb::Urgency::Routine as i32, 10 * 86_400),
            (pb::Urgency::Urgent as i32, 86_400),
            (pb::Urgency::Immediate as i32, 1_800),
        ]
    );
}

#[test]
fn protocol_terms_and_reaffirmation_date_convert() {
    let p = health_protocol();
    let x = protocol_to_proto(&p, |_| String::new());
    assert_eq!(x.version, "2.1");
    assert_eq!(x.consent_capacity_age, 13);
    assert_eq!(
        x.repeat_sharing_window.map(|d| d.seconds),
        Some(60 * 86_400)
    );
    assert_eq!(x.categories.len(), 3);
    // Signed 2024-03-31, re-affirm every 24 months.
    assert_eq!(x.signatories[0].reaffirm_due, "2026-03-31");
}
