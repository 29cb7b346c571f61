//! A node whose clock is wrong must not lead: the time a leader stamps on
//! a command decides when every timer it arms fires.

use raftflow_server::raft_service::WatchReceiver as _;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::harness::TestCluster;

const WAIT: Duration = Duration::from_secs(30);
const HOUR_MS: i64 = 3_600_000;
const WAITS: &str =
    r#"{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "End": true}}}"#;

fn wall_ms() -> u64 {
    raftflow_server::clock::now_ms()
}

/// The others measure node 1's clock on Raft traffic, and node 1 reports
/// itself not ready for its clock.
async fn expect_offsets_seen(cluster: &TestCluster, offset_ms: i64) {
    let leader = cluster.wait_leader(WAIT).await;
    let measured = cluster.node(leader).context.peer_clocks.fresh();
    let off = measured
        .get(&1)
        .copied()
        .expect("the leader measured node 1");
    assert!(off.abs_diff(offset_ms) < 5_000, "{off} ms, not {offset_ms}");
    let node_1 = cluster.node(1);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (code, body) = crate::harness::http(node_1.http_addr.unwrap(), "GET", "/readyz").await;
        if code == 503 && body.contains("clock") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{code} {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Watches node 1 for the whole test: true if it ever led.
fn watch_node_1(cluster: &TestCluster) -> tokio::task::JoinHandle<bool> {
    let mut metrics = cluster.node(1).raft().metrics();
    tokio::spawn(async move {
        loop {
            if metrics.borrow_watched().state == openraft::ServerState::Leader {
                return true;
            }
            if metrics.changed().await.is_err() {
                return false;
            }
        }
    })
}

/// Stops the leader, then makes node 1 stand once the last other voter
/// would vote (its leader lease lapsed): with a true clock node 1 would win
/// now. Restarts the stopped leader.
async fn let_node_1_stand(cluster: &mut TestCluster) {
    let leader = cluster.wait_leader(WAIT).await;
    assert_ne!(leader, 1, "the skewed node leads");
    let other = (2..=3).find(|n| *n != leader).expect("a third node");
    cluster.stop(leader).await;
    let contact = cluster.node(other).context.contact.clone();
    let deadline = tokio::time::Instant::now() + WAIT;
    while !contact.supports_election().0 {
        assert!(tokio::time::Instant::now() < deadline, "the lease lapses");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused = &contact.skewed_candidates_refused;
    let before = refused.load(Ordering::Relaxed);
    let _ = cluster.node(1).raft().trigger().elect(false).await;
    while refused.load(Ordering::Relaxed) == before {
        assert!(tokio::time::Instant::now() < deadline, "node 1 asks");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cluster.restart(leader).await;
}

/// Node 1's clock is `offset_ms` off. It is made to stand whenever it could
/// win; it never leads, and Waits started before, between and after the
/// attempts run on the true time.
async fn a_skewed_node_never_leads(offset_ms: i64) {
    let mut cluster = TestCluster::start(3, |c| {
        if c.id == 1 {
            c.fault_injection.clock_offset_ms = offset_ms;
        }
    })
    .await;
    let led = watch_node_1(&cluster);
    let client = cluster.client_with("waits", WAITS).await;
    let mut started = Vec::new();
    for attempt in 0..2 {
        let name = format!("w-{attempt}");
        started.push(
            client
                .start_execution("waits", Some(&name), "{}")
                .await
                .unwrap(),
        );
        let_node_1_stand(&mut cluster).await;
    }
    started.push(
        client
            .start_execution("waits", Some("w-after"), "{}")
            .await
            .unwrap(),
    );
    for s in started {
        let info = ended(&client, &s.execution_id).await;
        assert_eq!(info.status, "SUCCEEDED");
        // Stamped by a leader with the true clock (an hour off otherwise).
        assert!(s.start_ms.abs_diff(wall_ms()) < 60_000, "{s:?}");
        let waited_ms = info.stop_ms.saturating_sub(s.start_ms);
        assert!((1_000..60_000).contains(&waited_ms), "{info:?}");
    }
    led.abort();
    assert!(!led.await.unwrap_or(false), "the skewed node led");
    expect_offsets_seen(&cluster, offset_ms).await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_an_hour_ahead_never_leads() {
    a_skewed_node_never_leads(HOUR_MS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_an_hour_behind_never_leads() {
    a_skewed_node_never_leads(-HOUR_MS).await;
}

/// Waits until `execution_id` ends; its description.
async fn ended(
    client: &raftflow_client::Client,
    execution_id: &str,
) -> raftflow_client::proto::ExecutionInfo {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let info = client.describe_execution(execution_id).await.unwrap();
        if info.status != "RUNNING" {
            return info;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{execution_id} waits on: {info:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The leader's clock steps an hour (ahead, then behind) while it leads:
/// the times stamped stay with the true time, timers still fire, and the
/// stepped leader stands down for a node whose clock agrees (clock_guard.rs).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_whose_clock_steps_stands_down_and_log_time_stays_true() {
    let cluster = TestCluster::start(3, |_| {}).await;
    let client = cluster.client_with("waits", WAITS).await;
    for (name, step_ms) in [("ahead", HOUR_MS), ("behind", -HOUR_MS)] {
        let stepped = cluster.wait_leader(WAIT).await;
        let context = &cluster.node(stepped).context;
        context.clock.set_offset_ms(step_ms);
        let started = client
            .start_execution("waits", Some(name), "{}")
            .await
            .unwrap();
        assert!(
            started.start_ms.abs_diff(wall_ms()) < 60_000,
            "{name}: {started:?}"
        );
        let info = ended(&client, &started.execution_id).await;
        assert_eq!(info.status, "SUCCEEDED");
        let waited_ms = info.stop_ms.saturating_sub(info.start_ms);
        assert!((1_000..60_000).contains(&waited_ms), "{name}: {info:?}");
        let deadline = tokio::time::Instant::now() + WAIT;
        while cluster.wait_leader(WAIT).await == stepped {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name}: still leads"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        context.clock.set_offset_ms(0);
    }
    cluster.shutdown().await;
}
