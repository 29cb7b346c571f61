//! Workflows end to end on a real three-node cluster, with real workers over gRPC.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use raftflow_client::{Client, TaskError, Worker};
use serde_json::{json, Value};

use crate::harness::TestCluster;

const WAIT: Duration = Duration::from_secs(30);

pub const ORDER: &str = r#"{
  "StartAt": "Validate",
  "States": {
    "Validate": {"Type": "Task", "Resource": "activity:validate", "ResultPath": "$.valid", "Next": "Route"},
    "Route": {"Type": "Choice", "Choices": [{"Variable": "$.valid.ok", "BooleanEquals": false, "Next": "Rejected"}], "Default": "Prepare"},
    "Rejected": {"Type": "Fail", "Error": "Order.Invalid", "Cause": "validation failed"},
    "Prepare": {"Type": "Parallel", "ResultPath": "$.prepared", "Next": "PerItem",
      "Branches": [
        {"StartAt": "Reserve", "States": {"Reserve": {"Type": "Task", "Resource": "activity:reserve", "End": true}}},
        {"StartAt": "Charge", "States": {"Charge": {"Type": "Task", "Resource": "arn:aws:states:eu-west-1:123456789012:activity:charge",
          "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 1.0}], "End": true}}}],
      "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Compensate"}]},
    "Compensate": {"Type": "Pass", "Result": "compensated", "ResultPath": "$.compensation", "End": true},
    "PerItem": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2, "ResultPath": "$.packed",
      "ItemProcessor": {"StartAt": "Pack", "States": {"Pack": {"Type": "Task", "Resource": "activity:pack", "End": true}}}, "Next": "Cool"},
    "Cool": {"Type": "Wait", "Seconds": 1, "Next": "Done"},
    "Done": {"Type": "Succeed"}
  }
}"#;

/// Workers for the order workflow. `charge` fails with `Flaky` on its first
/// attempt of every execution, so every run exercises a retry.
fn order_worker(client: Arc<Client>, charges: Arc<AtomicU32>) -> Worker {
    Worker::new(client, "test-worker")
        .concurrency(8)
        .poll_timeout(Duration::from_secs(2))
        .handle("validate", |t| async move {
            let input: Value = serde_json::from_str(&t.input).unwrap();
            Ok(json!({"ok": input["items"].as_array().is_some_and(|i| !i.is_empty())}).to_string())
        })
        .handle("reserve", |_| async { Ok(json!("reserved").to_string()) })
        .handle("charge", move |t| {
            let charges = charges.clone();
            async move {
                charges.fetch_add(1, Ordering::SeqCst);
                if t.attempt == 1 {
                    Err(TaskError::new("Flaky", "card network hiccup"))
                } else {
                    Ok(json!("charged").to_string())
                }
            }
        })
        .handle("pack", |t| async move {
            let item: Value = serde_json::from_str(&t.input).unwrap();
            Ok(json!(format!("packed {}", item.as_str().unwrap_or("?"))).to_string())
        })
}

async fn start_cluster_with_workflow() -> (TestCluster, Arc<Client>) {
    let cluster = TestCluster::start(3, |c| c.scheduler.task_lease_s = 5).await;
    cluster.wait_leader(WAIT).await;
    let client = Arc::new(cluster.client());
    let reply = client
        .create_state_machine("order", ORDER, "test order")
        .await
        .expect("create");
    assert_eq!(reply.version, 1);
    (cluster, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_order_workflow_runs_with_real_workers() {
    let (cluster, client) = start_cluster_with_workflow().await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(
        order_worker(client.clone(), Arc::new(AtomicU32::new(0))).run(async {
            stopped.await.ok();
        }),
    );

    let started = client
        .start_execution("order", Some("o-1"), r#"{"items": ["a", "b", "c"]}"#)
        .await
        .expect("start");
    let info = tokio::time::timeout(WAIT, client.wait_for_end(&started.execution_id))
        .await
        .expect("in time")
        .expect("watch");
    assert_eq!(info.status, "SUCCEEDED", "{info:?}");
    let output: Value = serde_json::from_str(&info.output).unwrap();
    assert_eq!(output["prepared"], json!(["reserved", "charged"]));
    assert_eq!(
        output["packed"],
        json!(["packed a", "packed b", "packed c"])
    );

    let history = client.history(&started.execution_id, false).await.unwrap();
    let kinds: Vec<&str> = history.iter().map(|e| e.r#type.as_str()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "ActivityFailed").count(),
        1,
        "one Flaky failure, retried"
    );
    assert!(kinds.contains(&"WaitStateExited") && kinds.last() == Some(&"ExecutionSucceeded"));

    // The same name and input is the same execution; another input is refused.
    let again = client
        .start_execution("order", Some("o-1"), r#"{"items": ["a", "b", "c"]}"#)
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.execution_id, started.execution_id);
    let conflict = client
        .start_execution("order", Some("o-1"), r#"{"items": []}"#)
        .await
        .unwrap_err();
    assert!(
        conflict.to_string().contains("already exists"),
        "{conflict}"
    );

    // An empty order fails through the Choice.
    let bad = client
        .start_execution("order", Some("o-2"), r#"{"items": []}"#)
        .await
        .unwrap();
    let info = client.wait_for_end(&bad.execution_id).await.unwrap();
    assert_eq!(
        (info.status.as_str(), info.error.as_str()),
        ("FAILED", "Order.Invalid")
    );

    let _ = stop.send(());
    worker.await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokens_are_fenced_heartbeats_are_enforced_and_stop_cancels() {
    let (cluster, client) = start_cluster_with_workflow().await;
    let def = r#"{"StartAt": "Slow", "States": {"Slow": {"Type": "Task", "Resource": "activity:slow", "HeartbeatSeconds": 1,
        "Retry": [{"ErrorEquals": ["States.HeartbeatTimeout"], "IntervalSeconds": 1, "MaxAttempts": 1}], "End": true}}}"#;
    client.create_state_machine("slow", def, "").await.unwrap();
    let exec = client
        .start_execution("slow", Some("s-1"), "{}")
        .await
        .unwrap();
    let activities = vec!["slow".to_string()];

    // First attempt: never heartbeat; the attempt times out and is retried.
    let first = client
        .poll_task(&activities, "w1", 5_000)
        .await
        .unwrap()
        .expect("a task");
    assert_eq!(first.attempt, 1);
    let second = client
        .poll_task(&activities, "w2", 10_000)
        .await
        .unwrap()
        .expect("the retry");
    assert_eq!(second.attempt, 2);
    // The first attempt's token is stale now, and refusing it changes nothing.
    let stale = client.complete_task(&first.token, "{}").await.unwrap_err();
    assert!(stale.to_string().contains("TaskTimedOut"), "{stale}");
    let unknown = client.complete_task("not-a-token", "{}").await.unwrap_err();
    assert!(unknown.to_string().contains("InvalidToken"), "{unknown}");
    // A token from another epoch is refused.
    let forged = second
        .token
        .rsplit_once('@')
        .map(|(t, e)| format!("{t}@{}", e.parse::<u64>().unwrap() + 7))
        .unwrap();
    assert!(client.complete_task(&forged, "{}").await.is_err());

    client
        .heartbeat_task(&second.token)
        .await
        .expect("heartbeat");
    client
        .complete_task(&second.token, r#"{"done": true}"#)
        .await
        .expect("complete");
    // The same report again is acknowledged (already applied); another is
    // refused. Neither changes the output.
    client
        .complete_task(&second.token, r#"{"done": true}"#)
        .await
        .expect("a repeat of the same report is acknowledged");
    let other = client
        .complete_task(&second.token, r#"{"done": false}"#)
        .await;
    assert!(
        other.is_err(),
        "another report of the ended attempt is refused"
    );
    let info = client.wait_for_end(&exec.execution_id).await.unwrap();
    assert_eq!(
        (info.status.as_str(), info.output.as_str()),
        ("SUCCEEDED", r#"{"done":true}"#)
    );
    let history = client.history(&exec.execution_id, false).await.unwrap();
    assert_eq!(
        history
            .iter()
            .filter(|e| e.r#type == "ActivitySucceeded")
            .count(),
        1
    );
    assert_eq!(
        history
            .iter()
            .filter(|e| e.r#type == "ActivityTimedOut")
            .count(),
        1
    );

    // StopExecution aborts and cancels the open task.
    let doomed = client
        .start_execution("slow", Some("s-2"), "{}")
        .await
        .unwrap();
    let task = client
        .poll_task(&activities, "w3", 5_000)
        .await
        .unwrap()
        .expect("a task");
    client
        .stop_execution(&doomed.execution_id, "Stopped.ByTest", "because")
        .await
        .unwrap();
    let info = client
        .describe_execution(&doomed.execution_id)
        .await
        .unwrap();
    assert_eq!(
        (info.status.as_str(), info.error.as_str()),
        ("ABORTED", "Stopped.ByTest")
    );
    assert!(
        client.complete_task(&task.token, "{}").await.is_err(),
        "the cancelled task's token is dead"
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wait_fires_after_the_leader_changed() {
    let (mut cluster, client) = start_cluster_with_workflow().await;
    let def = r#"{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3, "Next": "Done"}, "Done": {"Type": "Pass", "Result": "woke", "End": true}}}"#;
    client
        .create_state_machine("sleepy", def, "")
        .await
        .unwrap();
    let exec = client
        .start_execution("sleepy", Some("w-1"), "{}")
        .await
        .unwrap();
    let leader = cluster.wait_leader(WAIT).await;
    cluster.stop(leader).await;
    let new_leader = cluster.wait_leader(WAIT).await;
    assert_ne!(leader, new_leader);
    let info = tokio::time::timeout(WAIT, client.wait_for_end(&exec.execution_id))
        .await
        .expect("in time")
        .unwrap();
    assert_eq!(
        (info.status.as_str(), info.output.as_str()),
        ("SUCCEEDED", "\"woke\"")
    );
    assert!(
        info.stop_ms >= info.start_ms + 3_000,
        "the wait lasted its 3 s"
    );
    cluster.restart(leader).await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_report_brings_the_next_task_back_with_its_reply() {
    let cluster = TestCluster::start(3, |_| {}).await;
    cluster.wait_leader(WAIT).await;
    let newest = raftflow_store::version::APPLY_VERSION_MAX;
    cluster.wait_apply_version(newest, WAIT).await;
    let client = cluster.client();
    let one = r#"{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "activity:x", "End": true}}}"#;
    client.create_state_machine("one", one, "").await.unwrap();
    let a = client
        .start_execution("one", Some("a"), "{}")
        .await
        .unwrap();
    let b = client
        .start_execution("one", Some("b"), "{}")
        .await
        .unwrap();
    let activities = vec!["x".to_string()];
    let next = raftflow_client::NextTask {
        activities: &activities,
        worker: "w-1",
        poll_id: None,
    };

    let first = client
        .poll_task(&activities, "w-1", 10_000)
        .await
        .unwrap()
        .expect("a task within the poll");
    assert_eq!(first.execution_id, a.execution_id, "oldest first");
    let second = client
        .complete_task_and_take(&first.token, r#"{"n": 1}"#, Some(next))
        .await
        .unwrap()
        .next
        .expect("b's task comes back with a's report");
    assert_eq!(second.execution_id, b.execution_id);
    assert!(
        second.token.contains('@'),
        "a fenced worker token: {}",
        second.token
    );
    let none = client
        .complete_task_and_take(&second.token, r#"{"n": 2}"#, Some(next))
        .await
        .unwrap();
    assert!(
        none.next.is_none() && !none.already_applied,
        "nothing else is ready: {none:?}"
    );
    // The same report again (its reply lost, say) is acknowledged as
    // already applied, and takes nothing.
    let again = client
        .complete_task_and_take(&second.token, r#"{"n": 2}"#, Some(next))
        .await
        .unwrap();
    assert!(again.already_applied && again.next.is_none(), "{again:?}");
    // Another report for the ended attempt is refused.
    let other = client
        .complete_task_and_take(&second.token, "{}", Some(next))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        other.contains("TaskTimedOut") && other.contains("another report"),
        "{other}"
    );
    let failed = client
        .fail_task(&second.token, "E", "c")
        .await
        .unwrap_err()
        .to_string();
    assert!(failed.contains("TaskTimedOut"), "{failed}");
    // A token of the right shape that names nothing.
    let unknown = client
        .complete_task("nope:x#1@1", "{}")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        unknown.contains("NOT_FOUND") || unknown.contains("TaskDoesNotExist"),
        "{unknown}"
    );

    for (id, n) in [(&a.execution_id, 1), (&b.execution_id, 2)] {
        let info = tokio::time::timeout(WAIT, client.wait_for_end(id))
            .await
            .expect("in time")
            .unwrap();
        assert_eq!(info.status, "SUCCEEDED", "{info:?}");
        assert_eq!(
            serde_json::from_str::<Value>(&info.output).unwrap(),
            json!({"n": n})
        );
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_start_hands_its_first_task_to_a_waiting_poll_in_its_own_entry() {
    let cluster = TestCluster::start(3, |_| {}).await;
    let leader = cluster.wait_leader(WAIT).await;
    let client = Arc::new(cluster.client());
    let one = r#"{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "activity:x", "End": true}}}"#;
    client.create_state_machine("one", one, "").await.unwrap();
    let poll = tokio::spawn({
        let client = client.clone();
        async move { client.poll_task(&["x".to_string()], "w-1", 20_000).await }
    });
    // Wait until the leader has the poll waiting.
    let addr = cluster.node(leader).http_addr.expect("HTTP");
    let deadline = std::time::Instant::now() + WAIT;
    while !crate::harness::http(addr, "GET", "/metrics")
        .await
        .1
        .contains("raftflow_polls_waiting 1\n")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the poll never waited"
        );
        tokio::task::yield_now().await;
    }
    let started = client
        .start_execution("one", Some("a"), "{}")
        .await
        .unwrap();
    let task = poll
        .await
        .unwrap()
        .unwrap()
        .expect("the waiting poll got the task");
    assert_eq!(task.execution_id, started.execution_id);
    // Recorded by the start's own entry: the hand-out carries the start's time.
    let history = client.history(&started.execution_id, false).await.unwrap();
    let at = |kind: &str| {
        history
            .iter()
            .find(|e| e.r#type == kind)
            .map(|e| e.timestamp_ms)
    };
    assert!(at("ActivityStarted").is_some());
    assert_eq!(at("ActivityStarted"), at("ExecutionStarted"), "{history:?}");
    client.complete_task(&task.token, "{}").await.unwrap();
    let info = tokio::time::timeout(WAIT, client.wait_for_end(&started.execution_id))
        .await
        .expect("in time")
        .unwrap();
    assert_eq!(info.status, "SUCCEEDED");
    cluster.shutdown().await;
}
