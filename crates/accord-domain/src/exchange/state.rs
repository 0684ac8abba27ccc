//! The exchange state machine: the one transition table. Every state change an exchange
//! makes passes [`ExchangeState::apply`]; an action that is not allowed from the current
//! state is an error, never a silent no-op. Who may take an action, and what it records, is
//! decided on top of this table by [`super::Exchange::handle`].
//!
//! ```text
//! submitted ─assess─▶ refused
//!     └────────────▶ awaiting_approval ─ask─▶ more_info_requested ─answer─▶ awaiting_approval
//! awaiting_approval | escalated ─approve─▶ approved | ─approve part─▶ partly_approved
//!                               ─decline─▶ declined ─escalate (requester)─▶ escalated
//! awaiting_approval ─escalate (IG lead, or deadline passed)─▶ escalated
//! approved | partly_approved ─respond─▶ responded ─fetch─▶ delivered ─acknowledge─▶ acknowledged
//! acknowledged | declined | refused ─close─▶ closed
//! any open state before a response ─withdraw─▶ withdrawn;  more_info_requested | approved | partly_approved ─expire─▶ expired
//! ```

use serde::{Deserialize, Serialize};

/// Where an exchange stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExchangeState {
    Submitted,
    Refused,
    AwaitingApproval,
    MoreInfoRequested,
    Approved,
    PartlyApproved,
    Declined,
    Escalated,
    Responded,
    Delivered,
    Acknowledged,
    Closed,
    Withdrawn,
    Expired,
}

/// Something that happens to an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The policy check refused the request.
    Refuse,
    /// The policy check sent the request for approval.
    SendForApproval,
    AskForMoreInformation,
    AnswerInformationRequest,
    Approve,
    ApprovePart,
    Decline,
    /// Escalation by the IG lead, by the requester after a decline, or by the deadline job.
    Escalate,
    Respond,
    Fetch,
    Acknowledge,
    Close,
    Withdraw,
    Expire,
}

/// An action that is not allowed from a state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {action} an exchange that is {from}")]
pub struct InvalidTransition {
    pub from: ExchangeState,
    pub action: Action,
}

impl ExchangeState {
    pub const ALL: &'static [ExchangeState] = &[
        Self::Submitted,
        Self::Refused,
        Self::AwaitingApproval,
        Self::MoreInfoRequested,
        Self::Approved,
        Self::PartlyApproved,
        Self::Declined,
        Self::Escalated,
        Self::Responded,
        Self::Delivered,
        Self::Acknowledged,
        Self::Closed,
        Self::Withdrawn,
        Self::Expired,
    ];

    /// The one transition table.
    pub fn apply(self, action: Action) -> Result<ExchangeState, InvalidTransition> {
        use Action as A;
        use ExchangeState as S;
        let next = match (self, action) {
            (S::Submitted, A::Refuse) => S::Refused,
            (S::Submitted, A::SendForApproval) => S::AwaitingApproval,
            (S::AwaitingApproval | S::Escalated, A::AskForMoreInformation) => S::MoreInfoRequested,
            (S::MoreInfoRequested, A::AnswerInformationRequest) => S::AwaitingApproval,
            (S::AwaitingApproval | S::Escalated, A::Approve) => S::Approved,
            (S::AwaitingApproval | S::Escalated, A::ApprovePart) => S::PartlyApproved,
            (S::AwaitingApproval | S::Escalated, A::Decline) => S::Declined,
            (S::AwaitingApproval | S::Declined, A::Escalate) => S::Escalated,
            (S::Approved | S::PartlyApproved, A::Respond) => S::Responded,
            (S::Responded, A::Fetch) => S::Delivered,
            // Fetching again (before or after acknowledging) is allowed and changes nothing:
            // the requester may need to re-read what it received while it is retained.
            (S::Delivered, A::Fetch) => S::Delivered,
            (S::Acknowledged, A::Fetch) => S::Acknowledged,
            (S::Delivered, A::Acknowledge) => S::Acknowledged,
            (S::Acknowledged | S::Declined | S::Refused, A::Close) => S::Closed,
            (
                S::Submitted
                | S::AwaitingApproval
                | S::MoreInfoRequested
                | S::Escalated
                | S::Declined
                | S::Approved
                | S::PartlyApproved,
                A::Withdraw,
            ) => S::Withdrawn,
            (S::MoreInfoRequested | S::Approved | S::PartlyApproved, A::Expire) => S::Expired,
            (from, action) => return Err(InvalidTransition { from, action }),
        };
        Ok(next)
    }

    /// No further action can change it.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Closed | Self::Withdrawn | Self::Expired)
    }

    /// Whether the holding agency may see the exchange. A request the policy check refused
    /// ("do not share", `001 When`) never reached the holder, so it is its requester's alone.
    pub fn visible_to_holder(self) -> bool {
        self != Self::Refused
    }

    /// Waiting on the holding agency's decision, so subject to the response deadline.
    pub fn awaits_decision(self) -> bool {
        matches!(self, Self::AwaitingApproval | Self::Escalated)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::Refused => "refused",
            Self::AwaitingApproval => "awaiting_approval",
            Self::MoreInfoRequested => "more_info_requested",
            Self::Approved => "approved",
            Self::PartlyApproved => "partly_approved",
            Self::Declined => "declined",
            Self::Escalated => "escalated",
            Self::Responded => "responded",
            Self::Delivered => "delivered",
            Self::Acknowledged => "acknowledged",
            Self::Closed => "closed",
            Self::Withdrawn => "withdrawn",
            Self::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|st| st.as_str() == s)
    }
}

impl std::fmt::Display for ExchangeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Refuse => "refuse",
            Self::SendForApproval => "send_for_approval",
            Self::AskForMoreInformation => "ask_for_more_information",
            Self::AnswerInformationRequest => "answer_information_request",
            Self::Approve => "approve",
            Self::ApprovePart => "approve_part",
            Self::Decline => "decline",
            Self::Escalate => "escalate",
            Self::Respond => "respond",
            Self::Fetch => "fetch",
            Self::Acknowledge => "acknowledge",
            Self::Close => "close",
            Self::Withdraw => "withdraw",
            Self::Expire => "expire",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action as A;
    use ExchangeState as S;

    #[test]
    fn lifecycle_of_a_part_approved_exchange() {
        let mut s = S::Submitted;
        for a in [
            A::SendForApproval,
            A::AskForMoreInformation,
            A::AnswerInformationRequest,
            A::ApprovePart,
            A::Respond,
            A::Fetch,
            A::Acknowledge,
            A::Close,
        ] {
            s = s.apply(a).unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(s, S::Closed);
    }

    #[test]
    fn decline_can_be_escalated_and_then_approved() {
        let s = S::AwaitingApproval.apply(A::Decline).unwrap();
        let s = s.apply(A::Escalate).unwrap();
        assert_eq!(s.apply(A::Approve), Ok(S::Approved));
    }

    #[test]
    fn invalid_transitions_are_errors() {
        assert_eq!(
            S::Refused.apply(A::Approve),
            Err(InvalidTransition {
                from: S::Refused,
                action: A::Approve
            })
        );
        assert!(S::Responded.apply(A::Withdraw).is_err());
        assert!(S::AwaitingApproval.apply(A::Respond).is_err());
        for s in S::ALL.iter().filter(|s| s.is_terminal()) {
            for a in [A::Approve, A::Respond, A::Withdraw, A::Escalate, A::Close] {
                assert!(s.apply(a).is_err(), "{s} accepted {a}");
            }
        }
    }

    #[test]
    fn refused_requests_are_hidden_from_the_holder() {
        assert!(!S::Refused.visible_to_holder());
        for s in S::ALL {
            if *s != S::Refused {
                assert!(s.visible_to_holder(), "{s}");
            }
        }
    }

    #[test]
    fn state_names_round_trip() {
        for s in S::ALL {
            assert_eq!(S::parse(s.as_str()), Some(*s));
        }
    }
}
