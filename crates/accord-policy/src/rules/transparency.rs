//! Where the information goes next, and whether the child or family will be told.

/// The requester intends to pass the information on to a body that is not an active signatory.
///
/// Source: `002 App.2` Q1: "Will the request involve secondary disclosure? (Disclosure by the
/// person to whom data has been disclosed to another agency or person …)"; Q6: "Establish with
/// the recipient whether they intend to pass it on to other people". A body outside the
/// protocol has not agreed to its terms, so the IG lead decides whether to allow it.
pub mod r14_onward_disclosure_non_signatory {
    use accord_domain::{Severity, SignatoryStatus};

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;
    use crate::rules::list;

    pub const ID: &str = "R14-onward-disclosure-non-signatory";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "002 App.2 Q1, 002 App.2 Q6",
        summary: "Onward disclosure is intended to a body that is not an active signatory.",
        severity: Severity::Warning,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        let onward = &cx.request.onward_disclosure;
        if !onward.intended {
            return;
        }
        let is_signatory = |name: &str| {
            let name = name.trim();
            cx.protocol
                .signatories
                .iter()
                .any(|s| s.agency_id.as_str() == name && s.status == SignatoryStatus::Active)
        };
        if !onward.recipients.is_empty() && onward.recipients.iter().all(|r| is_signatory(r)) {
            return;
        }
        let message = if onward.recipients.is_empty() {
            "The request says the information will be passed on, but does not say to whom. \
             Name every body it would go to; the holder's IG lead decides whether onward \
             disclosure is allowed."
                .to_owned()
        } else {
            let outside = || {
                onward
                    .recipients
                    .iter()
                    .map(String::as_str)
                    .filter(|r| !is_signatory(r))
            };
            let verb = if outside().count() > 1 { "are" } else { "is" };
            format!(
                "The request says the information will be passed on to {}, which {verb} not \
                 an active signatory of this protocol. The holder's IG lead must decide whether \
                 to allow that, and may attach a condition of no onward disclosure.",
                list(outside()),
            )
        };
        cx.flag(&INFO, message);
    }
}

/// The child or family will not be told, and no reason is given.
///
/// Source: `001 How`: "Where possible, be transparent with the individual, informing them that
/// the information has been shared, as long as doing so does not create or increase the risk of
/// harm"; `002 App.2` Q5: "this should be explained to the child or their parent, unless to do
/// so would put the child at risk of harm".
pub mod r15_not_informing_without_reason {
    use accord_domain::Severity;

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;

    pub const ID: &str = "R15-not-informing-without-reason";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "001 How, 002 App.2 Q5",
        summary: "The child or family will not be told, and no reason is given.",
        severity: Severity::Warning,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        let n = &cx.request.notification;
        if cx.identifiable && !n.will_inform && n.reason_not_informing.trim().is_empty() {
            cx.flag(
                &INFO,
                "The request says the child or family will not be told, but gives no reason. \
                 Be open with them unless telling them would create or increase the risk of \
                 harm; if that is the reason, record it in the request."
                    .to_owned(),
            );
        }
    }
}
