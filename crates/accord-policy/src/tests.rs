//! One test per rule, named after it, on the realistic fixture protocol; tests that well-formed
//! requests proceed; and tests of the catalogue itself (unique ids, every rule exercised, the
//! rules document lists them all).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use accord_domain::{
    Assessment, ConsentGiver, ConsentStatus, ExchangeState, Finding, History, LawfulBasis,
    LevelOfNeed, NotRequiredReason, NotSoughtReason, Outcome, Protocol, Request, Role, Severity,
    SpecialCondition, StatutoryGateway, Urgency,
};
use time::macros::date;
use time::Duration;

use crate::fixture::*;
use crate::rules::*;
use crate::{assess, rule, rules, RuleInfo};

/// A protocol, a request and a history: one scenario for the check.
struct Case {
    protocol: Protocol,
    request: Request,
    history: History,
}

impl Case {
    fn new(request: Request) -> Self {
        Case {
            protocol: protocol(),
            request,
            history: History::default(),
        }
    }

    fn assess(&self) -> Assessment {
        assess(&self.protocol, &self.request, &self.history, NOW)
    }
}

fn ids(a: &Assessment) -> Vec<&str> {
    a.findings.iter().map(|f| f.rule_id.as_str()).collect()
}

/// The finding of `rule`, checked for its id, severity, source and a message.
fn expect<'a>(a: &'a Assessment, rule: &RuleInfo, severity: Severity) -> &'a Finding {
    let f = a
        .findings
        .iter()
        .find(|f| f.rule_id == rule.id)
        .unwrap_or_else(|| panic!("no {} finding; got {:?}", rule.id, ids(a)));
    assert_eq!(f.severity, severity, "{}", rule.id);
    assert_eq!(f.source, rule.source, "{}", rule.id);
    assert!(!f.message.trim().is_empty(), "{}", rule.id);
    f
}

fn absent(a: &Assessment, rule: &RuleInfo) {
    assert!(
        a.findings.iter().all(|f| f.rule_id != rule.id),
        "unexpected {}: {:?}",
        rule.id,
        a.findings
    );
}

fn refused(a: &Assessment) {
    assert_eq!(a.outcome, Outcome::Refuse, "{:?}", ids(a));
    assert!(a.proposed_scope.is_empty());
}

fn proceeds(a: &Assessment) {
    assert_eq!(a.outcome, Outcome::ProceedToApproval, "{:?}", a.findings);
    assert!(a.blocking().next().is_none());
}

fn cats(a: &[accord_domain::CategoryId]) -> Vec<&str> {
    a.iter().map(|c| c.as_str()).collect()
}

// ---------------------------------------------------------------- scenarios, one per rule

fn r17_case() -> Case {
    let mut r = s47_request();
    r.protocol_version = "1.0".to_owned();
    Case::new(r)
}

fn r18_case() -> Case {
    let mut r = s47_request();
    r.holding_agency = id(TRUST);
    Case::new(r)
}

fn r01_purpose_case() -> Case {
    let mut r = s47_request();
    r.purpose = id("general-enquiry");
    Case::new(r)
}

fn r01_necessity_case() -> Case {
    let mut r = s47_request();
    r.necessity_justification = "  ".to_owned();
    Case::new(r)
}

fn r02_not_active_case() -> Case {
    let mut r = s47_request();
    r.holding_agency = id(SUSPENDED);
    Case::new(r)
}

fn r02_reaffirmation_case() -> Case {
    let mut r = prevent_request();
    r.holding_agency = id(OVERDUE);
    Case::new(r)
}

fn r02_past_review_case() -> Case {
    let mut c = Case::new(s47_request());
    c.protocol.review_due = date!(2025 - 01 - 31);
    c
}

fn r03_basis_case() -> Case {
    let mut r = s47_request();
    r.lawful_basis.article6 = LawfulBasis::LegitimateInterests;
    Case::new(r)
}

fn r03_gateway_case() -> Case {
    let mut r = early_help_request();
    r.lawful_basis.gateways = vec![StatutoryGateway::Ca1989S47];
    Case::new(r)
}

/// A school claims s47 at the child-in-need level, and the parent refused consent.
fn r03_gateway_claim_case() -> Case {
    let mut r = s47_request();
    r.requesting_agency = id(SCHOOL);
    r.level_of_need = LevelOfNeed::ChildInNeed;
    let mut consent = accord_domain::Consent::with_status(ConsentStatus::Refused);
    consent.given_by = Some(ConsentGiver::ParentalResponsibility);
    r.consent = consent;
    Case::new(r)
}

fn r03_special_case() -> Case {
    let mut r = s47_request();
    r.lawful_basis.special_condition = SpecialCondition::None;
    Case::new(r)
}

fn r04_case() -> Case {
    let mut r = s47_request();
    r.requesting_agency = id(CHARITY);
    r.lawful_basis.gateways = vec![StatutoryGateway::Cda1998S115];
    Case::new(r)
}

/// Early help about a group of children, anonymised: no consent was sought, and none is
/// needed.
fn r05_case() -> Case {
    let mut r = early_help_request();
    r.child.identifiable = false;
    r.child.identifiers.clear();
    r.consent = accord_domain::Consent::with_status(ConsentStatus::NotSought);
    r.notification.will_inform = false;
    Case::new(r)
}

fn r12_case() -> Case {
    let mut r = s47_request();
    r.anonymised_would_suffice = true;
    Case::new(r)
}

fn r06_required_case() -> Case {
    let mut r = early_help_request();
    let mut consent = accord_domain::Consent::with_status(ConsentStatus::NotSought);
    consent.not_sought_reasons = vec![NotSoughtReason::UnjustifiedDelay];
    r.consent = consent;
    Case::new(r)
}

/// The police at the early-help level, consent not sought because seeking it would prejudice
/// the prevention of crime.
fn r06_crime_exception_case() -> Case {
    let mut r = early_help_request();
    r.requesting_agency = id(POLICE);
    let mut consent = accord_domain::Consent::with_status(ConsentStatus::NotSought);
    consent.not_sought_reasons = vec![NotSoughtReason::PrejudiceCrimePrevention];
    consent.not_sought_detail =
        "The father is suspected of supplying drugs from the home; asking would alert him."
            .to_owned();
    r.consent = consent;
    Case::new(r)
}

fn r06_not_explicit_case() -> Case {
    let mut r = early_help_request();
    r.consent.explicit = false;
    Case::new(r)
}

/// Early help escalated to significant harm (consent only to be sought there), claiming
/// consent as the basis without having it.
fn r21_case() -> Case {
    let mut r = early_help_request();
    r.level_of_need = LevelOfNeed::SignificantHarm;
    r.lawful_basis.article6 = LawfulBasis::Consent;
    let mut consent = accord_domain::Consent::with_status(ConsentStatus::NotSought);
    consent.not_sought_reasons = vec![NotSoughtReason::CannotLocate];
    r.consent = consent;
    Case::new(r)
}

/// A child in need assessment where the parent refused consent: s17 is not a duty to share.
fn child_in_need_refused() -> Request {
    let mut r = s47_request();
    r.holding_agency = id(HEALTH);
    r.other_people.clear();
    r.purpose = id(CHILD_IN_NEED);
    r.level_of_need = LevelOfNeed::ChildInNeed;
    r.lawful_basis = accord_domain::LawfulBasisClaim {
        article6: LawfulBasis::PublicTask,
        special_condition: SpecialCondition::SafeguardingChildren,
        gateways: vec![StatutoryGateway::Ca1989S17],
    };
    let mut consent = accord_domain::Consent::with_status(ConsentStatus::Refused);
    consent.given_by = Some(ConsentGiver::ParentalResponsibility);
    r.consent = consent;
    r.categories = vec![
        category("living-arrangements", "Who the child lives with"),
        category("physical-health", "Missed health appointments"),
    ];
    r
}

fn r07_refused_case() -> Case {
    Case::new(child_in_need_refused())
}

fn r07_against_wishes_case() -> Case {
    let mut r = child_in_need_refused();
    r.consent.public_interest_justification =
        "Repeated missed appointments for a chronic condition; risk of serious harm to health."
            .to_owned();
    Case::new(r)
}

fn r08_not_sought_case() -> Case {
    let mut r = child_in_need_refused();
    r.consent = accord_domain::Consent::with_status(ConsentStatus::NotSought);
    Case::new(r)
}

fn r08_not_required_case() -> Case {
    let mut r = child_in_need_refused();
    let mut consent = accord_domain::Consent::with_status(ConsentStatus::NotRequired);
    consent.not_required_reason = Some(NotRequiredReason::StatutoryDuty);
    r.consent = consent;
    Case::new(r)
}

fn child_consent(mut r: Request) -> Request {
    r.consent.given_by = Some(ConsentGiver::Child);
    r.consent.given_by_name = "Child A".to_owned();
    r
}

fn r09_capacity_case() -> Case {
    Case::new(child_consent(early_help_request()))
}

fn r09_age_unknown_case() -> Case {
    let mut r = child_consent(early_help_request());
    r.child.date_of_birth = None;
    Case::new(r)
}

fn r09_older_child_case() -> Case {
    let mut r = early_help_request();
    r.child.date_of_birth = Some(date!(2010 - 09 - 01));
    Case::new(r)
}

fn r22_case() -> Case {
    let mut r = early_help_request();
    r.consent.scope = "School attendance only, not health".to_owned();
    Case::new(r)
}

fn r10_unknown_case() -> Case {
    let mut r = s47_request();
    r.categories
        .insert(1, category("bank-details", "Whether benefits are paid"));
    Case::new(r)
}

fn r10_not_allowed_case() -> Case {
    let mut r = early_help_request();
    r.categories
        .push(category("offending-history", "Father's convictions"));
    Case::new(r)
}

fn r10_nothing_case() -> Case {
    let mut r = early_help_request();
    r.categories = vec![category("offending-history", "Father's convictions")];
    Case::new(r)
}

fn r11_special_case() -> Case {
    let mut r = s47_request();
    r.categories[1].reason = String::new();
    Case::new(r)
}

fn r11_reason_case() -> Case {
    let mut r = s47_request();
    r.categories[2].reason = " ".to_owned();
    Case::new(r)
}

fn r20_case() -> Case {
    let mut r = s47_request();
    r.records_from = None;
    Case::new(r)
}

fn r23_case() -> Case {
    Case::new(s47_request())
}

/// A child in need request without health data, consent not sought for a stated reason.
fn r24_case() -> Case {
    let mut r = child_in_need_refused();
    let mut consent = accord_domain::Consent::with_status(ConsentStatus::NotSought);
    consent.not_sought_reasons = vec![NotSoughtReason::CannotLocate];
    r.consent = consent;
    r.categories = vec![category("living-arrangements", "Who the child lives with")];
    Case::new(r)
}

fn r13_repeat_case() -> Case {
    let mut c = Case::new(s47_request());
    c.history.prior = vec![
        prior(1, TRUST, POLICE, S47, ExchangeState::Acknowledged, 30),
        prior(2, TRUST, POLICE, S47, ExchangeState::Delivered, 10),
        prior(3, TRUST, POLICE, S47, ExchangeState::Acknowledged, 200),
    ];
    c
}

/// The only earlier exchange in the window was about a category this request does not seek.
fn r13_related_case() -> Case {
    let mut c = Case::new(s47_request());
    let mut p = prior(9, TRUST, POLICE, S47, ExchangeState::Acknowledged, 20);
    p.categories = vec![id("statutory-education")];
    c.history.prior = vec![p];
    c
}

fn r13_open_case() -> Case {
    let mut c = Case::new(s47_request());
    c.history.prior = vec![prior(
        4,
        TRUST,
        POLICE,
        S47,
        ExchangeState::AwaitingApproval,
        1,
    )];
    c
}

fn r14_case() -> Case {
    let mut r = s47_request();
    r.onward_disclosure.intended = true;
    r.onward_disclosure.recipients = vec![POLICE.to_owned(), "Cafcass".to_owned()];
    r.onward_disclosure.purpose = "Private law proceedings".to_owned();
    Case::new(r)
}

fn r15_case() -> Case {
    let mut r = s47_request();
    r.notification.reason_not_informing = String::new();
    Case::new(r)
}

fn r16_case() -> Case {
    let mut r = s47_request();
    r.level_of_need = LevelOfNeed::ImmediateRisk;
    r.urgency = Urgency::Immediate;
    r.needed_by = None;
    Case::new(r)
}

fn r16_urgency_case() -> Case {
    let mut r = s47_request();
    r.level_of_need = LevelOfNeed::ImmediateRisk;
    r.urgency = Urgency::Routine;
    r.needed_by = None;
    Case::new(r)
}

fn r19_case() -> Case {
    let mut r = s47_request();
    r.needed_by = Some(NOW - Duration::hours(1));
    Case::new(r)
}

/// Every scenario above, for the test that every rule is exercised.
fn all_cases() -> Vec<(&'static str, Case)> {
    vec![
        ("r17", r17_case()),
        ("r18", r18_case()),
        ("r01 purpose", r01_purpose_case()),
        ("r01 necessity", r01_necessity_case()),
        ("r02 not active", r02_not_active_case()),
        ("r02 reaffirmation", r02_reaffirmation_case()),
        ("r02 past review", r02_past_review_case()),
        ("r03 basis", r03_basis_case()),
        ("r03 gateway", r03_gateway_case()),
        ("r03 gateway claim", r03_gateway_claim_case()),
        ("r03 special", r03_special_case()),
        ("r04", r04_case()),
        ("r05", r05_case()),
        ("r12", r12_case()),
        ("r06 required", r06_required_case()),
        ("r06 crime exception", r06_crime_exception_case()),
        ("r06 not explicit", r06_not_explicit_case()),
        ("r21", r21_case()),
        ("r07 refused", r07_refused_case()),
        ("r07 against wishes", r07_against_wishes_case()),
        ("r08 not sought", r08_not_sought_case()),
        ("r08 not required", r08_not_required_case()),
        ("r09 capacity", r09_capacity_case()),
        ("r09 age unknown", r09_age_unknown_case()),
        ("r09 older child", r09_older_child_case()),
        ("r22", r22_case()),
        ("r10 unknown", r10_unknown_case()),
        ("r10 not allowed", r10_not_allowed_case()),
        ("r10 nothing", r10_nothing_case()),
        ("r11 special", r11_special_case()),
        ("r11 reason", r11_reason_case()),
        ("r20", r20_case()),
        ("r23", r23_case()),
        ("r24", r24_case()),
        ("r13 repeat", r13_repeat_case()),
        ("r13 related", r13_related_case()),
        ("r13 open", r13_open_case()),
        ("r14", r14_case()),
        ("r15", r15_case()),
        ("r16", r16_case()),
        ("r16 urgency", r16_urgency_case()),
        ("r19", r19_case()),
    ]
}

// ---------------------------------------------------------------- well-formed requests

#[test]
fn typical_s47_request_proceeds_with_its_four_categories() {
    let a = Case::new(s47_request()).assess();
    proceeds(&a);
    assert_eq!(
        cats(&a.proposed_scope),
        [
            "police-incidents",
            "offending-history",
            "living-arrangements",
            "family-relationships"
        ]
    );
    assert!(a.trimmed.is_empty());
    // Needed in 20 hours, sooner than the purpose's 24-hour urgent deadline.
    assert_eq!(a.respond_by, NOW + Duration::hours(20));
    assert_eq!(a.required_approver_roles, [Role::IgLead]);
    assert_eq!(a.assessed_at, NOW);
    // The only finding: special category data without consent, for the IG lead.
    assert_eq!(ids(&a), [r23_special_category_without_consent::ID]);
}

#[test]
fn early_help_with_explicit_parental_consent_proceeds_cleanly() {
    let a = Case::new(early_help_request()).assess();
    proceeds(&a);
    assert!(a.findings.is_empty(), "{:?}", a.findings);
    assert_eq!(
        cats(&a.proposed_scope),
        ["statutory-education", "family-relationships"]
    );
    assert_eq!(a.respond_by, NOW + Duration::days(10));
    // Consent obtained: no further approvers.
    assert_eq!(a.required_approver_roles, [Role::IgLead]);
}

#[test]
fn case_review_on_the_statutory_protocol_proceeds() {
    let a = Case::new(case_review_request()).assess();
    proceeds(&a);
    assert_eq!(
        cats(&a.proposed_scope),
        ["physical-health", "emotional-mental-health"]
    );
    assert_eq!(a.respond_by, NOW + Duration::days(20));
}

#[test]
fn prevent_request_proceeds_without_consent() {
    let a = Case::new(prevent_request()).assess();
    proceeds(&a);
    assert!(a.findings.is_empty(), "{:?}", a.findings);
}

#[test]
fn relevant_authority_may_rely_on_s115() {
    let mut r = s47_request();
    r.lawful_basis.gateways = vec![StatutoryGateway::Cda1998S115];
    let a = Case::new(r).assess();
    proceeds(&a);
    absent(&a, &r04_s115_not_relevant_authority::INFO);
}

// ---------------------------------------------------------------- one test per rule

#[test]
fn r17_protocol_mismatch_refuses_a_request_under_another_version() {
    let a = r17_case().assess();
    let f = expect(&a, &r17_protocol_mismatch::INFO, Severity::Blocking);
    assert!(f.message.contains("\"1.0\"") && f.message.contains("\"2.0\""));
    refused(&a);
}

#[test]
fn r18_requester_is_holder_refuses_a_request_to_oneself() {
    let a = r18_case().assess();
    expect(&a, &r18_requester_is_holder::INFO, Severity::Blocking);
    refused(&a);
}

#[test]
fn r01_purpose_not_in_protocol_refuses_an_unknown_purpose() {
    let a = r01_purpose_case().assess();
    let f = expect(&a, &r01_purpose_not_in_protocol::INFO, Severity::Blocking);
    assert!(f.message.contains("s47-enquiry"), "lists the purposes");
    refused(&a);
    // Categories are not judged against an unknown purpose, so none is reported as trimmed.
    assert!(a.trimmed.is_empty());
    absent(&a, &r10_category_not_allowed::INFO);
    absent(&a, &r10_nothing_to_share::INFO);
    assert_eq!(a.required_approver_roles, [Role::IgLead]);
}

#[test]
fn r01_necessity_not_stated_refuses_a_blank_justification() {
    let a = r01_necessity_case().assess();
    let f = expect(&a, &r01_necessity_not_stated::INFO, Severity::Blocking);
    assert!(f.message.contains("why the information is necessary"));
    refused(&a);
}

#[test]
fn r02_agency_not_active_signatory_refuses_a_suspended_holder() {
    let a = r02_not_active_case().assess();
    let f = expect(
        &a,
        &r02_agency_not_active_signatory::INFO,
        Severity::Blocking,
    );
    assert!(f.message.contains("suspended"));
    refused(&a);
}

#[test]
fn r02_agency_not_active_signatory_refuses_an_agency_that_never_signed() {
    let mut r = s47_request();
    r.requesting_agency = id("unknown-agency");
    let a = Case::new(r).assess();
    let f = expect(
        &a,
        &r02_agency_not_active_signatory::INFO,
        Severity::Blocking,
    );
    assert!(f.message.contains("requesting agency \"unknown-agency\""));
    refused(&a);
}

#[test]
fn r02_reaffirmation_overdue_warns_and_proceeds() {
    let a = r02_reaffirmation_case().assess();
    let f = expect(&a, &r02_reaffirmation_overdue::INFO, Severity::Warning);
    assert!(f.message.contains("2024-06-01"));
    proceeds(&a);
}

#[test]
fn r02_protocol_past_review_warns_and_proceeds() {
    let a = r02_past_review_case().assess();
    expect(&a, &r02_protocol_past_review::INFO, Severity::Warning);
    proceeds(&a);
}

#[test]
fn r03_lawful_basis_not_allowed_refuses_legitimate_interests_for_s47() {
    let a = r03_basis_case().assess();
    expect(&a, &r03_lawful_basis_not_allowed::INFO, Severity::Blocking);
    refused(&a);
}

#[test]
fn r03_gateway_not_allowed_refuses_s47_claimed_for_early_help() {
    let a = r03_gateway_case().assess();
    let f = expect(&a, &r03_gateway_not_allowed::INFO, Severity::Blocking);
    assert!(f.message.contains("ca1989_s47"));
    refused(&a);
}

/// `002 App.2` Q1: "Is there a legal basis or statutory duty for sharing the information?
/// (e.g. s47 of the Children Act 1989 …)"; s47 is for "reasonable cause to suspect that a child
/// … is suffering, or is likely to suffer, significant harm". A school claiming it at the
/// child-in-need level, with consent refused, used to get only warnings (the claim counted as
/// a statutory duty overriding the refusal) and go to approval. It is refused, and the claim
/// overrides nothing.
#[test]
fn r03_gateway_claim_not_allowed_refuses_a_school_claiming_s47_at_child_in_need() {
    let a = r03_gateway_claim_case().assess();
    let f = expect(&a, &r03_gateway_claim_not_allowed::INFO, Severity::Blocking);
    assert!(f.message.contains("ca1989_s47"), "{}", f.message);
    assert!(f.message.contains("\"child_in_need\""), "{}", f.message);
    assert!(f.message.contains("significant_harm and immediate_risk"));
    // The documents' default is quoted with its clause.
    assert!(f.message.contains("002 App.2 Q1"), "{}", f.message);
    // The school may assist s47 enquiries, so only the level is wrong.
    assert!(!f.message.contains("Oak Primary School"), "{}", f.message);
    // Not a statutory duty: the refusal of consent stands.
    expect(&a, &r07_consent_refused::INFO, Severity::Blocking);
    absent(&a, &r07_sharing_against_wishes::INFO);
    refused(&a);
}

/// The same school at significant harm: s47(9)-(11) binds education to assist the enquiries, so
/// the claim stands, and refused consent is weighed by the IG lead (`002 App.2` Q5: "Where there
/// is a clear risk of significant harm to a child, the public interest test will almost
/// certainly be satisfied").
#[test]
fn r03_gateway_claim_not_allowed_lets_a_school_assist_s47_at_significant_harm() {
    let mut c = r03_gateway_claim_case();
    c.request.level_of_need = LevelOfNeed::SignificantHarm;
    let a = c.assess();
    absent(&a, &r03_gateway_claim_not_allowed::INFO);
    expect(&a, &r07_sharing_against_wishes::INFO, Severity::Warning);
    proceeds(&a);
}

/// A voluntary organisation is not one of the bodies s47 names (`002 App.2` Q1: a power or duty
/// "which limits … who the information can be shared with"): refused at any level, and its
/// claim supports no "consent not required" either (`002 6.7`: only "a requirement by law").
#[test]
fn r03_gateway_claim_not_allowed_refuses_s47_claimed_by_a_charity() {
    let mut r = s47_request();
    r.requesting_agency = id(CHARITY);
    r.level_of_need = LevelOfNeed::ChildInNeed;
    let mut consent = accord_domain::Consent::with_status(ConsentStatus::NotRequired);
    consent.not_required_reason = Some(NotRequiredReason::StatutoryDuty);
    r.consent = consent;
    let a = Case::new(r.clone()).assess();
    let f = expect(&a, &r03_gateway_claim_not_allowed::INFO, Severity::Blocking);
    assert!(
        f.message
            .contains("Youth Support (a registered charity) (voluntary)"),
        "{}",
        f.message
    );
    expect(&a, &r08_not_required_unsupported::INFO, Severity::Blocking);
    refused(&a);
    // At significant harm the level is right but the claimant still is not.
    r.level_of_need = LevelOfNeed::SignificantHarm;
    let a = Case::new(r).assess();
    let f = expect(&a, &r03_gateway_claim_not_allowed::INFO, Severity::Blocking);
    assert!(!f.message.contains("level of need \""), "{}", f.message);
    refused(&a);
}

/// `001` Legislative framework: "Safeguarding partners … can require a person or body to
/// comply with a request for information, as outlined in sections 16H and 14B … This can only
/// take place when the information requested is for the purpose of enabling or assisting the
/// safeguarding partners … to perform their functions." A school is not a safeguarding partner.
#[test]
fn r03_gateway_claim_not_allowed_keeps_s16h_to_the_safeguarding_partners() {
    let mut r = case_review_request();
    r.requesting_agency = id(SCHOOL);
    let a = Case::new(r).assess();
    let f = expect(&a, &r03_gateway_claim_not_allowed::INFO, Severity::Blocking);
    assert!(f.message.contains("ca2004_s16h"), "{}", f.message);
    refused(&a);
    // The trust (local authority children's social care) is one.
    proceeds(&Case::new(case_review_request()).assess());
}

/// The protocol decides who may claim which gateway (`[[gateway]]`): a partnership that names
/// a voluntary body among those assisting s47 enquiries lets it claim s47.
#[test]
fn r03_gateway_claim_not_allowed_follows_the_protocols_gateway_table() {
    let mut r = s47_request();
    r.requesting_agency = id(CHARITY);
    let mut c = Case::new(r);
    let mut rule = accord_domain::GatewayRule::default_for(StatutoryGateway::Ca1989S47)
        .unwrap()
        .clone();
    rule.agencies.push(id(CHARITY));
    rule.source = "Local s47 protocol 4.2".to_owned();
    c.protocol.gateway_rules.push(rule.clone());
    let a = c.assess();
    absent(&a, &r03_gateway_claim_not_allowed::INFO);
    proceeds(&a);
    // A protocol that keeps s47 to children's social care refuses the police, citing its own
    // clause.
    let mut c = Case::new(s47_request());
    c.request.requesting_agency = id(POLICE);
    c.request.holding_agency = id(HEALTH);
    rule.agency_kinds = vec![accord_domain::AgencyKind::LocalAuthority];
    rule.agencies.clear();
    c.protocol.gateway_rules = vec![rule];
    let a = c.assess();
    let f = expect(&a, &r03_gateway_claim_not_allowed::INFO, Severity::Blocking);
    assert!(
        f.message.contains("Local s47 protocol 4.2"),
        "{}",
        f.message
    );
    refused(&a);
}

/// s115 by a body that is not a relevant authority is R04's finding (`002 1.18`), reported once;
/// a protocol may restrict s115 further among relevant authorities.
#[test]
fn r03_gateway_claim_not_allowed_leaves_s115_relevant_authorities_to_r04() {
    let a = r04_case().assess();
    expect(
        &a,
        &r04_s115_not_relevant_authority::INFO,
        Severity::Blocking,
    );
    absent(&a, &r03_gateway_claim_not_allowed::INFO);
    let mut c = Case::new(s47_request());
    c.request.lawful_basis.gateways = vec![StatutoryGateway::Cda1998S115];
    c.protocol.gateway_rules.push(accord_domain::GatewayRule {
        gateway: StatutoryGateway::Cda1998S115,
        source: "Local crime and disorder protocol".to_owned(),
        agency_kinds: vec![accord_domain::AgencyKind::Police],
        agencies: Vec::new(),
        relevant_authorities: false,
        levels_of_need: LevelOfNeed::ALL.to_vec(),
    });
    let a = c.assess();
    expect(&a, &r03_gateway_claim_not_allowed::INFO, Severity::Blocking);
    absent(&a, &r04_s115_not_relevant_authority::INFO);
}

#[test]
fn r03_special_category_without_condition_refuses_offending_history_without_condition() {
    let a = r03_special_case().assess();
    let f = expect(
        &a,
        &r03_special_category_without_condition::INFO,
        Severity::Blocking,
    );
    assert!(f.message.contains("offending-history"));
    refused(&a);
}

#[test]
fn r03_special_category_without_condition_refuses_a_condition_the_purpose_does_not_accept() {
    let mut r = s47_request();
    r.lawful_basis.special_condition = SpecialCondition::LegalClaims;
    let a = Case::new(r).assess();
    let f = expect(
        &a,
        &r03_special_category_without_condition::INFO,
        Severity::Blocking,
    );
    assert!(f.message.contains("legal_claims"));
    refused(&a);
}

#[test]
fn r04_s115_not_relevant_authority_refuses_a_charity_relying_on_s115() {
    let a = r04_case().assess();
    expect(
        &a,
        &r04_s115_not_relevant_authority::INFO,
        Severity::Blocking,
    );
    refused(&a);
}

#[test]
fn r05_not_identifiable_sets_consent_questions_aside() {
    let a = r05_case().assess();
    expect(&a, &r05_not_identifiable::INFO, Severity::Info);
    // Early help without consent would be refused if the data identified the child.
    absent(&a, &r06_explicit_consent_required::INFO);
    absent(&a, &r15_not_informing_without_reason::INFO);
    proceeds(&a);
    assert_eq!(a.required_approver_roles, [Role::IgLead]);
}

#[test]
fn r12_anonymised_would_suffice_refuses_identifiable_data() {
    let a = r12_case().assess();
    expect(&a, &r12_anonymised_would_suffice::INFO, Severity::Blocking);
    refused(&a);
}

#[test]
fn r06_explicit_consent_required_refuses_early_help_without_consent() {
    let a = r06_required_case().assess();
    let f = expect(&a, &r06_explicit_consent_required::INFO, Severity::Blocking);
    assert!(f.message.contains("early_help"));
    refused(&a);
}

#[test]
fn r06_explicit_consent_required_follows_the_protocol_for_case_reviews() {
    // 002 1.17 / App.2: case reviews are a statutory function; this protocol says so.
    let statutory = Case::new(case_review_request()).assess();
    proceeds(&statutory);
    // 004 FAQ: case reviews need the individual's consent; a protocol that adopts it refuses.
    let mut c = Case::new(case_review_request());
    c.protocol = protocol_case_review_needs_consent();
    let a = c.assess();
    expect(&a, &r06_explicit_consent_required::INFO, Severity::Blocking);
    refused(&a);
    // With explicit consent recorded, the consent-based protocol lets it through.
    c.request.consent = explicit_parental_consent();
    proceeds(&c.assess());
}

/// `002 6.3`: "Consent should not be sought if doing so would: … prejudice the prevention,
/// detection or prosecution of a serious crime"; `002 App.2` ("When not to seek consent"):
/// "Prejudice the prevention or detection of a serious crime". Where the protocol requires
/// explicit consent (early help), not seeking it for that reason goes to approval flagged, with
/// the exception and its source explained; for any other reason, or none, R06 still refuses.
#[test]
fn r06_not_sought_crime_exception_sends_early_help_to_approval_flagged() {
    let a = r06_crime_exception_case().assess();
    let f = expect(&a, &r06_not_sought_crime_exception::INFO, Severity::Warning);
    assert!(f.message.contains("002 6.3"), "{}", f.message);
    assert!(f
        .message
        .contains("prevention, detection or prosecution of a serious crime"));
    assert!(
        f.message.contains("asking would alert him"),
        "{}",
        f.message
    );
    absent(&a, &r06_explicit_consent_required::INFO);
    proceeds(&a);
    // Shared without consent: the purpose's approvers for that decide.
    expect(&a, &r24_without_consent_approval::INFO, Severity::Info);

    // The same request without that reason is still refused.
    let mut c = r06_crime_exception_case();
    c.request.consent.not_sought_reasons = vec![NotSoughtReason::UnjustifiedDelay];
    let a = c.assess();
    expect(&a, &r06_explicit_consent_required::INFO, Severity::Blocking);
    absent(&a, &r06_not_sought_crime_exception::INFO);
    refused(&a);
    c.request.consent.not_sought_reasons.clear();
    let a = c.assess();
    expect(&a, &r06_explicit_consent_required::INFO, Severity::Blocking);
    refused(&a);
}

/// The exception is to seeking consent, not to a refusal, and does not make consent a lawful
/// basis one does not have (`002 App.2` Q4: consent "must be freely given, informed and
/// explicit").
#[test]
fn r06_not_sought_crime_exception_covers_neither_refusal_nor_a_consent_basis() {
    let mut c = r06_crime_exception_case();
    c.request.lawful_basis.article6 = LawfulBasis::Consent;
    let a = c.assess();
    expect(
        &a,
        &r21_consent_basis_without_consent::INFO,
        Severity::Blocking,
    );
    refused(&a);
    let mut c = r06_crime_exception_case();
    let mut consent = accord_domain::Consent::with_status(ConsentStatus::Refused);
    consent.given_by = Some(ConsentGiver::ParentalResponsibility);
    c.request.consent = consent;
    let a = c.assess();
    expect(&a, &r06_explicit_consent_required::INFO, Severity::Blocking);
    absent(&a, &r06_not_sought_crime_exception::INFO);
}

#[test]
fn r06_consent_not_explicit_refuses_implied_consent_for_early_help() {
    let a = r06_not_explicit_case().assess();
    expect(&a, &r06_consent_not_explicit::INFO, Severity::Blocking);
    absent(&a, &r06_explicit_consent_required::INFO);
    refused(&a);
}

#[test]
fn r21_consent_basis_without_consent_refuses_consent_basis_with_no_consent() {
    let a = r21_case().assess();
    let f = expect(
        &a,
        &r21_consent_basis_without_consent::INFO,
        Severity::Blocking,
    );
    assert!(f.message.contains("not_sought"));
    refused(&a);
}

#[test]
fn r21_consent_basis_without_consent_refuses_explicit_consent_condition_without_it() {
    let mut r = r06_not_explicit_case().request;
    r.categories.push(category(
        "emotional-mental-health",
        "School counsellor's concerns",
    ));
    r.lawful_basis.special_condition = SpecialCondition::ExplicitConsent;
    let a = Case::new(r).assess();
    let f = expect(
        &a,
        &r21_consent_basis_without_consent::INFO,
        Severity::Blocking,
    );
    assert!(f.message.contains("explicit consent is not recorded"));
    refused(&a);
}

#[test]
fn r07_consent_refused_refuses_below_significant_harm_without_justification() {
    let a = r07_refused_case().assess();
    expect(&a, &r07_consent_refused::INFO, Severity::Blocking);
    absent(&a, &r07_sharing_against_wishes::INFO);
    refused(&a);
}

#[test]
fn r07_sharing_against_wishes_flags_a_public_interest_justification() {
    let a = r07_against_wishes_case().assess();
    let f = expect(&a, &r07_sharing_against_wishes::INFO, Severity::Warning);
    assert!(f.message.contains("public-interest justification"));
    absent(&a, &r07_consent_refused::INFO);
    proceeds(&a);
    // Without consent, the purpose's Caldicott Guardian approves too (004 FAQ).
    assert_eq!(
        a.required_approver_roles,
        [Role::IgLead, Role::CaldicottGuardian]
    );
}

#[test]
fn r07_sharing_against_wishes_flags_refusal_at_significant_harm() {
    let mut r = s47_request();
    r.consent = accord_domain::Consent::with_status(ConsentStatus::Withdrawn);
    let a = Case::new(r).assess();
    let f = expect(&a, &r07_sharing_against_wishes::INFO, Severity::Warning);
    assert!(f.message.contains("significant harm"));
    proceeds(&a);
}

#[test]
fn r08_not_sought_without_reason_refuses() {
    let a = r08_not_sought_case().assess();
    expect(&a, &r08_not_sought_without_reason::INFO, Severity::Blocking);
    refused(&a);
}

#[test]
fn r08_not_sought_without_reason_does_not_apply_where_protocol_needs_no_consent() {
    let mut r = s47_request();
    r.consent.not_sought_reasons.clear();
    let a = Case::new(r).assess();
    absent(&a, &r08_not_sought_without_reason::INFO);
    proceeds(&a);
}

#[test]
fn r08_not_required_unsupported_refuses_not_required_without_a_duty() {
    let a = r08_not_required_case().assess();
    expect(&a, &r08_not_required_unsupported::INFO, Severity::Blocking);
    refused(&a);
    // A court order the purpose relies on would support it.
    let mut r = r08_not_required_case().request;
    r.purpose = id(S47);
    r.lawful_basis.gateways = vec![StatutoryGateway::CourtOrder];
    r.level_of_need = LevelOfNeed::ChildInNeed;
    let a = Case::new(r).assess();
    absent(&a, &r08_not_required_unsupported::INFO);
}

#[test]
fn r09_child_consent_capacity_refuses_consent_of_a_nine_year_old_without_assessment() {
    let a = r09_capacity_case().assess();
    let f = expect(&a, &r09_child_consent_capacity::INFO, Severity::Blocking);
    assert!(f.message.contains("is 9"));
    refused(&a);
    // With a capacity assessment recorded, it is valid consent.
    let mut c = r09_capacity_case();
    c.request.consent.capacity_assessed = true;
    let a = c.assess();
    absent(&a, &r09_child_consent_capacity::INFO);
    proceeds(&a);
}

#[test]
fn r09_child_consent_capacity_only_warns_where_consent_is_not_required() {
    let mut r = child_consent(s47_request());
    r.consent.status = ConsentStatus::Obtained;
    r.consent.explicit = true;
    let a = Case::new(r).assess();
    expect(&a, &r09_child_consent_capacity::INFO, Severity::Warning);
    proceeds(&a);
}

#[test]
fn r09_child_age_unknown_advises_giving_a_date_of_birth() {
    let a = r09_age_unknown_case().assess();
    expect(&a, &r09_child_age_unknown::INFO, Severity::Advisory);
    proceeds(&a);
}

#[test]
fn r09_older_child_own_consent_advises_seeking_the_childs_view() {
    let a = r09_older_child_case().assess();
    let f = expect(&a, &r09_older_child_own_consent::INFO, Severity::Advisory);
    assert!(f.message.contains("is 14"));
    proceeds(&a);
}

#[test]
fn r22_consent_scope_limited_advises_staying_within_it() {
    let a = r22_case().assess();
    let f = expect(&a, &r22_consent_scope_limited::INFO, Severity::Advisory);
    assert!(f.message.contains("School attendance only"));
    proceeds(&a);
}

#[test]
fn r10_category_unknown_trims_and_reports_an_unknown_category() {
    let a = r10_unknown_case().assess();
    let f = expect(&a, &r10_category_unknown::INFO, Severity::Advisory);
    assert_eq!(
        f.category.as_ref().map(|c| c.as_str()),
        Some("bank-details")
    );
    proceeds(&a);
    assert_eq!(cats(&a.trimmed), ["bank-details"]);
    assert_eq!(a.proposed_scope.len(), 4);
}

#[test]
fn r10_category_not_allowed_trims_offending_history_from_early_help() {
    let a = r10_not_allowed_case().assess();
    let f = expect(&a, &r10_category_not_allowed::INFO, Severity::Advisory);
    assert_eq!(
        f.category.as_ref().map(|c| c.as_str()),
        Some("offending-history")
    );
    proceeds(&a);
    assert_eq!(cats(&a.trimmed), ["offending-history"]);
    assert_eq!(
        cats(&a.proposed_scope),
        ["statutory-education", "family-relationships"]
    );
}

#[test]
fn r10_nothing_to_share_refuses_when_every_category_is_trimmed() {
    let a = r10_nothing_case().assess();
    expect(&a, &r10_nothing_to_share::INFO, Severity::Blocking);
    refused(&a);
    // The trimmed category is still reported, so the requester knows what to change.
    assert_eq!(cats(&a.trimmed), ["offending-history"]);
}

#[test]
fn r11_special_category_without_need_refuses_offending_history_without_reason() {
    let a = r11_special_case().assess();
    let f = expect(
        &a,
        &r11_special_category_without_need::INFO,
        Severity::Blocking,
    );
    assert_eq!(
        f.category.as_ref().map(|c| c.as_str()),
        Some("offending-history")
    );
    refused(&a);
}

#[test]
fn r11_category_without_reason_warns_and_keeps_the_category() {
    let a = r11_reason_case().assess();
    let f = expect(&a, &r11_category_without_reason::INFO, Severity::Warning);
    assert_eq!(
        f.category.as_ref().map(|c| c.as_str()),
        Some("living-arrangements")
    );
    proceeds(&a);
    assert_eq!(a.proposed_scope.len(), 4);
}

#[test]
fn r20_records_period_not_stated_advises_a_period() {
    let a = r20_case().assess();
    expect(&a, &r20_records_period_not_stated::INFO, Severity::Advisory);
    proceeds(&a);
}

#[test]
fn r23_special_category_without_consent_warns_and_names_the_approvers() {
    let a = r23_case().assess();
    let f = expect(
        &a,
        &r23_special_category_without_consent::INFO,
        Severity::Warning,
    );
    assert!(f.message.contains("offending-history"));
    proceeds(&a);
    // Child in need names a Caldicott Guardian for sharing without consent.
    let mut r = child_in_need_refused();
    let mut consent = accord_domain::Consent::with_status(ConsentStatus::NotSought);
    consent.not_sought_reasons = vec![NotSoughtReason::IncreasedRiskOfHarm];
    r.consent = consent;
    let a = Case::new(r).assess();
    let f = expect(
        &a,
        &r23_special_category_without_consent::INFO,
        Severity::Warning,
    );
    assert!(f.message.contains("Caldicott Guardian"));
    assert_eq!(
        a.required_approver_roles,
        [Role::IgLead, Role::CaldicottGuardian]
    );
}

#[test]
fn r24_without_consent_approval_notes_the_further_approver() {
    let a = r24_case().assess();
    let f = expect(&a, &r24_without_consent_approval::INFO, Severity::Info);
    assert!(f.message.contains("Caldicott Guardian"));
    absent(&a, &r23_special_category_without_consent::INFO);
    proceeds(&a);
    assert_eq!(
        a.required_approver_roles,
        [Role::IgLead, Role::CaldicottGuardian]
    );
}

#[test]
fn r13_repeat_request_warns_about_the_latest_exchange_in_the_window() {
    let a = r13_repeat_case().assess();
    let f = expect(&a, &r13_repeat_request::INFO, Severity::Warning);
    // The most recent of the two in the 90-day window; the one 200 days ago is outside it.
    assert!(f.message.contains(&uuid::Uuid::from_u128(2).to_string()));
    assert_eq!(
        a.findings
            .iter()
            .filter(|f| f.rule_id == r13_related_request::ID)
            .count(),
        0
    );
    assert_eq!(
        a.findings
            .iter()
            .filter(|f| f.rule_id == r13_repeat_request::ID)
            .count(),
        1
    );
    proceeds(&a);
}

#[test]
fn r13_repeat_request_names_the_categories_sought_again_and_when() {
    let a = r13_repeat_case().assess();
    let f = expect(&a, &r13_repeat_request::INFO, Severity::Warning);
    // Those in both, in request order; not the one only the earlier exchange concerned, nor
    // those only this request seeks.
    assert!(
        f.message
            .contains("seeks police-incidents and living-arrangements again"),
        "{}",
        f.message
    );
    assert!(!f.message.contains("statutory-education"));
    assert!(!f.message.contains("offending-history"));
    // Exchange 2 was submitted ten days before NOW (2025-03-03).
    assert!(
        f.message.contains("2025-02-21 (10 days ago)"),
        "{}",
        f.message
    );
}

#[test]
fn r13_repeat_request_prefers_an_earlier_exchange_of_the_same_information() {
    let mut c = Case::new(s47_request());
    let mut other = prior(10, TRUST, POLICE, S47, ExchangeState::Acknowledged, 2);
    other.categories = vec![id("statutory-education")];
    let mut same = prior(11, TRUST, POLICE, S47, ExchangeState::Delivered, 40);
    same.categories = vec![id("offending-history"), id("neighbourhood")];
    c.history.prior = vec![other, same];
    let a = c.assess();
    let f = expect(&a, &r13_repeat_request::INFO, Severity::Warning);
    assert!(f.message.contains(&uuid::Uuid::from_u128(11).to_string()));
    assert!(f.message.contains("seeks offending-history again"));
    assert!(
        f.message.contains("2025-01-22 (40 days ago)"),
        "{}",
        f.message
    );
    // The later exchange about other information is not reported beside the repeat.
    absent(&a, &r13_related_request::INFO);
}

#[test]
fn r13_repeat_request_treats_unknown_categories_as_the_same_information() {
    let mut c = Case::new(s47_request());
    let mut p = prior(12, TRUST, POLICE, S47, ExchangeState::Closed, 5);
    p.categories = Vec::new();
    c.history.prior = vec![p];
    let a = c.assess();
    let f = expect(&a, &r13_repeat_request::INFO, Severity::Warning);
    assert!(f.message.contains("not recorded"), "{}", f.message);
    absent(&a, &r13_related_request::INFO);
}

#[test]
fn r13_related_request_notes_an_earlier_exchange_of_other_information() {
    let a = r13_related_case().assess();
    let f = expect(&a, &r13_related_request::INFO, Severity::Info);
    assert!(f.message.contains(&uuid::Uuid::from_u128(9).to_string()));
    assert!(f.message.contains("statutory-education"), "{}", f.message);
    assert!(
        f.message.contains("2025-02-11 (20 days ago)"),
        "{}",
        f.message
    );
    assert_eq!(f.category, None);
    absent(&a, &r13_repeat_request::INFO);
    absent(&a, &r13_duplicate_open_request::INFO);
    proceeds(&a);
}

#[test]
fn r13_related_request_ignores_other_purposes_agencies_and_children() {
    let mut c = Case::new(s47_request());
    let mut other_child = prior(13, TRUST, POLICE, S47, ExchangeState::Acknowledged, 3);
    other_child.child_identifiers = vec![identifier("nhs_number", "111 222 3333")];
    let mut other_purpose = prior(14, TRUST, POLICE, CHILD_IN_NEED, ExchangeState::Closed, 3);
    let mut outside_window = prior(15, TRUST, POLICE, S47, ExchangeState::Closed, 200);
    for p in [&mut other_child, &mut other_purpose, &mut outside_window] {
        p.categories = vec![id("statutory-education")];
    }
    c.history.prior = vec![other_child, other_purpose, outside_window];
    let a = c.assess();
    absent(&a, &r13_related_request::INFO);
    absent(&a, &r13_repeat_request::INFO);
}

#[test]
fn r13_repeat_request_ignores_other_purposes_agencies_and_children() {
    let mut c = Case::new(s47_request());
    let mut other_child = prior(5, TRUST, POLICE, S47, ExchangeState::Acknowledged, 3);
    other_child.child_identifiers = vec![identifier("nhs_number", "111 222 3333")];
    c.history.prior = vec![
        prior(
            6,
            TRUST,
            POLICE,
            CHILD_IN_NEED,
            ExchangeState::Acknowledged,
            3,
        ),
        prior(7, HEALTH, POLICE, S47, ExchangeState::Acknowledged, 3),
        prior(8, TRUST, POLICE, S47, ExchangeState::Declined, 3),
        other_child,
    ];
    let a = c.assess();
    absent(&a, &r13_repeat_request::INFO);
    absent(&a, &r13_duplicate_open_request::INFO);
}

#[test]
fn r13_duplicate_open_request_advises_withdrawing_one() {
    let a = r13_open_case().assess();
    expect(&a, &r13_duplicate_open_request::INFO, Severity::Advisory);
    absent(&a, &r13_repeat_request::INFO);
    proceeds(&a);
}

#[test]
fn r14_onward_disclosure_non_signatory_warns_naming_the_outsider() {
    let a = r14_case().assess();
    let f = expect(
        &a,
        &r14_onward_disclosure_non_signatory::INFO,
        Severity::Warning,
    );
    assert!(f.message.contains("Cafcass, which is not"));
    assert!(!f.message.contains(POLICE));
    proceeds(&a);
}

#[test]
fn r14_onward_disclosure_to_signatories_only_is_not_flagged() {
    let mut r = r14_case().request;
    r.onward_disclosure.recipients = vec![HEALTH.to_owned()];
    absent(
        &Case::new(r).assess(),
        &r14_onward_disclosure_non_signatory::INFO,
    );
}

#[test]
fn r15_not_informing_without_reason_warns() {
    let a = r15_case().assess();
    expect(
        &a,
        &r15_not_informing_without_reason::INFO,
        Severity::Warning,
    );
    proceeds(&a);
}

/// The reasons the API used to demand of every request are the check's to ask for, and only
/// where the documents do. `004 FAQ`: "It is not good practice to use lack of consent to share
/// information when consent has not been attempted" (R08, where the protocol says consent should
/// be sought); `001 How`: inform the individual "as long as doing so does not create or
/// increase the risk of harm" (R15, when someone is identifiable). Where consent is not required
/// (`002 App.2` Safeguarding: "consent is not required") or the information identifies no one
/// (`002 App.2` Q2), no reason is asked for.
#[test]
fn r08_and_r15_ask_for_reasons_only_where_the_documents_do() {
    // Not sought, no reason, not telling the family and no reason why: child in need.
    let mut r = r08_not_sought_case().request;
    r.notification.will_inform = false;
    r.notification.reason_not_informing.clear();
    let a = Case::new(r.clone()).assess();
    expect(&a, &r08_not_sought_without_reason::INFO, Severity::Blocking);
    expect(
        &a,
        &r15_not_informing_without_reason::INFO,
        Severity::Warning,
    );
    refused(&a);
    // At significant harm on the s47 purpose consent is not required: no reason is needed.
    r.purpose = id(S47);
    r.level_of_need = LevelOfNeed::SignificantHarm;
    r.lawful_basis.gateways = vec![StatutoryGateway::Ca1989S47];
    let a = Case::new(r.clone()).assess();
    absent(&a, &r08_not_sought_without_reason::INFO);
    expect(
        &a,
        &r15_not_informing_without_reason::INFO,
        Severity::Warning,
    );
    proceeds(&a);
    // Identifying no one, neither reason is needed.
    r.child.identifiable = false;
    r.child.identifiers.clear();
    r.purpose = id(CHILD_IN_NEED);
    r.level_of_need = LevelOfNeed::ChildInNeed;
    r.lawful_basis.gateways = vec![StatutoryGateway::Ca1989S17];
    let a = Case::new(r).assess();
    absent(&a, &r08_not_sought_without_reason::INFO);
    absent(&a, &r15_not_informing_without_reason::INFO);
    proceeds(&a);
}

#[test]
fn r16_immediate_risk_tell_police_gives_minutes_not_days() {
    let a = r16_case().assess();
    let f = expect(
        &a,
        &r16_immediate_risk_tell_police::INFO,
        Severity::Advisory,
    );
    assert!(f.message.contains("999") && f.message.contains("30 minutes"));
    assert_eq!(a.respond_by, NOW + Duration::minutes(30));
    absent(&a, &r16_urgency_below_risk::INFO);
    proceeds(&a);
}

#[test]
fn r16_urgency_below_risk_treats_immediate_risk_as_immediate() {
    let a = r16_urgency_case().assess();
    expect(&a, &r16_urgency_below_risk::INFO, Severity::Advisory);
    expect(
        &a,
        &r16_immediate_risk_tell_police::INFO,
        Severity::Advisory,
    );
    // The purpose's immediate deadline, not its routine three days.
    assert_eq!(a.respond_by, NOW + Duration::minutes(30));
    proceeds(&a);
}

#[test]
fn r19_needed_by_passed_warns_and_uses_the_purpose_deadline() {
    let a = r19_case().assess();
    expect(&a, &r19_needed_by_passed::INFO, Severity::Warning);
    assert_eq!(a.respond_by, NOW + Duration::hours(24));
    proceeds(&a);
}

// ---------------------------------------------------------------- outcome, deadlines, roles

#[test]
fn respond_by_never_later_than_needed_by() {
    let mut r = s47_request();
    r.urgency = Urgency::Routine;
    r.needed_by = Some(NOW + Duration::days(1));
    assert_eq!(
        Case::new(r.clone()).assess().respond_by,
        NOW + Duration::days(1)
    );
    r.needed_by = Some(NOW + Duration::days(30));
    assert_eq!(Case::new(r).assess().respond_by, NOW + Duration::days(3));
}

#[test]
fn respond_by_uses_defaults_for_an_unknown_purpose() {
    let mut r = r01_purpose_case().request;
    r.needed_by = None;
    for (urgency, level, expected) in [
        (
            Urgency::Routine,
            LevelOfNeed::ChildInNeed,
            Duration::days(10),
        ),
        (
            Urgency::Urgent,
            LevelOfNeed::ChildInNeed,
            Duration::hours(24),
        ),
        (
            Urgency::Immediate,
            LevelOfNeed::ChildInNeed,
            Duration::minutes(30),
        ),
        (
            Urgency::Routine,
            LevelOfNeed::ImmediateRisk,
            Duration::minutes(30),
        ),
    ] {
        r.urgency = urgency;
        r.level_of_need = level;
        assert_eq!(Case::new(r.clone()).assess().respond_by, NOW + expected);
    }
}

#[test]
fn approver_roles_are_sorted_and_deduplicated() {
    let mut c = r24_case();
    for p in &mut c.protocol.purposes {
        p.approving_roles = vec![Role::CaldicottGuardian, Role::IgLead];
        p.approving_roles_without_consent = vec![Role::IgLead, Role::CaldicottGuardian];
    }
    assert_eq!(
        c.assess().required_approver_roles,
        [Role::IgLead, Role::CaldicottGuardian]
    );
}

#[test]
fn findings_are_most_serious_first_and_a_refusal_keeps_its_trimmed_categories() {
    let mut r = r10_not_allowed_case().request;
    r.anonymised_would_suffice = true;
    r.records_from = None;
    let a = Case::new(r).assess();
    refused(&a);
    let severities: Vec<Severity> = a.findings.iter().map(|f| f.severity).collect();
    let mut sorted = severities.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(severities, sorted);
    assert_eq!(cats(&a.trimmed), ["offending-history"]);
}

#[test]
fn a_category_sought_twice_counts_once() {
    let mut r = s47_request();
    r.categories.push(category("police-incidents", "again"));
    let a = Case::new(r).assess();
    proceeds(&a);
    assert_eq!(a.proposed_scope.len(), 4);
    assert!(a.trimmed.is_empty());
}

#[test]
fn the_same_inputs_give_the_same_assessment_whatever_the_history_order() {
    let c = r13_repeat_case();
    let mut reversed = r13_repeat_case();
    reversed.history.prior.reverse();
    assert_eq!(c.assess(), c.assess());
    assert_eq!(c.assess(), reversed.assess());
}

#[test]
fn identifiers_match_as_their_canonical_forms_do() {
    let a = identifier("nhs_number", "943 476 5919");
    let b = identifier(" NHS_Number", "9434765919");
    assert!(a.same_as(&b));
    assert_eq!(a.canonical(), b.canonical());
    assert!(!a.same_as(&identifier("nhs_number", "9434765918")));
    assert!(!a.same_as(&identifier("upn", "9434765919")));
}

// ---------------------------------------------------------------- the catalogue

#[test]
fn rule_ids_are_unique_stable_slugs_with_sources() {
    let mut seen = BTreeSet::new();
    for r in rules() {
        assert!(seen.insert(r.id), "duplicate rule id {}", r.id);
        let (prefix, slug) = r.id.split_at(4);
        assert!(
            prefix.starts_with('R')
                && prefix[1..3].chars().all(|c| c.is_ascii_digit())
                && prefix.ends_with('-'),
            "{} must start Rnn-",
            r.id
        );
        assert!(slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
        assert!(!r.source.trim().is_empty() && !r.summary.trim().is_empty());
        assert_eq!(rule(r.id), Some(r));
    }
    // DOMAIN.md rules 1-16 are all represented.
    for n in 1..=16 {
        let prefix = format!("R{n:02}-");
        assert!(
            rules().iter().any(|r| r.id.starts_with(&prefix)),
            "no rule for DOMAIN.md rule {n}"
        );
    }
}

#[test]
fn every_catalogued_rule_is_checked_in_catalogue_order() {
    let checked: Vec<&str> = CHECKS.iter().map(|(info, _)| info.id).collect();
    let catalogued: Vec<&str> = rules().iter().map(|r| r.id).collect();
    assert_eq!(checked, catalogued);
}

#[test]
fn every_rule_is_exercised_by_a_scenario() {
    let mut produced = BTreeSet::new();
    for (name, case) in all_cases() {
        let a = case.assess();
        for f in &a.findings {
            let info = rule(&f.rule_id)
                .unwrap_or_else(|| panic!("{name}: finding from uncatalogued rule {}", f.rule_id));
            assert_eq!(f.source, info.source, "{name}");
            assert!(
                f.severity <= info.severity,
                "{name}: {} above its catalogue severity",
                f.rule_id
            );
            produced.insert(f.rule_id.clone());
        }
    }
    let missing: Vec<&str> = rules()
        .iter()
        .map(|r| r.id)
        .filter(|id| !produced.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "rules no scenario exercises: {missing:?}"
    );
}

#[test]
fn the_rules_document_lists_every_rule() {
    let doc = include_str!("../../../docs/policy-rules.md");
    for r in rules() {
        assert!(
            doc.contains(&format!("`{}`", r.id)),
            "docs/policy-rules.md lacks {}",
            r.id
        );
        assert!(
            doc.contains(r.source),
            "docs/policy-rules.md lacks the source of {}",
            r.id
        );
    }
}

#[test]
fn lists_read_as_english() {
    use crate::rules::list;
    assert_eq!(list([]), "none");
    assert_eq!(list(["a"]), "a");
    assert_eq!(list(["a", "b"]), "a and b");
    assert_eq!(list(["a", "b", "c"]), "a, b and c");
}
