//! Statistics under apply: counted from version 21 only; starts and ends by
//! status and duration into minute and hour buckets and totals; expired
//! buckets pruned; replicas that batch differently agree.

use super::*;
use crate::command::Command;
use crate::test_util::{digest, Replica};

const PASS: &str = r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#;
const WAIT: &str = r#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::activity:work","End":true}}}"#;
/// A minute's start.
const T0_MS: u64 = 1_796_349_600_000;
const DAY_MS: u64 = 24 * HOUR_MS;

type Node = Replica;

fn node(version: u32) -> Node {
    Replica::new(version, &[("orders", PASS), ("waits", WAIT)], T0_MS)
}

fn minutes_or_hours(n: &Node, sm: &str, grain: Grain) -> Vec<Bucket> {
    series(&n.db, sm, None, grain, 0, u64::MAX).unwrap()
}

fn start(sm: &str, name: &str, now_ms: u64) -> Command {
    Command::StartExecution {
        state_machine: sm.into(),
        version: 0,
        name: name.into(),
        input: "{}".into(),
        now_ms,
        seed: 3,
        default_task_timeout_s: 0,
    }
}

fn stop(id: &str, now_ms: u64) -> Command {
    Command::StopExecution {
        execution_id: id.into(),
        error: "States.Aborted".into(),
        cause: String::new(),
        now_ms,
    }
}

#[test]
fn nothing_is_counted_before_version_21() {
    let mut n = node(STATS_FROM - 1);
    n.apply(start("orders", "a", T0_MS));
    assert!(minutes_or_hours(&n, "orders", Grain::Minute).is_empty());
    assert!(totals(&n.db, "orders").unwrap().is_empty());
}

#[test]
fn starts_and_ends_count_into_minutes_hours_and_totals() {
    let mut n = node(STATS_FROM);
    n.apply(start("orders", "a", T0_MS + 1_000));
    n.apply(start("orders", "b", T0_MS + 2_000));
    n.apply(start("waits", "w", T0_MS + 3_000));
    n.apply(stop("waits:w", T0_MS + 93_000)); // 90 s later, in the next minute

    let minutes = minutes_or_hours(&n, "orders", Grain::Minute);
    assert_eq!(minutes.len(), 1);
    let c = &minutes[0].counts;
    assert_eq!((minutes[0].start_ms, c.started, c.succeeded), (T0_MS, 2, 2));
    assert_eq!(c.durations[0], 2, "a Pass ends in the apply that starts it");

    let waits = minutes_or_hours(&n, "waits", Grain::Minute);
    let starts: Vec<_> = waits
        .iter()
        .map(|b| (b.start_ms, b.counts.started, b.counts.aborted))
        .collect();
    assert_eq!(starts, vec![(T0_MS, 1, 0), (T0_MS + MINUTE_MS, 0, 1)]);
    let over_a_minute = duration_bucket(90_000);
    assert_eq!(DURATION_BOUNDS_MS[over_a_minute], 300_000);
    assert_eq!(waits[1].counts.durations[over_a_minute], 1);
    assert_eq!(waits[1].counts.duration_ms_sum, 90_000);

    let hours = minutes_or_hours(&n, "waits", Grain::Hour);
    assert_eq!(hours.len(), 1);
    assert_eq!((hours[0].counts.started, hours[0].counts.aborted), (1, 1));
    let totals = totals(&n.db, "orders").unwrap();
    assert_eq!(totals.len(), 1);
    assert_eq!(
        (totals[0].0, totals[0].1.started, totals[0].1.ended()),
        (1, 2, 2)
    );
    let one_version = series(&n.db, "orders", Some(2), Grain::Minute, 0, u64::MAX).unwrap();
    assert!(one_version.is_empty(), "version 2 never ran");
}

#[test]
fn expired_buckets_are_pruned_as_new_ones_open() {
    let mut n = node(STATS_FROM);
    n.apply(start("orders", "old", T0_MS));
    n.apply(start("orders", "days-later", T0_MS + 3 * DAY_MS));
    let minutes: Vec<u64> = minutes_or_hours(&n, "orders", Grain::Minute)
        .iter()
        .map(|b| b.start_ms)
        .collect();
    assert_eq!(
        minutes,
        vec![T0_MS + 3 * DAY_MS],
        "minutes are kept two days"
    );
    assert_eq!(
        minutes_or_hours(&n, "orders", Grain::Hour).len(),
        2,
        "hours are kept 35 days"
    );
    n.apply(start("orders", "weeks-later", T0_MS + 40 * DAY_MS));
    let hours: Vec<u64> = minutes_or_hours(&n, "orders", Grain::Hour)
        .iter()
        .map(|b| b.start_ms)
        .collect();
    assert_eq!(hours, vec![T0_MS + 40 * DAY_MS]);
    let total = &totals(&n.db, "orders").unwrap()[0].1;
    assert_eq!(total.started, 3, "totals are never pruned");
}

/// Pruning reads RocksDB: a replica that applies the same entries in one
/// batch must delete the same buckets as one that applies them one by one.
#[test]
fn replicas_that_batch_differently_prune_alike() {
    let mut one_by_one = node(STATS_FROM);
    let mut together = node(STATS_FROM);
    for i in 0..150u64 {
        let command = start("orders", &format!("e{i}"), T0_MS + i * MINUTE_MS);
        one_by_one.apply(command.clone());
        together.apply(command);
    }
    let later: Vec<Command> = (0..2u64)
        .map(|i| {
            start(
                "orders",
                &format!("late{i}"),
                T0_MS + 3 * DAY_MS + i * MINUTE_MS,
            )
        })
        .collect();
    for command in later.clone() {
        one_by_one.apply(command);
    }
    together.apply_together(later);
    let left = minutes_or_hours(&one_by_one, "orders", Grain::Minute).len();
    assert_eq!(
        left,
        150 - 2 * PRUNE_PER_BUCKET + 2,
        "64 pruned per new bucket"
    );
    assert_eq!(
        minutes_or_hours(&together, "orders", Grain::Minute).len(),
        left
    );
    assert_eq!(digest(&one_by_one.db), digest(&together.db));
}

#[test]
fn percentiles_are_read_off_the_buckets() {
    let mut c = Counts::default();
    assert_eq!(c.duration_percentile_ms(500), None);
    c.durations[duration_bucket(5)] = 50; // ≤ 10 ms
    c.durations[duration_bucket(200)] = 45; // 100..250 ms
    c.durations[duration_bucket(4_000)] = 5; // 2.5..5 s
    assert_eq!(c.duration_percentile_ms(500), Some(10));
    assert_eq!(c.duration_percentile_ms(950), Some(250));
    assert_eq!(c.duration_percentile_ms(990), Some(2_500 + 2_500 * 4 / 5));
    c.durations[DURATION_BUCKETS - 1] = 1_000;
    assert_eq!(
        c.duration_percentile_ms(990),
        None,
        "past an hour: no bound to give"
    );
}

/// What counting costs the apply: the same starts applied under 20 and 21,
/// 100 entries a batch. A measurement, not a check (run with `--ignored
/// --nocapture`; docs/benchmarks.md has the figures).
#[test]
#[ignore]
fn apply_cost_of_counting() {
    for version in [STATS_FROM - 1, STATS_FROM, STATS_FROM - 1, STATS_FROM] {
        let mut n = node(version);
        let started = std::time::Instant::now();
        for batch in 0..100u64 {
            let commands = (0..100u64)
                .map(|i| {
                    start(
                        "orders",
                        &format!("e{batch}-{i}"),
                        T0_MS + batch * 1_000 + i,
                    )
                })
                .collect();
            n.apply_together(commands);
        }
        let per_start = started.elapsed().as_secs_f64() * 1e6 / 10_000.0;
        println!("apply version {version}: {per_start:.1} µs per started-and-ended execution");
    }
}
