//! Development certificates, keys, tokens and configuration for `accord dev init` and the
//! tests: a CA, a server certificate for `localhost` / `127.0.0.1`, a client certificate per
//! agency carrying its SAN URI, a JWT signing key pair per agency, the store's keys, and a
//! configuration file that ties them together. Also a token minting helper and a second,
//! unrelated CA for negative tests.
//!
//! Nothing here is fit for production: keys are written unencrypted (private keys with mode
//! 0600 on Unix) and certificates are valid for a year. The broker itself does not depend on
//! this crate (only its tests do), so certificate generation stays out of the server build.

#![forbid(unsafe_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use accord_domain::Protocol;
use rand::Rng;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

/// A development PKI problem.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("certificate generation failed: {0}")]
    Cert(#[from] rcgen::Error),
    #[error("token minting failed: {0}")]
    Token(String),
}

/// One agency to issue credentials for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevAgency {
    pub agency_id: String,
    /// SAN URI of its client certificate, e.g. `spiffe://scsp/agency/west-mids-police`.
    pub certificate_identity: String,
    /// `iss` of its users' tokens.
    pub token_issuer: String,
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevSpec {
    pub agencies: Vec<DevAgency>,
    /// The `aud` the broker's configuration will expect.
    pub audience: String,
    /// `[auth] admin_agencies` of the configuration: the agencies whose `admin` role counts.
    pub admin_agencies: Vec<String>,
    /// `[auth] auditor_agencies` of the configuration: the agencies whose `auditor` role
    /// counts.
    pub auditor_agencies: Vec<String>,
}

impl DevSpec {
    /// Agencies named `spiffe://<partnership>/agency/<id>` with issuer `https://id.<id>.example/`.
    ///
    /// Without protocols there is no lead agency to pick, so this test spec designates every
    /// agency for `admin` and `auditor`; [`Self::from_protocols`] designates the lead agency
    /// only, as a real partnership would.
    pub fn new(partnership: &str, agency_ids: &[&str]) -> DevSpec {
        let all: Vec<String> = agency_ids.iter().map(|id| (*id).to_owned()).collect();
        DevSpec {
            admin_agencies: all.clone(),
            auditor_agencies: all,
            agencies: agency_ids
                .iter()
                .map(|id| DevAgency {
                    agency_id: (*id).to_owned(),
                    certificate_identity: format!("spiffe://{partnership}/agency/{id}"),
                    token_issuer: format!("https://id.{id}.example/"),
                })
                .collect(),
            audience: "accord".into(),
        }
    }

    /// Every signatory of the protocols, with the identity and issuer the protocol gives it
    /// (a signatory identified only by fingerprint gets `spiffe://<partnership>/agency/<id>`,
    /// which the protocol will not recognise). An agency in several protocols appears once.
    ///
    /// Partnership administration and audit go to the [`lead_agency`] of the first protocol:
    /// it alone is designated in `admin_agencies` and `auditor_agencies`.
    pub fn from_protocols(protocols: &[Protocol], partnership: &str) -> DevSpec {
        let mut agencies: Vec<DevAgency> = Vec::new();
        for p in protocols {
            for s in &p.signatories {
                if agencies.iter().any(|a| a.agency_id == s.agency_id.as_str()) {
                    continue;
                }
                agencies.push(DevAgency {
                    agency_id: s.agency_id.to_string(),
                    certificate_identity: s.certificate_identity.clone().unwrap_or_else(|| {
                        format!("spiffe://{partnership}/agency/{}", s.agency_id)
                    }),
                    token_issuer: s.token_issuer.clone(),
                });
            }
        }
        let lead: Vec<String> = protocols
            .first()
            .and_then(lead_agency)
            .map(|a| a.to_string())
            .into_iter()
            .collect();
        DevSpec {
            agencies,
            audience: "accord".into(),
            admin_agencies: lead.clone(),
            auditor_agencies: lead,
        }
    }
}

/// The partnership's lead agency in a protocol, which development setups designate for
/// `admin` and `auditor`: the first signatory of kind `local_authority` (in a safeguarding
/// partnership, the council that hosts its business unit), else the first signatory.
pub fn lead_agency(protocol: &Protocol) -> Option<&accord_domain::AgencyId> {
    protocol
        .signatories
        .iter()
        .find(|s| s.kind == accord_domain::AgencyKind::LocalAuthority)
        .or_else(|| protocol.signatories.first())
        .map(|s| &s.agency_id)
}

/// Files written for one agency.
#[derive(Debug, Clone)]
pub struct DevAgencyFiles {
    pub agency_id: String,
    pub certificate_identity: String,
    pub token_issuer: String,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// Ed25519 PKCS#8 PEM: signs tokens ([`mint_token`]).
    pub jwt_private_key: PathBuf,
    /// The matching SPKI PEM, for `[[auth.issuers]] keys`.
    pub jwt_public_key: PathBuf,
}

/// Everything [`generate`] wrote.
#[derive(Debug, Clone)]
pub struct DevPki {
    pub dir: PathBuf,
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub agencies: Vec<DevAgencyFiles>,
    /// 32 random bytes, hex: HMAC key for subject identifiers in the audit log.
    pub audit_key: PathBuf,
    /// 32 random bytes, hex: AES-256-GCM key for content at rest.
    pub content_key: PathBuf,
    /// Ed25519 PKCS#8 PEM: signs audit checkpoints.
    pub signing_key: PathBuf,
    pub audience: String,
    /// Written as `[auth] admin_agencies` ([`DevSpec::admin_agencies`]).
    pub admin_agencies: Vec<String>,
    /// Written as `[auth] auditor_agencies` ([`DevSpec::auditor_agencies`]).
    pub auditor_agencies: Vec<String>,
}

fn write_file(path: &Path, contents: &[u8], private: bool) -> Result<(), DevError> {
    let io = |source| DevError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut f = options.open(path).map_err(io)?;
    f.write_all(contents).map_err(io)
}

fn validity(params: &mut CertificateParams) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(365);
}

fn ca(name: &str) -> Result<CertifiedIssuer<'static, KeyPair>, DevError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut params);
    Ok(CertifiedIssuer::self_signed(params, key)?)
}

fn client_cert(
    identity: &str,
    common_name: &str,
    issuer: &Issuer<'_, KeyPair>,
) -> Result<(rcgen::Certificate, KeyPair), DevError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.subject_alt_names = vec![SanType::URI(identity.try_into()?)];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    validity(&mut params);
    let cert = params.signed_by(&key, issuer)?;
    Ok((cert, key))
}

/// 32 random bytes.
pub fn random_key() -> [u8; 32] {
    let mut k = [0u8; 32];
    // Straight from the operating system, panicking if it cannot supply, as `OsRng` did.
    rand::rand_core::UnwrapErr(rand::rngs::SysRng).fill_bytes(&mut k);
    k
}

/// Generates the development PKI into `dir` (created if needed).
///
/// Layout: `ca.pem`, `ca.key`, `server.pem`, `server.key`, `agencies/<id>/{client.pem,
/// client.key, jwt.key, jwt.pub.pem}`, `keys/{audit.key, content.key, signing.pem}`.
pub fn generate(dir: &Path, spec: &DevSpec) -> Result<DevPki, DevError> {
    let ca = ca("Accord development CA")?;
    let pki = DevPki {
        dir: dir.to_owned(),
        ca_cert: dir.join("ca.pem"),
        ca_key: dir.join("ca.key"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
        agencies: Vec::new(),
        audit_key: dir.join("keys/audit.key"),
        content_key: dir.join("keys/content.key"),
        signing_key: dir.join("keys/signing.pem"),
        audience: spec.audience.clone(),
        admin_agencies: spec.admin_agencies.clone(),
        auditor_agencies: spec.auditor_agencies.clone(),
    };
    write_file(&pki.ca_cert, ca.pem().as_bytes(), false)?;
    write_file(&pki.ca_key, ca.key().serialize_pem().as_bytes(), true)?;

    let server_key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec!["localhost".to_owned()])?;
    params
        .subject_alt_names
        .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
    params
        .subject_alt_names
        .push(SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()));
    params
        .distinguished_name
        .push(DnType::CommonName, "accord broker (development)");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    validity(&mut params);
    let server_cert = params.signed_by(&server_key, &ca)?;
    write_file(&pki.server_cert, server_cert.pem().as_bytes(), false)?;
    write_file(&pki.server_key, server_key.serialize_pem().as_bytes(), true)?;

    let mut pki = pki;
    for a in &spec.agencies {
        let adir = dir.join("agencies").join(&a.agency_id);
        let (cert, key) = client_cert(&a.certificate_identity, &a.agency_id, &ca)?;
        let jwt = KeyPair::generate_for(&rcgen::PKCS_ED25519)?;
        let files = DevAgencyFiles {
            agency_id: a.agency_id.clone(),
            certificate_identity: a.certificate_identity.clone(),
            token_issuer: a.token_issuer.clone(),
            client_cert: adir.join("client.pem"),
            client_key: adir.join("client.key"),
            jwt_private_key: adir.join("jwt.key"),
            jwt_public_key: adir.join("jwt.pub.pem"),
        };
        write_file(&files.client_cert, cert.pem().as_bytes(), false)?;
        write_file(&files.client_key, key.serialize_pem().as_bytes(), true)?;
        write_file(&files.jwt_private_key, jwt.serialize_pem().as_bytes(), true)?;
        write_file(
            &files.jwt_public_key,
            jwt.public_key_pem().as_bytes(),
            false,
        )?;
        pki.agencies.push(files);
    }

    write_file(
        &pki.audit_key,
        format!("{}\n", hex::encode(random_key())).as_bytes(),
        true,
    )?;
    write_file(
        &pki.content_key,
        format!("{}\n", hex::encode(random_key())).as_bytes(),
        true,
    )?;
    let signing = KeyPair::generate_for(&rcgen::PKCS_ED25519)?;
    write_file(&pki.signing_key, signing.serialize_pem().as_bytes(), true)?;
    Ok(pki)
}

impl DevPki {
    pub fn agency(&self, agency_id: &str) -> Option<&DevAgencyFiles> {
        self.agencies.iter().find(|a| a.agency_id == agency_id)
    }

    fn rel(&self, p: &Path) -> String {
        let shown = p.strip_prefix(&self.dir).unwrap_or(p);
        toml_string(&shown.to_string_lossy())
    }

    /// A broker configuration using this PKI. Paths are relative to [`Self::dir`], so the file
    /// belongs there ([`Self::write_config`]); `protocol_files` are written as given.
    pub fn config_toml(
        &self,
        protocol_files: &[PathBuf],
        listen: &str,
        database_url: &str,
    ) -> String {
        let files = protocol_files
            .iter()
            .map(|p| self.rel(p))
            .collect::<Vec<_>>()
            .join(", ");
        let mut s = format!(
            "# Development configuration written by `accord dev init`. Not for production.\n\
             listen = {listen}\n\
             shutdown_grace_ms = 10000\n\n\
             [tls]\n\
             ca_cert = {ca}\n\
             server_cert = {cert}\n\
             server_key = {key}\n\
             handshake_timeout_ms = 10000\n\n\
             [auth]\n\
             audience = {aud}\n\
             leeway_seconds = 30\n\
             # Only these agencies' admin / auditor roles count (the partnership's lead agency).\n\
             admin_agencies = [{admins}]\n\
             auditor_agencies = [{auditors}]\n",
            listen = toml_string(listen),
            ca = self.rel(&self.ca_cert),
            cert = self.rel(&self.server_cert),
            key = self.rel(&self.server_key),
            aud = toml_string(&self.audience),
            admins = toml_list(&self.admin_agencies),
            auditors = toml_list(&self.auditor_agencies),
        );
        for a in &self.agencies {
            s.push_str(&format!(
                "\n[[auth.issuers]]\nagency_id = {}\nissuer = {}\nkeys = {}\n",
                toml_string(&a.agency_id),
                toml_string(&a.token_issuer),
                self.rel(&a.jwt_public_key),
            ));
        }
        s.push_str(&format!(
            "\n[protocols]\nfiles = [{files}]\n\n\
             [store]\n\
             database_url = {db}\n\
             audit_key_file = {audit}\n\
             content_key_file = {content}\n\
             signing_key_file = {signing}\n",
            db = toml_string(database_url),
            audit = self.rel(&self.audit_key),
            content = self.rel(&self.content_key),
            signing = self.rel(&self.signing_key),
        ));
        s
    }

    /// Writes [`Self::config_toml`] to `<dir>/accord.toml` and returns its path.
    pub fn write_config(
        &self,
        protocol_files: &[PathBuf],
        listen: &str,
        database_url: &str,
    ) -> Result<PathBuf, DevError> {
        let path = self.dir.join("accord.toml");
        write_file(
            &path,
            self.config_toml(protocol_files, listen, database_url)
                .as_bytes(),
            false,
        )?;
        Ok(path)
    }
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn toml_list(items: &[String]) -> String {
    items
        .iter()
        .map(|s| toml_string(s))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Signs `claims` (the broker's `accord_server::auth::TokenClaims`, or any serialisable claims)
/// with a private key PEM (Ed25519 → EdDSA, EC P-256 → ES256, P-384 → ES384, RSA → RS256).
pub fn mint_token<C: serde::Serialize>(private_pem: &str, claims: &C) -> Result<String, DevError> {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let err = |e: &dyn std::fmt::Display| DevError::Token(e.to_string());
    let key = KeyPair::from_pem(private_pem).map_err(|e| err(&e))?;
    let alg = key.algorithm();
    let pem = private_pem.as_bytes();
    let (alg, encoding) = if alg == &rcgen::PKCS_ED25519 {
        (Algorithm::EdDSA, EncodingKey::from_ed_pem(pem))
    } else if alg == &rcgen::PKCS_ECDSA_P256_SHA256 {
        (Algorithm::ES256, EncodingKey::from_ec_pem(pem))
    } else if alg == &rcgen::PKCS_ECDSA_P384_SHA384 {
        (Algorithm::ES384, EncodingKey::from_ec_pem(pem))
    } else if alg == &rcgen::PKCS_RSA_SHA256 {
        (Algorithm::RS256, EncodingKey::from_rsa_pem(pem))
    } else {
        return Err(DevError::Token(format!(
            "unsupported key algorithm {alg:?}"
        )));
    };
    let encoding = encoding.map_err(|e| err(&e))?;
    jsonwebtoken::encode(&Header::new(alg), claims, &encoding).map_err(|e| err(&e))
}

/// A CA unrelated to the broker's, and a client certificate it issued (for negative tests).
#[derive(Debug, Clone)]
pub struct ForeignPki {
    pub ca_cert: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

/// Writes a second CA and a client certificate from it, carrying `certificate_identity`
/// (typically a real agency's SAN URI, to show the CA check is what refuses it), into `dir`.
pub fn foreign_client(dir: &Path, certificate_identity: &str) -> Result<ForeignPki, DevError> {
    let ca = ca("Some other CA")?;
    let (cert, key) = client_cert(certificate_identity, "impostor", &ca)?;
    let out = ForeignPki {
        ca_cert: dir.join("foreign-ca.pem"),
        client_cert: dir.join("foreign-client.pem"),
        client_key: dir.join("foreign-client.key"),
    };
    write_file(&out.ca_cert, ca.pem().as_bytes(), false)?;
    write_file(&out.client_cert, cert.pem().as_bytes(), false)?;
    write_file(&out.client_key, key.serialize_pem().as_bytes(), true)?;
    Ok(out)
}

/// A minimal valid protocol file for tests: one category, one purpose, and the given police
/// signatories (agency id, status), identified as `spiffe://<partnership>/agency/<id>` with
/// issuer `https://id.<id>.example/`.
pub fn test_protocol_text(id: &str, partnership: &str, signatories: &[(&str, &str)]) -> String {
    let mut s = format!(
        r#"
[protocol]
id = "{id}"
title = "Test protocol"
version = "1.0"
approved_on = 2024-01-01
review_due = 2030-01-01
capacity_age = 12
repeat_window_days = 90

[[category]]
id = "education"
description = "School attendance"
special = false

[[purpose]]
id = "s47-enquiry"
description = "Section 47 enquiry"
lawful_bases = ["public_task"]
categories = ["education"]
retention_days = 365
approving_roles = ["ig_lead"]
[purpose.consent]
early_help = "explicit"
child_in_need = "sought"
significant_harm = "not_required"
immediate_risk = "not_required"
[purpose.deadlines]
immediate = "1h"
urgent = "24h"
routine = "10d"
"#
    );
    for (agency, status) in signatories {
        s.push_str(&format!(
            r#"
[[signatory]]
agency_id = "{agency}"
name = "{agency}"
kind = "police"
relevant_authority = true
signed_on = 2024-01-01
reaffirm_every_months = 24
status = "{status}"
certificate_identity = "spiffe://{partnership}/agency/{agency}"
token_issuer = "https://id.{agency}.example/"
"#
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn protocol(id: &str, signatories: &[(&str, &str)]) -> Protocol {
        accord_domain::parse_protocol(&test_protocol_text(id, "test", signatories), "test.toml")
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn generates_every_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let pki =
            generate(dir.path(), &DevSpec::new("p", &["a", "b"])).unwrap_or_else(|e| panic!("{e}"));
        for p in [
            &pki.ca_cert,
            &pki.ca_key,
            &pki.server_cert,
            &pki.server_key,
            &pki.audit_key,
            &pki.content_key,
            &pki.signing_key,
        ] {
            assert!(p.exists(), "{}", p.display());
        }
        assert_eq!(pki.agencies.len(), 2);
        assert_eq!(
            pki.agency("b").map(|a| a.certificate_identity.as_str()),
            Some("spiffe://p/agency/b")
        );
        let key = std::fs::read_to_string(&pki.audit_key).unwrap_or_default();
        assert_eq!(hex::decode(key.trim()).map(|k| k.len()).ok(), Some(32));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&pki.ca_key)
                .map(|m| m.permissions().mode())
                .unwrap_or(0);
            assert_eq!(mode & 0o077, 0);
        }
    }

    #[test]
    fn signing_key_is_ed25519_pkcs8() {
        use ed25519_dalek::pkcs8::DecodePrivateKey;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let pki = generate(dir.path(), &DevSpec::new("p", &[])).unwrap_or_else(|e| panic!("{e}"));
        let pem = std::fs::read_to_string(&pki.signing_key).unwrap_or_default();
        assert!(ed25519_dalek::SigningKey::from_pkcs8_pem(&pem).is_ok());
    }

    #[test]
    fn spec_from_protocols() {
        let p = protocol("x", &[("police", "active"), ("council", "suspended")]);
        let spec = DevSpec::from_protocols(&[p.clone(), p], "ignored");
        assert_eq!(spec.agencies.len(), 2);
        assert_eq!(
            spec.agencies[0].certificate_identity,
            "spiffe://test/agency/police"
        );
        assert_eq!(spec.agencies[0].token_issuer, "https://id.police.example/");
        // No local authority among the signatories: the first signatory leads.
        assert_eq!(spec.admin_agencies, vec!["police".to_owned()]);
        assert_eq!(spec.auditor_agencies, vec!["police".to_owned()]);
    }

    #[test]
    fn lead_agency_is_the_first_local_authority() {
        let text = include_str!("../../../deploy/protocols/sandwell-partnership.toml");
        let p = accord_domain::parse_protocol(text, "sandwell-partnership.toml")
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            lead_agency(&p).map(|a| a.as_str()),
            Some("sandwell-council")
        );
        let spec = DevSpec::from_protocols(std::slice::from_ref(&p), "scsp");
        assert_eq!(spec.admin_agencies, vec!["sandwell-council".to_owned()]);
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let pki = generate(dir.path(), &spec).unwrap_or_else(|e| panic!("{e}"));
        let toml = pki.config_toml(&[], "127.0.0.1:0", "sqlite://x.db");
        assert!(
            toml.contains("admin_agencies = [\"sandwell-council\"]"),
            "{toml}"
        );
        assert!(
            toml.contains("auditor_agencies = [\"sandwell-council\"]"),
            "{toml}"
        );
    }
}
