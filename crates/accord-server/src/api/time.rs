//! Timestamps, durations and `YYYY-MM-DD` dates on the wire.

pub use accord_proto::wire::{format_date, from_timestamp, parse_date, timestamp};

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
