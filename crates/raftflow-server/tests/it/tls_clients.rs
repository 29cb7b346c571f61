//! Transport security as clients meet it: the errors a wrong set-up gets,
//! a required client certificate, the console's own certificate.

use std::time::Duration;

use raftflow_client::{ClientError, ClientTls};
use raftflow_server::tls::certs;

use crate::harness::TestCluster;

const WAIT: Duration = Duration::from_secs(20);

/// The error a client with `tls` gets from a write.
async fn probe_error(endpoints: &[String], tls: Option<ClientTls>) -> ClientError {
    raftflow_client::Client::with_tls(endpoints, tls)
        .unwrap()
        .with_deadline(Duration::from_secs(3))
        .probe("k", b"v")
        .await
        .unwrap_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clients_get_an_error_that_says_what_is_wrong() {
    let cluster = TestCluster::start(1, |_| {}).await;
    cluster.wait_leader(WAIT).await;
    let endpoint = cluster.endpoints();

    let err = probe_error(&endpoint, None).await;
    assert!(
        matches!(&err, ClientError::Tls(m) if m.contains("--ca")),
        "a plaintext client to a TLS port: {err}"
    );

    let other_ca = certs::create_ca("another CA", 30).unwrap();
    let wrong_ca = ClientTls {
        ca_pem: other_ca.cert_pem.into_bytes(),
        identity: None,
        domain: None,
    };
    let err = probe_error(&endpoint, Some(wrong_ca)).await;
    assert!(
        matches!(&err, ClientError::Tls(m) if m.contains("not signed by the CA")),
        "a client with another CA: {err}"
    );

    let mut wrong_name = crate::harness::client_tls();
    wrong_name.domain = Some("elsewhere.example".into());
    let err = probe_error(&endpoint, Some(wrong_name)).await;
    assert!(
        matches!(&err, ClientError::Tls(m) if m.contains("does not name the host")),
        "a host the certificate does not list: {err}"
    );

    // A silent client that opened connections and never began a handshake
    // holds up nobody: handshakes run side by side, each under a deadline.
    let mut silent = Vec::new();
    for _ in 0..8 {
        silent.push(tokio::net::TcpStream::connect(&endpoint[0]).await.unwrap());
    }
    cluster
        .client()
        .probe("past-the-silent", b"v")
        .await
        .expect("a client is served while silent connections wait");
    drop(silent);

    let err = raftflow_client::Client::new(&[format!("https://{}", endpoint[0])])
        .err()
        .expect("an https endpoint without a CA is refused");
    assert!(err.to_string().contains("no CA was given"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tls_client_to_a_plaintext_node_is_told_so() {
    let cluster = TestCluster::start(1, |c| {
        c.tls = None;
        c.insecure = true;
    })
    .await;
    cluster.wait_leader(WAIT).await;
    let err = probe_error(&cluster.endpoints(), Some(crate::harness::client_tls())).await;
    assert!(
        matches!(&err, ClientError::Tls(m) if m.contains("does not speak TLS")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_api_port_can_require_a_client_certificate() {
    let cluster = TestCluster::start(1, |c| {
        c.tls.as_mut().unwrap().require_client_cert = true;
    })
    .await;
    cluster.wait_leader(WAIT).await;
    let mut anonymous = crate::harness::client_tls();
    anonymous.identity = None;
    let err = probe_error(&cluster.endpoints(), Some(anonymous)).await;
    assert!(
        matches!(&err, ClientError::Tls(m) if m.contains("requires a client certificate")),
        "{err}"
    );
    cluster
        .client()
        .probe("k", b"v")
        .await
        .expect("a client with a certificate of the cluster CA is served");
}

/// `[tls.http]`: the console and metrics port shows its own certificate
/// (say, a public CA's for browsers) while the gRPC ports keep the cluster's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_http_port_can_show_a_certificate_of_its_own() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::TempDir::new().unwrap();
    let public_ca = certs::create_ca("a public CA", 30).unwrap();
    let console = certs::create_node(&public_ca, 1, &["127.0.0.1".into()], 30).unwrap();
    let (cert_file, key_file) = certs::write(dir.path(), "console", &console, false).unwrap();
    let cluster = TestCluster::start(1, move |c| {
        c.tls.as_mut().unwrap().http = Some(raftflow_server::tls::HttpTlsConfig {
            cert_file: cert_file.clone(),
            key_file: key_file.clone(),
        });
    })
    .await;
    cluster.wait_leader(WAIT).await;
    let addr = cluster.node(1).http_addr.unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for cert in raftflow_server::tls::files::parse_chain(public_ca.cert_pem.as_bytes()).unwrap() {
        roots.add(cert).unwrap();
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(addr.ip().into(), tcp)
        .await
        .expect("the HTTP port shows the public CA's certificate");
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    let _ = tls.read_to_string(&mut response).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    // The cluster's own clients are unaffected on the gRPC ports.
    cluster
        .client()
        .probe("k", b"v")
        .await
        .expect("the API port keeps the cluster's certificate");
    // `raftflow health` trusts exactly that certificate on its own port.
    let mut own = (*cluster.node(1).context.config).clone();
    own.http_addr = Some(addr.to_string());
    let timeout = std::time::Duration::from_secs(5);
    let ready = raftflow_server::health::probe(&own, true, timeout).await;
    assert!(
        ready.is_ok_and(|body| body.starts_with("ready")),
        "the health check passes"
    );
    let other = certs::create_node(&public_ca, 1, &["127.0.0.1".into()], 30).unwrap();
    let (other_cert, _) = certs::write(dir.path(), "other", &other, false).unwrap();
    own.tls.as_mut().unwrap().http.as_mut().unwrap().cert_file = other_cert;
    let refused = raftflow_server::health::probe(&own, false, timeout).await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.contains("another certificate")),
        "a different certificate is refused: {refused:?}"
    );
}
