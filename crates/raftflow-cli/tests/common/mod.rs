//! A three-node cluster of real `raftflow` processes on ports the test allocates.

#![allow(dead_code)] // each test binary uses a different part

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_raftflow");

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Writes node1..node3.toml for a cluster on ports this test allocated.
pub fn write_configs(dir: &Path) -> Vec<String> {
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let members: String = ports
        .iter()
        .enumerate()
        .map(|(i, (r, a))| format!("[[initial_members]]\nid = {}\nraft_addr = \"127.0.0.1:{r}\"\napi_addr = \"127.0.0.1:{a}\"\n\n", i + 1))
        .collect();
    std::fs::create_dir_all(dir.join("cluster-config")).unwrap();
    raftflow_server::tls::local::ensure(&dir.join("data/certs"), &[1, 2, 3], &["127.0.0.1".into()])
        .unwrap();
    let secret = raftflow_server::auth::secret::new_secret();
    raftflow_server::auth::secret::write_file(&dir.join("data/admin.token"), &secret).unwrap();
    let key = raftflow_server::connections::keys::new_key_text();
    raftflow_server::auth::secret::write_file(&dir.join("data/connections.key"), &key).unwrap();
    for (i, (r, a)) in ports.iter().enumerate() {
        let id = i + 1;
        let text = format!(
            "id = {id}\nraft_addr = \"127.0.0.1:{r}\"\napi_addr = \"127.0.0.1:{a}\"\ndata_dir = \"../data/node{id}\"\nwrite_timeout_ms = 3000\n\n{members}[raft]\nheartbeat_interval_ms = 100\nelection_timeout_min_ms = 600\nelection_timeout_max_ms = 1200\n\n[tls]\nca_file = \"../data/certs/ca.pem\"\ncert_file = \"../data/certs/node-{id}.pem\"\nkey_file = \"../data/certs/node-{id}-key.pem\"\n\n[auth]\nbootstrap_token_file = \"../data/admin.token\"\n\n[connections]\nkey_file = \"../data/connections.key\"\n\n[outbound]\nallow_cidrs = [\"127.0.0.0/8\"]\nallow_plain_http = true\n",
        );
        std::fs::write(dir.join(format!("cluster-config/node{}.toml", i + 1)), text).unwrap();
    }
    ports
        .iter()
        .map(|(_, a)| format!("127.0.0.1:{a}"))
        .collect()
}

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub endpoints: Vec<String>,
    pub nodes: Vec<Option<Child>>,
}

impl Cluster {
    pub fn start() -> Self {
        let dir = tempfile::TempDir::new().unwrap();
        let endpoints = write_configs(dir.path());
        let mut cluster = Cluster {
            dir,
            endpoints,
            nodes: vec![None, None, None],
        };
        for id in 1..=3 {
            cluster.spawn(id);
        }
        cluster
    }

    pub fn config(&self, id: usize) -> PathBuf {
        self.dir
            .path()
            .join(format!("cluster-config/node{id}.toml"))
    }

    pub fn spawn(&mut self, id: usize) {
        // A name per start: a restart must not truncate the first log.
        let started_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let log = std::fs::File::create(self.dir.path().join(format!("node{id}.{started_ns}.log")))
            .unwrap();
        let child = Command::new(BIN)
            .args(["server", "--config"])
            .arg(self.config(id))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.nodes[id - 1] = Some(child);
    }

    pub fn cli(&self, args: &[&str]) -> Output {
        self.command()
            .arg("--endpoints")
            .arg(self.endpoints.join(","))
            .args(args)
            .output()
            .unwrap()
    }

    /// A client of this cluster, over TLS.
    pub fn client(&self) -> raftflow_client::Client {
        let certs = self.dir.path().join("data/certs");
        let tls = raftflow_client::ClientTls::from_files(
            &certs.join("ca.pem"),
            Some(&certs.join("client-local.pem")),
            Some(&certs.join("client-local-key.pem")),
        )
        .unwrap();
        let secret = raftflow_client::read_token_file(&self.token_file()).unwrap();
        raftflow_client::Client::with_tls(&self.endpoints, Some(tls))
            .unwrap()
            .with_token(&secret)
            .unwrap()
    }

    /// The cluster's first admin token (its nodes bootstrap with it).
    pub fn token_file(&self) -> PathBuf {
        self.dir.path().join("data/admin.token")
    }

    /// `raftflow` with this cluster's CA, client certificate and admin
    /// token in its environment, as a user would export them.
    pub fn command(&self) -> Command {
        let certs = self.dir.path().join("data/certs");
        let mut command = Command::new(BIN);
        command
            .env("RAFTFLOW_TOKEN_FILE", self.token_file())
            .env("RAFTFLOW_CA", certs.join("ca.pem"))
            .env("RAFTFLOW_CERT", certs.join("client-local.pem"))
            .env("RAFTFLOW_KEY", certs.join("client-local-key.pem"));
        command
    }

    pub fn status(&self) -> Vec<serde_json::Value> {
        let out = self.cli(&["-o", "json", "cluster", "status"]);
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    }

    pub fn wait_leader(&self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let leaders: Vec<u64> = self
                .status()
                .iter()
                .filter(|s| s["role"] == "leader")
                .filter_map(|s| s["id"].as_u64())
                .collect();
            if let [leader] = leaders.as_slice() {
                return *leader as usize;
            }
            assert!(
                Instant::now() < deadline,
                "no single leader within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A leader, and the newest apply version active on it: a new
    /// cluster raises it right after its first election, and the commands
    /// of later versions (connections, subscriptions) are refused until then.
    pub fn wait_newest_version(&self, timeout: Duration) {
        let leader = self.wait_leader(timeout);
        let deadline = Instant::now() + timeout;
        let newest = raftflow_store::version::APPLY_VERSION_MAX;
        loop {
            let status = self.status();
            let on_leader = status.iter().find(|s| s["id"] == leader as u64);
            if on_leader.is_some_and(|s| s["apply_version"] == newest) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "apply version {newest} not active within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn sigkill(&mut self, id: usize) {
        let mut child = self.nodes[id - 1].take().expect("running");
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
}

impl Cluster {
    /// Waits until all three nodes report the same applied index and state
    /// digest; the same index with different digests is a divergence.
    pub fn wait_converged(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let out = self.cli(&["-o", "json", "cluster", "status", "--digest"]);
            let status: Vec<serde_json::Value> =
                serde_json::from_slice(&out.stdout).unwrap_or_default();
            let pairs: Vec<(u64, String)> = status
                .iter()
                .filter_map(|s| {
                    Some((
                        s["applied_index"].as_u64()?,
                        s["state_digest"].as_str()?.to_string(),
                    ))
                })
                .collect();
            if pairs.len() == 3 && pairs.iter().all(|p| *p == pairs[0]) {
                return;
            }
            if pairs.len() == 3 && pairs.iter().all(|p| p.0 == pairs[0].0) {
                panic!("replicas diverge at the same applied index: {pairs:?}");
            }
            assert!(
                Instant::now() < deadline,
                "replicas did not converge: {pairs:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.nodes.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// One HTTP request's head (request line and headers) read off `socket`,
/// for the endpoints tests stand up for HTTP Tasks.
pub fn read_head(socket: &mut std::net::TcpStream) -> String {
    use std::io::Read;
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    while !text.contains("\r\n\r\n") {
        let n = socket.read(&mut buf).unwrap();
        assert!(n > 0, "the request ended early");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    text
}
