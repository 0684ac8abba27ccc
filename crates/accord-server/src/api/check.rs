//! [`Check`]: collects the field violations of one inbound message, with the checks the
//! proto documents (lengths in characters, ids, dates, required enums and lists).

use accord_domain::{FieldViolation, IdError};
use time::{Date, OffsetDateTime};

use super::enums::ProtoEnum;
use super::time::parse_date;
use accord_domain::Violations;

/// Earliest year of any date a request or response carries (dates of birth, consent, records).
pub const MIN_YEAR: i32 = 1900;
/// Latest year of any such date.
pub const MAX_YEAR: i32 = 9999;

/// Collects violations while converting one message.
pub(super) struct Check {
    /// The one bounded collector (`accord_domain::Violations`).
    pub(super) out: Violations,
    today: Date,
}

pub(super) fn join(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_owned()
    } else {
        format!("{prefix}.{field}")
    }
}

impl Check {
    pub(super) fn new(now: OffsetDateTime) -> Check {
        Check {
            out: Violations::default(),
            today: now.date(),
        }
    }

    /// Records a violation; after [`accord_domain::validation::MAX_VIOLATIONS`] only one
    /// "… and more problems" is kept.
    pub(super) fn push(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.out.push(field, reason);
    }

    /// Whether the cap of violations was reached: loops over elements stop.
    pub(super) fn is_full(&self) -> bool {
        self.out.is_full()
    }

    /// Checks a list's length before its elements: more than `max` is one violation, and
    /// `false` tells the caller not to look at the elements.
    pub(super) fn list_len(&mut self, field: &str, len: usize, max: usize, what: &str) -> bool {
        self.out.list_len_of(field, len, max, what)
    }

    /// Text of `min..=max` characters (`min == 0`: optional).
    pub(super) fn text(&mut self, field: &str, value: &str, min: usize, max: usize) -> String {
        self.out.text(field, value, min, max);
        value.to_owned()
    }

    /// Every violation, for the caller's `Err`.
    pub(super) fn into_violations(self) -> Vec<FieldViolation> {
        self.out.into_vec()
    }

    pub(super) fn empty(&mut self, field: &str, value: &str, when: &str) {
        if !value.is_empty() {
            self.push(field, format!("must be empty {when}"));
        }
    }

    pub(super) fn id<T>(
        &mut self,
        field: &str,
        value: &str,
        parse: fn(&str) -> Result<T, IdError>,
    ) -> Option<T> {
        if value.is_empty() {
            self.push(field, "is required");
            return None;
        }
        match parse(value) {
            Ok(v) => Some(v),
            Err(e) => {
                self.push(field, format!("{value:?} is not a valid id: {e}"));
                None
            }
        }
    }

    /// A `YYYY-MM-DD` date from [`MIN_YEAR`] to [`MAX_YEAR`], optionally required and not
    /// after today.
    pub(super) fn date(
        &mut self,
        field: &str,
        value: &str,
        required: bool,
        not_future: bool,
    ) -> Option<Date> {
        if value.is_empty() {
            if required {
                self.push(field, "is required (YYYY-MM-DD)");
            }
            return None;
        }
        match parse_date(value) {
            None => {
                self.push(field, "must be a date in the form YYYY-MM-DD");
                None
            }
            Some(d) if !(MIN_YEAR..=MAX_YEAR).contains(&d.year()) => {
                self.push(
                    field,
                    format!("must be a date from {MIN_YEAR}-01-01 to {MAX_YEAR}-12-31"),
                );
                None
            }
            Some(d) if not_future && d > self.today => {
                self.push(field, "must not be in the future");
                None
            }
            Some(d) => Some(d),
        }
    }

    pub(super) fn required_enum<E: ProtoEnum>(&mut self, field: &str, v: i32) -> Option<E> {
        if v == 0 {
            self.push(field, "is required (UNSPECIFIED is not allowed)");
            return None;
        }
        let e = E::from_proto(v);
        if e.is_none() {
            self.push(field, format!("unknown value {v}"));
        }
        e
    }

    /// A list of at most `max` enum values, each required and (if `unique`) at most once. A
    /// longer list is one violation and its values are not read.
    pub(super) fn enum_list<E: ProtoEnum + PartialEq>(
        &mut self,
        field: &str,
        values: &[i32],
        unique: bool,
        max: usize,
    ) -> Vec<E> {
        let mut out: Vec<E> = Vec::new();
        if !self.list_len(field, values.len(), max, "entries") {
            return out;
        }
        for (i, v) in values.iter().enumerate() {
            if self.is_full() {
                break;
            }
            let f = format!("{field}[{i}]");
            if let Some(e) = self.required_enum::<E>(&f, *v) {
                if out.contains(&e) {
                    if unique {
                        self.push(f, "is listed twice");
                    }
                } else {
                    out.push(e);
                }
            }
        }
        out
    }

    pub(super) fn required<'a, T>(&mut self, field: &str, m: &'a Option<T>) -> Option<&'a T> {
        if m.is_none() {
            self.push(field, "is required");
        }
        m.as_ref()
    }
}
