//! Loading real configurations written by the dev PKI generator, with every kind of problem.

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
        p.iter()
            .any(|x| x == "auth.auditor_agencies: expected an array of agency ids, found string"),
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
