//! Replication, restarts and snapshots.

use raftflow_server::raft_service::WatchReceiver as _;
use std::time::Duration;

use crate::harness::TestCluster;

const WAIT: Duration = Duration::from_secs(20);

async fn write_many(cluster: &TestCluster, prefix: &str, count: usize) -> u64 {
    let client = cluster.client();
    let mut last = 0;
    // 16 concurrent writers, so the proposer batches for real.
    let chunks: Vec<Vec<usize>> = (0..count)
        .collect::<Vec<_>>()
        .chunks(count.div_ceil(16))
        .map(|c| c.to_vec())
        .collect();
    let results = futures::future::join_all(chunks.into_iter().map(|chunk| {
        let client = &client;
        async move {
            let mut max = 0;
            for i in chunk {
                let reply = client
                    .probe(&format!("{prefix}-{i}"), &i.to_be_bytes())
                    .await
                    .expect("probe write");
                max = max.max(reply.log_index);
            }
            max
        }
    }))
    .await;
    for r in results {
        last = last.max(r);
    }
    last
}

async fn assert_all_present(cluster: &TestCluster, prefix: &str, count: usize) {
    let client = cluster.client();
    for i in 0..count {
        let reply = client
            .read_probe(&format!("{prefix}-{i}"))
            .await
            .expect("read probe");
        assert!(reply.found, "acknowledged write {prefix}-{i} is missing");
        assert_eq!(reply.value, i.to_be_bytes().to_vec());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_commit_a_thousand_commands_and_agree() {
    let cluster = TestCluster::start(3, |_| {}).await;
    cluster.wait_leader(WAIT).await;
    let last = write_many(&cluster, "k", 1000).await;
    cluster.wait_applied(last, WAIT).await;
    cluster.wait_same_digest(WAIT).await;
    assert_all_present(&cluster, "k", 1000).await;
    let batches = cluster
        .running()
        .map(|n| {
            n.context
                .batch_stats
                .entries
                .load(std::sync::atomic::Ordering::Relaxed)
        })
        .sum::<u64>();
    assert!(
        batches < 1000,
        "the proposer should batch concurrent commands, made {batches} entries"
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leader_stops_and_a_new_one_keeps_every_acknowledged_write() {
    let mut cluster = TestCluster::start(3, |_| {}).await;
    let old = cluster.wait_leader(WAIT).await;
    write_many(&cluster, "before", 200).await;
    cluster.stop(old).await;
    let new = cluster.wait_leader(WAIT).await;
    assert_ne!(new, old);
    let last = write_many(&cluster, "after", 200).await;
    cluster.restart(old).await;
    cluster.wait_applied(last, WAIT).await;
    assert_all_present(&cluster, "before", 200).await;
    assert_all_present(&cluster, "after", 200).await;
    cluster.wait_same_digest(WAIT).await;
    cluster.shutdown().await;
}

/// Snapshots every 50 entries, keeps no log behind them, one command per
/// entry, and sends snapshots in 1 KiB chunks (many calls per transfer).
async fn snapshotting_cluster() -> TestCluster {
    TestCluster::start(3, |c| {
        c.raft.snapshot_after_entries = 50;
        c.raft.keep_entries_after_snapshot = 0;
        c.raft.snapshot_chunk_bytes = 1 << 10;
        c.max_batch_commands = 1;
    })
    .await
}

async fn wait_purged_past(cluster: &TestCluster, leader: u64, index: u64) {
    cluster
        .node(leader)
        .raft()
        .wait(Some(WAIT))
        .metrics(
            |m| m.purged.is_some_and(|p| p.index > index),
            "log purged behind a snapshot",
        )
        .await
        .expect("the leader purges its log behind its snapshot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_that_was_down_while_the_log_was_purged_catches_up_through_a_snapshot() {
    let mut cluster = snapshotting_cluster().await;
    let leader = cluster.wait_leader(WAIT).await;
    let lagging = if leader == 3 { 2 } else { 3 };
    cluster.stop(lagging).await;
    let last = write_many(&cluster, "down", 300).await;
    wait_purged_past(&cluster, leader, 100).await;
    cluster.restart(lagging).await;
    cluster.wait_applied(last, WAIT).await;
    let snapshot = cluster
        .node(lagging)
        .raft()
        .metrics()
        .borrow_watched()
        .snapshot;
    assert!(
        snapshot.is_some_and(|s| s.index > 100),
        "the restarted node installed no snapshot: {snapshot:?}"
    );
    cluster.wait_same_digest(WAIT).await;
    assert_all_present(&cluster, "down", 300).await;
    cluster.shutdown().await;
}

/// A node that joins after the log was purged can only catch up from a snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_behind_the_purged_log_catches_up_through_a_snapshot() {
    let mut cluster = snapshotting_cluster().await;
    let leader = cluster.wait_leader(WAIT).await;
    let last = write_many(&cluster, "snap", 300).await;
    wait_purged_past(&cluster, leader, 100).await;
    let new = cluster.add_node().await;
    let info = raftflow_store::NodeInfo {
        raft_addr: cluster.configs[new as usize - 1].raft_addr.clone(),
        api_addr: cluster.configs[new as usize - 1].api_addr.clone(),
    };
    cluster
        .node(leader)
        .raft()
        .add_learner(new, info, true)
        .await
        .expect("add learner");
    cluster.wait_applied(last, WAIT).await;
    let snapshot = cluster.node(new).raft().metrics().borrow_watched().snapshot;
    assert!(
        snapshot.is_some_and(|s| s.index > 100),
        "the new node installed no snapshot: {snapshot:?}"
    );
    cluster.wait_same_digest(WAIT).await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn all_nodes_stopped_and_started_keep_every_committed_command() {
    let mut cluster = TestCluster::start(3, |_| {}).await;
    cluster.wait_leader(WAIT).await;
    let last = write_many(&cluster, "durable", 300).await;
    for id in 1..=3 {
        cluster.stop(id).await;
    }
    for id in 1..=3 {
        cluster.restart(id).await;
    }
    cluster.wait_leader(WAIT).await;
    cluster.wait_applied(last, WAIT).await;
    assert_all_present(&cluster, "durable", 300).await;
    cluster.wait_same_digest(WAIT).await;
    cluster.shutdown().await;
}
