//! Numbers kept as written through a three-node cluster (apply version 6),
//! and read as before on a cluster at an older version.

use std::time::Duration;

use crate::harness::TestCluster;

const WAIT: Duration = Duration::from_secs(30);
const EVERY_STATE: &str = include_str!("../../../raftflow-core/tests/exact_numbers.asl.json");
const NUMBERS: &str = r#"{"big":12345678901234567890123,"neg0":-0,"tiny":1e-7,"dec":0.12345678901234567,"items":[12345678901234567890123,-0,1e-7]}"#;

/// Runs the every-state workflow on NUMBERS with a worker that echoes its
/// input; the execution's output text.
async fn run_through(cluster: &TestCluster) -> String {
    let client = cluster.client_with("numbers", EVERY_STATE).await;
    let started = client
        .start_execution("numbers", Some("n-1"), NUMBERS)
        .await
        .unwrap();
    let activities = vec!["echo".to_string()];
    let task = client
        .poll_task(&activities, "echo", 10_000)
        .await
        .unwrap()
        .expect("the Task state's task");
    client
        .complete_task(&task.token, &task.input)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let info = client
            .describe_execution(&started.execution_id)
            .await
            .unwrap();
        if info.status != "RUNNING" {
            assert_eq!(info.status, "SUCCEEDED", "{info:?}");
            cluster.wait_same_digest(WAIT).await;
            return info.output;
        }
        assert!(tokio::time::Instant::now() < deadline, "the Wait ends");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn numbers_pass_through_every_state_as_written() {
    let cluster = TestCluster::start(3, |_| {}).await;
    cluster.wait_leader(WAIT).await;
    cluster
        .wait_apply_version(raftflow_store::version::APPLY_VERSION_MAX, WAIT)
        .await;
    let output = run_through(&cluster).await;
    let exact = r#"{"big":12345678901234567890123,"neg0":-0,"tiny":1e-7,"dec":0.12345678901234567,"items":[12345678901234567890123,-0,1e-7]"#;
    assert!(output.starts_with(exact), "{output}");
    assert!(
        output.contains(r#""mapped":[12345678901234567890123,-0,1e-7]"#),
        "{output}"
    );
    cluster.shutdown().await;
}

/// Before version 6 numbers are read as release 0.1.0 read them, so that
/// old entries replay to the same bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn before_version_6_numbers_are_read_as_before() {
    let cluster = TestCluster::start(3, |c| c.fault_injection.max_apply_version = 5).await;
    cluster.wait_leader(WAIT).await;
    cluster.wait_apply_version(5, WAIT).await;
    let output = run_through(&cluster).await;
    let legacy =
        r#"{"big":1.2345678901234568e+22,"neg0":-0.0,"tiny":1e-7,"dec":0.12345678901234566,"#;
    assert!(output.starts_with(legacy), "{output}");
    cluster.shutdown().await;
}
