//! The rules, one module each, grouped by the question they answer. Every rule module has a
//! stable `ID`, its catalogue entry `INFO` (id, source clause, summary, severity) and a `check`
//! that adds findings to the context. The doc comment of each module quotes the clause it
//! comes from, so a reviewer can check the code against the text.

use crate::catalogue::RuleInfo;
use crate::context::Cx;

pub mod basis;
pub mod consent;
pub mod history;
pub mod parties;
pub mod purpose;
pub mod scope;
pub mod timing;
pub mod transparency;

pub use basis::{
    r03_gateway_claim_not_allowed, r03_gateway_not_allowed, r03_lawful_basis_not_allowed,
    r03_special_category_without_condition, r21_consent_basis_without_consent,
};
pub use consent::{
    r05_not_identifiable, r06_consent_not_explicit, r06_explicit_consent_required,
    r06_not_sought_crime_exception, r07_consent_refused, r07_sharing_against_wishes,
    r08_not_required_unsupported, r08_not_sought_without_reason, r09_child_age_unknown,
    r09_child_consent_capacity, r09_older_child_own_consent, r22_consent_scope_limited,
    r23_special_category_without_consent, r24_without_consent_approval,
};
pub use history::{r13_duplicate_open_request, r13_related_request, r13_repeat_request};
pub use parties::{
    r02_agency_not_active_signatory, r02_protocol_past_review, r02_reaffirmation_overdue,
    r04_s115_not_relevant_authority, r17_protocol_mismatch, r18_requester_is_holder,
};
pub use purpose::{r01_necessity_not_stated, r01_purpose_not_in_protocol};
pub use scope::{
    r10_category_not_allowed, r10_category_unknown, r10_nothing_to_share,
    r11_category_without_reason, r11_special_category_without_need, r12_anonymised_would_suffice,
    r20_records_period_not_stated,
};
pub use timing::{r16_immediate_risk_tell_police, r16_urgency_below_risk, r19_needed_by_passed};
pub use transparency::{r14_onward_disclosure_non_signatory, r15_not_informing_without_reason};

type Check = fn(&mut Cx<'_>);

/// Every rule with its check, in the catalogue's order. Order matters in two places: scope
/// rules that trim (R10) run before the rules that judge what is left in scope, and findings
/// of equal severity are reported in this order. A test keeps this list and the catalogue in
/// step.
pub(crate) static CHECKS: &[(&RuleInfo, Check)] = &[
    (&r17_protocol_mismatch::INFO, r17_protocol_mismatch::check),
    (
        &r18_requester_is_holder::INFO,
        r18_requester_is_holder::check,
    ),
    (
        &r01_purpose_not_in_protocol::INFO,
        r01_purpose_not_in_protocol::check,
    ),
    (
        &r01_necessity_not_stated::INFO,
        r01_necessity_not_stated::check,
    ),
    (
        &r02_agency_not_active_signatory::INFO,
        r02_agency_not_active_signatory::check,
    ),
    (
        &r02_reaffirmation_overdue::INFO,
        r02_reaffirmation_overdue::check,
    ),
    (
        &r02_protocol_past_review::INFO,
        r02_protocol_past_review::check,
    ),
    (
        &r03_lawful_basis_not_allowed::INFO,
        r03_lawful_basis_not_allowed::check,
    ),
    (
        &r03_gateway_not_allowed::INFO,
        r03_gateway_not_allowed::check,
    ),
    (
        &r03_gateway_claim_not_allowed::INFO,
        r03_gateway_claim_not_allowed::check,
    ),
    (
        &r03_special_category_without_condition::INFO,
        r03_special_category_without_condition::check,
    ),
    (
        &r04_s115_not_relevant_authority::INFO,
        r04_s115_not_relevant_authority::check,
    ),
    (&r05_not_identifiable::INFO, r05_not_identifiable::check),
    (
        &r12_anonymised_would_suffice::INFO,
        r12_anonymised_would_suffice::check,
    ),
    (
        &r06_explicit_consent_required::INFO,
        r06_explicit_consent_required::check,
    ),
    (
        &r06_not_sought_crime_exception::INFO,
        r06_not_sought_crime_exception::check,
    ),
    (
        &r06_consent_not_explicit::INFO,
        r06_consent_not_explicit::check,
    ),
    (
        &r21_consent_basis_without_consent::INFO,
        r21_consent_basis_without_consent::check,
    ),
    (&r07_consent_refused::INFO, r07_consent_refused::check),
    (
        &r07_sharing_against_wishes::INFO,
        r07_sharing_against_wishes::check,
    ),
    (
        &r08_not_sought_without_reason::INFO,
        r08_not_sought_without_reason::check,
    ),
    (
        &r08_not_required_unsupported::INFO,
        r08_not_required_unsupported::check,
    ),
    (
        &r09_child_consent_capacity::INFO,
        r09_child_consent_capacity::check,
    ),
    (&r09_child_age_unknown::INFO, r09_child_age_unknown::check),
    (
        &r09_older_child_own_consent::INFO,
        r09_older_child_own_consent::check,
    ),
    (
        &r22_consent_scope_limited::INFO,
        r22_consent_scope_limited::check,
    ),
    (&r10_category_unknown::INFO, r10_category_unknown::check),
    (
        &r10_category_not_allowed::INFO,
        r10_category_not_allowed::check,
    ),
    (&r10_nothing_to_share::INFO, r10_nothing_to_share::check),
    (
        &r11_special_category_without_need::INFO,
        r11_special_category_without_need::check,
    ),
    (
        &r11_category_without_reason::INFO,
        r11_category_without_reason::check,
    ),
    (
        &r20_records_period_not_stated::INFO,
        r20_records_period_not_stated::check,
    ),
    (
        &r23_special_category_without_consent::INFO,
        r23_special_category_without_consent::check,
    ),
    (
        &r24_without_consent_approval::INFO,
        r24_without_consent_approval::check,
    ),
    (&r13_repeat_request::INFO, r13_repeat_request::check),
    (&r13_related_request::INFO, r13_related_request::check),
    (
        &r13_duplicate_open_request::INFO,
        r13_duplicate_open_request::check,
    ),
    (
        &r14_onward_disclosure_non_signatory::INFO,
        r14_onward_disclosure_non_signatory::check,
    ),
    (
        &r15_not_informing_without_reason::INFO,
        r15_not_informing_without_reason::check,
    ),
    (
        &r16_immediate_risk_tell_police::INFO,
        r16_immediate_risk_tell_police::check,
    ),
    (&r16_urgency_below_risk::INFO, r16_urgency_below_risk::check),
    (&r19_needed_by_passed::INFO, r19_needed_by_passed::check),
];

/// Applies every rule.
pub(crate) fn run_all(cx: &mut Cx<'_>) {
    for (_, check) in CHECKS {
        check(cx);
    }
}

/// `a, b and c` — for messages that list ids or names. Written straight into one string:
/// messages are only built when a finding is produced, but some requests produce several.
pub(crate) fn list<'s>(items: impl IntoIterator<Item = &'s str>) -> String {
    let mut out = String::new();
    push_list(&mut out, items);
    out
}

/// Appends "a, b and c" (or "none") to `out`.
pub(crate) fn push_list<'s>(out: &mut String, items: impl IntoIterator<Item = &'s str>) {
    let mut items = items.into_iter().peekable();
    let start = out.len();
    let mut first = true;
    while let Some(item) = items.next() {
        if !first {
            out.push_str(if items.peek().is_some() {
                ", "
            } else {
                " and "
            });
        }
        out.push_str(item);
        first = false;
    }
    if out.len() == start {
        out.push_str("none");
    }
}

/// How a role is named to a practitioner.
pub(crate) fn role_name(role: accord_domain::Role) -> &'static str {
    use accord_domain::Role;
    match role {
        Role::Practitioner => "practitioner",
        Role::IgLead => "information governance lead",
        Role::CaldicottGuardian => "Caldicott Guardian",
        Role::Auditor => "auditor",
        Role::Admin => "partnership administrator",
    }
}
