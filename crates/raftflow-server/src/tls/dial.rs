//! Calling another node: plaintext, or TLS with this node's certificate as
//! its identity and the peer's certificate checked to be the node dialled.
//!
//! tonic's client TLS cannot take a verifier of our own, so TLS is done in
//! a connector and tonic sees an already encrypted byte stream.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tonic::transport::{Channel, Endpoint};

use super::Security;

/// An endpoint of another node, with what it takes to reach it.
pub struct PeerDial {
    endpoint: Endpoint,
    tls: Option<TlsConnector>,
}

/// How to reach node `peer` at `addr` (host:port); `None` when `addr` is
/// not a usable address. No Nagle delay; `connect_timeout` bounds the TCP
/// connect (and, with TLS, the handshake) so a dead peer is noticed quickly.
pub fn peer_endpoint(
    security: &Security,
    peer: u64,
    addr: &str,
    connect_timeout: Duration,
) -> Option<PeerDial> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))
        .ok()?
        .connect_timeout(connect_timeout)
        .tcp_nodelay(true);
    let tls = match security {
        Security::Insecure => None,
        Security::Tls(tls) => Some(TlsConnector {
            tls: tls.clone(),
            peer,
            server_name: server_name(addr)?,
            addr: addr.to_string(),
        }),
    };
    Some(PeerDial { endpoint, tls })
}

/// Connects to node `peer` at `addr` now; the error as text.
pub async fn peer_channel(
    security: &Security,
    peer: u64,
    addr: &str,
    timeout: Duration,
) -> Result<Channel, String> {
    let dial = peer_endpoint(security, peer, addr, timeout)
        .ok_or_else(|| format!("`{addr}` is not a usable address of node {peer}"))?;
    dial.map(|e| e.timeout(timeout))
        .connect()
        .await
        .map_err(|e| crate::tls::describe_connect_error(&e))
}

impl PeerDial {
    /// Changes the endpoint's settings (timeouts, keep-alive).
    pub fn map(mut self, f: impl FnOnce(Endpoint) -> Endpoint) -> Self {
        self.endpoint = f(self.endpoint);
        self
    }

    /// A channel that connects on first use (and again after a failure).
    pub fn lazy(self) -> Channel {
        match self.tls {
            None => self.endpoint.connect_lazy(),
            Some(tls) => self.endpoint.connect_with_connector_lazy(tls),
        }
    }

    pub async fn connect(self) -> Result<Channel, tonic::transport::Error> {
        match self.tls {
            None => self.endpoint.connect().await,
            Some(tls) => self.endpoint.connect_with_connector(tls).await,
        }
    }
}

/// The name a peer's certificate must carry: the host part of its address.
fn server_name(addr: &str) -> Option<ServerName<'static>> {
    ServerName::try_from(super::host_of(addr)?.to_string()).ok()
}

/// Dials with the certificates current at each connect (reload.rs).
#[derive(Clone)]
struct TlsConnector {
    tls: Arc<super::Reloadable>,
    peer: u64,
    server_name: ServerName<'static>,
    addr: String,
}

type Connected = TokioIo<tokio_rustls::client::TlsStream<TcpStream>>;

impl tower::Service<http::Uri> for TlsConnector {
    type Response = Connected;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<Connected>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: http::Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let config = this
                .tls
                .material()
                .peer_client(this.peer)
                .map_err(std::io::Error::other)?;
            let tcp = TcpStream::connect(&this.addr).await?;
            tcp.set_nodelay(true)?;
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(this.server_name, tcp)
                .await?;
            Ok(TokioIo::new(tls))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_come_from_the_host_part() {
        assert!(server_name("127.0.0.1:7101").is_some());
        assert!(server_name("[::1]:7101").is_some());
        assert!(server_name("node-1.example:7101").is_some());
        assert!(server_name("no-port").is_none());
    }
}
