//! Leadership handed over on purpose: `cluster transfer-leader`, and the
//! leader's graceful stop before a planned restart (SIGTERM), which must
//! cost the clients nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use raftflow_server::raft_service::WatchReceiver as _;

use crate::harness::TestCluster;

const WAIT: Duration = Duration::from_secs(20);

/// The current term on node `id`.
fn term(cluster: &TestCluster, id: u64) -> u64 {
    cluster
        .node(id)
        .raft()
        .metrics()
        .borrow_watched()
        .current_term
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transfer_hands_leadership_to_the_named_voter() {
    let cluster = TestCluster::start(3, |_| {}).await;
    let leader = cluster.wait_leader(WAIT).await;
    let to = (1..=3).find(|id| *id != leader).unwrap();
    let client = cluster.client();
    let before = term(&cluster, to);
    let reply = client.transfer_leader(to).await.expect("the transfer");
    assert_eq!((reply.leader, reply.previous), (to, leader));
    assert_eq!(cluster.wait_leader(WAIT).await, to);
    // One election, by the node named: not a round of silence timeouts.
    assert_eq!(term(&cluster, to), before + 1);
    client.probe("after", b"x").await.expect("writes go on");

    let refused = client.transfer_leader(99).await.unwrap_err().to_string();
    assert!(refused.contains("node 99 is not a voter"), "{refused}");
    cluster.shutdown().await;
}

/// Writes without pause until `stop`; returns every error a client saw.
fn writer(
    client: raftflow_client::Client,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(u64, Vec<String>)> {
    tokio::spawn(async move {
        let (mut written, mut errors) = (0, Vec::new());
        while !stop.load(Ordering::Relaxed) {
            match client.probe(&format!("k{written}"), b"v").await {
                Ok(_) => written += 1,
                Err(e) => errors.push(e.to_string()),
            }
        }
        (written, errors)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolling_restart_with_graceful_stops_fails_no_write() {
    let mut cluster = TestCluster::start(3, |_| {}).await;
    let first = cluster.wait_leader(WAIT).await;
    let stop = Arc::new(AtomicBool::new(false));
    let load = writer(cluster.client(), stop.clone());
    // The followers first, the leader last, as an operator would.
    let mut order: Vec<u64> = (1..=3).filter(|id| *id != first).collect();
    order.push(first);
    for id in order {
        let leader = cluster.wait_leader(WAIT).await;
        cluster.stop_gracefully(id).await;
        if id == leader {
            // Handed over before it stopped: another node leads already (a
            // stopped leader leaves none for at least the lease).
            let leads = cluster.running().any(|n| {
                n.raft().metrics().borrow_watched().state == openraft::ServerState::Leader
            });
            assert!(leads, "node {id} stopped before another node led");
        }
        cluster.restart(id).await;
        cluster.wait_same_digest(WAIT).await;
    }
    stop.store(true, Ordering::Relaxed);
    let (written, errors) = load.await.unwrap();
    assert!(written > 0, "the writer wrote nothing");
    assert!(
        errors.is_empty(),
        "{} of {written} writes failed: {errors:?}",
        errors.len()
    );
    cluster.wait_same_digest(WAIT).await;
    cluster.shutdown().await;
}

/// Two tasks without Retry: an attempt lost or timed out across the
/// hand-over would fail its execution, so every execution must succeed on
/// its first attempts.
const TWO_STEPS: &str = r#"{"StartAt": "A", "States": {
  "A": {"Type": "Task", "Resource": "activity:hand-a", "TimeoutSeconds": 10, "Next": "B"},
  "B": {"Type": "Task", "Resource": "activity:hand-b", "TimeoutSeconds": 10, "End": true}}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn work_in_flight_crosses_a_graceful_leader_stop_on_its_first_attempts() {
    let mut cluster = TestCluster::start(3, |_| {}).await;
    let leader = cluster.wait_leader(WAIT).await;
    let client = Arc::new(cluster.client());
    client
        .create_state_machine("handed", TWO_STEPS, "")
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = raftflow_client::Worker::new(client.clone(), "hand-over-worker")
        .concurrency(8)
        .poll_timeout(Duration::from_secs(1))
        .handle("hand-a", |t| async move {
            Ok(format!("{{\"a\": {}}}", t.attempt))
        })
        .handle("hand-b", |t| async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            Ok(format!("{{\"b\": {}}}", t.attempt))
        });
    let worker = tokio::spawn(worker.run(async {
        stopped.await.ok();
    }));
    let mut ids = Vec::new();
    for i in 0..60 {
        let started = client
            .start_execution("handed", Some(&format!("h-{i}")), "{}")
            .await;
        ids.push(started.expect("start").execution_id);
        if i == 30 {
            cluster.stop_gracefully(leader).await;
        }
    }
    for id in &ids {
        let info = tokio::time::timeout(WAIT, client.wait_for_end(id))
            .await
            .expect("in time")
            .expect("wait");
        assert_eq!(info.status, "SUCCEEDED", "{id}: {info:?}");
        let history = client.history(id, false).await.unwrap();
        let succeeded = history
            .iter()
            .filter(|e| e.r#type == "ActivitySucceeded")
            .count();
        assert_eq!(succeeded, 2, "{id}: each step completed once: {history:?}");
    }
    let _ = stop.send(());
    worker.await.unwrap();
    cluster.restart(leader).await;
    cluster.wait_same_digest(WAIT).await;
    cluster.shutdown().await;
}
