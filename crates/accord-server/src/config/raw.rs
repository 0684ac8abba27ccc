//! The configuration file as serde reads it, before validation.
//!
//! Every key is optional and every value is kept even when it has the wrong type ([`Slot`]),
//! and the keys nobody knows are collected rather than refused: reading never fails on a
//! well-formed TOML document, so validation can report every problem at once instead of the
//! first one serde meets. (`deny_unknown_fields` would stop at the first unknown key.)

use std::collections::BTreeMap;

use serde::de::{Deserializer, IgnoredAny};
use serde::Deserialize;
use toml::value::Datetime;
use toml::Value;

/// A value of the expected type, or the TOML type name (`string`, `integer`, ...) of what was
/// found instead.
#[derive(Debug)]
pub(super) enum Slot<T> {
    Ok(T),
    Wrong(&'static str),
}

/// How a [`Slot`] is read: serde buffers the value and tries each variant in turn. A datetime
/// comes first because toml hands it over as a one-key table, which a section would otherwise
/// take (with an unknown key); and the value is not read through [`toml::Value`]'s own
/// deserializer, which turns datetimes into strings.
#[derive(Deserialize)]
#[serde(untagged)]
enum Read<T> {
    Datetime(#[allow(dead_code)] Datetime),
    Ok(T),
    Other(Value),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Slot<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Read::deserialize(d)? {
            Read::Datetime(_) => Slot::Wrong("datetime"),
            Read::Ok(t) => Slot::Ok(t),
            Read::Other(v) => Slot::Wrong(v.type_str()),
        })
    }
}

/// Keys of a table that no field of its struct names, in key order.
pub(super) type Unknown = BTreeMap<String, IgnoredAny>;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawConfig {
    pub listen: Option<Slot<String>>,
    pub shutdown_grace_ms: Option<Slot<i64>>,
    pub tls: Option<Slot<RawTls>>,
    pub auth: Option<Slot<RawAuth>>,
    pub protocols: Option<Slot<RawProtocols>>,
    pub store: Option<Slot<RawStore>>,
    pub limits: Option<Slot<RawLimits>>,
    pub jobs: Option<Slot<RawJobs>>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

// Sections: `Default` stands for a missing (or wrongly typed) section, whose keys are all
// missing and which has no unknown keys to report.

/// `[tls]`
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawTls {
    pub ca_cert: Option<Slot<String>>,
    pub server_cert: Option<Slot<String>>,
    pub server_key: Option<Slot<String>>,
    pub handshake_timeout_ms: Option<Slot<i64>>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `[auth]`
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawAuth {
    pub audience: Option<Slot<String>>,
    pub leeway_seconds: Option<Slot<i64>>,
    pub issuers: Option<Slot<Vec<Slot<RawIssuer>>>>,
    pub admin_agencies: Option<Slot<Vec<Slot<String>>>>,
    pub auditor_agencies: Option<Slot<Vec<Slot<String>>>>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// One `[[auth.issuers]]` entry.
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawIssuer {
    pub agency_id: Option<Slot<String>>,
    pub issuer: Option<Slot<String>>,
    pub keys: Option<Slot<String>>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `[protocols]`
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawProtocols {
    pub files: Option<Slot<Vec<Slot<String>>>>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `[store]`
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawStore {
    pub database_url: Option<Slot<String>>,
    pub audit_key_file: Option<Slot<String>>,
    pub content_key_file: Option<Slot<String>>,
    pub signing_key_file: Option<Slot<String>>,
    pub checkpoint_every: Option<Slot<i64>>,
    pub max_batch: Option<Slot<i64>>,
    pub max_connections: Option<Slot<i64>>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `[limits]`
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawLimits {
    pub max_message_bytes: Option<Slot<i64>>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `[jobs]`
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawJobs {
    pub deadline_interval_ms: Option<Slot<i64>>,
    pub retention_interval_ms: Option<Slot<i64>>,
    pub registry_sync_interval_ms: Option<Slot<i64>>,
    pub unanswered_request_retention_days: Option<Slot<i64>>,
    pub expiry_grace_days: Option<Slot<i64>>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

impl RawConfig {
    /// Reads the file; the only errors are TOML syntax errors.
    pub fn parse(text: &str) -> Result<RawConfig, toml::de::Error> {
        toml::from_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> RawConfig {
        RawConfig::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn wrong_types_are_kept_not_refused() {
        let r = raw("listen = 5\ntls = [1]\n[jobs]\nexpiry_grace_days = 1.5\nother = 1979-05-27\n");
        assert!(matches!(r.listen, Some(Slot::Wrong("integer"))));
        assert!(matches!(r.tls, Some(Slot::Wrong("array"))));
        let Some(Slot::Ok(jobs)) = r.jobs else {
            panic!("jobs not read")
        };
        assert!(matches!(jobs.expiry_grace_days, Some(Slot::Wrong("float"))));
        assert_eq!(jobs.unknown.keys().collect::<Vec<_>>(), ["other"]);
    }

    #[test]
    fn datetimes_are_neither_strings_nor_tables() {
        let r =
            raw("listen = 1979-05-27\nauth = 07:32:00\n[tls]\nca_cert = 1979-05-27T07:32:00Z\n");
        assert!(matches!(r.listen, Some(Slot::Wrong("datetime"))));
        assert!(matches!(r.auth, Some(Slot::Wrong("datetime"))));
        let Some(Slot::Ok(tls)) = r.tls else {
            panic!("tls not read")
        };
        assert!(matches!(tls.ca_cert, Some(Slot::Wrong("datetime"))));
    }

    #[test]
    fn lists_keep_each_item() {
        let r = raw(
            "[auth]\nadmin_agencies = [\"a\", 1]\nissuers = [{ agency_id = \"a\", x = 1 }, 2]\n",
        );
        let Some(Slot::Ok(auth)) = r.auth else {
            panic!("auth not read")
        };
        let Some(Slot::Ok(admins)) = auth.admin_agencies else {
            panic!("admin_agencies not read")
        };
        assert!(matches!(
            admins.as_slice(),
            [Slot::Ok(_), Slot::Wrong("integer")]
        ));
        let Some(Slot::Ok(issuers)) = auth.issuers else {
            panic!("issuers not read")
        };
        match issuers.as_slice() {
            [Slot::Ok(first), Slot::Wrong("integer")] => {
                assert!(matches!(first.agency_id, Some(Slot::Ok(_))));
                assert_eq!(first.unknown.keys().collect::<Vec<_>>(), ["x"]);
            }
            other => panic!("{other:?}"),
        }
    }
}
