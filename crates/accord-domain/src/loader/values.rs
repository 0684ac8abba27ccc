//! Parsers and helpers for single values of a protocol file: consent rules, dates,
//! durations, certificate fingerprints, and "did you mean" suggestions for unknown keys.

use std::collections::BTreeSet;
use std::str::FromStr;

use time::{Date, Duration};

use crate::protocol::ConsentRequirement;

pub(super) fn parse_consent(s: &str) -> Option<ConsentRequirement> {
    match s {
        "explicit" => Some(ConsentRequirement::Explicit),
        "sought" => Some(ConsentRequirement::Sought),
        "not_required" => Some(ConsentRequirement::NotRequired),
        _ => None,
    }
}

/// `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<Date> {
    Date::parse(
        s,
        &time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()
}

/// `30m`, `24h`, `10d`: a positive whole number of minutes, hours or days, at most 100 years.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let unit = s.chars().last()?;
    let per_unit: i64 = match unit {
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        _ => return None,
    };
    let num = &s[..s.len() - unit.len_utf8()];
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seconds = i64::from_str(num)
        .ok()
        .filter(|n| *n > 0)?
        .checked_mul(per_unit)?;
    (seconds <= 36_500 * 86_400).then(|| Duration::seconds(seconds))
}

/// The known key nearest to a misspelt one, if it is close enough to be the one meant: at most
/// two edits, or a third of the key's length for long keys.
pub(super) fn closest(key: &str, known: &BTreeSet<&'static str>) -> Option<&'static str> {
    let limit = (key.chars().count() / 3).max(2);
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, k)| k)
}

/// Levenshtein distance, in characters.
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// `scheme:rest` with an RFC 3986 scheme and no whitespace: what a SAN URI looks like.
pub(super) fn looks_like_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
        && !s.chars().any(char::is_whitespace)
}

/// Lowercase hex without separators, if it is 32 bytes of hex.
pub fn normalise_fingerprint(s: &str) -> Option<String> {
    let hex: String = s
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase();
    (hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit())).then_some(hex)
}
