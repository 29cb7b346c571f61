//! Every release opens the data directory release 0.1.0 wrote
//! (`tests/fixtures/release-0.1.0`, written by `fixture_writer.rs`), digests
//! it as 0.1.0 did, recovers from the entry that stopped every 0.1.0 node,
//! and runs the executions it left open to their end, on replicas that agree.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use raftflow_client::{Client, Worker};
use raftflow_server::{NodeConfig, NodeHandle};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::net::TcpListener;

use crate::harness::{timing, TestCluster};

const WAIT: Duration = Duration::from_secs(30);

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/release-0.1.0")
}

fn manifest() -> Value {
    let text = std::fs::read_to_string(fixture_dir().join("fixture.json")).expect("fixture.json");
    serde_json::from_str(&text).expect("fixture.json is JSON")
}

/// A private copy of the fixture's data directory: tests never write to it.
fn copy_fixture(to: &Path) {
    copy_dir(&fixture_dir().join("node1"), to);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn the_release_fixture_opens_and_digests_as_it_was_written() {
    let manifest = manifest();
    let dir = TempDir::new().unwrap();
    for copy in ["a", "b"] {
        let path = dir.path().join(copy);
        copy_fixture(&path);
        let (_log, sm) = raftflow_store::open(&path).expect("this release opens 0.1.0's data");
        let (applied, digest) = sm.reader().digest().unwrap();
        assert_eq!(applied, manifest["applied_index"].as_u64().unwrap());
        assert_eq!(digest, manifest["digest"].as_str().unwrap(), "copy {copy}");
        assert_eq!(
            sm.reader().apply_versions().0,
            1,
            "0.1.0's state is at version 1"
        );
    }
}

/// A cluster whose node 1 runs on a copy of the fixture.
async fn cluster_on_fixture() -> TestCluster {
    let dir = TempDir::new().unwrap();
    let data_dir = dir.path().join("node1");
    copy_fixture(&data_dir);
    let raft = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = NodeConfig {
        id: 1,
        insecure: false,
        tls: Some(crate::harness::tls_config(1)),
        auth: crate::harness::test_auth(dir.path()),
        raft_addr: raft.local_addr().unwrap().to_string(),
        api_addr: api.local_addr().unwrap().to_string(),
        data_dir,
        initial_members: Vec::new(),
        http_addr: None,
        advertise_raft_addr: None,
        advertise_api_addr: None,
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
    };
    config.validate().expect("valid");
    let node = NodeHandle::start_with_listeners(config.clone(), raft, api)
        .await
        .expect("this release starts on 0.1.0's data");
    TestCluster {
        _dir: dir,
        configs: vec![config],
        nodes: vec![Some(node)],
    }
}

fn fixture_worker(client: Arc<Client>) -> Worker {
    Worker::new(client, "fixture-reader")
        .concurrency(4)
        .poll_timeout(Duration::from_secs(1))
        .handle("work", |_| async {
            Ok(json!({"worked": true}).to_string())
        })
        .handle("flaky", |_| async {
            Ok(json!("second attempt").to_string())
        })
        .handle("slow", |_| async { Ok(json!("slow done").to_string()) })
}

/// Every execution of the fixture, with the status it must end in.
const EXPECTED: &[(&str, &str)] = &[
    ("pipeline:done-1", "SUCCEEDED"),
    ("pipeline:failed-1", "FAILED"),
    ("pipeline:stopped-1", "ABORTED"),
    ("pipeline:held-1", "SUCCEEDED"),
    ("callback:approval-1", "SUCCEEDED"),
    ("waiter:nap-1", "SUCCEEDED"),
    ("retrier:retry-1", "SUCCEEDED"),
    ("heartbeat:silent-1", "SUCCEEDED"),
    ("pipeline:ready-1", "SUCCEEDED"),
    ("waiter:nap-after-snapshot", "SUCCEEDED"),
    ("pipeline:ready-after-snapshot", "SUCCEEDED"),
    ("poison:poison-1", "FAILED"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_release_fixture_runs_its_open_executions_to_their_end() {
    let manifest = manifest();
    let mut cluster = cluster_on_fixture().await;
    cluster.wait_leader(WAIT).await;
    let client = Arc::new(cluster.client());

    // The entry that stopped every 0.1.0 node now fails its execution.
    let poison = client.wait_for_end("poison:poison-1").await.unwrap();
    assert_eq!(poison.status, "FAILED");
    assert_eq!(poison.error, "States.Runtime");
    assert!(poison.cause.contains("TimeoutSeconds"), "{}", poison.cause);

    // A callback handler kept its token across the upgrade.
    let token = manifest["callback_token"].as_str().unwrap();
    client
        .complete_task(token, r#"{"approved": true}"#)
        .await
        .unwrap();

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(fixture_worker(client.clone()).run(async {
        stopped.await.ok();
    }));
    for (id, status) in EXPECTED {
        let info = client.wait_for_end(id).await.unwrap();
        assert_eq!(&info.status, status, "{id}: {info:?}");
    }
    let silent = client
        .describe_execution("heartbeat:silent-1")
        .await
        .unwrap();
    assert!(silent.output.contains("recovered"), "{}", silent.output);
    // Each execution ran the version of `pipeline` it started on.
    let v1 = client.describe_execution("pipeline:held-1").await.unwrap();
    assert_eq!((v1.version, v1.output.as_str()), (1, r#"{"worked":true}"#));
    let v2 = client.describe_execution("pipeline:ready-1").await.unwrap();
    assert_eq!(v2.version, 2);
    assert!(v2.output.contains(r#""version":"v2""#), "{}", v2.output);
    stop.send(()).ok();
    worker.await.unwrap();

    // Two new replicas catch up from the upgraded node and agree with it.
    for _ in 0..2 {
        let id = cluster.add_node().await;
        let node = cluster.node(id);
        client
            .add_learner(id, &node.raft_addr.to_string(), &node.api_addr.to_string())
            .await
            .expect("learner added");
    }
    cluster.wait_same_digest(WAIT).await;
    cluster.shutdown().await;
}

/// An attempt 0.1.0 opened keeps its plain token after the cluster is
/// raised to the newest apply version, whose new attempts carry a secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_callback_the_release_opened_reports_with_its_plain_token_after_the_raise() {
    let manifest = manifest();
    let cluster = cluster_on_fixture().await;
    cluster.wait_leader(WAIT).await;
    let client = cluster.client();
    client.upgrade_apply_version(0).await.expect("the raise");
    let newest = raftflow_store::version::APPLY_VERSION_MAX;
    cluster.wait_apply_version(newest, WAIT).await;
    let reader = cluster.node(1).context.reader.clone();
    let deadline = std::time::Instant::now() + WAIT;
    while reader.acl().bootstrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "no ACL bootstrap after the raise"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    client
        .start_execution("callback", Some("after-raise"), "{}")
        .await
        .unwrap();
    let approve = vec!["approve".to_string()];
    let sealed = loop {
        let task = client.poll_task(&approve, "w", 10_000).await.unwrap();
        let task = task.expect("the new callback task is handed out");
        if task.execution_id == "callback:after-raise" {
            let input: Value = serde_json::from_str(&task.input).unwrap();
            break input["token"].as_str().unwrap().to_string();
        }
    };
    let (attempt, secret) = raftflow_core::task_token::split(&sealed);
    assert_eq!(attempt, "callback:after-raise#1");
    assert!(secret.is_some(), "a new attempt carries a secret: {sealed}");
    let old = manifest["callback_token"].as_str().unwrap();
    assert!(raftflow_core::task_token::split(old).1.is_none());
    client
        .complete_task(old, "{}")
        .await
        .expect("the old token reports");
    client
        .complete_task(&sealed, "{}")
        .await
        .expect("the new one too");
    for id in ["callback:approval-1", "callback:after-raise"] {
        assert_eq!(client.wait_for_end(id).await.unwrap().status, "SUCCEEDED");
    }
    cluster.shutdown().await;
}
