//! `raftflow health [--ready]`: asks this node's own `/healthz` or
//! `/readyz`, for a container's health check (an image built `FROM
//! scratch` has no curl). The node's configuration (file and `RAFTFLOW_*`
//! variables) says where the HTTP port is and how to trust it: over TLS
//! the answer must come with this node's own certificate, checked as a
//! peer checks it (its node id, and the host of its advertised address),
//! or, when the port has a certificate of its own (`[tls.http]`), with
//! exactly that one.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::config::NodeConfig;

/// The most of an answer's body kept (a reason is a line or two).
const MAX_BODY_BYTES: usize = 4096;

/// What the probe found: `Ok(body)` for 200, `Err(why)` otherwise.
pub async fn probe(config: &NodeConfig, ready: bool, timeout: Duration) -> Result<String, String> {
    let path = if ready {
        crate::http::READYZ_PATH
    } else {
        crate::http::HEALTHZ_PATH
    };
    tokio::time::timeout(timeout, ask(config, path))
        .await
        .unwrap_or_else(|_| Err(format!("{path} did not answer within {timeout:?}")))
}

/// The address to dial: the bound one, with a wildcard host made loopback.
fn dial_addr(http_addr: &str) -> Result<std::net::SocketAddr, String> {
    let mut addr: std::net::SocketAddr = http_addr
        .parse()
        .map_err(|_| format!("http_addr `{http_addr}` is not an IP:port"))?;
    if addr.ip().is_unspecified() {
        let loopback: std::net::IpAddr = if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        };
        addr.set_ip(loopback);
    }
    Ok(addr)
}

async fn ask(config: &NodeConfig, path: &str) -> Result<String, String> {
    let http_addr = config.http_addr.as_deref().ok_or(
        "this node serves no HTTP port: set http_addr (RAFTFLOW_HTTP_ADDR) for health checks",
    )?;
    let addr = dial_addr(http_addr)?;
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    match &config.tls {
        None => get(TokioIo::new(tcp), addr, path, "http").await,
        Some(files) => {
            let material =
                crate::tls::Material::load(files, config.id).map_err(|e| e.to_string())?;
            let client = material
                .own_http_client(config.id)
                .map_err(|e| e.to_string())?;
            // The name peers dial it by: its certificate carries that one.
            let host = crate::tls::host_of(config.advertised_api_addr()).unwrap_or("localhost");
            let name = rustls::pki_types::ServerName::try_from(host.to_string())
                .map_err(|e| format!("`{host}` as a TLS name: {e}"))?;
            let tls = tokio_rustls::TlsConnector::from(client)
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS with {addr}: {e}"))?;
            get(TokioIo::new(tls), addr, path, "https").await
        }
    }
}

async fn get<S>(
    io: TokioIo<S>,
    addr: std::net::SocketAddr,
    path: &str,
    scheme: &str,
) -> Result<String, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP with {addr}: {e}"))?;
    tokio::spawn(connection);
    let request = http::Request::get(format!("{scheme}://{addr}{path}"))
        .header(http::header::HOST, addr.to_string())
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("GET {path}: {e}"))?;
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).trim().to_string())
        .unwrap_or_default();
    if status == http::StatusCode::OK {
        Ok(body)
    } else {
        Err(format!("{path}: {status}: {body}"))
    }
}

#[cfg(test)]
mod tests {
    use super::dial_addr;

    #[test]
    fn a_wildcard_address_is_dialled_on_loopback() {
        assert_eq!(
            dial_addr("0.0.0.0:7301").unwrap().to_string(),
            "127.0.0.1:7301"
        );
        assert_eq!(dial_addr("[::]:7301").unwrap().to_string(), "[::1]:7301");
        assert_eq!(
            dial_addr("10.1.2.3:7301").unwrap().to_string(),
            "10.1.2.3:7301"
        );
        assert!(dial_addr("node1:7301").is_err());
    }
}
