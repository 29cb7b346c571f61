//! /healthz, /readyz and /metrics on real nodes.

use std::time::{Duration, Instant};

use crate::harness::{http, TestCluster};

async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    http(addr, "GET", path).await
}

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_move_when_a_workflow_runs_and_health_endpoints_answer() {
    let cluster = TestCluster::start(3, |_| {}).await;
    let leader = cluster.wait_leader(WAIT).await;
    let client = cluster.client();
    client
        .create_state_machine(
            "quick",
            r#"{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}"#,
            "",
        )
        .await
        .unwrap();
    let started = client
        .start_execution("quick", Some("q-1"), "{}")
        .await
        .unwrap();
    assert_eq!(
        client
            .wait_for_end(&started.execution_id)
            .await
            .unwrap()
            .status,
        "SUCCEEDED"
    );

    // A start without a name gets a generated one from the server.
    let leader_api = &cluster.configs[leader as usize - 1].api_addr;
    let mut raw = raftflow_client::proto::workflow_service_client::WorkflowServiceClient::new(
        crate::harness::channel(leader_api).await,
    );
    let request = raftflow_client::proto::StartExecutionRequest {
        state_machine: "quick".into(),
        name: String::new(),
        input: String::new(),
    };
    let unnamed = raw
        .start_execution(request)
        .await
        .expect("a start without a name")
        .into_inner();
    let generated = unnamed
        .execution_id
        .strip_prefix("quick:")
        .expect("quick:<name>");
    assert_eq!(generated.len(), 36, "{generated}");
    assert_eq!(
        client
            .wait_for_end(&unnamed.execution_id)
            .await
            .unwrap()
            .status,
        "SUCCEEDED"
    );

    for node in cluster.running() {
        let addr = node.http_addr.expect("the test cluster serves HTTP");
        assert_eq!(get(addr, "/healthz").await.0, 200);
        let (status, body) = get(addr, "/readyz").await;
        assert_eq!(status, 200, "{body}");
        // Followers apply a moment later: wait for the counters to move.
        let deadline = Instant::now() + WAIT;
        loop {
            let (status, body) = get(addr, "/metrics").await;
            assert_eq!(status, 200);
            if body.contains("raftflow_executions_started_total 2\n")
                && body.contains("raftflow_executions_finished_total{status=\"SUCCEEDED\"} 2\n")
            {
                let role = if node.context.id == leader {
                    "leader"
                } else {
                    "follower"
                };
                assert!(
                    body.contains(&format!("raftflow_raft_role{{role=\"{role}\"}} 1")),
                    "{body}"
                );
                assert!(
                    body.contains(&format!("raftflow_raft_leader_id {leader}")),
                    "{body}"
                );
                assert!(
                    body.contains("# TYPE raftflow_proposer_commands counter"),
                    "{body}"
                );
                assert_certificates_expire_later(&body, node.context.id);
                break;
            }
            assert!(
                Instant::now() < deadline,
                "node {}: counters did not move:\n{body}",
                node.context.id
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let leader_metrics = get(cluster.node(leader).http_addr.unwrap(), "/metrics")
        .await
        .1;
    assert!(
        leader_metrics.contains("raftflow_raft_replication_lag_entries{follower="),
        "{leader_metrics}"
    );
    cluster.shutdown().await;
}

/// Polls `/metrics` on `addr` until `line` is there, or fails at the deadline.
async fn wait_for_metric(addr: std::net::SocketAddr, line: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let body = get(addr, "/metrics").await.1;
        if body.lines().any(|l| l == line) {
            return;
        }
        assert!(Instant::now() < deadline, "no `{line}` in:\n{body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A watch on an execution that will not change for a long time must not
/// outlive its client: the stream's task waits for the execution *or* the
/// client, and its registration (the gauge) goes when the client does.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_watch_stream_is_released_as_soon_as_its_client_leaves() {
    use futures::StreamExt;
    let cluster = TestCluster::start(3, |_| {}).await;
    let leader = cluster.wait_leader(WAIT).await;
    let client = cluster.client();
    let waits = r#"{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "activity:nobody-polls", "End": true}}}"#;
    client
        .create_state_machine("waits", waits, "")
        .await
        .unwrap();
    let started = client
        .start_execution("waits", Some("w-1"), "{}")
        .await
        .unwrap();

    let node = cluster.node(leader);
    let addr = node.http_addr.expect("the test cluster serves HTTP");
    wait_for_metric(addr, "raftflow_watch_streams 0").await;
    let mut raw = raftflow_client::proto::workflow_service_client::WorkflowServiceClient::new(
        crate::harness::channel(node.api_addr).await,
    );
    let request = raftflow_client::proto::WatchExecutionRequest {
        execution_id: started.execution_id.clone(),
        after_event_id: 0,
    };
    let mut stream = raw.watch_execution(request).await.unwrap().into_inner();
    let first = stream
        .next()
        .await
        .expect("an event")
        .expect("not an error");
    assert_eq!(first.r#type, "ExecutionStarted");
    wait_for_metric(addr, "raftflow_watch_streams 1").await;

    // The client leaves; the execution stays RUNNING (nobody polls).
    drop(stream);
    drop(raw);
    wait_for_metric(addr, "raftflow_watch_streams 0").await;
    let described = client
        .describe_execution(&started.execution_id)
        .await
        .unwrap();
    assert_eq!(described.status, "RUNNING");
    cluster.shutdown().await;
}

/// The node's own certificate and the CA are exported with their time left
/// (the test certificates: 825 days and 10 years from when they were made).
fn assert_certificates_expire_later(metrics: &str, id: u64) {
    for (cert, subject) in [
        ("node", format!("CN=raftflow node {id}")),
        ("ca", "CN=raftflow local CA".to_string()),
    ] {
        let prefix =
            format!("raftflow_tls_cert_expiry_seconds{{cert=\"{cert}\",subject=\"{subject}\"}} ");
        let left_s: i64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{prefix} in\n{metrics}"));
        assert!(left_s > 86_400, "{cert} expires in {left_s} s");
    }
}
