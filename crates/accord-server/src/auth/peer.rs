//! The agency behind a client certificate: the certificate's SAN URIs and pinned SHA-256
//! fingerprint (read by [`crate::tls`]) are looked up in the *current* registry on every call,
//! so a suspension takes effect on connections that are already open.

use std::net::SocketAddr;

use accord_domain::{AgencyId, AgencyKind, ProtocolId, SignatoryStatus};
use tonic::Status;
use tracing::warn;

use super::{unauthenticated, Authenticator};
use crate::tls::PeerInfo;

/// The agency behind a client certificate.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerAgency {
    pub agency: AgencyId,
    pub kind: AgencyKind,
    /// Protocols in which the agency is an active signatory (at least one).
    pub protocols: Vec<ProtocolId>,
    pub addr: SocketAddr,
}

impl Authenticator {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::testing::*;
    use crate::registry::AdminChange;

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
}
