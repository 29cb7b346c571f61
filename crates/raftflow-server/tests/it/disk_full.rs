//! Running out of disk (docs/operations.md, "Running out of disk"): each
//! node's data on its own small tmpfs, executions with large inputs
//! started until a follower's disk falls below the floor. The cluster
//! refuses new starts with RESOURCE_EXHAUSTED naming the node, raises a
//! replicated NOSPACE alarm, keeps serving reads and lets the running
//! executions finish; no Raft core stops; once space is back the alarm
//! clears by itself and starts are accepted again. Nothing acknowledged is
//! lost.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use raftflow_client::{Client, ClientError};
use raftflow_server::disk_guard::StorageConfig;
use raftflow_server::raft_service::WatchReceiver as _;
use rand::Rng;

use crate::harness::TestCluster;

const WAIT: Duration = Duration::from_secs(30);
const FS_MIB: u64 = 512;
const FLOOR_MIB: u64 = 192;
/// Free space the ballast leaves above the floor on the chosen follower.
const HEADROOM_MIB: u64 = 12;
const ONE_TASK: &str = r#"{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "activity:disk.work", "End": true}}}"#;

/// One tmpfs per node, unmounted on drop.
struct SmallDisks {
    _root: tempfile::TempDir,
    mounts: Vec<PathBuf>,
}

impl SmallDisks {
    /// `None` when this process may not mount (not root): said on stderr.
    fn mount(n: usize) -> Option<Self> {
        if !nix::unistd::geteuid().is_root() {
            assert!(
                std::env::var("RAFTFLOW_REQUIRE_MOUNT").as_deref() != Ok("1"),
                "RAFTFLOW_REQUIRE_MOUNT=1 but this process is not root: it cannot mount the small disks"
            );
            eprintln!("skipped: mounting a tmpfs needs root");
            return None;
        }
        let root = tempfile::tempdir().unwrap();
        let mut mounts = Vec::new();
        for i in 1..=n {
            let dir = root.path().join(format!("disk{i}"));
            std::fs::create_dir(&dir).unwrap();
            let status = std::process::Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={FS_MIB}m"), "tmpfs"])
                .arg(&dir)
                .status()
                .expect("run mount");
            assert!(status.success(), "mount a tmpfs on {}", dir.display());
            mounts.push(dir);
        }
        Some(Self {
            _root: root,
            mounts,
        })
    }
}

impl Drop for SmallDisks {
    fn drop(&mut self) {
        for dir in &self.mounts {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(dir)
                .status();
        }
    }
}

fn free_bytes(dir: &Path) -> u64 {
    raftflow_server::disk_guard::measure(dir)
        .unwrap()
        .free_bytes
}

/// Fills `dir` until `leave_bytes` are free.
fn ballast(dir: &Path, leave_bytes: u64) -> PathBuf {
    let path = dir.join("ballast");
    let size = free_bytes(dir).saturating_sub(leave_bytes);
    std::fs::write(&path, vec![7u8; size as usize]).unwrap();
    path
}

/// An input of `bytes` random letters: lz4 cannot shrink it much.
fn big_input(bytes: usize) -> String {
    let mut rng = rand::thread_rng();
    let pad: String = (0..bytes)
        .map(|_| rng.gen_range(b'a'..=b'z') as char)
        .collect();
    format!(r#"{{"pad": "{pad}"}}"#)
}

/// Starts executions until the cluster refuses one: the acknowledged ids
/// and the refusal.
async fn start_until_refused(client: &Client) -> (Vec<String>, tonic::Status) {
    let mut ids = Vec::new();
    for i in 0..10_000 {
        match client
            .start_execution("disk", Some(&format!("e{i}")), &big_input(96 * 1024))
            .await
        {
            Ok(started) => ids.push(started.execution_id),
            Err(ClientError::Status(status)) => return (ids, status),
            Err(e) => panic!("start {i}: {e}"),
        }
    }
    panic!("{} starts were never refused", ids.len());
}

/// Waits until every node applied alarms satisfying `done`.
async fn wait_alarms(cluster: &TestCluster, done: impl Fn(&[u64]) -> bool) {
    for node in cluster.running() {
        let reader = &node.context.reader;
        let mut applied = reader.watch_applied();
        let reached = async {
            loop {
                let nodes: Vec<u64> = reader.alarms().unwrap().iter().map(|a| a.node).collect();
                if done(&nodes) {
                    return;
                }
                applied.changed().await.unwrap();
            }
        };
        tokio::time::timeout(WAIT, reached)
            .await
            .expect("the alarms reach every node");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_refuses_new_work_keeps_the_cluster_up_and_recovers_by_itself() {
    let Some(disks) = SmallDisks::mount(3) else {
        return;
    };
    let mounts = disks.mounts.clone();
    let cluster = TestCluster::start(3, move |config| {
        config.data_dir = mounts[config.id as usize - 1].join("data");
        config.storage = StorageConfig {
            min_free_mb: FLOOR_MIB,
            quota_mb: 0,
            check_interval_ms: 50,
        };
    })
    .await;
    let leader = cluster.wait_leader(WAIT).await;
    cluster
        .wait_apply_version(raftflow_store::version::APPLY_VERSION_MAX, WAIT)
        .await;
    let client = cluster.client_with("disk", ONE_TASK).await;
    let short = if leader == 1 { 2 } else { 1 };
    let ballast = ballast(
        &disks.mounts[short as usize - 1],
        (FLOOR_MIB + HEADROOM_MIB) << 20,
    );

    let (ids, refusal) = start_until_refused(&client).await;
    assert_eq!(
        refusal.code(),
        tonic::Code::ResourceExhausted,
        "{refusal:?}"
    );
    let message = refusal.message();
    assert!(
        message.contains("NOSPACE")
            && message.contains(&format!("node {short}"))
            && message.contains("storage.min_free_mb"),
        "the refusal names the cause: {message}"
    );
    assert!(
        !ids.is_empty(),
        "some starts were acknowledged before the floor"
    );
    eprintln!(
        "{} starts acknowledged before node {short} fell below the floor",
        ids.len()
    );
    // Hold the node well under the floor: RocksDB frees space on its own
    // (a flush lets it delete write-ahead logs, up to 64 MiB), which would
    // rightly clear the alarm mid-test. What is left still lets it flush.
    let held = disks.mounts[short as usize - 1].join("ballast-held");
    let hold_bytes =
        free_bytes(&disks.mounts[short as usize - 1]).saturating_sub((FLOOR_MIB - 56) << 20);
    std::fs::write(&held, vec![7u8; hold_bytes as usize]).unwrap();
    wait_alarms(&cluster, |nodes| nodes == [short]).await;

    // Reads are served, running executions finish, no Raft core stopped.
    let first = client.describe_execution(&ids[0]).await.unwrap();
    assert_eq!(first.status, "RUNNING");
    finish_all(&client, ids.len()).await;
    for node in cluster.running() {
        let metrics = node.raft().metrics().borrow_watched().clone();
        assert!(
            !matches!(metrics.state, openraft::ServerState::Shutdown),
            "node {} stopped: {:?}",
            node.context.id,
            metrics.running_state
        );
    }
    let refused_again = client.start_execution("disk", Some("late"), "{}").await;
    assert!(
        matches!(refused_again, Err(ClientError::Status(s)) if s.code() == tonic::Code::ResourceExhausted)
    );

    // Space comes back: the alarm clears by itself and new work is taken.
    std::fs::remove_file(&ballast).unwrap();
    std::fs::remove_file(&held).unwrap();
    wait_alarms(&cluster, |nodes| nodes.is_empty()).await;
    let late = client
        .start_execution("disk", Some("late"), "{}")
        .await
        .expect("a start after the alarm cleared");
    finish_all(&client, 1).await;
    let mut all: BTreeSet<String> = ids.into_iter().collect();
    all.insert(late.execution_id);
    for id in &all {
        let info = client.describe_execution(id).await.unwrap();
        assert_eq!(info.status, "SUCCEEDED", "{id}");
    }
    cluster.wait_same_digest(WAIT).await;
    cluster.shutdown().await;
    drop(disks);
}

/// Completes `n` tasks of `disk.work`.
async fn finish_all(client: &Client, n: usize) {
    for _ in 0..n {
        let task = client
            .poll_task(&["disk.work".into()], "disk-worker", 5_000)
            .await
            .unwrap()
            .expect("a task is ready");
        client
            .complete_task(&task.token, r#"{"ok": true}"#)
            .await
            .unwrap();
    }
}
