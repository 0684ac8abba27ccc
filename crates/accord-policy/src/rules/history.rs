//! Earlier exchanges about the same child (`004 FAQ`: "If I'm asked, can I share the same
//! information again and again?"). The matching earlier exchanges are found once, when the
//! context is built (`Cx::repeat_of`, `Cx::open_duplicate`): one pass over the history.

/// The same requester asked the same holder about the same child for the same purpose within the
/// protocol's repeat window, and that exchange went ahead.
///
/// Source: `004 FAQ`: "Just because information has been shared once does not mean it is
/// appropriate for the same information to be shared repeatedly … Have circumstances changed
/// significantly? … Should consent be sought from the client again? Is the information still
/// relevant and accurate?"
pub mod r13_repeat_request {
    use accord_domain::Severity;

    use crate::catalogue::RuleInfo;
    use crate::context::Cx;

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
        cx.flag(
            &INFO,
            format!(
                "Your agency asked the same holder about this child for the same purpose on {} \
                 (exchange {}, now {}). Sharing once does not make sharing again right: say \
                 what has changed since, whether consent should be sought again, and why the \
                 earlier information is not enough. The holder should check that what it \
                 shares is still relevant and accurate.",
                prior.submitted_at.date(),
                prior.exchange_id,
                prior.state
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
