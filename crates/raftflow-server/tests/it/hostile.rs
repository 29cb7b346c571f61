//! A hostile client: every field of every request past its limit, sent
//! with raw gRPC to a live three-node cluster. Each gets INVALID_ARGUMENT
//! naming the field and the limit (a request too long to be one, its
//! length prefix refused); nothing is proposed, and afterwards every node
//! answers and agrees.

use std::time::Duration;

use raftflow_client::Conn as Channel;
use raftflow_proto::v1::cluster_service_client::ClusterServiceClient;
use raftflow_proto::v1::worker_service_client::WorkerServiceClient;
use raftflow_proto::v1::workflow_service_client::WorkflowServiceClient;
use raftflow_proto::v1::*;
use tonic::Code;

use crate::harness::TestCluster;

const WAIT: Duration = Duration::from_secs(30);
const ECHO: &str = r#"{"StartAt": "E", "States": {"E": {"Type": "Task", "Resource": "activity:echo", "End": true}}}"#;

fn nested(levels: usize) -> String {
    format!("{}1{}", "[".repeat(levels - 1), "]".repeat(levels - 1))
}

fn refused<T: std::fmt::Debug>(
    result: Result<tonic::Response<T>, tonic::Status>,
    code: Code,
    needle: &str,
) {
    let status = result.expect_err("refused");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        status.message().contains(needle),
        "`{needle}` not in {:?}",
        status.message()
    );
}

async fn workflow_requests(ch: Channel) {
    let mut wf = WorkflowServiceClient::new(ch).max_encoding_message_size(64 << 20);
    let create =
        |name: String, definition: String, description: String| CreateStateMachineRequest {
            name,
            definition,
            description,
        };
    let bad = Code::InvalidArgument;
    refused(
        wf.create_state_machine(create("n".repeat(81), ECHO.into(), String::new()))
            .await,
        bad,
        "the state machine name is 81 characters; the limit is 80",
    );
    refused(
        wf.create_state_machine(create("echo2".into(), ECHO.into(), "d".repeat(257)))
            .await,
        bad,
        "the description is 257 characters; the limit is 256",
    );
    let deep = format!(
        r#"{{"StartAt": "P", "States": {{"P": {{"Type": "Pass", "Result": {}, "End": true}}}}}}"#,
        nested(70)
    );
    refused(
        wf.create_state_machine(create("deep".into(), deep, String::new()))
            .await,
        bad,
        "levels deep; the limit is 64",
    );
    wf.create_state_machine(create("echo".into(), ECHO.into(), String::new()))
        .await
        .unwrap();

    let start = |input: String| StartExecutionRequest {
        state_machine: "echo".into(),
        name: "hostile".into(),
        input,
    };
    let big = format!("\"{}\"", "x".repeat(300 * 1024));
    refused(
        wf.start_execution(start(big)).await,
        bad,
        "bytes; the limit is 262144",
    );
    refused(
        wf.start_execution(start(nested(66))).await,
        bad,
        "nests 66 levels deep",
    );
    // Longer than any valid request: refused from its length prefix.
    let huge = format!("\"{}\"", "x".repeat(10 << 20));
    refused(
        wf.start_execution(start(huge)).await,
        Code::OutOfRange,
        "too large",
    );
    let stop = |cause: String| StopExecutionRequest {
        execution_id: "echo:hostile".into(),
        error: String::new(),
        cause,
    };
    refused(
        wf.stop_execution(stop("c".repeat(32_769))).await,
        bad,
        "the cause is 32769 characters",
    );
    let describe = DescribeExecutionRequest {
        execution_id: "x".repeat(200),
        consistency: 0,
    };
    refused(
        wf.describe_execution(describe).await,
        bad,
        "the execution id is 200 characters",
    );
}

async fn worker_requests(ch: Channel) {
    let mut worker = WorkerServiceClient::new(ch);
    let bad = Code::InvalidArgument;
    let poll = |activities: Vec<String>, worker: String| PollTaskRequest {
        activities,
        worker,
        timeout_ms: 10,
        poll_id: String::new(),
    };
    refused(
        worker
            .poll_task(poll(vec!["a".into(); 101], String::new()))
            .await,
        bad,
        "101 activities; the limit is 100",
    );
    refused(
        worker
            .poll_task(poll(vec!["a".into()], "w".repeat(81)))
            .await,
        bad,
        "the worker name is 81 characters",
    );
    let odd_id = PollTaskRequest {
        poll_id: "p 1\n".into(),
        ..poll(vec!["a".into()], String::new())
    };
    refused(
        worker.poll_task(odd_id).await,
        bad,
        r"the poll id `p 1\n` contains ` `",
    );
    let withdraw = WithdrawPollRequest {
        poll_id: "x".repeat(81),
    };
    refused(
        worker.withdraw_poll(withdraw).await,
        bad,
        "the poll id is 81 characters",
    );
    let complete = CompleteTaskRequest {
        token: "t".repeat(1025),
        output: "{}".into(),
        next: None,
    };
    refused(
        worker.complete_task(complete).await,
        bad,
        "the task token is 1025 characters",
    );
    let fail = FailTaskRequest {
        token: "echo:x#1@1".into(),
        error: "e".repeat(257),
        cause: String::new(),
        next: None,
    };
    refused(
        worker.fail_task(fail).await,
        bad,
        "the error is 257 characters",
    );
}

async fn cluster_requests(ch: Channel) {
    let mut cluster = ClusterServiceClient::new(ch);
    let probe = ProbeRequest {
        key: "k".into(),
        value: vec![0; 4097],
    };
    refused(
        cluster.probe(probe).await,
        Code::InvalidArgument,
        "the probe value is 4097 bytes",
    );
    let learner = AddLearnerRequest {
        id: 9,
        raft_addr: String::new(),
        api_addr: "127.0.0.1:1".into(),
    };
    refused(
        cluster.add_learner(learner).await,
        Code::InvalidArgument,
        "the raft address is empty",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_field_past_its_limit_is_refused_and_the_cluster_goes_on() {
    let mut cluster = TestCluster::start(3, |_| {}).await;
    let leader = cluster.wait_leader(WAIT).await;
    let ch = crate::harness::channel(cluster.node(leader).api_addr).await;
    workflow_requests(ch.clone()).await;
    worker_requests(ch.clone()).await;
    cluster_requests(ch).await;

    cluster.wait_same_digest(WAIT).await;
    cluster.stop(3).await;
    cluster.restart(3).await;
    cluster.wait_same_digest(WAIT).await;
    cluster.shutdown().await;
}

/// WatchExecution streams are bounded per node: one past
/// `scheduler.max_watch_streams` is refused, and the slot comes back when
/// a stream ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watch_streams_past_the_bound_are_refused_until_one_ends() {
    let cluster = TestCluster::start(1, |c| c.scheduler.max_watch_streams = 2).await;
    let leader = cluster.wait_leader(WAIT).await;
    let client = cluster.client();
    let waits =
        r#"{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": true}}}"#;
    client
        .create_state_machine("waits", waits, "")
        .await
        .unwrap();
    client
        .start_execution("waits", Some("w"), "{}")
        .await
        .unwrap();
    let ch = crate::harness::channel(cluster.node(leader).api_addr).await;
    let mut wf = WorkflowServiceClient::new(ch);
    let watch = || WatchExecutionRequest {
        execution_id: "waits:w".into(),
        after_event_id: 0,
    };
    let first = wf.watch_execution(watch()).await.expect("first stream");
    let _second = wf.watch_execution(watch()).await.expect("second stream");
    refused(
        wf.watch_execution(watch()).await,
        Code::ResourceExhausted,
        "2 watch streams are open on this node",
    );

    drop(first);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match wf.watch_execution(watch()).await {
            Ok(_third) => break,
            Err(status) if status.code() == Code::ResourceExhausted => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the slot never came back"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    // The second stream is still open: shutting the node down ends it
    // (before, a graceful shutdown waited for it forever).
    cluster.shutdown().await;
}
