//! Writes reach the leader from anywhere; without a quorum they fail fast.

use std::time::{Duration, Instant};

use raftflow_client::proto::cluster_service_client::ClusterServiceClient;
use raftflow_client::proto::ProbeRequest;

use crate::harness::TestCluster;

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_to_a_follower_reaches_the_leader() {
    let cluster = TestCluster::start(3, |_| {}).await;
    let leader = cluster.wait_leader(WAIT).await;
    let follower = if leader == 1 { 2 } else { 1 };
    let follower_addr = cluster.configs[follower as usize - 1].api_addr.clone();

    // The raw answer names the leader...
    let mut raw = ClusterServiceClient::new(crate::harness::channel(&follower_addr).await);
    let status = raw
        .probe(ProbeRequest {
            key: "x".into(),
            value: vec![1],
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    let named = status
        .metadata()
        .get("x-raftflow-leader")
        .expect("leader address in metadata");
    assert_eq!(
        named.to_str().unwrap(),
        cluster.configs[leader as usize - 1].api_addr
    );

    // ...and the client follows it by itself.
    let client = cluster.client_at(&[follower_addr]);
    let reply = client
        .probe("via-follower", b"v")
        .await
        .expect("write through a follower");
    assert!(reply.log_index > 0);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_a_quorum_a_write_fails_unavailable_within_its_deadline() {
    let mut cluster = TestCluster::start(3, |c| c.write_timeout_ms = 1_000).await;
    let leader = cluster.wait_leader(WAIT).await;
    for id in (1..=3).filter(|id| *id != leader) {
        cluster.stop(id).await;
    }
    let addr = cluster.configs[leader as usize - 1].api_addr.clone();
    let mut raw = ClusterServiceClient::new(crate::harness::channel(&addr).await);
    let started = Instant::now();
    let status = raw
        .probe(ProbeRequest {
            key: "lost".into(),
            value: vec![],
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    cluster.shutdown().await;
}
