//! Timestamps, durations and `YYYY-MM-DD` dates on the wire.

use time::format_description::FormatItem;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

const DATE_FORMAT: &[FormatItem<'static>] = format_description!("[year]-[month]-[day]");

/// A `YYYY-MM-DD` date.
pub fn parse_date(s: &str) -> Option<Date> {
    if s.len() != 10 {
        return None;
    }
    Date::parse(s, DATE_FORMAT).ok()
}

/// A date as `YYYY-MM-DD`.
pub fn format_date(d: Date) -> String {
    d.format(DATE_FORMAT).unwrap_or_default()
}

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

pub fn duration(d: time::Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: d.whole_seconds(),
        nanos: d.subsec_nanoseconds(),
    }
}

/// Seconds (a store statistic) as a protobuf duration.
pub(super) fn duration_from_secs(secs: f64) -> prost_types::Duration {
    let whole = secs.trunc();
    prost_types::Duration {
        seconds: whole as i64,
        nanos: ((secs - whole) * 1e9) as i32,
    }
}

#[cfg(test)]
mod tests;
