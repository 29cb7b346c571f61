//! The caller against servers in this process (raw TCP, so the test sees
//! exactly what was sent): refused before connecting, a request as sent, a
//! redirect not followed, limits, deadlines, TLS verified.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::outbound::policy::OutboundConfig;

/// A server that answers every connection with `reply` (None: never) and
/// hands each request's text to the test.
struct Server {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    requests: tokio::sync::mpsc::UnboundedReceiver<String>,
}

async fn serve(reply: Option<&'static str>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let (tx, requests) = tokio::sync::mpsc::unbounded_channel();
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                while !String::from_utf8_lossy(&seen).contains("\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tx.send(String::from_utf8_lossy(&seen).into_owned());
                match reply {
                    Some(text) => {
                        let _ = socket.write_all(text.as_bytes()).await;
                    }
                    None => std::future::pending::<()>().await,
                }
            });
        }
    });
    Server {
        addr,
        accepted,
        requests,
    }
}

fn caller(allow_loopback: bool) -> Caller {
    let config = OutboundConfig {
        allow_cidrs: if allow_loopback {
            vec!["127.0.0.0/8".into()]
        } else {
            vec![]
        },
        allow_plain_http: true,
        ..Default::default()
    };
    Caller::new(Destinations::new(&config, vec![]).unwrap())
}

fn get(url: String) -> Request {
    Request {
        method: http::Method::GET,
        url: url.parse().unwrap(),
        headers: vec![("Idempotency-Key".into(), "orders:o-1/3".into())],
        body: Vec::new(),
        timeout_ms: 5_000,
        max_response_bytes: 1024,
        client_auth: None,
    }
}

const OK: &str =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}";

#[tokio::test]
async fn loopback_is_refused_before_any_connection_even_by_name() {
    let server = serve(Some(OK)).await;
    let port = server.addr.port();
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://localhost:{port}/"),
    ] {
        let error = caller(false).call(&get(url.clone())).await.unwrap_err();
        assert!(
            error
                .to_string()
                .contains("loopback address; allow it with outbound.allow_cidrs"),
            "{url}: {error}"
        );
    }
    assert_eq!(server.accepted.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_allowed_request_goes_as_written_and_a_redirect_is_not_followed() {
    let mut server = serve(Some(OK)).await;
    let url = format!("http://127.0.0.1:{}/items?id=7&x=a%20b", server.addr.port());
    let response = caller(true).call(&get(url)).await.unwrap();
    assert_eq!(
        (response.status, response.body.as_slice()),
        (200, &b"{\"ok\":true}"[..])
    );
    assert!(response
        .headers
        .contains(&("content-type".into(), "application/json".into())));
    let sent = server.requests.recv().await.unwrap();
    assert!(
        sent.starts_with("GET /items?id=7&x=a%20b HTTP/1.1\r\n"),
        "{sent}"
    );
    assert!(
        sent.to_ascii_lowercase()
            .contains("idempotency-key: orders:o-1/3"),
        "{sent}"
    );
    let moved = serve(Some(
        "HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/\r\nContent-Length: 0\r\n\r\n",
    ))
    .await;
    let response = caller(true)
        .call(&get(format!("http://127.0.0.1:{}/", moved.addr.port())))
        .await
        .unwrap();
    assert_eq!(response.status, 302);
    assert_eq!(moved.accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_large_body_and_a_silent_server_end_in_clear_errors() {
    let reply = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n{}",
        "x".repeat(5000)
    );
    let big = serve(Some(Box::leak(reply.into_boxed_str()))).await;
    let error = caller(true)
        .call(&get(format!("http://127.0.0.1:{}/", big.addr.port())))
        .await
        .unwrap_err();
    assert!(matches!(error, CallError::TooLarge(1024)), "{error}");
    let silent = serve(None).await;
    let mut request = get(format!("http://127.0.0.1:{}/", silent.addr.port()));
    request.timeout_ms = 200;
    let error = caller(true).call(&request).await.unwrap_err();
    assert_eq!(error.to_string(), "no response within 200 ms");
}

#[tokio::test]
async fn tls_is_verified() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let cert = made.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::try_from(made.signing_key.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let _ = acceptor.accept(socket).await;
        }
    });
    let error = caller(true)
        .call(&get(format!("https://127.0.0.1:{port}/")))
        .await
        .unwrap_err();
    assert!(matches!(error, CallError::Tls { .. }), "{error}");
    assert!(error.to_string().contains("certificate"), "{error}");
}
