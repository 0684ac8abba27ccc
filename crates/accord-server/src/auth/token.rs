//! Token verification: the claims an Accord JWT carries, and the check of one token against
//! the keys of the certificate's agency (algorithm before key, signature, `aud`, `iss`, `exp`
//! and `nbf` with leeway, `agency`, `sub`, `roles`), with a refusal message that says why.

use accord_domain::{AgencyId, Role};
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::Validation;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tonic::metadata::MetadataMap;
use tonic::Status;
use tracing::warn;

use super::keys::{allowed_list, VerifyingKey, ALLOWED_ALGORITHMS};
use super::{unauthenticated, Authenticator};

// Both the claim check here and jsonwebtoken's own time checks refuse with these words.
const EXPIRED: &str = "the token has expired";
const NOT_YET_VALID: &str = "the token is not valid yet (nbf is in the future)";

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
                    let message =
                        describe_jwt_error(&e, agency, &agency_keys.issuer, &self.audience);
                    // Claim problems come from a key that verified the signature: they are the
                    // real reason and win over signature failures of other keys.
                    if !is_signature_problem(e.kind()) {
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
            return Err(EXPIRED.into());
        }
        if let Some(nbf) = claims.nbf {
            if nbf > now_ts + leeway {
                return Err(NOT_YET_VALID.into());
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

/// The `alg` of a token header that jsonwebtoken would not parse, for the error message only.
fn raw_alg(token: &str) -> Option<String> {
    let header = token.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header.trim_end_matches('='))
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("alg")?.as_str().map(str::to_owned)
}

/// Whether a key failed to verify the signature, as opposed to a verified token whose claims
/// are wrong: the first may be just the wrong one of the agency's keys, the second is final.
fn is_signature_problem(kind: &ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::InvalidSignature
            | ErrorKind::InvalidAlgorithm
            | ErrorKind::InvalidEcdsaKey
            | ErrorKind::InvalidEddsaKey
            | ErrorKind::InvalidRsaKey(_)
            | ErrorKind::InvalidKeyFormat
    )
}

fn describe_jwt_error(
    e: &jsonwebtoken::errors::Error,
    agency: &AgencyId,
    issuer: &str,
    audience: &str,
) -> String {
    if is_signature_problem(e.kind()) {
        return format!("the token's signature does not verify with agency {agency}'s keys");
    }
    match e.kind() {
        ErrorKind::InvalidAudience => format!("the token's audience is not {audience:?}"),
        ErrorKind::InvalidIssuer => {
            format!("the token's issuer is not agency {agency}'s issuer {issuer:?}")
        }
        ErrorKind::MissingRequiredClaim(c) => format!("the token has no {c} claim"),
        ErrorKind::ExpiredSignature => EXPIRED.into(),
        ErrorKind::ImmatureSignature => NOT_YET_VALID.into(),
        ErrorKind::Json(_)
        | ErrorKind::Utf8(_)
        | ErrorKind::Base64(_)
        | ErrorKind::InvalidToken => {
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
    use crate::auth::testing::*;
    use accord_dev as dev;
    use jsonwebtoken::Algorithm;

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
            &jsonwebtoken::EncodingKey::from_secret(b"shared secret")
                .unwrap_or_else(|e| panic!("{e}")),
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
            &jsonwebtoken::EncodingKey::from_secret(&public).unwrap_or_else(|e| panic!("{e}")),
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
}
