use time::macros::datetime;

use super::*;

#[test]
fn dates_and_times() {
    assert_eq!(
        parse_date("2025-02-28").map(format_date).as_deref(),
        Some("2025-02-28")
    );
    assert_eq!(parse_date("2025-02-30"), None);
    assert_eq!(parse_date("25-02-28"), None);
    assert_eq!(parse_date("2025-2-8"), None);
    let t = datetime!(2025-06-01 12:00:00.5 UTC);
    assert_eq!(from_timestamp(&timestamp(t)), Some(t));
    let d = duration_from_secs(90.25);
    assert_eq!((d.seconds, d.nanos), (90, 250_000_000));
}
