//! Issuer keys: the public keys that verify each agency's tokens, read from PEM or JWKS
//! files, the algorithm policy (asymmetric algorithms only, each key limited to its own
//! family), and which agencies may grant the partnership-wide roles.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use accord_domain::{AgencyId, Role};
use base64::Engine;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use x509_parser::prelude::FromDer;

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
    pub(super) key: DecodingKey,
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
    pub(super) fn accepts(&self, alg: Algorithm) -> bool {
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
            _ => return Err(at("unsupported key type: use RSA, EC (P-256, P-384) or OKP (Ed25519)")),
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

/// The JWKS `alg` as a token algorithm, if [`ALLOWED_ALGORITHMS`] accepts it. The allowlist is
/// the one statement of the algorithm policy; a JWKS name maps onto it by its spelling (the
/// same conversion jsonwebtoken makes).
fn jwk_algorithm(ka: KeyAlgorithm) -> Option<Algorithm> {
    ka.to_string()
        .parse::<Algorithm>()
        .ok()
        .filter(|a| ALLOWED_ALGORITHMS.contains(a))
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
    /// For each partnership-wide role (one with a [`designation_key`]), the agencies whose
    /// tokens may carry it.
    designated: BTreeMap<Role, BTreeSet<AgencyId>>,
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
        if designation_key(role).is_some() {
            self.designated.entry(role).or_default().extend(agencies);
        }
    }

    /// `[auth] admin_agencies`: the agencies whose `admin` role counts.
    pub fn admin_agencies(&self) -> &BTreeSet<AgencyId> {
        self.designated_for(Role::Admin)
    }

    /// `[auth] auditor_agencies`: the agencies whose `auditor` role counts.
    pub fn auditor_agencies(&self) -> &BTreeSet<AgencyId> {
        self.designated_for(Role::Auditor)
    }

    /// Whether a token from `agency` may carry `role`: always for the agency-level roles,
    /// only for designated agencies for `admin` and `auditor`.
    pub fn may_grant(&self, agency: &AgencyId, role: Role) -> bool {
        designation_key(role).is_none() || self.designated_for(role).contains(agency)
    }

    fn designated_for(&self, role: Role) -> &BTreeSet<AgencyId> {
        static NONE: BTreeSet<AgencyId> = BTreeSet::new();
        self.designated.get(&role).unwrap_or(&NONE)
    }
}

/// The configuration key designating the agencies for a partnership-wide role; `None` for the
/// roles every agency's tokens may carry. This is the one place that says which roles are
/// partnership-wide.
pub fn designation_key(role: Role) -> Option<&'static str> {
    match role {
        Role::Admin => Some("admin_agencies"),
        Role::Auditor => Some("auditor_agencies"),
        Role::Practitioner | Role::IgLead | Role::CaldicottGuardian => None,
    }
}

pub(super) fn allowed_list() -> String {
    ALLOWED_ALGORITHMS
        .iter()
        .map(|a| format!("{a:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::testing::*;

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
        let auth = authenticator(f.auth.registry().clone(), ik);
        let token = mint(&f, &claims(&f));
        assert!(auth.verify_token(&token, &f.police, NOW).is_ok());
    }

    #[test]
    fn one_issuer_per_agency() {
        let mut ik = IssuerKeys::default();
        let a = AgencyId::parse("a").unwrap_or_else(|e| panic!("{e}"));
        assert!(ik.add(a.clone(), "https://one/", vec![]).is_ok());
        assert!(ik.add(a.clone(), "https://one/", vec![]).is_ok());
        assert!(ik.add(a, "https://two/", vec![]).is_err());
    }

    #[test]
    fn jwks_algorithms_map_onto_the_allowlist() {
        use Algorithm as A;
        use KeyAlgorithm as K;
        let accepted = [
            (K::RS256, A::RS256),
            (K::RS384, A::RS384),
            (K::RS512, A::RS512),
            (K::PS256, A::PS256),
            (K::PS384, A::PS384),
            (K::PS512, A::PS512),
            (K::ES256, A::ES256),
            (K::ES384, A::ES384),
            (K::EdDSA, A::EdDSA),
        ];
        for (ka, a) in accepted {
            assert_eq!(jwk_algorithm(ka), Some(a), "{ka:?}");
        }
        assert_eq!(accepted.len(), ALLOWED_ALGORITHMS.len());
        for ka in [
            K::HS256,
            K::HS384,
            K::HS512,
            K::RSA1_5,
            K::RSA_OAEP,
            K::RSA_OAEP_256,
        ] {
            assert_eq!(jwk_algorithm(ka), None, "{ka:?}");
        }
    }

    #[test]
    fn only_partnership_roles_are_designated() {
        let mut ik = IssuerKeys::default();
        let a = AgencyId::parse("a").unwrap_or_else(|e| panic!("{e}"));
        let b = AgencyId::parse("b").unwrap_or_else(|e| panic!("{e}"));
        assert!(ik.admin_agencies().is_empty() && ik.auditor_agencies().is_empty());
        ik.designate(Role::Admin, [a.clone()]);
        ik.designate(Role::Practitioner, [b.clone()]);
        assert_eq!(ik.admin_agencies().iter().collect::<Vec<_>>(), vec![&a]);
        assert!(ik.auditor_agencies().is_empty());
        assert!(ik.may_grant(&a, Role::Admin) && !ik.may_grant(&b, Role::Admin));
        assert!(!ik.may_grant(&a, Role::Auditor));
        for role in [Role::Practitioner, Role::IgLead, Role::CaldicottGuardian] {
            assert!(ik.may_grant(&a, role) && ik.may_grant(&b, role));
        }
    }
}
