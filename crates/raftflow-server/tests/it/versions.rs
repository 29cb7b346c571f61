//! Mixed versions: a node that follows only the previous apply version (as
//! the previous release would) keeps agreeing with the others, holds the
//! version down until it is upgraded, and the new rule applies only after.

use std::sync::Arc;
use std::time::Duration;

use raftflow_client::{Client, Worker};
use raftflow_store::version::APPLY_VERSION_MAX as MAX;
use raftflow_store::{Command, CommandResult, Reject};

use crate::harness::TestCluster;

const WAIT: Duration = Duration::from_secs(30);

const ECHO: &str = r#"{"StartAt": "Echo", "States": {"Echo": {"Type": "Task", "Resource": "activity:echo", "End": true}}}"#;
/// Parses, but its Wait is past Step Functions' bound: refused at the door
/// always, and inside apply from version 2 on.
const LONG_WAIT: &str =
    r#"{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 100000000, "End": true}}}"#;

fn create(name: &str) -> Command {
    Command::CreateStateMachine {
        name: name.into(),
        definition: LONG_WAIT.into(),
        description: String::new(),
        now_ms: 1,
    }
}

/// Proposes `command` as an older leader would: straight into the log,
/// past the API's checks.
async fn propose_raw(cluster: &TestCluster, command: Command) -> CommandResult {
    let leader = cluster.wait_leader(WAIT).await;
    cluster
        .node(leader)
        .context
        .proposer
        .propose(command)
        .await
        .expect("committed")
}

/// Runs `count` executions of `echo` to their end.
async fn load(client: &Arc<Client>, prefix: &str, count: usize) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = Worker::new(client.clone(), "echo-worker")
        .concurrency(4)
        .poll_timeout(Duration::from_secs(1))
        .handle("echo", |t| async move { Ok(t.input) });
    let worker = tokio::spawn(worker.run(async {
        stopped.await.ok();
    }));
    for i in 0..count {
        let name = format!("{prefix}-{i}");
        client
            .start_execution("echo", Some(&name), &format!(r#"{{"i": {i}}}"#))
            .await
            .expect("start");
    }
    for i in 0..count {
        let info = client
            .wait_for_end(&format!("echo:{prefix}-{i}"))
            .await
            .expect("end");
        assert_eq!(info.status, "SUCCEEDED");
    }
    stop.send(()).ok();
    worker.await.unwrap();
}

/// The error a node with `config` fails to start with, once the stopped
/// node before it released the data directory's lock.
async fn refusal(config: raftflow_server::NodeConfig) -> String {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let err = raftflow_server::NodeHandle::start(config.clone())
            .await
            .err()
            .expect("refused")
            .to_string();
        if !err.contains("LOCK") || std::time::Instant::now() > deadline {
            return err;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn versions(
    statuses: &[(
        String,
        Result<raftflow_client::proto::NodeStatus, tonic::Status>,
    )],
) -> Vec<(u64, u32, u32)> {
    let mut out: Vec<(u64, u32, u32)> = statuses
        .iter()
        .map(|(_, s)| {
            let s = s.as_ref().expect("every node answers");
            (s.id, s.apply_version, s.apply_version_max)
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_on_the_previous_version_agrees_and_holds_the_upgrade_back() {
    let mut cluster = TestCluster::start(3, |c| {
        if c.id == 3 {
            c.fault_injection.max_apply_version = 1;
        }
    })
    .await;
    cluster.wait_leader(WAIT).await;
    let client = Arc::new(cluster.client());
    client.create_state_machine("echo", ECHO, "").await.unwrap();
    load(&client, "before", 20).await;
    cluster.wait_same_digest(WAIT).await;
    assert_eq!(
        versions(&client.status_all(false).await),
        [(1, 1, MAX), (2, 1, MAX), (3, 1, 1)]
    );

    // Version 1 accepts what an older leader proposes; the door does not.
    let accepted = propose_raw(&cluster, create("long-v1")).await;
    assert!(
        matches!(accepted, CommandResult::StateMachineCreated { .. }),
        "{accepted:?}"
    );
    let door = client
        .create_state_machine("long-door", LONG_WAIT, "")
        .await
        .unwrap_err();
    assert!(door.to_string().contains("OUT_OF_RANGE"), "{door}");

    let held = client
        .upgrade_apply_version(2)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        held.contains("node 3") && held.contains("up to 1"),
        "{held}"
    );
    let same = client.upgrade_apply_version(0).await.unwrap();
    assert_eq!(
        (same.active, same.log_index),
        (1, 0),
        "the highest common version is 1"
    );

    // Node 3 gets the new binary; now the version rises.
    cluster.stop(3).await;
    cluster.configs[2].fault_injection.max_apply_version = 0;
    cluster.restart(3).await;
    let raised = client.upgrade_apply_version(0).await.unwrap();
    assert_eq!((raised.previous, raised.active), (1, MAX));
    assert!(raised.log_index > 0);
    load(&client, "after", 10).await;
    cluster.wait_same_digest(WAIT).await;
    assert_eq!(
        versions(&client.status_all(false).await),
        [(1, MAX, MAX), (2, MAX, MAX), (3, MAX, MAX)]
    );
    match propose_raw(&cluster, create("long-v2")).await {
        CommandResult::Rejected {
            code: Reject::InvalidArgument,
            message,
        } => {
            assert!(message.contains("OUT_OF_RANGE"), "{message}")
        }
        other => panic!("version 2 refuses it in apply: {other:?}"),
    }
    // What version 1 accepted still loads and runs (lenient re-read).
    let started = client
        .start_execution("long-v1", Some("still-runs"), "{}")
        .await
        .unwrap();
    assert!(started.created);
    cluster.wait_same_digest(WAIT).await;

    // Rolling back node 3 now is refused at its start, with one clear line.
    cluster.stop(3).await;
    let mut old = cluster.configs[2].clone();
    old.fault_injection.max_apply_version = 1;
    let line = refusal(old).await;
    assert!(
        line.contains(&format!("apply version {MAX}")) && line.contains("run a newer raftflow"),
        "{line}"
    );
    cluster.restart(3).await;
    cluster.wait_same_digest(WAIT).await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_that_cannot_follow_a_forced_version_stops_and_the_others_go_on() {
    let mut cluster = TestCluster::start(3, |c| {
        if c.id == 3 {
            c.fault_injection.max_apply_version = 1;
        }
    })
    .await;
    cluster.wait_leader(WAIT).await;
    let forced = propose_raw(&cluster, Command::SetApplyVersion { version: 2 }).await;
    assert!(
        matches!(forced, CommandResult::ApplyVersion { version: 2, .. }),
        "{forced:?}"
    );
    let stopped = cluster
        .node(3)
        .raft()
        .wait(Some(WAIT))
        .metrics(|m| m.running_state.is_err(), "node 3 stops")
        .await;
    assert!(
        stopped.is_ok(),
        "node 3 went on applying under rules it does not know"
    );
    // The other two go on committing.
    let client = cluster.client();
    client.create_state_machine("echo", ECHO, "").await.unwrap();
    for i in 0..5 {
        client.probe(&format!("two-nodes-{i}"), b"1").await.unwrap();
    }

    // With the new binary it catches up and agrees.
    cluster.stop(3).await;
    cluster.configs[2].fault_injection.max_apply_version = 0;
    cluster.restart(3).await;
    cluster.wait_same_digest(WAIT).await;
    cluster.shutdown().await;
}
