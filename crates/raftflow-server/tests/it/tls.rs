//! Transport security: who may speak on the Raft port, and what a node
//! with a wrong certificate or key does. (Every other test in this binary
//! runs over TLS too; tls_clients.rs has the clients' side.)

use std::time::Duration;

use openraft::raft::{AppendEntriesRequest, VoteRequest};
use raftflow_client::proto::raft_service_client::RaftServiceClient;
use raftflow_client::proto::{AttachRequest, PreVoteRequest, RaftRequest};
use raftflow_server::raft_service::WatchReceiver as _;
use raftflow_server::raft_wire::SnapshotChunk;
use raftflow_server::tls::certs;
use raftflow_server::NodeHandle;
use raftflow_store::types::Vote;
use raftflow_store::{codec, TypeConfig};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use crate::harness::{certs as test_certs, TestCluster};

const WAIT: Duration = Duration::from_secs(20);

/// A process that knows the cluster's CA certificate (it is public) and
/// shows `identity` (PEM certificate and key), or none.
async fn rogue(
    addr: &str,
    identity: Option<(String, String)>,
) -> Option<RaftServiceClient<tonic::transport::Channel>> {
    let ca = std::fs::read(&test_certs().ca).unwrap();
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca));
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    let endpoint = Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .timeout(Duration::from_secs(5));
    // A refused handshake may fail the connect or the first call.
    endpoint.connect().await.ok().map(RaftServiceClient::new)
}

fn pem_pair(paths: &(std::path::PathBuf, std::path::PathBuf)) -> (String, String) {
    (
        std::fs::read_to_string(&paths.0).unwrap(),
        std::fs::read_to_string(&paths.1).unwrap(),
    )
}

/// Every Raft RPC, each speaking as node 3 with a term far ahead.
async fn attack(
    client: &mut RaftServiceClient<tonic::transport::Channel>,
    target: u64,
) -> Vec<tonic::Code> {
    let vote = Vote::new_committed(1_000, 3);
    let append = AppendEntriesRequest::<TypeConfig> {
        vote,
        prev_log_id: None,
        entries: Vec::new(),
        leader_commit: None,
    };
    let ask_vote = VoteRequest::<TypeConfig>::new(Vote::new(1_000, 3), None);
    let snapshot = SnapshotChunk {
        vote,
        last_log_id: None,
        last_membership: Default::default(),
        snapshot_id: "1000-3-0".into(),
        offset: 0,
        data: Vec::new(),
        done: true,
    };
    let wrap = |payload: Vec<u8>| RaftRequest {
        target,
        payload,
        sent_ms: 0,
    };
    let streamed = wrap(codec::encode(&append).unwrap());
    vec![
        code(
            client
                .append_entries(wrap(codec::encode(&append).unwrap()))
                .await,
        ),
        code(client.vote(wrap(codec::encode(&ask_vote).unwrap())).await),
        code(
            client
                .install_snapshot(wrap(codec::encode(&snapshot).unwrap()))
                .await,
        ),
        code(
            client
                .pre_vote(PreVoteRequest {
                    target,
                    candidate: 3,
                    candidate_clock_ms: raftflow_server::clock::now_ms(),
                })
                .await,
        ),
        code(client.attach(AttachRequest { target, caller: 3 }).await),
        streamed_code(client, streamed).await,
    ]
}

/// A streamed append's outcome: refused before the stream opens, or with
/// its first (and only) reply.
async fn streamed_code(
    client: &mut RaftServiceClient<tonic::transport::Channel>,
    request: RaftRequest,
) -> tonic::Code {
    let opened = client.stream_append(futures::stream::iter([request])).await;
    match opened {
        Err(status) => status.code(),
        Ok(replies) => code(replies.into_inner().message().await),
    }
}

fn code<T>(result: Result<T, tonic::Status>) -> tonic::Code {
    match result {
        Ok(_) => tonic::Code::Ok,
        Err(status) => status.code(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_stranger_and_no_impostor_can_append_vote_or_install_a_snapshot() {
    let cluster = TestCluster::start(3, |_| {}).await;
    // The first leader's own writes (its epoch, the apply version) are in
    // before the state is compared.
    cluster
        .wait_apply_version(raftflow_store::version::APPLY_VERSION_MAX, WAIT)
        .await;
    let leader = cluster.wait_leader(WAIT).await;
    cluster
        .client()
        .probe("before", b"v")
        .await
        .expect("the cluster writes");
    let target = if leader == 1 { 2 } else { 1 };
    let raft_addr = cluster.configs[target as usize - 1].raft_addr.clone();
    cluster.wait_same_digest(WAIT).await;
    let term_before = cluster
        .node(target)
        .raft()
        .metrics()
        .borrow_watched()
        .current_term;
    let digests_before = cluster.digests();

    let dir = tempfile::TempDir::new().unwrap();
    let other_ca = certs::create_ca("another CA", 30).unwrap();
    let stranger = certs::create_node(&other_ca, 3, &["127.0.0.1".into()], 30).unwrap();
    let impostor = pem_pair(&test_certs().node(2));
    let client_cert = pem_pair(&test_certs().client);
    let _ = dir;
    let cases = [
        (
            "a node certificate of another CA",
            Some((stranger.cert_pem, stranger.key_pem)),
        ),
        ("no certificate", None),
        (
            "a client certificate of the cluster's CA",
            Some(client_cert),
        ),
    ];
    for (who, identity) in cases {
        if let Some(mut client) = rogue(&raft_addr, identity).await {
            let codes = attack(&mut client, target).await;
            // Refused by TLS, before any handler: with TLS 1.3 the client
            // learns it at its first request (the connection is cut).
            let reached_a_handler = |c: &tonic::Code| {
                matches!(
                    c,
                    tonic::Code::Ok
                        | tonic::Code::PermissionDenied
                        | tonic::Code::FailedPrecondition
                        | tonic::Code::InvalidArgument
                        | tonic::Code::Unauthenticated
                )
            };
            assert!(
                !codes.iter().any(reached_a_handler),
                "{who}: every RPC must fail at the handshake, got {codes:?}"
            );
        }
    }
    // Node 2's own certificate, speaking as node 3: past the handshake, and
    // refused by each RPC.
    let mut client = rogue(&raft_addr, Some(impostor))
        .await
        .expect("node 2's certificate is a node's");
    let codes = attack(&mut client, target).await;
    assert_eq!(
        codes,
        vec![tonic::Code::PermissionDenied; 6],
        "node 2 speaking as node 3"
    );

    let term_after = cluster
        .node(target)
        .raft()
        .metrics()
        .borrow_watched()
        .current_term;
    assert_eq!(term_before, term_after, "no refused vote raised the term");
    assert_eq!(cluster.wait_leader(WAIT).await, leader, "the leader stands");
    // Nothing was written in between: the same index and digest everywhere.
    cluster.wait_same_digest(WAIT).await;
    assert_eq!(digests_before, cluster.digests(), "the state is unchanged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_a_wrong_certificate_or_key_does_not_start() {
    let dir = tempfile::TempDir::new().unwrap();
    let base = || {
        let mut config = crate::harness::single_node_config(dir.path());
        config.tls = Some(crate::harness::tls_config(1));
        config
    };
    let start = |config| async move {
        let raft = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        match NodeHandle::start_with_listeners(config, raft, api).await {
            Ok(node) => {
                node.shutdown().await;
                panic!("the node started");
            }
            Err(e) => e.to_string(),
        }
    };
    let mut config = base();
    let tls = config.tls.as_mut().unwrap();
    tls.cert_file = test_certs().node(2).0;
    tls.key_file = test_certs().node(2).1;
    let err = start(config).await;
    assert!(
        err.contains("node 2's certificate") && err.contains("id is 1"),
        "{err}"
    );

    let mut config = base();
    let tls = config.tls.as_mut().unwrap();
    tls.cert_file = test_certs().client.0.clone();
    tls.key_file = test_certs().client.1.clone();
    let err = start(config).await;
    assert!(err.contains("not a node certificate"), "{err}");

    let mut config = base();
    config.tls.as_mut().unwrap().key_file = dir.path().join("missing-key.pem");
    let err = start(config).await;
    assert!(
        err.contains("tls.key_file")
            && err.contains("missing-key.pem")
            && err.contains("cannot read"),
        "{err}"
    );

    let mut config = base();
    config.tls.as_mut().unwrap().key_file = test_certs().node(2).1;
    let err = start(config).await;
    assert!(
        err.contains("tls.cert_file and tls.key_file"),
        "a key of another certificate: {err}"
    );

    let not_pem = dir.path().join("ca.txt");
    std::fs::write(&not_pem, "hello").unwrap();
    let mut config = base();
    config.tls.as_mut().unwrap().ca_file = not_pem;
    let err = start(config).await;
    assert!(
        err.contains("tls.ca_file") && err.contains("no PEM certificate"),
        "{err}"
    );

    let mut config = base();
    config.tls = None;
    let err = start(config).await;
    assert!(err.contains("insecure = true"), "{err}");
}

/// A learner must show the certificate of the node id it is added as: the
/// leader dials it, checks, and sends nothing to a process that shows
/// another node's certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_learner_is_replicated_to_only_with_its_own_node_certificate() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let cluster = TestCluster::start(3, |_| {}).await;
    cluster.wait_leader(WAIT).await;
    // A TLS server with node 5's certificate, posing as learner 4.
    let (cert, key) = test_certs().node(5);
    let chain = raftflow_server::tls::files::read_chain("cert", &cert).unwrap();
    let key = raftflow_server::tls::files::read_key("key", &key).unwrap();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (refused, accepted) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (r, a) = (refused.clone(), accepted.clone());
    let rogue = tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            match acceptor.accept(tcp).await {
                Ok(_) => a.fetch_add(1, Ordering::SeqCst),
                Err(_) => r.fetch_add(1, Ordering::SeqCst),
            };
        }
    });
    // Blocking add: it waits for a catch-up that cannot happen.
    let client = cluster.client();
    let (raft_addr, api_addr) = (addr.clone(), addr.clone());
    let adding = tokio::spawn(async move { client.add_learner(4, &raft_addr, &api_addr).await });
    let deadline = std::time::Instant::now() + WAIT;
    while refused.load(Ordering::SeqCst) < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the leader never dialled learner 4"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        0,
        "no handshake with the impostor completed"
    );
    adding.abort();
    rogue.abort();
}
