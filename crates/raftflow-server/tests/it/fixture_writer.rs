//! The program that wrote the release fixture under `tests/fixtures/`: a
//! one-node cluster's data directory, with every kind of state a release
//! leaves behind, and the entry that stopped every node of release 0.1.0.
//!
//! Run by hand, at the commit of the release whose data it should capture:
//!
//! ```sh
//! RAFTFLOW_FIXTURE_OUT=/tmp/fixture cargo test --workspace --test it -- \
//!     --ignored --exact fixture_writer::write_release_fixture
//! ```
//! It is a test only so that it builds with the test build (no second
//! RocksDB compile). `release_fixture.rs` holds the tests that read it.

use raftflow_server::raft_service::WatchReceiver as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use raftflow_client::Client;
use serde_json::json;

use crate::harness::TestCluster;

const WAIT: Duration = Duration::from_secs(30);

/// Version 1 of `pipeline`: one task whose timeout is retried, so that an
/// attempt that timed out while the cluster was down is run again.
pub const PIPELINE_V1: &str = r#"{"Comment": "v1", "StartAt": "Work", "States": {
  "Work": {"Type": "Task", "Resource": "activity:work", "TimeoutSeconds": 30,
    "Retry": [{"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 1, "MaxAttempts": 3}], "Next": "Done"},
  "Done": {"Type": "Succeed"}}}"#;

/// Version 2 of `pipeline`: the task's result kept beside the input, and a tag.
pub const PIPELINE_V2: &str = r#"{"Comment": "v2", "StartAt": "Work", "States": {
  "Work": {"Type": "Task", "Resource": "activity:work", "TimeoutSeconds": 30, "ResultPath": "$.work",
    "Retry": [{"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 1, "MaxAttempts": 3}], "Next": "Tag"},
  "Tag": {"Type": "Pass", "Result": "v2", "ResultPath": "$.version", "Next": "Done"},
  "Done": {"Type": "Succeed"}}}"#;

/// A callback task: it ends when someone reports its token.
pub const CALLBACK: &str = r#"{"StartAt": "Approve", "States": {
  "Approve": {"Type": "Task", "Resource": "activity:approve.waitForTaskToken",
    "Parameters": {"token.$": "$$.Task.Token"}, "End": true}}}"#;

pub const WAITER: &str = r#"{"StartAt": "Nap", "States": {
  "Nap": {"Type": "Wait", "Seconds": 20, "Next": "Done"}, "Done": {"Type": "Succeed"}}}"#;

/// A retry back-off timer armed by a failed first attempt.
pub const RETRIER: &str = r#"{"StartAt": "Try", "States": {
  "Try": {"Type": "Task", "Resource": "activity:flaky", "TimeoutSeconds": 60,
    "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 20, "MaxAttempts": 2}], "End": true}}}"#;

/// A heartbeat deadline on a task whose worker went silent.
pub const HEARTBEAT: &str = r#"{"StartAt": "Slow", "States": {
  "Slow": {"Type": "Task", "Resource": "activity:slow", "TimeoutSeconds": 3000, "HeartbeatSeconds": 20,
    "Catch": [{"ErrorEquals": ["States.HeartbeatTimeout"], "ResultPath": "$.error", "Next": "Recovered"}], "End": true},
  "Recovered": {"Type": "Pass", "Result": "recovered", "ResultPath": "$.recovery", "End": true}}}"#;

/// The definition that stopped every node of release 0.1.0 at its first start.
pub const POISON: &str = r#"{"StartAt": "W", "TimeoutSeconds": 18446744073709551615, "States": {"W": {"Type": "Succeed"}}}"#;

async fn poll_one(client: &Client, activity: &str) -> raftflow_client::Task {
    client
        .poll_task(&[activity.to_string()], "fixture-writer", 5_000)
        .await
        .expect("poll")
        .unwrap_or_else(|| panic!("no {activity} task"))
}

async fn start(client: &Client, machine: &str, name: &str, input: serde_json::Value) {
    let reply = client
        .start_execution(machine, Some(name), &input.to_string())
        .await
        .expect("start");
    assert!(reply.created, "{name} is new");
}

async fn wait_status(client: &Client, id: &str, status: &str) {
    let info = client.wait_for_end(id).await.expect("wait for end");
    assert_eq!(info.status, status, "{id}: {info:?}");
}

/// Executions that finish before the fixture is taken.
async fn finished_executions(client: &Client) {
    start(client, "pipeline", "done-1", json!({"n": 1})).await;
    let t = poll_one(client, "work").await;
    client
        .complete_task(&t.token, r#"{"ok": 1}"#)
        .await
        .unwrap();
    wait_status(client, "pipeline:done-1", "SUCCEEDED").await;

    start(client, "pipeline", "failed-1", json!({"n": 2})).await;
    let t = poll_one(client, "work").await;
    client
        .fail_task(&t.token, "Work.Broken", "the disk is full")
        .await
        .unwrap();
    wait_status(client, "pipeline:failed-1", "FAILED").await;

    start(client, "pipeline", "stopped-1", json!({"n": 3})).await;
    client
        .stop_execution("pipeline:stopped-1", "Operator.Stop", "stopped by hand")
        .await
        .unwrap();
    wait_status(client, "pipeline:stopped-1", "ABORTED").await;
}

/// An execution of version 1 whose task a worker took and never reported.
async fn held_execution(client: &Client) {
    start(client, "pipeline", "held-1", json!({"n": 4})).await;
    let held = poll_one(client, "work").await;
    assert_eq!(held.execution_id, "pipeline:held-1");
}

/// Executions left running, each with a different kind of open work.
/// Returns the callback token a "worker" keeps across the upgrade.
async fn open_executions(client: &Client) -> String {
    start(client, "callback", "approval-1", json!({"order": "o-1"})).await;
    let callback = poll_one(client, "approve").await;
    assert!(callback.callback);
    let callback_token = callback
        .token
        .rsplit_once('@')
        .map_or(callback.token.clone(), |(t, _)| t.to_string());

    start(client, "waiter", "nap-1", json!({})).await;

    start(client, "retrier", "retry-1", json!({"n": 5})).await;
    let t = poll_one(client, "flaky").await;
    client
        .fail_task(&t.token, "Flaky", "first attempt fails")
        .await
        .unwrap();

    start(client, "heartbeat", "silent-1", json!({})).await;
    let _silent = poll_one(client, "slow").await; // no heartbeat ever comes

    start(client, "pipeline", "ready-1", json!({"n": 6})).await; // never polled
    callback_token
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "writes the release fixture; run by hand with RAFTFLOW_FIXTURE_OUT"]
async fn write_release_fixture() {
    let out = PathBuf::from(std::env::var("RAFTFLOW_FIXTURE_OUT").expect("RAFTFLOW_FIXTURE_OUT"));
    let cluster = TestCluster::start(1, |c| c.scheduler.task_lease_s = 20).await;
    cluster.wait_leader(WAIT).await;
    let client = cluster.client().with_deadline(Duration::from_secs(5));
    for (name, definition) in [
        ("pipeline", PIPELINE_V1),
        ("callback", CALLBACK),
        ("waiter", WAITER),
        ("retrier", RETRIER),
        ("heartbeat", HEARTBEAT),
    ] {
        client
            .create_state_machine(name, definition, "release fixture")
            .await
            .expect("create");
    }
    // Version 1 of pipeline keeps running executions after version 2 exists.
    finished_executions(&client).await;
    held_execution(&client).await;
    let v2 = client
        .create_state_machine("pipeline", PIPELINE_V2, "release fixture")
        .await
        .expect("create v2");
    assert_eq!(v2.version, 2);
    let callback_token = open_executions(&client).await;

    let raft = cluster.node(1).raft().clone();
    raft.trigger().snapshot().await.expect("trigger snapshot");
    let applied = raft
        .metrics()
        .borrow_watched()
        .last_applied
        .expect("applied");
    raft.wait(Some(WAIT))
        .metrics(
            |m| m.snapshot.is_some_and(|s| s.index >= applied.index),
            "snapshot",
        )
        .await
        .expect("snapshot built");
    let snapshot_index = raft
        .metrics()
        .borrow_watched()
        .snapshot
        .map_or(0, |s| s.index);
    // Entries after the snapshot.
    start(&client, "waiter", "nap-after-snapshot", json!({})).await;
    start(&client, "pipeline", "ready-after-snapshot", json!({"n": 7})).await;

    client
        .create_state_machine("poison", POISON, "stopped every node of 0.1.0")
        .await
        .expect("create poison");
    let poisoned = cluster
        .client()
        .with_deadline(Duration::from_secs(3))
        .start_execution("poison", Some("poison-1"), "{}")
        .await;
    eprintln!("start of the poison execution: {poisoned:?}");
    let mut cluster = cluster;
    cluster.stop(1).await;
    let data_dir = cluster.configs[0].data_dir.clone();
    write_fixture(&data_dir, &out, snapshot_index, &callback_token);
}

/// Copies the node's data directory (without RocksDB's info logs) and
/// writes `fixture.json`: what the reading tests compare against.
fn write_fixture(data_dir: &Path, out: &Path, snapshot_index: u64, callback_token: &str) {
    let (log, sm) = raftflow_store::open(data_dir).expect("reopen");
    let reader = sm.reader();
    let (applied, digest) = reader.digest().expect("digest");
    drop((log, sm, reader));
    let target = out.join("node1");
    copy_dir(data_dir, &target);
    let manifest = json!({
        "release": env!("CARGO_PKG_VERSION"),
        "written_by": "crates/raftflow-server/tests/it/fixture_writer.rs",
        "applied_index": applied,
        "digest": digest,
        "snapshot_index": snapshot_index,
        "callback_token": callback_token,
    });
    std::fs::write(
        out.join("fixture.json"),
        serde_json::to_string_pretty(&manifest).unwrap() + "\n",
    )
    .unwrap();
    eprintln!("fixture written to {}: {manifest}", out.display());
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().to_string();
        if name == "LOG" || name.starts_with("LOG.old") || name == "LOCK" {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(&name));
        } else {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}
