//! Apply version 14's schedules on a real cluster: a backfill starts each
//! past time once (and nothing when repeated, nor after a leader change),
//! and several specs with excluded dates plan the times the table says.

use raftflow_client::proto::{BackfillScheduleRequest, OverlapPolicy, ScheduleDefinition};
use raftflow_store::schedules::execution_name;

use crate::harness::TestCluster;
use crate::schedules::{every_second, executions_of, wait_schedule, STAMPED, WAIT};

fn range(name: &str, from_ms: u64, to_ms: u64) -> BackfillScheduleRequest {
    BackfillScheduleRequest {
        name: name.into(),
        from_ms,
        to_ms,
        overlap: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backfill_starts_each_past_time_once_even_when_repeated_after_a_leader_change() {
    let mut cluster = TestCluster::start(3, |_| {}).await;
    let client = cluster.client_with("stamped", STAMPED).await;
    cluster
        .wait_apply_version(raftflow_store::version::APPLY_VERSION_MAX, WAIT)
        .await;
    client
        .create_schedule(every_second("past", "stamped", OverlapPolicy::AllowAll))
        .await
        .unwrap();
    let fired = wait_schedule(&cluster, "past", |s| s.fired >= 2).await;
    // Ten seconds before the schedule existed, through the times it fired.
    let from_ms = fired.created_ms - fired.created_ms % 1000 - 10_000;
    let to_ms = fired.cursor_ms;
    let first = client
        .backfill_schedule(range("past", from_ms, to_ms))
        .await
        .unwrap();
    let expected = ((to_ms - from_ms) / 1000 + 1) as u32;
    assert_eq!(first.times, expected);
    assert_eq!(first.started, 11, "{first:?}");
    assert_eq!(first.already, expected - 11, "{first:?}");

    let leader = cluster.wait_leader(WAIT).await;
    cluster.stop(leader).await;
    let again = client
        .backfill_schedule(range("past", from_ms, to_ms))
        .await
        .unwrap();
    assert_eq!((again.started, again.already), (0, expected), "{again:?}");
    // One execution per second of the range, by name, none twice.
    let runs = executions_of(&client, "stamped").await;
    for i in 0..expected as u64 {
        let name = execution_name("past", from_ms + i * 1000, false);
        let count = runs.iter().filter(|e| e.name == name).count();
        assert_eq!(count, 1, "{name}");
    }
    let future = client
        .backfill_schedule(range("past", to_ms + 3_600_000, to_ms + 7_200_000))
        .await
        .unwrap_err();
    assert!(
        future.to_string().contains("nothing to backfill"),
        "{future}"
    );
    cluster.wait_same_digest(WAIT).await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_specs_and_excluded_dates_plan_the_tables_times() {
    let cluster = TestCluster::start(3, |_| {}).await;
    let client = cluster.client_with("stamped", STAMPED).await;
    cluster
        .wait_apply_version(raftflow_store::version::APPLY_VERSION_MAX, WAIT)
        .await;
    let schedule = ScheduleDefinition {
        name: "twice-daily".into(),
        state_machine: "stamped".into(),
        spec: "cron(0 9 * * ? *)".into(),
        more_specs: vec!["0 18 * * *".into()],
        time_zone: "Europe/Berlin".into(),
        exclude_dates: vec!["2099-12-25".into()],
        start_ms: 4_101_750_000_000, // 2099-12-24T00:00:00+01:00
        jitter_ms: 60_000,
        ..Default::default()
    };
    let saved = client.create_schedule(schedule).await.unwrap();
    let wall: Vec<String> = saved
        .next_fire_ms
        .iter()
        .take(4)
        .map(|at| raftflow_core::schedule_spec::wall_clock(*at, "Europe/Berlin").unwrap())
        .collect();
    assert_eq!(
        wall,
        [
            "2099-12-24 09:00:00 CET",
            "2099-12-24 18:00:00 CET",
            "2099-12-26 09:00:00 CET",
            "2099-12-26 18:00:00 CET"
        ]
    );
    let info = client.describe_schedule("twice-daily").await.unwrap();
    let def = info.schedule.unwrap();
    assert_eq!(def.more_specs, ["0 18 * * *"]);
    assert_eq!(def.exclude_dates, ["2099-12-25"]);
    assert_eq!(def.jitter_ms, 60_000);
    cluster.shutdown().await;
}
