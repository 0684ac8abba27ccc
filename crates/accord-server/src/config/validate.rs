//! Validation of the raw configuration into [`ServerConfig`]: defaults, ranges, paths, and
//! loading everything the configuration names (certificates, keys, protocols). Every problem
//! is recorded with its key path and validation goes on, so that one run lists them all.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::env::{env_name, join, Overrides};
use super::issuers::build_auth;
use super::raw::{
    RawAuth, RawConfig, RawJobs, RawLimits, RawProtocols, RawStore, RawTls, Slot, Unknown,
};
use super::{
    ConfigProblem, JobSettings, Limits, ProtocolSettings, ServerConfig, StoreSettings, TlsSettings,
};
use crate::registry::LoadedProtocol;

/// Where problems and warnings collect while the configuration is validated.
pub(super) struct Cx {
    base: PathBuf,
    pub(super) problems: Vec<ConfigProblem>,
    /// Key path → environment variable that supplied it.
    from_env: BTreeMap<String, String>,
    pub(super) warnings: Vec<String>,
}

impl Cx {
    /// Relative paths resolve against `base`; starts with the environment's problems.
    pub(super) fn new(base: &Path, overrides: Overrides) -> Cx {
        Cx {
            base: base.to_owned(),
            problems: overrides.problems,
            from_env: overrides.from_env,
            warnings: Vec::new(),
        }
    }

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

    pub(super) fn err(&mut self, key: &str, reason: impl Into<String>) {
        let key = self.label(key);
        self.problems.push(ConfigProblem {
            key,
            reason: reason.into(),
        });
    }

    pub(super) fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.base.join(p)
        }
    }

    /// A section, or an empty one if it is missing or not a table (reported).
    fn section<T: Default>(&mut self, section: Option<Slot<T>>, name: &str) -> T {
        match section {
            None => T::default(),
            Some(Slot::Ok(t)) => t,
            Some(Slot::Wrong(found)) => {
                self.err(name, format!("expected a table ([{name}]), found {found}"));
                T::default()
            }
        }
    }

    pub(super) fn unknown_keys(&mut self, unknown: &Unknown, section: &str) {
        for k in unknown.keys() {
            self.err(&join(section, k), "unknown key");
        }
    }

    pub(super) fn string(
        &mut self,
        value: &Option<Slot<String>>,
        section: &str,
        key: &str,
        default: Option<&str>,
    ) -> Option<String> {
        let path = join(section, key);
        match value {
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
            Some(Slot::Ok(s)) if s.trim().is_empty() => {
                self.err(&path, "must not be empty");
                None
            }
            Some(Slot::Ok(s)) => Some(s.clone()),
            Some(Slot::Wrong(found)) => {
                self.err(&path, format!("expected a string, found {found}"));
                None
            }
        }
    }

    pub(super) fn path(
        &mut self,
        value: &Option<Slot<String>>,
        section: &str,
        key: &str,
    ) -> Option<PathBuf> {
        self.string(value, section, key, None)
            .map(|s| self.resolve(&s))
    }

    pub(super) fn int(
        &mut self,
        value: &Option<Slot<i64>>,
        section: &str,
        key: &str,
        default: u64,
        min: u64,
        max: u64,
    ) -> Option<u64> {
        let path = join(section, key);
        let v = match value {
            None => return Some(default),
            Some(Slot::Ok(i)) => *i,
            Some(Slot::Wrong(found)) => {
                self.err(&path, format!("expected a whole number, found {found}"));
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

/// Validates the whole configuration; `None` when anything is wrong (and recorded in `cx`).
pub(super) fn build(raw: RawConfig, cx: &mut Cx) -> Option<ServerConfig> {
    let listen = cx
        .string(&raw.listen, "", "listen", Some("127.0.0.1:7443"))
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
    let grace = cx.int(
        &raw.shutdown_grace_ms,
        "",
        "shutdown_grace_ms",
        10_000,
        0,
        600_000,
    );

    let tls_t: RawTls = cx.section(raw.tls, "tls");
    let tls = build_tls(&tls_t, cx);
    cx.unknown_keys(&tls_t.unknown, "tls");

    let protocols_t: RawProtocols = cx.section(raw.protocols, "protocols");
    let protocols = build_protocols(&protocols_t, cx);
    cx.unknown_keys(&protocols_t.unknown, "protocols");

    let auth_t: RawAuth = cx.section(raw.auth, "auth");
    let auth = build_auth(&auth_t, protocols.as_ref(), cx);
    cx.unknown_keys(&auth_t.unknown, "auth");

    let store_t: RawStore = cx.section(raw.store, "store");
    let store = build_store(&store_t, cx);
    cx.unknown_keys(&store_t.unknown, "store");

    let limits_t: RawLimits = cx.section(raw.limits, "limits");
    let max_message = cx.int(
        &limits_t.max_message_bytes,
        "limits",
        "max_message_bytes",
        4 * 1024 * 1024,
        1024,
        64 * 1024 * 1024,
    );
    cx.unknown_keys(&limits_t.unknown, "limits");

    let jobs_t: RawJobs = cx.section(raw.jobs, "jobs");
    let jobs = build_jobs(&jobs_t, cx);
    cx.unknown_keys(&jobs_t.unknown, "jobs");

    cx.unknown_keys(&raw.unknown, "");

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
        jobs: jobs?,
        warnings: std::mem::take(&mut cx.warnings),
    })
}

fn build_tls(t: &RawTls, cx: &mut Cx) -> Option<TlsSettings> {
    let ca_cert = cx.path(&t.ca_cert, "tls", "ca_cert");
    let server_cert = cx.path(&t.server_cert, "tls", "server_cert");
    let server_key = cx.path(&t.server_key, "tls", "server_key");
    let timeout = cx.int(
        &t.handshake_timeout_ms,
        "tls",
        "handshake_timeout_ms",
        10_000,
        1,
        300_000,
    );

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

fn build_protocols(t: &RawProtocols, cx: &mut Cx) -> Option<ProtocolSettings> {
    let items = match &t.files {
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
        Some(Slot::Ok(a)) if a.is_empty() => {
            cx.err("protocols.files", "list at least one protocol file");
            return None;
        }
        Some(Slot::Ok(a)) => a,
        Some(Slot::Wrong(found)) => {
            cx.err(
                "protocols.files",
                format!("expected an array of paths, found {found}"),
            );
            return None;
        }
    };
    let mut files = Vec::new();
    let mut loaded = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let key = format!("protocols.files[{i}]");
        let s = match item {
            Slot::Ok(s) if !s.trim().is_empty() => s,
            _ => {
                cx.err(&key, "expected a path");
                ok = false;
                continue;
            }
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

fn build_store(t: &RawStore, cx: &mut Cx) -> Option<StoreSettings> {
    let url = cx
        .string(
            &t.database_url,
            "store",
            "database_url",
            Some("sqlite://accord.db"),
        )
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
    let audit_key_file = cx.path(&t.audit_key_file, "store", "audit_key_file");
    let content_key_file = cx.path(&t.content_key_file, "store", "content_key_file");
    let signing_key_file = cx.path(&t.signing_key_file, "store", "signing_key_file");
    let checkpoint_every = cx.int(
        &t.checkpoint_every,
        "store",
        "checkpoint_every",
        1000,
        1,
        10_000_000,
    );
    let max_batch = cx.int(&t.max_batch, "store", "max_batch", 256, 1, 100_000);
    let max_connections = cx.int(&t.max_connections, "store", "max_connections", 16, 2, 1000);

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

fn build_jobs(t: &RawJobs, cx: &mut Cx) -> Option<JobSettings> {
    let deadline = cx.int(
        &t.deadline_interval_ms,
        "jobs",
        "deadline_interval_ms",
        60_000,
        100,
        86_400_000,
    );
    let retention = cx.int(
        &t.retention_interval_ms,
        "jobs",
        "retention_interval_ms",
        3_600_000,
        100,
        86_400_000,
    );
    let registry_sync = cx.int(
        &t.registry_sync_interval_ms,
        "jobs",
        "registry_sync_interval_ms",
        2_000,
        100,
        3_600_000,
    );
    let unanswered_days = cx.int(
        &t.unanswered_request_retention_days,
        "jobs",
        "unanswered_request_retention_days",
        365,
        1,
        36_500,
    );
    let expiry_grace_days = cx.int(
        &t.expiry_grace_days,
        "jobs",
        "expiry_grace_days",
        30,
        0,
        3_650,
    );
    Some(JobSettings {
        deadline_interval: Duration::from_millis(deadline?),
        retention_interval: Duration::from_millis(retention?),
        registry_sync_interval: Duration::from_millis(registry_sync?),
        unanswered_request_retention: Duration::from_secs(unanswered_days? * 86_400),
        expiry_grace: Duration::from_secs(expiry_grace_days? * 86_400),
    })
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

/// A relative `sqlite://` path resolves against the configuration's directory, like every
/// other path in it.
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
