//! Consent (`001 When` Q2–Q4, `002 6`, `002 App.2` Q2–Q5, `004 FAQ`, `004 App.1`). Which consent
//! a request needs is the protocol's decision, per purpose and level of need
//! ([`ConsentRequirement`](accord_domain::ConsentRequirement)): the documents disagree (early
//! help needs explicit consent in `002 App.2`; case reviews need consent in `004 FAQ` but are a
//! statutory duty in `002 1.17`; Prevent needs none in `003 a)`), so the code never hard-wires
//! a purpose or level. The rules here only apply the protocol's answer.

use accord_domain::Role;

use crate::context::Cx;

/// The roles that must approve: the purpose's, plus the ones it names for sharing without
/// consent when the decision would be one (`004 FAQ`: "Decisions to share without consent …
/// must also be approved by an appropriate supervisor or manager"). Sorted and deduplicated so
/// the answer does not depend on how the protocol file lists them. An unknown purpose (refused
/// anyway) falls back to the IG lead, who approves every exchange (`002 App.1`).
pub(crate) fn required_approver_roles(cx: &Cx<'_>) -> Vec<Role> {
    let Some(p) = cx.purpose else {
        return vec![Role::IgLead];
    };
    let mut roles = p.approving_roles.clone();
    if cx.without_consent() {
        roles.extend_from_slice(&p.approving_roles_without_consent);
    }
    roles.sort_unstable();
    roles.dedup();
    roles
}

/// The information does not identify anyone, so the consent questions do not apply.
///
/// Source: `001 When` Q3: "Does the information enable an individual to be identified? … No –
/// you can share but should consider how"; `002 App.2` Q2: "If the information is anonymised,
/// it can lawfully be shared as long as the purpose is legitimate." The consent rules (R06–R09,
/// R21–R24) and R15 stand aside; the purpose and proportionality rules still apply.
pub mod r05_not_identifiable {
    use accord_domain::Severity;

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;

    pub const ID: &str = "R05-not-identifiable";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "001 When Q3, 002 App.2 Q2",
        summary: "The information identifies no one, so consent questions do not apply.",
        severity: Severity::Info,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        if !cx.identifiable {
            cx.flag(
                &INFO,
                "The request says the information will not identify anyone, so consent is not \
                 needed. Share it only in a form that really is anonymised: no names, dates of \
                 birth, addresses or reference numbers, and no groups so small that a child \
                 could be recognised."
                    .to_owned(),
            );
        }
    }
}

/// The protocol requires explicit consent for this purpose and level of need, and consent has
/// not been obtained.
///
/// Source: `002 App.2` (Early Help): "At this level of need freely given, informed explicit
/// consent is needed … they should seek consent from all the relevant individuals before
/// information is shared or requested"; `004 FAQ`: "Sharing information for the purposes of
/// case review must only be conducted with the individual's consent" — where a protocol adopts
/// that. The protocol's consent table says where explicit consent is required.
pub mod r06_explicit_consent_required {
    use accord_domain::{ConsentRequirement, ConsentStatus, Severity};

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;
    use crate::rules::r06_not_sought_crime_exception;

    pub const ID: &str = "R06-explicit-consent-required";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "002 App.2 (Early Help), 004 FAQ",
        summary: "The protocol requires explicit consent for this purpose and level of need, \
                  and consent has not been obtained.",
        severity: Severity::Blocking,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        let status = cx.request.consent.status;
        if !cx.identifiable
            || cx.requirement != ConsentRequirement::Explicit
            || status == ConsentStatus::Obtained
            || r06_not_sought_crime_exception::applies(cx)
        {
            return;
        }
        let Some(p) = cx.purpose else { return };
        cx.flag(
            &INFO,
            format!(
                "The protocol requires freely given, informed and explicit consent for {} at the \
                 level of need \"{}\", and consent is recorded as \"{status}\". Seek consent \
                 from the child or family (explaining what will be shared, with whom and why) \
                 before asking. If you now believe the child is suffering or likely to suffer \
                 significant harm, the level of need is different: follow your safeguarding \
                 procedures and say so in the request.",
                p.id, cx.request.level_of_need
            ),
        );
    }
}

/// Consent was not sought where the protocol requires explicit consent, because seeking it would
/// prejudice the prevention or detection of crime: the documented exception to R06, flagged for
/// the IG lead instead of refused.
///
/// Source: `002 6.3`: "Consent should not be sought if doing so would: … prejudice the
/// prevention, detection or prosecution of a serious crime"; `002 App.2` ("When not to seek
/// consent"): "There are a limited number of circumstances where professional should not seek
/// consent … Prejudice the prevention or detection of a serious crime"; `004 App.1` ("When
/// should you not seek consent?"): "prejudice the prevention or detection of serious crime".
/// DOMAIN.md rule 6 refuses early help without explicit consent "unless a documented exception
/// applies". The exception is the crime one only: the other reasons on the documents' list are
/// about significant harm (increased risk of it, delay in enquiries about it), which is a
/// different level of need and a different consent rule (R06's message says so), or about
/// practicality (the person cannot be found, lacks capacity), which does not lift consent the
/// protocol requires. Sharing on the exception is sharing without consent: it goes to the
/// approvers for that (`004 FAQ`), who must be satisfied the exception is real.
pub mod r06_not_sought_crime_exception {
    use accord_domain::{ConsentRequirement, ConsentStatus, NotSoughtReason, Severity};

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;

    pub const ID: &str = "R06-not-sought-crime-exception";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "002 6.3, 002 App.2, 004 App.1",
        summary: "Explicit consent is required but was not sought because seeking it would \
                  prejudice the prevention or detection of crime: the IG lead must weigh the \
                  exception.",
        severity: Severity::Warning,
    };

    /// Explicit consent is required, identifiable information is asked for, and consent was
    /// not sought for the crime reason.
    pub(crate) fn applies(cx: &Cx<'_>) -> bool {
        let c = &cx.request.consent;
        cx.identifiable
            && cx.requirement == ConsentRequirement::Explicit
            && c.status == ConsentStatus::NotSought
            && c.not_sought_reasons
                .contains(&NotSoughtReason::PrejudiceCrimePrevention)
    }

    pub(crate) fn check(cx: &mut Cx<'_>) {
        if !applies(cx) {
            return;
        }
        let Some(p) = cx.purpose else { return };
        let detail = cx.request.consent.not_sought_detail.trim();
        let detail = if detail.is_empty() {
            String::new()
        } else {
            format!(" (\"{detail}\")")
        };
        cx.flag(
            &INFO,
            format!(
                "The protocol requires explicit consent for {} at the level of need \"{}\", and \
                 consent was not sought because seeking it would prejudice the prevention or \
                 detection of crime{detail}. 002 6.3: consent should not be sought if doing so \
                 would prejudice the prevention, detection or prosecution of a serious crime. \
                 The IG lead must be satisfied that this is so before approving; the decision \
                 is one to share without consent, and the reasons must be recorded.",
                p.id, cx.request.level_of_need
            ),
        );
    }
}

/// Consent was obtained but not explicitly, where the protocol requires explicit consent.
///
/// Source: `002 App.2` Q4: "Consent must be freely given, informed and explicit"; `004 FAQ`:
/// "Consent needs to be 'explicit', meaning agreement is given in writing"; `001` myth-busting:
/// "When you gain consent to share information, it must be explicit".
pub mod r06_consent_not_explicit {
    use accord_domain::{ConsentRequirement, ConsentStatus, Severity};

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;

    pub const ID: &str = "R06-consent-not-explicit";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "002 App.2 Q4, 004 FAQ",
        summary: "Consent was obtained but not explicitly, where the protocol requires explicit \
                  consent.",
        severity: Severity::Blocking,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        let c = &cx.request.consent;
        if cx.identifiable
            && cx.requirement == ConsentRequirement::Explicit
            && c.status == ConsentStatus::Obtained
            && !c.explicit
        {
            cx.flag(
                &INFO,
                "Consent is recorded, but not as explicit, and the protocol requires explicit \
                 consent here. Implied or assumed agreement is not enough: ask the person to \
                 agree expressly (in writing where possible) and record who agreed and when."
                    .to_owned(),
            );
        }
    }
}

/// Consent refused or withdrawn, below significant harm, with no statutory duty this requester
/// may claim at this level of need and no public-interest justification.
///
/// Source: `004 FAQ` ("What do I do if I ask but the client refuses to give consent?"):
/// "Generally, if a client withdraws consent or refuses to give consent for their information
/// to be shared, their wishes must be followed"; `002 App.2` Q5: "If consent has been refused
/// … is there a sufficient public interest to share information?"
pub mod r07_consent_refused {
    use accord_domain::{ConsentRequirement, ConsentStatus, LevelOfNeed, Severity};

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;

    pub const ID: &str = "R07-consent-refused";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "004 FAQ, 002 App.2 Q5",
        summary: "Consent was refused or withdrawn, below significant harm, with no statutory \
                  duty the requester may claim and no public-interest justification.",
        severity: Severity::Blocking,
    };

    /// Refused or withdrawn consent that this rule, rather than R06 (explicit consent
    /// required), judges.
    pub(crate) fn applies(cx: &Cx<'_>) -> bool {
        matches!(
            cx.request.consent.status,
            ConsentStatus::Refused | ConsentStatus::Withdrawn
        ) && cx.identifiable
            && cx.requirement != ConsentRequirement::Explicit
    }

    /// Nothing overrides the person's wishes.
    pub(crate) fn unjustified(cx: &Cx<'_>) -> bool {
        cx.request.level_of_need < LevelOfNeed::SignificantHarm
            && cx.requirement != ConsentRequirement::NotRequired
            && cx.duty_gateway.is_none()
            && cx
                .request
                .consent
                .public_interest_justification
                .trim()
                .is_empty()
    }

    pub(crate) fn check(cx: &mut Cx<'_>) {
        if !applies(cx) || !unjustified(cx) {
            return;
        }
        cx.flag(
            &INFO,
            format!(
                "Consent was {}, the level of need is below significant harm and no statutory \
                 duty that this agency may claim at this level applies, so the person's wishes \
                 must be followed. Share only if there is a sufficient public interest (for \
                 example to protect a child or others from harm, or to prevent crime): if so, set \
                 out that justification in the request and resubmit; it will go to a manager to \
                 approve.",
                cx.request.consent.status
            ),
        );
    }
}

/// Consent was refused or withdrawn, and the request goes ahead on a public interest, a risk of
/// significant harm or a statutory duty: flagged for the IG lead.
///
/// Source: `002 App.2` Q5: "Where there is a clear risk of significant harm to a child, the
/// public interest test will almost certainly be satisfied"; `002 6.6`; `004 FAQ`: "Decisions to
/// share without consent … must also be approved by an appropriate supervisor or manager."
pub mod r07_sharing_against_wishes {
    use accord_domain::{ConsentRequirement, LevelOfNeed, Severity};

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;
    use crate::rules::r07_consent_refused::{applies, unjustified};

    pub const ID: &str = "R07-sharing-against-wishes";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "002 App.2 Q5, 002 6.6, 004 FAQ",
        summary: "Consent was refused or withdrawn and the request relies on a public interest, \
                  significant harm or a statutory duty instead.",
        severity: Severity::Warning,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        if !applies(cx) || unjustified(cx) {
            return;
        }
        let r = cx.request;
        let on = if r.level_of_need >= LevelOfNeed::SignificantHarm {
            "the risk of significant harm (where it is clear, the public interest test will \
             almost certainly be satisfied)"
                .to_owned()
        } else if let Some(g) = cx.duty_gateway {
            format!("a statutory duty ({g})")
        } else if cx.requirement == ConsentRequirement::NotRequired {
            "the statutory duty the protocol records for this purpose".to_owned()
        } else {
            "the public-interest justification given".to_owned()
        };
        cx.flag(
            &INFO,
            format!(
                "Consent was {}: this request would share against the person's wishes, relying \
                 on {on}. The IG lead must weigh what may happen if the information is shared \
                 against what may happen if it is not, and record the decision and reasons. \
                 Tell the person it has been shared unless that would put the child at risk.",
                r.consent.status
            ),
        );
    }
}

/// Consent was not sought, and no reason from the documents' list is given.
///
/// Source: `002 6.3` and `002 App.2` ("When not to seek consent": increased risk of significant
/// harm; prejudice to the prevention or detection of serious crime; unjustified delay; an
/// imbalance of power), `004 FAQ` (cannot be located; lacks capacity) and `004 FAQ`: "It is not
/// good practice to use lack of consent to share information when consent has not been
/// attempted." Applies where the protocol says consent should be sought.
pub mod r08_not_sought_without_reason {
    use accord_domain::{ConsentRequirement, ConsentStatus, Severity};

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;

    pub const ID: &str = "R08-not-sought-without-reason";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "002 6.3, 002 App.2, 004 FAQ",
        summary: "Consent was not sought and no accepted reason is given.",
        severity: Severity::Blocking,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        let c = &cx.request.consent;
        if cx.identifiable
            && cx.requirement == ConsentRequirement::Sought
            && c.status == ConsentStatus::NotSought
            && c.not_sought_reasons.is_empty()
        {
            cx.flag(
                &INFO,
                "Consent has not been sought and no reason is given. Seek consent first, or \
                 record why you should not: seeking it would put the child at increased risk of \
                 significant harm, prejudice the prevention or detection of serious crime, \
                 cause unjustified delay, the person cannot be found, lacks capacity with no one \
                 to consent for them, or there is an imbalance of power."
                    .to_owned(),
            );
        }
    }
}

/// Consent is said to be "not required", but the protocol expects it to be sought and no
/// statutory duty or court order applies.
///
/// Source: `002 6.7`: "Consent should not be sought when there is a requirement by law to share
/// information through a statutory duty or by a court order" — and only then; otherwise
/// `004 FAQ`: "It is not good practice to use lack of consent … when consent has not been
/// attempted."
pub mod r08_not_required_unsupported {
    use accord_domain::{ConsentRequirement, ConsentStatus, Severity};

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;

    pub const ID: &str = "R08-not-required-unsupported";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "002 6.7, 004 FAQ",
        summary: "Consent is said to be not required, but no statutory duty or court order \
                  applies.",
        severity: Severity::Blocking,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        if cx.identifiable
            && cx.requirement == ConsentRequirement::Sought
            && cx.request.consent.status == ConsentStatus::NotRequired
            && cx.duty_gateway.is_none()
        {
            cx.flag(
                &INFO,
                format!(
                    "The request says consent is not required, but the protocol expects \
                     consent to be sought for {} at this level of need, and the request relies \
                     on no statutory duty or court order that the purpose allows and this agency \
                     may claim at this level. Seek consent, or record the reason it should not \
                     be sought, or give the statutory gateway (such as a court order) that \
                     requires sharing.",
                    cx.request.purpose
                ),
            );
        }
    }
}

/// A child under the protocol's capacity age consented, with neither a capacity assessment nor a
/// parent's consent recorded.
///
/// Source: `004 App.1` ("Can a child give consent?"): "a child of or over the age of 12 years
/// shall be considered to have 'legal capacity' … When consent is sought from a child it will
/// need to be judged whether the child has the capacity to understand"; `002 App.2` Q4: "where
/// a child cannot consent … a person with parental responsibility should be asked". Blocking
/// where the protocol needs consent for this purpose and level; a warning where it does not
/// (the request then stands on its statutory basis, and is treated as without consent).
pub mod r09_child_consent_capacity {
    use accord_domain::{ConsentRequirement, Severity};

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;

    pub const ID: &str = "R09-child-consent-capacity";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "004 App.1, 002 App.2 Q4",
        summary: "A child under the capacity age consented without a capacity assessment or \
                  parental consent recorded.",
        severity: Severity::Blocking,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        if !cx.identifiable || !cx.child_consent_lacks_capacity() {
            return;
        }
        let severity = if cx.requirement == ConsentRequirement::NotRequired {
            Severity::Warning
        } else {
            Severity::Blocking
        };
        let age = cx.child_age().unwrap_or_default();
        cx.flag_as(
            &INFO,
            severity,
            format!(
                "The consent was given by the child, who is {age}, under the age of {} from \
                 which the protocol presumes capacity. Record an assessment of the child's \
                 capacity to understand what they agreed to, or the consent of a person with \
                 parental responsibility.",
                cx.protocol.capacity_age
            ),
            None,
        );
    }
}

/// A child consented, their age is not known, and no capacity assessment or parental consent
/// is recorded.
///
/// Source: `004 App.1`: whether a child can give valid consent depends on their capacity; the
/// presumption from age 12 cannot be applied without a date of birth.
pub mod r09_child_age_unknown {
    use accord_domain::{ConsentGiver, ConsentStatus, Severity};

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;

    pub const ID: &str = "R09-child-age-unknown";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "004 App.1",
        summary: "A child consented, their age is unknown, and no capacity assessment is \
                  recorded.",
        severity: Severity::Advisory,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        let c = &cx.request.consent;
        if cx.identifiable
            && c.status == ConsentStatus::Obtained
            && c.given_by == Some(ConsentGiver::Child)
            && !c.capacity_assessed
            && !c.parental_consent_recorded
            && cx.child_age().is_none()
        {
            cx.flag(
                &INFO,
                format!(
                    "The consent was given by the child, but no date of birth is given, so it \
                     cannot be checked against the capacity age ({}). Give the date of birth, or \
                     record an assessment of the child's capacity to consent.",
                    cx.protocol.capacity_age
                ),
            );
        }
    }
}

/// A parent consented for a child old enough to be presumed able to consent themselves.
///
/// Source: `004 App.1`: "If a parent or legal guardian gives consent on behalf of a child,
/// assurances should be received that the child has authorised the action"; `004 FAQ`: "Do not
/// make children and young people feel that their right to help … is conditional on the
/// consent of their parents/carers"; `002 App.2` Q4.
pub mod r09_older_child_own_consent {
    use accord_domain::{ConsentGiver, ConsentStatus, Severity};

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;

    pub const ID: &str = "R09-older-child-own-consent";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "004 App.1, 002 App.2 Q4",
        summary: "A parent consented for a child at or over the capacity age.",
        severity: Severity::Advisory,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        let c = &cx.request.consent;
        if !cx.identifiable
            || c.status != ConsentStatus::Obtained
            || c.given_by != Some(ConsentGiver::ParentalResponsibility)
        {
            return;
        }
        let Some(age) = cx.child_age() else { return };
        if age >= u32::from(cx.protocol.capacity_age) {
            cx.flag(
                &INFO,
                format!(
                    "Consent was given by a parent, but the child is {age} and is presumed able \
                     to decide for themselves. Make sure the child has agreed too, and record \
                     their view; if they disagree, seek advice from your safeguarding lead."
                ),
            );
        }
    }
}

/// Consent was given with a stated scope: sharing must stay within it.
///
/// Source: `002 App.2` Q6: "Ensure they understand the limits of any consent which has been
/// given"; `004 App.1`: organisations record "limitations of consent to share".
pub mod r22_consent_scope_limited {
    use accord_domain::{ConsentStatus, Severity};

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;

    pub const ID: &str = "R22-consent-scope-limited";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "002 App.2 Q6, 004 App.1",
        summary: "Consent was given with a stated scope.",
        severity: Severity::Advisory,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        let c = &cx.request.consent;
        let scope = c.scope.trim();
        if cx.identifiable && c.status == ConsentStatus::Obtained && !scope.is_empty() {
            cx.flag(
                &INFO,
                format!(
                    "Consent was given with this limit: \"{scope}\". The holder should share \
                     only what falls within it; anything beyond it is shared without consent \
                     and needs its own justification."
                ),
            );
        }
    }
}

/// Special category data would be shared without consent: the protocol's further approvers
/// (a Caldicott Guardian for health data) must approve.
///
/// Source: `004 FAQ`: "Decisions to share without consent … must also be approved by an
/// appropriate supervisor or manager"; `004 FAQ` (public interest): "If you are working in the
/// NHS or a local authority the Caldicott Guardian …"; `002 1.13` (special category data).
pub mod r23_special_category_without_consent {
    use accord_domain::Severity;

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;
    use crate::rules::{list, role_name};

    pub const ID: &str = "R23-special-category-without-consent";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "004 FAQ, 002 1.13",
        summary: "Special category data would be shared without consent; the protocol's \
                  further approvers must approve.",
        severity: Severity::Warning,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        let Some(p) = cx.purpose else { return };
        if !cx.without_consent() || !cx.special_in_scope() {
            return;
        }
        let special = list(
            cx.in_scope()
                .filter(|(_, _, c)| c.special)
                .map(|(_, s, _)| s.req.category.as_str()),
        );
        let who = if p.approving_roles_without_consent.is_empty() {
            "an appropriate manager".to_owned()
        } else {
            format!(
                "the {}",
                list(
                    p.approving_roles_without_consent
                        .iter()
                        .map(|r| role_name(*r))
                )
            )
        };
        cx.flag(
            &INFO,
            format!(
                "Special category data ({special}) would be shared without consent. The decision \
                 must be approved by {who}, and the condition relied on recorded."
            ),
        );
    }
}

/// Information would be shared without consent: the protocol's further approvers must approve.
///
/// Source: `004 FAQ`: "Decisions to share without consent … must also be approved by an
/// appropriate supervisor or manager." Recorded so the requester knows why approval involves
/// more people. (Special category data is reported by R23 instead.)
pub mod r24_without_consent_approval {
    use accord_domain::Severity;

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;
    use crate::rules::{list, role_name};

    pub const ID: &str = "R24-without-consent-approval";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "004 FAQ",
        summary: "Information would be shared without consent; the protocol's further approvers \
                  must approve.",
        severity: Severity::Info,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        let Some(p) = cx.purpose else { return };
        if !cx.without_consent()
            || cx.special_in_scope()
            || p.approving_roles_without_consent.is_empty()
        {
            return;
        }
        cx.flag(
            &INFO,
            format!(
                "This would be shared without consent, so the protocol also needs approval by \
                 the {}.",
                list(
                    p.approving_roles_without_consent
                        .iter()
                        .map(|r| role_name(*r))
                )
            ),
        );
    }
}
