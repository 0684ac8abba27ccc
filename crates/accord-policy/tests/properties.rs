//! Properties of the check over arbitrary requests on the fixture protocol: random purposes
//! (including unknown ones), agencies, levels of need, consent states, lawful bases, gateways,
//! category lists (including unknown ids and repeats), flags, deadlines and history.

#![allow(clippy::unwrap_used)]

mod fixture;

use std::collections::BTreeSet;

use accord_domain::{
    Assessment, CategoryRequest, Consent, ConsentGiver, ConsentStatus, ExchangeState, History,
    LawfulBasis, LevelOfNeed, NotRequiredReason, NotSoughtReason, Outcome, Protocol, Request,
    Severity, SpecialCondition, StatutoryGateway, Urgency,
};
use accord_policy::{assess, rule, rules::r10_nothing_to_share};
use fixture::*;
use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use time::macros::date;
use time::Duration;

const PURPOSES: &[&str] = &[
    S47,
    EARLY_HELP,
    CHILD_IN_NEED,
    CASE_REVIEW,
    PREVENT,
    "no-such-purpose",
];
const AGENCIES: &[&str] = &[
    TRUST,
    POLICE,
    HEALTH,
    SCHOOL,
    CHARITY,
    SUSPENDED,
    OVERDUE,
    "not-a-signatory",
];
const UNKNOWN_CATEGORIES: &[&str] = &["bank-details", "immigration-status", "x"];
const TEXTS: &[&str] = &[
    "",
    "  ",
    "Needed to judge the risk at home",
    "Only \"school\" matters",
];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(TEXTS).prop_map(str::to_owned),
        1 => "\\PC{0,40}",
    ]
}

fn category_ids() -> Vec<&'static str> {
    CATEGORIES
        .iter()
        .map(|(c, _, _)| *c)
        .chain(UNKNOWN_CATEGORIES.iter().copied())
        .collect()
}

fn categories(max: usize) -> impl Strategy<Value = Vec<CategoryRequest>> {
    prop::collection::vec((select(category_ids()), text()), 0..max).prop_map(|v| {
        v.into_iter()
            .map(|(c, reason)| category(c, &reason))
            .collect()
    })
}

fn consent() -> impl Strategy<Value = Consent> {
    (
        select(ConsentStatus::ALL),
        prop::option::of(select(ConsentGiver::ALL)),
        any::<[bool; 4]>(),
        subsequence(NotSoughtReason::ALL, 0..=2),
        text(),
        text(),
        prop::option::of(select(NotRequiredReason::ALL)),
    )
        .prop_map(
            |(status, given_by, [explicit, assessed, parental, dated], reasons, scope, pi, nr)| {
                let mut c = Consent::with_status(status);
                c.given_by = given_by;
                c.given_on = dated.then_some(date!(2025 - 01 - 10));
                c.explicit = explicit;
                c.capacity_assessed = assessed;
                c.parental_consent_recorded = parental;
                c.not_sought_reasons = reasons;
                c.scope = scope;
                c.public_interest_justification = pi;
                c.not_required_reason = nr;
                c
            },
        )
}

fn history() -> impl Strategy<Value = History> {
    prop::collection::vec(
        (
            prop_oneof![3 => Just(TRUST), 1 => select(&AGENCIES[..5])],
            select(&AGENCIES[..5]),
            select(&PURPOSES[..5]),
            select(ExchangeState::ALL),
            0i64..200,
            any::<bool>(),
            // Categories of the earlier exchange (none: not known).
            subsequence(category_ids(), 0..4),
        ),
        0..6,
    )
    .prop_map(|items| History {
        prior: items
            .into_iter()
            .enumerate()
            .map(|(n, (req, hold, purpose, state, days, same_child, cats))| {
                let mut p = prior(n as u128, req, hold, purpose, state, days);
                if !same_child {
                    p.child_identifiers = vec![identifier("nhs_number", "000 000 0000")];
                }
                p.categories = cats.into_iter().map(id).collect();
                p
            })
            .collect(),
    })
}

/// A request: one of the fixture's well-formed requests (s47, early help, case review,
/// Prevent), each of whose fields is replaced by an arbitrary value with probability about
/// one in five, so that both outcomes are common and every rule is reached.
fn request() -> impl Strategy<Value = Request> {
    fn maybe<S: Strategy>(s: S) -> impl Strategy<Value = Option<S::Value>> {
        prop::option::weighted(0.2, s)
    }
    let base = select(vec![
        s47_request as fn() -> Request,
        early_help_request,
        case_review_request,
        prevent_request,
    ]);
    let parties = (
        maybe(select(PURPOSES)),
        maybe(select(AGENCIES)),
        maybe(select(AGENCIES)),
        maybe(Just("1.0")),
        maybe(select(LevelOfNeed::ALL)),
        maybe(select(Urgency::ALL)),
    );
    let basis = (
        maybe(select(LawfulBasis::ALL)),
        maybe(select(SpecialCondition::ALL)),
        maybe(subsequence(StatutoryGateway::ALL, 0..=2)),
    );
    let subjects = (
        maybe(any::<bool>()),
        maybe(any::<bool>()),
        maybe(select(vec![
            Some(date!(2015 - 06 - 14)),
            Some(date!(2010 - 09 - 01)),
            None,
        ])),
        maybe(text()),
        maybe(text()),
    );
    let flags = (
        maybe(any::<bool>()),
        maybe(any::<bool>()),
        maybe(prop::option::of(-48i64..240)),
        maybe(subsequence(
            vec![POLICE, HEALTH, "Cafcass", SUSPENDED],
            0..=2,
        )),
        maybe((any::<bool>(), text())),
    );
    let scope = (maybe(consent()), maybe(categories(8)), maybe(categories(4)));
    (base, parties, basis, subjects, flags, scope).prop_map(
        |(
            base,
            (purpose, requester, holder, version, level, urgency),
            (article6, special_condition, gateways),
            (child_identifiable, other_identifiable, dob, justification, outcome),
            (anonymised, records, needed_in_hours, recipients, inform),
            (consent, replace_categories, more_categories),
        )| {
            let mut r = base();
            if let Some(v) = purpose {
                r.purpose = id(v);
            }
            if let Some(v) = requester {
                r.requesting_agency = id(v);
            }
            if let Some(v) = holder {
                r.holding_agency = id(v);
            }
            if let Some(v) = version {
                r.protocol_version = v.to_owned();
            }
            if let Some(v) = level {
                r.level_of_need = v;
            }
            if let Some(v) = urgency {
                r.urgency = v;
            }
            if let Some(v) = article6 {
                r.lawful_basis.article6 = v;
            }
            if let Some(v) = special_condition {
                r.lawful_basis.special_condition = v;
            }
            if let Some(v) = gateways {
                r.lawful_basis.gateways = v;
            }
            if let Some(v) = child_identifiable {
                r.child.identifiable = v;
            }
            if let Some(v) = other_identifiable {
                if r.other_people.is_empty() {
                    r.other_people = s47_request().other_people;
                }
                r.other_people[0].identifiable = v;
            }
            if let Some(v) = dob {
                r.child.date_of_birth = v;
            }
            if let Some(v) = justification {
                r.necessity_justification = v;
            }
            if let Some(v) = outcome {
                r.expected_outcome = v;
            }
            if let Some(v) = anonymised {
                r.anonymised_would_suffice = v;
            }
            if let Some(v) = records {
                r.records_from = v.then_some(date!(2023 - 01 - 01));
            }
            if let Some(v) = needed_in_hours {
                r.needed_by = v.map(|h| NOW + Duration::hours(h));
            }
            if let Some(v) = recipients {
                r.onward_disclosure.intended = true;
                r.onward_disclosure.recipients = v.into_iter().map(str::to_owned).collect();
            }
            if let Some((will_inform, why_not)) = inform {
                r.notification.will_inform = will_inform;
                r.notification.reason_not_informing = why_not;
            }
            if let Some(v) = consent {
                r.consent = v;
            }
            if let Some(v) = replace_categories {
                r.categories = v;
            }
            if let Some(v) = more_categories {
                r.categories.extend(v);
            }
            r
        },
    )
}

fn protocol_variant() -> impl Strategy<Value = Protocol> {
    prop_oneof![
        3 => Just(protocol()),
        1 => Just(protocol_case_review_needs_consent()),
    ]
}

fn blocking_ids(a: &Assessment) -> BTreeSet<&str> {
    a.blocking().map(|f| f.rule_id.as_str()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// (a) The same inputs give the same assessment, and the order of the history does not
    /// matter.
    #[test]
    fn deterministic(p in protocol_variant(), r in request(), h in history()) {
        let first = assess(&p, &r, &h, NOW);
        let again = assess(&p.clone(), &r.clone(), &h.clone(), NOW);
        prop_assert_eq!(&first, &again);
        let mut reversed = h.clone();
        reversed.prior.reverse();
        prop_assert_eq!(&first, &assess(&p, &r, &reversed, NOW));
    }

    /// (b) The proposed scope is a subset of the requested categories the purpose allows, in
    /// request order, without repeats; trimmed categories were requested and are not in scope.
    #[test]
    fn scope_within_requested_and_allowed(p in protocol_variant(), r in request(), h in history()) {
        let a = assess(&p, &r, &h, NOW);
        let requested: Vec<_> = r.category_ids().collect();
        let purpose = p.purpose(&r.purpose);
        let mut last_position = None;
        for c in &a.proposed_scope {
            let position = requested.iter().position(|q| *q == c);
            prop_assert!(position.is_some(), "{} was not requested", c);
            prop_assert!(purpose.is_some_and(|p| p.allows_category(c)), "{} not allowed", c);
            prop_assert!(position > last_position, "scope out of request order or repeated");
            last_position = position;
        }
        for c in &a.trimmed {
            prop_assert!(requested.contains(&c));
            prop_assert!(!a.proposed_scope.contains(c));
            prop_assert!(
                a.findings.iter().any(|f| f.category.as_ref() == Some(c)),
                "{} trimmed without a finding", c
            );
        }
        if a.outcome == Outcome::ProceedToApproval {
            prop_assert!(!a.proposed_scope.is_empty(), "proceeds with nothing to share");
        }
    }

    /// (c) Refused iff a blocking finding; every finding names a catalogued rule, its source and
    /// a message; deadlines are ahead and never after the time the requester needs it by.
    #[test]
    fn findings_explain_the_outcome(p in protocol_variant(), r in request(), h in history()) {
        let a = assess(&p, &r, &h, NOW);
        let blocked = a.findings.iter().any(|f| f.severity == Severity::Blocking);
        prop_assert_eq!(a.outcome == Outcome::Refuse, blocked);
        if a.outcome == Outcome::Refuse {
            prop_assert!(a.proposed_scope.is_empty());
        }
        for f in &a.findings {
            prop_assert!(!f.rule_id.is_empty() && !f.source.is_empty());
            prop_assert!(!f.message.trim().is_empty());
            let info = rule(&f.rule_id);
            prop_assert!(info.is_some(), "{} is not catalogued", f.rule_id);
            prop_assert_eq!(info.map(|i| i.source), Some(f.source.as_str()));
        }
        prop_assert!(a.respond_by > NOW && a.respond_by <= NOW + Duration::days(20));
        if let Some(needed) = r.needed_by.filter(|t| *t > NOW) {
            prop_assert!(a.respond_by <= needed);
        }
        if r.level_of_need == LevelOfNeed::ImmediateRisk {
            prop_assert!(a.respond_by <= NOW + Duration::hours(4), "immediate risk in minutes");
        }
        prop_assert!(!a.required_approver_roles.is_empty());
        prop_assert!(a.required_approver_roles.windows(2).all(|w| w[0] < w[1]));
    }

    /// (d) Asking for more never makes a refused request acceptable. The one refusal that more
    /// categories can cure is "nothing to share" (R10): a request whose every category was
    /// trimmed. Stronger: no blocking finding other than that one ever disappears.
    #[test]
    fn more_categories_never_cure_a_refusal(
        p in protocol_variant(),
        r in request(),
        h in history(),
        extra in categories(6),
    ) {
        let before = assess(&p, &r, &h, NOW);
        let mut bigger = r.clone();
        for c in extra {
            if !bigger.categories.iter().any(|q| q.category == c.category) {
                bigger.categories.push(c);
            }
        }
        let after = assess(&p, &bigger, &h, NOW);
        let mut lost: BTreeSet<&str> = blocking_ids(&before)
            .difference(&blocking_ids(&after))
            .copied()
            .collect();
        lost.remove(r10_nothing_to_share::ID);
        prop_assert!(lost.is_empty(), "blocking findings disappeared: {:?}", lost);
        let cured_only_by_scope = blocking_ids(&before)
            .iter()
            .all(|id| *id == r10_nothing_to_share::ID);
        if before.outcome == Outcome::Refuse && !cured_only_by_scope {
            prop_assert_eq!(after.outcome, Outcome::Refuse);
        }
    }

    /// (e) Repeat sharing (R13): at most one finding each; a repeat and a related earlier
    /// exchange are never both reported; a repeat names the categories sought again, each one
    /// requested now.
    #[test]
    fn repeat_findings_name_what_is_sought_again(
        p in protocol_variant(),
        r in request(),
        h in history(),
    ) {
        use accord_policy::rules::{r13_related_request, r13_repeat_request};
        let a = assess(&p, &r, &h, NOW);
        let count = |id: &str| a.findings.iter().filter(|f| f.rule_id == id).count();
        let (repeat, related) = (count(r13_repeat_request::ID), count(r13_related_request::ID));
        prop_assert!(repeat <= 1 && related <= 1);
        prop_assert!(repeat + related <= 1, "both repeat and related reported");
        if let Some(f) = a.findings.iter().find(|f| f.rule_id == r13_related_request::ID) {
            prop_assert_eq!(f.severity, Severity::Info);
        }
        if let Some(f) = a.findings.iter().find(|f| f.rule_id == r13_repeat_request::ID) {
            prop_assert_eq!(f.severity, Severity::Warning);
            let named = h.prior.iter().find(|e| f.message.contains(&e.exchange_id.to_string()));
            prop_assert!(named.is_some(), "the earlier exchange is named");
            let named = named.unwrap();
            let overlap: Vec<_> = r
                .category_ids()
                .filter(|c| named.categories.contains(c))
                .collect();
            prop_assert!(named.categories.is_empty() || !overlap.is_empty());
            for c in overlap {
                prop_assert!(f.message.contains(c.as_str()), "{} not named", c);
            }
        }
    }
}
