//! The walk over a parsed protocol table: every key checked in the documented order, every
//! problem recorded with its key path, and the typed [`Protocol`] built when all is well.

use std::collections::{BTreeMap, BTreeSet};

use time::{Date, Duration};
use toml::{Table, Value};

use crate::enums::{
    AgencyKind, LawfulBasis, LevelOfNeed, Role, SignatoryStatus, SpecialCondition,
    StatutoryGateway, Urgency,
};
use crate::ids::{AgencyId, CategoryId, IdError, ProtocolId, PurposeId};
use crate::protocol::{DataCategory, GatewayRule, Protocol, Purpose, Signatory};
use crate::record::RecordRetention;

use super::values::*;
use super::ProtocolError;

mod gateway;

pub(super) struct Walker {
    pub(super) file: String,
    pub(super) errors: Vec<ProtocolError>,
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

impl Walker {
    pub(super) fn err(&mut self, key: impl Into<String>, reason: impl Into<String>) {
        self.errors.push(ProtocolError {
            file: self.file.clone(),
            key: key.into(),
            reason: reason.into(),
        });
    }

    /// Reports the keys of `obj` that were never read, sorted by name so the order does not
    /// depend on the map type behind `toml::Table` (it keeps file order under `preserve_order`).
    fn finish(&mut self, obj: Obj<'_>) {
        let mut unknown: Vec<&String> = obj
            .table
            .keys()
            .filter(|k| !obj.seen.contains(k.as_str()))
            .collect();
        unknown.sort();
        for key in unknown {
            // Every key the format knows for this table was read, so `seen` is the list of
            // spellings a typo was meant to be.
            let reason = match closest(key, &obj.seen) {
                Some(known) => format!("unknown key (did you mean {known:?}?)"),
                None => "unknown key".to_owned(),
            };
            self.err(join(&obj.path, key), reason);
        }
    }

    fn get<'a>(
        &mut self,
        obj: &mut Obj<'a>,
        key: &'static str,
        required: bool,
    ) -> Option<&'a Value> {
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

    fn string_opt(
        &mut self,
        obj: &mut Obj<'_>,
        key: &'static str,
        required: bool,
    ) -> Option<String> {
        match self.get(obj, key, required)? {
            Value::String(s) if s.trim().is_empty() => {
                self.err(join(&obj.path, key), "must not be empty");
                None
            }
            Value::String(s) => Some(s.clone()),
            other => {
                self.err(
                    join(&obj.path, key),
                    format!("expected a string, found {}", other.type_str()),
                );
                None
            }
        }
    }

    fn boolean(&mut self, obj: &mut Obj<'_>, key: &'static str) -> Option<bool> {
        self.boolean_opt(obj, key, true)
    }

    fn boolean_opt(
        &mut self,
        obj: &mut Obj<'_>,
        key: &'static str,
        required: bool,
    ) -> Option<bool> {
        match self.get(obj, key, required)? {
            Value::Boolean(b) => Some(*b),
            other => {
                self.err(
                    join(&obj.path, key),
                    format!("expected true or false, found {}", other.type_str()),
                );
                None
            }
        }
    }

    fn uint(&mut self, obj: &mut Obj<'_>, key: &'static str, min: i64, max: i64) -> Option<u32> {
        match self.get(obj, key, true)? {
            Value::Integer(i) if (min..=max).contains(i) => u32::try_from(*i).ok(),
            Value::Integer(i) => {
                self.err(
                    join(&obj.path, key),
                    format!("must be between {min} and {max} (got {i})"),
                );
                None
            }
            other => {
                self.err(
                    join(&obj.path, key),
                    format!("expected an integer, found {}", other.type_str()),
                );
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
                self.err(
                    join(&obj.path, key),
                    format!("expected a date (YYYY-MM-DD), found {}", other.type_str()),
                );
                return None;
            }
        };
        match parse_date(&text) {
            Some(d) => Some(d),
            None => {
                self.err(
                    join(&obj.path, key),
                    format!("{text:?} is not a valid date (YYYY-MM-DD)"),
                );
                None
            }
        }
    }

    fn id<T>(
        &mut self,
        obj: &mut Obj<'_>,
        key: &'static str,
        parse: fn(&str) -> Result<T, IdError>,
    ) -> Option<T> {
        let s = self.string(obj, key)?;
        match parse(&s) {
            Ok(id) => Some(id),
            Err(e) => {
                self.err(
                    join(&obj.path, key),
                    format!("{s:?} is not a valid id: {e}"),
                );
                None
            }
        }
    }

    fn word<T>(
        &mut self,
        obj: &mut Obj<'_>,
        key: &'static str,
        parse: fn(&str) -> Option<T>,
        all: &[&str],
    ) -> Option<T> {
        let s = self.string(obj, key)?;
        self.word_value(&join(&obj.path, key), &s, parse, all)
    }

    fn word_value<T>(
        &mut self,
        key: &str,
        s: &str,
        parse: fn(&str) -> Option<T>,
        all: &[&str],
    ) -> Option<T> {
        let parsed = parse(s);
        if parsed.is_none() {
            self.err(
                key,
                format!("unknown value {s:?}; expected one of: {}", all.join(", ")),
            );
        }
        parsed
    }

    fn array<'a>(
        &mut self,
        obj: &mut Obj<'a>,
        key: &'static str,
        required: bool,
    ) -> Option<Vec<(String, &'a Value)>> {
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
                self.err(
                    path,
                    format!("expected an array, found {}", other.type_str()),
                );
                None
            }
        }
    }

    /// An array of vocabulary words, e.g. `lawful_bases = ["public_task"]`.
    fn words<T: Ord + Copy>(
        &mut self,
        obj: &mut Obj<'_>,
        key: &'static str,
        required: bool,
        parse: fn(&str) -> Option<T>,
        all: &[&str],
    ) -> Vec<T> {
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
                other => self.err(
                    path,
                    format!("expected a string, found {}", other.type_str()),
                ),
            }
        }
        out
    }

    fn table<'a>(&mut self, obj: &mut Obj<'a>, key: &'static str) -> Option<Obj<'a>> {
        let path = join(&obj.path, key);
        match self.get(obj, key, true)? {
            Value::Table(t) => Some(Obj {
                path,
                table: t,
                seen: BTreeSet::new(),
            }),
            other => {
                self.err(
                    path,
                    format!("expected a table, found {}", other.type_str()),
                );
                None
            }
        }
    }

    fn tables<'a>(&mut self, root: &mut Obj<'a>, key: &'static str) -> Vec<Obj<'a>> {
        self.tables_opt(root, key, true)
    }

    fn tables_opt<'a>(
        &mut self,
        root: &mut Obj<'a>,
        key: &'static str,
        required: bool,
    ) -> Vec<Obj<'a>> {
        let mut out = Vec::new();
        for (path, v) in self.array(root, key, required).unwrap_or_default() {
            match v {
                Value::Table(t) => out.push(Obj {
                    path,
                    table: t,
                    seen: BTreeSet::new(),
                }),
                other => self.err(
                    path,
                    format!("expected a table ([[{key}]]), found {}", other.type_str()),
                ),
            }
        }
        if out.is_empty() && root.table.contains_key(key) {
            self.err(key, format!("at least one [[{key}]] is required"));
        }
        out
    }

    pub(super) fn protocol(&mut self, root_table: &Table) -> Option<Protocol> {
        let mut root = Obj {
            path: String::new(),
            table: root_table,
            seen: BTreeSet::new(),
        };

        let head = self.table(&mut root, "protocol").and_then(|h| self.head(h));

        let category_objs = self.tables(&mut root, "category");
        let category_ids = raw_strings(&category_objs, "id");
        let categories: Vec<DataCategory> = category_objs
            .into_iter()
            .filter_map(|o| self.category(o))
            .collect();
        self.duplicates("category", &category_ids);
        // Purposes may refer to a category whose other keys are broken: only an id that is
        // itself missing or invalid makes a reference to it unknown, so one mistake is
        // reported once.
        let known: BTreeSet<CategoryId> = category_ids
            .iter()
            .filter_map(|(_, id)| CategoryId::parse(id).ok())
            .collect();

        let signatory_objs = self.tables(&mut root, "signatory");
        let agency_ids = raw_strings(&signatory_objs, "agency_id");
        let identities = raw_strings(&signatory_objs, "certificate_identity");
        let fingerprints = raw_fingerprints(&signatory_objs);
        let signatories: Vec<Signatory> = signatory_objs
            .into_iter()
            .filter_map(|o| self.signatory(o))
            .collect();
        self.duplicates("signatory", &agency_ids);
        self.shared("certificate identity", &identities);
        self.shared("certificate fingerprint", &fingerprints);

        let purpose_objs = self.tables(&mut root, "purpose");
        let purpose_ids = raw_strings(&purpose_objs, "id");
        // Read again from the raw table, so the purposes are checked against it even when
        // other keys of [protocol] are broken.
        let record = raw_record_retention(root_table);
        let purposes: Vec<Purpose> = purpose_objs
            .into_iter()
            .filter_map(|o| self.purpose(o, &known, record))
            .collect();
        self.duplicates("purpose", &purpose_ids);

        // Optional: gateways a file leaves out follow the documents' defaults.
        let gateway_objs = self.tables_opt(&mut root, "gateway", false);
        let gateway_words = raw_strings(&gateway_objs, "gateway");
        let agencies: BTreeSet<AgencyId> = agency_ids
            .iter()
            .filter_map(|(_, id)| AgencyId::parse(id).ok())
            .collect();
        let gateway_rules: Vec<GatewayRule> = gateway_objs
            .into_iter()
            .filter_map(|o| self.gateway_rule(o, &agencies))
            .collect();
        self.duplicates("gateway", &gateway_words);

        self.finish(root);

        let head = head?;
        Some(Protocol {
            id: head.id,
            title: head.title,
            version: head.version,
            approved_on: head.approved_on,
            review_due: head.review_due,
            capacity_age: head.capacity_age,
            repeat_window_days: head.repeat_window_days,
            record_retention: head.record_retention,
            signatories,
            purposes,
            categories,
            gateway_rules,
        })
    }

    fn head(&mut self, mut head: Obj<'_>) -> Option<Head> {
        let id = self.id(&mut head, "id", ProtocolId::parse);
        let title = self.string(&mut head, "title");
        let version = self.string(&mut head, "version");
        let approved_on = self.date(&mut head, "approved_on", true);
        let review_due = self.date(&mut head, "review_due", true);
        let capacity_age = self.uint(&mut head, "capacity_age", 0, 18);
        let repeat_window_days = self.uint(&mut head, "repeat_window_days", 0, 3650);
        let record_retention = self.record_retention(&mut head);
        if let (Some(a), Some(r)) = (approved_on, review_due) {
            if r <= a {
                self.err(
                    "protocol.review_due",
                    format!("must be after protocol.approved_on ({a})"),
                );
            }
        }
        self.finish(head);
        Some(Head {
            id: id?,
            title: title?,
            version: version?,
            approved_on: approved_on?,
            review_due: review_due?,
            capacity_age: u8::try_from(capacity_age?).ok()?,
            repeat_window_days: repeat_window_days?,
            record_retention: record_retention?,
        })
    }

    /// `record_retention`: optional, [`RecordRetention::DEFAULT`] when absent.
    fn record_retention(&mut self, head: &mut Obj<'_>) -> Option<RecordRetention> {
        let present = head.table.contains_key("record_retention");
        let Some(text) = self.string_opt(head, "record_retention", false) else {
            // Absent: the default. Present but not a string: already reported.
            return (!present).then_some(RecordRetention::DEFAULT);
        };
        let parsed = RecordRetention::parse(&text);
        if parsed.is_none() {
            self.err(
                join(&head.path, "record_retention"),
                format!("{text:?} is not a retention period: use a whole number of years or days, e.g. \"6y\", \"2190d\" (at most 100 years or 36500 days)"),
            );
        }
        parsed
    }

    /// Reports every id used a second time; `ids` holds (key path, id) in file order.
    fn duplicates(&mut self, section: &str, ids: &[(String, String)]) {
        let mut first: BTreeMap<&str, &str> = BTreeMap::new();
        for (path, id) in ids {
            match first.get(id.as_str()) {
                Some(prev) => {
                    let owner = prev.rsplit_once('.').map_or(*prev, |(o, _)| o);
                    self.err(
                        path.clone(),
                        format!("duplicate {section} id {id:?} (first used by {owner})"),
                    );
                }
                None => {
                    first.insert(id, path);
                }
            }
        }
    }

    /// Reports a certificate identity or fingerprint claimed by two signatories: the broker
    /// could not tell which agency a client certificate belongs to.
    fn shared(&mut self, what: &str, values: &[(String, String)]) {
        let mut owners: BTreeMap<&str, &str> = BTreeMap::new();
        for (path, value) in values {
            let owner = signatory_of(path);
            match owners.get(value.as_str()) {
                Some(prev) if *prev != owner => {
                    self.err(
                        path.clone(),
                        format!("{what} {value:?} is also claimed by {prev}"),
                    );
                }
                Some(_) => {}
                None => {
                    owners.insert(value, owner);
                }
            }
        }
    }

    fn category(&mut self, mut o: Obj<'_>) -> Option<DataCategory> {
        let id = self.id(&mut o, "id", CategoryId::parse);
        let description = self.string(&mut o, "description");
        let special = self.boolean(&mut o, "special");
        self.finish(o);
        Some(DataCategory {
            id: id?,
            description: description?,
            special: special?,
        })
    }

    fn signatory(&mut self, mut o: Obj<'_>) -> Option<Signatory> {
        let agency_id = self.id(&mut o, "agency_id", AgencyId::parse);
        let name = self.string(&mut o, "name");
        let kind = self.word(
            &mut o,
            "kind",
            AgencyKind::parse,
            &names(AgencyKind::ALL, AgencyKind::as_str),
        );
        let relevant_authority = self.boolean(&mut o, "relevant_authority");
        let signed_on = self.date(&mut o, "signed_on", true);
        let reaffirm = self.uint(&mut o, "reaffirm_every_months", 1, 120);
        let last_affirmed_on = self.date(&mut o, "last_affirmed_on", false);
        let status = self.word(
            &mut o,
            "status",
            SignatoryStatus::parse,
            &names(SignatoryStatus::ALL, SignatoryStatus::as_str),
        );
        let certificate_identity = self
            .string_opt(&mut o, "certificate_identity", false)
            .filter(|id| {
                let ok = looks_like_uri(id);
                if !ok {
                    self.err(
                        join(&o.path, "certificate_identity"),
                        format!("{id:?} is not a URI: use the SAN URI of the agency's client certificates, e.g. \"spiffe://partnership/agency/{}\"", o.table.get("agency_id").and_then(Value::as_str).unwrap_or("agency-id")),
                    );
                }
                ok
            });
        let mut fingerprints = Vec::new();
        for (path, v) in self
            .array(&mut o, "certificate_fingerprints", false)
            .unwrap_or_default()
        {
            match v.as_str().map(normalise_fingerprint) {
                Some(Some(f)) => fingerprints.push(f),
                _ => self.err(
                    path,
                    "expected a SHA-256 fingerprint: 64 hex digits, colons allowed",
                ),
            }
        }
        if certificate_identity.is_none()
            && fingerprints.is_empty()
            && o.table.get("certificate_identity").is_none()
        {
            self.err(
                join(&o.path, "certificate_identity"),
                "missing key: a signatory needs certificate_identity or certificate_fingerprints",
            );
        }
        let token_issuer = self.string(&mut o, "token_issuer");
        let token_keys = self.string_opt(&mut o, "token_keys", false);
        if let (Some(s), Some(l)) = (signed_on, last_affirmed_on) {
            if l < s {
                self.err(
                    join(&o.path, "last_affirmed_on"),
                    "must not be before signed_on",
                );
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

    fn purpose(
        &mut self,
        mut o: Obj<'_>,
        known: &BTreeSet<CategoryId>,
        record: Option<RecordRetention>,
    ) -> Option<Purpose> {
        let id = self.id(&mut o, "id", PurposeId::parse);
        let description = self.string(&mut o, "description");
        let lawful_bases = self.words(
            &mut o,
            "lawful_bases",
            true,
            LawfulBasis::parse,
            &names(LawfulBasis::ALL, LawfulBasis::as_str),
        );
        if lawful_bases.is_empty() && o.table.contains_key("lawful_bases") {
            self.err(
                join(&o.path, "lawful_bases"),
                "at least one lawful basis is required",
            );
        }
        let special_conditions = self.words(
            &mut o,
            "special_conditions",
            false,
            SpecialCondition::parse,
            &names(SpecialCondition::ALL, SpecialCondition::as_str),
        );
        if special_conditions.contains(&SpecialCondition::None) {
            self.err(
                join(&o.path, "special_conditions"),
                "\"none\" is not a condition; leave it out",
            );
        }
        let gateways = self.words(
            &mut o,
            "gateways",
            false,
            StatutoryGateway::parse,
            &names(StatutoryGateway::ALL, StatutoryGateway::as_str),
        );
        let mut categories = Vec::new();
        for (path, v) in self.array(&mut o, "categories", true).unwrap_or_default() {
            let Some(s) = v.as_str() else {
                self.err(
                    path,
                    format!("expected a category id, found {}", v.type_str()),
                );
                continue;
            };
            match CategoryId::parse(s) {
                Ok(c) if !known.contains(&c) => self.err(
                    path,
                    format!("unknown category {s:?}: not defined by any [[category]]"),
                ),
                Ok(c) if categories.contains(&c) => {
                    self.err(path, format!("{s:?} is listed twice"))
                }
                Ok(c) => categories.push(c),
                Err(e) => self.err(path, format!("{s:?} is not a valid id: {e}")),
            }
        }
        if categories.is_empty()
            && o.table.contains_key("categories")
            && self
                .errors
                .iter()
                .all(|e| !e.key.starts_with(&join(&o.path, "categories")))
        {
            self.err(
                join(&o.path, "categories"),
                "at least one category is required",
            );
        }
        let retention_days = self.uint(&mut o, "retention_days", 1, 36500);
        if let (Some(days), Some(record)) = (retention_days, record) {
            // The record of why content was shared must outlive the content (002 App.2 Q5).
            if days > record.at_least_days() {
                self.err(
                    join(&o.path, "retention_days"),
                    format!("{days} days is longer than protocol.record_retention ({record}): the decision record must outlive the content it explains"),
                );
            }
        }
        let role_names = names(Role::ALL, Role::as_str);
        let approving_roles = self.words(&mut o, "approving_roles", true, Role::parse, &role_names);
        if approving_roles.is_empty() && o.table.contains_key("approving_roles") {
            self.err(
                join(&o.path, "approving_roles"),
                "at least one role is required",
            );
        }
        for r in [Role::Practitioner, Role::Auditor, Role::Admin] {
            if approving_roles.contains(&r) {
                self.err(
                    join(&o.path, "approving_roles"),
                    format!("{r} cannot approve: use ig_lead or caldicott_guardian"),
                );
            }
        }
        let approving_roles_without_consent = self.words(
            &mut o,
            "approving_roles_without_consent",
            false,
            Role::parse,
            &role_names,
        );
        for r in [Role::Practitioner, Role::Auditor, Role::Admin] {
            if approving_roles_without_consent.contains(&r) {
                self.err(
                    join(&o.path, "approving_roles_without_consent"),
                    format!("{r} cannot approve: use ig_lead or caldicott_guardian"),
                );
            }
        }

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
        let mut texts = BTreeMap::new();
        if let Some(mut t) = self.table(&mut o, "deadlines") {
            for urgency in Urgency::ALL {
                let key = static_key(urgency.as_str());
                if let Some(text) = self.string(&mut t, key) {
                    match parse_duration(&text) {
                        Some(d) => {
                            deadlines.insert(*urgency, d);
                            texts.insert(*urgency, text);
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
                    let text = texts.get(&Urgency::Immediate).map_or("", String::as_str);
                    self.err(join(&t.path, "immediate"), format!("{text:?} is too long: must be at most 4h, immediate risk is answered in minutes, not days (001 Being alert)"));
                }
            }
            if let (Some(a), Some(b), Some(c)) = (imm, urg, rout) {
                if !(a <= b && b <= c) {
                    self.err(
                        t.path.clone(),
                        "deadlines must satisfy immediate <= urgent <= routine",
                    );
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

/// The `[protocol]` table, once valid.
struct Head {
    id: ProtocolId,
    title: String,
    version: String,
    approved_on: Date,
    review_due: Date,
    capacity_age: u8,
    repeat_window_days: u32,
    record_retention: RecordRetention,
}

/// (key path, value) of a string key in each table, where present, before validation: used for
/// the cross-entry checks, which must see entries whose other keys are broken.
fn raw_strings(objs: &[Obj<'_>], key: &str) -> Vec<(String, String)> {
    objs.iter()
        .filter_map(|o| {
            let s = o.table.get(key)?.as_str()?;
            (!s.trim().is_empty()).then(|| (join(&o.path, key), s.to_owned()))
        })
        .collect()
}

/// `[protocol] record_retention` as written, before validation: the default when absent,
/// `None` when it is not a valid period (reported at its key).
fn raw_record_retention(root: &Table) -> Option<RecordRetention> {
    match root.get("protocol").and_then(|p| p.get("record_retention")) {
        None => Some(RecordRetention::DEFAULT),
        Some(v) => v.as_str().and_then(RecordRetention::parse),
    }
}

/// (key path, normalised fingerprint) of every valid fingerprint of every signatory.
fn raw_fingerprints(objs: &[Obj<'_>]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for o in objs {
        let Some(Value::Array(items)) = o.table.get("certificate_fingerprints") else {
            continue;
        };
        for (i, v) in items.iter().enumerate() {
            if let Some(f) = v.as_str().and_then(normalise_fingerprint) {
                out.push((
                    format!("{}[{i}]", join(&o.path, "certificate_fingerprints")),
                    f,
                ));
            }
        }
    }
    out
}

/// `signatory[3]` from `signatory[3].certificate_fingerprints[1]`.
fn signatory_of(path: &str) -> &str {
    path.split_once('.').map_or(path, |(s, _)| s)
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
