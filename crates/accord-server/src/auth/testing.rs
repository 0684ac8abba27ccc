//! Shared test fixture: a registry of two active agencies with dev PKI, an authenticator
//! over their keys at a fixed clock, and helpers that mint tokens and build calls.

use std::sync::Arc;

use accord_domain::{AgencyId, Role};
use time::macros::datetime;
use time::OffsetDateTime;
use tonic::Request;

use super::{load_verifying_keys, Authenticator, IssuerKeys, TokenClaims};
use crate::context::Clock;
use crate::registry::{LoadedProtocol, Registry};
use crate::tls::{cert_identity, parse_certs, PeerInfo};
use accord_dev::{self as dev, DevSpec};

pub(super) const NOW: OffsetDateTime = datetime!(2025-06-01 12:00 UTC);

pub(super) struct Fixture {
    pub(super) _dir: tempfile::TempDir,
    pub(super) auth: Authenticator,
    pub(super) pki: dev::DevPki,
    pub(super) police: AgencyId,
}

pub(super) fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let spec = DevSpec::new("test", &["police", "council"]);
    let pki = dev::generate(dir.path(), &spec).unwrap_or_else(|e| panic!("{e}"));
    let protocol =
        crate::registry::tests::protocol("proto-a", &[("police", "active"), ("council", "active")]);
    let registry = Registry::new(vec![LoadedProtocol {
        path: "a.toml".into(),
        protocol,
    }])
    .unwrap_or_else(|e| panic!("{e}"));
    let police = AgencyId::parse("police").unwrap_or_else(|e| panic!("{e}"));
    let auth = authenticator(registry, issuer_keys(&pki, &police, &[]));
    Fixture {
        _dir: dir,
        auth,
        pki,
        police,
    }
}

/// Every dev agency's public key under its issuer, with `designate` roles designated to
/// `designated` only.
pub(super) fn issuer_keys(
    pki: &dev::DevPki,
    designated: &AgencyId,
    designate: &[Role],
) -> IssuerKeys {
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
    for role in designate {
        keys.designate(*role, [designated.clone()]);
    }
    keys
}

/// The fixture's settings: audience `accord`, 30 s leeway, the clock stopped at [`NOW`].
pub(super) fn authenticator(registry: Registry, keys: IssuerKeys) -> Authenticator {
    Authenticator::new(
        registry,
        Arc::new(keys),
        "accord".into(),
        30,
        Clock::fixed(NOW),
    )
}

pub(super) fn claims(f: &Fixture) -> TokenClaims {
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

pub(super) fn mint(f: &Fixture, c: &TokenClaims) -> String {
    let pem = std::fs::read_to_string(&f.pki.agencies[0].jwt_private_key)
        .unwrap_or_else(|e| panic!("{e}"));
    dev::mint_token(&pem, c).unwrap_or_else(|e| panic!("{e}"))
}

pub(super) fn peer_of(f: &Fixture, idx: usize) -> PeerInfo {
    let pem = std::fs::read(&f.pki.agencies[idx].client_cert).unwrap_or_default();
    let certs = parse_certs(&pem).unwrap_or_else(|e| panic!("{e}"));
    PeerInfo {
        remote_addr: "127.0.0.1:1".parse().unwrap_or_else(|_| panic!()),
        local_addr: None,
        identity: cert_identity(&certs[0]).ok(),
        certificates: Arc::new(certs),
    }
}

pub(super) fn request_with(f: &Fixture, token: &str) -> Request<()> {
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

/// The fixture's authenticator with `designate` roles designated to the police.
pub(super) fn with_keys(f: &Fixture, designate: &[Role]) -> Authenticator {
    authenticator(
        f.auth.registry().clone(),
        issuer_keys(&f.pki, &f.police, designate),
    )
}
