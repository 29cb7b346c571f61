//! A cluster of in-process nodes on ports the test binds itself.

use raftflow_server::raft_service::WatchReceiver as _;
use std::time::{Duration, Instant};

use std::sync::OnceLock;

use raftflow_client::{Client, ClientTls};
use raftflow_server::tls::local::LocalCerts;
use raftflow_server::tls::TlsConfig;
use raftflow_server::{NodeConfig, NodeHandle, PeerConfig, RaftTiming};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

pub struct TestCluster {
    /// Holds the nodes' data directories until the cluster is dropped.
    pub _dir: TempDir,
    pub configs: Vec<NodeConfig>,
    pub nodes: Vec<Option<NodeHandle>>,
}

pub fn timing() -> RaftTiming {
    RaftTiming {
        heartbeat_interval_ms: 100,
        election_timeout_min_ms: 600,
        election_timeout_max_ms: 1200,
        leader_lease_ms: 300,
        install_snapshot_timeout_ms: 10_000,
        snapshot_after_entries: 20_000,
        keep_entries_after_snapshot: 5_000,
        snapshot_chunk_bytes: 4 << 20,
        max_clock_offset_ms: 500,
    }
}

/// One CA, certificates for nodes 1 to 9 (valid for 127.0.0.1) and a
/// client certificate, made once and kept in the target's temp folder.
pub fn certs() -> &'static LocalCerts {
    static CERTS: OnceLock<LocalCerts> = OnceLock::new();
    CERTS.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("raftflow-it-certs");
        let ids: Vec<u64> = (1..=9).collect();
        raftflow_server::tls::local::ensure(&dir, &ids, &["127.0.0.1".into()])
            .expect("the test certificates are made")
    })
}

/// Node `id`'s `[tls]` section.
pub fn tls_config(id: u64) -> TlsConfig {
    let (cert_file, key_file) = certs().node(id);
    TlsConfig {
        ca_file: certs().ca.clone(),
        cert_file,
        key_file,
        http: None,
        handshake_timeout_ms: 5_000,
        reload_interval_ms: 5_000,
        require_client_cert: false,
    }
}

/// What a client needs to reach the test clusters.
pub fn client_tls() -> ClientTls {
    let (cert, key) = &certs().client;
    ClientTls::from_files(&certs().ca, Some(cert), Some(key)).expect("test client certificate")
}

/// The first admin token of every test cluster: each node's `[auth]
/// bootstrap_token_file` holds it, so it works from the first call.
pub fn admin_secret() -> &'static str {
    static SECRET: OnceLock<String> = OnceLock::new();
    SECRET.get_or_init(raftflow_server::auth::secret::new_secret)
}

/// `[auth]` naming a token file in `dir` that holds `admin_secret()`.
pub fn test_auth(dir: &std::path::Path) -> raftflow_server::auth::AuthConfig {
    let file = dir.join("admin.token");
    raftflow_server::auth::secret::write_file(&file, admin_secret())
        .expect("write the admin token");
    raftflow_server::auth::AuthConfig {
        bootstrap_token_file: Some(file),
        ..Default::default()
    }
}

/// A raw gRPC channel to a node's API address, over TLS, sending the admin token.
pub async fn channel(addr: impl std::fmt::Display) -> raftflow_client::Conn {
    raftflow_client::Bearer::new(admin_secret())
        .expect("token")
        .wrap(tls_channel(addr).await)
}

/// A raw gRPC channel to a node's API address, over TLS, with no token.
pub async fn tls_channel(addr: impl std::fmt::Display) -> Channel {
    let read = |p: &std::path::Path| std::fs::read(p).expect("test certificate");
    let (cert, key) = &certs().client;
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read(&certs().ca)))
        .identity(Identity::from_pem(read(cert), read(key)));
    Endpoint::from_shared(format!("https://{addr}"))
        .expect("address")
        .tls_config(tls)
        .expect("tls")
        .connect()
        .await
        .expect("connect")
}

/// A lone node's config in `dir`, with no initial membership (tests that
/// expect it not to start).
pub fn single_node_config(dir: &std::path::Path) -> NodeConfig {
    NodeConfig {
        id: 1,
        insecure: false,
        tls: Some(tls_config(1)),
        auth: Default::default(),
        raft_addr: "127.0.0.1:1".into(),
        api_addr: "127.0.0.1:2".into(),
        http_addr: None,
        advertise_raft_addr: None,
        advertise_api_addr: None,
        data_dir: dir.join("node1"),
        initial_members: Vec::new(),
        raft: timing(),
        write_timeout_ms: 3_000,
        max_batch_commands: 1024,
        scheduler: Default::default(),
        storage: Default::default(),
        backup: Default::default(),
        outbound: Default::default(),
        connections: Default::default(),
        metrics: Default::default(),
        telemetry: Default::default(),
        fault_injection: Default::default(),
    }
}

async fn local_listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port")
}

impl TestCluster {
    /// Starts `n` voters, bootstrapped together, with `tweak` applied to every config.
    pub async fn start(n: u64, tweak: impl Fn(&mut NodeConfig)) -> Self {
        // This test binary may switch deliberate defects on (`tweak` does).
        raftflow_server::fault::permit();
        let dir = TempDir::new().expect("temp dir");
        let mut listeners = Vec::new();
        for _ in 0..n {
            listeners.push((local_listener().await, local_listener().await));
        }
        let peers: Vec<PeerConfig> = listeners
            .iter()
            .enumerate()
            .map(|(i, (r, a))| PeerConfig {
                id: i as u64 + 1,
                raft_addr: r.local_addr().unwrap().to_string(),
                api_addr: a.local_addr().unwrap().to_string(),
            })
            .collect();
        let auth = test_auth(dir.path());
        let connections = crate::harness_calls::test_connections(dir.path());
        let mut configs = Vec::new();
        for peer in &peers {
            let mut config = NodeConfig {
                id: peer.id,
                insecure: false,
                tls: Some(tls_config(peer.id)),
                auth: auth.clone(),
                raft_addr: peer.raft_addr.clone(),
                api_addr: peer.api_addr.clone(),
                data_dir: dir.path().join(format!("node{}", peer.id)),
                initial_members: peers.clone(),
                http_addr: Some("127.0.0.1:0".into()),
                advertise_raft_addr: None,
                advertise_api_addr: None,
                raft: timing(),
                write_timeout_ms: 3_000,
                max_batch_commands: 1024,
                scheduler: Default::default(),
                storage: Default::default(),
                backup: Default::default(),
                outbound: Default::default(),
                connections: connections.clone(),
                metrics: Default::default(),
                telemetry: Default::default(),
                fault_injection: Default::default(),
            };
            tweak(&mut config);
            config.validate().expect("test config is valid");
            configs.push(config);
        }
        let mut nodes = Vec::new();
        for (config, (raft, api)) in configs.iter().zip(listeners) {
            nodes.push(Some(
                NodeHandle::start_with_listeners(config.clone(), raft, api)
                    .await
                    .expect("node starts"),
            ));
        }
        Self {
            _dir: dir,
            configs,
            nodes,
        }
    }

    /// Starts one more node, with no initial membership: it joins only when
    /// added as a learner.
    pub async fn add_node(&mut self) -> u64 {
        let id = self.nodes.len() as u64 + 1;
        let (raft, api) = (local_listener().await, local_listener().await);
        let mut config = self.configs[0].clone();
        config.id = id;
        config.raft_addr = raft.local_addr().unwrap().to_string();
        config.api_addr = api.local_addr().unwrap().to_string();
        config.data_dir = self._dir.path().join(format!("node{id}"));
        config.initial_members.clear();
        if config.tls.is_some() {
            config.tls = Some(tls_config(id));
        }
        config.validate().expect("test config is valid");
        self.nodes.push(Some(
            NodeHandle::start_with_listeners(config.clone(), raft, api)
                .await
                .expect("node starts"),
        ));
        self.configs.push(config);
        id
    }

    pub fn node(&self, id: u64) -> &NodeHandle {
        self.nodes[id as usize - 1]
            .as_ref()
            .expect("node is running")
    }

    pub fn running(&self) -> impl Iterator<Item = &NodeHandle> {
        self.nodes.iter().flatten()
    }

    pub fn endpoints(&self) -> Vec<String> {
        self.configs.iter().map(|c| c.api_addr.clone()).collect()
    }

    /// A client of the cluster once it leads, with `definition` registered
    /// as state machine `name`: the set-up most tests share.
    pub async fn client_with(&self, name: &str, definition: &str) -> Client {
        self.wait_leader(Duration::from_secs(30)).await;
        let client = self.client();
        client
            .create_state_machine(name, definition, "")
            .await
            .expect("the state machine registers");
        client
    }

    pub fn client(&self) -> Client {
        self.client_at(&self.endpoints())
    }

    /// A client of some of the nodes, over TLS with the admin token when
    /// the cluster runs them.
    pub fn client_at(&self, endpoints: &[String]) -> Client {
        let tls = self.configs[0].tls.is_some().then(client_tls);
        let client = Client::with_tls(endpoints, tls).expect("client");
        if self.configs[0].insecure {
            return client;
        }
        client.with_token(admin_secret()).expect("token")
    }

    /// A client of the whole cluster sending `secret` (another token).
    pub fn client_with_token(&self, secret: &str) -> Client {
        Client::with_tls(&self.endpoints(), Some(client_tls()))
            .expect("client")
            .with_token(secret)
            .expect("token")
    }

    /// Waits until some running node is leader and every running node knows it.
    pub async fn wait_leader(&self, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        loop {
            let leaders: Vec<Option<u64>> = self
                .running()
                .map(|n| n.raft().metrics().borrow_watched().current_leader)
                .collect();
            if let Some(Some(leader)) = leaders.first() {
                let agreed = leaders.iter().all(|l| *l == Some(*leader));
                let alive = self
                    .nodes
                    .get(*leader as usize - 1)
                    .is_some_and(|n| n.is_some());
                if agreed && alive {
                    return *leader;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no agreed leader within {timeout:?}: {leaders:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until every running node applies the log by `version` (a new
    /// cluster raises it to the newest one by itself, shortly after its
    /// first leader takes over).
    pub async fn wait_apply_version(&self, version: u32, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let active: Vec<u32> = self
                .running()
                .map(|n| n.context.reader.apply_versions().0)
                .collect();
            if active.iter().all(|v| *v == version) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "apply versions {active:?}, not {version}, after {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until every running node applied at least `index`.
    pub async fn wait_applied(&self, index: u64, timeout: Duration) {
        for node in self.running() {
            node.raft()
                .wait(Some(timeout))
                .applied_index_at_least(Some(index), "applied index")
                .await
                .unwrap_or_else(|e| panic!("node {} did not apply {index}: {e}", node.context.id));
        }
    }

    pub async fn stop(&mut self, id: u64) {
        if let Some(node) = self.nodes[id as usize - 1].take() {
            node.shutdown().await;
        }
    }

    /// Stops node `id` as SIGTERM does: a leader hands leadership over first.
    pub async fn stop_gracefully(&mut self, id: u64) {
        if let Some(node) = self.nodes[id as usize - 1].take() {
            node.shutdown_gracefully().await;
        }
    }

    /// Restarts a stopped node from its own data, on its old ports.
    pub async fn restart(&mut self, id: u64) {
        assert!(
            self.nodes[id as usize - 1].is_none(),
            "node {id} is still running"
        );
        let config = self.configs[id as usize - 1].clone();
        let deadline = Instant::now() + Duration::from_secs(10);
        // The old sockets may linger for a moment after shutdown.
        let node = loop {
            match NodeHandle::start(config.clone()).await {
                Ok(node) => break node,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("restart of node {id} retried: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("node {id} did not restart: {e}"),
            }
        };
        self.nodes[id as usize - 1] = Some(node);
    }

    /// Waits until every running node reports the same applied index and
    /// state digest. (The leader keeps proposing its own commands, such as
    /// its epoch, so replicas are compared at one index.)
    pub async fn wait_same_digest(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let digests = self.digests();
            if digests
                .iter()
                .all(|d| (d.1, &d.2) == (digests[0].1, &digests[0].2))
            {
                return;
            }
            let applied: Vec<u64> = digests.iter().map(|d| d.1).collect();
            if applied.iter().all(|a| *a == applied[0]) {
                panic!("replicas diverge at the same applied index: {digests:?}");
            }
            assert!(
                Instant::now() < deadline,
                "replicas did not converge within {timeout:?}: {digests:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// (applied index, digest) of every running node.
    pub fn digests(&self) -> Vec<(u64, u64, String)> {
        self.running()
            .map(|n| {
                let (applied, digest) = n.context.reader.digest().expect("digest");
                (n.context.id, applied, digest)
            })
            .collect()
    }

    pub async fn shutdown(mut self) {
        for id in 1..=self.nodes.len() as u64 {
            self.stop(id).await;
        }
    }
}

/// A bare HTTP/1.1 request over TLS to a node's HTTP address: (status
/// code, body).
pub async fn http(addr: std::net::SocketAddr, method: &str, path: &str) -> (u16, String) {
    http_as(addr, method, path, Some(admin_secret())).await
}

/// `http` sending `token` as the bearer (none: no authorization header).
pub async fn http_as(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> (u16, String) {
    let authorization = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = authorization
        .iter()
        .map(|a| ("Authorization", a.as_str()))
        .collect();
    let (status, _, body) = http_request(addr, method, path, &headers, "").await;
    (status, body)
}

/// One HTTPS request with these headers and body: the status, the response
/// head (status line and headers) and the body.
pub async fn http_request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut stream = tls_connector()
        .connect(addr.ip().into(), tcp)
        .await
        .expect("TLS handshake with the node's HTTP port");
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    // A server that closes without close_notify is fine here.
    let _ = stream.read_to_string(&mut response).await;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (status, head.to_string(), body.to_string())
}

/// A TLS connector trusting the test CA.
pub fn tls_connector() -> tokio_rustls::TlsConnector {
    raftflow_server::tls::install_provider();
    let mut roots = rustls::RootCertStore::empty();
    let chain = raftflow_server::tls::files::read_chain("ca", &certs().ca).expect("test CA");
    for cert in chain {
        roots.add(cert).expect("test CA");
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
}
