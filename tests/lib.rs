//! The end-to-end harness: [`spawn_app`] starts the real broker on `127.0.0.1:0` with a
//! development PKI made at test time (`accord_dev`), real signed JWTs, and a fresh
//! SQLite file or a fresh PostgreSQL database, under the example protocols in
//! `deploy/protocols/`. [`App::clients`] gives typed tonic clients for one agency and role.
//!
//! Every scenario runs on both backends: write `async fn name(backend: Backend) ->
//! anyhow::Result<()>` and list it in [`backend_tests!`], which generates `sqlite::name` and
//! `postgres::name`. PostgreSQL is found at `ACCORD_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); each app gets its own `accord_e2e_<uuid>`
//! database, dropped afterwards. An unreachable PostgreSQL fails the test.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use accord_dev::{self as dev, DevPki, DevSpec};
use accord_domain::{Protocol, Role};
pub use accord_proto::v1 as pb;
use accord_server::auth::TokenClaims;
use accord_server::{tls, AppState, Clock, ServerConfig};
use anyhow::{anyhow, bail, Context, Result};
use sqlx::Connection;
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Mutex};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt;

pub use accord_server::authz::{Operation, Relation};

/// The Sandwell protocol (`deploy/protocols/sandwell-partnership.toml`).
pub const SANDWELL: &str = "sandwell-scsp-isp";
/// Sandwell: the police (a relevant authority), our usual requester.
pub const POLICE: &str = "west-midlands-police";
/// Sandwell: the children's trust, our usual holder.
pub const TRUST: &str = "sandwell-childrens-trust";
/// Sandwell: the council, party to nothing in most scenarios.
pub const COUNCIL: &str = "sandwell-council";
/// The partnership's lead agency: the only agency designated in `[auth] admin_agencies` and
/// `auditor_agencies` (the first `local_authority` signatory of the Sandwell protocol, which
/// [`DevSpec::from_protocols`] picks), so the only one whose admins and auditors count.
pub const LEAD: &str = COUNCIL;
/// The B&NES protocol (`deploy/protocols/banes-guidance.toml`): its `health-information`
/// purpose needs a Caldicott Guardian to approve sharing without consent.
pub const BANES: &str = "banes-lscb-guidance";
pub const BANES_COUNCIL: &str = "banes-council";
pub const BANES_HOSPITAL: &str = "royal-united-hospitals-bath";

/// The broker's token audience in the test configuration.
pub const AUDIENCE: &str = "accord";

/// Which database the broker runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates one `#[tokio::test]` per backend for each scenario `async fn name(Backend) ->
/// anyhow::Result<()>`: `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() -> anyhow::Result<()> {
                    super::$name($crate::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() -> anyhow::Result<()> {
                    super::$name($crate::Backend::Postgres).await
                }
            )*
        }
    };
}

/// A clock the test moves by hand; it starts at the real time (certificates are checked
/// against the real time).
#[derive(Debug, Clone)]
pub struct TestClock {
    offset_seconds: Arc<AtomicI64>,
}

impl TestClock {
    pub fn new() -> TestClock {
        TestClock {
            offset_seconds: Arc::new(AtomicI64::new(0)),
        }
    }

    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
            + time::Duration::seconds(self.offset_seconds.load(Ordering::SeqCst))
    }

    pub fn advance(&self, by: time::Duration) {
        self.offset_seconds
            .fetch_add(by.whole_seconds(), Ordering::SeqCst);
    }

    pub fn clock(&self) -> Clock {
        let me = self.clone();
        Clock::from_fn(move || me.now())
    }
}

impl Default for TestClock {
    fn default() -> Self {
        Self::new()
    }
}

/// `ACCORD_TEST_POSTGRES_URL`, or the local server.
pub fn postgres_server_url() -> String {
    std::env::var("ACCORD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A file of the workspace, e.g. `deploy/protocols/sandwell-partnership.toml`.
pub fn workspace_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

/// One app's database; a PostgreSQL database is dropped with it (unless `pg_name` is
/// `None`: a replica's view of another app's database).
#[derive(Debug)]
struct Database {
    url: String,
    pg_name: Option<String>,
}

impl Database {
    async fn create(backend: Backend, dir: &Path) -> Result<Database> {
        match backend {
            Backend::Sqlite => Ok(Database {
                url: format!("sqlite://{}", dir.join("accord.db").display()),
                pg_name: None,
            }),
            Backend::Postgres => {
                let server = postgres_server_url();
                let mut conn = sqlx::PgConnection::connect(&server).await.map_err(|e| {
                    anyhow!(
                        "PostgreSQL is not reachable at {server} ({e}). The end-to-end tests run on \
                         PostgreSQL too: start it (`bash scripts/ensure-postgres.sh`) or point \
                         ACCORD_TEST_POSTGRES_URL at a server"
                    )
                })?;
                let name = format!("accord_e2e_{}", uuid::Uuid::new_v4().simple());
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .context("creating the test database")?;
                let _ = conn.close().await;
                let base = server
                    .rsplit_once('/')
                    .map(|(b, _)| b.to_owned())
                    .unwrap_or_else(|| server.clone());
                Ok(Database {
                    url: format!("{base}/{name}"),
                    pg_name: Some(name),
                })
            }
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop may run inside the test's runtime; a thread with its own runtime can block on
        // the DROP without stalling it.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut c) = sqlx::PgConnection::connect(&postgres_server_url()).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut c)
                    .await;
                }
            });
        })
        .join();
    }
}

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Debug, Clone)]
pub struct Bearer(MetadataValue<Ascii>);

impl Bearer {
    pub fn new(token: &str) -> Result<Bearer> {
        Ok(Bearer(format!("Bearer {token}").parse()?))
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// A channel whose calls carry one person's token.
pub type Authed = InterceptedService<Channel, Bearer>;

/// Typed clients of every service, for one person of one agency.
#[derive(Debug, Clone)]
pub struct Clients {
    pub agency: String,
    pub subject: String,
    pub exchanges: pb::exchange_service_client::ExchangeServiceClient<Authed>,
    pub inbox: pb::inbox_service_client::InboxServiceClient<Authed>,
    pub approvals: pb::approval_service_client::ApprovalServiceClient<Authed>,
    pub audit: pb::audit_service_client::AuditServiceClient<Authed>,
    pub registry: pb::registry_service_client::RegistryServiceClient<Authed>,
}

impl Clients {
    pub fn new(agency: &str, subject: &str, channel: Channel, token: &str) -> Result<Clients> {
        let bearer = Bearer::new(token)?;
        Ok(Clients {
            agency: agency.to_owned(),
            subject: subject.to_owned(),
            exchanges: pb::exchange_service_client::ExchangeServiceClient::with_interceptor(
                channel.clone(),
                bearer.clone(),
            ),
            inbox: pb::inbox_service_client::InboxServiceClient::with_interceptor(
                channel.clone(),
                bearer.clone(),
            ),
            approvals: pb::approval_service_client::ApprovalServiceClient::with_interceptor(
                channel.clone(),
                bearer.clone(),
            ),
            audit: pb::audit_service_client::AuditServiceClient::with_interceptor(
                channel.clone(),
                bearer.clone(),
            ),
            registry: pb::registry_service_client::RegistryServiceClient::with_interceptor(
                channel, bearer,
            ),
        })
    }
}

/// A running broker.
pub struct App {
    pub backend: Backend,
    /// `localhost:<port>`.
    pub addr: String,
    pub pki: DevPki,
    pub dir: tempfile::TempDir,
    pub state: AppState,
    pub clock: TestClock,
    /// The protocols the broker holds, as loaded from their files.
    pub protocols: Vec<Protocol>,
    store: accord_store::Store,
    channels: Mutex<HashMap<String, Channel>>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<Result<()>>>,
    // Last: dropped after everything that uses it.
    _db: Database,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("backend", &self.backend)
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Starts the broker on `backend` under the Sandwell and B&NES example protocols.
pub async fn spawn_app(backend: Backend) -> Result<App> {
    let files = vec![
        workspace_file("deploy/protocols/sandwell-partnership.toml"),
        workspace_file("deploy/protocols/banes-guidance.toml"),
    ];
    let mut protocols = Vec::new();
    for f in &files {
        protocols.push(
            accord_domain::load_protocol_file(f).map_err(|e| anyhow!("{}: {e}", f.display()))?,
        );
    }
    let dir = tempfile::tempdir()?;
    let pki = dev::generate(
        dir.path(),
        &DevSpec::from_protocols(&protocols, "accord-e2e"),
    )?;
    let db = Database::create(backend, dir.path()).await?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let config_path = pki.write_config(&files, &format!("127.0.0.1:{port}"), &db.url)?;
    start(
        backend,
        &config_path,
        listener,
        pki,
        dir,
        TestClock::new(),
        protocols,
        db,
    )
    .await
}

/// The test overrides of the configuration: fast jobs, few connections, a short drain.
fn test_env() -> [(String, String); 5] {
    [
        ("ACCORD_JOBS_DEADLINE_INTERVAL_MS", "100"),
        ("ACCORD_JOBS_RETENTION_INTERVAL_MS", "500"),
        ("ACCORD_JOBS_REGISTRY_SYNC_INTERVAL_MS", "100"),
        ("ACCORD_STORE_MAX_CONNECTIONS", "4"),
        ("ACCORD_SHUTDOWN_GRACE_MS", "3000"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
}

/// Loads the configuration, opens the store, replays the admin changes and serves on
/// `listener`, as `accord serve` does.
#[allow(clippy::too_many_arguments)]
async fn start(
    backend: Backend,
    config_path: &Path,
    listener: TcpListener,
    pki: DevPki,
    dir: tempfile::TempDir,
    clock: TestClock,
    protocols: Vec<Protocol>,
    db: Database,
) -> Result<App> {
    let port = listener.local_addr()?.port();
    let config =
        ServerConfig::load_with_env(config_path, test_env()).map_err(|e| anyhow!("{e}"))?;
    let store = accord_server::open_store(&config)
        .await
        .context("opening the store")?;
    let state = AppState::new(config, store.clone(), clock.clock())?;
    state.replay_admin_changes().await?;
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(accord_server::run(state.clone(), listener, async {
        let _ = stopped.await;
    }));
    Ok(App {
        backend,
        addr: format!("localhost:{port}"),
        pki,
        dir,
        state,
        clock,
        protocols,
        store,
        channels: Mutex::new(HashMap::new()),
        stop: Some(stop),
        server: Some(server),
        _db: db,
    })
}

impl App {
    /// A second broker replica: the same configuration, PKI, protocols and clock, and the
    /// same database (SQLite file or PostgreSQL database), with its own store connections,
    /// registry and listener. Stop it before this app, which owns the database.
    pub async fn spawn_replica(&self) -> Result<App> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let db = Database {
            url: self._db.url.clone(),
            pg_name: None,
        };
        start(
            self.backend,
            &self.pki.dir.join("accord.toml"),
            listener,
            self.pki.clone(),
            tempfile::tempdir()?,
            self.clock.clone(),
            self.protocols.clone(),
            db,
        )
        .await
    }

    /// Stops the server (draining), then closes the store.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(20), server)
                .await
                .context("the server did not stop within 20 s")?
                .context("server task")??;
        }
        self.store.close().await;
        Ok(())
    }

    /// The store the server uses (to look behind the API in assertions).
    pub fn store(&self) -> &accord_store::Store {
        &self.store
    }

    fn agency_files(&self, agency: &str) -> Result<&dev::DevAgencyFiles> {
        self.pki
            .agency(agency)
            .ok_or_else(|| anyhow!("no credentials for agency {agency}"))
    }

    /// A new mutual-TLS channel with `agency`'s client certificate.
    pub async fn connect(&self, agency: &str) -> Result<Channel> {
        let a = self.agency_files(agency)?;
        let config = tls::client_config(
            &std::fs::read(&self.pki.ca_cert)?,
            Some((
                &std::fs::read(&a.client_cert)?,
                &std::fs::read(&a.client_key)?,
            )),
        )?;
        Ok(tls::connect(&self.addr, "localhost", Arc::new(config)).await?)
    }

    /// The agency's channel, opened once per app.
    pub async fn channel(&self, agency: &str) -> Result<Channel> {
        let mut channels = self.channels.lock().await;
        if let Some(c) = channels.get(agency) {
            return Ok(c.clone());
        }
        let c = self.connect(agency).await?;
        channels.insert(agency.to_owned(), c.clone());
        Ok(c)
    }

    /// Valid claims for a person of `agency` at the test clock's time, for an hour.
    pub fn claims(&self, agency: &str, subject: &str, roles: &[Role]) -> Result<TokenClaims> {
        let a = self.agency_files(agency)?;
        let now = self.clock.now().unix_timestamp();
        Ok(TokenClaims {
            iss: a.token_issuer.clone(),
            sub: subject.to_owned(),
            aud: AUDIENCE.into(),
            exp: now + 3600,
            nbf: Some(now - 5),
            iat: Some(now - 5),
            agency: agency.to_owned(),
            roles: roles.iter().map(|r| r.as_str().to_owned()).collect(),
            name: Some(format!("Test user {subject}")),
        })
    }

    /// Signs claims with `signer`'s token key (normally the claims' own agency).
    pub fn sign(&self, signer: &str, claims: &TokenClaims) -> Result<String> {
        let a = self.agency_files(signer)?;
        Ok(dev::mint_token(
            &std::fs::read_to_string(&a.jwt_private_key)?,
            claims,
        )?)
    }

    /// A valid token for a person of `agency`.
    pub fn token(&self, agency: &str, subject: &str, roles: &[Role]) -> Result<String> {
        self.sign(agency, &self.claims(agency, subject, roles)?)
    }

    /// The token key of `agency` as PEM (public), e.g. for a key-confusion attempt.
    pub fn token_public_key(&self, agency: &str) -> Result<Vec<u8>> {
        Ok(std::fs::read(&self.agency_files(agency)?.jwt_public_key)?)
    }

    /// Clients for person `subject` of `agency` holding `roles`.
    pub async fn clients_as(&self, agency: &str, subject: &str, roles: &[Role]) -> Result<Clients> {
        let token = self.token(agency, subject, roles)?;
        Clients::new(agency, subject, self.channel(agency).await?, &token)
    }

    /// Clients for `<agency>-<role>` holding `role` only.
    pub async fn clients(&self, agency: &str, role: Role) -> Result<Clients> {
        self.clients_as(agency, &format!("{agency}-{role}"), &[role])
            .await
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A request for a s47 enquiry from `requesting` to `holding` about the child with local case
/// id `child`, made by `practitioner`, that the Sandwell check sends to approval: three
/// categories the purpose allows, statutory duty, significant harm.
pub fn s47_request(
    requesting: &str,
    holding: &str,
    practitioner: &str,
    child: &str,
    idempotency_key: &str,
) -> pb::InformationRequest {
    use pb::*;
    InformationRequest {
        protocol_id: SANDWELL.into(),
        protocol_version: "1.0".into(),
        requesting_agency_id: requesting.into(),
        practitioner: Some(Practitioner {
            subject: practitioner.into(),
            name: "Pat Officer".into(),
            job_title: "Detective Constable, child abuse investigation".into(),
            contact: "pat.officer@example.org".into(),
        }),
        holding_agency_id: holding.into(),
        child: Some(Subject {
            identifiers: vec![SubjectIdentifier {
                scheme: "local_case_id".into(),
                value: child.into(),
            }],
            name: "Test Child".into(),
            date_of_birth: "2015-04-01".into(),
            identifiable: true,
            relationship: String::new(),
        }),
        other_people: Vec::new(),
        purpose_id: "s47-enquiry".into(),
        necessity_justification:
            "Strategy discussion needs the child's school and social care history".into(),
        expected_outcome: "Decide whether the child needs protection".into(),
        level_of_need: LevelOfNeed::SignificantHarm as i32,
        risk_summary: "Unexplained injuries reported by school".into(),
        lawful_basis: Some(LawfulBasisClaim {
            article6: LawfulBasis::PublicTask as i32,
            special_condition: SpecialCategoryCondition::SafeguardingChildren as i32,
            gateways: vec![StatutoryGateway::Ca1989S47 as i32],
        }),
        consent: Some(Consent {
            status: ConsentStatus::NotRequired as i32,
            not_required_reason: NotRequiredReason::StatutoryDuty as i32,
            ..Default::default()
        }),
        categories: vec![
            CategoryRequest {
                category_id: "education".into(),
                reason: "Attendance and concerns raised by school".into(),
            },
            CategoryRequest {
                category_id: "social-care-involvement".into(),
                reason: "Earlier referrals and plans".into(),
            },
            CategoryRequest {
                category_id: "agency-involvement".into(),
                reason: "Who else works with the family".into(),
            },
        ],
        records_from: String::new(),
        records_to: String::new(),
        anonymised_would_suffice: false,
        urgency: Urgency::Routine as i32,
        needed_by: None,
        onward_disclosure: Some(OnwardDisclosure::default()),
        subject_notification: Some(SubjectNotification {
            will_inform: true,
            reason_not_informing: String::new(),
        }),
        idempotency_key: idempotency_key.into(),
    }
}

/// The code of a call's result (`Code::Ok` for success).
pub fn code_of<T>(r: &Result<T, Status>) -> Code {
    match r {
        Ok(_) => Code::Ok,
        Err(s) => s.code(),
    }
}

/// The status of a call that must fail, or an error naming what it returned.
pub fn expect_err<T: std::fmt::Debug>(r: Result<T, Status>) -> Result<Status> {
    match r {
        Ok(v) => bail!("the call succeeded: {v:?}"),
        Err(s) => Ok(s),
    }
}

/// The field paths of a status's `google.rpc.BadRequest` detail.
pub fn violated_fields(s: &Status) -> Vec<String> {
    s.get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default()
}

/// Reads a non-following inbox stream to its end.
pub async fn read_inbox(c: &mut Clients, after_cursor: &str) -> Result<Vec<pb::InboxEvent>> {
    let mut stream = c
        .inbox
        .watch_inbox(pb::WatchInboxRequest {
            after_cursor: after_cursor.into(),
            follow: false,
        })
        .await?
        .into_inner();
    let mut out = Vec::new();
    while let Some(m) = stream.message().await? {
        if let Some(e) = m.event {
            out.push(e);
        }
    }
    Ok(out)
}

/// Starts the broker like [`spawn_app`], with `extra` protocol files loaded after the Sandwell
/// and B&NES ones (e.g. a second protocol the same agencies sign, to test per-protocol
/// suspension).
pub async fn spawn_app_with_protocols(backend: Backend, extra: &[PathBuf]) -> Result<App> {
    let mut files = vec![
        workspace_file("deploy/protocols/sandwell-partnership.toml"),
        workspace_file("deploy/protocols/banes-guidance.toml"),
    ];
    files.extend(extra.iter().cloned());
    let mut protocols = Vec::new();
    for f in &files {
        protocols.push(
            accord_domain::load_protocol_file(f).map_err(|e| anyhow!("{}: {e}", f.display()))?,
        );
    }
    let dir = tempfile::tempdir()?;
    let pki = dev::generate(
        dir.path(),
        &DevSpec::from_protocols(&protocols, "accord-e2e"),
    )?;
    let db = Database::create(backend, dir.path()).await?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let config_path = pki.write_config(&files, &format!("127.0.0.1:{port}"), &db.url)?;
    start(
        backend,
        &config_path,
        listener,
        pki,
        dir,
        TestClock::new(),
        protocols,
        db,
    )
    .await
}
