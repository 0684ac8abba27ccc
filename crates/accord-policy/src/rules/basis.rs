//! On what legal basis (`003 c)`): the UK GDPR Article 6 basis, the DPA 2018 condition for
//! special category data and the statutory gateways must be ones the purpose allows, and a
//! basis that rests on consent needs the consent.

/// The Article 6 lawful basis is not one the purpose allows.
///
/// Source: `002 1.10`: "practitioners must first establish whether there is a legal basis to
/// share the information"; `003 c)`: each request states "the legal basis on which the
/// information is to be shared". The protocol lists the bases each purpose may rely on
/// (`003 d)`: Channel relies on Article 6(1)(e) public task).
pub mod r03_lawful_basis_not_allowed {
    use accord_domain::Severity;

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;
    use crate::rules::list;

    pub const ID: &str = "R03-lawful-basis-not-allowed";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "002 1.10, 003 c), 003 d)",
        summary: "The Article 6 lawful basis is not one the purpose allows.",
        severity: Severity::Blocking,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        let Some(p) = cx.purpose else { return };
        let basis = cx.request.lawful_basis.article6;
        if p.lawful_bases.contains(&basis) {
            return;
        }
        let allowed = list(p.lawful_bases.iter().map(|b| b.as_str()));
        cx.flag(
            &INFO,
            format!(
                "The protocol does not allow \"{basis}\" as the lawful basis for {}. Choose one it \
                 allows ({allowed}) that truly applies to this request.",
                p.id
            ),
        );
    }
}

/// A statutory gateway is claimed that the purpose does not rely on.
///
/// Source: `002 App.2` Q1: "Is there a legal basis or statutory duty for sharing the
/// information? (e.g. s47 of the Children Act 1989 or a court has made an order …)"; the
/// protocol lists the gateways each purpose may rely on, so a gateway from another purpose
/// (s47 for early help, say) means the purpose or the basis is wrong.
pub mod r03_gateway_not_allowed {
    use accord_domain::Severity;

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;
    use crate::rules::list;

    pub const ID: &str = "R03-gateway-not-allowed";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "002 App.2 Q1, 002 1.10",
        summary: "A statutory gateway is claimed that the purpose does not rely on.",
        severity: Severity::Blocking,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        let Some(p) = cx.purpose else { return };
        let gateways = &cx.request.lawful_basis.gateways;
        if gateways.iter().all(|g| p.gateways.contains(g)) {
            return;
        }
        let wrong = list(
            gateways
                .iter()
                .filter(|g| !p.gateways.contains(g))
                .map(|g| g.as_str()),
        );
        let allowed = list(p.gateways.iter().map(|g| g.as_str()));
        cx.flag(
            &INFO,
            format!(
                "The purpose {} does not rely on {wrong}. Remove it, or use the purpose that \
                 gateway belongs to. Gateways this purpose may rely on: {allowed}.",
                p.id
            ),
        );
    }
}

/// A statutory gateway is claimed by an agency, or at a level of need, that the protocol does not
/// allow for it.
///
/// Source: `002 App.2` Q1: "Is there a legal basis or statutory duty for sharing the
/// information? (e.g. s47 of the Children Act 1989 …) … Was the information obtained under a
/// specific statutory power or duty which limits what can be done with it and who the
/// information can be shared with?"; `001` (Legislative framework): safeguarding partners "can
/// require a person or body to comply with a request for information, as outlined in sections
/// 16H and 14B … This can only take place when the information requested is for the purpose of
/// enabling or assisting the safeguarding partners … to perform their functions". A gateway is
/// the power or duty of particular bodies in particular circumstances (s47: "reasonable cause
/// to suspect that a child … is suffering, or is likely to suffer, significant harm"), so the
/// protocol says who may claim each and at which levels of need (`[[gateway]]`, with the
/// documents' defaults for s47, s14B, s16H and s115). A claim outside that is refused and is no
/// statutory duty: it overrides no refusal of consent (R07) and supports no "not required"
/// (R08). A gateway the purpose does not rely on is R03-gateway-not-allowed's; s115 claimed by
/// a body that is not a relevant authority is R04's.
pub mod r03_gateway_claim_not_allowed {
    use accord_domain::{LevelOfNeed, Severity, StatutoryGateway};

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;
    use crate::rules::list;

    pub const ID: &str = "R03-gateway-claim-not-allowed";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "002 App.2 Q1, 001 Legislative framework",
        summary: "A statutory gateway is claimed by an agency, or at a level of need, that the \
                  protocol does not allow for it.",
        severity: Severity::Blocking,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        let Some(p) = cx.purpose else { return };
        // An agency that never signed is refused by R02; judging its claims would repeat that.
        let Some(requester) = cx.requester else {
            return;
        };
        let level = cx.request.level_of_need;
        for (i, &g) in cx.request.lawful_basis.gateways.iter().enumerate() {
            if !p.gateways.contains(&g) || cx.request.lawful_basis.gateways[..i].contains(&g) {
                continue;
            }
            let Some(rule) = cx.protocol.gateway_rule(g) else {
                continue;
            };
            let claimant_ok = rule.may_claim(requester)
                || (g == StatutoryGateway::Cda1998S115 && !requester.relevant_authority);
            let level_ok = rule.allows_level(level);
            if claimant_ok && level_ok {
                continue;
            }
            let mut who: Vec<String> = Vec::new();
            if !rule.agency_kinds.is_empty() {
                who.push(format!(
                    "agencies of kind {}",
                    list(rule.agency_kinds.iter().map(|k| k.as_str()))
                ));
            }
            if !rule.agencies.is_empty() {
                who.push(list(rule.agencies.iter().map(|a| a.as_str())));
            }
            if rule.relevant_authorities {
                who.push("relevant authorities".to_owned());
            }
            let levels = list(rule.levels_of_need.iter().map(|l| l.as_str()));
            let what = match (claimant_ok, level_ok) {
                (false, false) => format!(
                    "by {} ({}) at the level of need \"{level}\"",
                    requester.name, requester.kind
                ),
                (false, true) => format!("by {} ({})", requester.name, requester.kind),
                _ => format!("at the level of need \"{level}\""),
            };
            let hint = if !level_ok && level < LevelOfNeed::SignificantHarm {
                " If you have reasonable cause to suspect the child is suffering or likely to \
                 suffer significant harm, say so in the level of need and follow your \
                 safeguarding procedures."
            } else {
                ""
            };
            cx.flag(
                &INFO,
                format!(
                    "The protocol does not allow {g} to be claimed {what}: it may be claimed by \
                     {} at {levels} ({}). Remove it from the legal basis and rely on one that \
                     applies; a gateway claimed outside its rule is no statutory duty, so \
                     consent is judged as if it were not claimed.{hint}",
                    list(who.iter().map(String::as_str)),
                    rule.source,
                ),
            );
        }
    }
}

/// Special category data is sought without a DPA 2018 condition the purpose accepts.
///
/// Source: `002 1.13`: "Where practitioners need to share special category personal data they
/// should be aware that the Data Protection Act 2018 includes the 'safeguarding of children and
/// individuals at risk' as a condition"; `002 8.1`: be "confident of the processing conditions".
/// Anonymised information is not personal data (`002 App.2` Q2), so this applies only when the
/// information identifies someone.
pub mod r03_special_category_without_condition {
    use accord_domain::{Severity, SpecialCondition};

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;
    use crate::rules::list;

    pub const ID: &str = "R03-special-category-without-condition";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "002 1.13, 002 8.1",
        summary: "Special category data is sought without a DPA 2018 condition the purpose \
                  accepts.",
        severity: Severity::Blocking,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        let Some(p) = cx.purpose else { return };
        if !cx.identifiable || !cx.special_in_scope() {
            return;
        }
        let condition = cx.request.lawful_basis.special_condition;
        if condition != SpecialCondition::None && p.special_conditions.contains(&condition) {
            return;
        }
        let special = list(
            cx.in_scope()
                .filter(|(_, _, c)| c.special)
                .map(|(_, s, _)| s.req.category.as_str()),
        );
        let accepted = list(p.special_conditions.iter().map(|c| c.as_str()));
        let message = if condition == SpecialCondition::None {
            format!(
                "{special} is special category data, and the request gives no Data Protection \
                 Act 2018 condition for it. State the condition that applies (for \
                 safeguarding, usually \"safeguarding_children\"); accepted for {}: {accepted}.",
                p.id
            )
        } else {
            format!(
                "{special} is special category data, and the condition \"{condition}\" is not \
                 one the protocol accepts for {}. Use one it accepts ({accepted}), or leave \
                 these categories out.",
                p.id
            )
        };
        cx.flag(&INFO, message);
    }
}

/// The legal basis rests on consent that has not been (explicitly) obtained.
///
/// Source: UK GDPR Art 6(1)(a) and Art 9(2)(a), as the documents put them: `002 App.2` Q4:
/// "Consent must be freely given, informed and explicit"; `004 FAQ` (myth-busting): for
/// sensitive personal information, "if consent is necessary then it should be explicit". A
/// request cannot claim consent as its basis and not have it.
pub mod r21_consent_basis_without_consent {
    use accord_domain::{ConsentStatus, LawfulBasis, Severity, SpecialCondition};

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;

    pub const ID: &str = "R21-consent-basis-without-consent";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "002 App.2 Q4, 004 FAQ",
        summary: "Consent is claimed as the lawful basis (or explicit consent as the special \
                  category condition) but was not obtained.",
        severity: Severity::Blocking,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        if !cx.identifiable {
            return;
        }
        let claim = &cx.request.lawful_basis;
        let consent = &cx.request.consent;
        let status = consent.status;
        if claim.article6 == LawfulBasis::Consent && !cx.consent_valid {
            let why = if status == ConsentStatus::Obtained {
                "the consent recorded is not valid (see the other findings)".to_owned()
            } else {
                format!("consent is recorded as \"{status}\"")
            };
            cx.flag(
                &INFO,
                format!(
                    "The lawful basis given is consent, but {why}. Either obtain and record \
                     consent, or give the basis you actually rely on (for example public task)."
                ),
            );
        }
        if claim.special_condition == SpecialCondition::ExplicitConsent
            && cx.special_in_scope()
            && !(cx.consent_valid && consent.explicit)
        {
            cx.flag(
                &INFO,
                "The condition given for special category data is explicit consent, but \
                 explicit consent is not recorded. Record it (who gave it, when, and what it \
                 covers), or give the condition you actually rely on (for safeguarding, \
                 \"safeguarding_children\")."
                    .to_owned(),
            );
        }
    }
}
