//! A node frozen with SIGSTOP and resumed keeps its clients' connections,
//! even when they cancelled many calls on their deadlines meanwhile (as
//! every client does). Before, the resumed node counted those cancelled,
//! never-accepted streams past h2's default of 20 and closed the connection
//! with GOAWAY `too_many_resets`, failing every call on it.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{free_port, BIN};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use raftflow_proto::v1::cluster_service_client::ClusterServiceClient;
use raftflow_proto::v1::StatusRequest;
use tonic::transport::Channel;

/// Calls cancelled on their deadline while the node is frozen: well past
/// h2's default limit of 20, within raftflow's bound.
const CANCELLED_CALLS: usize = 200;

fn single_node_config(dir: &std::path::Path) -> (std::path::PathBuf, String) {
    let (raft, api) = (free_port(), free_port());
    let text = format!(
        "id = 1\nraft_addr = \"127.0.0.1:{raft}\"\napi_addr = \"127.0.0.1:{api}\"\ndata_dir = \"data\"\ninsecure = true\n\n[[initial_members]]\nid = 1\nraft_addr = \"127.0.0.1:{raft}\"\napi_addr = \"127.0.0.1:{api}\"\n"
    );
    let path = dir.join("node1.toml");
    std::fs::write(&path, text).unwrap();
    (path, format!("http://127.0.0.1:{api}"))
}

/// Waits until the kernel shows process `pid` in `state` (`T`: stopped):
/// a signal is delivered after `kill` returns.
fn wait_state(pid: u32, state: char) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        // The state follows the command name, which is in parentheses.
        let now = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next());
        if now == Some(state) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "process {pid} is {now:?}, not {state}"
        );
        std::thread::yield_now();
    }
}

async fn status(client: &mut ClusterServiceClient<Channel>) -> Result<(), tonic::Status> {
    client.status(StatusRequest::default()).await.map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_node_keeps_connections_whose_calls_were_cancelled() {
    let dir = tempfile::TempDir::new().unwrap();
    let (config, endpoint) = single_node_config(dir.path());
    // h2 logs (at debug) when a client's resets pass its limit.
    let log_path = dir.path().join("node1.log");
    let mut node = Command::new(BIN)
        .args(["server", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info,h2=debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let channel = Channel::from_shared(endpoint).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let channel = loop {
        match channel.connect().await {
            Ok(ch) => break ch,
            Err(e) => assert!(tokio::time::Instant::now() < deadline, "{e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut client = ClusterServiceClient::new(channel);
    status(&mut client).await.expect("the node answers");

    let pid = Pid::from_raw(node.id() as i32);
    kill(pid, Signal::SIGSTOP).unwrap();
    wait_state(node.id(), 'T');
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..CANCELLED_CALLS {
        let mut client = client.clone();
        calls.spawn(async move {
            tokio::time::timeout(Duration::from_millis(200), status(&mut client)).await
        });
    }
    while let Some(outcome) = calls.join_next().await {
        assert!(outcome.unwrap().is_err(), "a frozen node answered");
    }
    kill(pid, Signal::SIGCONT).unwrap();

    // The same connection serves the next calls.
    for _ in 0..3 {
        status(&mut client)
            .await
            .expect("the connection survived the cancelled calls");
    }
    node.kill().unwrap();
    node.wait().unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        !log.contains("reached limit") && !log.contains("too_many_resets"),
        "the node refused the client's cancelled calls: {}",
        log.lines()
            .filter(|l| l.contains("reset"))
            .take(3)
            .collect::<Vec<_>>()
            .join("\n")
    );
}
