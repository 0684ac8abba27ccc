//! The protocol file loader. A protocol is a TOML file (format in `docs/protocol-format.md`).
//! The loader walks the parsed table itself rather than deriving `Deserialize`, so it reports
//! every problem at once, each with the file, the key path (`purpose[2].categories[1]`) and
//! the reason: unknown or missing keys, wrong types, bad dates and durations, duplicate ids,
//! and references to categories or roles that do not exist.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use time::{Date, Duration};
use toml::{Table, Value};

use crate::enums::{
    AgencyKind, LawfulBasis, LevelOfNeed, Role, SignatoryStatus, SpecialCondition,
    StatutoryGateway, Urgency,
};
use crate::ids::{AgencyId, CategoryId, IdError, ProtocolId, PurposeId};
use crate::protocol::{ConsentRequirement, DataCategory, Protocol, Purpose, Signatory};

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
    let mut cx = Cx {
        file: file.to_owned(),
        errors: Vec::new(),
    };
    let table: Table = match text.parse() {
        Ok(t) => t,
        Err(e) => {
            cx.err("", format!("not valid TOML: {}", e.message()));
            if let Some(span) = e.span() {
                let line = text[..span.start].lines().count().max(1);
                if let Some(last) = cx.errors.last_mut() {
                    last.reason.push_str(&format!(" (line {line})"));
                }
            }
            return Err(ProtocolErrors(cx.errors));
        }
    };
    let protocol = cx.protocol(&table);
    if cx.errors.is_empty() {
        protocol.ok_or_else(|| ProtocolErrors(Vec::new()))
    } else {
        Err(ProtocolErrors(cx.errors))
    }
}

struct Cx {
    file: String,
    errors: Vec<ProtocolError>,
}

/// A view of one table with its key path, that remembers which keys were read so that
/// unknown keys (usually typos) are reported.
struct Obj<'a> {
    path: String,
    table: &'a Table,
    seen: BTreeSet<&'static str>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

impl Cx {
    fn err(&mut self, key: impl Into<String>, reason: impl Into<String>) {
        self.errors.push(ProtocolError {
            file: self.file.clone(),
            key: key.into(),
            reason: reason.into(),
        });
    }

    fn finish(&mut self, obj: Obj<'_>) {
        for key in obj.table.keys() {
            if !obj.seen.contains(key.as_str()) {
                self.err(join(&obj.path, key), "unknown key");
            }
        }
    }

    fn get<'a>(&mut self, obj: &mut Obj<'a>, key: &'static str, required: bool) -> Option<&'a Value> {
        obj.seen.insert(key);
        let v = obj.table.get(key);
        if v.is_none() && required {
            self.err(join(&obj.path, key), "missing key");
        }
        v
    }

    fn string(&mut self, obj: &mut Obj<'_>, key: &'static str) -> Option<String> {
        self.string_opt(obj, key, true)
    }

    fn string_opt(&mut self, obj: &mut Obj<'_>, key: &'static str, required: bool) -> Option<String> {
        match self.get(obj, key, required)? {
            Value::String(s) if required && s.trim().is_empty() => {
                self.err(join(&obj.path, key), "must not be empty");
                None
            }
            Value::String(s) => Some(s.clone()),
            other => {
                self.err(join(&obj.path, key), format!("expected a string, found {}", other.type_str()));
                None
            }
        }
    }

    fn boolean(&mut self, obj: &mut Obj<'_>, key: &'static str) -> Option<bool> {
        match self.get(obj, key, true)? {
            Value::Boolean(b) => Some(*b),
            other => {
                self.err(join(&obj.path, key), format!("expected true or false, found {}", other.type_str()));
                None
            }
        }
    }

    fn uint(&mut self, obj: &mut Obj<'_>, key: &'static str, min: i64, max: i64) -> Option<u32> {
        match self.get(obj, key, true)? {
            Value::Integer(i) if (min..=max).contains(i) => u32::try_from(*i).ok(),
            Value::Integer(i) => {
                self.err(join(&obj.path, key), format!("must be between {min} and {max} (got {i})"));
                None
            }
            other => {
                self.err(join(&obj.path, key), format!("expected an integer, found {}", other.type_str()));
                None
            }
        }
    }

    fn date(&mut self, obj: &mut Obj<'_>, key: &'static str, required: bool) -> Option<Date> {
        let v = self.get(obj, key, required)?;
        let text = match v {
            Value::Datetime(dt) if dt.time.is_none() && dt.offset.is_none() => dt.to_string(),
            Value::String(s) => s.clone(),
            other => {
                self.err(join(&obj.path, key), format!("expected a date (YYYY-MM-DD), found {}", other.type_str()));
                return None;
            }
        };
        match parse_date(&text) {
            Some(d) => Some(d),
            None => {
                self.err(join(&obj.path, key), format!("{text:?} is not a valid date (YYYY-MM-DD)"));
                None
            }
        }
    }

    fn id<T>(&mut self, obj: &mut Obj<'_>, key: &'static str, parse: fn(&str) -> Result<T, IdError>) -> Option<T> {
        let s = self.string(obj, key)?;
        match parse(&s) {
            Ok(id) => Some(id),
            Err(e) => {
                self.err(join(&obj.path, key), format!("{s:?} is not a valid id: {e}"));
                None
            }
        }
    }

    fn word<T>(&mut self, obj: &mut Obj<'_>, key: &'static str, parse: fn(&str) -> Option<T>, all: &[&str]) -> Option<T> {
        let s = self.string(obj, key)?;
        self.word_value(&join(&obj.path, key), &s, parse, all)
    }

    fn word_value<T>(&mut self, key: &str, s: &str, parse: fn(&str) -> Option<T>, all: &[&str]) -> Option<T> {
        let parsed = parse(s);
        if parsed.is_none() {
            self.err(key, format!("unknown value {s:?}; expected one of: {}", all.join(", ")));
        }
        parsed
    }

    fn array<'a>(&mut self, obj: &mut Obj<'a>, key: &'static str, required: bool) -> Option<Vec<(String, &'a Value)>> {
        let path = join(&obj.path, key);
        match self.get(obj, key, required)? {
            Value::Array(items) => Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (format!("{path}[{i}]"), v))
                    .collect(),
            ),
            other => {
                self.err(path, format!("expected an array, found {}", other.type_str()));
                None
            }
        }
    }

    /// An array of vocabulary words, e.g. `lawful_bases = ["public_task"]`.
    fn words<T: Ord + Copy>(&mut self, obj: &mut Obj<'_>, key: &'static str, required: bool, parse: fn(&str) -> Option<T>, all: &[&str]) -> Vec<T> {
        let mut out = Vec::new();
        for (path, v) in self.array(obj, key, required).unwrap_or_default() {
            match v {
                Value::String(s) => {
                    if let Some(w) = self.word_value(&path, s, parse, all) {
                        if out.contains(&w) {
                            self.err(path, format!("{s:?} is listed twice"));
                        } else {
                            out.push(w);
                        }
                    }
                }
                other => self.err(path, format!("expected a string, found {}", other.type_str())),
            }
        }
        out
    }

    fn table<'a>(&mut self, obj: &mut Obj<'a>, key: &'static str) -> Option<Obj<'a>> {
        let path = join(&obj.path, key);
        match self.get(obj, key, true)? {
            Value::Table(t) => Some(Obj { path, table: t, seen: BTreeSet::new() }),
            other => {
                self.err(path, format!("expected a table, found {}", other.type_str()));
                None
            }
        }
    }

    fn tables<'a>(&mut self, root: &mut Obj<'a>, key: &'static str) -> Vec<Obj<'a>> {
        let mut out = Vec::new();
        for (path, v) in self.array(root, key, true).unwrap_or_default() {
            match v {
                Value::Table(t) => out.push(Obj { path, table: t, seen: BTreeSet::new() }),
                other => self.err(path, format!("expected a table ([[{key}]]), found {}", other.type_str())),
            }
        }
        if out.is_empty() && root.table.contains_key(key) {
            self.err(key, format!("at least one [[{key}]] is required"));
        }
        out
    }

    fn protocol(&mut self, root_table: &Table) -> Option<Protocol> {
        let mut root = Obj { path: String::new(), table: root_table, seen: BTreeSet::new() };
        let head = self.table(&mut root, "protocol");
        let categories: Vec<DataCategory> = self
            .tables(&mut root, "category")
            .into_iter()
            .filter_map(|o| self.category(o))
            .collect();
        let signatories: Vec<Signatory> = self
            .tables(&mut root, "signatory")
            .into_iter()
            .filter_map(|o| self.signatory(o))
            .collect();
        let category_ids: BTreeSet<CategoryId> = categories.iter().map(|c| c.id.clone()).collect();
        let purposes: Vec<Purpose> = self
            .tables(&mut root, "purpose")
            .into_iter()
            .filter_map(|o| self.purpose(o, &category_ids))
            .collect();
        self.finish(root);

        self.duplicates("category", categories.iter().map(|c| c.id.as_str()));
        self.duplicates("signatory", signatories.iter().map(|s| s.agency_id.as_str()));
        self.duplicates("purpose", purposes.iter().map(|p| p.id.as_str()));
        let mut identities = BTreeMap::new();
        for (i, s) in signatories.iter().enumerate() {
            if let Some(id) = &s.certificate_identity {
                if let Some(prev) = identities.insert(id.clone(), i) {
                    self.err(
                        format!("signatory[{i}].certificate_identity"),
                        format!("{id:?} is also the identity of signatory[{prev}]"),
                    );
                }
            }
        }

        let mut head = head?;
        let id = self.id(&mut head, "id", ProtocolId::parse);
        let title = self.string(&mut head, "title");
        let version = self.string(&mut head, "version");
        let approved_on = self.date(&mut head, "approved_on", true);
        let review_due = self.date(&mut head, "review_due", true);
        let capacity_age = self.uint(&mut head, "capacity_age", 0, 18);
        let repeat_window_days = self.uint(&mut head, "repeat_window_days", 0, 3650);
        if let (Some(a), Some(r)) = (approved_on, review_due) {
            if r <= a {
                self.err("protocol.review_due", "must be after protocol.approved_on");
            }
        }
        self.finish(head);
        Some(Protocol {
            id: id?,
            title: title?,
            version: version?,
            approved_on: approved_on?,
            review_due: review_due?,
            capacity_age: u8::try_from(capacity_age?).ok()?,
            repeat_window_days: repeat_window_days?,
            signatories,
            purposes,
            categories,
        })
    }

    fn duplicates<'a>(&mut self, section: &str, ids: impl Iterator<Item = &'a str>) {
        let mut seen = BTreeMap::new();
        for (i, id) in ids.enumerate() {
            if let Some(first) = seen.insert(id, i) {
                self.err(
                    format!("{section}[{i}].id"),
                    format!("duplicate id {id:?} (first used by {section}[{first}])"),
                );
            }
        }
    }

    fn category(&mut self, mut o: Obj<'_>) -> Option<DataCategory> {
        let id = self.id(&mut o, "id", CategoryId::parse);
        let description = self.string(&mut o, "description");
        let special = self.boolean(&mut o, "special");
        self.finish(o);
        Some(DataCategory { id: id?, description: description?, special: special? })
    }

    fn signatory(&mut self, mut o: Obj<'_>) -> Option<Signatory> {
        let agency_id = self.id(&mut o, "agency_id", AgencyId::parse);
        let name = self.string(&mut o, "name");
        let kind = self.word(&mut o, "kind", AgencyKind::parse, &names(AgencyKind::ALL, AgencyKind::as_str));
        let relevant_authority = self.boolean(&mut o, "relevant_authority");
        let signed_on = self.date(&mut o, "signed_on", true);
        let reaffirm = self.uint(&mut o, "reaffirm_every_months", 1, 120);
        let last_affirmed_on = self.date(&mut o, "last_affirmed_on", false);
        let status = self.word(&mut o, "status", SignatoryStatus::parse, &names(SignatoryStatus::ALL, SignatoryStatus::as_str));
        let certificate_identity = self.string_opt(&mut o, "certificate_identity", false);
        let mut fingerprints = Vec::new();
        for (path, v) in self.array(&mut o, "certificate_fingerprints", false).unwrap_or_default() {
            match v.as_str().map(normalise_fingerprint) {
                Some(Some(f)) => fingerprints.push(f),
                _ => self.err(path, "expected a SHA-256 fingerprint: 64 hex digits, colons allowed"),
            }
        }
        if certificate_identity.is_none() && fingerprints.is_empty() && o.table.get("certificate_identity").is_none() {
            self.err(
                join(&o.path, "certificate_identity"),
                "missing key: a signatory needs certificate_identity or certificate_fingerprints",
            );
        }
        let token_issuer = self.string(&mut o, "token_issuer");
        let token_keys = self.string_opt(&mut o, "token_keys", false);
        if let (Some(s), Some(l)) = (signed_on, last_affirmed_on) {
            if l < s {
                self.err(join(&o.path, "last_affirmed_on"), "must not be before signed_on");
            }
        }
        self.finish(o);
        Some(Signatory {
            agency_id: agency_id?,
            name: name?,
            kind: kind?,
            relevant_authority: relevant_authority?,
            signed_on: signed_on?,
            reaffirm_every_months: reaffirm?,
            last_affirmed_on: last_affirmed_on.or(signed_on)?,
            status: status?,
            certificate_identity,
            certificate_fingerprints: fingerprints,
            token_issuer: token_issuer?,
            token_keys,
        })
    }

    fn purpose(&mut self, mut o: Obj<'_>, known: &BTreeSet<CategoryId>) -> Option<Purpose> {
        let id = self.id(&mut o, "id", PurposeId::parse);
        let description = self.string(&mut o, "description");
        let lawful_bases = self.words(&mut o, "lawful_bases", true, LawfulBasis::parse, &names(LawfulBasis::ALL, LawfulBasis::as_str));
        if lawful_bases.is_empty() && o.table.contains_key("lawful_bases") {
            self.err(join(&o.path, "lawful_bases"), "at least one lawful basis is required");
        }
        let special_conditions = self.words(&mut o, "special_conditions", false, SpecialCondition::parse, &names(SpecialCondition::ALL, SpecialCondition::as_str));
        if special_conditions.contains(&SpecialCondition::None) {
            self.err(join(&o.path, "special_conditions"), "\"none\" is not a condition; leave it out");
        }
        let gateways = self.words(&mut o, "gateways", false, StatutoryGateway::parse, &names(StatutoryGateway::ALL, StatutoryGateway::as_str));
        let mut categories = Vec::new();
        for (path, v) in self.array(&mut o, "categories", true).unwrap_or_default() {
            let Some(s) = v.as_str() else {
                self.err(path, format!("expected a category id, found {}", v.type_str()));
                continue;
            };
            match CategoryId::parse(s) {
                Ok(c) if !known.contains(&c) => self.err(path, format!("unknown category {s:?}: not defined by any [[category]]")),
                Ok(c) if categories.contains(&c) => self.err(path, format!("{s:?} is listed twice")),
                Ok(c) => categories.push(c),
                Err(e) => self.err(path, format!("{s:?} is not a valid id: {e}")),
            }
        }
        if categories.is_empty() && o.table.contains_key("categories") && self.errors.iter().all(|e| !e.key.starts_with(&join(&o.path, "categories"))) {
            self.err(join(&o.path, "categories"), "at least one category is required");
        }
        let retention_days = self.uint(&mut o, "retention_days", 1, 36500);
        let role_names = names(Role::ALL, Role::as_str);
        let approving_roles = self.words(&mut o, "approving_roles", true, Role::parse, &role_names);
        if approving_roles.is_empty() && o.table.contains_key("approving_roles") {
            self.err(join(&o.path, "approving_roles"), "at least one role is required");
        }
        for r in [Role::Practitioner, Role::Auditor, Role::Admin] {
            if approving_roles.contains(&r) {
                self.err(join(&o.path, "approving_roles"), format!("{r} cannot approve: use ig_lead or caldicott_guardian"));
            }
        }
        let approving_roles_without_consent = self.words(&mut o, "approving_roles_without_consent", false, Role::parse, &role_names);

        let mut consent = BTreeMap::new();
        if let Some(mut t) = self.table(&mut o, "consent") {
            for level in LevelOfNeed::ALL {
                let key = level.as_str();
                let all = ["explicit", "sought", "not_required"];
                if let Some(req) = self.word(&mut t, static_key(key), parse_consent, &all) {
                    consent.insert(*level, req);
                }
            }
            self.finish(t);
        }
        let mut deadlines = BTreeMap::new();
        if let Some(mut t) = self.table(&mut o, "deadlines") {
            for urgency in Urgency::ALL {
                let key = static_key(urgency.as_str());
                if let Some(text) = self.string(&mut t, key) {
                    match parse_duration(&text) {
                        Some(d) => {
                            deadlines.insert(*urgency, d);
                        }
                        None => self.err(join(&t.path, key), format!("{text:?} is not a duration: use a number and m, h or d, e.g. \"30m\", \"24h\", \"10d\"")),
                    }
                }
            }
            let (imm, urg, rout) = (
                deadlines.get(&Urgency::Immediate),
                deadlines.get(&Urgency::Urgent),
                deadlines.get(&Urgency::Routine),
            );
            if let Some(imm) = imm {
                if *imm > Duration::hours(4) {
                    self.err(join(&t.path, "immediate"), "must be at most 4h: immediate risk is answered in minutes, not days (001 Being alert)");
                }
            }
            if let (Some(a), Some(b), Some(c)) = (imm, urg, rout) {
                if !(a <= b && b <= c) {
                    self.err(t.path.clone(), "deadlines must satisfy immediate <= urgent <= routine");
                }
            }
            self.finish(t);
        }
        self.finish(o);
        Some(Purpose {
            id: id?,
            description: description?,
            lawful_bases,
            special_conditions,
            gateways,
            categories,
            consent,
            retention_days: retention_days?,
            deadlines,
            approving_roles,
            approving_roles_without_consent,
        })
    }
}

fn names<T: Copy>(all: &[T], f: fn(T) -> &'static str) -> Vec<&'static str> {
    all.iter().map(|v| f(*v)).collect()
}

/// Vocabulary spellings are `'static`; this maps a runtime spelling back to it.
fn static_key(s: &str) -> &'static str {
    LevelOfNeed::ALL
        .iter()
        .map(|l| l.as_str())
        .chain(Urgency::ALL.iter().map(|u| u.as_str()))
        .find(|k| *k == s)
        .unwrap_or("?")
}

fn parse_consent(s: &str) -> Option<ConsentRequirement> {
    match s {
        "explicit" => Some(ConsentRequirement::Explicit),
        "sought" => Some(ConsentRequirement::Sought),
        "not_required" => Some(ConsentRequirement::NotRequired),
        _ => None,
    }
}

/// `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<Date> {
    Date::parse(s, &time::macros::format_description!("[year]-[month]-[day]")).ok()
}

/// `30m`, `24h`, `10d`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.len().checked_sub(1)?);
    let n = i64::from_str(num).ok().filter(|n| *n > 0)?;
    match unit {
        "m" => Some(Duration::minutes(n)),
        "h" => Some(Duration::hours(n)),
        "d" => Some(Duration::days(n)),
        _ => None,
    }
}

/// Lowercase hex without separators, if it is 32 bytes of hex.
pub fn normalise_fingerprint(s: &str) -> Option<String> {
    let hex: String = s.chars().filter(|c| *c != ':').collect::<String>().to_ascii_lowercase();
    (hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit())).then_some(hex)
}
