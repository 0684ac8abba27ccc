//! Mutual TLS: the rustls server configuration (TLS 1.3 only, client certificates required and
//! verified against the partnership CA, ALPN `h2`), the accept loop that hands tonic one
//! verified connection at a time, the connect info handlers read, and the peer certificate's
//! identity (SAN URIs and SHA-256 fingerprint).
//!
//! Each accepted TCP connection is handshaken in its own task under a timeout, so a client
//! that connects and says nothing holds one task for at most the timeout and never delays
//! anyone else. Failed handshakes are logged and dropped; tonic only ever sees connections
//! whose client certificate chains to the configured CA.
//!
//! Mapping the certificate to a signatory happens per call in [`crate::auth`], against the
//! current registry, because an administrator may suspend an agency while its connection is
//! open.
//!
//! The client half ([`client_config`], [`connect`]) is what the CLI and the tests use.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;
use tokio_rustls::server::TlsStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_stream::Stream;
use tonic::transport::server::Connected;
use tonic::transport::{Channel, Endpoint, Uri};
use tracing::{debug, warn};

/// Most TLS handshakes in progress at once; further connections are dropped until some
/// finish. Bounds what a flood of silent clients can hold.
pub const MAX_PENDING_HANDSHAKES: usize = 1024;

/// A problem with TLS material or configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(pub String);

fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate in a PEM document, in order.
pub fn parse_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError(format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError("no CERTIFICATE found in the PEM file".into()));
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) in a PEM document.
pub fn parse_private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem)
        .map_err(|e| TlsError(format!("no usable PRIVATE KEY in the PEM file: {e}")))
}

/// The broker's TLS server configuration: TLS 1.3 only; a client certificate is required and
/// must chain to one of `client_cas`; ALPN offers `h2` only.
pub fn server_config(
    client_cas: &[CertificateDer<'static>],
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<rustls::ServerConfig, TlsError> {
    let provider = crypto_provider();
    let mut roots = RootCertStore::empty();
    for (i, ca) in client_cas.iter().enumerate() {
        roots
            .add(ca.clone())
            .map_err(|e| TlsError(format!("CA certificate {} is not usable: {e}", i + 1)))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| TlsError(format!("cannot build the client certificate verifier: {e}")))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TlsError(format!("TLS 1.3 is not available: {e}")))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| {
            TlsError(format!(
                "server certificate and key do not form a usable pair: {e}"
            ))
        })?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// What a client certificate says about who holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertIdentity {
    /// Every URI in the subject alternative names, e.g. `spiffe://scsp/agency/west-mids-police`.
    pub san_uris: Vec<String>,
    /// SHA-256 of the certificate's DER encoding, lowercase hex without separators.
    pub fingerprint_sha256: String,
}

/// Reads the identity of a DER certificate.
pub fn cert_identity(der: &[u8]) -> Result<CertIdentity, TlsError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| TlsError(format!("certificate cannot be parsed: {e}")))?;
    let mut san_uris = Vec::new();
    let san = cert
        .subject_alternative_name()
        .map_err(|e| TlsError(format!("subject alternative names cannot be parsed: {e}")))?;
    if let Some(san) = san {
        for name in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::URI(uri) = name {
                san_uris.push((*uri).to_owned());
            }
        }
    }
    Ok(CertIdentity {
        san_uris,
        fingerprint_sha256: fingerprint(der),
    })
}

/// Lowercase hex SHA-256 of DER bytes (the form protocol files pin).
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// What the server knows about the other end of a connection. Handlers read it with
/// `request.extensions().get::<PeerInfo>()`.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    pub remote_addr: SocketAddr,
    pub local_addr: Option<SocketAddr>,
    /// The verified client certificate chain (DER), leaf first.
    pub certificates: Arc<Vec<CertificateDer<'static>>>,
    /// Identity read from the leaf certificate; `None` if it could not be parsed.
    pub identity: Option<CertIdentity>,
}

impl PeerInfo {
    fn from_stream(stream: &TlsStream<TcpStream>, remote_addr: SocketAddr) -> PeerInfo {
        let (tcp, session) = stream.get_ref();
        let certificates: Vec<CertificateDer<'static>> = session
            .peer_certificates()
            .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
            .unwrap_or_default();
        let identity = match certificates.first().map(|leaf| cert_identity(leaf)) {
            Some(Ok(id)) => Some(id),
            Some(Err(e)) => {
                warn!(peer = %remote_addr, error = %e, "client certificate identity unreadable");
                None
            }
            None => None,
        };
        PeerInfo {
            remote_addr,
            local_addr: tcp.local_addr().ok(),
            certificates: Arc::new(certificates),
            identity,
        }
    }
}

/// One accepted, verified TLS connection.
pub struct TlsConnection {
    stream: TlsStream<TcpStream>,
    info: PeerInfo,
}

impl TlsConnection {
    pub fn peer(&self) -> &PeerInfo {
        &self.info
    }
}

impl Connected for TlsConnection {
    type ConnectInfo = PeerInfo;

    fn connect_info(&self) -> PeerInfo {
        self.info.clone()
    }
}

impl AsyncRead for TlsConnection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConnection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// The stream of verified connections for `Server::serve_with_incoming_shutdown`. Dropping it
/// (tonic does when shutdown begins) stops the accept loop and closes the listening socket.
pub struct Incoming {
    rx: mpsc::Receiver<TlsConnection>,
    accept_loop: JoinHandle<()>,
}

impl Drop for Incoming {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

impl Stream for Incoming {
    type Item = Result<TlsConnection, io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx).map(|c| c.map(Ok))
    }
}

/// Accepts TCP connections on `listener` and yields those whose TLS handshake (client
/// certificate included) completes within `handshake_timeout`.
pub fn incoming(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    handshake_timeout: Duration,
) -> Incoming {
    let (tx, rx) = mpsc::channel(64);
    let accept_loop = tokio::spawn(accept_loop(listener, acceptor, handshake_timeout, tx));
    Incoming { rx, accept_loop }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    handshake_timeout: Duration,
    tx: mpsc::Sender<TlsConnection>,
) {
    let pending = Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES));
    loop {
        let accepted = tokio::select! {
            _ = tx.closed() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Usually out of file descriptors: back off briefly instead of spinning.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = pending.clone().try_acquire_owned() else {
            warn!(peer = %peer, "too many tls handshakes in progress; connection dropped");
            continue;
        };
        if let Err(e) = tcp.set_nodelay(true) {
            debug!(peer = %peer, error = %e, "cannot set TCP_NODELAY");
        }
        let acceptor = acceptor.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => {
                    let info = PeerInfo::from_stream(&stream, peer);
                    debug!(peer = %peer, "tls handshake complete");
                    // The receiver is gone only when the server is shutting down.
                    let _ = tx.send(TlsConnection { stream, info }).await;
                }
                Ok(Err(e)) => warn!(peer = %peer, error = %e, "tls handshake failed"),
                Err(_) => warn!(peer = %peer, "tls handshake timed out"),
            }
        });
    }
}

/// A client TLS configuration for talking to the broker: trusts `ca_pem`, offers ALPN `h2`,
/// TLS 1.3 only, and presents `identity` (certificate chain PEM, private key PEM) if given.
pub fn client_config(
    ca_pem: &[u8],
    identity: Option<(&[u8], &[u8])>,
) -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = RootCertStore::empty();
    for ca in parse_certs(ca_pem)? {
        roots
            .add(ca)
            .map_err(|e| TlsError(format!("CA certificate is not usable: {e}")))?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TlsError(format!("TLS 1.3 is not available: {e}")))?
        .with_root_certificates(roots);
    let mut config = match identity {
        Some((cert_pem, key_pem)) => builder
            .with_client_auth_cert(parse_certs(cert_pem)?, parse_private_key(key_pem)?)
            .map_err(|e| {
                TlsError(format!(
                    "client certificate and key do not form a usable pair: {e}"
                ))
            })?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// Connects a tonic channel to the broker at `addr` (`host:port`) over mutual TLS, checking
/// the server certificate against `server_name`.
pub async fn connect(
    addr: &str,
    server_name: &str,
    config: Arc<rustls::ClientConfig>,
) -> Result<Channel, tonic::transport::Error> {
    let connector = BrokerConnector {
        tls: TlsConnector::from(config),
        server_name: ServerName::try_from(server_name.to_owned()).ok(),
    };
    // The scheme is "http" on purpose: TLS is done by the connector, and tonic must not try
    // its own (it refuses https without one of its TLS features).
    Endpoint::from_shared(format!("http://{addr}"))?
        .connect_timeout(Duration::from_secs(10))
        .connect_with_connector(connector)
        .await
}

#[derive(Clone)]
struct BrokerConnector {
    tls: TlsConnector,
    server_name: Option<ServerName<'static>>,
}

type ConnectFuture = Pin<
    Box<
        dyn Future<Output = io::Result<TokioIo<tokio_rustls::client::TlsStream<TcpStream>>>> + Send,
    >,
>;

impl tower::Service<Uri> for BrokerConnector {
    type Response = TokioIo<tokio_rustls::client::TlsStream<TcpStream>>;
    type Error = io::Error;
    type Future = ConnectFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> ConnectFuture {
        let tls = self.tls.clone();
        let server_name = self.server_name.clone();
        Box::pin(async move {
            let host = uri
                .host()
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "address has no host"))?
                .to_owned();
            let port = uri.port_u16().unwrap_or(443);
            let server_name = match server_name {
                Some(n) => n,
                None => ServerName::try_from(host.clone())
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?,
            };
            let tcp = TcpStream::connect((host.as_str(), port)).await?;
            tcp.set_nodelay(true)?;
            let stream = tls.connect(server_name, tcp).await?;
            Ok(TokioIo::new(stream))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_of_a_dev_client_certificate() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let spec = accord_dev::DevSpec::new("scsp", &["west-mids-police"]);
        let pki = accord_dev::generate(dir.path(), &spec).unwrap_or_else(|e| panic!("{e}"));
        let agency = &pki.agencies[0];
        let pem = std::fs::read(&agency.client_cert).unwrap_or_else(|e| panic!("{e}"));
        let certs = parse_certs(&pem).unwrap_or_else(|e| panic!("{e}"));
        let id = cert_identity(&certs[0]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            id.san_uris,
            vec!["spiffe://scsp/agency/west-mids-police".to_owned()]
        );
        assert_eq!(id.fingerprint_sha256.len(), 64);
        assert_eq!(id.fingerprint_sha256, fingerprint(&certs[0]));
    }

    #[test]
    fn bad_pem_is_reported() {
        assert!(parse_certs(b"hello").is_err());
        assert!(
            parse_private_key(b"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n").is_err()
        );
    }
}
