//! The check against the example protocol files the broker ships (`deploy/protocols/`), loaded
//! by the real loader. They show the point the documents leave to each partnership: the same
//! request is judged by what its protocol says (case reviews are a statutory duty in Sandwell,
//! `002 1.17`, and need consent under the B&NES guidance, `004 FAQ`; Prevent needs none,
//! `003 a)`). Requests are built from each protocol's own purposes and categories, so the test
//! follows the files as they change.

#![allow(clippy::unwrap_used)]

mod fixture;

use std::path::PathBuf;

use accord_domain::{
    load_protocol_file, Assessment, Consent, ConsentStatus, History, LawfulBasis, LawfulBasisClaim,
    LevelOfNeed, NotRequiredReason, Outcome, Protocol, Request, SpecialCondition, Urgency,
};
use accord_policy::assess;
use accord_policy::rules::{
    r03_gateway_claim_not_allowed, r06_explicit_consent_required, r06_not_sought_crime_exception,
    r07_consent_refused,
};
use fixture::*;
use time::macros::datetime;
use time::OffsetDateTime;

/// After every example signatory's latest re-affirmation.
const WHEN: OffsetDateTime = datetime!(2026-12-01 10:00 UTC);

fn load(name: &str) -> Protocol {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "..",
        "deploy",
        "protocols",
        name,
    ]
    .iter()
    .collect();
    load_protocol_file(&path).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn examples() -> Vec<(&'static str, Protocol)> {
    [
        "sandwell-partnership.toml",
        "banes-guidance.toml",
        "prevent-channel.toml",
    ]
    .into_iter()
    .map(|name| (name, load(name)))
    .collect()
}

/// A request for `purpose` built only from what the protocol allows for it: its first lawful
/// basis, special condition and gateway, its first three categories (each with a reason), a
/// relevant authority asking another active signatory, with explicit parental consent, at the
/// child-in-need level, or at the first level its gateway may be claimed at (`[[gateway]]`:
/// s47 only at significant harm or immediate risk).
fn request_for(p: &Protocol, purpose: &str) -> Request {
    let purpose = p.purpose(&id(purpose)).unwrap();
    let requester = p
        .signatories
        .iter()
        .find(|s| s.relevant_authority && s.is_current(WHEN.date()))
        .unwrap();
    let holder = p
        .signatories
        .iter()
        .find(|s| s.agency_id != requester.agency_id && s.is_current(WHEN.date()))
        .unwrap();
    let mut r = s47_request();
    r.protocol_id = p.id.clone();
    r.protocol_version = p.version.clone();
    r.requesting_agency = requester.agency_id.clone();
    r.holding_agency = holder.agency_id.clone();
    r.purpose = purpose.id.clone();
    r.level_of_need = LevelOfNeed::ChildInNeed;
    r.urgency = Urgency::Routine;
    r.needed_by = None;
    r.lawful_basis = LawfulBasisClaim {
        article6: purpose.lawful_bases[0],
        special_condition: purpose
            .special_conditions
            .first()
            .copied()
            .unwrap_or(SpecialCondition::None),
        gateways: purpose.gateways.iter().take(1).copied().collect(),
    };
    if let Some(rule) = purpose.gateways.first().and_then(|g| p.gateway_rule(*g)) {
        if !rule.allows_level(r.level_of_need) {
            r.level_of_need = rule.levels_of_need[0];
        }
    }
    r.consent = explicit_parental_consent();
    r.categories = purpose
        .categories
        .iter()
        .take(3)
        .map(|c| category(c.as_str(), "Needed to understand the child's situation"))
        .collect();
    r
}

fn without_consent_on_statutory_duty(mut r: Request) -> Request {
    let mut consent = Consent::with_status(ConsentStatus::NotRequired);
    consent.not_required_reason = Some(NotRequiredReason::StatutoryDuty);
    r.consent = consent;
    r
}

fn run(p: &Protocol, r: &Request) -> Assessment {
    assess(p, r, &History::default(), WHEN)
}

#[test]
fn every_purpose_of_every_example_protocol_accepts_a_request_made_to_its_terms() {
    for (name, p) in examples() {
        for purpose in &p.purposes {
            let a = run(&p, &request_for(&p, purpose.id.as_str()));
            let blocking: Vec<_> = a.blocking().collect();
            assert!(
                blocking.is_empty(),
                "{name} / {}: {:#?}",
                purpose.id,
                blocking
            );
            assert_eq!(a.outcome, Outcome::ProceedToApproval);
            assert!(!a.proposed_scope.is_empty());
        }
    }
}

#[test]
fn case_reviews_follow_the_protocol_where_the_documents_disagree() {
    // Sandwell (002 1.17, App.2): a statutory function of the partnership; consent not needed.
    let sandwell = load("sandwell-partnership.toml");
    let mut r = without_consent_on_statutory_duty(request_for(&sandwell, "case-review"));
    r.level_of_need = LevelOfNeed::SignificantHarm;
    let a = run(&sandwell, &r);
    assert_eq!(a.outcome, Outcome::ProceedToApproval, "{:#?}", a.findings);

    // B&NES (004 FAQ): "must only be conducted with the individual's consent".
    let banes = load("banes-guidance.toml");
    let mut r = without_consent_on_statutory_duty(request_for(&banes, "case-review"));
    r.level_of_need = LevelOfNeed::SignificantHarm;
    let a = run(&banes, &r);
    assert_eq!(a.outcome, Outcome::Refuse);
    assert!(a
        .blocking()
        .any(|f| f.rule_id == r06_explicit_consent_required::ID));
}

#[test]
fn prevent_shares_without_consent() {
    // 003 a): "Partners do not need the individual's consent to share information."
    let prevent = load("prevent-channel.toml");
    let mut r = without_consent_on_statutory_duty(request_for(&prevent, "channel-panel"));
    r.lawful_basis.article6 = LawfulBasis::PublicTask;
    let a = run(&prevent, &r);
    assert_eq!(a.outcome, Outcome::ProceedToApproval, "{:#?}", a.findings);
}

#[test]
fn sandwell_early_help_needs_explicit_consent() {
    // 002 App.2 Early Help: "freely given, informed explicit consent is needed".
    let sandwell = load("sandwell-partnership.toml");
    let mut r = request_for(&sandwell, "early-help");
    r.level_of_need = LevelOfNeed::EarlyHelp;
    r.consent.explicit = false;
    assert_eq!(run(&sandwell, &r).outcome, Outcome::Refuse);
    r.consent.explicit = true;
    assert_eq!(run(&sandwell, &r).outcome, Outcome::ProceedToApproval);
}

/// The symptom, on the Sandwell file: a school claiming s47 at the child-in-need level with
/// consent refused. `002 App.2` Q1 asks for "a legal basis or statutory duty (e.g. s47 of the
/// Children Act 1989 …)" and whether it "limits … who the information can be shared with"; the
/// file allows s47 only at significant harm or immediate risk, so the claim is refused and is
/// no duty overriding the refusal.
#[test]
fn sandwell_refuses_a_school_claiming_s47_at_child_in_need() {
    let sandwell = load("sandwell-partnership.toml");
    let mut r = request_for(&sandwell, "s47-enquiry");
    r.requesting_agency = id("sandwell-schools");
    r.holding_agency = id("sandwell-childrens-trust");
    r.level_of_need = LevelOfNeed::ChildInNeed;
    r.lawful_basis.gateways = vec![accord_domain::StatutoryGateway::Ca1989S47];
    r.consent = Consent::with_status(ConsentStatus::Refused);
    let a = run(&sandwell, &r);
    assert_eq!(a.outcome, Outcome::Refuse, "{:#?}", a.findings);
    let ids: Vec<&str> = a.blocking().map(|f| f.rule_id.as_str()).collect();
    assert!(ids.contains(&r03_gateway_claim_not_allowed::ID), "{ids:?}");
    assert!(ids.contains(&r07_consent_refused::ID), "{ids:?}");
    // At significant harm the school assists the s47 enquiry (s47(9)-(11)).
    r.level_of_need = LevelOfNeed::SignificantHarm;
    let a = run(&sandwell, &r);
    assert_eq!(a.outcome, Outcome::ProceedToApproval, "{:#?}", a.findings);
}

/// The symptom, on the Sandwell file: a police request under s115 at the early-help level, where
/// the protocol requires explicit consent (`002 App.2` Early Help), with consent not sought
/// because it would prejudice the prevention of crime. `002 6.3`: "Consent should not be sought
/// if doing so would: … prejudice the prevention, detection or prosecution of a serious crime".
/// It goes to approval with the exception explained; without that reason R06 still refuses.
#[test]
fn sandwell_s115_at_early_help_honours_the_crime_exception() {
    let sandwell = load("sandwell-partnership.toml");
    let mut r = request_for(&sandwell, "crime-prevention-s115");
    r.requesting_agency = id("west-midlands-police");
    r.holding_agency = id("sandwell-schools");
    r.level_of_need = LevelOfNeed::EarlyHelp;
    let mut consent = Consent::with_status(ConsentStatus::NotSought);
    consent.not_sought_reasons = vec![accord_domain::NotSoughtReason::PrejudiceCrimePrevention];
    r.consent = consent;
    let a = run(&sandwell, &r);
    assert_eq!(a.outcome, Outcome::ProceedToApproval, "{:#?}", a.findings);
    let f = a
        .findings
        .iter()
        .find(|f| f.rule_id == r06_not_sought_crime_exception::ID)
        .unwrap();
    assert_eq!(f.source, "002 6.3, 002 App.2, 004 App.1");

    r.consent.not_sought_reasons = vec![accord_domain::NotSoughtReason::ImbalanceOfPower];
    let a = run(&sandwell, &r);
    assert_eq!(a.outcome, Outcome::Refuse);
    assert!(a
        .blocking()
        .any(|f| f.rule_id == r06_explicit_consent_required::ID));
}
