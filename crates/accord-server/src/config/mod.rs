//! The broker's configuration: a TOML file, overridden key by key by `ACCORD_*` environment
//! variables, validated once at start.
//!
//! Loading reads and checks everything the broker will need: the TLS certificates and key,
//! the token keys of every issuing agency, the protocol files, the store's keys. Every
//! problem is reported at once, each with its key and the reason; the CLI prints them and
//! exits with [`EXIT_CONFIG`] (64, `EX_USAGE`).
//!
//! Environment overrides: `ACCORD_<SECTION>_<KEY>` in upper case, `ACCORD_<KEY>` for top-level
//! keys (`ACCORD_LISTEN`, `ACCORD_TLS_CA_CERT`, `ACCORD_STORE_DATABASE_URL`, ...).
//! `ACCORD_DATABASE_URL` is accepted as an alias of `ACCORD_STORE_DATABASE_URL`.
//! `ACCORD_PROTOCOLS_FILES`, `ACCORD_AUTH_ADMIN_AGENCIES` and `ACCORD_AUTH_AUDITOR_AGENCIES` are
//! comma-separated lists. `[[auth.issuers]]` has no environment
//! form. An `ACCORD_` variable whose prefix names a section (`ACCORD_TLS_...`) but no key of it
//! is reported, because it is almost certainly a typo.
//!
//! Relative paths (from the file or the environment) resolve against the directory of the
//! configuration file, including the path of a `sqlite://` database URL.
//!
//! Loading runs in three steps: serde reads the file into a raw layer that keeps every value
//! whatever its type (`raw`), the environment overrides keys of that layer (`env`), and
//! validation turns it into [`ServerConfig`], collecting every problem (`validate`, with
//! `[auth]` in `issuers`).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use accord_domain::AgencyId;
use accord_store::StoreConfig;

use crate::auth::IssuerKeys;
use crate::registry::LoadedProtocol;

mod env;
mod issuers;
mod raw;
#[cfg(test)]
mod tests;
mod validate;

pub use env::env_name;
pub use validate::parse_key32;

use raw::RawConfig;
use validate::Cx;

/// Exit code for a bad configuration (`EX_USAGE` in sysexits.h).
pub const EXIT_CONFIG: u8 = 64;

/// One problem in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Key path, e.g. `tls.server_key` or `auth.issuers[1].keys`; an environment variable's
    /// name follows in parentheses when the value came from it.
    pub key: String,
    pub reason: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.key, self.reason)
        }
    }
}

/// Every problem found in a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub file: Option<PathBuf>,
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(file) => writeln!(
                f,
                "{} problem(s) in the configuration {}:",
                self.problems.len(),
                file.display()
            )?,
            None => writeln!(
                f,
                "{} problem(s) in the configuration:",
                self.problems.len()
            )?,
        }
        for p in &self.problems {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

/// The validated configuration, with everything it names already loaded.
#[derive(Clone)]
pub struct ServerConfig {
    /// The file it was loaded from, if any.
    pub file: Option<PathBuf>,
    /// `listen`: the socket address to bind, e.g. `0.0.0.0:7443`.
    pub listen: SocketAddr,
    /// `shutdown_grace_ms`: how long in-flight calls may take to finish once shutdown starts.
    pub shutdown_grace: Duration,
    pub tls: TlsSettings,
    pub auth: AuthSettings,
    pub protocols: ProtocolSettings,
    pub store: StoreSettings,
    pub limits: Limits,
    pub jobs: JobSettings,
    /// Things that work but deserve an operator's attention (logged at start).
    pub warnings: Vec<String>,
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("file", &self.file)
            .field("listen", &self.listen)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("tls", &self.tls)
            .field("auth", &self.auth)
            .field("protocols", &self.protocols.files)
            .field("store", &self.store)
            .field("limits", &self.limits)
            .field("jobs", &self.jobs)
            .finish()
    }
}

/// `[tls]`
#[derive(Clone)]
pub struct TlsSettings {
    /// `ca_cert`: PEM; client certificates must chain to one of these.
    pub ca_cert: PathBuf,
    /// `server_cert`: PEM chain, leaf first.
    pub server_cert: PathBuf,
    /// `server_key`: PEM private key.
    pub server_key: PathBuf,
    /// `handshake_timeout_ms` (default 10000).
    pub handshake_timeout: Duration,
    server_config: Arc<rustls::ServerConfig>,
}

impl TlsSettings {
    /// The rustls configuration built from the files (TLS 1.3, client certificates required).
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        self.server_config.clone()
    }
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("ca_cert", &self.ca_cert)
            .field("server_cert", &self.server_cert)
            .field("server_key", &self.server_key)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish()
    }
}

/// `[auth]`
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// `audience`: the `aud` every token must carry (default `accord`).
    pub audience: String,
    /// `leeway_seconds`: clock skew allowed on `exp` and `nbf` (default 30).
    pub leeway_seconds: u64,
    /// `[[auth.issuers]]`
    pub issuers: Vec<IssuerSettings>,
    /// `admin_agencies`: the agencies whose tokens' `admin` role counts (the partnership's
    /// administration). Default empty: nobody may administer the registry.
    pub admin_agencies: Vec<AgencyId>,
    /// `auditor_agencies`: the agencies whose tokens' `auditor` role counts. Default empty:
    /// nobody may read the audit log.
    pub auditor_agencies: Vec<AgencyId>,
    keys: Arc<IssuerKeys>,
}

impl AuthSettings {
    /// Token keys of every agency: from `[[auth.issuers]]` and from the protocols'
    /// `token_keys`, with the issuer the protocol names.
    pub fn issuer_keys(&self) -> Arc<IssuerKeys> {
        self.keys.clone()
    }
}

/// One `[[auth.issuers]]` entry.
#[derive(Debug, Clone)]
pub struct IssuerSettings {
    pub agency_id: AgencyId,
    /// Must equal the `token_issuer` the protocols give the agency.
    pub issuer: String,
    /// PEM public keys or a JWKS document.
    pub keys: PathBuf,
}

/// `[protocols]`
#[derive(Debug, Clone)]
pub struct ProtocolSettings {
    /// `files`: protocol TOML files.
    pub files: Vec<PathBuf>,
    /// The protocols, loaded and validated.
    pub loaded: Vec<LoadedProtocol>,
}

/// `[store]`
#[derive(Clone)]
pub struct StoreSettings {
    /// `database_url` (default `sqlite://accord.db`).
    pub database_url: String,
    pub audit_key_file: PathBuf,
    pub content_key_file: PathBuf,
    pub signing_key_file: PathBuf,
    /// `checkpoint_every` (default 1000).
    pub checkpoint_every: u64,
    /// `max_batch` (default 256).
    pub max_batch: usize,
    /// `max_connections` (default 16).
    pub max_connections: u32,
    audit_key: [u8; 32],
    content_key: [u8; 32],
    signing_key: ed25519_dalek::SigningKey,
}

impl StoreSettings {
    /// What `accord_store::Store::open` needs.
    pub fn store_config(&self) -> StoreConfig {
        StoreConfig {
            url: self.database_url.clone(),
            audit_key: self.audit_key,
            content_key: self.content_key,
            signing_key: self.signing_key.clone(),
            checkpoint_every: self.checkpoint_every,
            max_batch: self.max_batch,
            max_connections: self.max_connections,
        }
    }
}

impl fmt::Debug for StoreSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print keys; the URL may hold a password.
        f.debug_struct("StoreSettings")
            .field("database_url", &self.store_config())
            .field("audit_key_file", &self.audit_key_file)
            .field("content_key_file", &self.content_key_file)
            .field("signing_key_file", &self.signing_key_file)
            .finish_non_exhaustive()
    }
}

/// `[limits]`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `max_message_bytes`: largest request or response message (default 4 MiB).
    pub max_message_bytes: usize,
}

/// `[jobs]`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobSettings {
    /// `deadline_interval_ms`: how often overdue exchanges are looked for (default 60000).
    pub deadline_interval: Duration,
    /// `retention_interval_ms`: how often expired content is purged (default 3600000).
    pub retention_interval: Duration,
    /// `registry_sync_interval_ms`: how often the audit log is read for signatory changes
    /// made through other replicas (default 2000, at least 100): the longest a suspension
    /// takes to reach every replica.
    pub registry_sync_interval: Duration,
    /// `unanswered_request_retention_days`: how long the request of an exchange that ended
    /// without a response (refused, declined, withdrawn, expired, closed unanswered) is kept
    /// after its last change before the retention job purges it (default 365, at least 1).
    pub unanswered_request_retention: Duration,
    /// `expiry_grace_days`: how long past its response deadline an exchange may wait for the
    /// holder's response (approved, partly approved) or the requester's answer (more
    /// information requested) before the deadline job expires it (default 30, 0 to 3650).
    pub expiry_grace: Duration,
}

impl ServerConfig {
    /// Loads `path` with the process environment's overrides.
    pub fn load(path: &Path) -> Result<ServerConfig, ConfigError> {
        Self::load_with_env(path, std::env::vars())
    }

    /// Loads `path` with the given environment (tests pass their own).
    pub fn load_with_env(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<ServerConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: Some(path.to_owned()),
            problems: vec![ConfigProblem {
                key: String::new(),
                reason: format!("cannot read {}: {e}", path.display()),
            }],
        })?;
        let base = path.parent().map(Path::to_owned).unwrap_or_default();
        let base = if base.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            base
        };
        let mut config = Self::from_toml(&text, &base, env).map_err(|mut e| {
            e.file = Some(path.to_owned());
            e
        })?;
        config.file = Some(path.to_owned());
        Ok(config)
    }

    /// Parses and validates configuration text; relative paths resolve against `base_dir`.
    pub fn from_toml(
        text: &str,
        base_dir: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<ServerConfig, ConfigError> {
        let env: BTreeMap<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("ACCORD_"))
            .collect();
        let mut raw = match RawConfig::parse(text) {
            Ok(raw) => raw,
            Err(e) => {
                return Err(ConfigError {
                    file: None,
                    problems: vec![ConfigProblem {
                        key: String::new(),
                        reason: format!("not valid TOML: {}", e.message().trim_end()),
                    }],
                })
            }
        };
        let overrides = env::apply(&mut raw, &env);
        let mut cx = Cx::new(base_dir, overrides);
        let built = validate::build(raw, &mut cx);
        match built {
            Some(c) if cx.problems.is_empty() => Ok(c),
            _ => {
                if cx.problems.is_empty() {
                    cx.problems.push(ConfigProblem {
                        key: String::new(),
                        reason: "the configuration is incomplete".into(),
                    });
                }
                Err(ConfigError {
                    file: None,
                    problems: cx.problems,
                })
            }
        }
    }
}
