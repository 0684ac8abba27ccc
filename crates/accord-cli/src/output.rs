//! How the command prints: aligned tables and key/value blocks for people, proto3 JSON (the
//! same mapping grpcurl prints) for scripts, and the short names of the API's enums.

use std::fmt::Write as _;
use std::sync::OnceLock;

use accord_proto::v1 as pb;
use anyhow::{anyhow, Context as _};
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};
use time::OffsetDateTime;

/// Writes to standard output; a closed pipe (`accord audit query | head`) ends the program
/// with status 0 instead of a panic.
pub fn emit(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}

/// A table with a header row, columns aligned by character count. Cells of columns given a
/// width limit wrap at word boundaries onto continuation lines.
#[derive(Debug, Default)]
pub struct Table {
    headers: Vec<String>,
    limits: Vec<Option<usize>>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Table {
        Table {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            limits: vec![None; headers.len()],
            rows: Vec::new(),
        }
    }

    /// Wrap column `col` at `width` characters.
    pub fn wrap(mut self, col: usize, width: usize) -> Table {
        if let Some(l) = self.limits.get_mut(col) {
            *l = Some(width.max(8));
        }
        self
    }

    pub fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut cells: Vec<String> = cells.into_iter().map(Into::into).collect();
        cells.resize(self.headers.len(), String::new());
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let n = self.headers.len();
        // Each row becomes one or more physical lines once wrapped.
        let wrapped: Vec<Vec<Vec<String>>> = self
            .rows
            .iter()
            .map(|r| {
                r.iter()
                    .enumerate()
                    .map(|(i, c)| match self.limits[i] {
                        Some(w) => wrap_text(c, w),
                        None => c.lines().map(str::to_owned).collect(),
                    })
                    .collect()
            })
            .collect();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &wrapped {
            for (i, lines) in row.iter().enumerate() {
                for l in lines {
                    widths[i] = widths[i].max(width(l));
                }
            }
        }
        let mut out = String::new();
        let line = |out: &mut String, cells: &[&str]| {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate() {
                if i + 1 == n {
                    s.push_str(c);
                } else {
                    s.push_str(c);
                    s.push_str(&" ".repeat(widths[i] - width(c) + 2));
                }
            }
            out.push_str(s.trim_end());
            out.push('\n');
        };
        let headers: Vec<&str> = self.headers.iter().map(String::as_str).collect();
        line(&mut out, &headers);
        let rules: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        let rules: Vec<&str> = rules.iter().map(String::as_str).collect();
        line(&mut out, &rules);
        for row in &wrapped {
            let height = row.iter().map(Vec::len).max().unwrap_or(1).max(1);
            for k in 0..height {
                let cells: Vec<&str> = row
                    .iter()
                    .map(|lines| lines.get(k).map(String::as_str).unwrap_or(""))
                    .collect();
                line(&mut out, &cells);
            }
        }
        out
    }

    pub fn print(&self) {
        out!("{}", self.render());
    }
}

fn width(s: &str) -> usize {
    s.chars().count()
}

/// Word-wraps `text` to lines of at most `w` characters (longer words are cut).
pub fn wrap_text(text: &str, w: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for para in text.lines() {
        let mut cur = String::new();
        for word in para.split_whitespace() {
            let mut word = word.to_owned();
            while width(&word) > w {
                if !cur.is_empty() {
                    lines.push(std::mem::take(&mut cur));
                }
                let head: String = word.chars().take(w).collect();
                word = word.chars().skip(w).collect();
                lines.push(head);
            }
            if cur.is_empty() {
                cur = word;
            } else if width(&cur) + 1 + width(&word) <= w {
                cur.push(' ');
                cur.push_str(&word);
            } else {
                lines.push(std::mem::replace(&mut cur, word));
            }
        }
        lines.push(cur);
    }
    if lines.is_empty() {
        lines.push(String::new());
    }
    lines
}

/// Prints `key  value` pairs with the keys aligned; multi-line values are indented.
pub fn print_fields(fields: &[(&str, String)]) {
    out!("{}", render_fields(fields));
}

pub fn render_fields(fields: &[(&str, String)]) -> String {
    let w = fields.iter().map(|(k, _)| width(k)).max().unwrap_or(0);
    let room = 100usize.saturating_sub(w + 2).max(40);
    let mut out = String::new();
    for (k, v) in fields {
        let wrapped: Vec<String> = v
            .lines()
            .flat_map(|l| {
                if width(l) > room {
                    wrap_text(l, room)
                } else {
                    vec![l.to_owned()]
                }
            })
            .collect();
        let mut lines = wrapped.iter().map(String::as_str);
        let first = lines.next().unwrap_or("");
        let _ = writeln!(out, "{k:<w$}  {first}");
        for l in lines {
            let _ = writeln!(out, "{:<w$}  {l}", "");
        }
    }
    out
}

/// A section heading for people.
pub fn heading(text: &str) {
    outln!("\n== {text}");
}

// ---------------------------------------------------------------------------------------
// JSON

fn pool() -> anyhow::Result<&'static DescriptorPool> {
    static POOL: OnceLock<Result<DescriptorPool, String>> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(accord_proto::FILE_DESCRIPTOR_SET).map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| anyhow!("the API descriptors cannot be read: {e}"))
}

/// A message in the proto3 JSON mapping (enum names, RFC 3339 timestamps), with the .proto
/// field names, every field present and 64-bit integers as numbers. `name` is the message's full name, e.g.
/// `accord.v1.Exchange`.
pub fn to_json<M: prost::Message>(msg: &M, name: &str) -> anyhow::Result<serde_json::Value> {
    let desc = pool()?
        .get_message_by_name(name)
        .ok_or_else(|| anyhow!("no message {name} in the API descriptors"))?;
    let dynamic = DynamicMessage::decode(desc, msg.encode_to_vec().as_slice())
        .with_context(|| format!("re-reading a {name}"))?;
    let options = SerializeOptions::new()
        .skip_default_fields(false)
        .stringify_64_bit_integers(false)
        .use_proto_field_name(true);
    dynamic
        .serialize_with_options(serde_json::value::Serializer, &options)
        .with_context(|| format!("writing a {name} as JSON"))
}

/// Prints a message as pretty JSON.
pub fn print_json<M: prost::Message>(msg: &M, name: &str) -> anyhow::Result<()> {
    let v = to_json(msg, name)?;
    outln!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

/// Prints a message as one line of JSON (for streams).
pub fn print_json_line<M: prost::Message>(msg: &M, name: &str) -> anyhow::Result<()> {
    let v = to_json(msg, name)?;
    outln!("{}", serde_json::to_string(&v)?);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Enum names: the API's SCREAMING_CASE names without their prefix, in snake_case, which is
// also how protocol files and request files spell them.

/// A proto enum with a common name prefix.
pub trait Vocab: Sized + Copy + 'static {
    const PREFIX: &'static str;
    fn values() -> Vec<Self>;
    fn full_name(self) -> &'static str;
    fn from_full_name(s: &str) -> Option<Self>;

    /// `awaiting_approval` for `EXCHANGE_STATE_AWAITING_APPROVAL`.
    fn short(self) -> String {
        self.full_name()
            .strip_prefix(Self::PREFIX)
            .unwrap_or(self.full_name())
            .to_ascii_lowercase()
    }

    /// Parses the short name (any case, `-` or `_`) or the full name.
    fn parse_short(s: &str) -> Option<Self> {
        let up = s.trim().replace('-', "_").to_ascii_uppercase();
        Self::from_full_name(&up).or_else(|| Self::from_full_name(&format!("{}{up}", Self::PREFIX)))
    }

    /// The valid short names, for error messages.
    fn choices() -> String {
        Self::values()
            .into_iter()
            .map(Vocab::short)
            .filter(|s| s != "unspecified")
            .collect::<Vec<_>>()
            .join(", ")
    }
}

macro_rules! vocab {
    ($t:ident, $prefix:literal) => {
        impl Vocab for pb::$t {
            const PREFIX: &'static str = $prefix;
            fn values() -> Vec<Self> {
                (0..64).filter_map(|i| pb::$t::try_from(i).ok()).collect()
            }
            fn full_name(self) -> &'static str {
                self.as_str_name()
            }
            fn from_full_name(s: &str) -> Option<Self> {
                pb::$t::from_str_name(s)
            }
        }
    };
}

vocab!(ExchangeState, "EXCHANGE_STATE_");
vocab!(LevelOfNeed, "LEVEL_OF_NEED_");
vocab!(Urgency, "URGENCY_");
vocab!(Severity, "SEVERITY_");
vocab!(AssessmentOutcome, "ASSESSMENT_OUTCOME_");
vocab!(Role, "ROLE_");
vocab!(DecisionKind, "DECISION_KIND_");
vocab!(RequesterActionKind, "REQUESTER_ACTION_KIND_");
vocab!(InboxEventKind, "INBOX_EVENT_KIND_");
vocab!(ItemKind, "ITEM_KIND_");
vocab!(SignatoryStatus, "SIGNATORY_STATUS_");
vocab!(AgencyKind, "AGENCY_KIND_");
vocab!(LawfulBasis, "LAWFUL_BASIS_");
vocab!(SpecialCategoryCondition, "SPECIAL_CATEGORY_CONDITION_");
vocab!(StatutoryGateway, "STATUTORY_GATEWAY_");
vocab!(ConsentStatus, "CONSENT_STATUS_");
vocab!(ConsentRequirement, "CONSENT_REQUIREMENT_");
vocab!(ConsentGiver, "CONSENT_GIVER_");
vocab!(NotSoughtReason, "NOT_SOUGHT_REASON_");
vocab!(NotRequiredReason, "NOT_REQUIRED_REASON_");
vocab!(PartyRole, "PARTY_ROLE_");

/// The short name of an enum field's value (`i32` in prost messages); `unknown(N)` for a
/// number this build does not know.
pub fn name<E: Vocab + TryFrom<i32>>(v: i32) -> String {
    match E::try_from(v) {
        Ok(e) => e.short(),
        Err(_) => format!("unknown({v})"),
    }
}

/// Parses a short enum name for a command-line value.
pub fn parse<E: Vocab>(what: &str, s: &str) -> anyhow::Result<E> {
    E::parse_short(s)
        .filter(|e| e.short() != "unspecified")
        .ok_or_else(|| anyhow!("{what}: {s:?} is not one of: {}", E::choices()))
}

// ---------------------------------------------------------------------------------------
// Time

/// An instant for people: `2026-11-21 15:56:20Z`.
pub fn time(t: Option<&prost_types::Timestamp>) -> String {
    t.and_then(instant).map(fmt_instant).unwrap_or_default()
}

pub fn instant(t: &prost_types::Timestamp) -> Option<OffsetDateTime> {
    accord_proto::wire::from_timestamp(t)
}

pub fn fmt_instant(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `in 29m`, `3h ago`: a rough distance from now.
pub fn relative(t: Option<&prost_types::Timestamp>, now: OffsetDateTime) -> String {
    let Some(t) = t.and_then(instant) else {
        return String::new();
    };
    let d = t - now;
    let secs = d.whole_seconds().abs();
    let text = if secs < 90 {
        format!("{secs}s")
    } else if secs < 90 * 60 {
        format!("{}m", (secs + 30) / 60)
    } else if secs < 48 * 3600 {
        format!("{}h", (secs + 1800) / 3600)
    } else {
        format!("{}d", (secs + 43_200) / 86_400)
    };
    if d.is_negative() {
        format!("{text} ago")
    } else {
        format!("in {text}")
    }
}

/// The first `n` characters of a hash, for tables.
pub fn short_hash(h: &str, n: usize) -> String {
    h.chars().take(n).collect()
}

/// Human text for approval conditions.
pub fn conditions(c: Option<&pb::Conditions>) -> String {
    let Some(c) = c else {
        return "none".into();
    };
    let mut parts = Vec::new();
    if c.no_onward_disclosure {
        parts.push("no onward disclosure".to_owned());
    }
    if c.retention_days > 0 {
        parts.push(format!("keep at most {} days", c.retention_days));
    } else {
        parts.push("keep for the purpose's default retention".to_owned());
    }
    parts.push(if c.inform_subject {
        "inform the child or family".to_owned()
    } else {
        "child or family not to be told".to_owned()
    });
    if !c.other.is_empty() {
        parts.push(c.other.clone());
    }
    parts.join("; ")
}

pub fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".into()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_and_wraps() {
        let mut t = Table::new(&["A", "LONG HEADER", "TEXT"]).wrap(2, 10);
        t.row(["1", "x", "one two three four"]);
        t.row(["22", "yy", "short"]);
        let s = t.render();
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "A   LONG HEADER  TEXT");
        assert_eq!(lines[1], "--  -----------  ----------");
        assert_eq!(lines[2], "1   x            one two");
        assert_eq!(lines[3], "                 three four");
        assert_eq!(lines[4], "22  yy           short");
    }

    #[test]
    fn enum_names_round_trip() {
        let s = pb::ExchangeState::AwaitingApproval;
        assert_eq!(s.short(), "awaiting_approval");
        assert_eq!(pb::ExchangeState::parse_short("awaiting-approval"), Some(s));
        assert_eq!(
            name::<pb::ExchangeState>(pb::ExchangeState::PartlyApproved as i32),
            "partly_approved"
        );
        assert!(parse::<pb::Role>("role", "boss").is_err());
        assert_eq!(
            parse::<pb::Role>("role", "ig_lead").ok(),
            Some(pb::Role::IgLead)
        );
    }

    #[test]
    fn json_uses_the_proto_mapping() {
        let x = pb::ExchangeSummary {
            id: "abc".into(),
            state: pb::ExchangeState::Declined as i32,
            version: 3,
            ..Default::default()
        };
        let v = to_json(&x, "accord.v1.ExchangeSummary").unwrap_or_default();
        assert_eq!(v["state"], "EXCHANGE_STATE_DECLINED");
        assert_eq!(v["version"], 3);
        assert_eq!(v["purpose_id"], "");
    }
}
