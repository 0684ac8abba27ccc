//! How much to share (`001 How`: "Identify how much information to share"): only categories the
//! purpose allows, each with its own reason, over a stated period, and no identifiable data
//! where anonymised data would do.

/// A requested category is not defined by the protocol: it is left out of the scope.
///
/// Source: `001 Necessary and proportionate`, `003 b)`: "Only the information required to have
/// the desired outcome should be shared". A category the protocol does not define cannot be
/// judged against any purpose, so it is trimmed rather than guessed at.
pub mod r10_category_unknown {
    use accord_domain::Severity;

    use crate::catalogue::RuleInfo;
    use crate::context::{Class, Cx};

    pub const ID: &str = "R10-category-unknown";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "001 Necessary and proportionate, 003 b)",
        summary: "A requested category is not defined by the protocol; it is trimmed.",
        severity: Severity::Advisory,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        for i in 0..cx.sought.len() {
            let s = cx.sought[i];
            if matches!(s.class, Class::Unknown) {
                cx.trim(
                    i,
                    &INFO,
                    format!(
                        "\"{}\" is not a data category in this protocol, so it has been left \
                         out. Check the name against the protocol's categories and ask again \
                         if you need it.",
                        s.req.category
                    ),
                );
            }
        }
    }
}

/// A requested category is not allowed for the purpose: it is left out of the scope.
///
/// Source: `001 Necessary and proportionate`: "Not sharing more data than is necessary to be of
/// use is a key element of the GDPR"; `001 Relevant`: "Only information that is relevant to the
/// purposes should be shared"; `003 b)`.
pub mod r10_category_not_allowed {
    use accord_domain::Severity;

    use crate::catalogue::RuleInfo;
    use crate::context::{Class, Cx};

    pub const ID: &str = "R10-category-not-allowed";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "001 Necessary and proportionate, 001 Relevant, 003 b)",
        summary: "A requested category is not allowed for the purpose; it is trimmed.",
        severity: Severity::Advisory,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        for i in 0..cx.sought.len() {
            let s = cx.sought[i];
            if let Class::NotAllowed(c) = s.class {
                cx.trim(
                    i,
                    &INFO,
                    format!(
                        "\"{}\" ({}) is not shared for the purpose {} under this protocol, so it \
                         has been left out. If you need it, it belongs to a different purpose: \
                         make a separate request under that purpose.",
                        c.description, c.id, cx.request.purpose
                    ),
                );
            }
        }
    }
}

/// Nothing requested can be shared for the purpose.
///
/// Source: `001 When` Q1 and `001 How`: sharing needs a purpose and the information that serves
/// it; a request left with nothing in scope after trimming has nothing for the holder to
/// approve, so it goes back to the requester.
pub mod r10_nothing_to_share {
    use accord_domain::Severity;

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;
    use crate::rules::list;

    pub const ID: &str = "R10-nothing-to-share";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "001 When Q1, 001 How",
        summary: "No requested category can be shared for the purpose.",
        severity: Severity::Blocking,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        let Some(p) = cx.purpose else { return };
        if cx.in_scope().next().is_some() {
            return;
        }
        let allowed = list(p.categories.iter().map(|c| c.as_str()));
        cx.flag(
            &INFO,
            format!(
                "None of the information asked for can be shared for {}, so there is nothing \
                 to approve. Ask for the categories this purpose covers ({allowed}), each with \
                 its reason.",
                p.id
            ),
        );
    }
}

/// Special category data is sought without a stated need.
///
/// Source: `002 1.13`, `002 6.1` (special category data is "sensitive and personal"), `002 6.4`
/// ("whether the sharing of the information is a necessary and proportionate response") and
/// `003 b)`: the holder must be able to confirm "that … it is necessary to share the
/// information". For special category data a missing reason is a bar, not a note.
pub mod r11_special_category_without_need {
    use accord_domain::Severity;

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;

    pub const ID: &str = "R11-special-category-without-need";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "002 1.13, 002 6.4, 003 b)",
        summary: "Special category data is sought without a stated need.",
        severity: Severity::Blocking,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        // Collected first: the scope is borrowed from the context the findings go into. An
        // empty Vec does not allocate, so the usual case costs nothing.
        let missing: Vec<usize> = cx
            .in_scope()
            .filter(|(_, s, c)| c.special && s.req.reason.trim().is_empty())
            .map(|(i, _, _)| i)
            .collect();
        for i in missing {
            let Some(c) = cx.sought[i].allowed() else {
                continue;
            };
            cx.flag_as(
                &INFO,
                INFO.severity,
                format!(
                    "\"{}\" is special category data and the request gives no reason for \
                     needing it. Say why this information is necessary for the purpose, or \
                     leave it out.",
                    c.description
                ),
                Some(c.id.clone()),
            );
        }
    }
}

/// A category is sought without its own reason.
///
/// Source: `003 b)` and `003 c)` ("what information you are intending to share … why"); `002
/// App.2` Q1: "Is the request proportionate to the purpose …? Can either party … show a
/// sufficient 'need to know'?" A warning for the IG lead, who may approve the category or not.
pub mod r11_category_without_reason {
    use accord_domain::Severity;

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;

    pub const ID: &str = "R11-category-without-reason";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "003 b), 003 c), 002 App.2 Q1",
        summary: "A category is sought without its own reason.",
        severity: Severity::Warning,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        let missing: Vec<usize> = cx
            .in_scope()
            .filter(|(_, s, c)| !c.special && s.req.reason.trim().is_empty())
            .map(|(i, _, _)| i)
            .collect();
        for i in missing {
            let Some(c) = cx.sought[i].allowed() else {
                continue;
            };
            cx.flag_as(
                &INFO,
                INFO.severity,
                format!(
                    "No reason is given for asking for \"{}\". Say why it is needed for this \
                     purpose, so the holder can judge whether to share it.",
                    c.description
                ),
                Some(c.id.clone()),
            );
        }
    }
}

/// Anonymised information would serve the purpose, yet identifiable information is sought.
///
/// Source: `002 App.2` Q1: "Is there another way to achieve the objective with less impact on
/// confidentiality? (e.g. would anonymous data suffice?)"; `001` myth-busting: "does all of the
/// personal information need to be shared to achieve the objective?"
pub mod r12_anonymised_would_suffice {
    use accord_domain::Severity;

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;

    pub const ID: &str = "R12-anonymised-would-suffice";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "002 App.2 Q1, 001 Myth-busting",
        summary: "Anonymised information would serve the purpose, yet identifiable information \
                  is sought.",
        severity: Severity::Blocking,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        if cx.request.anonymised_would_suffice && cx.identifiable {
            cx.flag(
                &INFO,
                "The request says anonymised information would serve the purpose, but it asks \
                 for information that identifies people. Ask for anonymised information \
                 instead (mark the subjects as not identifiable), or explain why identifiable \
                 information is needed after all."
                    .to_owned(),
            );
        }
    }
}

/// No period of records is stated.
///
/// Source: `001 Necessary and proportionate`: "you should consider how much information you
/// need to release … Information must be proportionate to the need and level of risk"; `004
/// FAQ` (past clients): share "only relevant information that responds to the risk identified
/// at this particular time". An open-ended history is rarely proportionate.
pub mod r20_records_period_not_stated {
    use accord_domain::Severity;

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;

    pub const ID: &str = "R20-records-period-not-stated";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "001 Necessary and proportionate, 004 FAQ",
        summary: "No start date is given for the records sought.",
        severity: Severity::Advisory,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        if cx.request.records_from.is_none() {
            cx.flag(
                &INFO,
                "The request does not say from when records are needed, so it asks for the \
                 whole history. Give the period that matters for the current concern; the \
                 holder may otherwise limit it."
                    .to_owned(),
            );
        }
    }
}
