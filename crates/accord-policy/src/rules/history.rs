//! Earlier exchanges about the same child (`004 FAQ`: "If I'm asked, can I share the same
//! information again and again?"). The matching earlier exchanges are found once, when the
//! context is built (`Cx::repeat_of`, `Cx::related_to`, `Cx::open_duplicate`): one pass over the
//! history.

use time::OffsetDateTime;

/// When an earlier exchange was, for a message: its date and how long ago.
fn when(then: OffsetDateTime, now: OffsetDateTime) -> String {
    let days = (now - then).whole_days();
    match days {
        i64::MIN..=0 => format!("{} (today)", then.date()),
        1 => format!("{} (yesterday)", then.date()),
        d => format!("{} ({d} days ago)", then.date()),
    }
}

/// The same requester asked the same holder about the same child for the same purpose within the
/// protocol's repeat window, that exchange went ahead, and this request seeks at least one of the
/// categories it concerned (its approved scope, or what it requested when nothing was approved;
/// an exchange whose categories are not known counts as concerning them all). The finding names
/// the categories sought again and when the earlier exchange was.
///
/// Source: `004 FAQ`: "Just because information has been shared once does not mean it is
/// appropriate for the same information to be shared repeatedly … Have circumstances changed
/// significantly? … Should consent be sought from the client again? Is the information still
/// relevant and accurate?"
pub mod r13_repeat_request {
    use accord_domain::Severity;

    use crate::catalogue::RuleInfo;
    use crate::context::{sought_again, Cx};
    use crate::rules::list;

    pub const ID: &str = "R13-repeat-request";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "004 FAQ",
        summary: "The same information about the same child was exchanged for the same purpose \
                  within the protocol's repeat window.",
        severity: Severity::Warning,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        let Some(prior) = cx.repeat_of else {
            return;
        };
        let again = sought_again(cx.request, prior);
        let what = if again.is_empty() {
            "The categories it concerned are not recorded, so treat it as the same information."
                .to_owned()
        } else {
            format!("This request seeks {} again.", list(again))
        };
        cx.flag(
            &INFO,
            format!(
                "Your agency asked the same holder about this child for the same purpose on {} \
                 (exchange {}, now {}). {what} Sharing once does not make sharing again right: \
                 say what has changed since, whether consent should be sought again, and why \
                 the earlier information is not enough. The holder should check that what it \
                 shares is still relevant and accurate.",
                super::when(prior.submitted_at, cx.now),
                prior.exchange_id,
                prior.state
            ),
        );
    }
}

/// As R13-repeat-request, but the earlier exchange concerned none of the categories sought now:
/// the same information is not being shared again, so this is recorded for the file (the holder
/// may want to read the two together), not a warning. Not reported when a repeat is.
///
/// Source: `004 FAQ` (repeat sharing): "Have circumstances changed significantly?" A related
/// earlier exchange is part of the picture the holder judges relevance against.
pub mod r13_related_request {
    use accord_domain::Severity;

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;
    use crate::rules::list;

    pub const ID: &str = "R13-related-request";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "004 FAQ",
        summary: "Other information about the same child was exchanged for the same purpose \
                  within the protocol's repeat window.",
        severity: Severity::Info,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        if cx.repeat_of.is_some() {
            return;
        }
        let Some(prior) = cx.related_to else {
            return;
        };
        cx.flag(
            &INFO,
            format!(
                "Your agency asked the same holder about this child for the same purpose on {} \
                 (exchange {}, now {}), about {}: none of the categories sought now. Recorded \
                 for the file; the holder may read the two together.",
                super::when(prior.submitted_at, cx.now),
                prior.exchange_id,
                prior.state,
                list(prior.categories.iter().map(|c| c.as_str()))
            ),
        );
    }
}

/// An earlier request from the same requester to the same holder about the same child for the
/// same purpose is still in progress.
///
/// Source: `004 FAQ` (repeat requests): "you need to revisit … and determine the purpose of this
/// new information sharing request". Two open requests for the same thing split the holder's
/// decision; one should be withdrawn or the new one should say how it differs.
pub mod r13_duplicate_open_request {
    use accord_domain::Severity;

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;

    pub const ID: &str = "R13-duplicate-open-request";
    pub const INFO: RuleInfo = RuleInfo {
        id: ID,
        source: "004 FAQ",
        summary: "An earlier request for the same child and purpose is still in progress.",
        severity: Severity::Advisory,
    };

    pub(crate) fn check(cx: &mut Cx<'_>) {
        let Some(prior) = cx.open_duplicate else {
            return;
        };
        cx.flag(
            &INFO,
            format!(
                "A request from your agency to the same holder about this child for the same \
                 purpose is still in progress (exchange {}, made on {}). Withdraw one of them, \
                 or say in this request how it differs.",
                prior.exchange_id,
                prior.submitted_at.date()
            ),
        );
    }
}
