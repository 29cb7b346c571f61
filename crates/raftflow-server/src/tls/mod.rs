//! Transport security: TLS on every listener, mutual TLS with node identity
//! between nodes.
//!
//! ```text
//!  raft_addr  TLS, client certificate required: a node certificate of the
//!             cluster CA (verify.rs); each RPC's claimed node id must be the
//!             certificate's (raft_service.rs)
//!  api_addr   TLS, client certificate optional (clients, workers, peers)
//!  http_addr  TLS, no client certificate; may use its own certificate
//!  outgoing   this node's certificate as client identity; the peer must
//!             present the certificate of the node it was dialled as
//! ```
//! A node without `[tls]` refuses to start unless its config says
//! `insecure = true` (config.rs). One crypto provider, rustls with ring,
//! is installed as the process default (`install_provider`).

pub mod certs;
mod dial;
pub mod expiry;
pub mod files;
pub mod identity;
mod incoming;
pub mod inspect;
pub mod local;
pub mod reload;
mod verify;

use std::path::PathBuf;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use serde::Deserialize;

pub use dial::{peer_channel, peer_endpoint, PeerDial};
pub use incoming::{tls_incoming, TlsListener};
pub use reload::{Port, Reloadable};

/// The node's `[tls]` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file of the CA certificates that peers and clients must chain to
    /// (several during a CA rollover).
    pub ca_file: PathBuf,
    /// PEM file of this node's certificate chain (`raftflow cert create-node`).
    pub cert_file: PathBuf,
    /// PEM file of its private key.
    pub key_file: PathBuf,
    /// Another certificate for the HTTP port (console, metrics), e.g. one a
    /// public CA issued for browsers; the cluster's by default.
    #[serde(default)]
    pub http: Option<HttpTlsConfig>,
    /// A connection that has not finished its handshake after this long is
    /// closed: one silent client must not hold a slot for ever.
    #[serde(default = "default_handshake_timeout_ms")]
    pub handshake_timeout_ms: u64,
    /// How often the files are read again (also on SIGHUP): replaced
    /// certificates serve new connections without a restart.
    #[serde(default = "default_reload_interval_ms")]
    pub reload_interval_ms: u64,
    /// The API port admits only clients that show a certificate of the
    /// cluster CA (workers in a locked-down network). Off: a certificate
    /// may be shown, none is needed.
    #[serde(default)]
    pub require_client_cert: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTlsConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

fn default_handshake_timeout_ms() -> u64 {
    5_000
}

fn default_reload_interval_ms() -> u64 {
    5_000
}

impl TlsConfig {
    /// Takes relative paths from `base` (the config file's folder).
    pub fn resolve(&mut self, base: &std::path::Path) {
        for path in [&mut self.ca_file, &mut self.cert_file, &mut self.key_file] {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
        if let Some(http) = &mut self.http {
            for path in [&mut http.cert_file, &mut http.key_file] {
                if path.is_relative() {
                    *path = base.join(&*path);
                }
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{0}")]
    File(#[from] files::FileError),
    #[error("tls.cert_file {path}: it is node {found}'s certificate, but this node's id is {id}; make one with `raftflow cert create-node --id {id} --hosts …`")]
    WrongNode { path: String, found: u64, id: u64 },
    #[error("tls.cert_file {path}: not a node certificate (no raftflow://node/{id} URI among its names); make one with `raftflow cert create-node --id {id} --hosts …`")]
    NotNode { path: String, id: u64 },
    #[error("{what}: {message}")]
    Rustls { what: String, message: String },
}

fn rustls_error(what: &str) -> impl FnOnce(rustls::Error) -> TlsError + '_ {
    move |e| TlsError::Rustls {
        what: what.to_string(),
        message: e.to_string(),
    }
}

/// Installs rustls's ring provider as the process default. Safe to call
/// more than once; only ring is compiled in.
pub fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn provider() -> Arc<CryptoProvider> {
    install_provider();
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// A node's certificates and keys, read and checked once at start.
pub struct Material {
    roots: Arc<RootCertStore>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    http: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    expiries: Vec<expiry::Expiry>,
    require_client_cert: bool,
}

impl Material {
    /// Reads the files of `config`; the certificate must be node `id`'s.
    pub fn load(config: &TlsConfig, id: u64) -> Result<Self, TlsError> {
        let cas = files::read_chain("tls.ca_file", &config.ca_file)?;
        let roots = files::read_roots("tls.ca_file", &config.ca_file)?;
        let chain = files::read_chain("tls.cert_file", &config.cert_file)?;
        let key = files::read_key("tls.key_file", &config.key_file)?;
        let path = config.cert_file.display().to_string();
        match identity::node_id_of(&chain[0]) {
            Some(found) if found == id => {}
            Some(found) => return Err(TlsError::WrongNode { path, found, id }),
            None => return Err(TlsError::NotNode { path, id }),
        }
        let http = match &config.http {
            Some(h) => Some((
                files::read_chain("tls.http.cert_file", &h.cert_file)?,
                files::read_key("tls.http.key_file", &h.key_file)?,
            )),
            None => None,
        };
        let mut own: Vec<(&'static str, &[CertificateDer<'static>])> = vec![("node", &chain)];
        if let Some((http_chain, _)) = &http {
            own.push(("http", http_chain));
        }
        let expiries = expiry::expiries(&own, &cas);
        let material = Self {
            roots: Arc::new(roots),
            chain,
            key,
            http,
            expiries,
            require_client_cert: config.require_client_cert,
        };
        material.warn_if_expiring(id);
        Ok(material)
    }

    /// This node's certificates and trusted CAs, with when each expires.
    pub fn expiries(&self) -> &[expiry::Expiry] {
        &self.expiries
    }

    /// A certificate that is expired or expires within two weeks is said at
    /// start, beside the metric an alert should watch.
    fn warn_if_expiring(&self, id: u64) {
        const TWO_WEEKS_S: i64 = 14 * 86_400;
        let now_s = crate::clock::now_ms() as i64 / 1000;
        for e in &self.expiries {
            let left_s = e.not_after_s - now_s;
            if left_s < TWO_WEEKS_S {
                tracing::warn!(
                    node = id,
                    cert = e.role,
                    subject = %e.subject,
                    days_left = left_s.div_euclid(86_400),
                    "a certificate expires soon or has expired: renew it (raftflow cert create-node / create-ca)"
                );
            }
        }
    }

    fn server_builder(&self) -> rustls::ConfigBuilder<ServerConfig, rustls::WantsVerifier> {
        ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
    }

    /// The Raft port: node certificates of the cluster CA only.
    pub fn raft_server(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let inner = self.client_verifier(false)?;
        self.grpc_server(Arc::new(verify::NodeClientVerifier { inner }))
    }

    /// The API port: a client certificate of the cluster CA may be shown,
    /// or must be with `require_client_cert`.
    pub fn api_server(&self) -> Result<Arc<ServerConfig>, TlsError> {
        self.grpc_server(self.client_verifier(!self.require_client_cert)?)
    }

    fn client_verifier(
        &self,
        optional: bool,
    ) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
        let builder = rustls::server::WebPkiClientVerifier::builder_with_provider(
            self.roots.clone(),
            provider(),
        );
        let builder = if optional {
            builder.allow_unauthenticated()
        } else {
            builder
        };
        builder.build().map_err(|e| TlsError::Rustls {
            what: "tls.ca_file".into(),
            message: e.to_string(),
        })
    }

    /// A gRPC listener's configuration (HTTP/2) with `verifier`.
    fn grpc_server(
        &self,
        verifier: Arc<dyn rustls::server::danger::ClientCertVerifier>,
    ) -> Result<Arc<ServerConfig>, TlsError> {
        let mut config = self
            .server_builder()
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(rustls_error("tls.cert_file and tls.key_file"))?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(config))
    }

    /// The HTTP port (console, health, metrics): no client certificate.
    pub fn http_server(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let (chain, key, what) = match &self.http {
            Some((chain, key)) => (chain.clone(), key.clone_key(), "tls.http"),
            None => (self.chain.clone(), self.key.clone_key(), "tls"),
        };
        let mut config = self
            .server_builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(rustls_error(what))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// Calls to this node's own HTTP port (`raftflow health`), HTTP/1.1:
    /// its `[tls.http]` certificate pinned, or else its node certificate
    /// checked as a peer's.
    pub fn own_http_client(&self, id: u64) -> Result<Arc<ClientConfig>, TlsError> {
        let mut config = match &self.http {
            None => (*self.peer_client(id)?).clone(),
            Some((chain, _)) => {
                let inner = self.ca_verifier()?;
                let pinned = chain[0].clone();
                let verifier = Arc::new(verify::PinnedServerVerifier { inner, pinned });
                client_builder(verifier).with_no_client_auth()
            }
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// Calls to node `expected`: this node's certificate as its identity,
    /// and the peer's certificate must be `expected`'s.
    pub fn peer_client(&self, expected: u64) -> Result<Arc<ClientConfig>, TlsError> {
        let inner = self.ca_verifier()?;
        let verifier = Arc::new(verify::PeerServerVerifier { inner, expected });
        let mut config = client_builder(verifier)
            .with_client_auth_cert(self.chain.clone(), self.key.clone_key())
            .map_err(rustls_error("tls.cert_file and tls.key_file"))?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(config))
    }

    /// Checks a chain against the cluster CA (the verifiers above wrap it).
    fn ca_verifier(&self) -> Result<Arc<rustls::client::WebPkiServerVerifier>, TlsError> {
        rustls::client::WebPkiServerVerifier::builder_with_provider(self.roots.clone(), provider())
            .build()
            .map_err(|e| TlsError::Rustls {
                what: "tls.ca_file".into(),
                message: e.to_string(),
            })
    }
}

/// A client config with our provider and `verifier`, before its client auth.
fn client_builder(
    verifier: Arc<dyn rustls::client::danger::ServerCertVerifier>,
) -> rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert> {
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
}

/// How this node's listeners and outgoing calls are secured.
#[derive(Clone)]
pub enum Security {
    /// `insecure = true`: plaintext, anyone who reaches a port is trusted.
    Insecure,
    /// Certificates from files, reloaded when they change (reload.rs).
    Tls(Arc<Reloadable>),
}

impl Security {
    pub fn is_tls(&self) -> bool {
        matches!(self, Security::Tls(_))
    }
}

/// The host part of a `host:port` address (IPv6 without its brackets).
pub fn host_of(addr: &str) -> Option<&str> {
    let (host, _port) = addr.rsplit_once(':')?;
    Some(host.trim_start_matches('[').trim_end_matches(']'))
}

/// An error with its causes on one line: tonic's "transport error" alone
/// hides the certificate problem underneath.
pub fn describe_connect_error(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}
