//! Hand-outs whose reply is lost (docs/guarantees.md, "Poll ids"): a
//! worker that retries its poll under the same poll id gets the same
//! attempt back at once — on the same leader, or on the next one after a
//! failover — instead of a state with no `TimeoutSeconds` waiting out its
//! whole lease (300 s by default) for a task nobody saw.

use std::sync::atomic::Ordering;
use std::time::Duration;

use raftflow_client::proto::worker_service_client::WorkerServiceClient;
use raftflow_client::proto::{PollTaskReply, PollTaskRequest};
use raftflow_client::Conn as Channel;

use crate::harness::TestCluster;

const WAIT: Duration = Duration::from_secs(30);
/// One task, no `TimeoutSeconds`: only the default lease would end it.
const NO_TIMEOUT: &str = r#"{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "activity:untimed", "End": true}}}"#;

fn poll(poll_id: &str, timeout_ms: u32) -> PollTaskRequest {
    PollTaskRequest {
        activities: vec!["untimed".into()],
        worker: "w".into(),
        timeout_ms,
        poll_id: poll_id.into(),
    }
}

/// A raw client of one node: the client library would retry the dropped
/// reply by itself and hide the loss.
async fn raw(cluster: &TestCluster, id: u64) -> WorkerServiceClient<Channel> {
    WorkerServiceClient::new(crate::harness::channel(cluster.node(id).api_addr).await)
}

/// A cluster whose nodes drop the reply of their first hand-out, with the
/// untimed state machine and one execution started; its execution id.
async fn one_untimed_execution() -> (TestCluster, u64, String) {
    let cluster = TestCluster::start(3, |c| c.fault_injection.drop_hand_out_replies = 1).await;
    let leader = cluster.wait_leader(WAIT).await;
    let newest = raftflow_store::version::APPLY_VERSION_MAX;
    cluster.wait_apply_version(newest, WAIT).await;
    let client = cluster.client_with("untimed", NO_TIMEOUT).await;
    let started = client
        .start_execution("untimed", Some("u-1"), "{}")
        .await
        .unwrap();
    (cluster, leader, started.execution_id)
}

async fn take(worker: &mut WorkerServiceClient<Channel>, poll_id: &str) -> PollTaskReply {
    worker
        .poll_task(poll(poll_id, 5_000))
        .await
        .expect("the retried poll is answered")
        .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_poll_retried_after_its_reply_was_lost_gets_the_same_task() {
    let (cluster, leader, execution_id) = one_untimed_execution().await;
    let mut worker = raw(&cluster, leader).await;
    let lost = worker.poll_task(poll("p-1", 5_000)).await.unwrap_err();
    assert_eq!(lost.code(), tonic::Code::Unavailable, "{lost}");

    // The hand-out is committed: another poll does not get the task again.
    let other = worker.poll_task(poll("p-2", 300)).await.unwrap();
    assert!(other.into_inner().token.is_empty(), "handed out once");
    let task = take(&mut worker, "p-1").await;
    assert_eq!(task.execution_id, execution_id);
    assert_eq!(task.attempt, 1, "the same attempt, not a retry");
    let again = take(&mut worker, "p-1").await;
    assert_eq!(again.token, task.token, "a poll id keeps its attempt");
    let metrics = &cluster.node(leader).context.metrics;
    let recovered = metrics.hand_outs_recovered.load(Ordering::Relaxed);
    assert_eq!(
        recovered, 2,
        "counted in raftflow_hand_outs_recovered_total"
    );

    let client = cluster.client();
    client
        .complete_task(&task.token, r#"{"ok": 1}"#)
        .await
        .unwrap();
    let done = client.describe_execution(&execution_id).await.unwrap();
    assert_eq!(done.status, "SUCCEEDED");
    let history = client.history(&execution_id, false).await.unwrap();
    let started = history
        .iter()
        .filter(|e| e.r#type == "ActivityStarted")
        .count();
    assert_eq!(started, 1, "the task ran once: {history:?}");
    cluster.wait_same_digest(WAIT).await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_poll_retried_on_the_next_leader_gets_the_same_task() {
    let (mut cluster, leader, execution_id) = one_untimed_execution().await;
    let mut worker = raw(&cluster, leader).await;
    let lost = worker.poll_task(poll("p-1", 5_000)).await.unwrap_err();
    assert_eq!(lost.code(), tonic::Code::Unavailable, "{lost}");
    cluster.stop(leader).await;
    let next = cluster.wait_leader(WAIT).await;
    assert_ne!(next, leader);

    // Through the client library, as a worker would retry it.
    let client = cluster.client();
    let activities = vec!["untimed".to_string()];
    let task = client
        .poll_task_with_id("p-1", &activities, "w", 5_000)
        .await
        .unwrap()
        .expect("the same task, from the new leader");
    assert_eq!(task.execution_id, execution_id);
    assert_eq!(task.attempt, 1);
    client.complete_task(&task.token, "{}").await.unwrap();
    let done = client.describe_execution(&execution_id).await.unwrap();
    assert_eq!(done.status, "SUCCEEDED");
    cluster.shutdown().await;
}

/// A worker that stops while its hand-out's reply is lost withdraws the
/// poll: the task goes back at once, as the same attempt number, and
/// another worker runs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_withdrawn_poll_gives_its_task_back_at_once() {
    let (cluster, leader, execution_id) = one_untimed_execution().await;
    let mut worker = raw(&cluster, leader).await;
    let lost = worker.poll_task(poll("p-1", 5_000)).await.unwrap_err();
    assert_eq!(lost.code(), tonic::Code::Unavailable, "{lost}");
    let client = cluster.client();
    assert!(
        client.withdraw_poll("p-1").await.unwrap(),
        "a task went back"
    );
    assert!(!client.withdraw_poll("p-1").await.unwrap(), "only once");

    let activities = vec!["untimed".to_string()];
    let task = client
        .poll_task(&activities, "w-2", 5_000)
        .await
        .unwrap()
        .expect("the task, again, at once");
    assert_eq!(task.execution_id, execution_id);
    assert_eq!(task.attempt, 1, "a withdrawn hand-out is not a retry");
    client.complete_task(&task.token, "{}").await.unwrap();
    let done = client.describe_execution(&execution_id).await.unwrap();
    assert_eq!(done.status, "SUCCEEDED");
    cluster.wait_same_digest(WAIT).await;
    cluster.shutdown().await;
}

/// An idle worker asked to stop leaves at once: its long poll is withdrawn,
/// not waited for, and a task started afterwards goes to another worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idle_worker_stops_at_once_and_strands_nothing() {
    let (cluster, leader, first) = one_untimed_execution().await;
    let client = std::sync::Arc::new(cluster.client());
    // The first execution's task goes to this worker; then it idles.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let sdk = raftflow_client::Worker::new(client.clone(), "idle")
        .poll_timeout(Duration::from_secs(60))
        .handle("untimed", |_task| async { Ok("{}".to_string()) });
    let running = tokio::spawn(sdk.run(async {
        let _ = stop_rx.await;
    }));
    let scheduler = &cluster.node(leader).context.scheduler;
    let deadline = tokio::time::Instant::now() + WAIT;
    while client.describe_execution(&first).await.unwrap().status == "RUNNING"
        || scheduler.polls_waiting() == 0
    {
        assert!(tokio::time::Instant::now() < deadline, "the worker idles");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop_tx.send(()).unwrap();
    // The poll has 60 s to run; the worker returns long before.
    tokio::time::timeout(WAIT, running)
        .await
        .expect("an idle worker stops without waiting for its poll")
        .unwrap();
    // The withdrawal was applied before the worker returned; the parked
    // poll it woke leaves the leader's count when its task next runs.
    let deadline = tokio::time::Instant::now() + WAIT;
    while scheduler.polls_waiting() != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "its poll was withdrawn"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let second = client
        .start_execution("untimed", Some("u-2"), "{}")
        .await
        .unwrap();
    let activities = vec!["untimed".to_string()];
    let task = client
        .poll_task(&activities, "w-2", 5_000)
        .await
        .unwrap()
        .expect("the new task is not stranded on the stopped worker");
    assert_eq!(task.execution_id, second.execution_id);
    cluster.shutdown().await;
}

/// A report whose reply was lost, with the next task it took, is repeated
/// on the new leader while that leader is still taking over (it proposes no
/// hand-out then): the repeat still gets the task its first try took.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_report_repeated_during_a_takeover_gets_its_next_task() {
    let mut cluster = TestCluster::start(3, |c| {
        c.fault_injection.drop_report_replies = 1;
        c.fault_injection.takeover_delay_ms = 5_000;
    })
    .await;
    let newest = raftflow_store::version::APPLY_VERSION_MAX;
    cluster
        .wait_apply_version(newest, Duration::from_secs(60))
        .await;
    // Asked after the first takeover: a node that started late can depose
    // the first leader at once, and the test stops the one that drives.
    let leader = cluster.wait_leader(Duration::from_secs(60)).await;
    let client = cluster.client_with("untimed", NO_TIMEOUT).await;
    for name in ["u-1", "u-2"] {
        client
            .start_execution("untimed", Some(name), "{}")
            .await
            .unwrap();
    }
    let mut worker = raw(&cluster, leader).await;
    let first = take(&mut worker, "p-1").await;
    let report = raftflow_client::proto::CompleteTaskRequest {
        token: first.token.clone(),
        output: "{}".into(),
        next: Some(poll("p-2", 0)),
    };
    let lost = worker.complete_task(report.clone()).await.unwrap_err();
    assert_eq!(lost.code(), tonic::Code::Unavailable, "{lost}");
    cluster.stop(leader).await;
    let next_leader = cluster.wait_leader(Duration::from_secs(60)).await;
    let node = cluster.node(next_leader);
    assert!(
        node.context.scheduler.epoch().is_none(),
        "still taking over"
    );
    let mut worker = raw(&cluster, next_leader).await;
    // Every node drops its first report reply: this one's goes too.
    let dropped = worker.complete_task(report.clone()).await.unwrap_err();
    assert_eq!(dropped.code(), tonic::Code::Unavailable, "{dropped}");
    assert!(
        node.context.scheduler.epoch().is_none(),
        "still taking over"
    );
    let repeated = worker.complete_task(report).await.unwrap().into_inner();
    assert!(repeated.already_applied);
    let next = repeated.next.expect("the next task its first try took");
    assert!(next.execution_id.ends_with("u-2"), "{next:?}");
    cluster.shutdown().await;
}

/// A start hands its first task to a parked poll whose client leaves
/// before the task reaches it (held there by `hold_start_hand_outs`, as a
/// client giving up during a leader pause): the attempt goes back at once
/// and another poll runs it, rather than wait out the 300-second lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_start_whose_parked_poll_left_gives_its_task_back() {
    let cluster = TestCluster::start(3, |c| c.fault_injection.hold_start_hand_outs = 1).await;
    let leader = cluster.wait_leader(WAIT).await;
    let newest = raftflow_store::version::APPLY_VERSION_MAX;
    cluster.wait_apply_version(newest, WAIT).await;
    let client = cluster.client_with("untimed", NO_TIMEOUT).await;
    let scheduler = cluster.node(leader).context.scheduler.clone();
    let mut worker = raw(&cluster, leader).await;
    let parked = tokio::spawn(async move { worker.poll_task(poll("p-1", 20_000)).await });
    let until = |parked_now: usize| {
        let scheduler = scheduler.clone();
        async move {
            let deadline = tokio::time::Instant::now() + WAIT;
            while scheduler.polls_waiting() != parked_now {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{parked_now} parked"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    until(1).await;
    let starter = client;
    let start =
        tokio::spawn(async move { starter.start_execution("untimed", Some("u-9"), "{}").await });
    until(0).await; // the start reserved the parked poll
    parked.abort(); // its client leaves
    let execution_id = tokio::time::timeout(WAIT, start)
        .await
        .expect("the start answers once the poll has left")
        .unwrap()
        .unwrap()
        .execution_id;
    let mut other = raw(&cluster, leader).await;
    let task = other
        .poll_task(poll("p-2", 5_000))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        task.execution_id, execution_id,
        "the task went back at once"
    );
    assert_eq!(task.attempt, 1, "the same attempt");
    cluster.shutdown().await;
}
