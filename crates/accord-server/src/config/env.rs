//! `ACCORD_*` environment overrides: which variables exist, and how they are written into the
//! raw configuration before validation, so that a value from the environment is validated
//! exactly as the same value in the file would be.

use std::collections::{BTreeMap, BTreeSet};

use super::raw::{RawConfig, Slot};
use super::ConfigProblem;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    Int,
    StrList,
}

/// Every scalar key the environment may override: (section, key, kind).
const ENV_KEYS: &[(&str, &str, Kind)] = &[
    ("", "listen", Kind::Str),
    ("", "shutdown_grace_ms", Kind::Int),
    ("tls", "ca_cert", Kind::Str),
    ("tls", "server_cert", Kind::Str),
    ("tls", "server_key", Kind::Str),
    ("tls", "handshake_timeout_ms", Kind::Int),
    ("auth", "audience", Kind::Str),
    ("auth", "leeway_seconds", Kind::Int),
    ("auth", "admin_agencies", Kind::StrList),
    ("auth", "auditor_agencies", Kind::StrList),
    ("protocols", "files", Kind::StrList),
    ("store", "database_url", Kind::Str),
    ("store", "audit_key_file", Kind::Str),
    ("store", "content_key_file", Kind::Str),
    ("store", "signing_key_file", Kind::Str),
    ("store", "checkpoint_every", Kind::Int),
    ("store", "max_batch", Kind::Int),
    ("store", "max_connections", Kind::Int),
    ("limits", "max_message_bytes", Kind::Int),
    ("jobs", "deadline_interval_ms", Kind::Int),
    ("jobs", "retention_interval_ms", Kind::Int),
    ("jobs", "registry_sync_interval_ms", Kind::Int),
    ("jobs", "unanswered_request_retention_days", Kind::Int),
    ("jobs", "expiry_grace_days", Kind::Int),
];

/// The sections whose prefix (`ACCORD_TLS_`, ...) marks a variable as meant for the broker.
const SECTIONS: &[&str] = &["tls", "auth", "protocols", "store", "limits", "jobs"];

/// The environment variable overriding a key (`""` section for top-level keys).
pub fn env_name(section: &str, key: &str) -> String {
    if section.is_empty() {
        format!("ACCORD_{}", key.to_ascii_uppercase())
    } else {
        format!(
            "ACCORD_{}_{}",
            section.to_ascii_uppercase(),
            key.to_ascii_uppercase()
        )
    }
}

/// The key path of `key` in `section` (`""` for top level).
pub(super) fn join(section: &str, key: &str) -> String {
    if section.is_empty() {
        key.to_owned()
    } else {
        format!("{section}.{key}")
    }
}

/// What applying the environment found.
#[derive(Default)]
pub(super) struct Overrides {
    /// Variables that could not be applied, and unknown variables of a known section.
    pub problems: Vec<ConfigProblem>,
    /// Key path → environment variable that supplied it.
    pub from_env: BTreeMap<String, String>,
}

/// A variable's value, read as its key's kind.
enum Parsed {
    Str(String),
    Int(i64),
    StrList(Vec<String>),
}

/// Where a key's value goes in the raw configuration.
enum Field<'a> {
    Str(&'a mut Option<Slot<String>>),
    Int(&'a mut Option<Slot<i64>>),
    StrList(&'a mut Option<Slot<Vec<Slot<String>>>>),
}

/// The section, created empty if the file has none; `None` if it is not a table, which
/// validation reports (so the override has nowhere to go).
fn section<T: Default>(section: &mut Option<Slot<T>>) -> Option<&mut T> {
    match section.get_or_insert_with(|| Slot::Ok(T::default())) {
        Slot::Ok(t) => Some(t),
        Slot::Wrong(_) => None,
    }
}

/// The field of a key of [`ENV_KEYS`].
fn field<'a>(raw: &'a mut RawConfig, section_name: &str, key: &str) -> Option<Field<'a>> {
    use Field::{Int, Str, StrList};
    Some(match (section_name, key) {
        ("", "listen") => Str(&mut raw.listen),
        ("", "shutdown_grace_ms") => Int(&mut raw.shutdown_grace_ms),
        ("tls", _) => {
            let t = section(&mut raw.tls)?;
            match key {
                "ca_cert" => Str(&mut t.ca_cert),
                "server_cert" => Str(&mut t.server_cert),
                "server_key" => Str(&mut t.server_key),
                "handshake_timeout_ms" => Int(&mut t.handshake_timeout_ms),
                _ => return None,
            }
        }
        ("auth", _) => {
            let t = section(&mut raw.auth)?;
            match key {
                "audience" => Str(&mut t.audience),
                "leeway_seconds" => Int(&mut t.leeway_seconds),
                "admin_agencies" => StrList(&mut t.admin_agencies),
                "auditor_agencies" => StrList(&mut t.auditor_agencies),
                _ => return None,
            }
        }
        ("protocols", "files") => StrList(&mut section(&mut raw.protocols)?.files),
        ("store", _) => {
            let t = section(&mut raw.store)?;
            match key {
                "database_url" => Str(&mut t.database_url),
                "audit_key_file" => Str(&mut t.audit_key_file),
                "content_key_file" => Str(&mut t.content_key_file),
                "signing_key_file" => Str(&mut t.signing_key_file),
                "checkpoint_every" => Int(&mut t.checkpoint_every),
                "max_batch" => Int(&mut t.max_batch),
                "max_connections" => Int(&mut t.max_connections),
                _ => return None,
            }
        }
        ("limits", "max_message_bytes") => Int(&mut section(&mut raw.limits)?.max_message_bytes),
        ("jobs", _) => {
            let t = section(&mut raw.jobs)?;
            match key {
                "deadline_interval_ms" => Int(&mut t.deadline_interval_ms),
                "retention_interval_ms" => Int(&mut t.retention_interval_ms),
                "registry_sync_interval_ms" => Int(&mut t.registry_sync_interval_ms),
                "unanswered_request_retention_days" => {
                    Int(&mut t.unanswered_request_retention_days)
                }
                "expiry_grace_days" => Int(&mut t.expiry_grace_days),
                _ => return None,
            }
        }
        _ => return None,
    })
}

/// Writes `value` into `field`; false if their kinds differ (a mistake in [`ENV_KEYS`], which
/// a test rules out).
fn set(field: Field<'_>, value: Parsed) -> bool {
    match (field, value) {
        (Field::Str(f), Parsed::Str(v)) => *f = Some(Slot::Ok(v)),
        (Field::Int(f), Parsed::Int(v)) => *f = Some(Slot::Ok(v)),
        (Field::StrList(f), Parsed::StrList(v)) => {
            *f = Some(Slot::Ok(v.into_iter().map(Slot::Ok).collect()));
        }
        _ => return false,
    }
    true
}

/// Applies `ACCORD_*` overrides to the file as read.
pub(super) fn apply(raw: &mut RawConfig, env: &BTreeMap<String, String>) -> Overrides {
    let mut out = Overrides::default();
    let mut consumed: BTreeSet<&str> = BTreeSet::new();
    for (section, key, kind) in ENV_KEYS {
        let name = env_name(section, key);
        let mut value = env.get(&name).map(|v| (name.clone(), v));
        if *section == "store" && *key == "database_url" {
            if let Some(alias) = env.get("ACCORD_DATABASE_URL") {
                consumed.insert("ACCORD_DATABASE_URL");
                match &value {
                    Some((_, v)) if *v != alias => {
                        out.problems.push(ConfigProblem {
                            key: "store.database_url".into(),
                            reason: "ACCORD_DATABASE_URL and ACCORD_STORE_DATABASE_URL are both set and differ".into(),
                        });
                    }
                    Some(_) => {}
                    None => value = Some(("ACCORD_DATABASE_URL".into(), alias)),
                }
            }
        }
        let Some((var, text)) = value else { continue };
        consumed.insert(env.get_key_value(&var).map_or("", |(k, _)| k.as_str()));
        let path = join(section, key);
        let parsed = match kind {
            Kind::Str => Parsed::Str(text.clone()),
            Kind::Int => match text.trim().parse::<i64>() {
                Ok(i) => Parsed::Int(i),
                Err(_) => {
                    out.problems.push(ConfigProblem {
                        key: format!("{path} ({var})"),
                        reason: "must be a whole number".into(),
                    });
                    continue;
                }
            },
            Kind::StrList => Parsed::StrList(
                text.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
        };
        // A section that is not a table is reported by validation.
        let Some(field) = field(raw, section, key) else {
            continue;
        };
        if set(field, parsed) {
            out.from_env.insert(path, var);
        }
    }
    for name in env.keys() {
        if consumed.contains(name.as_str()) {
            continue;
        }
        let Some(rest) = name.strip_prefix("ACCORD_") else {
            continue;
        };
        let section = SECTIONS
            .iter()
            .find(|s| rest.starts_with(&format!("{}_", s.to_ascii_uppercase())));
        if let Some(section) = section {
            let known = ENV_KEYS
                .iter()
                .filter(|(s, _, _)| s == section)
                .map(|(s, k, _)| env_name(s, k))
                .collect::<Vec<_>>();
            out.problems.push(ConfigProblem {
                key: name.clone(),
                reason: format!(
                    "unknown environment variable (known in this section: {})",
                    known.join(", ")
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variable_has_a_field_of_its_kind() {
        for (section, key, kind) in ENV_KEYS {
            let mut raw = RawConfig::default();
            let value = match kind {
                Kind::Str => Parsed::Str("x".into()),
                Kind::Int => Parsed::Int(1),
                Kind::StrList => Parsed::StrList(vec!["x".into()]),
            };
            let field = field(&mut raw, section, key);
            assert!(
                field.is_some_and(|f| set(f, value)),
                "{section}.{key} has no field of its kind"
            );
        }
    }
}
