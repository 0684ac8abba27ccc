//! The decision record: what the broker keeps of why information was asked for and shared,
//! after the shared content itself is purged, and for how long.
//!
//! `001 Record` and `002 5.2` ("Record"): sharing decisions are recorded with their rationale,
//! whether or not the decision is to share. `002 App.2 Q5`: the record holds "the context in
//! which the information was shared, the legal basis …, the perceived level of risk of harm at
//! the time, the data requested, the data shared and with whom"; `Q7`: "who gave consent
//! (dated and timed)". Content is kept no longer than needed (`002 App.1`, a purpose's
//! `retention_days`); the record of the decision is kept for the protocol's
//! [`RecordRetention`], which the loader checks is not shorter than any purpose's content
//! retention.
//!
//! The record is the request's reasons ([`RequestReasons`], taken from the request at
//! submission) together with the decisions and their reasons (the exchange's `decisions`).

use std::fmt;

use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime};

use crate::enums::{LevelOfNeed, Urgency};
use crate::ids::ProtocolId;
use crate::protocol::add_months;
use crate::request::{
    CategoryRequest, Consent, LawfulBasisClaim, OnwardDisclosure, Practitioner, Request,
    SubjectNotification,
};

/// How long a decision record is kept, counted from the request's submission: a whole number
/// of calendar years or of days, written `"6y"` or `"2190d"` in a protocol file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordRetention {
    Days(u32),
    Years(u32),
}

impl RecordRetention {
    /// Six years when a protocol does not say: the documents leave the period to each
    /// organisation's retention policy (`002 5.2` Record), so this default is ours.
    pub const DEFAULT: Self = Self::Years(6);
    /// At most a hundred years, the same bound as a protocol's durations (36500 days).
    pub const MAX_YEARS: u32 = 100;
    pub const MAX_DAYS: u32 = 36_500;

    /// `"6y"` or `"2190d"`: a positive whole number and `y` (calendar years) or `d` (days),
    /// no spaces, at most 100 years or 36500 days.
    pub fn parse(s: &str) -> Option<Self> {
        let number = |num: &str| -> Option<u32> {
            if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            num.parse().ok().filter(|n| *n > 0)
        };
        if let Some(n) = s.strip_suffix('y').and_then(number) {
            return (n <= Self::MAX_YEARS).then_some(Self::Years(n));
        }
        let n = s.strip_suffix('d').and_then(number)?;
        (n <= Self::MAX_DAYS).then_some(Self::Days(n))
    }

    /// The instant until which a record begun at `from` is kept. Years are calendar years
    /// (29 February becomes 28 February in a year that has none).
    pub fn keep_until(self, from: OffsetDateTime) -> OffsetDateTime {
        match self {
            Self::Days(n) => from.saturating_add(Duration::days(i64::from(n))),
            Self::Years(n) => from.replace_date(add_months(from.date(), n.saturating_mul(12))),
        }
    }

    /// The fewest days the period can be (a year counted as 365 days), for comparing it with
    /// a purpose's content retention.
    pub fn at_least_days(self) -> u32 {
        match self {
            Self::Days(n) => n,
            Self::Years(n) => n.saturating_mul(365),
        }
    }
}

impl Default for RecordRetention {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for RecordRetention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Days(n) => write!(f, "{n}d"),
            Self::Years(n) => write!(f, "{n}y"),
        }
    }
}

/// The request's reasons as the decision record keeps them: who asked and under which
/// protocol, why it was necessary and what it should achieve, the perceived level of risk
/// at the time, the legal basis, the consent position and who gave consent (dated), the
/// categories sought each with its reason, the period of records sought, whether anonymised
/// data would do, onward disclosure and whether the family will be told.
///
/// Left out: the child's and other people's names, identifiers, dates of birth and
/// relationships, which identify rather than explain; they go with the request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestReasons {
    pub protocol_id: ProtocolId,
    pub protocol_version: String,
    /// Who asked.
    pub practitioner: Practitioner,
    pub necessity_justification: String,
    pub expected_outcome: String,
    /// The perceived level of risk at the time (`002 App.2 Q5`).
    pub level_of_need: LevelOfNeed,
    pub risk_summary: String,
    pub lawful_basis: LawfulBasisClaim,
    /// Consent and who gave it, dated; why it was not sought or not required; the public
    /// interest that justified sharing without it (`002 App.2 Q5`).
    pub consent: Consent,
    /// The data requested, each category with its reason.
    pub categories: Vec<CategoryRequest>,
    pub records_from: Option<Date>,
    pub records_to: Option<Date>,
    pub anonymised_would_suffice: bool,
    pub urgency: Urgency,
    pub onward_disclosure: OnwardDisclosure,
    pub notification: SubjectNotification,
}

impl RequestReasons {
    /// The reasons of `request`, as recorded at its submission.
    pub fn of(request: &Request) -> Self {
        Self {
            protocol_id: request.protocol_id.clone(),
            protocol_version: request.protocol_version.clone(),
            practitioner: request.practitioner.clone(),
            necessity_justification: request.necessity_justification.clone(),
            expected_outcome: request.expected_outcome.clone(),
            level_of_need: request.level_of_need,
            risk_summary: request.risk_summary.clone(),
            lawful_basis: request.lawful_basis.clone(),
            consent: request.consent.clone(),
            categories: request.categories.clone(),
            records_from: request.records_from,
            records_to: request.records_to,
            anonymised_would_suffice: request.anonymised_would_suffice,
            urgency: request.urgency,
            onward_disclosure: request.onward_disclosure.clone(),
            notification: request.notification.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn retention_parses_years_and_days_only() {
        assert_eq!(
            RecordRetention::parse("6y"),
            Some(RecordRetention::Years(6))
        );
        assert_eq!(
            RecordRetention::parse("2190d"),
            Some(RecordRetention::Days(2190))
        );
        assert_eq!(
            RecordRetention::parse("100y"),
            Some(RecordRetention::Years(100))
        );
        for bad in [
            "",
            "y",
            "0y",
            "0d",
            "101y",
            "36501d",
            "6",
            "6 y",
            " 6y",
            "6Y",
            "-6y",
            "6.5y",
            "24h",
            "30m",
            "six years",
            "6yy",
            "٣y",
            "6٣",
        ] {
            assert_eq!(RecordRetention::parse(bad), None, "{bad:?}");
        }
        for r in [RecordRetention::Years(6), RecordRetention::Days(30)] {
            assert_eq!(RecordRetention::parse(&r.to_string()), Some(r));
        }
    }

    #[test]
    fn years_are_calendar_years_and_days_are_days() {
        let t = datetime!(2024-02-29 10:30 UTC);
        assert_eq!(
            RecordRetention::Years(6).keep_until(t),
            datetime!(2030-02-28 10:30 UTC)
        );
        assert_eq!(
            RecordRetention::Years(4).keep_until(t),
            datetime!(2028-02-29 10:30 UTC)
        );
        assert_eq!(
            RecordRetention::Days(30).keep_until(t),
            datetime!(2024-03-30 10:30 UTC)
        );
        assert_eq!(RecordRetention::default(), RecordRetention::Years(6));
        assert_eq!(RecordRetention::Years(6).at_least_days(), 2190);
    }
}
