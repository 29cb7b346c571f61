//! Schedules on a real cluster, in real time: exactly one execution per
//! scheduled time across leader kills, the overlap policy with a task that
//! never ends, trigger, pause, and the door's errors.

use std::time::Duration;

use raftflow_client::proto::{OverlapPolicy, ScheduleDefinition, ScheduleOutcome};
use raftflow_client::Client;
use raftflow_store::schedules::{self, execution_name, Schedule};
use tokio::time::Instant;

use crate::harness::TestCluster;

pub(crate) const WAIT: Duration = Duration::from_secs(60);
pub(crate) const STAMPED: &str = r#"{"StartAt": "P", "States": {"P": {"Type": "Pass",
  "Parameters": {"scheduled.$": "$$.Schedule.ScheduledTime", "given.$": "$.when"}, "End": true}}}"#;
const NEVER_ENDS: &str = r#"{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "activity:sched.nobody", "End": true}}}"#;

/// Waits until schedule `name`, as applied on a running node, passes
/// `done`; wakes on each apply there.
pub(crate) async fn wait_schedule(
    cluster: &TestCluster,
    name: &str,
    done: impl Fn(&Schedule) -> bool,
) -> Schedule {
    let node = cluster.running().next().expect("a running node");
    let mut applied = node.context.reader.watch_applied();
    let deadline = Instant::now() + WAIT;
    loop {
        let found = schedules::read(node.context.reader.db(), name).expect("read");
        if let Some(schedule) = found.filter(|s| done(s)) {
            return schedule;
        }
        tokio::time::timeout_at(deadline, applied.changed())
            .await
            .unwrap_or_else(|_| panic!("schedule {name} not as expected within {WAIT:?}"))
            .expect("the node runs");
    }
}

pub(crate) fn every_second(
    name: &str,
    state_machine: &str,
    overlap: OverlapPolicy,
) -> ScheduleDefinition {
    ScheduleDefinition {
        name: name.into(),
        state_machine: state_machine.into(),
        input: r#"{"when": "<aws.scheduler.scheduled-time>"}"#.into(),
        spec: "* * * * * *".into(),
        overlap: overlap as i32,
        ..Default::default()
    }
}

pub(crate) async fn executions_of(
    client: &Client,
    state_machine: &str,
) -> Vec<raftflow_client::proto::ExecutionInfo> {
    let mut all = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_executions(state_machine, "", 1000, &token)
            .await
            .expect("list");
        all.extend(page.executions);
        if page.next_page_token.is_empty() {
            return all;
        }
        token = page.next_page_token;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_scheduled_time_starts_exactly_one_execution_across_leader_kills() {
    let mut cluster = TestCluster::start(3, |c| c.write_timeout_ms = 3_000).await;
    let client = cluster.client_with("stamped", STAMPED).await;
    cluster
        .wait_apply_version(raftflow_store::version::APPLY_VERSION_MAX, WAIT)
        .await;
    let created = client
        .create_schedule(every_second("tick", "stamped", OverlapPolicy::AllowAll))
        .await
        .expect("create");
    assert!(created.created);
    assert_eq!(created.next_fire_ms.len(), 10);
    // A leader kill: a new leader takes over within the second.
    let fired = wait_schedule(&cluster, "tick", |s| s.fired >= 2)
        .await
        .fired;
    let leader = cluster.wait_leader(WAIT).await;
    cluster.stop(leader).await;
    cluster.wait_leader(WAIT).await;
    wait_schedule(&cluster, "tick", |s| s.fired >= fired + 3).await;
    cluster.restart(leader).await;
    // The leader and a follower down: no quorum while scheduled times pass;
    // the next leader starts them, late, in order.
    let fired = wait_schedule(&cluster, "tick", |s| s.fired >= fired + 4)
        .await
        .fired;
    let leader = cluster.wait_leader(WAIT).await;
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    cluster.stop(leader).await;
    cluster.stop(follower).await;
    tokio::time::sleep(Duration::from_millis(2500)).await; // time passing, not a sync
    cluster.restart(leader).await;
    cluster.restart(follower).await;
    cluster.wait_leader(WAIT).await;
    wait_schedule(&cluster, "tick", |s| s.fired >= fired + 5).await;
    client
        .pause_schedule("tick", true, "test over")
        .await
        .unwrap();
    let schedule = wait_schedule(&cluster, "tick", |s| s.paused).await;

    let executions = executions_of(&client, "stamped").await;
    let mut names: Vec<String> = executions.iter().map(|e| e.name.clone()).collect();
    names.sort();
    let first_ms = (schedule.created_ms / 1000 + 1) * 1000;
    let expected: Vec<String> = (0..names.len() as u64)
        .map(|i| execution_name("tick", first_ms + i * 1000, false))
        .collect();
    assert_eq!(
        names, expected,
        "one execution per second, none missed, none twice: {schedule:?}"
    );
    assert_eq!(schedule.fired, names.len() as u64);
    let mut lags_ms = Vec::new();
    for e in &executions {
        let info = client.wait_for_end(&e.execution_id).await.unwrap();
        assert_eq!(info.status, "SUCCEEDED", "{info:?}");
        let output: serde_json::Value = serde_json::from_str(&info.output).unwrap();
        let scheduled = output["scheduled"].as_str().unwrap();
        let given = output["given"].as_str().unwrap();
        assert_eq!(
            scheduled.replace(".000Z", "Z"),
            given,
            "the context and the placeholder agree"
        );
        let compact: String = given.chars().filter(|c| !matches!(c, '-' | ':')).collect();
        assert_eq!(
            e.name,
            format!("tick-{compact}"),
            "named after its scheduled time"
        );
        let scheduled_ms =
            first_ms + 1000 * names.iter().position(|n| *n == e.name).unwrap() as u64;
        lags_ms.push(e.start_ms.saturating_sub(scheduled_ms));
    }
    lags_ms.sort();
    eprintln!(
        "fire lag over {} fires: p50 {} ms, max {} ms",
        lags_ms.len(),
        lags_ms[lags_ms.len() / 2],
        lags_ms[lags_ms.len() - 1]
    );
    assert!(
        lags_ms[lags_ms.len() - 1] >= 1000,
        "the times missed without a quorum start late: {lags_ms:?}"
    );
    cluster.wait_same_digest(WAIT).await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlap_skip_trigger_pause_and_the_doors_errors() {
    let cluster = TestCluster::start(3, |_| {}).await;
    let client = cluster.client_with("slow", NEVER_ENDS).await;
    cluster
        .wait_apply_version(raftflow_store::version::APPLY_VERSION_MAX, WAIT)
        .await;
    let mut bad = every_second("bad", "slow", OverlapPolicy::Skip);
    bad.spec = "cron(0 12 * * *)".into();
    let error = client.create_schedule(bad).await.unwrap_err().to_string();
    assert!(
        error.contains("the spec") && error.contains("cron(0 12 * * *)"),
        "{error}"
    );
    let mut bad = every_second("bad", "slow", OverlapPolicy::Skip);
    bad.time_zone = "Europe/Atlantis".into();
    let error = client.create_schedule(bad).await.unwrap_err().to_string();
    assert!(error.contains("Europe/Atlantis"), "{error}");

    client
        .create_schedule(every_second("one-at-a-time", "slow", OverlapPolicy::Skip))
        .await
        .unwrap();
    // The first execution never ends, so every later second is skipped.
    let schedule = wait_schedule(&cluster, "one-at-a-time", |s| s.skipped >= 2).await;
    assert_eq!(schedule.fired, 1);
    let info = client.describe_schedule("one-at-a-time").await.unwrap();
    let outcomes: Vec<i32> = info.recent.iter().map(|a| a.outcome).collect();
    assert_eq!(outcomes[0], ScheduleOutcome::Started as i32);
    assert!(outcomes[1..]
        .iter()
        .all(|o| *o == ScheduleOutcome::SkippedOverlap as i32));
    assert_eq!(info.next_fire_ms.len(), 10);

    client
        .pause_schedule("one-at-a-time", true, "deploy")
        .await
        .unwrap();
    let paused = client.describe_schedule("one-at-a-time").await.unwrap();
    assert!(paused.paused && paused.next_fire_ms.is_empty());
    assert_eq!(paused.note, "deploy");
    // A trigger runs while paused, under the overlap policy: still skipped.
    let action = client.trigger_schedule("one-at-a-time").await.unwrap();
    assert!(action.trigger);
    assert_eq!(action.outcome, ScheduleOutcome::SkippedOverlap as i32);

    client.delete_schedule("one-at-a-time").await.unwrap();
    let error = client.describe_schedule("one-at-a-time").await.unwrap_err();
    assert!(error.to_string().contains("does not exist"), "{error}");
    let listed = client.list_schedules("", 10).await.unwrap();
    assert!(listed.schedules.is_empty());
    cluster.wait_same_digest(WAIT).await;
    cluster.shutdown().await;
}

/// `buffer_one` on a live cluster: the kept time starts when a worker ends
/// the run before it, in that report's apply.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn buffer_one_starts_the_kept_time_when_the_worker_reports() {
    let cluster = TestCluster::start(3, |_| {}).await;
    let client = cluster.client_with("slow", NEVER_ENDS).await;
    cluster
        .wait_apply_version(raftflow_store::version::APPLY_VERSION_MAX, WAIT)
        .await;
    client
        .create_schedule(every_second("kept", "slow", OverlapPolicy::BufferOne))
        .await
        .unwrap();
    let waiting = wait_schedule(&cluster, "kept", |s| s.skipped >= 1).await;
    let (first, kept_ms) = (waiting.running[0].clone(), waiting.buffered[0].0);
    let activities = vec!["sched.nobody".to_string()];
    let task = loop {
        if let Some(task) = client.poll_task(&activities, "w", 5_000).await.unwrap() {
            break task;
        }
    };
    assert_eq!(task.execution_id, first);
    client.complete_task(&task.token, "{}").await.unwrap();
    let after = wait_schedule(&cluster, "kept", |s| s.running.first() != Some(&first)).await;
    let kept = format!("slow:{}", execution_name("kept", kept_ms, false));
    assert_eq!(after.running.first(), Some(&kept), "{after:?}");
    client.delete_schedule("kept").await.unwrap();
    cluster.wait_same_digest(WAIT).await;
    cluster.shutdown().await;
}
