//! The Accord broker's gRPC server: mutual TLS, authentication of agency systems and their
//! users, authorisation, error mapping, proto ↔ domain conversion, and the server itself
//! (health, reflection, message limits, graceful drain).
//!
//! Modules:
//! - [`config`]: the configuration file and its `ACCORD_*` overrides, validated once;
//! - [`tls`]: rustls (TLS 1.3, client certificates required), the accept loop, [`tls::PeerInfo`];
//! - [`registry`]: the loaded protocols, with run-time signatory changes;
//! - [`auth`]: certificate → signatory, JWT → person and roles: [`auth::Caller`];
//! - [`authz`]: the authorisation matrix and [`authz::authorize`];
//! - [`error`]: store errors and field violations → `tonic::Status`;
//! - [`api`]: the API boundary, `accord.v1` messages ↔ domain and store types, one file per service;
//! - [`context`]: request ids, the per-call span, the clock, the shutdown signal;
//! - [`services`]: the `accord.v1` services;
//! - [`jobs`]: the deadline, retention and registry sync jobs.
//!
//! A handler starts with `let caller = state.authenticate(&request)?;`, then
//! `caller.authorize(op)` or `caller.authorize_exchange(op, id, requesting, holding)`, converts
//! its input with [`api`], calls the store and maps errors with `Status::from`.

#![forbid(unsafe_code)]

pub mod api;
pub mod auth;
pub mod authz;
pub mod config;
pub mod context;
pub mod error;
pub mod jobs;
pub mod registry;
pub mod services;
pub mod tls;

use std::future::Future;
use std::sync::Arc;

use accord_store::Store;
use anyhow::Context as _;
use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::{Request, Status};
use tonic_health::ServingStatus;
use tracing::{info, warn};

pub use auth::Caller;
pub use config::{ConfigError, ServerConfig, EXIT_CONFIG};
pub use context::{Clock, RequestId, Shutdown};
pub use registry::Registry;

/// Everything a handler needs. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<ServerConfig>,
    pub registry: Registry,
    pub auth: auth::Authenticator,
    /// The store, opened by the caller of [`AppState::new`].
    pub store: Store,
    pub clock: Clock,
    /// Triggered when the server starts draining; long-running streams should end.
    pub shutdown: Shutdown,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Builds the registry and the authenticator from a validated configuration.
    pub fn new(config: ServerConfig, store: Store, clock: Clock) -> anyhow::Result<AppState> {
        let registry =
            Registry::new(config.protocols.loaded.clone()).context("loading protocols")?;
        let auth = auth::Authenticator::new(
            registry.clone(),
            config.auth.issuer_keys(),
            config.auth.audience.clone(),
            config.auth.leeway_seconds,
            clock.clone(),
        );
        Ok(AppState {
            config: Arc::new(config),
            registry,
            auth,
            store,
            clock,
            shutdown: Shutdown::new(),
        })
    }

    /// Authenticates a call; see [`auth::Authenticator::authenticate`].
    pub fn authenticate<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        self.auth.authenticate(request)
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Re-applies the admin changes recorded in the audit log to the freshly loaded
    /// registry. Call once after opening the store and before serving. Returns how many
    /// changed the registry.
    ///
    /// Also records where the registry sync job starts ([`Registry::applied_through`]): the
    /// last audit sequence before the replay read the log. Every entry up to it has been
    /// replayed; entries appended meanwhile (by other replicas) are read again by the sync,
    /// which applies them idempotently in log order.
    pub async fn replay_admin_changes(&self) -> anyhow::Result<usize> {
        jobs::replay_admin_changes(&self.store, &self.registry)
            .await
            .context("replaying admin changes from the audit log")
    }
}

/// The Accord services, each limited to the configured message size. Each is reported
/// SERVING by health through [`ACCORD_SERVICES`].
pub fn services(state: &AppState) -> Routes {
    use accord_proto::v1::approval_service_server::ApprovalServiceServer;
    use accord_proto::v1::audit_service_server::AuditServiceServer;
    use accord_proto::v1::exchange_service_server::ExchangeServiceServer;
    use accord_proto::v1::inbox_service_server::InboxServiceServer;
    use accord_proto::v1::registry_service_server::RegistryServiceServer;

    let max = state.config.limits.max_message_bytes;
    Routes::default()
        .add_service(
            ExchangeServiceServer::new(services::ExchangeHandlers::new(state.clone()))
                .max_decoding_message_size(max)
                .max_encoding_message_size(max),
        )
        .add_service(
            InboxServiceServer::new(services::InboxHandlers::new(state.clone()))
                .max_decoding_message_size(max)
                .max_encoding_message_size(max),
        )
        .add_service(
            ApprovalServiceServer::new(services::ApprovalHandlers::new(state.clone()))
                .max_decoding_message_size(max)
                .max_encoding_message_size(max),
        )
        .add_service(
            AuditServiceServer::new(services::AuditHandlers::new(state.clone()))
                .max_decoding_message_size(max)
                .max_encoding_message_size(max),
        )
        .add_service(
            RegistryServiceServer::new(services::RegistryHandlers::new(state.clone()))
                .max_decoding_message_size(max)
                .max_encoding_message_size(max),
        )
}

/// Full names of the Accord services, reported SERVING by `grpc.health.v1` while the server
/// runs. Add a name here when its service is registered in [`services`].
pub const ACCORD_SERVICES: &[&str] = &[
    "accord.v1.ExchangeService",
    "accord.v1.InboxService",
    "accord.v1.ApprovalService",
    "accord.v1.AuditService",
    "accord.v1.RegistryService",
];

/// Runs the broker on an already-bound listener until `shutdown` completes, then drains.
pub async fn run(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let routes = services(&state);
    serve(state, listener, routes, shutdown).await
}

/// [`run`] with the caller's routes (tests add probe services this way). Adds health and
/// reflection, mutual TLS with the handshake timeout, the request context layer, and a
/// graceful drain bounded by `shutdown_grace_ms`.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    routes: Routes,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let config = state.config.clone();
    for w in &config.warnings {
        warn!(warning = %w, "configuration");
    }

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_service_status("", ServingStatus::Serving).await;
    for name in ACCORD_SERVICES {
        health
            .set_service_status(*name, ServingStatus::Serving)
            .await;
    }
    // The Accord set also describes google.rpc's error details, so reflection clients (grpcurl)
    // decode the `BadRequest` detail of an INVALID_ARGUMENT answer.
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(accord_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("building the reflection service")?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(accord_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .context("building the reflection service")?;
    let routes = routes
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);

    let local = listener.local_addr().ok();
    let acceptor = tokio_rustls::TlsAcceptor::from(config.tls.server_config());
    let incoming = tls::incoming(listener, acceptor, config.tls.handshake_timeout);

    // When the caller's shutdown completes: report NOT_SERVING (load balancers stop sending),
    // tell streaming handlers, and let tonic stop accepting and drain.
    let drain = state.shutdown.clone();
    let signal = async move {
        shutdown.await;
        info!("shutdown requested; draining");
        health
            .set_service_status("", ServingStatus::NotServing)
            .await;
        for name in ACCORD_SERVICES {
            health
                .set_service_status(*name, ServingStatus::NotServing)
                .await;
        }
        drain.trigger();
    };

    let max_header = 64 * 1024;
    let server = tonic::transport::Server::builder()
        .layer(context::RequestContextLayer)
        .http2_max_header_list_size(max_header)
        .http2_keepalive_interval(Some(std::time::Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(std::time::Duration::from_secs(10)))
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, signal);

    if let Some(addr) = local {
        info!(addr = %addr, "accord listening");
    }
    // The deadline, retention and registry sync jobs run while the server serves and stop
    // when it drains.
    let jobs = jobs::spawn(&state);
    let result = drive(&state, &config, server).await;
    // However serving ended, the jobs stop with it.
    state.shutdown.trigger();
    for job in jobs {
        if let Err(e) = job.await {
            warn!(error = %e, "background job ended abnormally");
        }
    }
    result?;
    info!("accord stopped");
    Ok(())
}

/// Serves until the drain starts, then gives in-flight calls the grace period.
async fn drive<E>(
    state: &AppState,
    config: &ServerConfig,
    server: impl Future<Output = Result<(), E>>,
) -> anyhow::Result<()>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let mut server = std::pin::pin!(server);
    let drained = state.shutdown.triggered();
    tokio::select! {
        result = &mut server => return result.context("serving"),
        () = drained => {}
    }
    match tokio::time::timeout(config.shutdown_grace, &mut server).await {
        Ok(result) => result.context("serving")?,
        Err(_) => warn!(
            grace_ms = config.shutdown_grace.as_millis() as u64,
            "shutdown grace period over; closing remaining calls"
        ),
    }
    Ok(())
}

/// `accord serve` in one call: opens the store the configuration names, replays recorded
/// admin changes over the protocols, and runs until `shutdown` completes.
pub async fn run_with_config(
    config: ServerConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let store = open_store(&config).await.context("opening the store")?;
    let state = AppState::new(config, store.clone(), Clock::system())?;
    let replayed = state.replay_admin_changes().await?;
    if replayed > 0 {
        info!(
            changes = replayed,
            "admin changes replayed from the audit log"
        );
    }
    let result = run(state, listener, shutdown).await;
    store.close().await;
    result
}

/// Opens the store named by the configuration.
pub async fn open_store(config: &ServerConfig) -> Result<Store, accord_store::StoreError> {
    Store::open(config.store.store_config()).await
}
