//! Connecting to the broker as an agency system: mutual TLS with the agency's certificate and
//! a JWT for the person acting, from explicit files and a token or from a development setup
//! (`--dev DIR --agency X --role R`). Also how failed calls are reported.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use accord_proto::v1::approval_service_client::ApprovalServiceClient;
use accord_proto::v1::audit_service_client::AuditServiceClient;
use accord_proto::v1::exchange_service_client::ExchangeServiceClient;
use accord_proto::v1::inbox_service_client::InboxServiceClient;
use accord_proto::v1::registry_service_client::RegistryServiceClient;
use anyhow::{anyhow, bail, Context as _};
use base64::Engine as _;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::dev_cmd::{self, DevDir};

/// Where the broker listens unless told otherwise.
pub const DEFAULT_SERVER: &str = "https://127.0.0.1:7443";

/// Largest message the client accepts (the broker's own limit is lower by default).
const MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// How to reach the broker and who is calling. Shared by every client command.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Connection")]
pub struct ConnectArgs {
    /// The broker's address [default: https://127.0.0.1:7443, or the `listen` address of the
    /// --dev setup].
    #[arg(long, env = "ACCORD_SERVER", global = true)]
    pub server: Option<String>,
    /// PEM file of the CA that issued the broker's certificate.
    #[arg(long, env = "ACCORD_CA", global = true)]
    pub ca: Option<PathBuf>,
    /// PEM file of the agency system's client certificate.
    #[arg(long, env = "ACCORD_CERT", global = true)]
    pub cert: Option<PathBuf>,
    /// PEM file of the client certificate's private key.
    #[arg(long, env = "ACCORD_KEY", global = true)]
    pub key: Option<PathBuf>,
    /// The person's JWT, issued by the agency (or `@FILE` to read it from a file).
    #[arg(long, env = "ACCORD_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// A development setup (`accord dev init`): take the CA and the agency's certificate from
    /// it and mint a token. Needs --agency.
    #[arg(long, env = "ACCORD_DEV", global = true)]
    pub dev: Option<PathBuf>,
    /// With --dev: the agency to act for.
    #[arg(long, env = "ACCORD_AGENCY", global = true)]
    pub agency: Option<String>,
    /// With --dev: the role(s) of the person (default depends on the command: practitioner,
    /// ig_lead, auditor or admin).
    #[arg(long, env = "ACCORD_ROLE", value_delimiter = ',', global = true)]
    pub role: Vec<String>,
    /// With --dev: the person's user id (default dev-<role>).
    #[arg(long, env = "ACCORD_SUB", global = true)]
    pub sub: Option<String>,
    /// With --dev: the person's display name.
    #[arg(long = "user-name", global = true)]
    pub user_name: Option<String>,
}

/// Connection options and the output format, shared by every client command group.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientOpts {
    #[command(flatten)]
    pub conn: ConnectArgs,
    /// Print JSON (the API's messages in the proto3 JSON mapping) instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Who the token says is calling (read from the token without verifying it: the broker
/// verifies).
#[derive(Debug, Clone, Default)]
pub struct Identity {
    pub agency: String,
    pub sub: String,
    pub name: Option<String>,
}

impl Identity {
    /// Decodes the claims of a JWT.
    pub fn from_token(token: &str) -> Identity {
        let claims = token
            .split('.')
            .nth(1)
            .and_then(|p| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(p.trim_end_matches('='))
                    .ok()
            })
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .unwrap_or_default();
        let s = |k: &str| claims.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        Identity {
            agency: s("agency").unwrap_or_default(),
            sub: s("sub").unwrap_or_default(),
            name: s("name"),
        }
    }
}

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
pub struct Bearer(MetadataValue<Ascii>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

pub type Svc = InterceptedService<Channel, Bearer>;

/// One person of one agency, connected to the broker.
#[derive(Clone)]
pub struct Client {
    pub identity: Identity,
    pub exchange: ExchangeServiceClient<Svc>,
    pub approvals: ApprovalServiceClient<Svc>,
    pub audit: AuditServiceClient<Svc>,
    pub registry: RegistryServiceClient<Svc>,
    pub inbox: InboxServiceClient<Svc>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

/// The files and token a connection uses.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// `https://host:port`.
    pub server: String,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub token: String,
}

impl ConnectArgs {
    /// Resolves the credentials; `default_role` applies with --dev when no --role is given.
    pub fn credentials(&self, default_role: &str) -> anyhow::Result<Credentials> {
        let token_arg = match &self.token {
            Some(t) if t.starts_with('@') => {
                let p = Path::new(&t[1..]);
                Some(
                    std::fs::read_to_string(p)
                        .with_context(|| format!("--token: cannot read {}", p.display()))?
                        .trim()
                        .to_owned(),
                )
            }
            Some(t) => Some(t.trim().to_owned()),
            None => None,
        };
        if let Some(dir) = &self.dev {
            let dev = DevDir::open(dir)?;
            let Some(agency) = &self.agency else {
                bail!(
                    "--dev needs --agency (or ACCORD_AGENCY): one of {}",
                    dev.agencies().join(", ")
                );
            };
            let (cert, key) = dev.client_files(agency)?;
            let token = match token_arg {
                Some(t) => t,
                None => {
                    let roles = if self.role.is_empty() {
                        vec![default_role.to_owned()]
                    } else {
                        dev_cmd::parse_roles(&self.role)?
                    };
                    let sub = self
                        .sub
                        .clone()
                        .unwrap_or_else(|| dev_cmd::default_sub(&roles));
                    dev.mint(
                        agency,
                        &roles,
                        &sub,
                        self.user_name.as_deref(),
                        time::Duration::hours(1),
                    )?
                }
            };
            let server = self.server.clone().unwrap_or_else(|| {
                format!("https://{}", dev.listen.replace("0.0.0.0", "127.0.0.1"))
            });
            return Ok(Credentials {
                server,
                ca: self.ca.clone().unwrap_or_else(|| dev.ca_cert()),
                cert: self.cert.clone().unwrap_or(cert),
                key: self.key.clone().unwrap_or(key),
                token,
            });
        }
        let mut missing = Vec::new();
        if self.ca.is_none() {
            missing.push("--ca (ACCORD_CA)");
        }
        if self.cert.is_none() {
            missing.push("--cert (ACCORD_CERT)");
        }
        if self.key.is_none() {
            missing.push("--key (ACCORD_KEY)");
        }
        if token_arg.is_none() {
            missing.push("--token (ACCORD_TOKEN)");
        }
        match (&self.ca, &self.cert, &self.key, token_arg) {
            (Some(ca), Some(cert), Some(key), Some(token)) => Ok(Credentials {
                server: self.server.clone().unwrap_or_else(|| DEFAULT_SERVER.to_owned()),
                ca: ca.clone(),
                cert: cert.clone(),
                key: key.clone(),
                token,
            }),
            _ => bail!(
                "missing {}; or use a development setup: --dev DIR --agency ID [--role ROLE] (see `accord dev init`)",
                missing.join(", ")
            ),
        }
    }

    /// Connects with the resolved credentials.
    pub async fn connect(&self, default_role: &str) -> anyhow::Result<Client> {
        let creds = self.credentials(default_role)?;
        Client::connect(&creds).await
    }
}

/// `host:port` and the TLS server name from `https://host:port`, `host:port` or `host`.
pub fn parse_server(server: &str) -> anyhow::Result<(String, String)> {
    let s = server.trim();
    let rest = if let Some(r) = s.strip_prefix("https://") {
        r
    } else if s.starts_with("http://") {
        bail!("--server {s:?}: the broker only accepts TLS; use https://");
    } else if s.contains("://") {
        bail!("--server {s:?}: use https://HOST:PORT");
    } else {
        s
    };
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') {
        bail!("--server {s:?}: use https://HOST:PORT, for example {DEFAULT_SERVER}");
    }
    // [::1]:7443, host:7443, host
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| anyhow!("--server {s:?}: unclosed ["))?;
        let port = after.strip_prefix(':').unwrap_or("7443");
        (h.to_owned(), port.to_owned())
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.to_owned()),
            None => (rest.to_owned(), "7443".to_owned()),
        }
    };
    let port: u16 = port
        .parse()
        .map_err(|_| anyhow!("--server {s:?}: {port:?} is not a port number"))?;
    let addr = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    Ok((addr, host))
}

/// A mutual TLS channel to the broker, presenting `cert` and trusting `ca`.
pub async fn channel(server: &str, ca: &Path, cert: &Path, key: &Path) -> anyhow::Result<Channel> {
    let (addr, host) = parse_server(server)?;
    let ca = read(ca, "CA certificate")?;
    let cert = read(cert, "client certificate")?;
    let key = read(key, "client key")?;
    let tls = accord_server::tls::client_config(&ca, Some((&cert, &key)))
        .map_err(|e| anyhow!("TLS material: {e}"))?;
    accord_server::tls::connect(&addr, &host, Arc::new(tls))
        .await
        .map_err(|e| {
            anyhow!(
                "cannot connect to the broker at {server}: {}. Is it running (`accord serve`), and does --ca name the CA that issued its certificate?",
                error_chain(&e)
            )
        })
}

fn read(p: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(p).with_context(|| format!("cannot read the {what} {}", p.display()))
}

impl Client {
    /// Connects over mutual TLS and attaches the token to every call.
    pub async fn connect(creds: &Credentials) -> anyhow::Result<Client> {
        let channel = channel(&creds.server, &creds.ca, &creds.cert, &creds.key).await?;
        Self::from_channel(channel, &creds.token)
    }

    /// A client over an existing channel (the demo shares one channel per agency).
    pub fn from_channel(channel: Channel, token: &str) -> anyhow::Result<Client> {
        let value: MetadataValue<Ascii> = format!("Bearer {token}")
            .parse()
            .map_err(|_| anyhow!("the token holds characters that cannot be sent"))?;
        let bearer = Bearer(value);
        let svc = || InterceptedService::new(channel.clone(), bearer.clone());
        Ok(Client {
            identity: Identity::from_token(token),
            exchange: ExchangeServiceClient::new(svc())
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE),
            approvals: ApprovalServiceClient::new(svc())
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE),
            audit: AuditServiceClient::new(svc())
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE),
            registry: RegistryServiceClient::new(svc())
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE),
            inbox: InboxServiceClient::new(svc())
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE),
        })
    }
}

/// Every message in an error's source chain, joined.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = s.source();
    }
    parts.join(": ")
}

/// A call the broker answered with an error.
#[derive(Debug)]
pub struct CallError {
    pub rpc: &'static str,
    pub status: Status,
}

impl CallError {
    /// One line: the code, and the field violations or else the message.
    pub fn brief(&self) -> String {
        use tonic_types::StatusExt as _;
        let detail = match self.status.get_details_bad_request() {
            Some(bad) if !bad.field_violations.is_empty() => bad
                .field_violations
                .iter()
                .map(|v| format!("{}: {}", v.field, v.description))
                .collect::<Vec<_>>()
                .join("; "),
            _ => self.status.message().to_owned(),
        };
        format!("{}: {detail}", code_name(self.status.code()))
    }
}

/// The gRPC name of a status code.
pub fn code_name(c: Code) -> &'static str {
    match c {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

fn hint(c: Code) -> Option<&'static str> {
    Some(match c {
        Code::Unimplemented => "this broker does not implement the call (is it an older build?)",
        Code::Unauthenticated => {
            "check the client certificate (does it belong to a signatory?) and the token (expired? issued by the certificate's agency, for audience `accord`?)"
        }
        Code::PermissionDenied => {
            "the caller's role or agency may not do this (docs/security.md has the matrix); with --dev, choose another --role or --agency"
        }
        Code::NotFound => "no such exchange, or the caller's agency is not a party to it",
        Code::FailedPrecondition => "the exchange is not in a state that allows this; `accord request show ID` shows its state",
        Code::Aborted => "the exchange changed since it was read; read it again and retry",
        Code::Unavailable => "the broker cannot be reached or is shutting down; retry shortly",
        Code::InvalidArgument => "fix the fields named above and try again",
        _ => return None,
    })
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use tonic_types::StatusExt as _;
        write!(
            f,
            "{} failed: {}: {}",
            self.rpc,
            code_name(self.status.code()),
            self.status.message()
        )?;
        if let Some(bad) = self.status.get_details_bad_request() {
            for v in &bad.field_violations {
                write!(f, "\n  {}: {}", v.field, v.description)?;
            }
        }
        if let Some(h) = hint(self.status.code()) {
            write!(f, "\n  hint: {h}")?;
        }
        if let Some(id) = self
            .status
            .metadata()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
        {
            write!(f, "\n  request id: {id}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CallError {}

/// Maps a tonic result to a [`CallError`] naming the RPC.
pub trait CallExt<T> {
    fn rpc(self, rpc: &'static str) -> Result<T, CallError>;
}

impl<T> CallExt<T> for Result<tonic::Response<T>, Status> {
    fn rpc(self, rpc: &'static str) -> Result<T, CallError> {
        self.map(tonic::Response::into_inner)
            .map_err(|status| CallError { rpc, status })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses() {
        let ok = |s: &str| parse_server(s).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            ok("https://127.0.0.1:7443"),
            ("127.0.0.1:7443".into(), "127.0.0.1".into())
        );
        assert_eq!(
            ok("localhost:9000"),
            ("localhost:9000".into(), "localhost".into())
        );
        assert_eq!(
            ok("https://broker.example/"),
            ("broker.example:7443".into(), "broker.example".into())
        );
        assert_eq!(
            ok("https://[::1]:7443"),
            ("[::1]:7443".into(), "::1".into())
        );
        assert!(parse_server("http://127.0.0.1:7443").is_err());
        assert!(parse_server("https://h:port").is_err());
    }

    #[test]
    fn identity_from_token() {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let token = format!(
            "{}.{}.sig",
            b64("{}"),
            b64(r#"{"sub":"jo","agency":"police","roles":["practitioner"],"name":"Jo"}"#)
        );
        let id = Identity::from_token(&token);
        assert_eq!(id.sub, "jo");
        assert_eq!(id.agency, "police");
        assert_eq!(id.name.as_deref(), Some("Jo"));
    }
}
