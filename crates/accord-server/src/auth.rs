//! Who is calling: the agency from the verified client certificate, the person and roles from
//! a JWT issued by that same agency.
//!
//! [`Authenticator::authenticate`] is the first thing every handler calls. Per call it
//!
//! 1. reads the connection's verified certificate ([`PeerInfo`]) and maps it, against the
//!    *current* registry, to a signatory: unknown → `UNAUTHENTICATED`; known but suspended
//!    or withdrawn in every protocol → `PERMISSION_DENIED`;
//! 2. reads `authorization: Bearer <jwt>` and verifies the token with the public keys of the
//!    certificate's agency only (never keys chosen by the token): asymmetric algorithms only
//!    (`none` and every `HS*` refused before any key is touched), signature, `aud` (the
//!    broker's audience), `iss` (the agency's issuer), `exp` and `nbf` with leeway;
//! 3. requires the token's `agency` claim to equal the certificate's agency, a non-empty
//!    `sub`, and `roles` drawn from the five known roles.
//!
//! Token text is never logged; refusals are logged with the agency and the reason.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use accord_domain::{Actor, AgencyId, AgencyKind, ProtocolId, Role, SignatoryStatus};
use base64::Engine;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tonic::metadata::MetadataMap;
use tonic::{Request, Status};
use tracing::warn;
use uuid::Uuid;
use x509_parser::prelude::FromDer;

use crate::authz::{self, Denied, Operation, Relation};
use crate::context::{Clock, RequestId};
use crate::registry::Registry;
use crate::tls::PeerInfo;

/// The algorithms a token may be signed with. Everything else, `none` and `HS*` included, is
/// refused.
pub const ALLOWED_ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// The claims of an Accord token, as agencies' identity providers issue them (and as
/// `accord_dev::mint_token` writes them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenClaims {
    /// The agency's issuer, as in the protocol's `token_issuer`.
    pub iss: String,
    /// The user's id within the agency.
    pub sub: String,
    /// The broker's configured audience.
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// The user's agency id; must equal the client certificate's agency.
    pub agency: String,
    /// Role names: `practitioner`, `ig_lead`, `caldicott_guardian`, `auditor`, `admin`.
    pub roles: Vec<String>,
    /// The user's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The algorithm family of a verification key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFamily {
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
}

impl KeyFamily {
    fn accepts(self, alg: Algorithm) -> bool {
        use Algorithm as A;
        match self {
            KeyFamily::Rsa => matches!(
                alg,
                A::RS256 | A::RS384 | A::RS512 | A::PS256 | A::PS384 | A::PS512
            ),
            KeyFamily::EcP256 => alg == A::ES256,
            KeyFamily::EcP384 => alg == A::ES384,
            KeyFamily::Ed25519 => alg == A::EdDSA,
        }
    }
}

/// One public key that verifies an agency's tokens.
#[derive(Clone)]
pub struct VerifyingKey {
    pub kid: Option<String>,
    pub family: KeyFamily,
    /// The single algorithm a JWKS entry is restricted to (`alg`), if any.
    pub algorithm: Option<Algorithm>,
    key: DecodingKey,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("family", &self.family)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    fn accepts(&self, alg: Algorithm) -> bool {
        self.family.accepts(alg) && self.algorithm.is_none_or(|a| a == alg)
    }
}

/// Reads public keys from a file: a JWKS document (JSON) or PEM (`PUBLIC KEY`,
/// `RSA PUBLIC KEY` or `CERTIFICATE` blocks; RSA, EC P-256/P-384 and Ed25519). Symmetric
/// keys and private keys are refused.
pub fn load_verifying_keys(path: &Path) -> Result<Vec<VerifyingKey>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse_verifying_keys(&text)
}

/// [`load_verifying_keys`] on text.
pub fn parse_verifying_keys(text: &str) -> Result<Vec<VerifyingKey>, String> {
    let keys = if text.trim_start().starts_with('{') {
        parse_jwks(text)?
    } else {
        parse_pem_keys(text)?
    };
    if keys.is_empty() {
        return Err(
            "no public key found (expected PEM PUBLIC KEY blocks or a JWKS document)".into(),
        );
    }
    Ok(keys)
}

fn parse_jwks(text: &str) -> Result<Vec<VerifyingKey>, String> {
    let set: JwkSet =
        serde_json::from_str(text).map_err(|e| format!("not a valid JWKS document: {e}"))?;
    let mut out = Vec::new();
    for (i, jwk) in set.keys.iter().enumerate() {
        let at = |m: &str| format!("keys[{i}]: {m}");
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            continue;
        }
        let family = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => KeyFamily::Rsa,
            AlgorithmParameters::EllipticCurve(p) => match p.curve {
                EllipticCurve::P256 => KeyFamily::EcP256,
                EllipticCurve::P384 => KeyFamily::EcP384,
                ref c => return Err(at(&format!("unsupported curve {c:?}: use P-256, P-384 or Ed25519"))),
            },
            AlgorithmParameters::OctetKeyPair(p) => match p.curve {
                EllipticCurve::Ed25519 => KeyFamily::Ed25519,
                ref c => return Err(at(&format!("unsupported curve {c:?}: use Ed25519"))),
            },
            AlgorithmParameters::OctetKey(_) => {
                return Err(at("symmetric (\"oct\") keys are not accepted: tokens must be signed with an asymmetric key"))
            }
        };
        let algorithm = match &jwk.common.key_algorithm {
            None => None,
            Some(ka) => Some(
                jwk_algorithm(*ka)
                    .ok_or_else(|| at(&format!("algorithm {ka:?} is not accepted")))?,
            ),
        };
        if let Some(a) = algorithm {
            if !family.accepts(a) {
                return Err(at(&format!(
                    "algorithm {a:?} does not fit a {family:?} key"
                )));
            }
        }
        let key = DecodingKey::from_jwk(jwk).map_err(|e| at(&format!("unusable key: {e}")))?;
        out.push(VerifyingKey {
            kid: jwk.common.key_id.clone(),
            family,
            algorithm,
            key,
        });
    }
    Ok(out)
}

fn jwk_algorithm(ka: KeyAlgorithm) -> Option<Algorithm> {
    Some(match ka {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

/// (label, DER) of every PEM block in `text`.
fn pem_blocks(text: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + "-----BEGIN ".len()..];
        let (label, body) = after.split_once("-----").ok_or("unterminated PEM header")?;
        let end_marker = format!("-----END {label}-----");
        let end = body
            .find(&end_marker)
            .ok_or_else(|| format!("no {end_marker} line"))?;
        let b64: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| format!("{label} block is not valid base64: {e}"))?;
        out.push((label.to_owned(), der));
        rest = &body[end + end_marker.len()..];
    }
    Ok(out)
}

fn parse_pem_keys(text: &str) -> Result<Vec<VerifyingKey>, String> {
    let mut out = Vec::new();
    for (label, der) in pem_blocks(text)? {
        let key = match label.as_str() {
            "PUBLIC KEY" => {
                let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&der)
                    .map_err(|e| format!("PUBLIC KEY cannot be parsed: {e}"))?;
                key_from_spki(&spki)?
            }
            "CERTIFICATE" => {
                let (_, cert) = x509_parser::parse_x509_certificate(&der)
                    .map_err(|e| format!("CERTIFICATE cannot be parsed: {e}"))?;
                key_from_spki(cert.public_key())?
            }
            "RSA PUBLIC KEY" => VerifyingKey {
                kid: None,
                family: KeyFamily::Rsa,
                algorithm: None,
                key: DecodingKey::from_rsa_der(&der),
            },
            l if l.contains("PRIVATE KEY") => {
                return Err(format!(
                    "the file holds a {l}: configure the agency's public key only"
                ))
            }
            l => return Err(format!("unsupported PEM block {l:?}: expected PUBLIC KEY")),
        };
        out.push(key);
    }
    Ok(out)
}

fn key_from_spki(
    spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>,
) -> Result<VerifyingKey, String> {
    let oid = spki.algorithm.algorithm.to_id_string();
    let bits: &[u8] = &spki.subject_public_key.data;
    let (family, key) = match oid.as_str() {
        "1.2.840.113549.1.1.1" => (KeyFamily::Rsa, DecodingKey::from_rsa_der(bits)),
        "1.2.840.10045.2.1" => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string())
                .unwrap_or_default();
            let family = match curve.as_str() {
                "1.2.840.10045.3.1.7" => KeyFamily::EcP256,
                "1.3.132.0.34" => KeyFamily::EcP384,
                other => {
                    return Err(format!(
                        "unsupported EC curve {other:?}: use P-256 or P-384"
                    ))
                }
            };
            (family, DecodingKey::from_ec_der(bits))
        }
        "1.3.101.112" => (KeyFamily::Ed25519, DecodingKey::from_ed_der(bits)),
        other => {
            return Err(format!(
                "unsupported public key algorithm {other}: use RSA, EC P-256/P-384 or Ed25519"
            ))
        }
    };
    Ok(VerifyingKey {
        kid: None,
        family,
        algorithm: None,
        key,
    })
}

/// The issuer and keys of one agency's tokens.
#[derive(Debug, Clone)]
pub struct AgencyKeys {
    pub issuer: String,
    pub keys: Vec<VerifyingKey>,
}

/// Token verification keys for every agency that has them, and which agencies' identity
/// providers the broker trusts to grant the partnership-wide roles.
///
/// `admin` and `auditor` belong to the partnership, not to every member: a token's `admin`
/// role counts only if its agency is in [`Self::admin_agencies`] (`[auth] admin_agencies`),
/// its `auditor` role only if the agency is in [`Self::auditor_agencies`]. Both default to
/// empty: nobody may act in those roles until the configuration designates an agency.
#[derive(Debug, Clone, Default)]
pub struct IssuerKeys {
    agencies: BTreeMap<AgencyId, AgencyKeys>,
    admin_agencies: BTreeSet<AgencyId>,
    auditor_agencies: BTreeSet<AgencyId>,
}

impl IssuerKeys {
    /// Adds keys for an agency. An agency has one issuer: adding a different one is an error.
    pub fn add(
        &mut self,
        agency: AgencyId,
        issuer: &str,
        keys: Vec<VerifyingKey>,
    ) -> Result<(), String> {
        match self.agencies.get_mut(&agency) {
            Some(existing) if existing.issuer != issuer => Err(format!(
                "agency {agency} already has issuer {:?}; one agency has one issuer",
                existing.issuer
            )),
            Some(existing) => {
                existing.keys.extend(keys);
                Ok(())
            }
            None => {
                self.agencies.insert(
                    agency,
                    AgencyKeys {
                        issuer: issuer.to_owned(),
                        keys,
                    },
                );
                Ok(())
            }
        }
    }

    pub fn get(&self, agency: &AgencyId) -> Option<&AgencyKeys> {
        self.agencies.get(agency)
    }

    pub fn agencies(&self) -> impl Iterator<Item = &AgencyId> {
        self.agencies.keys()
    }

    /// Designates the agencies whose tokens may carry `role` (`admin` or `auditor`; other
    /// roles are open to every agency and ignore this).
    pub fn designate(&mut self, role: Role, agencies: impl IntoIterator<Item = AgencyId>) {
        match role {
            Role::Admin => self.admin_agencies.extend(agencies),
            Role::Auditor => self.auditor_agencies.extend(agencies),
            Role::Practitioner | Role::IgLead | Role::CaldicottGuardian => {}
        }
    }

    /// `[auth] admin_agencies`: the agencies whose `admin` role counts.
    pub fn admin_agencies(&self) -> &BTreeSet<AgencyId> {
        &self.admin_agencies
    }

    /// `[auth] auditor_agencies`: the agencies whose `auditor` role counts.
    pub fn auditor_agencies(&self) -> &BTreeSet<AgencyId> {
        &self.auditor_agencies
    }

    /// Whether a token from `agency` may carry `role`: always for the agency-level roles,
    /// only for designated agencies for `admin` and `auditor`.
    pub fn may_grant(&self, agency: &AgencyId, role: Role) -> bool {
        match role {
            Role::Admin => self.admin_agencies.contains(agency),
            Role::Auditor => self.auditor_agencies.contains(agency),
            Role::Practitioner | Role::IgLead | Role::CaldicottGuardian => true,
        }
    }
}

/// The configuration key designating the agencies for a partnership-wide role.
pub fn designation_key(role: Role) -> Option<&'static str> {
    match role {
        Role::Admin => Some("admin_agencies"),
        Role::Auditor => Some("auditor_agencies"),
        Role::Practitioner | Role::IgLead | Role::CaldicottGuardian => None,
    }
}

/// The agency behind a client certificate.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerAgency {
    pub agency: AgencyId,
    pub kind: AgencyKind,
    /// Protocols in which the agency is an active signatory (at least one).
    pub protocols: Vec<ProtocolId>,
    pub addr: SocketAddr,
}

/// An authenticated caller: the agency (certificate) and the person (token).
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    pub request_id: Uuid,
    pub agency: AgencyId,
    /// The kind of the signatory agency.
    pub agency_kind: AgencyKind,
    /// Protocols in which the agency is currently an active signatory.
    pub protocols: Vec<ProtocolId>,
    /// The token's `sub`.
    pub subject: String,
    /// The token's `name`, if given.
    pub name: Option<String>,
    pub roles: Vec<Role>,
    pub peer: SocketAddr,
}

impl Caller {
    pub fn actor(&self) -> Actor {
        Actor {
            agency: Some(self.agency.clone()),
            subject: self.subject.clone(),
            roles: self.roles.clone(),
        }
    }

    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// The caller's agency's relation to an exchange between `requesting` and `holding`.
    pub fn relation(&self, requesting: &AgencyId, holding: &AgencyId) -> Relation {
        Relation::of(&self.agency, requesting, holding)
    }

    /// [`authz::authorize`] for a call that is not about one exchange.
    ///
    /// The caller's roles are those that count: an `admin` or `auditor` role from an agency
    /// the configuration does not designate for it was dropped at authentication, so such a
    /// caller is refused here, and the refusal says why.
    pub fn authorize(&self, op: Operation) -> Result<Role, Status> {
        authz::authorize(op, &self.roles, Relation::NotApplicable).map_err(|d| match d {
            Denied::PermissionDenied(m) => {
                Status::permission_denied(self.explain_designation(op, m))
            }
            other => Status::from(other),
        })
    }

    /// Adds to a refusal of an operation open to `admin` or `auditor` that those roles count
    /// only for the agencies the broker's configuration designates.
    fn explain_designation(&self, op: Operation, message: String) -> String {
        let authz::Access::Roles(allowed) = authz::rule(op).access(Relation::NotApplicable) else {
            return message;
        };
        let notes: Vec<String> = allowed
            .iter()
            .filter(|r| !self.roles.contains(r))
            .filter_map(|r| designation_key(*r).map(|key| (r, key)))
            .map(|(r, key)| {
                format!(
                    "the {role} role counts only for agencies designated for it by the broker's configuration ([auth] {key}); unless agency {agency} is designated, an {role} role in its tokens is ignored",
                    role = r.as_str(),
                    agency = self.agency,
                )
            })
            .collect();
        if notes.is_empty() || allowed.iter().any(|r| designation_key(*r).is_none()) {
            return message;
        }
        format!("{message}; {}", notes.join("; "))
    }

    /// [`authz::authorize`] for a call about exchange `id`: a non-party gets exactly the
    /// store's not-found status.
    pub fn authorize_exchange(
        &self,
        op: Operation,
        id: Uuid,
        requesting: &AgencyId,
        holding: &AgencyId,
    ) -> Result<Role, Status> {
        authz::authorize(op, &self.roles, self.relation(requesting, holding))
            .map_err(|d: Denied| d.into_status(Some(id)))
    }

    /// Whether the agency is an active signatory of `protocol`.
    pub fn active_in(&self, protocol: &ProtocolId) -> bool {
        self.protocols.contains(protocol)
    }
}

impl From<&Caller> for Actor {
    fn from(c: &Caller) -> Actor {
        c.actor()
    }
}

/// Verifies certificates and tokens for every call.
#[derive(Clone)]
pub struct Authenticator {
    registry: Registry,
    keys: Arc<IssuerKeys>,
    audience: String,
    leeway_seconds: i64,
    clock: Clock,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("audience", &self.audience)
            .field("leeway_seconds", &self.leeway_seconds)
            .finish_non_exhaustive()
    }
}

fn unauthenticated(m: impl Into<String>) -> Status {
    Status::unauthenticated(m)
}

#[derive(Deserialize)]
struct RawClaims {
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    exp: Option<f64>,
    #[serde(default)]
    nbf: Option<f64>,
    #[serde(default)]
    agency: Option<String>,
    #[serde(default)]
    roles: Option<serde_json::Value>,
    #[serde(default)]
    name: Option<String>,
}

/// What a verified token says.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedToken {
    pub subject: String,
    pub name: Option<String>,
    /// Every role the token carries, before the `admin_agencies` / `auditor_agencies`
    /// designations are applied (that happens in [`Authenticator::authenticate`]).
    pub roles: Vec<Role>,
    /// The token's `exp`.
    pub expires_at: OffsetDateTime,
}

impl Authenticator {
    pub fn new(
        registry: Registry,
        keys: Arc<IssuerKeys>,
        audience: String,
        leeway_seconds: u64,
        clock: Clock,
    ) -> Self {
        Authenticator {
            registry,
            keys,
            audience,
            leeway_seconds: i64::try_from(leeway_seconds).unwrap_or(i64::MAX),
            clock,
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Authenticates a call: certificate → active signatory, bearer token → person and roles.
    /// Records the agency on the call's span.
    ///
    /// An `admin` or `auditor` role from an agency that `[auth] admin_agencies` /
    /// `auditor_agencies` does not designate is dropped (logged), as if the token did not
    /// carry it: the matrix then refuses what only that role would allow.
    pub fn authenticate<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        self.authenticate_until(request).map(|(caller, _)| caller)
    }

    /// [`Self::authenticate`], also returning the instant after which the token is no longer
    /// accepted (its `exp` plus the leeway): a long-lived call (a following inbox stream) must
    /// end then.
    pub fn authenticate_until<T>(
        &self,
        request: &Request<T>,
    ) -> Result<(Caller, OffsetDateTime), Status> {
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .copied()
            .unwrap_or_default()
            .0;
        let peer = request.extensions().get::<PeerInfo>().ok_or_else(|| {
            unauthenticated("no verified client certificate: connect with mutual TLS")
        })?;
        let peer = self.identify(peer)?;
        tracing::Span::current().record("agency", peer.agency.as_str());
        let token = bearer_token(request.metadata())?;
        let verified = self.verify_token(token, &peer.agency, self.clock.now())?;
        let (roles, ignored): (Vec<Role>, Vec<Role>) = verified
            .roles
            .iter()
            .partition(|r| self.keys.may_grant(&peer.agency, **r));
        if !ignored.is_empty() {
            warn!(
                agency = %peer.agency,
                roles = %ignored.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(","),
                "token roles ignored: the agency is not designated for them ([auth] admin_agencies / auditor_agencies)"
            );
        }
        let valid_until = verified
            .expires_at
            .saturating_add(time::Duration::seconds(self.leeway_seconds));
        Ok((
            Caller {
                request_id,
                agency: peer.agency,
                agency_kind: peer.kind,
                protocols: peer.protocols,
                subject: verified.subject,
                name: verified.name,
                roles,
                peer: peer.addr,
            },
            valid_until,
        ))
    }

    /// Maps a connection's client certificate to an active signatory agency.
    pub fn identify(&self, peer: &PeerInfo) -> Result<PeerAgency, Status> {
        let identity = peer
            .identity
            .as_ref()
            .ok_or_else(|| unauthenticated("the client certificate could not be read"))?;
        let memberships = self
            .registry
            .memberships(&identity.san_uris, &identity.fingerprint_sha256);
        let Some(first) = memberships.first() else {
            warn!(peer = %peer.remote_addr, "client certificate not registered");
            return Err(unauthenticated(format!(
                "the client certificate (SAN URIs: {}) is not registered to any signatory",
                if identity.san_uris.is_empty() {
                    "none".to_owned()
                } else {
                    identity.san_uris.join(", ")
                }
            )));
        };
        let agency = first.signatory.agency_id.clone();
        if let Some(other) = memberships.iter().find(|m| m.signatory.agency_id != agency) {
            warn!(peer = %peer.remote_addr, "client certificate maps to several agencies");
            return Err(unauthenticated(format!(
                "the client certificate maps to agencies {agency} and {}; the protocols must give each agency its own identity",
                other.signatory.agency_id
            )));
        }
        let active: Vec<_> = memberships
            .iter()
            .filter(|m| m.signatory.status == SignatoryStatus::Active)
            .collect();
        let Some(kind) = active.first().map(|m| m.signatory.kind) else {
            let statuses = memberships
                .iter()
                .map(|m| format!("{} in protocol {}", m.signatory.status, m.protocol_id))
                .collect::<Vec<_>>()
                .join(", ");
            warn!(agency = %agency, "call from inactive signatory refused");
            return Err(Status::permission_denied(format!(
                "agency {agency} is not an active signatory ({statuses})"
            )));
        };
        Ok(PeerAgency {
            agency,
            kind,
            protocols: active.iter().map(|m| m.protocol_id.clone()).collect(),
            addr: peer.remote_addr,
        })
    }

    /// Verifies a token for `agency` (the certificate's agency) at `now`.
    pub fn verify_token(
        &self,
        token: &str,
        agency: &AgencyId,
        now: OffsetDateTime,
    ) -> Result<VerifiedToken, Status> {
        self.check_token(token, agency, now).map_err(|reason| {
            warn!(agency = %agency, reason = %reason, "token rejected");
            unauthenticated(reason)
        })
    }

    fn check_token(
        &self,
        token: &str,
        agency: &AgencyId,
        now: OffsetDateTime,
    ) -> Result<VerifiedToken, String> {
        // The algorithm is checked before any key is looked at, so a token cannot choose how
        // it is verified.
        let header = jsonwebtoken::decode_header(token).map_err(|_| match raw_alg(token) {
            Some(alg) if alg.eq_ignore_ascii_case("none") => {
                "unsigned tokens (alg \"none\") are not accepted".to_owned()
            }
            Some(alg) => format!(
                "token algorithm {alg:?} is not accepted; use one of {}",
                allowed_list()
            ),
            None => "the token is not a well-formed JWT (header unreadable)".to_owned(),
        })?;
        if !ALLOWED_ALGORITHMS.contains(&header.alg) {
            return Err(format!(
                "token algorithm {:?} is not accepted: only asymmetric algorithms ({})",
                header.alg,
                allowed_list()
            ));
        }
        let agency_keys = self
            .keys
            .get(agency)
            .ok_or_else(|| format!("no token keys are configured for agency {agency}"))?;
        let candidates: Vec<&VerifyingKey> = agency_keys
            .keys
            .iter()
            .filter(|k| k.accepts(header.alg))
            .filter(|k| match (&header.kid, &k.kid) {
                (Some(want), Some(have)) => want == have,
                _ => true,
            })
            .collect();
        if candidates.is_empty() {
            return Err(format!(
                "no key of agency {agency} verifies {:?} tokens{}",
                header.alg,
                header
                    .kid
                    .as_deref()
                    .map(|k| format!(" with kid {k:?}"))
                    .unwrap_or_default()
            ));
        }
        let mut validation = Validation::new(header.alg);
        // Time is checked below against the injected clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        validation.set_audience(&[&self.audience]);
        validation.set_issuer(&[&agency_keys.issuer]);
        validation.set_required_spec_claims(&["exp", "sub", "aud", "iss"]);

        let mut last_error = String::new();
        let mut claims = None;
        for key in candidates {
            match jsonwebtoken::decode::<RawClaims>(token, &key.key, &validation) {
                Ok(data) => {
                    claims = Some(data.claims);
                    break;
                }
                Err(e) => {
                    let signature_problem = matches!(
                        e.kind(),
                        jsonwebtoken::errors::ErrorKind::InvalidSignature
                            | jsonwebtoken::errors::ErrorKind::InvalidAlgorithm
                            | jsonwebtoken::errors::ErrorKind::InvalidEcdsaKey
                            | jsonwebtoken::errors::ErrorKind::InvalidRsaKey(_)
                            | jsonwebtoken::errors::ErrorKind::Crypto(_)
                    );
                    let message =
                        describe_jwt_error(&e, agency, &agency_keys.issuer, &self.audience);
                    // Claim problems come from a key that verified the signature: they are the
                    // real reason and win over signature failures of other keys.
                    if !signature_problem {
                        return Err(message);
                    }
                    last_error = message;
                }
            }
        }
        let claims = claims.ok_or(last_error)?;

        let now_ts = now.unix_timestamp() as f64;
        let leeway = self.leeway_seconds as f64;
        let exp = claims.exp.ok_or("the token has no exp claim")?;
        if now_ts > exp + leeway {
            return Err("the token has expired".into());
        }
        if let Some(nbf) = claims.nbf {
            if nbf > now_ts + leeway {
                return Err("the token is not valid yet (nbf is in the future)".into());
            }
        }
        let token_agency = claims.agency.ok_or("the token has no agency claim")?;
        if token_agency != agency.as_str() {
            return Err(format!(
                "the token's agency {token_agency:?} does not match the client certificate's agency {agency}"
            ));
        }
        let subject = claims
            .sub
            .filter(|s| !s.trim().is_empty())
            .ok_or("the token has no sub claim")?;
        let roles = parse_roles(claims.roles)?;
        // `exp` is a number of seconds; clamp absurd values rather than fail on them.
        let exp_seconds = if exp.is_finite() {
            exp.clamp(-(i64::MAX as f64), i64::MAX as f64) as i64
        } else {
            i64::MAX
        };
        let expires_at =
            OffsetDateTime::from_unix_timestamp(exp_seconds).unwrap_or(if exp_seconds < 0 {
                OffsetDateTime::UNIX_EPOCH
            } else {
                time::PrimitiveDateTime::MAX.assume_utc()
            });
        Ok(VerifiedToken {
            subject,
            name: claims.name.filter(|n| !n.trim().is_empty()),
            roles,
            expires_at,
        })
    }
}

fn parse_roles(value: Option<serde_json::Value>) -> Result<Vec<Role>, String> {
    let Some(serde_json::Value::Array(items)) = value else {
        return Err("the token's roles claim is missing or not an array".into());
    };
    let mut roles = Vec::new();
    for item in items {
        let name = item.as_str().ok_or("the token's roles must be strings")?;
        let role = Role::parse(name).ok_or_else(|| {
            format!(
                "unknown role {name:?} in the token; known roles: {}",
                Role::ALL
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    if roles.is_empty() {
        return Err("the token has no roles".into());
    }
    Ok(roles)
}

fn allowed_list() -> String {
    ALLOWED_ALGORITHMS
        .iter()
        .map(|a| format!("{a:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `alg` of a token header that jsonwebtoken would not parse, for the error message only.
fn raw_alg(token: &str) -> Option<String> {
    let header = token.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header.trim_end_matches('='))
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("alg")?.as_str().map(str::to_owned)
}

fn describe_jwt_error(
    e: &jsonwebtoken::errors::Error,
    agency: &AgencyId,
    issuer: &str,
    audience: &str,
) -> String {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::InvalidSignature
        | K::InvalidAlgorithm
        | K::InvalidEcdsaKey
        | K::InvalidRsaKey(_)
        | K::Crypto(_) => {
            format!("the token's signature does not verify with agency {agency}'s keys")
        }
        K::InvalidAudience => format!("the token's audience is not {audience:?}"),
        K::InvalidIssuer => {
            format!("the token's issuer is not agency {agency}'s issuer {issuer:?}")
        }
        K::MissingRequiredClaim(c) => format!("the token has no {c} claim"),
        K::ExpiredSignature => "the token has expired".into(),
        K::ImmatureSignature => "the token is not valid yet (nbf is in the future)".into(),
        K::Json(_) | K::Utf8(_) | K::Base64(_) | K::InvalidToken => {
            "the token is not a well-formed JWT (claims unreadable)".into()
        }
        _ => "the token is not valid".into(),
    }
}

/// The token of `authorization: Bearer <token>`.
pub fn bearer_token(metadata: &MetadataMap) -> Result<&str, Status> {
    let value = metadata.get("authorization").ok_or_else(|| {
        unauthenticated("missing authorization metadata: send \"authorization: Bearer <token>\"")
    })?;
    let value = value
        .to_str()
        .map_err(|_| unauthenticated("the authorization metadata is not printable ASCII"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| unauthenticated("the authorization metadata must be \"Bearer <token>\""))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(unauthenticated(
            "the authorization metadata must be \"Bearer <token>\"",
        ));
    }
    Ok(token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{AdminChange, LoadedProtocol};
    use crate::tls::{cert_identity, parse_certs};
    use accord_dev::{self as dev, DevSpec};
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2025-06-01 12:00 UTC);

    struct Fixture {
        _dir: tempfile::TempDir,
        auth: Authenticator,
        pki: dev::DevPki,
        police: AgencyId,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let spec = DevSpec::new("test", &["police", "council"]);
        let pki = dev::generate(dir.path(), &spec).unwrap_or_else(|e| panic!("{e}"));
        let protocol = crate::registry::tests::protocol(
            "proto-a",
            &[("police", "active"), ("council", "active")],
        );
        let registry = Registry::new(vec![LoadedProtocol {
            path: "a.toml".into(),
            protocol,
        }])
        .unwrap_or_else(|e| panic!("{e}"));
        let mut keys = IssuerKeys::default();
        for a in &pki.agencies {
            let k = load_verifying_keys(&a.jwt_public_key).unwrap_or_else(|e| panic!("{e}"));
            keys.add(
                AgencyId::parse(&a.agency_id).unwrap_or_else(|e| panic!("{e}")),
                &a.token_issuer,
                k,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        }
        let auth = Authenticator::new(
            registry,
            Arc::new(keys),
            "accord".into(),
            30,
            Clock::fixed(NOW),
        );
        let police = AgencyId::parse("police").unwrap_or_else(|e| panic!("{e}"));
        Fixture {
            _dir: dir,
            auth,
            pki,
            police,
        }
    }

    fn claims(f: &Fixture) -> TokenClaims {
        let a = &f.pki.agencies[0];
        TokenClaims {
            iss: a.token_issuer.clone(),
            sub: "jo.bloggs".into(),
            aud: "accord".into(),
            exp: NOW.unix_timestamp() + 300,
            nbf: Some(NOW.unix_timestamp() - 10),
            iat: Some(NOW.unix_timestamp() - 10),
            agency: "police".into(),
            roles: vec!["practitioner".into()],
            name: Some("Jo Bloggs".into()),
        }
    }

    fn mint(f: &Fixture, c: &TokenClaims) -> String {
        let pem = std::fs::read_to_string(&f.pki.agencies[0].jwt_private_key)
            .unwrap_or_else(|e| panic!("{e}"));
        dev::mint_token(&pem, c).unwrap_or_else(|e| panic!("{e}"))
    }

    fn check(f: &Fixture, token: &str) -> Result<VerifiedToken, String> {
        f.auth.verify_token(token, &f.police, NOW).map_err(|s| {
            assert_eq!(s.code(), tonic::Code::Unauthenticated, "{s:?}");
            s.message().to_owned()
        })
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn valid_token_is_accepted() {
        let f = fixture();
        let v = check(&f, &mint(&f, &claims(&f))).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v.subject, "jo.bloggs");
        assert_eq!(v.roles, vec![Role::Practitioner]);
        assert_eq!(v.name.as_deref(), Some("Jo Bloggs"));
    }

    #[test]
    fn expired_token_is_refused() {
        let f = fixture();
        let mut c = claims(&f);
        c.exp = NOW.unix_timestamp() - 31;
        assert_eq!(
            check(&f, &mint(&f, &c)),
            Err("the token has expired".into())
        );
        // Within the leeway it is still accepted.
        c.exp = NOW.unix_timestamp() - 29;
        assert!(check(&f, &mint(&f, &c)).is_ok());
    }

    #[test]
    fn token_not_yet_valid_is_refused() {
        let f = fixture();
        let mut c = claims(&f);
        c.nbf = Some(NOW.unix_timestamp() + 120);
        assert_eq!(
            check(&f, &mint(&f, &c)),
            Err("the token is not valid yet (nbf is in the future)".into())
        );
    }

    #[test]
    fn wrong_audience_is_refused() {
        let f = fixture();
        let mut c = claims(&f);
        c.aud = "someone-else".into();
        assert_eq!(
            check(&f, &mint(&f, &c)),
            Err("the token's audience is not \"accord\"".into())
        );
    }

    #[test]
    fn wrong_issuer_is_refused() {
        let f = fixture();
        let mut c = claims(&f);
        c.iss = "https://evil.example/".into();
        let e = check(&f, &mint(&f, &c)).err().unwrap_or_default();
        assert!(
            e.starts_with("the token's issuer is not agency police's issuer"),
            "{e}"
        );
    }

    #[test]
    fn alg_none_is_refused() {
        let f = fixture();
        let payload = serde_json::to_string(&claims(&f)).unwrap_or_default();
        let token = format!(
            "{}.{}.",
            b64(r#"{"alg":"none","typ":"JWT"}"#),
            b64(&payload)
        );
        assert_eq!(
            check(&f, &token),
            Err("unsigned tokens (alg \"none\") are not accepted".into())
        );
        let token = format!("{}.{}.", b64(r#"{"alg":"None"}"#), b64(&payload));
        assert!(check(&f, &token).is_err());
    }

    #[test]
    fn hs256_is_refused() {
        let f = fixture();
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &claims(&f),
            &jsonwebtoken::EncodingKey::from_secret(b"shared secret"),
        )
        .unwrap_or_default();
        let e = check(&f, &token).err().unwrap_or_default();
        assert!(
            e.starts_with("token algorithm HS256 is not accepted"),
            "{e}"
        );
        // HMAC keyed with the agency's *public* key (the classic confusion attack) too.
        let public = std::fs::read(&f.pki.agencies[0].jwt_public_key).unwrap_or_default();
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &claims(&f),
            &jsonwebtoken::EncodingKey::from_secret(&public),
        )
        .unwrap_or_default();
        assert!(check(&f, &token).is_err());
    }

    #[test]
    fn token_signed_by_another_agency_is_refused() {
        let f = fixture();
        let pem = std::fs::read_to_string(&f.pki.agencies[1].jwt_private_key).unwrap_or_default();
        let token = dev::mint_token(&pem, &claims(&f)).unwrap_or_default();
        assert_eq!(
            check(&f, &token),
            Err("the token's signature does not verify with agency police's keys".into())
        );
    }

    #[test]
    fn token_agency_must_match_certificate() {
        let f = fixture();
        let mut c = claims(&f);
        c.agency = "council".into();
        let e = check(&f, &mint(&f, &c)).err().unwrap_or_default();
        assert_eq!(
            e,
            "the token's agency \"council\" does not match the client certificate's agency police"
        );
    }

    #[test]
    fn unknown_role_is_refused() {
        let f = fixture();
        let mut c = claims(&f);
        c.roles = vec!["practitioner".into(), "superuser".into()];
        let e = check(&f, &mint(&f, &c)).err().unwrap_or_default();
        assert!(e.starts_with("unknown role \"superuser\""), "{e}");
        c.roles = vec![];
        assert_eq!(
            check(&f, &mint(&f, &c)),
            Err("the token has no roles".into())
        );
    }

    #[test]
    fn garbage_is_refused() {
        let f = fixture();
        assert!(check(&f, "not-a-token").is_err());
        assert!(check(&f, "a.b.c").is_err());
    }

    #[test]
    fn bearer_metadata() {
        let mut m = MetadataMap::new();
        assert!(bearer_token(&m).is_err());
        m.insert(
            "authorization",
            "Basic abc".parse().unwrap_or_else(|_| panic!()),
        );
        assert!(bearer_token(&m).is_err());
        m.insert(
            "authorization",
            "Bearer abc.def.ghi".parse().unwrap_or_else(|_| panic!()),
        );
        assert_eq!(bearer_token(&m).ok(), Some("abc.def.ghi"));
        m.insert(
            "authorization",
            "bearer xyz".parse().unwrap_or_else(|_| panic!()),
        );
        assert_eq!(bearer_token(&m).ok(), Some("xyz"));
    }

    fn peer_of(f: &Fixture, idx: usize) -> PeerInfo {
        let pem = std::fs::read(&f.pki.agencies[idx].client_cert).unwrap_or_default();
        let certs = parse_certs(&pem).unwrap_or_else(|e| panic!("{e}"));
        PeerInfo {
            remote_addr: "127.0.0.1:1".parse().unwrap_or_else(|_| panic!()),
            local_addr: None,
            identity: cert_identity(&certs[0]).ok(),
            certificates: Arc::new(certs),
        }
    }

    #[test]
    fn certificate_maps_to_active_signatory_per_call() {
        let f = fixture();
        let peer = peer_of(&f, 0);
        let a = f.auth.identify(&peer).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.agency, f.police);
        assert_eq!(a.kind, AgencyKind::Police);
        f.auth
            .registry()
            .apply(
                &AdminChange::Suspend {
                    protocol_id: ProtocolId::parse("proto-a").unwrap_or_else(|e| panic!("{e}")),
                    agency_id: f.police.clone(),
                    reason: "breach".into(),
                },
                NOW.date(),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let e = f
            .auth
            .identify(&peer)
            .err()
            .unwrap_or_else(|| panic!("suspended agency accepted"));
        assert_eq!(e.code(), tonic::Code::PermissionDenied);
        assert_eq!(
            e.message(),
            "agency police is not an active signatory (suspended in protocol proto-a)"
        );
    }

    #[test]
    fn unknown_certificate_is_unauthenticated() {
        let f = fixture();
        let mut peer = peer_of(&f, 0);
        peer.identity = Some(crate::tls::CertIdentity {
            san_uris: vec!["spiffe://elsewhere/agency/police".into()],
            fingerprint_sha256: "00".repeat(32),
        });
        let e = f
            .auth
            .identify(&peer)
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert_eq!(e.code(), tonic::Code::Unauthenticated);
        peer.identity = None;
        assert_eq!(
            f.auth.identify(&peer).err().map(|s| s.code()),
            Some(tonic::Code::Unauthenticated)
        );
    }

    #[test]
    fn authenticate_reads_metadata_and_connect_info() {
        let f = fixture();
        let token = mint(&f, &claims(&f));
        let mut req = Request::new(());
        assert_eq!(
            f.auth.authenticate(&req).err().map(|s| s.code()),
            Some(tonic::Code::Unauthenticated)
        );
        req.extensions_mut().insert(peer_of(&f, 0));
        req.extensions_mut().insert(RequestId(Uuid::nil()));
        assert_eq!(
            f.auth.authenticate(&req).err().map(|s| s.code()),
            Some(tonic::Code::Unauthenticated)
        );
        req.metadata_mut().insert(
            "authorization",
            format!("Bearer {token}")
                .parse()
                .unwrap_or_else(|_| panic!()),
        );
        let caller = f.auth.authenticate(&req).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(caller.agency, f.police);
        assert_eq!(caller.request_id, Uuid::nil());
        assert_eq!(
            caller.protocols,
            vec![ProtocolId::parse("proto-a").unwrap_or_else(|e| panic!("{e}"))]
        );
        let actor = Actor::from(&caller);
        assert_eq!(actor.subject, "jo.bloggs");
        assert_eq!(actor.agency, Some(f.police.clone()));
        // The council's certificate with the police's token: agency mismatch.
        let mut req2 = Request::new(());
        req2.extensions_mut().insert(peer_of(&f, 1));
        req2.metadata_mut().insert(
            "authorization",
            format!("Bearer {token}")
                .parse()
                .unwrap_or_else(|_| panic!()),
        );
        let e = f
            .auth
            .authenticate(&req2)
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert_eq!(e.code(), tonic::Code::Unauthenticated);
    }

    #[test]
    fn key_files_symmetric_and_private_refused() {
        let jwks = r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#;
        assert!(parse_verifying_keys(jwks)
            .err()
            .unwrap_or_default()
            .contains("symmetric"));
        let f = fixture();
        let private =
            std::fs::read_to_string(&f.pki.agencies[0].jwt_private_key).unwrap_or_default();
        assert!(parse_verifying_keys(&private)
            .err()
            .unwrap_or_default()
            .contains("public key only"));
        assert!(parse_verifying_keys("").is_err());
    }

    #[test]
    fn jwks_keys_verify_tokens() {
        let f = fixture();
        let public = std::fs::read_to_string(&f.pki.agencies[0].jwt_public_key).unwrap_or_default();
        let keys = parse_verifying_keys(&public).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(keys[0].family, KeyFamily::Ed25519);
        // The same key as a JWKS with a kid.
        let spki = pem_blocks(&public).unwrap_or_default().remove(0).1;
        let raw = &spki[spki.len() - 32..];
        let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        let jwks = format!(
            r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","x":"{x}","kid":"k1","alg":"EdDSA","use":"sig"}}]}}"#
        );
        let keys = parse_verifying_keys(&jwks).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(keys[0].kid.as_deref(), Some("k1"));
        let mut ik = IssuerKeys::default();
        ik.add(f.police.clone(), &f.pki.agencies[0].token_issuer, keys)
            .unwrap_or_else(|e| panic!("{e}"));
        let auth = Authenticator::new(
            f.auth.registry().clone(),
            Arc::new(ik),
            "accord".into(),
            30,
            Clock::fixed(NOW),
        );
        let token = mint(&f, &claims(&f));
        assert!(auth.verify_token(&token, &f.police, NOW).is_ok());
    }

    fn request_with(f: &Fixture, token: &str) -> Request<()> {
        let mut req = Request::new(());
        req.extensions_mut().insert(peer_of(f, 0));
        req.metadata_mut().insert(
            "authorization",
            format!("Bearer {token}")
                .parse()
                .unwrap_or_else(|_| panic!()),
        );
        req
    }

    fn with_keys(f: &Fixture, designate: &[Role]) -> Authenticator {
        let mut ik = IssuerKeys::default();
        for a in &f.pki.agencies {
            let k = load_verifying_keys(&a.jwt_public_key).unwrap_or_else(|e| panic!("{e}"));
            ik.add(
                AgencyId::parse(&a.agency_id).unwrap_or_else(|e| panic!("{e}")),
                &a.token_issuer,
                k,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        }
        for role in designate {
            ik.designate(*role, [f.police.clone()]);
        }
        Authenticator::new(
            f.auth.registry().clone(),
            Arc::new(ik),
            "accord".into(),
            30,
            Clock::fixed(NOW),
        )
    }

    #[test]
    fn partnership_roles_count_only_for_designated_agencies() {
        let f = fixture();
        let mut c = claims(&f);
        c.roles = vec!["admin".into(), "auditor".into(), "practitioner".into()];
        let req = request_with(&f, &mint(&f, &c));
        // Nobody designated (the default): admin and auditor are dropped.
        let caller = f.auth.authenticate(&req).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(caller.roles, vec![Role::Practitioner]);
        let e = caller
            .authorize(Operation::SuspendSignatory)
            .err()
            .unwrap_or_else(|| panic!("undesignated admin allowed"));
        assert_eq!(e.code(), tonic::Code::PermissionDenied);
        assert!(
            e.message().contains("[auth] admin_agencies")
                && e.message().contains("unless agency police is designated"),
            "{}",
            e.message()
        );
        let e = caller
            .authorize(Operation::QueryAudit)
            .err()
            .unwrap_or_else(|| panic!("undesignated auditor allowed"));
        assert!(
            e.message().contains("[auth] auditor_agencies"),
            "{}",
            e.message()
        );
        // Operations open to agency roles say nothing about designation.
        assert!(caller.authorize(Operation::ListProtocols).is_ok());
        // Police designated for admin only.
        let auth = with_keys(&f, &[Role::Admin]);
        let caller = auth.authenticate(&req).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(caller.roles, vec![Role::Admin, Role::Practitioner]);
        assert_eq!(
            caller.authorize(Operation::SuspendSignatory).ok(),
            Some(Role::Admin)
        );
        assert!(caller.authorize(Operation::QueryAudit).is_err());
        // And for both.
        let auth = with_keys(&f, &[Role::Admin, Role::Auditor]);
        let caller = auth.authenticate(&req).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            caller.authorize(Operation::QueryAudit).ok(),
            Some(Role::Auditor)
        );
    }

    #[test]
    fn authentication_reports_when_the_token_stops_counting() {
        let f = fixture();
        let mut c = claims(&f);
        c.exp = NOW.unix_timestamp() + 120;
        let (_, until) = f
            .auth
            .authenticate_until(&request_with(&f, &mint(&f, &c)))
            .unwrap_or_else(|e| panic!("{e}"));
        // exp plus the 30 s leeway, as the token check applies it.
        assert_eq!(until, NOW + time::Duration::seconds(150));
    }

    #[test]
    fn one_issuer_per_agency() {
        let mut ik = IssuerKeys::default();
        let a = AgencyId::parse("a").unwrap_or_else(|e| panic!("{e}"));
        assert!(ik.add(a.clone(), "https://one/", vec![]).is_ok());
        assert!(ik.add(a.clone(), "https://one/", vec![]).is_ok());
        assert!(ik.add(a, "https://two/", vec![]).is_err());
    }
}
