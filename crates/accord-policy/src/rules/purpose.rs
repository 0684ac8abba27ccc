//! Is there a clear and legitimate purpose: one the protocol defines, with the necessity and the
//! expected outcome stated.

/// The purpose is not one the protocol allows sharing for.
///
/// Source: `001 When` Q1: "Is there a clear and legitimate purpose for sharing information? …
/// No – do not share"; `002 1.15`: "All information shared between agencies must have a defined
/// and justifiable purpose".
pub mod r01_purpose_not_in_protocol {
    use accord_domain::Severity;

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;
    use crate::rules::list;

    pub const ID: &str = "R01-purpose-not-in-protocol";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "001 When Q1, 002 1.15",
        summary: "The purpose is not defined by the protocol.",
        severity: Severity::Blocking,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        if cx.purpose.is_some() {
            return;
        }
        let purposes = list(cx.protocol.purposes.iter().map(|p| p.id.as_str()));
        cx.flag(
            &INFO,
            format!(
                "\"{}\" is not a purpose this protocol allows sharing for, so there is no clear \
                 and legitimate purpose and the information must not be shared. Choose the \
                 purpose that fits ({purposes}); if none does, do not share.",
                cx.request.purpose
            ),
        );
    }
}

/// The request does not say why sharing is necessary or what it is expected to achieve.
///
/// Source: `003 c)`: every request answers "why you are intending to share the information
/// (i.e. with what expected outcome)"; `002 App.2` Q1: "Why is the information being shared or
/// requested? Can either party … show a sufficient 'need to know'?"
pub mod r01_necessity_not_stated {
    use accord_domain::Severity;

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;

    pub const ID: &str = "R01-necessity-not-stated";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "003 c), 002 App.2 Q1",
        summary: "The request does not say why sharing is necessary or what it should achieve.",
        severity: Severity::Blocking,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        let r = cx.request;
        let missing = match (
            r.necessity_justification.trim().is_empty(),
            r.expected_outcome.trim().is_empty(),
        ) {
            (false, false) => return,
            (true, true) => "why the information is necessary or what sharing it should achieve",
            (true, false) => "why the information is necessary",
            (false, true) => "what sharing the information should achieve",
        };
        cx.flag(
            &INFO,
            format!(
                "The request does not say {missing}. The holder cannot judge necessity without \
                 it: explain the need to know and the expected outcome, then resubmit."
            ),
        );
    }
}
