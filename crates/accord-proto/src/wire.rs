//! Wire representations shared by the broker and its clients: `google.protobuf.Timestamp` ↔
//! [`OffsetDateTime`], and dates as the `YYYY-MM-DD` strings the API carries.

use time::format_description::FormatItem;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

const DATE_FORMAT: &[FormatItem<'static>] = format_description!("[year]-[month]-[day]");

/// A date as `YYYY-MM-DD`.
/// A `YYYY-MM-DD` date, exactly ten characters.
pub fn parse_date(s: &str) -> Option<Date> {
    if s.len() != 10 {
        return None;
    }
    Date::parse(s, DATE_FORMAT).ok()
}

pub fn format_date(d: Date) -> String {
    d.format(DATE_FORMAT).unwrap_or_default()
}

/// An instant as a protobuf timestamp.
pub fn timestamp(t: OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.unix_timestamp(),
        nanos: i32::try_from(t.nanosecond()).unwrap_or(0),
    }
}

/// A protobuf timestamp as an instant; `None` when out of range.
pub fn from_timestamp(t: &prost_types::Timestamp) -> Option<OffsetDateTime> {
    let nanos = i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos);
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn timestamps_round_trip_to_the_nanosecond() {
        let t = datetime!(2025-06-01 12:34:56.123456789 UTC);
        let ts = timestamp(t);
        assert_eq!(ts.nanos, 123_456_789);
        assert_eq!(from_timestamp(&ts), Some(t));
    }

    #[test]
    fn out_of_range_timestamp_is_none() {
        let ts = prost_types::Timestamp {
            seconds: i64::MAX,
            nanos: 0,
        };
        assert_eq!(from_timestamp(&ts), None);
    }

    #[test]
    fn dates_are_iso() {
        assert_eq!(format_date(date!(2024 - 01 - 09)), "2024-01-09");
    }
}
