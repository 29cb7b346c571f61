//! The failover contract: kill the leader with executions in flight.

use raftflow_server::raft_service::WatchReceiver as _;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use raftflow_client::Worker;
use serde_json::json;

use crate::harness::TestCluster;

const WAIT: Duration = Duration::from_secs(60);

const TWO_STEPS: &str = r#"{"StartAt": "A", "States": {
  "A": {"Type": "Task", "Resource": "activity:step-a", "TimeoutSeconds": 4, "Retry": [{"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 1, "MaxAttempts": 5}], "Next": "B"},
  "B": {"Type": "Task", "Resource": "activity:step-b", "TimeoutSeconds": 4, "Retry": [{"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 1, "MaxAttempts": 5}], "End": true}}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_leader_loses_no_execution_and_applies_no_completion_twice() {
    let mut cluster = TestCluster::start(3, |c| c.write_timeout_ms = 3_000).await;
    cluster.wait_leader(WAIT).await;
    let client = Arc::new(cluster.client());
    client
        .create_state_machine("two", TWO_STEPS, "")
        .await
        .unwrap();

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = Worker::new(client.clone(), "failover-worker")
        .concurrency(16)
        .poll_timeout(Duration::from_secs(1))
        .handle("step-a", |t| async move {
            Ok(json!({"a": t.attempt}).to_string())
        })
        .handle("step-b", |t| async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(json!({"b": t.attempt}).to_string())
        });
    let worker = tokio::spawn(worker.run(async {
        stopped.await.ok();
    }));

    let mut ids = Vec::new();
    for i in 0..100 {
        ids.push(
            client
                .start_execution("two", Some(&format!("e-{i}")), &json!({"i": i}).to_string())
                .await
                .expect("start")
                .execution_id,
        );
    }
    // Watch a few executions through the failover.
    let watchers: Vec<_> = ids
        .iter()
        .take(5)
        .map(|id| {
            let (client, id) = (client.clone(), id.clone());
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let info = client.watch(&id, |e| seen.push(e.id)).await.expect("watch");
                (info, seen)
            })
        })
        .collect();

    let leader = cluster.wait_leader(WAIT).await;
    cluster.stop(leader).await;
    cluster.wait_leader(WAIT).await;

    for id in &ids {
        let info = tokio::time::timeout(WAIT, client.wait_for_end(id))
            .await
            .expect("in time")
            .expect("wait");
        assert_eq!(info.status, "SUCCEEDED", "{id}: {info:?}");
        let history = client.history(id, false).await.unwrap();
        let mut succeeded: BTreeMap<String, usize> = BTreeMap::new();
        let mut current = String::new();
        for e in &history {
            let details: serde_json::Value = serde_json::from_str(&e.details).unwrap();
            if e.r#type == "TaskStateEntered" {
                current = details["name"].as_str().unwrap().to_string();
            }
            if e.r#type == "ActivitySucceeded" {
                *succeeded.entry(current.clone()).or_default() += 1;
            }
        }
        assert_eq!(
            succeeded,
            BTreeMap::from([("A".to_string(), 1), ("B".to_string(), 1)]),
            "{id}: each completion exactly once"
        );
        let ids_in_order: Vec<u64> = history.iter().map(|e| e.id).collect();
        assert_eq!(ids_in_order, (1..=history.len() as u64).collect::<Vec<_>>());
    }
    for w in watchers {
        let (info, seen) = w.await.unwrap();
        assert_eq!(info.status, "SUCCEEDED");
        assert_eq!(
            seen,
            (1..=seen.len() as u64).collect::<Vec<_>>(),
            "the watch resumed without gaps or repeats"
        );
    }
    let _ = stop.send(());
    worker.await.unwrap();
    cluster.restart(leader).await;
    cluster.shutdown().await;
}

/// A leader whose process is gone is replaced once its lease lapses, not after
/// the silence timeout. The followers here wait a minute of silence before
/// they stand, so only the fast path (elector.rs: the Attach stream broke and
/// the leader's port refuses connections) can elect within the deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_whose_process_is_gone_is_replaced_without_waiting_out_the_silence() {
    let mut cluster = TestCluster::start(3, |_| {}).await;
    let leader = cluster.wait_leader(WAIT).await;
    let followers: Vec<u64> = (1..=3).filter(|&id| id != leader).collect();
    for &id in &followers {
        cluster.stop(id).await;
        let raft = &mut cluster.configs[id as usize - 1].raft;
        raft.election_timeout_min_ms = 600_000;
        raft.election_timeout_max_ms = 601_000;
        cluster.restart(id).await;
    }
    assert_eq!(cluster.wait_leader(WAIT).await, leader);

    cluster.stop(leader).await;
    let new_leader = cluster.wait_leader(Duration::from_secs(30)).await;
    assert!(followers.contains(&new_leader));
    let client = cluster.client();
    client
        .probe("after-fast-failover", b"ok")
        .await
        .expect("the new leader commits");
    cluster.shutdown().await;
}

/// A voter that cannot reach a majority does not stand (pre-vote), so its
/// term stays put and cannot depose a leader when it returns. The survivor
/// here loses its leader (a crash, so the fast path would fire) and its
/// other peer; the test waits until it has been refused several times.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_voter_without_a_majority_does_not_raise_its_term() {
    let mut cluster = TestCluster::start(3, |_| {}).await;
    let leader = cluster.wait_leader(WAIT).await;
    let others: Vec<u64> = (1..=3).filter(|&id| id != leader).collect();
    let (survivor, peer) = (others[0], others[1]);
    cluster.stop(peer).await;
    let term = cluster
        .node(survivor)
        .raft()
        .metrics()
        .borrow_watched()
        .current_term;
    cluster.stop(leader).await;

    let contact = cluster.node(survivor).context.contact.clone();
    let deadline = tokio::time::Instant::now() + WAIT;
    while contact
        .prevotes_lost
        .load(std::sync::atomic::Ordering::Relaxed)
        < 3
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the survivor never asked for a pre-vote"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let metrics = cluster
        .node(survivor)
        .raft()
        .metrics()
        .borrow_watched()
        .clone();
    assert_eq!(metrics.current_term, term, "the survivor stood alone");

    cluster.restart(peer).await;
    cluster.restart(leader).await;
    cluster.wait_leader(WAIT).await;
    cluster
        .client()
        .probe("after-pre-vote", b"ok")
        .await
        .expect("the cluster commits again");
    cluster.shutdown().await;
}

/// A poll that reaches a node which leads but has not taken over yet (its
/// epoch is not committed) waits for the takeover and gets the task, instead
/// of being refused with "no leader" and left to back off.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_poll_sent_while_the_new_leader_takes_over_waits_for_it() {
    let cluster = TestCluster::start(1, |c| c.fault_injection.takeover_delay_ms = 300).await;
    cluster.wait_leader(Duration::from_secs(20)).await;
    let client = cluster.client();
    let one_task = r#"{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "activity:early", "End": true}}}"#;
    client
        .create_state_machine("early", one_task, "")
        .await
        .unwrap();
    let started = client
        .start_execution("early", Some("e-1"), "{}")
        .await
        .unwrap();

    // A raw call: the client library would retry a refusal and hide it.
    let mut raw = raftflow_client::proto::worker_service_client::WorkerServiceClient::new(
        crate::harness::channel(cluster.node(1).api_addr).await,
    );
    let request = raftflow_client::proto::PollTaskRequest {
        activities: vec!["early".into()],
        worker: "early-worker".into(),
        timeout_ms: 5_000,
        poll_id: String::new(),
    };
    let task = raw
        .poll_task(request)
        .await
        .expect("held until the takeover, not refused")
        .into_inner();
    assert_eq!(task.execution_id, started.execution_id);
    assert!(task.epoch > 0, "handed out under the new epoch");
    cluster.shutdown().await;
}
