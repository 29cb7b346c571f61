//! Accepting TLS connections: handshakes run concurrently, each under a
//! deadline, so one silent or slow client never holds up the next.
//!
//! ```text
//!  listener.accept ──▶ spawn handshake (permit, deadline) ──ok──▶ channel ──▶ tonic / axum
//!                                                └─ refused / timed out: one log line, closed
//! ```
//! tonic's own TLS takes a fixed identity; accepting here keeps the server
//! configuration ours (node-identity verifier now, reloading later).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;

use super::{Port, Reloadable};

/// Handshakes in progress at once per listener; more wait to start.
const MAX_HANDSHAKES: usize = 256;
/// Finished handshakes waiting for the server to take them.
const READY_BACKLOG: usize = 64;

type Accepted = std::io::Result<TlsStream<TcpStream>>;

/// The TLS connections accepted on `listener` for `port`, as tonic's
/// `serve_with_incoming` takes them. Each handshake uses the certificates
/// current when it starts (reload.rs).
pub fn tls_incoming(
    listener: TcpListener,
    tls: Arc<Reloadable>,
    port: Port,
) -> ReceiverStream<Accepted> {
    let (tx, rx) = mpsc::channel(READY_BACKLOG);
    tokio::spawn(accept_loop(listener, tls, tx, port));
    ReceiverStream::new(rx)
}

async fn accept_loop(
    listener: TcpListener,
    tls: Arc<Reloadable>,
    tx: mpsc::Sender<Accepted>,
    port: Port,
) {
    let handshake_timeout = tls.handshake_timeout();
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let accepted = tokio::select! {
            _ = tx.closed() => return,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors, most likely: back off a moment
                // instead of spinning on the error.
                tracing::warn!(?port, "accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let Ok(permit) = handshakes.clone().acquire_owned().await else {
            return;
        };
        let acceptor = TlsAcceptor::from(tls.server_config(port));
        let tx = tx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => {
                    let _ = tx.send(Ok(stream)).await;
                }
                // A TCP probe (a load balancer's health check, the elector
                // asking whether a port still refuses connections) closes
                // before any handshake: not worth a warning.
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    tracing::debug!(?port, %peer, "a connection closed before its TLS handshake")
                }
                Ok(Err(e)) => tracing::warn!(?port, %peer, "refused a connection: {}", why(&e)),
                Err(_) => tracing::warn!(
                    ?port,
                    %peer,
                    "closed a connection that did not finish its TLS handshake within {handshake_timeout:?}"
                ),
            }
        });
    }
}

/// A handshake failure in words an operator can act on.
fn why(e: &std::io::Error) -> String {
    let text = e.to_string();
    if text.contains("InvalidContentType") || text.contains("corrupt message") {
        return format!("{text} (not TLS: a plaintext client? use https and the cluster's CA)");
    }
    text
}

/// The TLS connections of a listener, as axum's `serve` takes them.
pub struct TlsListener {
    incoming: ReceiverStream<Accepted>,
    local: SocketAddr,
}

impl TlsListener {
    pub fn new(listener: TcpListener, tls: Arc<Reloadable>) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        Ok(Self {
            incoming: tls_incoming(listener, tls, Port::Http),
            local,
        })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        use tokio_stream::StreamExt;
        loop {
            match self.incoming.next().await {
                Some(Ok(stream)) => {
                    let peer = stream.get_ref().0.peer_addr().unwrap_or(self.local);
                    return (stream, peer);
                }
                Some(Err(_)) => continue,
                None => std::future::pending::<()>().await,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
