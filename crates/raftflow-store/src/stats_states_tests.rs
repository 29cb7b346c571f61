//! Per-state statistics under apply: counted from version 23 only; every
//! visit's outcome, retries and duration into minute and hour records; the
//! same on replicas that batch differently.

use super::*;
use crate::command::{Command, CommandResult};
use crate::stats::{duration_bucket, HOUR_MS, MINUTE_MS};
use crate::test_util::{digest, Replica};
use crate::workflow::reads;

/// Reserve retries `Busy` once after 2 s; Charge's `Declined` is caught by
/// Release, whose error fails the execution.
const ORDER: &str = r#"{"StartAt":"Check","States":{
  "Check":{"Type":"Pass","Next":"Reserve"},
  "Reserve":{"Type":"Task","Resource":"arn:aws:states:::activity:reserve",
    "Retry":[{"ErrorEquals":["Busy"],"IntervalSeconds":2}],"Next":"Charge"},
  "Charge":{"Type":"Task","Resource":"arn:aws:states:::activity:charge",
    "Catch":[{"ErrorEquals":["Declined"],"Next":"Release"}],"End":true},
  "Release":{"Type":"Task","Resource":"arn:aws:states:::activity:release","End":true}}}"#;
/// A minute's start.
const T0_MS: u64 = 1_796_349_600_000;

fn start(name: &str, now_ms: u64) -> Command {
    Command::StartExecution {
        state_machine: "orders".into(),
        version: 0,
        name: name.into(),
        input: "{}".into(),
        now_ms,
        seed: 3,
        default_task_timeout_s: 0,
    }
}

fn open_token(n: &Replica) -> String {
    let open = reads::open_tasks(&n.db).unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    open[0].token.clone()
}

/// The open task, handed out under epoch 1.
fn hand_out(n: &mut Replica, now_ms: u64) -> String {
    let token = open_token(n);
    let dispatched = n.apply(Command::TaskDispatched {
        token: token.clone(),
        epoch: 1,
        worker: "w".into(),
        now_ms,
    });
    assert!(
        !matches!(dispatched, CommandResult::Rejected { .. }),
        "{dispatched:?}"
    );
    token
}

fn fail(n: &mut Replica, error: &str, now_ms: u64) {
    let token = hand_out(n, now_ms);
    let failed = n.apply(Command::TaskFailed {
        token,
        epoch: Some(1),
        error: error.into(),
        cause: String::new(),
        now_ms,
        seed: 1,
    });
    assert!(
        !matches!(failed, CommandResult::Rejected { .. }),
        "{failed:?}"
    );
}

fn succeed(n: &mut Replica, now_ms: u64) {
    let token = hand_out(n, now_ms);
    let done = n.apply(Command::TaskCompleted {
        token,
        epoch: Some(1),
        output: "{}".into(),
        now_ms,
        seed: 1,
    });
    assert!(!matches!(done, CommandResult::Rejected { .. }), "{done:?}");
}

/// One order through every outcome: Check left at once, Reserve failed
/// then retried and left after 30 s, Charge caught 5 s later, Release
/// failed the execution a minute after that.
fn run_order(n: &mut Replica, name: &str) {
    n.apply(start(name, T0_MS));
    fail(n, "Busy", T0_MS + 1_000);
    let (execution, timer, _) = reads::timers(&n.db).unwrap().remove(0);
    n.apply(Command::TimerFired {
        execution_id: execution,
        timer,
        now_ms: T0_MS + 3_000,
        seed: 1,
    });
    succeed(n, T0_MS + 30_000);
    fail(n, "Declined", T0_MS + 35_000);
    fail(n, "Gone", T0_MS + 95_000);
}

/// Every hour bucket's states.
fn all_time(n: &Replica) -> StateTable {
    window(&n.db, "orders", None, Grain::Hour, (0, u64::MAX)).unwrap()
}

fn node(version: u32) -> Replica {
    let mut n = Replica::new(version, &[("orders", ORDER)], T0_MS);
    n.apply(Command::BeginEpoch {
        leader: 1,
        now_ms: T0_MS,
    });
    n
}

#[test]
fn nothing_is_counted_before_version_23() {
    let mut n = node(STATE_STATS_FROM - 1);
    run_order(&mut n, "a");
    assert!(all_time(&n).is_empty());
}

#[test]
fn each_visit_counts_its_outcome_retries_and_duration_where_it_ended() {
    let mut n = node(STATE_STATS_FROM);
    run_order(&mut n, "a");
    let all = all_time(&n);
    let row = |name: &str| {
        let c = &all[name];
        (c.succeeded, c.caught, c.failed, c.retries)
    };
    assert_eq!(row("Check"), (1, 0, 0, 0));
    assert_eq!(row("Reserve"), (1, 0, 0, 1));
    assert_eq!(row("Charge"), (0, 1, 0, 0));
    assert_eq!(row("Release"), (0, 0, 1, 0));
    assert_eq!(all["Reserve"].durations[duration_bucket(30_000)], 1);
    assert_eq!(all["Reserve"].duration_ms_sum, 30_000);
    assert_eq!(all["Release"].duration_ms_sum, 60_000);

    // Release ended in the second minute, the rest in the first.
    let first = window(
        &n.db,
        "orders",
        None,
        Grain::Minute,
        (T0_MS, T0_MS + MINUTE_MS),
    )
    .unwrap();
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        ["Charge", "Check", "Reserve"]
    );
    let second = (T0_MS + MINUTE_MS, T0_MS + 2 * MINUTE_MS);
    let second = window(&n.db, "orders", None, Grain::Minute, second).unwrap();
    assert_eq!(second.keys().collect::<Vec<_>>(), ["Release"]);
    let hour = window(&n.db, "orders", None, Grain::Hour, (T0_MS, T0_MS + HOUR_MS)).unwrap();
    assert_eq!(hour, all, "one hour holds it all");
    let minutes = window(&n.db, "orders", None, Grain::Minute, (0, u64::MAX)).unwrap();
    assert_eq!(minutes, all, "and the minutes add up to it");
    assert!(window(&n.db, "orders", Some(2), Grain::Hour, (0, u64::MAX))
        .unwrap()
        .is_empty());
    assert_eq!(all["Reserve"].duration_percentile_ms(500), Some(30_000));
}

/// The records are read-modify-write through the batch's overlay: a
/// replica applying every entry in one batch counts the same.
#[test]
fn replicas_that_batch_differently_count_alike() {
    let mut one_by_one = node(STATE_STATS_FROM);
    let mut together = node(STATE_STATS_FROM);
    let starts: Vec<Command> = (0..20)
        .map(|i| start(&format!("e{i}"), T0_MS + i))
        .collect();
    for command in starts.clone() {
        one_by_one.apply(command);
    }
    together.apply_together(starts);
    for n in [&one_by_one, &together] {
        assert_eq!(all_time(n)["Check"].succeeded, 20);
    }
    assert_eq!(digest(&one_by_one.db), digest(&together.db));
}

/// What counting visits costs the apply: executions of four Pass states
/// (four visits each) applied under 22 and 23, 100 entries a batch. A
/// measurement, not a check (run with `--ignored --nocapture`;
/// docs/benchmarks.md has the figures).
#[test]
#[ignore]
fn apply_cost_of_counting_visits() {
    const FOUR: &str = r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"},
      "B":{"Type":"Pass","Next":"C"},"C":{"Type":"Pass","Next":"D"},"D":{"Type":"Pass","End":true}}}"#;
    let before = STATE_STATS_FROM - 1;
    for version in [before, STATE_STATS_FROM, before, STATE_STATS_FROM] {
        let mut n = Replica::new(version, &[("orders", FOUR)], T0_MS);
        let started = std::time::Instant::now();
        for batch in 0..100u64 {
            let commands = (0..100u64)
                .map(|i| start(&format!("e{batch}-{i}"), T0_MS + batch * 1_000 + i))
                .collect();
            n.apply_together(commands);
        }
        let per_start = started.elapsed().as_secs_f64() * 1e6 / 10_000.0;
        println!("apply version {version}: {per_start:.1} µs per execution of four visits");
    }
}
