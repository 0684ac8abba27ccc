//! The one validation vocabulary: a field violation, the one bounded collector every layer
//! reports input problems through ([`Violations`]), and the one table of limits
//! ([`limits`]). The server maps a list of violations to `google.rpc.BadRequest`.

use serde::{Deserialize, Serialize};

/// One problem with one field of a message: `field` is a path such as `categories[2].reason`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldViolation {
    pub field: String,
    pub reason: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The violation that closes a list cut at [`MAX_VIOLATIONS`]: it names no field.
    pub fn more_problems() -> Self {
        FieldViolation::new("", MORE_PROBLEMS)
    }

    pub fn is_more_problems(&self) -> bool {
        self.field.is_empty() && self.reason == MORE_PROBLEMS
    }
}

impl std::fmt::Display for FieldViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

/// Most violations one message reports; further problems are summed up by one final
/// [`FieldViolation::more_problems`], so a message with millions of bad elements costs no
/// more to answer than one with a hundred.
pub const MAX_VIOLATIONS: usize = 100;

/// The reason of the final violation that stands for the problems not reported.
pub const MORE_PROBLEMS: &str = "… and more problems";

/// Whether `out` is closed: it ends with [`FieldViolation::more_problems`].
pub fn violations_full(out: &[FieldViolation]) -> bool {
    out.last().is_some_and(FieldViolation::is_more_problems)
}

/// Adds `v` to `out`, which holds at most [`MAX_VIOLATIONS`] violations and then one
/// [`FieldViolation::more_problems`]; anything pushed after that is dropped.
pub fn push_violation(out: &mut Vec<FieldViolation>, v: FieldViolation) {
    if violations_full(out) {
        return;
    }
    if out.len() >= MAX_VIOLATIONS || v.is_more_problems() {
        out.push(FieldViolation::more_problems());
    } else {
        out.push(v);
    }
}

/// The limits of the API's input, in one table. Text lengths are in characters.
pub mod limits {
    /// A free-text field of a request (reasons, justification, consent scope, …).
    pub const TEXT: usize = 8 * 1024;
    /// An approver's note on a decision, a requester's reason for withdrawing.
    pub const NOTE: usize = 2000;
    /// A reason for escalating or disputing a decline.
    pub const REASON: usize = 4000;
    /// A decline reason or a question, each.
    pub const DECISION_TEXT: usize = 2000;
    /// Decline reasons or questions in one decision.
    pub const DECISION_TEXTS: usize = 20;
    /// An answer to a request for more information.
    pub const ANSWER: usize = 8000;
    /// An idempotency key: 1 to this many characters.
    pub const IDEMPOTENCY_KEY: usize = 128;
    /// Categories one request may seek.
    pub const CATEGORIES: usize = 50;
    /// Identifiers per subject, other people per request, onward recipients.
    pub const LIST: usize = 20;
    /// Largest page a listing returns.
    pub const PAGE_SIZE: u32 = 500;
    /// Page size when the client leaves it at 0.
    pub const DEFAULT_PAGE_SIZE: u32 = 50;
    /// Longest page token the broker issues.
    pub const PAGE_TOKEN: usize = 1024;
}

/// Collects the violations of one message: at most [`MAX_VIOLATIONS`], then one "… and more
/// problems". Every check that reports bad input reports it here, in the order it runs.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn push(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        if !self.is_full() {
            push_violation(&mut self.0, FieldViolation::new(field, reason));
        }
    }

    pub fn extend(&mut self, v: impl IntoIterator<Item = FieldViolation>) {
        for v in v {
            if self.is_full() {
                break;
            }
            push_violation(&mut self.0, v);
        }
    }

    /// Whether no more violations are recorded (the cap was reached): element loops stop.
    pub fn is_full(&self) -> bool {
        violations_full(&self.0)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_slice(&self) -> &[FieldViolation] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<FieldViolation> {
        self.0
    }

    /// Text of `min..=max` characters; `min == 0` makes it optional. Never repeats the value.
    pub fn text(&mut self, field: &str, value: &str, min: usize, max: usize) {
        let n = value.chars().count();
        if min > 0 && value.trim().is_empty() {
            self.push(field, "is required");
        } else if n > max {
            self.push(
                field,
                format!("must be at most {max} characters (found {n})"),
            );
        }
    }

    /// Non-blank text of at most [`limits::TEXT`] characters.
    pub fn required_text(&mut self, field: &str, value: &str) {
        self.text(field, value, 1, limits::TEXT);
    }

    /// Optional text of at most [`limits::TEXT`] characters.
    pub fn optional_text(&mut self, field: &str, value: &str) {
        self.text(field, value, 0, limits::TEXT);
    }

    /// A list of `min..=max_items` texts of 1 to `max_len` characters each. A list over
    /// `max_items` is one violation: its elements are not looked at.
    pub fn text_list(
        &mut self,
        field: &str,
        values: &[String],
        min: usize,
        max_items: usize,
        max_len: usize,
    ) {
        if !self.list_len(field, values.len(), max_items) {
            return;
        }
        if values.len() < min {
            self.push(field, format!("at least {min} required"));
        }
        for (i, v) in values.iter().enumerate() {
            if self.is_full() {
                break;
            }
            self.text(&format!("{field}[{i}]"), v, 1, max_len);
        }
    }

    /// Checks a list's length before its elements: a list of more than `max` entries is
    /// reported once, and `false` tells the caller not to look at its elements.
    pub fn list_len(&mut self, field: &str, len: usize, max: usize) -> bool {
        self.list_len_of(field, len, max, "entries")
    }

    /// [`Self::list_len`] naming what the list holds (`at most 20 people`).
    pub fn list_len_of(&mut self, field: &str, len: usize, max: usize, what: &str) -> bool {
        if len > max {
            self.push(field, format!("at most {max} {what} (found {len})"));
            return false;
        }
        true
    }

    /// `Ok` when nothing was reported, else every violation.
    pub fn finish(self) -> Result<(), Vec<FieldViolation>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }
}

/// A client's idempotency key: 1 to [`limits::IDEMPOTENCY_KEY`] characters, not blank. A retry
/// with the same key (from the same agency) returns the first exchange.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(s: &str) -> Result<Self, String> {
        let n = s.chars().count();
        if s.trim().is_empty() {
            Err("is required".into())
        } else if n > limits::IDEMPOTENCY_KEY {
            Err(format!(
                "must be at most {} characters (found {n})",
                limits::IDEMPOTENCY_KEY
            ))
        } else {
            Ok(IdempotencyKey(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for IdempotencyKey {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<&str> for IdempotencyKey {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl std::fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_counted_in_characters() {
        let mut v = Violations::default();
        v.text("a", "", 1, 10);
        v.text("b", "   ", 1, 10);
        v.text("c", "", 0, 10);
        v.text("d", "ééééé", 1, 4);
        v.text("e", "éééé", 1, 4);
        let fields: Vec<&str> = v.as_slice().iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["a", "b", "d"]);
        assert_eq!(
            v.as_slice()[2].reason,
            "must be at most 4 characters (found 5)"
        );
    }

    #[test]
    fn the_collector_is_bounded() {
        let mut v = Violations::default();
        v.extend((0..1_000_000).map(|i| FieldViolation::new(format!("x{i}"), "bad")));
        v.push("late", "dropped");
        let all = v.into_vec();
        assert_eq!(all.len(), MAX_VIOLATIONS + 1);
        assert!(all[MAX_VIOLATIONS].is_more_problems());
    }

    #[test]
    fn idempotency_keys_are_bounded() {
        assert!(IdempotencyKey::parse("k-1").is_ok());
        assert!(IdempotencyKey::parse(" ").is_err());
        assert!(IdempotencyKey::parse(&"é".repeat(128)).is_ok());
        assert!(IdempotencyKey::parse(&"é".repeat(129)).is_err());
    }
}
