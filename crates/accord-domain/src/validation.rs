//! Field-level validation errors, mapped by the server to `google.rpc.BadRequest`.

use serde::{Deserialize, Serialize};

use crate::request::MAX_TEXT;

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
}

impl std::fmt::Display for FieldViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

/// Collects violations; `finish` turns them into a result.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn push(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.0.push(FieldViolation::new(field, reason));
    }

    /// Non-blank and no longer than [`MAX_TEXT`].
    pub fn required_text(&mut self, field: &str, value: &str) {
        if value.trim().is_empty() {
            self.push(field, "is required");
        } else {
            self.text(field, value);
        }
    }

    /// No longer than [`MAX_TEXT`].
    pub fn text(&mut self, field: &str, value: &str) {
        if value.len() > MAX_TEXT {
            self.push(field, format!("must be at most {MAX_TEXT} bytes"));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn finish(self) -> Result<(), Vec<FieldViolation>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }
}
