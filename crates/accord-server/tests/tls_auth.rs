//! The real server on 127.0.0.1:0 with a development PKI made at test time: mutual TLS,
//! handshake timeout, health, reflection, and the per-call certificate → signatory mapping.
//!
//! Authenticated calls go to a probe `RegistryService` whose `ListProtocols` does what every
//! real handler does first (authenticate, authorise), so these tests need no database; the
//! real services are exercised end to end in the `accord-tests` crate.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use accord_dev::{self as dev, DevPki, DevSpec};
use accord_domain::{AgencyId, ProtocolId};
use accord_proto::v1 as pb;
use accord_proto::v1::registry_service_client::RegistryServiceClient;
use accord_proto::v1::registry_service_server::{RegistryService, RegistryServiceServer};
use accord_server::auth::TokenClaims;
use accord_server::authz::Operation;
use accord_server::registry::{AdminChange, AdminChangeEvent};
use accord_server::{api, tls, AppState, Clock, ServerConfig};
use anyhow::{anyhow, Context, Result};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tonic::service::Routes;
use tonic::transport::Channel;
use tonic::{Code, Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

const PROTOCOL: &str = r#"
[protocol]
id = "test-isp"
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

[[signatory]]
agency_id = "police"
name = "Test Police"
kind = "police"
relevant_authority = true
signed_on = 2024-01-01
reaffirm_every_months = 24
status = "active"
certificate_identity = "spiffe://test-partnership/agency/police"
token_issuer = "https://id.police.example/"

[[signatory]]
agency_id = "council"
name = "Test Council"
kind = "local_authority"
relevant_authority = true
signed_on = 2024-01-01
reaffirm_every_months = 24
status = "active"
certificate_identity = "spiffe://test-partnership/agency/council"
token_issuer = "https://id.council.example/"
"#;

/// Does what every handler does first: authenticate, then authorise.
struct Probe {
    state: AppState,
}

#[tonic::async_trait]
impl RegistryService for Probe {
    async fn list_protocols(
        &self,
        request: Request<pb::ListProtocolsRequest>,
    ) -> Result<Response<pb::ListProtocolsResponse>, Status> {
        let caller = self.state.authenticate(&request)?;
        caller.authorize(Operation::ListProtocols)?;
        let protocols = self
            .state
            .registry
            .protocols()
            .iter()
            .map(|p| api::protocol_summary_to_proto(p))
            .collect();
        Ok(Response::new(pb::ListProtocolsResponse { protocols }))
    }

    async fn get_protocol(
        &self,
        _: Request<pb::GetProtocolRequest>,
    ) -> Result<Response<pb::GetProtocolResponse>, Status> {
        Err(Status::unimplemented("probe"))
    }

    async fn list_signatories(
        &self,
        _: Request<pb::ListSignatoriesRequest>,
    ) -> Result<Response<pb::ListSignatoriesResponse>, Status> {
        Err(Status::unimplemented("probe"))
    }

    async fn suspend_signatory(
        &self,
        request: Request<pb::SuspendSignatoryRequest>,
    ) -> Result<Response<pb::SuspendSignatoryResponse>, Status> {
        let caller = self.state.authenticate(&request)?;
        caller.authorize(Operation::SuspendSignatory)?;
        Err(Status::unimplemented("probe"))
    }

    async fn reinstate_signatory(
        &self,
        _: Request<pb::ReinstateSignatoryRequest>,
    ) -> Result<Response<pb::ReinstateSignatoryResponse>, Status> {
        Err(Status::unimplemented("probe"))
    }

    async fn reaffirm_signatory(
        &self,
        _: Request<pb::ReaffirmSignatoryRequest>,
    ) -> Result<Response<pb::ReaffirmSignatoryResponse>, Status> {
        Err(Status::unimplemented("probe"))
    }
}

struct App {
    addr: String,
    pki: DevPki,
    dir: tempfile::TempDir,
    state: AppState,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<Result<()>>>,
}

impl App {
    async fn stop(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.server.take() {
            Some(h) => h.await.context("server task")?,
            None => Ok(()),
        }
    }
}

/// Starts the real server on an ephemeral port with a fresh development PKI.
async fn spawn_app(handshake_timeout_ms: u64) -> Result<App> {
    let dir = tempfile::tempdir()?;
    let pki = dev::generate(
        dir.path(),
        &DevSpec::new("test-partnership", &["police", "council"]),
    )?;
    let protocol = dir.path().join("protocol.toml");
    std::fs::write(&protocol, PROTOCOL)?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let config_path = pki.write_config(&[protocol], &addr.to_string(), "sqlite://accord.db")?;
    let env = [(
        "ACCORD_TLS_HANDSHAKE_TIMEOUT_MS".to_owned(),
        handshake_timeout_ms.to_string(),
    )];
    let config = ServerConfig::load_with_env(&config_path, env).map_err(|e| anyhow!("{e}"))?;
    let store = accord_server::open_store(&config).await?;
    let state = AppState::new(config, store, Clock::system())?;
    let routes = Routes::default().add_service(RegistryServiceServer::new(Probe {
        state: state.clone(),
    }));
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(accord_server::serve(
        state.clone(),
        listener,
        routes,
        async {
            let _ = stopped.await;
        },
    ));
    Ok(App {
        addr: format!("localhost:{}", addr.port()),
        pki,
        dir,
        state,
        stop: Some(stop),
        server: Some(server),
    })
}

fn read(p: &PathBuf) -> Result<Vec<u8>> {
    std::fs::read(p).with_context(|| p.display().to_string())
}

async fn channel_for(app: &App, agency: &str) -> Result<Channel> {
    let a = app
        .pki
        .agency(agency)
        .ok_or_else(|| anyhow!("no agency {agency}"))?;
    let config = tls::client_config(
        &read(&app.pki.ca_cert)?,
        Some((&read(&a.client_cert)?, &read(&a.client_key)?)),
    )?;
    Ok(tls::connect(&app.addr, "localhost", Arc::new(config)).await?)
}

fn token(app: &App, agency: &str, roles: &[&str]) -> Result<String> {
    let a = app
        .pki
        .agency(agency)
        .ok_or_else(|| anyhow!("no agency {agency}"))?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = TokenClaims {
        iss: a.token_issuer.clone(),
        sub: format!("user-of-{agency}"),
        aud: "accord".into(),
        exp: now + 300,
        nbf: Some(now - 5),
        iat: Some(now - 5),
        agency: agency.into(),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        name: None,
    };
    Ok(dev::mint_token(
        &std::fs::read_to_string(&a.jwt_private_key)?,
        &claims,
    )?)
}

fn with_token<T>(msg: T, token: &str) -> Result<Request<T>> {
    let mut r = Request::new(msg);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    Ok(r)
}

async fn health(channel: Channel) -> Result<ServingStatus, Status> {
    let r = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await?;
    Ok(r.into_inner().status())
}

#[tokio::test]
async fn health_check_with_valid_client_certificate() -> Result<()> {
    let app = spawn_app(5_000).await?;
    let channel = channel_for(&app, "police").await?;
    assert_eq!(health(channel).await?, ServingStatus::Serving);
    app.stop().await
}

#[tokio::test]
async fn reflection_lists_the_accord_services() -> Result<()> {
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;

    let app = spawn_app(5_000).await?;
    let mut client = ServerReflectionClient::new(channel_for(&app, "council").await?);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = client
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await?
        .into_inner();
    let response = stream
        .message()
        .await?
        .ok_or_else(|| anyhow!("no reflection response"))?;
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        return Err(anyhow!("unexpected reflection response"));
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for want in [
        "accord.v1.ExchangeService",
        "accord.v1.AuditService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    app.stop().await
}

#[tokio::test]
async fn authenticated_call_passes_certificate_and_token_checks() -> Result<()> {
    let app = spawn_app(5_000).await?;
    let mut client = RegistryServiceClient::new(channel_for(&app, "police").await?);
    let t = token(&app, "police", &["practitioner"])?;
    let r = client
        .list_protocols(with_token(pb::ListProtocolsRequest {}, &t)?)
        .await?;
    assert!(r.metadata().get("x-request-id").is_some());
    assert_eq!(r.into_inner().protocols[0].id, "test-isp");

    // No token.
    let e = client
        .list_protocols(pb::ListProtocolsRequest {})
        .await
        .err()
        .ok_or_else(|| anyhow!("accepted"))?;
    assert_eq!(e.code(), Code::Unauthenticated);
    // The council's token over the police's certificate.
    let other = token(&app, "council", &["practitioner"])?;
    let e = client
        .list_protocols(with_token(pb::ListProtocolsRequest {}, &other)?)
        .await
        .err()
        .ok_or_else(|| anyhow!("accepted"))?;
    assert_eq!(e.code(), Code::Unauthenticated);
    // Authenticated, but a practitioner may not suspend signatories.
    let e = client
        .suspend_signatory(with_token(pb::SuspendSignatoryRequest::default(), &t)?)
        .await
        .err()
        .ok_or_else(|| anyhow!("accepted"))?;
    assert_eq!(e.code(), Code::PermissionDenied);
    app.stop().await
}

#[tokio::test]
async fn no_client_certificate_is_refused_at_handshake() -> Result<()> {
    let app = spawn_app(5_000).await?;
    let config = Arc::new(tls::client_config(&read(&app.pki.ca_cert)?, None)?);

    // At the TLS level: the server answers the missing certificate with an alert.
    let tcp = TcpStream::connect(app.addr.as_str()).await?;
    let connector = tokio_rustls::TlsConnector::from(config.clone());
    let name = rustls::pki_types::ServerName::try_from("localhost")?;
    let mut outcome = String::new();
    match connector.connect(name, tcp).await {
        // TLS 1.3: the client finishes first, then reads the server's verdict.
        Ok(mut stream) => {
            let mut buf = [0u8; 16];
            match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await? {
                Ok(n) => outcome = format!("read {n} bytes"),
                Err(e) => outcome = e.to_string(),
            }
        }
        Err(e) => outcome.push_str(&e.to_string()),
    }
    assert!(outcome.contains("CertificateRequired"), "{outcome}");

    // And through gRPC: the call fails, nothing is served.
    let result = match tls::connect(&app.addr, "localhost", config).await {
        Ok(channel) => health(channel).await.map_err(|s| s.to_string()),
        Err(e) => Err(e.to_string()),
    };
    assert!(result.is_err(), "{result:?}");
    app.stop().await
}

#[tokio::test]
async fn certificate_from_another_ca_is_refused() -> Result<()> {
    let app = spawn_app(5_000).await?;
    // Same SAN URI as the real police certificate: only the CA differs.
    let foreign = dev::foreign_client(app.dir.path(), "spiffe://test-partnership/agency/police")?;
    let config = tls::client_config(
        &read(&app.pki.ca_cert)?,
        Some((&read(&foreign.client_cert)?, &read(&foreign.client_key)?)),
    )?;
    let result = match tls::connect(&app.addr, "localhost", Arc::new(config)).await {
        Ok(channel) => health(channel).await.map_err(|s| s.to_string()),
        Err(e) => Err(e.to_string()),
    };
    assert!(result.is_err(), "{result:?}");
    // The server is still fine for everybody else.
    assert_eq!(
        health(channel_for(&app, "council").await?).await?,
        ServingStatus::Serving
    );
    app.stop().await
}

#[tokio::test]
async fn silent_client_does_not_block_others() -> Result<()> {
    // A handshake timeout far longer than the guard below: if handshakes were done one at a
    // time, the second client would wait behind the silent one and the guard would fire.
    let app = spawn_app(120_000).await?;
    let _silent = TcpStream::connect(app.addr.as_str()).await?;
    let _silent_too = TcpStream::connect(app.addr.as_str()).await?;
    let served = tokio::time::timeout(Duration::from_secs(20), async {
        let channel = channel_for(&app, "police").await?;
        Ok::<_, anyhow::Error>(health(channel).await?)
    })
    .await
    .context("a silent client blocked another client's handshake")??;
    assert_eq!(served, ServingStatus::Serving);
    app.stop().await
}

#[tokio::test]
async fn silent_client_is_cut_off_after_the_handshake_timeout() -> Result<()> {
    let app = spawn_app(300).await?;
    let mut silent = TcpStream::connect(app.addr.as_str()).await?;
    let mut buf = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(10), silent.read(&mut buf)).await?;
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "silent connection still open: {read:?}"
    );
    // The server still serves others afterwards.
    assert_eq!(
        health(channel_for(&app, "police").await?).await?,
        ServingStatus::Serving
    );
    app.stop().await
}

#[tokio::test]
async fn suspended_signatory_is_refused_at_the_auth_layer() -> Result<()> {
    let app = spawn_app(5_000).await?;
    let mut client = RegistryServiceClient::new(channel_for(&app, "police").await?);
    let t = token(&app, "police", &["practitioner"])?;
    client
        .list_protocols(with_token(pb::ListProtocolsRequest {}, &t)?)
        .await?;

    // An administrator suspends the police while its connection is open.
    app.state.registry.apply(
        &AdminChange::Suspend {
            protocol_id: ProtocolId::parse("test-isp")?,
            agency_id: AgencyId::parse("police")?,
            reason: "breach under investigation".into(),
        },
        time::OffsetDateTime::now_utc().date(),
    )?;
    let e = client
        .list_protocols(with_token(pb::ListProtocolsRequest {}, &t)?)
        .await
        .err()
        .ok_or_else(|| anyhow!("accepted"))?;
    assert_eq!(e.code(), Code::PermissionDenied);
    assert_eq!(
        e.message(),
        "agency police is not an active signatory (suspended in protocol test-isp)"
    );
    // The transport still works (health is not gated by signatory status) and other agencies
    // are unaffected.
    let mut council = RegistryServiceClient::new(channel_for(&app, "council").await?);
    council
        .list_protocols(with_token(
            pb::ListProtocolsRequest {},
            &token(&app, "council", &["auditor"])?,
        )?)
        .await?;
    app.stop().await
}

#[tokio::test]
async fn shutdown_signals_streams_and_stops_with_a_connection_open() -> Result<()> {
    let app = spawn_app(5_000).await?;
    let channel = channel_for(&app, "police").await?;
    assert_eq!(health(channel.clone()).await?, ServingStatus::Serving);
    let shutdown = app.state.shutdown.clone();
    app.stop().await?;
    assert!(shutdown.is_triggered());
    Ok(())
}

#[tokio::test]
async fn dev_pki_for_the_example_protocol_serves_its_agencies() -> Result<()> {
    let example = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/protocols/sandwell-partnership.toml"
    ));
    let protocol = accord_domain::load_protocol_file(&example).map_err(|e| anyhow!("{e}"))?;
    let dir = tempfile::tempdir()?;
    let pki = dev::generate(
        dir.path(),
        &DevSpec::from_protocols(std::slice::from_ref(&protocol), "sandwell-scsp"),
    )?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let config_path = pki.write_config(&[example], "127.0.0.1:0", "sqlite://accord.db")?;
    let config =
        ServerConfig::load_with_env(&config_path, Vec::new()).map_err(|e| anyhow!("{e}"))?;
    let store = accord_server::open_store(&config).await?;
    let state = AppState::new(config, store, Clock::system())?;
    let routes = Routes::default().add_service(RegistryServiceServer::new(Probe {
        state: state.clone(),
    }));
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(accord_server::serve(
        state.clone(),
        listener,
        routes,
        async {
            let _ = stopped.await;
        },
    ));
    let app = App {
        addr: format!("localhost:{port}"),
        pki,
        dir,
        state,
        stop: Some(stop),
        server: Some(server),
    };
    for signatory in protocol
        .signatories
        .iter()
        .filter(|s| s.status == accord_domain::SignatoryStatus::Active)
    {
        let agency = signatory.agency_id.as_str();
        let mut client = RegistryServiceClient::new(channel_for(&app, agency).await?);
        let r = client
            .list_protocols(with_token(
                pb::ListProtocolsRequest {},
                &token(&app, agency, &["practitioner"])?,
            )?)
            .await;
        assert!(r.is_ok(), "{agency}: {r:?}");
    }
    app.stop().await
}

#[tokio::test]
async fn admin_changes_recorded_in_the_store_are_replayed_on_start() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let pki = dev::generate(
        dir.path(),
        &DevSpec::new("test-partnership", &["police", "council"]),
    )?;
    let protocol = dir.path().join("protocol.toml");
    std::fs::write(&protocol, PROTOCOL)?;
    let config_path = pki.write_config(&[protocol], "127.0.0.1:0", "sqlite://accord.db")?;
    let config =
        ServerConfig::load_with_env(&config_path, Vec::new()).map_err(|e| anyhow!("{e}"))?;
    let store = accord_server::open_store(&config).await?;
    let admin = accord_domain::Actor {
        agency: Some(AgencyId::parse("council")?),
        subject: "admin-1".into(),
        roles: vec![accord_domain::Role::Admin],
    };
    let suspend = AdminChange::Suspend {
        protocol_id: ProtocolId::parse("test-isp")?,
        agency_id: AgencyId::parse("police")?,
        reason: "breach".into(),
    };
    store
        .record_event(suspend.to_event(), admin, time::OffsetDateTime::now_utc())
        .await?;

    let state = AppState::new(config, store.clone(), Clock::system())?;
    assert_eq!(
        state.registry.signatory("test-isp", "police")?.status,
        accord_domain::SignatoryStatus::Active
    );
    assert_eq!(state.replay_admin_changes().await?, 1);
    assert_eq!(
        state.registry.signatory("test-isp", "police")?.status,
        accord_domain::SignatoryStatus::Suspended
    );
    store.close().await;
    Ok(())
}
