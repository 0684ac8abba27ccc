//! `accord dev init` and `accord dev token`: a development setup (CA, broker and agency
//! certificates, token signing keys, store keys, a broker configuration) and tokens signed
//! with its keys. For development and demonstrations only.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use accord_dev::{self as dev, DevPki, DevSpec};
use accord_server::auth::TokenClaims;
use accord_server::ServerConfig;
use anyhow::{anyhow, bail, Context as _};

use crate::examples;
use crate::output::Table;

/// Where `accord dev init` writes by default, and where `accord serve` looks.
pub const DEFAULT_DIR: &str = ".accord-dev";

/// The address a development configuration listens on.
pub const DEV_LISTEN: &str = "127.0.0.1:7443";

#[derive(Debug, clap::Subcommand)]
pub enum DevCommand {
    /// Create a development setup: a CA, the broker's certificate, a client certificate and a
    /// token signing key for every agency of an example protocol, store keys, and a broker
    /// configuration using them (SQLite database in DIR).
    Init(InitArgs),
    /// Print a development token (JWT) for a user of an agency, signed with that agency's key
    /// from a development setup.
    Token(TokenArgs),
}

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Directory to create the setup in.
    #[arg(default_value = DEFAULT_DIR)]
    pub dir: PathBuf,
    /// Protocol file to issue credentials for, or the name of a built-in example
    /// (sandwell-partnership, banes-guidance, prevent-channel).
    #[arg(long, default_value = "sandwell-partnership")]
    pub protocol: String,
    /// Replace an existing setup in DIR (its database is deleted: it cannot be read with new
    /// keys).
    #[arg(long)]
    pub force: bool,
    /// Print what was made as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// Agency id (a signatory of the setup's protocol).
    #[arg(long)]
    pub agency: String,
    /// Role(s): practitioner, ig_lead, caldicott_guardian, auditor, admin. Repeat or separate
    /// with commas for several.
    #[arg(long, value_delimiter = ',', required = true)]
    pub role: Vec<String>,
    /// User id within the agency (the token's `sub`); default `dev-<role>`.
    #[arg(long)]
    pub sub: Option<String>,
    /// Display name (the token's `name`).
    #[arg(long)]
    pub name: Option<String>,
    /// The development setup.
    #[arg(long, default_value = DEFAULT_DIR)]
    pub dir: PathBuf,
    /// Lifetime: 30m, 1h, 7d...
    #[arg(long, default_value = "1h")]
    pub ttl: String,
}

pub fn run(cmd: DevCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DevCommand::Init(args) => {
            let setup = init(&args.dir, &args.protocol, args.force)?;
            if args.json {
                outln!("{}", serde_json::to_string_pretty(&setup.to_json())?);
            } else {
                setup.print();
            }
            Ok(ExitCode::SUCCESS)
        }
        DevCommand::Token(args) => {
            let dir = DevDir::open(&args.dir)?;
            let ttl = accord_domain::loader::parse_duration(&args.ttl).ok_or_else(|| {
                anyhow!(
                    "--ttl {:?}: write a whole number of minutes, hours or days: 30m, 1h, 7d",
                    args.ttl
                )
            })?;
            let roles = parse_roles(&args.role)?;
            let sub = args.sub.clone().unwrap_or_else(|| default_sub(&roles));
            let token = dir.mint(&args.agency, &roles, &sub, args.name.as_deref(), ttl)?;
            outln!("{token}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `dev-<first role>`.
pub fn default_sub(roles: &[String]) -> String {
    format!(
        "dev-{}",
        roles.first().map(String::as_str).unwrap_or("user")
    )
}

/// Checks role names against the five the broker knows.
pub fn parse_roles(roles: &[String]) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for r in roles {
        let r = r.trim();
        if r.is_empty() {
            continue;
        }
        let role = accord_domain::Role::parse(r).ok_or_else(|| {
            anyhow!(
                "--role {r:?}: not a role; use practitioner, ig_lead, caldicott_guardian, auditor or admin"
            )
        })?;
        if !out.iter().any(|x: &String| x == role.as_str()) {
            out.push(role.as_str().to_owned());
        }
    }
    if out.is_empty() {
        bail!("--role: give at least one role");
    }
    Ok(out)
}

/// What `accord dev init` made.
#[derive(Debug)]
pub struct Setup {
    pub pki: DevPki,
    pub config: PathBuf,
    pub protocol_file: PathBuf,
    pub protocol_id: String,
}

impl Setup {
    fn to_json(&self) -> serde_json::Value {
        let agencies: Vec<_> = self
            .pki
            .agencies
            .iter()
            .map(|a| {
                serde_json::json!({
                    "agency_id": a.agency_id,
                    "certificate_identity": a.certificate_identity,
                    "token_issuer": a.token_issuer,
                    "client_cert": a.client_cert,
                    "client_key": a.client_key,
                    "jwt_private_key": a.jwt_private_key,
                    "jwt_public_key": a.jwt_public_key,
                })
            })
            .collect();
        serde_json::json!({
            "dir": self.pki.dir,
            "config": self.config,
            "protocol_file": self.protocol_file,
            "protocol_id": self.protocol_id,
            "ca_cert": self.pki.ca_cert,
            "ca_key": self.pki.ca_key,
            "server_cert": self.pki.server_cert,
            "server_key": self.pki.server_key,
            "audit_key": self.pki.audit_key,
            "content_key": self.pki.content_key,
            "signing_key": self.pki.signing_key,
            "database": self.pki.dir.join("accord.db"),
            "admin_agencies": self.pki.admin_agencies,
            "auditor_agencies": self.pki.auditor_agencies,
            "agencies": agencies,
        })
    }

    pub fn print(&self) {
        let d = &self.pki.dir;
        outln!(
            "Development setup for protocol {} in {} (not for production)\n",
            self.protocol_id,
            d.display()
        );
        let mut t = Table::new(&["WHAT", "FILE"]);
        let show = |p: &Path| p.display().to_string();
        t.row(["broker configuration".into(), show(&self.config)]);
        t.row(["protocol".into(), show(&self.protocol_file)]);
        t.row(["other example protocols".into(), show(&d.join("protocols"))]);
        t.row(["certificate authority".into(), show(&self.pki.ca_cert)]);
        t.row(["CA private key".into(), show(&self.pki.ca_key)]);
        t.row([
            "broker certificate (localhost, 127.0.0.1)".into(),
            show(&self.pki.server_cert),
        ]);
        t.row(["broker private key".into(), show(&self.pki.server_key)]);
        t.row([
            "audit key (keyed hashes of identifiers)".into(),
            show(&self.pki.audit_key),
        ]);
        t.row([
            "content key (encryption at rest)".into(),
            show(&self.pki.content_key),
        ]);
        t.row([
            "checkpoint signing key (Ed25519)".into(),
            show(&self.pki.signing_key),
        ]);
        t.row([
            "database (created by accord serve)".into(),
            show(&d.join("accord.db")),
        ]);
        t.print();
        outln!();
        let mut a = Table::new(&[
            "AGENCY",
            "CERTIFICATE IDENTITY",
            "PARTNERSHIP ROLES",
            "CERTIFICATE, KEY, TOKEN KEYS",
        ]);
        for ag in &self.pki.agencies {
            let mut roles = Vec::new();
            if self.pki.admin_agencies.contains(&ag.agency_id) {
                roles.push("admin");
            }
            if self.pki.auditor_agencies.contains(&ag.agency_id) {
                roles.push("auditor");
            }
            a.row([
                ag.agency_id.clone(),
                ag.certificate_identity.clone(),
                if roles.is_empty() {
                    "-".to_owned()
                } else {
                    roles.join(", ")
                },
                format!("{}/", d.join("agencies").join(&ag.agency_id).display()),
            ]);
        }
        a.print();
        outln!(
            "\nPartnership administration and audit: only {} may use the admin role and only {} the auditor role ([auth] admin_agencies / auditor_agencies in {}); the same roles in other agencies' tokens are ignored.",
            describe_agencies(&self.pki.admin_agencies),
            describe_agencies(&self.pki.auditor_agencies),
            self.config.display(),
        );
        let first = self
            .pki
            .agencies
            .first()
            .map(|a| a.agency_id.as_str())
            .unwrap_or("AGENCY");
        outln!(
            "\nNext:\n  accord serve --config {}\n  accord registry show --dev {} --agency {first}\n  accord dev token --dir {} --agency {first} --role practitioner --sub jo",
            self.config.display(),
            d.display(),
            d.display(),
        );
    }
}

fn describe_agencies(agencies: &[String]) -> String {
    if agencies.is_empty() {
        "no agency".to_owned()
    } else {
        agencies.join(", ")
    }
}

/// Creates a development setup in `dir` for `protocol` (a file, or an example's name).
pub fn init(dir: &Path, protocol: &str, force: bool) -> anyhow::Result<Setup> {
    let config = dir.join("accord.toml");
    if config.exists() && !force {
        bail!(
            "{} already holds a development setup ({} exists); use it as it is, choose another directory, or pass --force to replace it (its database is deleted)",
            dir.display(),
            config.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    if force {
        for f in ["accord.db", "accord.db-wal", "accord.db-shm"] {
            let p = dir.join(f);
            if p.exists() {
                std::fs::remove_file(&p)
                    .with_context(|| format!("cannot remove {}", p.display()))?;
            }
        }
    }

    // Every example goes into DIR/protocols, so the setup is complete wherever the binary runs.
    let protocols_dir = dir.join("protocols");
    std::fs::create_dir_all(&protocols_dir)
        .with_context(|| format!("cannot create {}", protocols_dir.display()))?;
    for (name, text) in examples::PROTOCOLS {
        let p = protocols_dir.join(name);
        std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))?;
    }
    let given = Path::new(protocol);
    let protocol_file = if given.is_file() {
        std::path::absolute(given).with_context(|| format!("cannot resolve {}", given.display()))?
    } else if let Some((name, _)) = examples::protocol(protocol) {
        protocols_dir.join(name)
    } else {
        bail!(
            "--protocol {protocol:?}: no such file, and not the name of an example protocol ({})",
            examples::protocol_names()
        );
    };
    let parsed = accord_domain::load_protocol_file(&protocol_file).map_err(|errors| {
        let lines: Vec<String> = errors.0.iter().map(|e| format!("  {e}")).collect();
        anyhow!(
            "{} is not a valid protocol ({} problem(s)); check it with `accord protocol check`:\n{}",
            protocol_file.display(),
            errors.0.len(),
            lines.join("\n")
        )
    })?;
    let protocol_id = parsed.id.to_string();
    let spec = DevSpec::from_protocols(std::slice::from_ref(&parsed), &protocol_id);
    let pki = dev::generate(dir, &spec).context("generating the development PKI")?;
    let config = pki
        .write_config(
            std::slice::from_ref(&protocol_file),
            DEV_LISTEN,
            "sqlite://accord.db",
        )
        .context("writing the broker configuration")?;
    // The broker must accept what was written; say so now rather than at `accord serve`.
    ServerConfig::load_with_env(&config, std::iter::empty())
        .map_err(|e| anyhow!("the generated configuration does not load:\n{e}"))?;
    Ok(Setup {
        pki,
        config,
        protocol_file,
        protocol_id,
    })
}

/// A development setup on disk, as `accord dev init` laid it out.
#[derive(Debug, Clone)]
pub struct DevDir {
    pub dir: PathBuf,
    pub audience: String,
    /// (agency id, token issuer) from `[[auth.issuers]]`.
    pub issuers: Vec<(String, String)>,
    /// `listen` of its configuration.
    pub listen: String,
}

impl DevDir {
    pub fn open(dir: &Path) -> anyhow::Result<DevDir> {
        let config = dir.join("accord.toml");
        let text = std::fs::read_to_string(&config).map_err(|e| {
            anyhow!(
                "{} is not a development setup (cannot read {}: {e}); create one with `accord dev init {}`",
                dir.display(),
                config.display(),
                dir.display()
            )
        })?;
        let table: toml::Table = text
            .parse()
            .with_context(|| format!("{} is not valid TOML", config.display()))?;
        let auth = table.get("auth").and_then(toml::Value::as_table);
        let audience = auth
            .and_then(|a| a.get("audience"))
            .and_then(toml::Value::as_str)
            .unwrap_or("accord")
            .to_owned();
        let issuers = auth
            .and_then(|a| a.get("issuers"))
            .and_then(toml::Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|i| {
                        Some((
                            i.get("agency_id")?.as_str()?.to_owned(),
                            i.get("issuer")?.as_str()?.to_owned(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let listen = table
            .get("listen")
            .and_then(toml::Value::as_str)
            .unwrap_or(DEV_LISTEN)
            .to_owned();
        Ok(DevDir {
            dir: dir.to_owned(),
            audience,
            issuers,
            listen,
        })
    }

    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    fn agency_dir(&self, agency: &str) -> anyhow::Result<PathBuf> {
        let d = self.dir.join("agencies").join(agency);
        if !d.is_dir() || !self.issuers.iter().any(|(a, _)| a == agency) {
            bail!(
                "agency {agency:?} has no credentials in {}; agencies there: {}",
                self.dir.display(),
                self.agencies().join(", ")
            );
        }
        Ok(d)
    }

    pub fn agencies(&self) -> Vec<String> {
        self.issuers.iter().map(|(a, _)| a.clone()).collect()
    }

    /// (client certificate, client key) of an agency.
    pub fn client_files(&self, agency: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
        let d = self.agency_dir(agency)?;
        Ok((d.join("client.pem"), d.join("client.key")))
    }

    /// A token for `sub` of `agency` with `roles`, valid from a minute ago for `ttl`.
    pub fn mint(
        &self,
        agency: &str,
        roles: &[String],
        sub: &str,
        name: Option<&str>,
        ttl: time::Duration,
    ) -> anyhow::Result<String> {
        let d = self.agency_dir(agency)?;
        let issuer = self
            .issuers
            .iter()
            .find(|(a, _)| a == agency)
            .map(|(_, i)| i.clone())
            .unwrap_or_default();
        let key_path = d.join("jwt.key");
        let key = std::fs::read_to_string(&key_path)
            .with_context(|| format!("cannot read {}", key_path.display()))?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = TokenClaims {
            iss: issuer,
            sub: sub.to_owned(),
            aud: self.audience.clone(),
            exp: now + ttl.whole_seconds(),
            nbf: Some(now - 60),
            iat: Some(now),
            agency: agency.to_owned(),
            roles: roles.to_vec(),
            name: name.map(str::to_owned),
        };
        dev::mint_token(&key, &claims).context("signing the token")
    }
}
