//! Spike for issue #21: one writer's commit on openraft 0.10 with the
//! leader's fsync overlapped (`--append async`) or not (`sync`), and
//! replication streamed (`--network stream`) or one request at a time
//! (`unary`). Three node processes on loopback gRPC, the same load as
//! `raftflow bench log` from this process:
//!
//!   spike-openraft010 bench --append async --network stream --writers 1 --seconds 5

mod compat;
mod net;
mod store;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use openraft::{BasicNode, Config, SnapshotPolicy};

pub mod pb {
    tonic::include_proto!("spike");
}

openraft::declare_raft_types!(
    pub TypeConfig:
        D = u64,
        R = u64,
);

pub type Raft = openraft::Raft<TypeConfig, store::Machine>;

const BASE_PORT: u16 = 47_100;

fn addr(id: u64) -> String {
    format!("127.0.0.1:{}", BASE_PORT + id as u16)
}

fn flag(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_string())
}

async fn node(id: u64, asynchronous: bool, stream: bool) {
    let config = Config {
        heartbeat_interval: 100,
        election_timeout_min: 300,
        election_timeout_max: 600,
        snapshot_policy: SnapshotPolicy::Never,
        // Replicate what `append` wrote before its flush is reported.
        broadcast_submitted_on_append: Some(std::env::var("SPIKE_BROADCAST").map_or(true, |v| v == "1")),
        ..Default::default()
    };
    let config = Arc::new(config.validate().expect("a valid config"));
    let dir = std::env::temp_dir().join(format!("spike-openraft010-{id}.log"));
    let log = store::LogStore::open(&dir, asynchronous);
    let raft = Raft::new(id, config, net::Factory { stream }, log, store::Machine::default())
        .await
        .expect("raft starts");
    let service = pb::raft_server::RaftServer::new(net::Service { raft: raft.clone() });
    let listener = tokio::net::TcpListener::bind(addr(id)).await.expect("bind");
    // Nagle off on every accepted connection: tonic's own `tcp_nodelay`
    // covers only listeners it binds (raftflow's "40 ms that was not ours").
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener).map(|s| {
        s.inspect(|s| {
            let _ = s.set_nodelay(true);
        })
    });
    if id == 1 {
        let raft = raft.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let nodes: u64 = std::env::var("SPIKE_NODES").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
            let members: BTreeMap<u64, BasicNode> = (1..=nodes).map(|i| (i, BasicNode::new(addr(i)))).collect();
            raft.initialize(members).await.expect("initialize");
        });
    }
    tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .add_service(service)
        .serve_with_incoming(incoming)
        .await
        .expect("serve");
}

/// The node that takes writes.
async fn leader() -> pb::raft_client::RaftClient<tonic::transport::Channel> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        for id in 1..=3 {
            let Ok(mut client) = pb::raft_client::RaftClient::connect(format!("http://{}", addr(id))).await else {
                continue;
            };
            if client.write(net::encode(&0u64)).await.is_ok() {
                return client;
            }
        }
        assert!(Instant::now() < deadline, "no leader");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * (sorted.len().max(1) - 1) as f64).round() as usize;
    sorted.get(rank).copied().unwrap_or(0.0)
}

async fn bench(args: &[String]) {
    let exe = std::env::current_exe().expect("exe");
    let mut children: Vec<_> = (1..=3)
        .map(|id| {
            std::process::Command::new(&exe)
                .args(["node", "--id", &id.to_string()])
                .args(["--append", &flag(args, "--append", "async")])
                .args(["--network", &flag(args, "--network", "stream")])
                .spawn()
                .expect("a node process")
        })
        .collect();
    let writers: usize = flag(args, "--writers", "1").parse().expect("--writers");
    let seconds: u64 = flag(args, "--seconds", "5").parse().expect("--seconds");
    let client = leader().await;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let mut client = client.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut i = 0u64;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    if client.write(net::encode(&i)).await.is_ok() {
                        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                    i += 1;
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("a writer"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    for child in &mut children {
        let _ = child.kill();
        let _ = child.wait();
    }
    let record = serde_json::json!({"bench": "spike-openraft010", "append": flag(args, "--append", "async"),
        "network": flag(args, "--network", "stream"), "writers": writers, "commands": all.len(),
        "commands_per_s": all.len() as f64 / elapsed, "p50_ms": percentile(&all, 50.0), "p99_ms": percentile(&all, 99.0)});
    println!("{record}");
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("node") => {
            let id = flag(&args, "--id", "1").parse().expect("--id");
            node(id, flag(&args, "--append", "async") == "async", flag(&args, "--network", "stream") == "stream").await
        }
        Some("bench") => bench(&args).await,
        Some("compat") => compat::run(),
        _ => eprintln!("usage: spike-openraft010 bench [--append sync|async] [--network unary|stream] [--writers N] [--seconds S]"),
    }
}
