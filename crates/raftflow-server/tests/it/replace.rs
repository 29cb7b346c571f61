//! Replacing a node whose disk is lost (docs/operations.md, "Replacing a
//! node"), under load: remove it, start a fresh node, add it as a learner,
//! promote it; no client call fails and every replica agrees. Then the
//! leader itself is removed: it hands over first.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use raftflow_client::Client;

use crate::harness::TestCluster;

const WAIT: Duration = Duration::from_secs(30);
const PASS: &str = r#"{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}"#;

/// Starts executions one after another until `stop`; their ids, or the first error.
fn load(
    client: Client,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Result<Vec<String>, String>> {
    tokio::spawn(async move {
        let mut ids = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let name = format!("r{}", ids.len());
            match client.start_execution("replace", Some(&name), "{}").await {
                Ok(started) => ids.push(started.execution_id),
                Err(e) => return Err(format!("start {name}: {e}")),
            }
        }
        Ok(ids)
    })
}

/// The leader's view of member `id` once the leader reports it holds an entry.
async fn leader_view_of(client: &Client, id: u64) -> raftflow_client::proto::Member {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let statuses = client.status_all(false).await;
        let leader = statuses
            .iter()
            .filter_map(|(_, s)| s.as_ref().ok())
            .find(|s| s.role == "leader");
        let member = leader.and_then(|s| s.members.iter().find(|m| m.id == id).cloned());
        match member {
            Some(m) if m.matched_index > 0 => return m,
            other if tokio::time::Instant::now() > deadline => {
                panic!("no match index for {id}: {other:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_whose_disk_is_lost_is_replaced_under_load_without_a_failed_call() {
    let mut cluster = TestCluster::start(3, |_| {}).await;
    let leader = cluster.wait_leader(WAIT).await;
    let client = cluster.client_with("replace", PASS).await;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = load(cluster.client(), stop.clone());

    let lost = (1..=3).find(|id| *id != leader).unwrap();
    cluster.stop(lost).await;
    std::fs::remove_dir_all(&cluster.configs[lost as usize - 1].data_dir).unwrap();
    let reply = client
        .remove_peer(lost)
        .await
        .expect("the lost node is removed");
    assert!(reply.members.iter().all(|m| m.id != lost));

    let fresh = cluster.add_node().await;
    let config = cluster.configs[fresh as usize - 1].clone();
    client
        .add_learner(fresh, &config.raft_addr, &config.api_addr)
        .await
        .expect("the fresh node catches up");
    let mut voters: Vec<u64> = (1..=3).filter(|id| *id != lost).collect();
    voters.push(fresh);
    client
        .change_membership(voters.clone(), false)
        .await
        .expect("the membership changes");

    let newcomer = leader_view_of(&client, fresh).await;
    assert!(newcomer.voter && newcomer.replicated, "{newcomer:?}");
    assert!(newcomer.last_ack_ms_ago >= 0, "{newcomer:?}");

    stop.store(true, Ordering::Relaxed);
    let ids = writer
        .await
        .unwrap()
        .expect("no start failed while the node was replaced");
    assert!(!ids.is_empty());
    for id in ids.iter().rev().take(5) {
        assert_eq!(client.wait_for_end(id).await.unwrap().status, "SUCCEEDED");
    }
    cluster.wait_same_digest(WAIT).await;

    // The leader removed: it hands over, and the next leader removes it.
    let reply = client
        .remove_peer(leader)
        .await
        .expect("the leader is removed");
    assert!(
        reply.members.iter().all(|m| m.id != leader),
        "{:?}",
        reply.members
    );
    let remaining: Vec<String> = voters
        .iter()
        .filter(|id| **id != leader)
        .map(|id| cluster.configs[*id as usize - 1].api_addr.clone())
        .collect();
    let client = cluster.client_at(&remaining);
    client
        .start_execution("replace", Some("after"), "{}")
        .await
        .expect("the two left serve");
    cluster.shutdown().await;
}
