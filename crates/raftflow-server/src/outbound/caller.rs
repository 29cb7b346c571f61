//! One outbound HTTP/1.1 request, made the safe way: the destination
//! checked before resolution (scheme, host) and after it, on each address
//! actually connected to (policy.rs); TLS verified against the Mozilla
//! roots (webpki-roots, so an image `FROM scratch` needs no CA bundle);
//! redirects not followed; the whole call under one deadline; the response
//! body read up to a limit.
//!
//! ```text
//!  check_url ──▶ resolve ──▶ check_addr ──▶ TCP ──▶ (TLS) ──▶ HTTP/1.1 ──▶ body ≤ limit
//! ```

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::policy::{Denied, Destinations};

/// A request as the caller makes it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: http::Method,
    pub url: http::Uri,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub timeout_ms: u64,
    pub max_response_bytes: usize,
    /// A client certificate to present when the endpoint asks (a connection's).
    pub client_auth: Option<Arc<ClientAuth>>,
}

/// A TLS client identity: the chain, leaf first, and its key.
pub struct ClientAuth {
    pub chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    pub key: rustls::pki_types::PrivateKeyDer<'static>,
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClientAuth({} certificates, key …)", self.chain.len())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Why a call did not bring back a response. Every variant but `Denied`
/// means the endpoint may or may not have acted on the request.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("destination refused: {0}")]
    Denied(#[from] Denied),
    #[error("cannot resolve {host}: {reason}")]
    Resolve { host: String, reason: String },
    #[error("cannot connect to {host}: {reason}")]
    Connect { host: String, reason: String },
    #[error("TLS with {host}: {reason}")]
    Tls { host: String, reason: String },
    #[error("HTTP: {0}")]
    Http(String),
    #[error("no response within {0} ms")]
    Timeout(u64),
    #[error("the response body is larger than {0} bytes")]
    TooLarge(usize),
}

/// Makes requests under one node's destination rules.
#[derive(Clone)]
pub struct Caller {
    destinations: Arc<Destinations>,
    roots: Arc<rustls::RootCertStore>,
    tls: tokio_rustls::TlsConnector,
}

fn tls_builder() -> rustls::ConfigBuilder<rustls::ClientConfig, rustls::WantsVerifier> {
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports the default versions")
}

impl Caller {
    /// A caller trusting the Mozilla roots.
    pub fn new(destinations: Destinations) -> Self {
        let roots =
            rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        Self::with_roots(destinations, roots)
    }

    /// A caller trusting `roots` (`OutboundConfig::roots`).
    pub fn with_roots(destinations: Destinations, roots: rustls::RootCertStore) -> Self {
        let roots = Arc::new(roots);
        let config = tls_builder()
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        Self {
            destinations: Arc::new(destinations),
            roots,
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
        }
    }

    /// The rules this caller applies (to tell an allowed destination apart).
    pub fn destinations(&self) -> &Destinations {
        &self.destinations
    }

    /// The TLS connector for `request`: the shared one, or one that
    /// presents the request's client certificate.
    fn connector(
        &self,
        request: &Request,
        host: &str,
    ) -> Result<tokio_rustls::TlsConnector, CallError> {
        let Some(auth) = &request.client_auth else {
            return Ok(self.tls.clone());
        };
        let config = tls_builder()
            .with_root_certificates(self.roots.clone())
            .with_client_auth_cert(auth.chain.clone(), auth.key.clone_key())
            .map_err(|e| CallError::Tls {
                host: host.to_string(),
                reason: format!("the connection's client certificate: {e}"),
            })?;
        Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
    }

    /// Makes `request`, within its deadline.
    pub async fn call(&self, request: &Request) -> Result<Response, CallError> {
        let deadline = Duration::from_millis(request.timeout_ms);
        tokio::time::timeout(deadline, self.call_now(request))
            .await
            .map_err(|_| CallError::Timeout(request.timeout_ms))?
    }

    async fn call_now(&self, request: &Request) -> Result<Response, CallError> {
        let (https, host, port) = self.destinations.check_url(&request.url)?;
        let tcp = self.connect(&host, port).await?;
        if !https && request.client_auth.is_some() {
            return Err(CallError::Tls {
                host,
                reason: "a client certificate is presented over https only".into(),
            });
        }
        if !https {
            return exchange(tcp, &host, request).await;
        }
        let connector = self.connector(request, &host)?;
        let name =
            rustls::pki_types::ServerName::try_from(host.clone()).map_err(|e| CallError::Tls {
                host: host.clone(),
                reason: e.to_string(),
            })?;
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| CallError::Tls {
                host: host.clone(),
                reason: e.to_string(),
            })?;
        exchange(tls, &host, request).await
    }

    /// Resolves `host` and connects to the first address the rules allow;
    /// refused only when every address is.
    async fn connect(&self, host: &str, port: u16) -> Result<TcpStream, CallError> {
        let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| CallError::Resolve {
                    host: host.to_string(),
                    reason: e.to_string(),
                })?
                .collect(),
        };
        let mut last = None;
        for addr in addrs {
            if let Err(denied) = self.destinations.check_addr(host, addr) {
                last.get_or_insert(CallError::Denied(denied));
                continue;
            }
            match TcpStream::connect(addr).await {
                Ok(stream) => {
                    let (local, peer) = (stream.local_addr(), stream.peer_addr());
                    if let (Ok(local), Ok(peer)) = (local, peer) {
                        self.destinations.check_connected(local, peer)?;
                    }
                    return Ok(stream);
                }
                Err(e) => {
                    last = Some(CallError::Connect {
                        host: format!("{host} ({addr})"),
                        reason: e.to_string(),
                    })
                }
            }
        }
        Err(last.unwrap_or_else(|| CallError::Resolve {
            host: host.to_string(),
            reason: "no address".into(),
        }))
    }
}

/// One request and its response on a fresh connection.
async fn exchange<S>(stream: S, host: &str, request: &Request) -> Result<Response, CallError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let http = |e: &dyn std::fmt::Display| CallError::Http(e.to_string());
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| http(&e))?;
    let driver = tokio::spawn(connection);
    let target = request
        .url
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let mut builder = http::Request::builder()
        .method(request.method.clone())
        .uri(target)
        .header(http::header::HOST, authority(host, &request.url));
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let outgoing = builder
        .body(Full::new(Bytes::from(request.body.clone())))
        .map_err(|e| http(&e))?;
    let response = sender.send_request(outgoing).await.map_err(|e| http(&e))?;
    let (parts, body) = response.into_parts();
    let body = Limited::new(body, request.max_response_bytes)
        .collect()
        .await
        .map_err(|e| match e.downcast::<http_body_util::LengthLimitError>() {
            Ok(_) => CallError::TooLarge(request.max_response_bytes),
            Err(e) => CallError::Http(e.to_string()),
        })?
        .to_bytes();
    driver.abort();
    Ok(Response {
        status: parts.status.as_u16(),
        reason: parts.status.canonical_reason().unwrap_or("").to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
    })
}

/// The Host header: the host, with the port when the URL names one.
fn authority(host: &str, url: &http::Uri) -> String {
    match url.port_u16() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

#[cfg(test)]
#[path = "caller_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "caller_mtls_tests.rs"]
mod mtls_tests;
