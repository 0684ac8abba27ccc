//! The protocol loader against real files: the three example protocols in `deploy/protocols`,
//! the broken fixture, and one test per kind of mistake. Focused tests start from a minimal
//! valid protocol and change one thing, so each asserts exactly the errors that change causes.

// In a test, a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use accord_domain::loader::parse_duration;
use accord_domain::{
    load_protocol_file, parse_protocol, AgencyId, AgencyKind, CategoryId, ConsentRequirement,
    LawfulBasis, LevelOfNeed, Protocol, PurposeId, RecordRetention, Role, SpecialCondition,
    StatutoryGateway, Urgency,
};
use time::macros::{date, datetime};
use time::Duration;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn protocols_dir() -> PathBuf {
    manifest_dir().join("../../deploy/protocols")
}

fn load_example(name: &str) -> Protocol {
    let path = protocols_dir().join(name);
    load_protocol_file(&path).unwrap_or_else(|e| panic!("{} does not load:\n{e}", path.display()))
}

/// (key, reason) of every error, in order; panics if the text loads.
fn errors(text: &str) -> Vec<(String, String)> {
    match parse_protocol(text, "test.toml") {
        Ok(_) => panic!("expected errors, but the protocol loaded"),
        Err(e) => e.0.into_iter().map(|e| (e.key, e.reason)).collect(),
    }
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(k, r)| ((*k).to_owned(), (*r).to_owned()))
        .collect()
}

/// `MINIMAL` with `from` replaced by `to`; panics unless `from` occurs exactly once, so a
/// test cannot silently stop testing anything.
fn minimal_with(from: &str, to: &str) -> String {
    assert_eq!(
        MINIMAL.matches(from).count(),
        1,
        "{from:?} must occur once in MINIMAL"
    );
    MINIMAL.replace(from, to)
}

const MINIMAL: &str = r#"
[protocol]
id = "example-isp"
title = "Example information sharing protocol"
version = "1.0"
approved_on = 2025-01-01
review_due = 2027-01-01
capacity_age = 12
repeat_window_days = 90

[[category]]
id = "identity-and-contact"
description = "Name, date of birth and address of the child"
special = false

[[signatory]]
agency_id = "example-council"
name = "Example Council"
kind = "local_authority"
relevant_authority = true
signed_on = 2025-01-01
reaffirm_every_months = 24
status = "active"
certificate_identity = "spiffe://example/agency/example-council"
token_issuer = "https://id.example-council.example/"

[[purpose]]
id = "s47-enquiry"
description = "Enquiry under s47 Children Act 1989"
lawful_bases = ["public_task"]
categories = ["identity-and-contact"]
retention_days = 30
approving_roles = ["ig_lead"]

[purpose.consent]
early_help = "explicit"
child_in_need = "sought"
significant_harm = "not_required"
immediate_risk = "not_required"

[purpose.deadlines]
routine = "10d"
urgent = "24h"
immediate = "30m"
"#;

fn agency(s: &str) -> AgencyId {
    AgencyId::parse(s).unwrap()
}

fn purpose_id(s: &str) -> PurposeId {
    PurposeId::parse(s).unwrap()
}

fn category(s: &str) -> CategoryId {
    CategoryId::parse(s).unwrap()
}

// ---------------------------------------------------------------------------------------------
// The example protocols

#[test]
fn minimal_protocol_loads() {
    let p = parse_protocol(MINIMAL, "test.toml").unwrap();
    assert_eq!(p.id.as_str(), "example-isp");
    let s = &p.signatories[0];
    // last_affirmed_on defaults to the signing date.
    assert_eq!(s.last_affirmed_on, s.signed_on);
    assert_eq!(s.token_keys, None);
    let purpose = &p.purposes[0];
    assert!(purpose.special_conditions.is_empty() && purpose.gateways.is_empty());
    assert!(purpose.approving_roles_without_consent.is_empty());
    assert_eq!(purpose.deadline(Urgency::Immediate), Duration::minutes(30));
}

#[test]
fn sandwell_example_has_its_partners_purposes_and_consent_rules() {
    let p = load_example("sandwell-partnership.toml");
    assert_eq!(p.id.as_str(), "sandwell-scsp-isp");
    assert_eq!(p.approved_on, date!(2022 - 05 - 01));
    assert_eq!((p.capacity_age, p.repeat_window_days), (12, 90));
    assert_eq!(
        (p.signatories.len(), p.purposes.len(), p.categories.len()),
        (9, 5, 13)
    );

    // 002 App.5 statutory partners and 002 1.18 relevant authorities.
    for id in [
        "sandwell-council",
        "sandwell-childrens-trust",
        "black-country-ccg",
        "west-midlands-police",
    ] {
        let s = p
            .signatory(&agency(id))
            .unwrap_or_else(|| panic!("{id} missing"));
        assert!(
            s.relevant_authority,
            "{id} is a relevant authority (002 1.18)"
        );
        assert_eq!(s.reaffirm_every_months, 24, "002 14.4: biennial");
    }
    for id in [
        "sandwell-schools",
        "sandwell-youth-offending",
        "sandwell-west-birmingham-nhs",
        "nspcc",
    ] {
        assert!(
            !p.signatory(&agency(id)).unwrap().relevant_authority,
            "{id} is not in 002 1.18"
        );
    }
    let nspcc = p.signatory(&agency("nspcc")).unwrap();
    assert_eq!(nspcc.kind, AgencyKind::Voluntary);
    assert_eq!(
        p.signatory(&agency("west-midlands-police"))
            .unwrap()
            .certificate_identity
            .as_deref(),
        Some("spiffe://sandwell-scsp/agency/west-midlands-police")
    );
    assert!(p
        .signatories
        .iter()
        .all(|s| s.is_current(date!(2026 - 11 - 21))));

    // 002 App.2 Early Help: explicit consent at every level the purpose can be used at.
    let early_help = p.purpose(&purpose_id("early-help")).unwrap();
    for level in LevelOfNeed::ALL {
        assert_eq!(
            early_help.consent_requirement(*level),
            ConsentRequirement::Explicit
        );
    }
    for purpose in &p.purposes {
        if purpose.id.as_str() != "case-review" {
            assert_eq!(
                purpose.consent_requirement(LevelOfNeed::EarlyHelp),
                ConsentRequirement::Explicit,
                "{}: 002 App.2 Early Help needs explicit consent",
                purpose.id
            );
        }
    }
    // 002 1.17, App.2: case reviews are a statutory function; no consent needed.
    let review = p.purpose(&purpose_id("case-review")).unwrap();
    for level in LevelOfNeed::ALL {
        assert_eq!(
            review.consent_requirement(*level),
            ConsentRequirement::NotRequired
        );
    }
    assert!(review.gateways.contains(&StatutoryGateway::Ca2004S16h));
    // 002 1.18: s115 purpose.
    let s115 = p.purpose(&purpose_id("crime-prevention-s115")).unwrap();
    assert_eq!(s115.gateways, vec![StatutoryGateway::Cda1998S115]);
    let s47 = p.purpose(&purpose_id("s47-enquiry")).unwrap();
    assert_eq!(
        s47.consent_requirement(LevelOfNeed::SignificantHarm),
        ConsentRequirement::NotRequired
    );
    assert_eq!(
        s47.special_conditions,
        vec![SpecialCondition::SafeguardingChildren]
    );
    assert!(s47.deadline(Urgency::Immediate) <= Duration::hours(1));
    assert!(p.is_special(&category("mental-health")));
    assert!(!p.is_special(&category("education")));
    // Every purpose is approved by the lead information officer (002 App.1).
    assert!(p
        .purposes
        .iter()
        .all(|u| u.approving_roles == vec![Role::IgLead]));
}

#[test]
fn prevent_channel_example_has_exactly_the_003_categories_and_needs_no_consent() {
    let p = load_example("prevent-channel.toml");
    assert_eq!(p.id.as_str(), "prevent-channel-isa");
    // 003 e), in its order.
    let ids: Vec<&str> = p.categories.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "demographics",
            "offending-history",
            "living-arrangements",
            "family-and-personal-relationships",
            "statutory-education",
            "neighbourhood",
            "lifestyle",
            "substance-misuse",
            "emotional-and-mental-health",
            "perceptions-of-self",
            "thinking-and-behaviour",
            "attitudes-to-engagement",
            "motivation-to-change",
            "cultural-factors",
        ]
    );
    let special: Vec<&str> = p
        .categories
        .iter()
        .filter(|c| c.special)
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(
        special,
        [
            "demographics",
            "offending-history",
            "substance-misuse",
            "emotional-and-mental-health",
            "thinking-and-behaviour",
            "cultural-factors",
        ]
    );
    assert_eq!((p.signatories.len(), p.purposes.len()), (6, 2));
    for purpose in &p.purposes {
        // 003 d): Article 6(1)(e) public task only; 003 a): no consent needed.
        assert_eq!(purpose.lawful_bases, vec![LawfulBasis::PublicTask]);
        for level in LevelOfNeed::ALL {
            assert_eq!(
                purpose.consent_requirement(*level),
                ConsentRequirement::NotRequired
            );
        }
    }
    let panel = p.purpose(&purpose_id("channel-panel")).unwrap();
    assert_eq!(panel.gateways, vec![StatutoryGateway::Ctsa2015S36]);
    assert_eq!(panel.categories.len(), 14);
    // 003 b): screening gets less than the panel.
    let screening = p
        .purpose(&purpose_id("prevent-referral-screening"))
        .unwrap();
    assert!(screening.categories.len() < panel.categories.len());
    assert!(screening
        .categories
        .iter()
        .all(|c| panel.allows_category(c)));
    assert!(!p.signatory(&agency("ucq")).unwrap().relevant_authority);
}

#[test]
fn banes_example_needs_consent_for_case_reviews_and_a_caldicott_guardian_for_health() {
    let p = load_example("banes-guidance.toml");
    assert_eq!(p.id.as_str(), "banes-lscb-guidance");
    assert_eq!(p.capacity_age, 12, "004 App.1");
    assert_eq!(p.repeat_window_days, 90);
    assert_eq!(
        (p.signatories.len(), p.purposes.len(), p.categories.len()),
        (7, 4, 12)
    );
    // 004 front page: review due March 2021, kept as the document says.
    assert_eq!(p.review_due, date!(2021 - 03 - 31));
    assert!(p.past_review(datetime!(2026-11-21 12:00 UTC)));

    // 004 FAQ: case review only with the individual's consent.
    let review = p.purpose(&purpose_id("case-review")).unwrap();
    for level in LevelOfNeed::ALL {
        assert_eq!(
            review.consent_requirement(*level),
            ConsentRequirement::Explicit
        );
    }
    assert_eq!(review.lawful_bases, vec![LawfulBasis::Consent]);
    // 004 FAQ: without consent, a supervisor approves; in health, the Caldicott Guardian.
    let health = p.purpose(&purpose_id("health-information")).unwrap();
    assert_eq!(
        health.approving_roles_without_consent,
        vec![Role::CaldicottGuardian]
    );
    assert_eq!(
        health.consent_requirement(LevelOfNeed::ChildInNeed),
        ConsentRequirement::Sought
    );
    let protection = p.purpose(&purpose_id("child-protection")).unwrap();
    assert_eq!(
        protection.consent_requirement(LevelOfNeed::EarlyHelp),
        ConsentRequirement::Sought
    );
    assert_eq!(
        protection.consent_requirement(LevelOfNeed::SignificantHarm),
        ConsentRequirement::NotRequired
    );
    assert!(
        p.signatory(&agency("avon-and-somerset-police"))
            .unwrap()
            .relevant_authority
    );
    assert!(
        !p.signatory(&agency("royal-united-hospitals-bath"))
            .unwrap()
            .relevant_authority
    );
}

#[test]
fn examples_disagree_where_their_sources_do() {
    let sandwell = load_example("sandwell-partnership.toml");
    let banes = load_example("banes-guidance.toml");
    let prevent = load_example("prevent-channel.toml");
    let review = purpose_id("case-review");
    let level = LevelOfNeed::ChildInNeed;
    // Case reviews: 002 1.17 statutory function vs 004 FAQ consent.
    assert_eq!(
        sandwell
            .purpose(&review)
            .unwrap()
            .consent_requirement(level),
        ConsentRequirement::NotRequired
    );
    assert_eq!(
        banes.purpose(&review).unwrap().consent_requirement(level),
        ConsentRequirement::Explicit
    );
    // Early help level: 002 App.2 explicit vs 004 FAQ sought vs 003 a) not required.
    let early = LevelOfNeed::EarlyHelp;
    let first = |p: &Protocol, id: &str| {
        p.purpose(&purpose_id(id))
            .unwrap()
            .consent_requirement(early)
    };
    assert_eq!(first(&sandwell, "early-help"), ConsentRequirement::Explicit);
    assert_eq!(first(&banes, "family-support"), ConsentRequirement::Sought);
    assert_eq!(
        first(&prevent, "channel-panel"),
        ConsentRequirement::NotRequired
    );
    // Past review: Sandwell is re-dated for the demo (see its comment); B&NES is not.
    let now = datetime!(2026-11-21 12:00 UTC);
    assert!(!sandwell.past_review(now) && banes.past_review(now) && !prevent.past_review(now));
}

#[test]
fn every_protocol_in_deploy_loads() {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(protocols_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            if let Err(e) = load_protocol_file(&path) {
                panic!("{e}");
            }
            names.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    names.sort();
    assert_eq!(
        names,
        [
            "banes-guidance.toml",
            "prevent-channel.toml",
            "sandwell-partnership.toml"
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// The broken fixture and the documentation

const BROKEN_EXPECTED: &[(&str, &str)] = &[
    (
        "protocol.approved_on",
        r#""2022-02-30" is not a valid date (YYYY-MM-DD)"#,
    ),
    ("protocol.repeat_window_days", "missing key"),
    (
        "signatory[1].kind",
        r#"unknown value "constabulary"; expected one of: local_authority, police, health, education, youth_offending, probation, voluntary, other"#,
    ),
    (
        "signatory[1].agency_id",
        r#"duplicate signatory id "west-midlands-police" (first used by signatory[0])"#,
    ),
    (
        "purpose[0].categories[1]",
        r#"unknown category "offending-history": not defined by any [[category]]"#,
    ),
    (
        "purpose[0].deadlines.routine",
        r#""10 days" is not a duration: use a number and m, h or d, e.g. "30m", "24h", "10d""#,
    ),
    (
        "purpose[0].deadlines.immediate",
        r#""2d" is too long: must be at most 4h, immediate risk is answered in minutes, not days (001 Being alert)"#,
    ),
    (
        "purpose[0].aproving_roles_without_consent",
        r#"unknown key (did you mean "approving_roles_without_consent"?)"#,
    ),
];

fn broken_path() -> PathBuf {
    manifest_dir().join("tests/fixtures/broken.toml")
}

#[test]
fn broken_fixture_reports_every_problem_in_order() {
    let errs = load_protocol_file(&broken_path()).unwrap_err();
    let got: Vec<(String, String)> = errs
        .0
        .iter()
        .map(|e| (e.key.clone(), e.reason.clone()))
        .collect();
    assert_eq!(got, pairs(BROKEN_EXPECTED));
}

#[test]
fn every_message_names_the_file() {
    let path = broken_path();
    let errs = load_protocol_file(&path).unwrap_err();
    let report = errs.to_string();
    assert!(
        report.starts_with("8 problem(s) in the protocol:\n"),
        "{report}"
    );
    for e in &errs.0 {
        assert_eq!(e.file, path.display().to_string());
        let line = e.to_string();
        assert!(line.contains("broken.toml"), "{line}");
        assert_eq!(line, format!("{}: {}: {}", e.file, e.key, e.reason));
        assert!(report.contains(&format!("  {line}\n")));
    }
}

#[test]
fn loading_twice_gives_the_same_errors() {
    let a = load_protocol_file(&broken_path()).unwrap_err();
    let b = load_protocol_file(&broken_path()).unwrap_err();
    assert_eq!(a, b);
}

/// The fenced block after `marker` in docs/protocol-format.md.
fn doc_block(marker: &str) -> String {
    let doc =
        std::fs::read_to_string(manifest_dir().join("../../docs/protocol-format.md")).unwrap();
    let after = &doc[doc
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in the doc"))..];
    let start = after.find("```").unwrap();
    let body = &after[start..];
    let body = &body[body.find('\n').unwrap() + 1..];
    body[..body.find("```").unwrap()].to_owned()
}

#[test]
fn docs_minimal_example_loads() {
    let text = doc_block("<!-- minimal-example -->");
    if let Err(e) = parse_protocol(&text, "docs minimal example") {
        panic!("{e}");
    }
}

#[test]
fn docs_sample_output_is_what_the_loader_prints() {
    let text = std::fs::read_to_string(broken_path()).unwrap();
    let errs =
        parse_protocol(&text, "crates/accord-domain/tests/fixtures/broken.toml").unwrap_err();
    assert_eq!(doc_block("<!-- broken-output -->"), errs.to_string());
}

// ---------------------------------------------------------------------------------------------
// One kind of mistake at a time

#[test]
fn invalid_toml_reports_line_and_column() {
    let errs = errors("[protocol]\nid = \"x\"\ntitle = \"unterminated\n");
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].0, "");
    assert!(
        errs[0].1.starts_with("not valid TOML at line 3, column "),
        "{}",
        errs[0].1
    );

    // An error at the very start of a line is on that line, not the one before.
    let errs = errors("[protocol]\n= 2\n");
    assert!(
        errs[0]
            .1
            .starts_with("not valid TOML at line 2, column 1: "),
        "{}",
        errs[0].1
    );

    // A TOML date literal that is not a date is a syntax error, not a per-key one.
    let errs = errors(&minimal_with(
        "approved_on = 2025-01-01",
        "approved_on = 2025-13-01",
    ));
    assert!(
        errs[0].1.starts_with("not valid TOML at line 6, column "),
        "{}",
        errs[0].1
    );
}

#[test]
fn invalid_toml_is_reported_on_one_line_with_the_file_name() {
    let err = parse_protocol("[protocol", "deploy/protocols/x.toml").unwrap_err();
    assert_eq!(err.0.len(), 1);
    let line = err.0[0].to_string();
    assert!(
        line.starts_with("deploy/protocols/x.toml: not valid TOML at line 1, column 10: "),
        "{line}"
    );
    // toml's own message has two lines here; the report keeps one problem per line.
    assert!(!line.contains('\n'), "{line}");
}

#[test]
fn empty_file_reports_each_missing_section() {
    let expected = [
        ("protocol", "missing key"),
        ("category", "missing key"),
        ("signatory", "missing key"),
        ("purpose", "missing key"),
    ];
    assert_eq!(errors(""), pairs(&expected));
    assert_eq!(errors("# only a comment\n"), pairs(&expected));
}

#[test]
fn sections_without_entries_are_reported() {
    let block = "[[category]]\nid = \"identity-and-contact\"\ndescription = \"Name, date of birth and address of the child\"\nspecial = false\n";
    let text = format!("category = []\n{}", minimal_with(block, ""));
    assert_eq!(
        errors(&text),
        pairs(&[
            ("category", "at least one [[category]] is required"),
            (
                "purpose[0].categories[0]",
                r#"unknown category "identity-and-contact": not defined by any [[category]]"#
            ),
        ])
    );
}

#[test]
fn empty_protocol_table_reports_every_key() {
    let start = MINIMAL.find("[[category]]").unwrap();
    let text = format!("[protocol]\n{}", &MINIMAL[start..]);
    let keys: Vec<String> = errors(&text).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [
            "protocol.id",
            "protocol.title",
            "protocol.version",
            "protocol.approved_on",
            "protocol.review_due",
            "protocol.capacity_age",
            "protocol.repeat_window_days",
        ]
    );
}

#[test]
fn review_due_must_be_after_approved_on() {
    let before = minimal_with("review_due = 2027-01-01", "review_due = 2024-12-31");
    assert_eq!(
        errors(&before),
        pairs(&[(
            "protocol.review_due",
            "must be after protocol.approved_on (2025-01-01)"
        )])
    );
    let same = minimal_with("review_due = 2027-01-01", "review_due = 2025-01-01");
    assert_eq!(errors(&same).len(), 1);
}

#[test]
fn a_past_review_date_is_not_an_error() {
    let text = minimal_with("review_due = 2027-01-01", "review_due = 2025-01-02");
    let p = parse_protocol(&text, "test.toml").unwrap();
    assert!(p.past_review(datetime!(2026-11-21 12:00 UTC)));
}

#[test]
fn bad_dates_are_reported_per_key() {
    let text = minimal_with("signed_on = 2025-01-01", "signed_on = \"01/06/2022\"");
    assert_eq!(
        errors(&text),
        pairs(&[(
            "signatory[0].signed_on",
            r#""01/06/2022" is not a valid date (YYYY-MM-DD)"#
        )])
    );
    let text = minimal_with("signed_on = 2025-01-01", "signed_on = 2025-01-01T09:00:00");
    assert_eq!(
        errors(&text),
        pairs(&[(
            "signatory[0].signed_on",
            "expected a date (YYYY-MM-DD), found datetime"
        )])
    );
    // A quoted date is accepted as well as a TOML date.
    let text = minimal_with("signed_on = 2025-01-01", "signed_on = \"2025-01-01\"");
    assert!(parse_protocol(&text, "test.toml").is_ok());
}

#[test]
fn last_affirmed_on_cannot_precede_signed_on() {
    let text = minimal_with(
        "status = \"active\"",
        "status = \"active\"\nlast_affirmed_on = 2024-12-31",
    );
    assert_eq!(
        errors(&text),
        pairs(&[(
            "signatory[0].last_affirmed_on",
            "must not be before signed_on"
        )])
    );
}

#[test]
fn missing_keys_are_reported_in_nested_tables() {
    let text = minimal_with("urgent = \"24h\"\n", "");
    assert_eq!(
        errors(&text),
        pairs(&[("purpose[0].deadlines.urgent", "missing key")])
    );
    let text = minimal_with("child_in_need = \"sought\"\n", "");
    assert_eq!(
        errors(&text),
        pairs(&[("purpose[0].consent.child_in_need", "missing key")])
    );
}

#[test]
fn wrong_types_are_reported() {
    let text = minimal_with("capacity_age = 12", "capacity_age = \"12\"");
    assert_eq!(
        errors(&text),
        pairs(&[("protocol.capacity_age", "expected an integer, found string")])
    );
    let text = minimal_with("special = false", "special = \"no\"");
    assert_eq!(
        errors(&text),
        pairs(&[(
            "category[0].special",
            "expected true or false, found string"
        )])
    );
    let text = minimal_with(
        "categories = [\"identity-and-contact\"]",
        "categories = \"identity-and-contact\"",
    );
    assert_eq!(
        errors(&text),
        pairs(&[("purpose[0].categories", "expected an array, found string")])
    );
    let text = minimal_with("capacity_age = 12", "capacity_age = 19");
    assert_eq!(
        errors(&text),
        pairs(&[("protocol.capacity_age", "must be between 0 and 18 (got 19)")])
    );
}

#[test]
fn bad_ids_are_reported() {
    let text = minimal_with(
        "agency_id = \"example-council\"",
        "agency_id = \"Example Council\"",
    );
    assert_eq!(
        errors(&text),
        pairs(&[(
            "signatory[0].agency_id",
            r#""Example Council" is not a valid id: must start with a lowercase letter or digit"#
        )])
    );
}

#[test]
fn bad_enum_values_list_the_allowed_spellings() {
    let text = minimal_with("status = \"active\"", "status = \"Active\"");
    assert_eq!(
        errors(&text),
        pairs(&[(
            "signatory[0].status",
            r#"unknown value "Active"; expected one of: active, suspended, withdrawn"#
        )])
    );
    let text = minimal_with("early_help = \"explicit\"", "early_help = \"implied\"");
    assert_eq!(
        errors(&text),
        pairs(&[(
            "purpose[0].consent.early_help",
            r#"unknown value "implied"; expected one of: explicit, sought, not_required"#
        )])
    );
    let text = minimal_with(
        "lawful_bases = [\"public_task\"]",
        "lawful_bases = [\"public_task\", \"6(1)(e)\"]",
    );
    assert_eq!(
        errors(&text),
        pairs(&[(
            "purpose[0].lawful_bases[1]",
            r#"unknown value "6(1)(e)"; expected one of: consent, legal_obligation, vital_interests, public_task, legitimate_interests"#
        )])
    );
}

#[test]
fn vocabulary_words_cannot_repeat() {
    let text = minimal_with(
        "lawful_bases = [\"public_task\"]",
        "lawful_bases = [\"public_task\", \"public_task\"]",
    );
    assert_eq!(
        errors(&text),
        pairs(&[(
            "purpose[0].lawful_bases[1]",
            r#""public_task" is listed twice"#
        )])
    );
    let text = minimal_with(
        "lawful_bases = [\"public_task\"]",
        "lawful_bases = [\"public_task\"]\nspecial_conditions = [\"none\"]",
    );
    assert_eq!(
        errors(&text),
        pairs(&[(
            "purpose[0].special_conditions",
            r#""none" is not a condition; leave it out"#
        )])
    );
}

#[test]
fn unknown_categories_are_reported_where_they_are_used() {
    let text = minimal_with(
        "categories = [\"identity-and-contact\"]",
        "categories = [\"identity\", \"identity-and-contact\", \"identity-and-contact\"]",
    );
    assert_eq!(
        errors(&text),
        pairs(&[
            (
                "purpose[0].categories[0]",
                r#"unknown category "identity": not defined by any [[category]]"#
            ),
            (
                "purpose[0].categories[2]",
                r#""identity-and-contact" is listed twice"#
            ),
        ])
    );
    let text = minimal_with("categories = [\"identity-and-contact\"]", "categories = []");
    assert_eq!(
        errors(&text),
        pairs(&[("purpose[0].categories", "at least one category is required")])
    );
}

#[test]
fn a_purpose_may_refer_to_a_category_whose_other_keys_are_broken() {
    // One mistake in the category is reported once, not again at every purpose using it.
    let text = minimal_with("special = false", "special = \"no\"");
    assert_eq!(errors(&text).len(), 1);
}

#[test]
fn duplicate_ids_name_both_entries_even_when_an_earlier_entry_is_broken() {
    // category[0] is broken (no description), so it does not load; the duplicate is still
    // category[2] of category[1], the entries as written in the file.
    let extra = "[[category]]\nid = \"broken\"\nspecial = false\n\n[[category]]\nid = \"health\"\ndescription = \"Health\"\nspecial = true\n\n[[category]]\nid = \"health\"\ndescription = \"Health again\"\nspecial = true\n\n[[category]]";
    let text = minimal_with("[[category]]", extra);
    assert_eq!(
        errors(&text),
        pairs(&[
            ("category[0].description", "missing key"),
            (
                "category[2].id",
                r#"duplicate category id "health" (first used by category[1])"#
            ),
        ])
    );
}

#[test]
fn duplicate_purpose_ids_are_reported() {
    let start = MINIMAL.find("[[purpose]]").unwrap();
    let text = format!("{MINIMAL}\n{}", &MINIMAL[start..]);
    assert_eq!(
        errors(&text),
        pairs(&[(
            "purpose[1].id",
            r#"duplicate purpose id "s47-enquiry" (first used by purpose[0])"#
        )])
    );
}

fn second_signatory(identity: &str) -> String {
    format!(
        "[[signatory]]\nagency_id = \"example-police\"\nname = \"Example Police\"\nkind = \"police\"\nrelevant_authority = true\nsigned_on = 2025-01-01\nreaffirm_every_months = 24\nstatus = \"active\"\n{identity}\ntoken_issuer = \"https://id.example-police.example/\"\n\n[[purpose]]"
    )
}

#[test]
fn two_signatories_cannot_share_a_certificate_identity() {
    let text = minimal_with(
        "[[purpose]]",
        &second_signatory("certificate_identity = \"spiffe://example/agency/example-council\""),
    );
    assert_eq!(
        errors(&text),
        pairs(&[(
            "signatory[1].certificate_identity",
            r#"certificate identity "spiffe://example/agency/example-council" is also claimed by signatory[0]"#
        )])
    );
}

#[test]
fn fingerprints_are_normalised_and_cannot_be_shared() {
    let upper = "AB:".repeat(31) + "AB";
    let lower = "ab".repeat(32);
    let text = minimal_with(
        "certificate_identity = \"spiffe://example/agency/example-council\"",
        &format!("certificate_fingerprints = [\"{upper}\"]"),
    );
    let p = parse_protocol(&text, "test.toml").unwrap();
    assert_eq!(p.signatories[0].certificate_identity, None);
    assert_eq!(
        p.signatories[0].certificate_fingerprints,
        vec![lower.clone()]
    );

    let text = minimal_with(
        "[[purpose]]",
        &second_signatory(&format!(
            "certificate_fingerprints = [\"{lower}\", \"not-hex\"]"
        )),
    );
    let text = text.replace(
        "certificate_identity = \"spiffe://example/agency/example-council\"",
        &format!("certificate_fingerprints = [\"{upper}\"]"),
    );
    assert_eq!(
        errors(&text),
        pairs(&[
            (
                "signatory[1].certificate_fingerprints[1]",
                "expected a SHA-256 fingerprint: 64 hex digits, colons allowed"
            ),
            (
                "signatory[1].certificate_fingerprints[0]",
                &format!("certificate fingerprint {lower:?} is also claimed by signatory[0]"),
            ),
        ])
    );
}

#[test]
fn a_signatory_needs_a_certificate_identity_or_fingerprint() {
    let text = minimal_with(
        "certificate_identity = \"spiffe://example/agency/example-council\"\n",
        "",
    );
    assert_eq!(
        errors(&text),
        pairs(&[(
            "signatory[0].certificate_identity",
            "missing key: a signatory needs certificate_identity or certificate_fingerprints"
        )])
    );
}

#[test]
fn certificate_identity_must_be_a_uri() {
    let text = minimal_with(
        "\"spiffe://example/agency/example-council\"",
        "\"example council\"",
    );
    assert_eq!(
        errors(&text),
        pairs(&[(
            "signatory[0].certificate_identity",
            r#""example council" is not a URI: use the SAN URI of the agency's client certificates, e.g. "spiffe://partnership/agency/example-council""#
        )])
    );
}

#[test]
fn empty_strings_are_rejected_even_for_optional_keys() {
    let text = minimal_with(
        "status = \"active\"",
        "status = \"active\"\ntoken_keys = \"\"",
    );
    assert_eq!(
        errors(&text),
        pairs(&[("signatory[0].token_keys", "must not be empty")])
    );
    let text = minimal_with(
        "title = \"Example information sharing protocol\"",
        "title = \"  \"",
    );
    assert_eq!(
        errors(&text),
        pairs(&[("protocol.title", "must not be empty")])
    );
}

#[test]
fn unknown_keys_are_sorted_and_suggest_the_intended_key() {
    let text = minimal_with(
        "special = false",
        "special = false\nspecail = true\nzz_note = \"x\"\ndescripton = \"y\"",
    );
    assert_eq!(
        errors(&text),
        pairs(&[
            (
                "category[0].descripton",
                r#"unknown key (did you mean "description"?)"#
            ),
            (
                "category[0].specail",
                r#"unknown key (did you mean "special"?)"#
            ),
            ("category[0].zz_note", "unknown key"),
        ])
    );
    // Top-level keys are checked too, after every section.
    let text = format!("{MINIMAL}\n[[signatories]]\nagency_id = \"x\"\n");
    assert_eq!(
        errors(&text),
        pairs(&[("signatories", r#"unknown key (did you mean "signatory"?)"#)])
    );
    let text = minimal_with(
        "immediate = \"30m\"",
        "immediate = \"30m\"\nnormal = \"5d\"",
    );
    assert_eq!(
        errors(&text),
        pairs(&[("purpose[0].deadlines.normal", "unknown key")])
    );
}

#[test]
fn only_ig_leads_and_caldicott_guardians_approve() {
    let text = minimal_with(
        "approving_roles = [\"ig_lead\"]",
        "approving_roles = [\"practitioner\"]\napproving_roles_without_consent = [\"auditor\"]",
    );
    assert_eq!(
        errors(&text),
        pairs(&[
            (
                "purpose[0].approving_roles",
                "practitioner cannot approve: use ig_lead or caldicott_guardian"
            ),
            (
                "purpose[0].approving_roles_without_consent",
                "auditor cannot approve: use ig_lead or caldicott_guardian"
            ),
        ])
    );
}

#[test]
fn bad_durations_are_reported() {
    let text = minimal_with("routine = \"10d\"", "routine = \"1.5d\"");
    assert_eq!(
        errors(&text),
        pairs(&[(
            "purpose[0].deadlines.routine",
            r#""1.5d" is not a duration: use a number and m, h or d, e.g. "30m", "24h", "10d""#
        )])
    );
}

#[test]
fn immediate_deadlines_are_minutes_or_hours_not_days() {
    let text = minimal_with("immediate = \"30m\"", "immediate = \"2d\"");
    assert_eq!(
        errors(&text),
        pairs(&[
            (
                "purpose[0].deadlines.immediate",
                r#""2d" is too long: must be at most 4h, immediate risk is answered in minutes, not days (001 Being alert)"#
            ),
            (
                "purpose[0].deadlines",
                "deadlines must satisfy immediate <= urgent <= routine"
            ),
        ])
    );
    let text = minimal_with("immediate = \"30m\"", "immediate = \"4h\"");
    assert!(parse_protocol(&text, "test.toml").is_ok());
}

#[test]
fn deadlines_must_be_ordered_by_urgency() {
    let text = minimal_with("urgent = \"24h\"", "urgent = \"11d\"");
    assert_eq!(
        errors(&text),
        pairs(&[(
            "purpose[0].deadlines",
            "deadlines must satisfy immediate <= urgent <= routine"
        )])
    );
}

#[test]
fn parse_duration_accepts_whole_minutes_hours_and_days_only() {
    assert_eq!(parse_duration("30m"), Some(Duration::minutes(30)));
    assert_eq!(parse_duration(" 24h "), Some(Duration::hours(24)));
    assert_eq!(parse_duration("10d"), Some(Duration::days(10)));
    assert_eq!(parse_duration("36500d"), Some(Duration::days(36_500)));
    for bad in [
        "",
        "d",
        "10",
        "0m",
        "-5d",
        "+5d",
        "1.5h",
        "10 d",
        "10days",
        "5s",
        "5µ",
        "µ5d",
        "36501d",
        "99999999999999999999d",
        "9223372036854775807d",
    ] {
        assert_eq!(parse_duration(bad), None, "{bad:?}");
    }
}

#[test]
fn unreadable_file_is_reported_with_its_path() {
    let path = Path::new("/nonexistent/accord/protocol.toml");
    let err = load_protocol_file(path).unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert_eq!(err.0[0].file, "/nonexistent/accord/protocol.toml");
    assert_eq!(err.0[0].key, "");
    assert!(
        err.0[0].reason.starts_with("cannot read: "),
        "{}",
        err.0[0].reason
    );
    assert!(err.0[0]
        .to_string()
        .starts_with("/nonexistent/accord/protocol.toml: cannot read: "));
}

#[test]
fn a_protocol_file_written_to_disk_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(&path, MINIMAL).unwrap();
    assert_eq!(
        load_protocol_file(&path).unwrap(),
        parse_protocol(MINIMAL, "other name").unwrap()
    );
}

// ---------------------------------------------------------------------------------------------
// The decision record's retention

#[test]
fn record_retention_defaults_to_six_years() {
    let p = parse_protocol(MINIMAL, "test.toml").unwrap();
    assert_eq!(p.record_retention, RecordRetention::Years(6));
    assert_eq!(p.record_retention, RecordRetention::DEFAULT);
    // The examples write it out.
    for name in [
        "sandwell-partnership.toml",
        "prevent-channel.toml",
        "banes-guidance.toml",
    ] {
        let text = std::fs::read_to_string(protocols_dir().join(name)).unwrap();
        assert!(text.contains("\nrecord_retention = \"6y\"\n"), "{name}");
        assert_eq!(
            load_example(name).record_retention,
            RecordRetention::Years(6)
        );
    }
}

#[test]
fn record_retention_is_years_or_days() {
    for (written, expected) in [
        ("\"7y\"", RecordRetention::Years(7)),
        ("\"2555d\"", RecordRetention::Days(2555)),
        ("\"100y\"", RecordRetention::Years(100)),
    ] {
        let text = minimal_with(
            "repeat_window_days = 90",
            &format!("repeat_window_days = 90\nrecord_retention = {written}"),
        );
        let p = parse_protocol(&text, "test.toml").unwrap();
        assert_eq!(p.record_retention, expected, "{written}");
    }
}

#[test]
fn bad_record_retentions_are_reported_at_their_key() {
    let reason = |v: &str| {
        format!(
            "{v:?} is not a retention period: use a whole number of years or days, e.g. \"6y\", \"2190d\" (at most 100 years or 36500 days)"
        )
    };
    for bad in ["6 years", "0y", "101y", "36501d", "72h", "6"] {
        let text = minimal_with(
            "repeat_window_days = 90",
            &format!("repeat_window_days = 90\nrecord_retention = \"{bad}\""),
        );
        assert_eq!(
            errors(&text),
            vec![("protocol.record_retention".to_owned(), reason(bad))],
            "{bad}"
        );
    }
    let text = minimal_with(
        "repeat_window_days = 90",
        "repeat_window_days = 90\nrecord_retention = 6",
    );
    assert_eq!(
        errors(&text),
        pairs(&[(
            "protocol.record_retention",
            "expected a string, found integer"
        )])
    );
    // Checked in the documented order: after repeat_window_days, before the date check.
    let text = minimal_with(
        "repeat_window_days = 90\n",
        "repeat_window_days = -1\nrecord_retention = \"x\"\n",
    )
    .replace("review_due = 2027-01-01", "review_due = 2024-01-01");
    let keys: Vec<String> = errors(&text).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [
            "protocol.repeat_window_days",
            "protocol.record_retention",
            "protocol.review_due"
        ]
    );
}

#[test]
fn content_may_not_outlive_its_decision_record() {
    let text = minimal_with(
        "repeat_window_days = 90",
        "repeat_window_days = 90\nrecord_retention = \"20d\"",
    );
    assert_eq!(
        errors(&text),
        pairs(&[(
            "purpose[0].retention_days",
            "30 days is longer than protocol.record_retention (20d): the decision record must outlive the content it explains"
        )])
    );
    // As long as the record is allowed; a year counts as 365 days.
    let text = minimal_with(
        "repeat_window_days = 90",
        "repeat_window_days = 90\nrecord_retention = \"30d\"",
    );
    assert!(parse_protocol(&text, "test.toml").is_ok());
    let text = minimal_with("retention_days = 30", "retention_days = 366").replace(
        "repeat_window_days = 90",
        "repeat_window_days = 90\nrecord_retention = \"1y\"",
    );
    assert_eq!(
        errors(&text),
        pairs(&[(
            "purpose[0].retention_days",
            "366 days is longer than protocol.record_retention (1y): the decision record must outlive the content it explains"
        )])
    );
    // The default six years hold every purpose of the examples.
    let text = minimal_with("retention_days = 30", "retention_days = 2191");
    assert_eq!(errors(&text).len(), 1);
    // A broken [protocol] table does not hide the check.
    let text = minimal_with("repeat_window_days = 90", "record_retention = \"20d\"");
    let keys: Vec<String> = errors(&text).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        ["protocol.repeat_window_days", "purpose[0].retention_days"]
    );
}

// [[gateway]]: who may claim which statutory gateway, at which levels of need

const GATEWAY_S47: &str = r#"
[[gateway]]
gateway = "ca1989_s47"
source = "Children Act 1989 s47; 002 App.2 Q1"
agency_kinds = ["local_authority", "police"]
agencies = ["example-council"]
levels_of_need = ["significant_harm", "immediate_risk"]
"#;

#[test]
fn gateway_entries_load_and_replace_the_documents_default() {
    let p = parse_protocol(&format!("{MINIMAL}{GATEWAY_S47}"), "test.toml").unwrap();
    assert_eq!(p.gateway_rules.len(), 1);
    let rule = p.gateway_rule(StatutoryGateway::Ca1989S47).unwrap();
    assert_eq!(rule.source, "Children Act 1989 s47; 002 App.2 Q1");
    assert_eq!(
        rule.agency_kinds,
        [AgencyKind::LocalAuthority, AgencyKind::Police]
    );
    assert_eq!(rule.agencies, [agency("example-council")]);
    assert!(!rule.relevant_authorities);
    assert!(rule.allows_level(LevelOfNeed::SignificantHarm));
    assert!(!rule.allows_level(LevelOfNeed::ChildInNeed));
    assert!(rule.may_claim(&p.signatories[0]));
    // Gateways the file leaves out follow the documents: s115 to relevant authorities, s16H to
    // the safeguarding partners; s17 has no rule.
    let s115 = p.gateway_rule(StatutoryGateway::Cda1998S115).unwrap();
    assert!(s115.relevant_authorities && s115.levels_of_need == LevelOfNeed::ALL);
    let s16h = p.gateway_rule(StatutoryGateway::Ca2004S16h).unwrap();
    assert_eq!(
        s16h.agency_kinds,
        [
            AgencyKind::LocalAuthority,
            AgencyKind::Health,
            AgencyKind::Police
        ]
    );
    assert_eq!(p.gateway_rule(StatutoryGateway::Ca1989S17), None);
}

/// `002 App.2` Q1: s47 is "a legal basis or statutory duty", and s47 enquiries are for
/// "reasonable cause to suspect" significant harm: by default it may be claimed by children's
/// social care and those s47(9)-(11) bind to assist it, at significant harm or immediate risk.
#[test]
fn without_a_gateway_table_s47_follows_the_documents() {
    let p = parse_protocol(MINIMAL, "test.toml").unwrap();
    assert!(p.gateway_rules.is_empty());
    let rule = p.gateway_rule(StatutoryGateway::Ca1989S47).unwrap();
    assert_eq!(
        rule.levels_of_need,
        [LevelOfNeed::SignificantHarm, LevelOfNeed::ImmediateRisk]
    );
    assert_eq!(
        rule.agency_kinds,
        [
            AgencyKind::LocalAuthority,
            AgencyKind::Police,
            AgencyKind::Health,
            AgencyKind::Education
        ]
    );
    assert!(rule.source.contains("002 App.2 Q1"));
}

#[test]
fn gateway_entries_report_every_mistake() {
    let text = format!(
        r#"{MINIMAL}
[[gateway]]
gateway = "s47"
source = "x"
agency_kinds = ["constabulary"]
agencies = ["example-council", "nowhere-council", "example-council"]
levels_of_need = []
reason = "typo"

[[gateway]]
gateway = "ca2004_s16h"
source = ""
levels_of_need = ["early_help", "early_help"]

[[gateway]]
gateway = "ca2004_s16h"
source = "Children Act 2004 s16H"
relevant_authorities = "yes"
levels_of_need = ["significant_harm"]
"#
    );
    let gateways = StatutoryGateway::ALL
        .iter()
        .map(|g| g.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let gateway_reason = format!("unknown value \"s47\"; expected one of: {gateways}");
    assert_eq!(
        errors(&text),
        pairs(&[
            ("gateway[0].gateway", gateway_reason.as_str()),
            (
                "gateway[0].agency_kinds[0]",
                r#"unknown value "constabulary"; expected one of: local_authority, police, health, education, youth_offending, probation, voluntary, other"#
            ),
            (
                "gateway[0].agencies[1]",
                r#"unknown agency "nowhere-council": not the agency_id of any [[signatory]]"#
            ),
            (
                "gateway[0].agencies[2]",
                r#""example-council" is listed twice"#
            ),
            (
                "gateway[0].levels_of_need",
                "at least one level of need is required"
            ),
            ("gateway[0].reason", "unknown key"),
            ("gateway[1].source", "must not be empty"),
            (
                "gateway[1].levels_of_need[1]",
                r#""early_help" is listed twice"#
            ),
            (
                "gateway[1]",
                "no one may claim this gateway: list agency_kinds or agencies, or set relevant_authorities = true"
            ),
            (
                "gateway[2].relevant_authorities",
                "expected true or false, found string"
            ),
            (
                "gateway[2]",
                "no one may claim this gateway: list agency_kinds or agencies, or set relevant_authorities = true"
            ),
            (
                "gateway[2].gateway",
                r#"duplicate gateway id "ca2004_s16h" (first used by gateway[1])"#
            ),
        ])
    );
}

#[test]
fn example_protocols_say_who_may_claim_their_gateways() {
    let sandwell = load_example("sandwell-partnership.toml");
    let s47 = sandwell.gateway_rule(StatutoryGateway::Ca1989S47).unwrap();
    assert_eq!(
        s47.levels_of_need,
        [LevelOfNeed::SignificantHarm, LevelOfNeed::ImmediateRisk]
    );
    let school = sandwell.signatory(&agency("sandwell-schools")).unwrap();
    let nspcc = sandwell.signatory(&agency("nspcc")).unwrap();
    assert!(s47.may_claim(school) && !s47.may_claim(nspcc));
    // s14B / s16H: the four statutory safeguarding partners of 002 1.4, and no one else.
    for g in [StatutoryGateway::Ca2004S14b, StatutoryGateway::Ca2004S16h] {
        let rule = sandwell.gateway_rule(g).unwrap();
        let partners: Vec<&str> = sandwell
            .signatories
            .iter()
            .filter(|s| rule.may_claim(s))
            .map(|s| s.agency_id.as_str())
            .collect();
        assert_eq!(
            partners,
            [
                "sandwell-council",
                "sandwell-childrens-trust",
                "black-country-ccg",
                "west-midlands-police"
            ]
        );
    }
    let s115 = sandwell
        .gateway_rule(StatutoryGateway::Cda1998S115)
        .unwrap();
    assert!(s115.relevant_authorities);
    let banes = load_example("banes-guidance.toml");
    assert_eq!(
        banes
            .gateway_rule(StatutoryGateway::Ca1989S47)
            .map(|r| r.levels_of_need.clone()),
        Some(vec![
            LevelOfNeed::SignificantHarm,
            LevelOfNeed::ImmediateRisk
        ])
    );
    let prevent = load_example("prevent-channel.toml");
    let s36 = prevent.gateway_rule(StatutoryGateway::Ctsa2015S36).unwrap();
    assert!(prevent.signatories.iter().all(|s| s36.may_claim(s)));
}
