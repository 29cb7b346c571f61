//! Three real `raftflow server` processes, and the faults done to them.
//!
//! Each node runs in its own network namespace when the harness can make
//! them (root and iproute2); otherwise on 127.0.0.1 with free ports, and
//! the network faults are skipped with a notice.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::netns::Namespaces;

pub const NODES: usize = 3;

pub struct Cluster {
    /// This run's CA and certificates (TLS on every port, as in production).
    certs: raftflow_server::tls::local::LocalCerts,
    bin: PathBuf,
    dir: PathBuf,
    pub endpoints: Vec<String>,
    children: Vec<Option<Child>>,
    /// Each node's config without its `[fault_injection]` section.
    configs: Vec<String>,
    defect: bool,
    /// Each node's clock offset (the `clock-step` and `skewed-restart` faults).
    clock_offsets_ms: Vec<i64>,
    /// Declared last: namespaces go after the processes in them.
    net: Option<Namespaces>,
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A CA and certificates for this run's nodes, valid for the addresses
/// they listen on (namespace addresses or 127.0.0.1).
fn make_certs(
    dir: &Path,
    addrs: &[(String, String)],
) -> anyhow::Result<raftflow_server::tls::local::LocalCerts> {
    let hosts = raftflow_server::tls::local::hosts_of(
        &["127.0.0.1"],
        addrs.iter().map(|(raft, _)| raft.as_str()),
    );
    let ids: Vec<u64> = (1..=addrs.len() as u64).collect();
    Ok(raftflow_server::tls::local::ensure(
        &dir.join("certs"),
        &ids,
        &hosts,
    )?)
}

impl Cluster {
    /// Writes the node configs under `dir` and starts the three nodes.
    /// With `collector_port`, the nodes export spans to the harness there.
    pub fn start(
        bin: &Path,
        dir: &Path,
        opts: &crate::Options,
        collector_port: Option<u16>,
    ) -> anyhow::Result<Self> {
        let (defect, timing) = (opts.defect, opts.timing);
        let net = if opts.netns {
            match Namespaces::create(NODES) {
                Ok(net) => Some(net),
                Err(e) if std::env::var_os("RAFTFLOW_REQUIRE_NETNS").is_some() => {
                    anyhow::bail!("network namespaces are required (RAFTFLOW_REQUIRE_NETNS) but could not be made: {e}")
                }
                Err(e) => {
                    println!("notice: no network namespaces ({e}); network faults are skipped");
                    None
                }
            }
        } else {
            None
        };
        let mut addrs = Vec::new();
        for i in 1..=NODES {
            addrs.push(match &net {
                Some(net) => (
                    format!("{}:7100", net.addr(i)),
                    format!("{}:7200", net.addr(i)),
                ),
                None => (
                    format!("127.0.0.1:{}", free_port()?),
                    format!("127.0.0.1:{}", free_port()?),
                ),
            });
        }
        let members: String = addrs
            .iter()
            .enumerate()
            .map(|(i, (raft, api))| {
                format!("[[initial_members]]\nid = {}\nraft_addr = \"{raft}\"\napi_addr = \"{api}\"\n\n", i + 1)
            })
            .collect();
        let certs = make_certs(dir, &addrs)?;
        // The nodes bootstrap the ACL system with this token; the harness's
        // clients and workers send it.
        let token_file = dir.join("admin.token");
        raftflow_server::auth::secret::write_file(
            &token_file,
            &raftflow_server::auth::secret::new_secret(),
        )?;
        // One cluster key seals the subscription's signing secret (rule 9).
        let connections_key = dir.join("connections.key");
        raftflow_server::auth::secret::write_file(
            &connections_key,
            &raftflow_server::connections::keys::new_key_text(),
        )?;
        let mut configs = Vec::new();
        for (i, (raft, api)) in addrs.iter().enumerate() {
            let id = i + 1;
            let (cert, key) = certs.node(id as u64);
            configs.push(format!(
                "id = {id}\nraft_addr = \"{raft}\"\napi_addr = \"{api}\"\ndata_dir = \"data/node{id}\"\nwrite_timeout_ms = 3000\n\n{members}[raft]\nheartbeat_interval_ms = {}\nelection_timeout_min_ms = {}\nelection_timeout_max_ms = {}\nleader_lease_ms = {}\n\n[tls]\nca_file = {:?}\ncert_file = {:?}\nkey_file = {:?}\n\n[auth]\nbootstrap_token_file = {:?}\n\n[outbound]\nallow_cidrs = [\"127.0.0.0/8\", \"10.213.0.0/16\"]\nallow_plain_http = true\n\n[connections]\nkey_file = {:?}\n",
                timing.heartbeat_ms, timing.election_min_ms, timing.election_max_ms, timing.lease_ms,
                certs.ca.display().to_string(), cert.display().to_string(), key.display().to_string(),
                token_file.display().to_string(), connections_key.display().to_string()
            ));
        }
        if let Some(port) = collector_port {
            let host = net
                .as_ref()
                .map_or("127.0.0.1".into(), |n| n.harness_addr());
            for config in &mut configs {
                config.push_str(&format!(
                    "\n[telemetry]\notlp_endpoint = \"http://{host}:{port}\"\nexport_interval_ms = 200\n"
                ));
            }
        }
        let mut cluster = Cluster {
            certs,
            bin: bin.to_path_buf(),
            dir: dir.to_path_buf(),
            endpoints: addrs.into_iter().map(|(_, api)| api).collect(),
            children: (0..NODES).map(|_| None).collect(),
            configs,
            defect,
            clock_offsets_ms: vec![0; NODES],
            net,
        };
        for id in 1..=NODES as u64 {
            cluster.write_config(id)?;
            cluster.spawn(id)?;
        }
        Ok(cluster)
    }

    /// The admin token the nodes bootstrap with.
    pub fn token(&self) -> anyhow::Result<String> {
        Ok(raftflow_client::read_token_file(
            &self.dir.join("admin.token"),
        )?)
    }

    /// What the harness's clients need to reach the nodes.
    pub fn client_tls(&self) -> anyhow::Result<raftflow_client::ClientTls> {
        let (cert, key) = &self.certs.client;
        Ok(raftflow_client::ClientTls::from_files(
            &self.certs.ca,
            Some(cert),
            Some(key),
        )?)
    }

    /// Writes node `id`'s config: its base text and the fault switches on.
    fn write_config(&self, id: u64) -> std::io::Result<()> {
        let mut text = self.configs[id as usize - 1].clone();
        let offset_ms = self.clock_offsets_ms[id as usize - 1];
        if self.defect || offset_ms != 0 {
            text.push_str("\n[fault_injection]\n");
        }
        if self.defect {
            text.push_str("accept_any_attempt = true\n");
        }
        if offset_ms != 0 {
            text.push_str(&format!("clock_offset_ms = {offset_ms}\n"));
        }
        std::fs::write(self.dir.join(format!("node{id}.toml")), text)
    }

    /// Sets node `id`'s clock offset in its config; a running node steps its
    /// clock at once (SIGUSR1 to the test node), a stopped one starts with
    /// it. Needs the `raftflow-fault-node` binary.
    pub fn set_clock(&mut self, id: u64, offset_ms: i64) -> bool {
        self.clock_offsets_ms[id as usize - 1] = offset_ms;
        if self.write_config(id).is_err() {
            return false;
        }
        match self.pid(id) {
            Some(pid) => kill(pid, Signal::SIGUSR1).is_ok(),
            None => true,
        }
    }

    /// The address the nodes reach the harness at (its HTTP endpoint).
    pub fn harness_ip(&self) -> String {
        self.net
            .as_ref()
            .map_or_else(|| "127.0.0.1".to_string(), |net| net.harness_addr())
    }

    pub fn has_network_faults(&self) -> bool {
        self.net.is_some()
    }

    /// Starts (or restarts) node `id`; its log goes to `node<id>.log`.
    pub fn spawn(&mut self, id: u64) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("node{id}.log")))?;
        let config = self.dir.join(format!("node{id}.toml"));
        let mut command = match &self.net {
            // `ip netns exec` execs the server, so the child's pid is the node's.
            Some(net) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", &net.netns(id as usize)])
                    .arg(&self.bin);
                c
            }
            None => Command::new(&self.bin),
        };
        command
            .args(["server", "--config"])
            .arg(config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log);
        self.children[id as usize - 1] = Some(command.spawn()?);
        Ok(())
    }

    fn pid(&self, id: u64) -> Option<Pid> {
        self.children[id as usize - 1]
            .as_ref()
            .map(|c| Pid::from_raw(c.id() as i32))
    }

    /// SIGKILL, and waits until the process is gone. False if not running.
    pub fn kill(&mut self, id: u64) -> bool {
        match self.children[id as usize - 1].take() {
            Some(mut child) => child.kill().is_ok() && child.wait().is_ok(),
            None => false,
        }
    }

    /// SIGSTOP; true once the kernel reports the process stopped.
    pub fn pause(&self, id: u64) -> bool {
        let Some(pid) = self.pid(id) else {
            return false;
        };
        if kill(pid, Signal::SIGSTOP).is_err() {
            return false;
        }
        for _ in 0..200 {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // The state is the first field after the parenthesised name.
            if stat
                .rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('T'))
            {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        false
    }

    pub fn resume(&self, id: u64) -> bool {
        self.pid(id)
            .is_some_and(|pid| kill(pid, Signal::SIGCONT).is_ok())
    }

    pub fn isolate(&self, id: u64) -> Result<(), String> {
        match &self.net {
            Some(net) => net.isolate(id as usize),
            None => Err("no network namespaces".into()),
        }
    }

    pub fn heal(&self, id: u64) -> Result<(), String> {
        match &self.net {
            Some(net) => net.heal(id as usize),
            None => Err("no network namespaces".into()),
        }
    }

    pub fn is_running(&self, id: u64) -> bool {
        self.children[id as usize - 1].is_some()
    }

    /// The nodes that exited by themselves, each with the last line of its
    /// log (a refused config, a port in use): why no leader came.
    pub fn exited(&mut self) -> Vec<String> {
        let mut found = Vec::new();
        for (i, child) in self.children.iter_mut().enumerate() {
            let Some(Ok(Some(status))) = child.as_mut().map(|c| c.try_wait()) else {
                continue;
            };
            let log = std::fs::read_to_string(self.dir.join(format!("node{}.log", i + 1)));
            let last = log
                .ok()
                .and_then(|text| text.lines().last().map(str::to_string))
                .unwrap_or_default();
            found.push(format!("node {} exited ({status}): {last}", i + 1));
        }
        found
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for id in 1..=NODES as u64 {
            let _ = self.resume(id);
            self.kill(id);
        }
    }
}
