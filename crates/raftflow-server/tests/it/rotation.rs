//! Certificates replaced on every node while executions run, and a CA
//! rollover (trust old and new, move every node to the new, drop the old),
//! with no restart and no acknowledged execution lost.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use raftflow_client::{Client, ClientTls, Worker};
use raftflow_server::tls::certs::{self, Issued};
use raftflow_server::tls::{Security, TlsConfig};
use tokio::sync::watch;

use crate::harness::TestCluster;

const ONE_TASK: &str = r#"{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "activity:rotate",
  "TimeoutSeconds": 5, "Retry": [{"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 1, "MaxAttempts": 5}], "End": true}}}"#;
const WAIT: Duration = Duration::from_secs(20);

/// Writes a file by rename, as a deployment tool would: a reader sees the
/// old bytes or the new, never half.
fn put(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn node_files(dir: &Path, id: u64) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("node-{id}.pem")),
        dir.join(format!("node-{id}-key.pem")),
    )
}

/// Installs a fresh certificate for node `id` signed by `ca` (key first: a
/// reload between the two writes fails to load and is tried again).
fn install_node_cert(dir: &Path, id: u64, ca: &Issued) -> String {
    let cert = certs::create_node(ca, id, &["127.0.0.1".into()], 30).unwrap();
    let (cert_path, key_path) = node_files(dir, id);
    put(&key_path, &cert.key_pem);
    put(&cert_path, &cert.cert_pem);
    cert.cert_pem
}

fn subjects_trusted(cluster: &TestCluster, id: u64) -> Vec<String> {
    let Security::Tls(tls) = &cluster.node(id).context.security else {
        panic!("the cluster runs TLS");
    };
    tls.material()
        .expiries()
        .iter()
        .filter(|e| e.role == "ca")
        .map(|e| e.subject.clone())
        .collect()
}

/// The certificate node `id`'s API port presents to a new connection.
async fn served_cert(cluster: &TestCluster, id: u64) -> Vec<u8> {
    let addr = cluster.node(id).api_addr;
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let config = rustls::ClientConfig::builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny))
        .with_no_client_auth();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(addr.ip().into(), tcp)
        .await
        .unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

async fn wait_until<F: std::future::Future<Output = bool>>(
    what: &str,
    mut check: impl FnMut() -> F,
) {
    let deadline = Instant::now() + WAIT;
    while !check().await {
        assert!(Instant::now() < deadline, "{what} within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn der_of(pem: &str) -> Vec<u8> {
    raftflow_server::tls::files::parse_chain(pem.as_bytes()).unwrap()[0].to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn certificates_rotate_and_the_ca_rolls_over_under_load_without_a_restart() {
    raftflow_server::tls::install_provider();
    let dir = tempfile::TempDir::new().unwrap();
    let certs_dir = dir.path().to_path_buf();
    let (ca_a, ca_b) = (
        certs::create_ca("CA A", 30).unwrap(),
        certs::create_ca("CA B", 30).unwrap(),
    );
    put(&certs_dir.join("ca.pem"), &ca_a.cert_pem);
    for id in 1..=3 {
        install_node_cert(&certs_dir, id, &ca_a);
    }
    let files = certs_dir.clone();
    let cluster = TestCluster::start(3, move |c| {
        let (cert_file, key_file) = node_files(&files, c.id);
        c.tls = Some(TlsConfig {
            ca_file: files.join("ca.pem"),
            cert_file,
            key_file,
            http: None,
            handshake_timeout_ms: 5_000,
            reload_interval_ms: 100,
            require_client_cert: false,
        });
    })
    .await;
    cluster.wait_leader(WAIT).await;
    // Clients get the new CA before any node uses it, as operators do.
    let client_tls = ClientTls {
        ca_pem: format!("{}{}", ca_a.cert_pem, ca_b.cert_pem).into_bytes(),
        identity: None,
        domain: None,
    };
    let client = Arc::new(
        Client::with_tls(&cluster.endpoints(), Some(client_tls))
            .unwrap()
            .with_token(crate::harness::admin_secret())
            .unwrap(),
    );
    client
        .create_state_machine("rotate", ONE_TASK, "")
        .await
        .unwrap();

    // The worker stops only after every execution ended: stopping it with
    // the load left the last start's task to time out six times (the test
    // failed about one run in six that way).
    let (stop, stopped) = watch::channel(false);
    let (stop_worker, worker_stopped) = watch::channel(false);
    let worker = Worker::new(client.clone(), "rotator")
        .concurrency(4)
        .poll_timeout(Duration::from_secs(1))
        .handle("rotate", |_| async { Ok("{}".to_string()) });
    let mut worker_stop = worker_stopped;
    let worker = tokio::spawn(worker.run(async move {
        let _ = worker_stop.wait_for(|s| *s).await;
    }));
    let started: Arc<Mutex<Vec<String>>> = Arc::default();
    let load = {
        let (client, started, stopped) = (client.clone(), started.clone(), stopped.clone());
        tokio::spawn(async move {
            let mut i = 0;
            while !*stopped.borrow() {
                let name = format!("r-{i}");
                if let Ok(r) = client.start_execution("rotate", Some(&name), "{}").await {
                    started.lock().unwrap().push(r.execution_id);
                }
                i += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    // 1. Every node gets a new certificate from the same CA.
    for id in 1..=3 {
        let pem = install_node_cert(&certs_dir, id, &ca_a);
        let want = der_of(&pem);
        wait_until("the new certificate serves", || async {
            served_cert(&cluster, id).await == want
        })
        .await;
    }
    // 2. CA rollover: trust both, move every node to B, then trust B only.
    put(
        &certs_dir.join("ca.pem"),
        &format!("{}{}", ca_a.cert_pem, ca_b.cert_pem),
    );
    for id in 1..=3 {
        wait_until("both CAs are trusted", || async {
            subjects_trusted(&cluster, id).len() == 2
        })
        .await;
    }
    for id in 1..=3 {
        let want = der_of(&install_node_cert(&certs_dir, id, &ca_b));
        wait_until("the CA B certificate serves", || async {
            served_cert(&cluster, id).await == want
        })
        .await;
    }
    put(&certs_dir.join("ca.pem"), &ca_b.cert_pem);
    for id in 1..=3 {
        wait_until("only CA B is trusted", || async {
            subjects_trusted(&cluster, id) == vec!["CN=CA B".to_string()]
        })
        .await;
    }
    // The nodes reach each other with CA B alone: a write commits.
    client
        .probe("after-rollover", b"v")
        .await
        .expect("the cluster writes after the rollover");

    let _ = stop.send(true);
    load.await.unwrap();
    let ids = started.lock().unwrap().clone();
    assert!(
        ids.len() >= 20,
        "load ran during the rotation: {} starts",
        ids.len()
    );
    for id in &ids {
        let end = client.wait_for_end(id).await.unwrap();
        assert_eq!(
            end.status, "SUCCEEDED",
            "{id}: {} {} (all six 5 s attempts timed out?)",
            end.error, end.cause
        );
    }
    let _ = stop_worker.send(true);
    let _ = worker.await;
}

/// Accepts any server certificate: the test only reads which one is served.
#[derive(Debug)]
struct AcceptAny;

impl rustls::client::danger::ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
