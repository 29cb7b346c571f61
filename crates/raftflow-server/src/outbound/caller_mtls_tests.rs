//! A client-certificate connection against an endpoint that asks for one:
//! trusted through `outbound.ca_files` (a private CA), the call presents
//! the identity and is answered; without it the handshake fails.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::outbound::policy::OutboundConfig;
use crate::tls::files::{read_chain, read_key, read_roots};

/// An https endpoint on the loopback that requires a client certificate
/// of `certs`' CA and answers 200 with the client's first certificate size.
async fn mutual_tls_endpoint(certs: &crate::tls::local::LocalCerts) -> u16 {
    let (cert, key) = certs.node(1);
    let roots = read_roots("ca", &certs.ca).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            read_chain("cert", &cert).unwrap(),
            read_key("key", &key).unwrap(),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let Ok(mut tls) = acceptor.accept(socket).await else {
                continue;
            };
            let mut buf = [0u8; 4096];
            let _ = tls.read(&mut buf).await;
            let reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
            let _ = tls.write_all(reply.as_bytes()).await;
            let _ = tls.shutdown().await;
        }
    });
    port
}

#[tokio::test]
async fn a_client_certificate_is_presented_to_a_private_ca_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let certs = crate::tls::local::ensure(dir.path(), &[1], &["127.0.0.1".into()]).unwrap();
    let port = mutual_tls_endpoint(&certs).await;
    let config = OutboundConfig {
        allow_cidrs: vec!["127.0.0.0/8".into()],
        ca_files: vec![certs.ca.clone()],
        ..Default::default()
    };
    let caller = Caller::with_roots(
        Destinations::new(&config, Vec::new()).unwrap(),
        config.roots().unwrap(),
    );
    let mut request = Request {
        method: http::Method::GET,
        url: format!("https://127.0.0.1:{port}/").parse().unwrap(),
        headers: Vec::new(),
        body: Vec::new(),
        timeout_ms: 5_000,
        max_response_bytes: 1024,
        client_auth: None,
    };
    let refused = caller.call(&request).await.unwrap_err();
    assert!(
        matches!(refused, CallError::Tls { .. } | CallError::Http(_)),
        "{refused}"
    );
    let cert_pem = std::fs::read_to_string(&certs.client.0).unwrap();
    let key_pem = std::fs::read_to_string(&certs.client.1).unwrap();
    let (chain, key) = crate::connections::door::client_identity(&cert_pem, &key_pem).unwrap();
    request.client_auth = Some(Arc::new(ClientAuth { chain, key }));
    let answered = caller.call(&request).await.unwrap();
    assert_eq!(
        (answered.status, answered.body.as_slice()),
        (200, b"ok".as_slice())
    );
    let untrusted = Caller::new(Destinations::new(&config, Vec::new()).unwrap());
    let error = untrusted.call(&request).await.unwrap_err();
    assert!(
        error.to_string().contains("certificate"),
        "without ca_files: {error}"
    );
}
