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
//!
//! The parts: `keys` (issuer keys from PEM/JWKS, the algorithm policy, role designations),
//! `token` (JWT verification), `peer` (certificate → signatory) and `caller` (the
//! authenticated [`Caller`] and its authorization helpers); [`Authenticator`], here, ties them
//! together.

use std::fmt;
use std::sync::Arc;

use accord_domain::Role;
use time::OffsetDateTime;
use tonic::{Request, Status};
use tracing::warn;

use crate::context::{Clock, RequestId};
use crate::registry::Registry;
use crate::tls::PeerInfo;

mod caller;
mod keys;
mod peer;
#[cfg(test)]
mod testing;
mod token;

pub use caller::Caller;
pub use keys::{
    designation_key, load_verifying_keys, parse_verifying_keys, AgencyKeys, IssuerKeys, KeyFamily,
    VerifyingKey, ALLOWED_ALGORITHMS,
};
pub use peer::PeerAgency;
pub use token::{bearer_token, TokenClaims, VerifiedToken};

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
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use accord_domain::{Actor, ProtocolId};
    use uuid::Uuid;

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
}
