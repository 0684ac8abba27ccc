//! Counts for auditors and the partnership: exchanges by state, purpose and agency pair,
//! decision times, and how many are overdue.

use time::OffsetDateTime;

use crate::db::dispatch;
use crate::records::{self, to_us, u64_of};
use crate::{Result, Stats, Store};

impl Store {
    /// Counts over the exchanges created in [`from`, `to`) (either open-ended when `None`);
    /// overdue as of `now`.
    pub async fn stats(
        &self,
        from: Option<OffsetDateTime>,
        to: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<Stats> {
        let from = from.map(to_us).transpose()?.unwrap_or(i64::MIN);
        let to = to.map(to_us).transpose()?.unwrap_or(i64::MAX);
        let db = &self.inner.db;
        let mut stats = Stats::default();
        for (state, _, n) in dispatch!(db, count_by("state", from, to))? {
            stats
                .by_state
                .push((records::parse_state(&state)?, u64_of(n, "count")?));
        }
        for (purpose, _, n) in dispatch!(db, count_by("purpose", from, to))? {
            stats
                .by_purpose
                .push((records::parse_purpose(&purpose)?, u64_of(n, "count")?));
        }
        for (req, hold, n) in
            dispatch!(db, count_by("requesting_agency, holding_agency", from, to))?
        {
            stats.by_agency_pair.push((
                records::parse_agency(&req)?,
                records::parse_agency(&hold)?,
                u64_of(n, "count")?,
            ));
        }
        let mut times = dispatch!(db, decision_times(from, to))?;
        times.sort_unstable();
        stats.decided = times.len() as u64;
        stats.decision_seconds_p50 = percentile(&times, 0.50);
        stats.decision_seconds_p90 = percentile(&times, 0.90);
        stats.overdue = u64_of(
            dispatch!(db, overdue_count(from, to, to_us(now)?))?,
            "count",
        )?;
        Ok(stats)
    }
}

/// Nearest-rank percentile of sorted microsecond durations, in seconds.
fn percentile(sorted_us: &[i64], q: f64) -> Option<f64> {
    if sorted_us.is_empty() {
        return None;
    }
    let rank = ((q * sorted_us.len() as f64).ceil() as usize).clamp(1, sorted_us.len());
    Some(sorted_us[rank - 1] as f64 / 1e6)
}
