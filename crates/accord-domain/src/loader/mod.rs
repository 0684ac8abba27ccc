//! The protocol file loader. A protocol is a TOML file (format in `docs/protocol-format.md`).
//! The loader walks the parsed table itself rather than deriving `Deserialize`, so it reports
//! every problem at once, each with the file, the key path (`purpose[2].categories[1]`) and
//! the reason: unknown or missing keys, wrong types, bad dates and durations, duplicate ids,
//! and references to categories or roles that do not exist.
//!
//! Errors come in a fixed order, so the same file always gives the same list (tests and
//! `accord protocol check` rely on it):
//!
//! 1. `[protocol]`: its keys in the documented order (`id`, `title`, `version`, `approved_on`,
//!    `review_due`, `capacity_age`, `repeat_window_days`, `record_retention`), then the date
//!    cross-check, then its unknown keys;
//! 2. every `[[category]]` in file order, then duplicate category ids;
//! 3. every `[[signatory]]` in file order, then duplicate agency ids, then certificate
//!    identities and fingerprints claimed by two signatories;
//! 4. every `[[purpose]]` in file order (`consent` and `deadlines` inside it; its
//!    `retention_days` against `record_retention`), then duplicate purpose ids;
//! 5. every `[[gateway]]` in file order, then gateways described twice;
//! 6. unknown top-level keys.
//!
//! Within one table, keys are checked in the documented order and unknown keys come last,
//! sorted by name. Invalid TOML stops at the first syntax error, with its line and column.

use std::fmt;
use std::path::Path;

use toml::Table;

use crate::protocol::Protocol;

mod values;
mod walk;

pub use values::{normalise_fingerprint, parse_date, parse_duration};
use walk::Walker;

/// One problem in a protocol file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    pub file: String,
    /// Key path, e.g. `purpose[1].categories[0]`; empty for the whole file.
    pub key: String,
    pub reason: String,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.file, self.reason)
        } else {
            write!(f, "{}: {}: {}", self.file, self.key, self.reason)
        }
    }
}

/// Every problem found in a protocol file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ProtocolErrors(pub Vec<ProtocolError>);

impl fmt::Display for ProtocolErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} problem(s) in the protocol:", self.0.len())?;
        for e in &self.0 {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

/// Reads and validates a protocol file.
pub fn load_protocol_file(path: &Path) -> Result<Protocol, ProtocolErrors> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        ProtocolErrors(vec![ProtocolError {
            file: file.clone(),
            key: String::new(),
            reason: format!("cannot read: {e}"),
        }])
    })?;
    parse_protocol(&text, &file)
}

/// Parses and validates protocol TOML; `file` names it in error messages.
pub fn parse_protocol(text: &str, file: &str) -> Result<Protocol, ProtocolErrors> {
    let mut cx = Walker {
        file: file.to_owned(),
        errors: Vec::new(),
    };
    let table: Table = match text.parse() {
        Ok(t) => t,
        Err(e) => {
            // toml's messages can span lines ("invalid table header\nexpected `.`, `]`");
            // one problem is one line of the report.
            let message = e
                .message()
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join("; ");
            let reason = match e.span().and_then(|span| line_column(text, span.start)) {
                Some((line, column)) => {
                    format!("not valid TOML at line {line}, column {column}: {message}")
                }
                None => format!("not valid TOML: {message}"),
            };
            cx.err("", reason);
            return Err(ProtocolErrors(cx.errors));
        }
    };
    let protocol = cx.protocol(&table);
    match protocol {
        Some(p) if cx.errors.is_empty() => Ok(p),
        Some(_) => Err(ProtocolErrors(cx.errors)),
        None => {
            if cx.errors.is_empty() {
                // Every path that yields no protocol reports why; this is a safety net.
                cx.err("", "the protocol is incomplete");
            }
            Err(ProtocolErrors(cx.errors))
        }
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> Option<(usize, usize)> {
    let before = text.get(..offset)?;
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    Some((line, column))
}
