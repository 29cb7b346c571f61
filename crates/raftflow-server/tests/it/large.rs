//! Inputs that stopped every node of release 0.1.0, sent to a live
//! three-node cluster: each gets a clear error or a failed execution, and
//! afterwards every node is alive, answers and agrees.

use raftflow_server::raft_service::WatchReceiver as _;
use std::time::Duration;

use raftflow_client::Client;
use raftflow_store::{Command, CommandResult};
use serde_json::json;

use crate::harness::TestCluster;

const WAIT: Duration = Duration::from_secs(60);

fn instant_map() -> String {
    json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.xs",
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "End": true}}})
    .to_string()
}

fn endless_loop() -> String {
    json!({"StartAt": "Check", "States": {
        "Check": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericGreaterThanEquals": 0, "Next": "Add"}], "Default": "Done"},
        "Add": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, 1)"}, "Next": "Check"},
        "Done": {"Type": "Succeed"}}})
    .to_string()
}

/// The definition quoted in the issue that found the defect.
const HUGE_TIMEOUT: &str = r#"{"StartAt": "W", "TimeoutSeconds": 18446744073709551615, "States": {"W": {"Type": "Succeed"}}}"#;

async fn run_to_end(
    client: &Client,
    machine: &str,
    name: &str,
    input: serde_json::Value,
) -> raftflow_client::proto::ExecutionInfo {
    client
        .start_execution(machine, Some(name), &input.to_string())
        .await
        .expect("start");
    client
        .wait_for_end(&format!("{machine}:{name}"))
        .await
        .expect("end")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn inputs_that_stopped_release_0_1_0_leave_every_node_alive() {
    // Release 0.1.0's rules (apply version 1), which let the definition in.
    let mut cluster = TestCluster::start(3, |c| c.fault_injection.max_apply_version = 1).await;
    let leader = cluster.wait_leader(WAIT).await;
    let client = cluster.client();

    let refused = client
        .create_state_machine("huge-timeout", HUGE_TIMEOUT, "")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("OUT_OF_RANGE") && refused.contains("/TimeoutSeconds"),
        "{refused}"
    );
    // As an older leader would have let it in: it now fails its execution.
    let created = cluster
        .node(leader)
        .context
        .proposer
        .propose(Command::CreateStateMachine {
            name: "huge-timeout".into(),
            definition: HUGE_TIMEOUT.into(),
            description: String::new(),
            now_ms: 1,
        })
        .await
        .unwrap();
    assert!(
        matches!(created, CommandResult::StateMachineCreated { .. }),
        "{created:?}"
    );
    let info = run_to_end(&client, "huge-timeout", "one", json!({})).await;
    assert_eq!(
        (info.status.as_str(), info.error.as_str()),
        ("FAILED", "States.Runtime")
    );

    client
        .create_state_machine("map", &instant_map(), "")
        .await
        .unwrap();
    let xs = |n: u64| json!({"xs": (0..n).collect::<Vec<u64>>()});
    let info = run_to_end(&client, "map", "six-thousand", xs(6_000)).await;
    assert_eq!(info.status, "SUCCEEDED", "{info:?}");
    let info = run_to_end(&client, "map", "seven-thousand", xs(7_000)).await;
    assert_eq!(
        (info.status.as_str(), info.error.as_str()),
        ("FAILED", "States.Runtime")
    );

    client
        .create_state_machine("loop", &endless_loop(), "")
        .await
        .unwrap();
    let info = run_to_end(&client, "loop", "forever", json!({"n": 0})).await;
    assert_eq!(
        (info.status.as_str(), info.error.as_str()),
        ("FAILED", "States.Runtime")
    );

    cluster.wait_same_digest(WAIT).await;
    for (id, node) in (1..).zip(cluster.nodes.iter()) {
        let state = node
            .as_ref()
            .unwrap()
            .raft()
            .metrics()
            .borrow_watched()
            .running_state
            .clone();
        assert!(state.is_ok(), "node {id} stopped: {state:?}");
    }
    // Everything accepted can be read back: a restarted node agrees.
    cluster.stop(2).await;
    cluster.restart(2).await;
    cluster.wait_same_digest(WAIT).await;
    cluster.shutdown().await;
}

/// Log entries are cut by bytes: a burst of large starts makes several
/// entries, none past the bound one AppendEntries multiplies.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_large_starts_is_cut_into_entries_that_fit_the_transport() {
    use openraft::storage::RaftLogReader;
    use raftflow_server::network::{entry_bytes_bound, ENTRY_TARGET_BYTES};

    let mut cluster = TestCluster::start(3, |_| {}).await;
    let leader = cluster.wait_leader(WAIT).await;
    let client = std::sync::Arc::new(cluster.client());
    client
        .create_state_machine("map", &instant_map(), "")
        .await
        .unwrap();
    let pad = "x".repeat(200 * 1024);
    let starts = (0..40).map(|i| {
        let (client, input) = (client.clone(), json!({"xs": [], "pad": pad}).to_string());
        tokio::spawn(async move {
            client
                .start_execution("map", Some(&format!("big-{i}")), &input)
                .await
        })
    });
    for start in futures::future::join_all(starts).await {
        assert!(start.unwrap().expect("started").created);
    }
    cluster.wait_same_digest(WAIT).await;
    let payload = cluster.configs[0].scheduler.max_payload_bytes;
    let dir = cluster.configs[leader as usize - 1].data_dir.clone();
    cluster.stop(leader).await;
    let (mut log, _sm) = open_when_released(&dir).await;
    let entries = log.try_get_log_entries(0..u64::MAX).await.unwrap();
    let sizes: Vec<usize> = entries
        .iter()
        .map(|e| raftflow_store::codec::encode(e).unwrap().len())
        .collect();
    let large = sizes.iter().filter(|s| **s > 200 * 1024).count();
    // 40 × 200 KiB = 8,000 KiB, at most ENTRY_TARGET_BYTES (1 MiB) an entry.
    assert_eq!(ENTRY_TARGET_BYTES, 1 << 20);
    assert!(large >= 7, "cut into several entries: {sizes:?}");
    assert!(
        sizes.iter().all(|s| *s <= entry_bytes_bound(payload)),
        "{sizes:?}"
    );
}

/// Opens a stopped node's store once its last handle let go of the lock.
async fn open_when_released(
    dir: &std::path::Path,
) -> (raftflow_store::LogStore, raftflow_store::StateMachineStore) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        match raftflow_store::open(dir) {
            Ok(store) => return store,
            Err(e) if e.to_string().contains("LOCK") && std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("cannot open {}: {e}", dir.display()),
        }
    }
}
