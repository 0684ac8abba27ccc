//! The catalogue of rules: what each is called, where it comes from and what it checks. The
//! server can publish it, `docs/policy-rules.md` mirrors it, and tests check that every rule in
//! it is exercised.

use accord_domain::Severity;
use serde::Serialize;

use crate::rules::*;

/// One rule of the check, as a reviewer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RuleInfo {
    /// Stable id, `Rnn-slug`. `nn` is the DOMAIN.md rule number (17 and above: rules drawn
    /// from the source documents beyond that list). Never reuse or renumber an id: audit
    /// records and IG leads' notes refer to it.
    pub id: &'static str,
    /// The clause of the source documents the rule comes from, e.g. `002 App.2`.
    pub source: &'static str,
    /// What the rule checks, in one sentence.
    pub summary: &'static str,
    /// The severity of its findings (the strongest, where a rule's severity depends on the
    /// case; the rule's documentation says when it is lower).
    pub severity: Severity,
}

/// Every rule, in the order the check applies them (which is also the order of findings of
/// equal severity in an assessment).
static RULES: &[RuleInfo] = &[
    r17_protocol_mismatch::INFO,
    r18_requester_is_holder::INFO,
    r01_purpose_not_in_protocol::INFO,
    r01_necessity_not_stated::INFO,
    r02_agency_not_active_signatory::INFO,
    r02_reaffirmation_overdue::INFO,
    r02_protocol_past_review::INFO,
    r03_lawful_basis_not_allowed::INFO,
    r03_gateway_not_allowed::INFO,
    r03_gateway_claim_not_allowed::INFO,
    r03_special_category_without_condition::INFO,
    r04_s115_not_relevant_authority::INFO,
    r05_not_identifiable::INFO,
    r12_anonymised_would_suffice::INFO,
    r06_explicit_consent_required::INFO,
    r06_not_sought_crime_exception::INFO,
    r06_consent_not_explicit::INFO,
    r21_consent_basis_without_consent::INFO,
    r07_consent_refused::INFO,
    r07_sharing_against_wishes::INFO,
    r08_not_sought_without_reason::INFO,
    r08_not_required_unsupported::INFO,
    r09_child_consent_capacity::INFO,
    r09_child_age_unknown::INFO,
    r09_older_child_own_consent::INFO,
    r22_consent_scope_limited::INFO,
    r10_category_unknown::INFO,
    r10_category_not_allowed::INFO,
    r10_nothing_to_share::INFO,
    r11_special_category_without_need::INFO,
    r11_category_without_reason::INFO,
    r20_records_period_not_stated::INFO,
    r23_special_category_without_consent::INFO,
    r24_without_consent_approval::INFO,
    r13_repeat_request::INFO,
    r13_related_request::INFO,
    r13_duplicate_open_request::INFO,
    r14_onward_disclosure_non_signatory::INFO,
    r15_not_informing_without_reason::INFO,
    r16_immediate_risk_tell_police::INFO,
    r16_urgency_below_risk::INFO,
    r19_needed_by_passed::INFO,
];

/// Every rule the check applies, in the order it applies them.
pub fn rules() -> &'static [RuleInfo] {
    RULES
}

/// The rule with this id, if there is one.
pub fn rule(id: &str) -> Option<&'static RuleInfo> {
    RULES.iter().find(|r| r.id == id)
}
