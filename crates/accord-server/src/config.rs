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

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use accord_domain::AgencyId;
use accord_store::StoreConfig;
use toml::{Table, Value};

use crate::auth::{load_verifying_keys, IssuerKeys, VerifyingKey};
use crate::registry::LoadedProtocol;

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

fn join(section: &str, key: &str) -> String {
    if section.is_empty() {
        key.to_owned()
    } else {
        format!("{section}.{key}")
    }
}

struct Cx {
    base: PathBuf,
    problems: Vec<ConfigProblem>,
    /// Key path → environment variable that supplied it.
    from_env: BTreeMap<String, String>,
    warnings: Vec<String>,
}

impl Cx {
    /// The key, with the environment variable that supplied it (or its list) if any.
    fn label(&self, key: &str) -> String {
        let var = self.from_env.iter().find_map(|(k, var)| {
            let covers =
                key == k || key.starts_with(&format!("{k}[")) || key.starts_with(&format!("{k}."));
            covers.then_some(var)
        });
        match var {
            Some(var) => format!("{key} ({var})"),
            None => key.to_owned(),
        }
    }

    fn err(&mut self, key: &str, reason: impl Into<String>) {
        let key = self.label(key);
        self.problems.push(ConfigProblem {
            key,
            reason: reason.into(),
        });
    }

    fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.base.join(p)
        }
    }

    fn section<'a>(&mut self, root: &'a Table, name: &str) -> Option<&'a Table> {
        match root.get(name) {
            None => None,
            Some(Value::Table(t)) => Some(t),
            Some(other) => {
                self.err(
                    name,
                    format!("expected a table ([{name}]), found {}", other.type_str()),
                );
                None
            }
        }
    }

    fn unknown_keys(&mut self, table: Option<&Table>, section: &str, known: &[&str]) {
        let Some(table) = table else { return };
        let mut unknown: Vec<&String> = table
            .keys()
            .filter(|k| !known.contains(&k.as_str()))
            .collect();
        unknown.sort();
        for k in unknown {
            self.err(&join(section, k), "unknown key");
        }
    }

    fn string(
        &mut self,
        table: Option<&Table>,
        section: &str,
        key: &str,
        default: Option<&str>,
    ) -> Option<String> {
        let path = join(section, key);
        match table.and_then(|t| t.get(key)) {
            None => match default {
                Some(d) => Some(d.to_owned()),
                None => {
                    self.err(
                        &path,
                        format!("missing key (or set {})", env_name(section, key)),
                    );
                    None
                }
            },
            Some(Value::String(s)) if s.trim().is_empty() => {
                self.err(&path, "must not be empty");
                None
            }
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                self.err(
                    &path,
                    format!("expected a string, found {}", other.type_str()),
                );
                None
            }
        }
    }

    fn path(&mut self, table: Option<&Table>, section: &str, key: &str) -> Option<PathBuf> {
        self.string(table, section, key, None)
            .map(|s| self.resolve(&s))
    }

    fn int(
        &mut self,
        table: Option<&Table>,
        section: &str,
        key: &str,
        default: u64,
        min: u64,
        max: u64,
    ) -> Option<u64> {
        let path = join(section, key);
        let v = match table.and_then(|t| t.get(key)) {
            None => return Some(default),
            Some(Value::Integer(i)) => *i,
            Some(other) => {
                self.err(
                    &path,
                    format!("expected a whole number, found {}", other.type_str()),
                );
                return None;
            }
        };
        match u64::try_from(v) {
            Ok(v) if (min..=max).contains(&v) => Some(v),
            _ => {
                self.err(
                    &path,
                    format!("must be between {min} and {max} (found {v})"),
                );
                None
            }
        }
    }

    fn read(&mut self, key: &str, path: &Path) -> Option<Vec<u8>> {
        match std::fs::read(path) {
            Ok(b) => {
                self.check_private(key, path);
                Some(b)
            }
            Err(e) => {
                self.err(key, format!("cannot read {}: {e}", path.display()));
                None
            }
        }
    }

    /// Key files readable by others work, but an operator should know.
    fn check_private(&mut self, key: &str, path: &Path) {
        #[cfg(unix)]
        if key.ends_with("_key") || key.ends_with("_key_file") {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(m) = std::fs::metadata(path) {
                if m.permissions().mode() & 0o077 != 0 {
                    self.warnings.push(format!(
                        "{key}: {} is readable by other users; chmod 600 it",
                        path.display()
                    ));
                }
            }
        }
        #[cfg(not(unix))]
        let _ = (key, path);
    }
}

/// Applies `ACCORD_*` overrides to the parsed file.
fn apply_env(root: &mut Table, env: &BTreeMap<String, String>, cx: &mut Cx) {
    let mut consumed: BTreeSet<&str> = BTreeSet::new();
    for (section, key, kind) in ENV_KEYS {
        let name = env_name(section, key);
        let mut value = env.get(&name).map(|v| (name.clone(), v));
        if *section == "store" && *key == "database_url" {
            if let Some(alias) = env.get("ACCORD_DATABASE_URL") {
                consumed.insert("ACCORD_DATABASE_URL");
                match &value {
                    Some((_, v)) if *v != alias => {
                        cx.problems.push(ConfigProblem {
                            key: "store.database_url".into(),
                            reason: "ACCORD_DATABASE_URL and ACCORD_STORE_DATABASE_URL are both set and differ".into(),
                        });
                    }
                    Some(_) => {}
                    None => value = Some(("ACCORD_DATABASE_URL".into(), alias)),
                }
            }
        }
        let Some((var, raw)) = value else { continue };
        consumed.insert(env.get_key_value(&var).map_or("", |(k, _)| k.as_str()));
        let path = join(section, key);
        let parsed = match kind {
            Kind::Str => Value::String(raw.clone()),
            Kind::Int => match raw.trim().parse::<i64>() {
                Ok(i) => Value::Integer(i),
                Err(_) => {
                    cx.problems.push(ConfigProblem {
                        key: format!("{path} ({var})"),
                        reason: "must be a whole number".into(),
                    });
                    continue;
                }
            },
            Kind::StrList => Value::Array(
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.to_owned()))
                    .collect(),
            ),
        };
        let table = if section.is_empty() {
            &mut *root
        } else {
            match root
                .entry(section.to_string())
                .or_insert_with(|| Value::Table(Table::new()))
            {
                Value::Table(t) => t,
                // Reported as a wrong type by the walk.
                _ => continue,
            }
        };
        table.insert(key.to_string(), parsed);
        cx.from_env.insert(path, var);
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
            cx.problems.push(ConfigProblem {
                key: name.clone(),
                reason: format!(
                    "unknown environment variable (known in this section: {})",
                    known.join(", ")
                ),
            });
        }
    }
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
        let mut cx = Cx {
            base: base_dir.to_owned(),
            problems: Vec::new(),
            from_env: BTreeMap::new(),
            warnings: Vec::new(),
        };
        let mut root: Table = match text.parse() {
            Ok(t) => t,
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
        apply_env(&mut root, &env, &mut cx);
        let built = build(&root, &mut cx);
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

fn build(root: &Table, cx: &mut Cx) -> Option<ServerConfig> {
    let root_ref = Some(root);
    let listen = cx
        .string(root_ref, "", "listen", Some("127.0.0.1:7443"))
        .and_then(|s| match s.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                cx.err(
                    "listen",
                    format!("{s:?} is not a socket address such as \"0.0.0.0:7443\""),
                );
                None
            }
        });
    let grace = cx.int(root_ref, "", "shutdown_grace_ms", 10_000, 0, 600_000);

    let tls_t = cx.section(root, "tls");
    let tls = build_tls(tls_t, cx);
    cx.unknown_keys(
        tls_t,
        "tls",
        &[
            "ca_cert",
            "server_cert",
            "server_key",
            "handshake_timeout_ms",
        ],
    );

    let protocols_t = cx.section(root, "protocols");
    let protocols = build_protocols(protocols_t, cx);
    cx.unknown_keys(protocols_t, "protocols", &["files"]);

    let auth_t = cx.section(root, "auth");
    let auth = build_auth(auth_t, protocols.as_ref(), cx);
    cx.unknown_keys(
        auth_t,
        "auth",
        &[
            "audience",
            "leeway_seconds",
            "issuers",
            "admin_agencies",
            "auditor_agencies",
        ],
    );

    let store_t = cx.section(root, "store");
    let store = build_store(store_t, cx);
    cx.unknown_keys(
        store_t,
        "store",
        &[
            "database_url",
            "audit_key_file",
            "content_key_file",
            "signing_key_file",
            "checkpoint_every",
            "max_batch",
            "max_connections",
        ],
    );

    let limits_t = cx.section(root, "limits");
    let max_message = cx.int(
        limits_t,
        "limits",
        "max_message_bytes",
        4 * 1024 * 1024,
        1024,
        64 * 1024 * 1024,
    );
    cx.unknown_keys(limits_t, "limits", &["max_message_bytes"]);

    let jobs_t = cx.section(root, "jobs");
    let deadline = cx.int(
        jobs_t,
        "jobs",
        "deadline_interval_ms",
        60_000,
        100,
        86_400_000,
    );
    let retention = cx.int(
        jobs_t,
        "jobs",
        "retention_interval_ms",
        3_600_000,
        100,
        86_400_000,
    );
    let registry_sync = cx.int(
        jobs_t,
        "jobs",
        "registry_sync_interval_ms",
        2_000,
        100,
        3_600_000,
    );
    let unanswered_days = cx.int(
        jobs_t,
        "jobs",
        "unanswered_request_retention_days",
        365,
        1,
        36_500,
    );
    let expiry_grace_days = cx.int(jobs_t, "jobs", "expiry_grace_days", 30, 0, 3_650);
    cx.unknown_keys(
        jobs_t,
        "jobs",
        &[
            "deadline_interval_ms",
            "retention_interval_ms",
            "registry_sync_interval_ms",
            "unanswered_request_retention_days",
            "expiry_grace_days",
        ],
    );

    let mut top: Vec<&str> = vec!["listen", "shutdown_grace_ms"];
    top.extend(SECTIONS);
    cx.unknown_keys(Some(root), "", &top);

    Some(ServerConfig {
        file: None,
        listen: listen?,
        shutdown_grace: Duration::from_millis(grace?),
        tls: tls?,
        auth: auth?,
        protocols: protocols?,
        store: store?,
        limits: Limits {
            max_message_bytes: usize::try_from(max_message?).ok()?,
        },
        jobs: JobSettings {
            deadline_interval: Duration::from_millis(deadline?),
            retention_interval: Duration::from_millis(retention?),
            registry_sync_interval: Duration::from_millis(registry_sync?),
            unanswered_request_retention: Duration::from_secs(unanswered_days? * 86_400),
            expiry_grace: Duration::from_secs(expiry_grace_days? * 86_400),
        },
        warnings: std::mem::take(&mut cx.warnings),
    })
}

fn build_tls(t: Option<&Table>, cx: &mut Cx) -> Option<TlsSettings> {
    let ca_cert = cx.path(t, "tls", "ca_cert");
    let server_cert = cx.path(t, "tls", "server_cert");
    let server_key = cx.path(t, "tls", "server_key");
    let timeout = cx.int(t, "tls", "handshake_timeout_ms", 10_000, 1, 300_000);

    let cas = ca_cert.as_ref().and_then(|p| {
        let pem = cx.read("tls.ca_cert", p)?;
        crate::tls::parse_certs(&pem)
            .map_err(|e| cx.err("tls.ca_cert", e.to_string()))
            .ok()
    });
    let chain = server_cert.as_ref().and_then(|p| {
        let pem = cx.read("tls.server_cert", p)?;
        crate::tls::parse_certs(&pem)
            .map_err(|e| cx.err("tls.server_cert", e.to_string()))
            .ok()
    });
    let key = server_key.as_ref().and_then(|p| {
        let pem = cx.read("tls.server_key", p)?;
        crate::tls::parse_private_key(&pem)
            .map_err(|e| cx.err("tls.server_key", e.to_string()))
            .ok()
    });
    let server_config = match (cas, chain, key) {
        (Some(cas), Some(chain), Some(key)) => match crate::tls::server_config(&cas, chain, key) {
            Ok(c) => Some(Arc::new(c)),
            Err(e) => {
                cx.err("tls", e.to_string());
                None
            }
        },
        _ => None,
    };
    Some(TlsSettings {
        ca_cert: ca_cert?,
        server_cert: server_cert?,
        server_key: server_key?,
        handshake_timeout: Duration::from_millis(timeout?),
        server_config: server_config?,
    })
}

fn build_protocols(t: Option<&Table>, cx: &mut Cx) -> Option<ProtocolSettings> {
    let items = match t.and_then(|t| t.get("files")) {
        None => {
            cx.err(
                "protocols.files",
                format!(
                    "missing key: list at least one protocol file (or set {})",
                    env_name("protocols", "files")
                ),
            );
            return None;
        }
        Some(Value::Array(a)) if a.is_empty() => {
            cx.err("protocols.files", "list at least one protocol file");
            return None;
        }
        Some(Value::Array(a)) => a,
        Some(other) => {
            cx.err(
                "protocols.files",
                format!("expected an array of paths, found {}", other.type_str()),
            );
            return None;
        }
    };
    let mut files = Vec::new();
    let mut loaded = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let key = format!("protocols.files[{i}]");
        let Some(s) = item.as_str().filter(|s| !s.trim().is_empty()) else {
            cx.err(&key, "expected a path");
            ok = false;
            continue;
        };
        let path = cx.resolve(s);
        match accord_domain::load_protocol_file(&path) {
            Ok(protocol) => loaded.push(LoadedProtocol {
                path: path.clone(),
                protocol,
            }),
            Err(errors) => {
                ok = false;
                for e in errors.0 {
                    cx.err(&key, e.to_string());
                }
            }
        }
        files.push(path);
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (i, p) in loaded.iter().enumerate() {
        if let Some(first) = seen.insert(p.protocol.id.to_string(), i) {
            cx.err(
                &format!("protocols.files[{i}]"),
                format!(
                    "protocol {} is also loaded from {}",
                    p.protocol.id,
                    loaded[first].path.display()
                ),
            );
            ok = false;
        }
    }
    ok.then_some(ProtocolSettings { files, loaded })
}

fn build_auth(
    t: Option<&Table>,
    protocols: Option<&ProtocolSettings>,
    cx: &mut Cx,
) -> Option<AuthSettings> {
    let audience = cx.string(t, "auth", "audience", Some("accord"));
    let leeway = cx.int(t, "auth", "leeway_seconds", 30, 0, 600);

    // The issuer of each agency, as the protocols give it, with where it came from.
    let mut protocol_issuers: BTreeMap<AgencyId, (String, PathBuf)> = BTreeMap::new();
    let mut protocol_keys: Vec<(AgencyId, Vec<VerifyingKey>)> = Vec::new();
    if let Some(ps) = protocols {
        for (i, lp) in ps.loaded.iter().enumerate() {
            let key = format!("protocols.files[{i}]");
            for s in &lp.protocol.signatories {
                match protocol_issuers.get(&s.agency_id) {
                    Some((issuer, other)) if *issuer != s.token_issuer => cx.err(
                        &key,
                        format!(
                            "signatory {} has token_issuer {:?} here but {:?} in {}",
                            s.agency_id,
                            s.token_issuer,
                            issuer,
                            other.display()
                        ),
                    ),
                    Some(_) => {}
                    None => {
                        protocol_issuers.insert(
                            s.agency_id.clone(),
                            (s.token_issuer.clone(), lp.path.clone()),
                        );
                    }
                }
                if let Some(keys) = &s.token_keys {
                    // Relative to the protocol file, as the protocol format documents.
                    let base = lp.path.parent().map(Path::to_owned).unwrap_or_default();
                    let p = base.join(keys);
                    match load_verifying_keys(&p) {
                        Ok(k) => protocol_keys.push((s.agency_id.clone(), k)),
                        Err(e) => {
                            cx.err(&key, format!("signatory {} token_keys: {e}", s.agency_id))
                        }
                    }
                }
            }
        }
    }

    let mut issuers = Vec::new();
    let mut configured: Vec<(AgencyId, String, Vec<VerifyingKey>)> = Vec::new();
    match t.and_then(|t| t.get("issuers")) {
        None => {}
        Some(Value::Array(items)) => {
            let mut seen = BTreeSet::new();
            for (i, item) in items.iter().enumerate() {
                let section = format!("auth.issuers[{i}]");
                let Value::Table(it) = item else {
                    cx.err(
                        &section,
                        format!(
                            "expected a table ([[auth.issuers]]), found {}",
                            item.type_str()
                        ),
                    );
                    continue;
                };
                let agency = cx
                    .string(Some(it), &section, "agency_id", None)
                    .and_then(|s| match AgencyId::parse(&s) {
                        Ok(a) => Some(a),
                        Err(e) => {
                            cx.err(
                                &format!("{section}.agency_id"),
                                format!("{s:?} is not a valid agency id: {e}"),
                            );
                            None
                        }
                    });
                let issuer = cx.string(Some(it), &section, "issuer", None);
                let keys_path = cx.path(Some(it), &section, "keys");
                cx.unknown_keys(Some(it), &section, &["agency_id", "issuer", "keys"]);
                let keys = keys_path
                    .as_ref()
                    .and_then(|p| match load_verifying_keys(p) {
                        Ok(k) => Some(k),
                        Err(e) => {
                            cx.err(&format!("{section}.keys"), e);
                            None
                        }
                    });
                if let Some(a) = &agency {
                    if !seen.insert(a.clone()) {
                        cx.err(
                            &format!("{section}.agency_id"),
                            format!("agency {a} is listed twice"),
                        );
                    }
                    if protocols.is_some() {
                        match protocol_issuers.get(a) {
                            None => cx.err(
                                &format!("{section}.agency_id"),
                                format!("agency {a} is not a signatory of any loaded protocol"),
                            ),
                            Some((expected, _)) => {
                                if issuer.as_ref().is_some_and(|i| i != expected) {
                                    cx.err(
                                        &format!("{section}.issuer"),
                                        format!("must equal the token_issuer the protocol gives agency {a} ({expected:?})"),
                                    );
                                }
                            }
                        }
                    }
                }
                if let (Some(a), Some(i), Some(p), Some(k)) = (agency, issuer, keys_path, keys) {
                    issuers.push(IssuerSettings {
                        agency_id: a.clone(),
                        issuer: i.clone(),
                        keys: p,
                    });
                    configured.push((a, i, k));
                }
            }
        }
        Some(other) => cx.err(
            "auth.issuers",
            format!(
                "expected [[auth.issuers]] tables, found {}",
                other.type_str()
            ),
        ),
    }

    let mut keys = IssuerKeys::default();
    for (agency, (issuer, _)) in &protocol_issuers {
        let mut k: Vec<VerifyingKey> = configured
            .iter()
            .filter(|(a, _, _)| a == agency)
            .flat_map(|(_, _, k)| k.iter().cloned())
            .collect();
        k.extend(
            protocol_keys
                .iter()
                .filter(|(a, _)| a == agency)
                .flat_map(|(_, k)| k.iter().cloned()),
        );
        if k.is_empty() {
            cx.warnings.push(format!(
                "agency {agency} has no token keys ([[auth.issuers]] or token_keys in its protocol): its users cannot call the broker"
            ));
            continue;
        }
        if let Err(e) = keys.add(agency.clone(), issuer, k) {
            cx.err("auth.issuers", e);
        }
    }

    let admin_agencies = designated_agencies(t, "admin_agencies", protocols, &protocol_issuers, cx);
    let auditor_agencies =
        designated_agencies(t, "auditor_agencies", protocols, &protocol_issuers, cx);
    keys.designate(accord_domain::Role::Admin, admin_agencies.iter().cloned());
    keys.designate(
        accord_domain::Role::Auditor,
        auditor_agencies.iter().cloned(),
    );

    Some(AuthSettings {
        audience: audience?,
        leeway_seconds: leeway?,
        issuers,
        admin_agencies,
        auditor_agencies,
        keys: Arc::new(keys),
    })
}

/// `[auth] admin_agencies` / `auditor_agencies`: agency ids, each a signatory of a loaded
/// protocol. Missing means empty (nobody holds the role).
fn designated_agencies(
    t: Option<&Table>,
    key: &str,
    protocols: Option<&ProtocolSettings>,
    signatories: &BTreeMap<AgencyId, (String, PathBuf)>,
    cx: &mut Cx,
) -> Vec<AgencyId> {
    let path = join("auth", key);
    let items = match t.and_then(|t| t.get(key)) {
        None => return Vec::new(),
        Some(Value::Array(a)) => a,
        Some(other) => {
            cx.err(
                &path,
                format!(
                    "expected an array of agency ids, found {}",
                    other.type_str()
                ),
            );
            return Vec::new();
        }
    };
    let mut out: Vec<AgencyId> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let Some(s) = item.as_str() else {
            cx.err(
                &at,
                format!("expected an agency id, found {}", item.type_str()),
            );
            continue;
        };
        let agency = match AgencyId::parse(s) {
            Ok(a) => a,
            Err(e) => {
                cx.err(&at, format!("{s:?} is not a valid agency id: {e}"));
                continue;
            }
        };
        if protocols.is_some() && !signatories.contains_key(&agency) {
            cx.err(
                &at,
                format!("agency {agency} is not a signatory of any loaded protocol"),
            );
            continue;
        }
        if out.contains(&agency) {
            cx.err(&at, format!("agency {agency} is listed twice"));
            continue;
        }
        out.push(agency);
    }
    out
}

/// Reads a 32-byte key: 64 hex digits (whitespace around them ignored) or exactly 32 raw bytes.
pub fn parse_key32(bytes: &[u8]) -> Result<[u8; 32], String> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        let t = text.trim();
        if t.len() == 64 && t.chars().all(|c| c.is_ascii_hexdigit()) {
            let mut out = [0u8; 32];
            hex::decode_to_slice(t, &mut out).map_err(|e| e.to_string())?;
            return Ok(out);
        }
    }
    <[u8; 32]>::try_from(bytes).map_err(|_| {
        format!(
            "must hold a 32-byte key: 64 hex digits or 32 raw bytes (found {} bytes)",
            bytes.len()
        )
    })
}

fn resolve_database_url(url: &str, cx: &Cx) -> String {
    let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        return url.to_owned();
    };
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if path.is_empty() || path.starts_with(":memory:") || Path::new(path).is_absolute() {
        return url.to_owned();
    }
    let abs = cx.base.join(path);
    match query {
        Some(q) => format!("sqlite://{}?{q}", abs.display()),
        None => format!("sqlite://{}", abs.display()),
    }
}

fn build_store(t: Option<&Table>, cx: &mut Cx) -> Option<StoreSettings> {
    let url = cx
        .string(t, "store", "database_url", Some("sqlite://accord.db"))
        .and_then(|u| {
            if u.starts_with("sqlite:")
                || u.starts_with("postgres://")
                || u.starts_with("postgresql://")
            {
                Some(resolve_database_url(&u, cx))
            } else {
                cx.err(
                    "store.database_url",
                    "must start with sqlite:// or postgres://",
                );
                None
            }
        });
    let audit_key_file = cx.path(t, "store", "audit_key_file");
    let content_key_file = cx.path(t, "store", "content_key_file");
    let signing_key_file = cx.path(t, "store", "signing_key_file");
    let checkpoint_every = cx.int(t, "store", "checkpoint_every", 1000, 1, 10_000_000);
    let max_batch = cx.int(t, "store", "max_batch", 256, 1, 100_000);
    let max_connections = cx.int(t, "store", "max_connections", 16, 2, 1000);

    let key32 = |cx: &mut Cx, key: &str, p: &Option<PathBuf>| {
        let bytes = cx.read(key, p.as_ref()?)?;
        parse_key32(&bytes).map_err(|e| cx.err(key, e)).ok()
    };
    let audit_key = key32(cx, "store.audit_key_file", &audit_key_file);
    let content_key = key32(cx, "store.content_key_file", &content_key_file);
    if audit_key.is_some() && audit_key == content_key {
        cx.err("store.content_key_file", "must differ from the audit key");
    }
    let signing_key = signing_key_file.as_ref().and_then(|p| {
        use ed25519_dalek::pkcs8::DecodePrivateKey;
        let bytes = cx.read("store.signing_key_file", p)?;
        let text = String::from_utf8(bytes).ok();
        match text
            .as_deref()
            .map(ed25519_dalek::SigningKey::from_pkcs8_pem)
        {
            Some(Ok(k)) => Some(k),
            _ => {
                cx.err(
                    "store.signing_key_file",
                    "must hold an Ed25519 private key in PKCS#8 PEM (-----BEGIN PRIVATE KEY-----)",
                );
                None
            }
        }
    });
    Some(StoreSettings {
        database_url: url?,
        audit_key_file: audit_key_file?,
        content_key_file: content_key_file?,
        signing_key_file: signing_key_file?,
        checkpoint_every: checkpoint_every?,
        max_batch: usize::try_from(max_batch?).ok()?,
        max_connections: u32::try_from(max_connections?).ok()?,
        audit_key: audit_key?,
        content_key: content_key?,
        signing_key: signing_key?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use accord_dev::{self as dev, DevSpec};

    struct Fixture {
        dir: tempfile::TempDir,
        pki: dev::DevPki,
        config: PathBuf,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let pki = dev::generate(dir.path(), &DevSpec::new("test", &["police", "council"]))
            .unwrap_or_else(|e| panic!("{e}"));
        let protocol = dir.path().join("protocol.toml");
        std::fs::write(
            &protocol,
            crate::registry::tests::protocol_text(
                "proto-a",
                "test",
                &[("police", "active"), ("council", "active")],
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let config = pki
            .write_config(&[protocol], "127.0.0.1:0", "sqlite://accord.db")
            .unwrap_or_else(|e| panic!("{e}"));
        Fixture { dir, pki, config }
    }

    fn load(f: &Fixture, env: &[(&str, &str)]) -> Result<ServerConfig, ConfigError> {
        ServerConfig::load_with_env(
            &f.config,
            env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )
    }

    fn problems(r: Result<ServerConfig, ConfigError>) -> Vec<String> {
        match r {
            Ok(_) => panic!("configuration accepted"),
            Err(e) => e.problems.iter().map(ToString::to_string).collect(),
        }
    }

    fn rewrite(f: &Fixture, from: &str, to: &str) {
        let text = std::fs::read_to_string(&f.config).unwrap_or_default();
        assert!(text.contains(from), "{from} not in config");
        std::fs::write(&f.config, text.replacen(from, to, 1)).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn dev_config_loads_with_defaults() {
        let f = fixture();
        let c = load(&f, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.listen, "127.0.0.1:0".parse().unwrap_or_else(|_| panic!()));
        assert_eq!(c.tls.handshake_timeout, Duration::from_secs(10));
        assert_eq!(c.auth.audience, "accord");
        assert_eq!(c.auth.leeway_seconds, 30);
        assert_eq!(c.limits.max_message_bytes, 4 * 1024 * 1024);
        assert_eq!(c.jobs.deadline_interval, Duration::from_secs(60));
        assert_eq!(c.jobs.registry_sync_interval, Duration::from_secs(2));
        assert_eq!(
            c.jobs.unanswered_request_retention,
            Duration::from_secs(365 * 86_400)
        );
        assert_eq!(c.protocols.loaded.len(), 1);
        assert_eq!(c.auth.issuers.len(), 2);
        assert!(c
            .auth
            .issuer_keys()
            .get(&AgencyId::parse("police").unwrap_or_else(|e| panic!("{e}")))
            .is_some());
        assert_eq!(
            c.store.database_url,
            format!("sqlite://{}", f.dir.path().join("accord.db").display())
        );
        assert_eq!(c.store.store_config().checkpoint_every, 1000);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        // Keys never appear in Debug output.
        let debug = format!("{c:?}");
        let audit = std::fs::read_to_string(&f.pki.audit_key).unwrap_or_default();
        assert!(!debug.contains(audit.trim()));
    }

    #[test]
    fn environment_overrides_keys() {
        let f = fixture();
        let c = load(
            &f,
            &[
                ("ACCORD_LISTEN", "0.0.0.0:9999"),
                ("ACCORD_TLS_HANDSHAKE_TIMEOUT_MS", "250"),
                ("ACCORD_DATABASE_URL", "postgres://u:p@localhost/accord"),
                ("ACCORD_LIMITS_MAX_MESSAGE_BYTES", "65536"),
                ("ACCORD_JOBS_UNANSWERED_REQUEST_RETENTION_DAYS", "30"),
                ("ACCORD_JOBS_REGISTRY_SYNC_INTERVAL_MS", "100"),
                ("ACCORD_LOG", "debug"),
                ("PATH", "/usr/bin"),
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.listen.port(), 9999);
        assert_eq!(c.tls.handshake_timeout, Duration::from_millis(250));
        assert_eq!(c.store.database_url, "postgres://u:p@localhost/accord");
        assert_eq!(c.limits.max_message_bytes, 65536);
        assert_eq!(
            c.jobs.unanswered_request_retention,
            Duration::from_secs(30 * 86_400)
        );
        assert_eq!(c.jobs.registry_sync_interval, Duration::from_millis(100));
    }

    #[test]
    fn partnership_roles_are_designated_and_validated() {
        let f = fixture();
        // DevSpec::new designates every agency it made.
        let c = load(&f, &[]).unwrap_or_else(|e| panic!("{e}"));
        let ids = |v: &[AgencyId]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        assert_eq!(ids(&c.auth.admin_agencies), ["police", "council"]);
        // The environment replaces the list.
        let c = load(
            &f,
            &[
                ("ACCORD_AUTH_ADMIN_AGENCIES", "council"),
                ("ACCORD_AUTH_AUDITOR_AGENCIES", ""),
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ids(&c.auth.admin_agencies), ["council"]);
        assert!(c.auth.auditor_agencies.is_empty());
        let keys = c.auth.issuer_keys();
        let council = AgencyId::parse("council").unwrap_or_else(|e| panic!("{e}"));
        let police = AgencyId::parse("police").unwrap_or_else(|e| panic!("{e}"));
        assert!(keys.may_grant(&council, accord_domain::Role::Admin));
        assert!(!keys.may_grant(&police, accord_domain::Role::Admin));
        assert!(!keys.may_grant(&council, accord_domain::Role::Auditor));
        assert!(keys.may_grant(&police, accord_domain::Role::Practitioner));
        // Missing keys mean nobody.
        rewrite(&f, "admin_agencies = [\"police\", \"council\"]\n", "");
        let c = load(&f, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert!(c.auth.admin_agencies.is_empty());
        // Each must be a signatory of a loaded protocol, a valid id, listed once.
        let p = problems(load(
            &f,
            &[(
                "ACCORD_AUTH_AUDITOR_AGENCIES",
                "nobody,Not An Id,police,police",
            )],
        ));
        assert!(p.iter().any(|x| x == "auth.auditor_agencies[0] (ACCORD_AUTH_AUDITOR_AGENCIES): agency nobody is not a signatory of any loaded protocol"), "{p:#?}");
        assert!(p.iter().any(|x| x.starts_with("auth.auditor_agencies[1] (ACCORD_AUTH_AUDITOR_AGENCIES): \"Not An Id\" is not a valid agency id")), "{p:#?}");
        assert!(p.iter().any(|x| x == "auth.auditor_agencies[3] (ACCORD_AUTH_AUDITOR_AGENCIES): agency police is listed twice"), "{p:#?}");
        rewrite(
            &f,
            "auditor_agencies = [",
            "auditor_agencies = \"police\"\nx = [",
        );
        let p = problems(load(&f, &[]));
        assert!(
            p.iter().any(
                |x| x == "auth.auditor_agencies: expected an array of agency ids, found string"
            ),
            "{p:#?}"
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let f = fixture();
        rewrite(
            &f,
            "handshake_timeout_ms = 10000",
            "handshake_timeout_ms = 0\nciphers = \"all\"",
        );
        rewrite(&f, "leeway_seconds = 30", "leeway_seconds = \"thirty\"");
        std::fs::write(&f.pki.audit_key, "not hex").unwrap_or_else(|e| panic!("{e}"));
        let p = problems(load(
            &f,
            &[
                ("ACCORD_LISTEN", "nowhere"),
                ("ACCORD_STORE_MAX_BATCH", "many"),
                ("ACCORD_JOBS_UNANSWERED_REQUEST_RETENTION_DAYS", "0"),
                ("ACCORD_JOBS_REGISTRY_SYNC_INTERVAL_MS", "99"),
                ("ACCORD_TLS_CA_CRT", "x"),
            ],
        ));
        let want = [
            "listen (ACCORD_LISTEN): \"nowhere\" is not a socket address such as \"0.0.0.0:7443\"",
            "tls.handshake_timeout_ms: must be between 1 and 300000 (found 0)",
            "tls.ciphers: unknown key",
            "auth.leeway_seconds: expected a whole number, found string",
            "store.max_batch (ACCORD_STORE_MAX_BATCH): must be a whole number",
            "jobs.unanswered_request_retention_days (ACCORD_JOBS_UNANSWERED_REQUEST_RETENTION_DAYS): must be between 1 and 36500 (found 0)",
            "jobs.registry_sync_interval_ms (ACCORD_JOBS_REGISTRY_SYNC_INTERVAL_MS): must be between 100 and 3600000 (found 99)",
            "store.audit_key_file: must hold a 32-byte key: 64 hex digits or 32 raw bytes (found 7 bytes)",
        ];
        for w in want {
            assert!(p.iter().any(|x| x == w), "missing {w:?} in {p:#?}");
        }
        assert!(
            p.iter()
                .any(|x| x.starts_with("ACCORD_TLS_CA_CRT: unknown environment variable")),
            "{p:#?}"
        );
    }

    #[test]
    fn missing_files_and_keys() {
        let f = fixture();
        std::fs::remove_file(&f.pki.server_key).unwrap_or_else(|e| panic!("{e}"));
        rewrite(&f, "[store]", "[store]\nmax_connections = 5000");
        let p = problems(load(&f, &[("ACCORD_TLS_CA_CERT", "")]));
        assert!(
            p.iter()
                .any(|x| x == "tls.ca_cert (ACCORD_TLS_CA_CERT): must not be empty"),
            "{p:#?}"
        );
        assert!(
            p.iter()
                .any(|x| x.starts_with("tls.server_key: cannot read")),
            "{p:#?}"
        );
        assert!(
            p.iter()
                .any(|x| x == "store.max_connections: must be between 2 and 1000 (found 5000)"),
            "{p:#?}"
        );
    }

    #[test]
    fn issuers_are_checked_against_protocols() {
        let f = fixture();
        rewrite(
            &f,
            "issuer = \"https://id.police.example/\"",
            "issuer = \"https://wrong.example/\"",
        );
        rewrite(&f, "agency_id = \"council\"", "agency_id = \"nobody\"");
        let p = problems(load(&f, &[]));
        assert!(p.iter().any(|x| x == "auth.issuers[0].issuer: must equal the token_issuer the protocol gives agency police (\"https://id.police.example/\")"), "{p:#?}");
        assert!(p.iter().any(|x| x == "auth.issuers[1].agency_id: agency nobody is not a signatory of any loaded protocol"), "{p:#?}");
    }

    #[test]
    fn protocol_errors_are_reported() {
        let f = fixture();
        let bad = f.dir.path().join("bad.toml");
        std::fs::write(&bad, "[protocol]\nid = \"x\"\n").unwrap_or_else(|e| panic!("{e}"));
        let p = problems(load(
            &f,
            &[(
                "ACCORD_PROTOCOLS_FILES",
                "protocol.toml, bad.toml, protocol.toml",
            )],
        ));
        assert!(
            p.iter()
                .any(|x| x.starts_with("protocols.files[1] (ACCORD_PROTOCOLS_FILES): ")),
            "{p:#?}"
        );
        assert!(
            p.iter()
                .any(|x| x.contains("protocol proto-a is also loaded from")),
            "{p:#?}"
        );
    }

    #[test]
    fn agency_without_keys_is_a_warning() {
        let f = fixture();
        let text = std::fs::read_to_string(&f.config).unwrap_or_default();
        let cut = text.find("[[auth.issuers]]").unwrap_or(0);
        let rest = &text[cut..];
        let end = rest.find("\n[protocols]").unwrap_or(rest.len());
        std::fs::write(&f.config, format!("{}{}", &text[..cut], &rest[end..]))
            .unwrap_or_else(|e| panic!("{e}"));
        let c = load(&f, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
    }

    #[test]
    fn invalid_toml() {
        let e = ServerConfig::from_toml("listen = ", Path::new("."), Vec::new())
            .err()
            .unwrap_or_else(|| panic!());
        assert!(e.problems[0].reason.starts_with("not valid TOML"));
        assert!(e
            .to_string()
            .starts_with("1 problem(s) in the configuration:"));
    }

    #[test]
    fn key32_forms() {
        let hex = "00".repeat(32);
        assert_eq!(parse_key32(hex.as_bytes()), Ok([0u8; 32]));
        assert_eq!(parse_key32(format!("{hex}\n").as_bytes()), Ok([0u8; 32]));
        assert_eq!(parse_key32(&[7u8; 32]), Ok([7u8; 32]));
        assert!(parse_key32(&[7u8; 31]).is_err());
    }
}
