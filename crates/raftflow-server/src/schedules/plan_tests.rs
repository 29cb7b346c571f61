//! The timetable alone: what is due when, one fire in flight per schedule,
//! missed times past the window skipped, pauses and deletes.

use super::*;
use raftflow_store::schedules::{Overlap, ScheduleDef};

/// 2026-12-04T02:00:00Z.
const T0_MS: u64 = 1_796_349_600_000;

fn schedule(name: &str, spec: &str, cursor_ms: u64) -> Schedule {
    Schedule {
        def: ScheduleDef {
            name: name.into(),
            state_machine: "sm".into(),
            version: 0,
            input: "{}".into(),
            specs: vec![spec.into()],
            zone: "UTC".into(),
            start_ms: None,
            end_ms: None,
            overlap: Overlap::Skip,
            catchup_window_s: 60,
            description: String::new(),
            pause_on_failure: false,
            exclude_days: Vec::new(),
            jitter_ms: 0,
        },
        paused: false,
        note: String::new(),
        revision: 4,
        created_ms: cursor_ms,
        updated_ms: cursor_ms,
        cursor_ms,
        running: Vec::new(),
        buffered: Vec::new(),
        recent: Vec::new(),
        fired: 0,
        skipped: 0,
        decided: Vec::new(),
    }
}

fn fire(name: &str, scheduled_ms: u64) -> Due {
    Due::Fire {
        name: name.into(),
        revision: 4,
        scheduled_ms,
        jitter_ms: 0,
    }
}

#[test]
fn due_times_come_in_order_one_in_flight_per_schedule() {
    let mut plan = Plan::default();
    plan.set(
        "minutely",
        Some(&schedule("minutely", "rate(1 minute)", T0_MS)),
    );
    plan.set(
        "secondly",
        Some(&schedule("secondly", "* * * * * *", T0_MS)),
    );
    assert_eq!(plan.next_due_ms(), Some(T0_MS + 1000));
    assert!(plan.take_due(T0_MS + 999, 10).is_empty());
    assert_eq!(
        plan.take_due(T0_MS + 1000, 10),
        vec![fire("secondly", T0_MS + 1000)]
    );
    // In flight: not due again until apply hands the record back.
    assert!(plan.take_due(T0_MS + 5000, 10).is_empty());
    plan.set(
        "secondly",
        Some(&schedule("secondly", "* * * * * *", T0_MS + 1000)),
    );
    assert_eq!(
        plan.take_due(T0_MS + 60_000, 10),
        vec![
            fire("secondly", T0_MS + 2000),
            fire("minutely", T0_MS + 60_000)
        ]
    );
    assert_eq!(plan.len(), 2);
}

#[test]
fn a_time_older_than_the_catch_up_window_is_skipped_through_the_window() {
    let mut plan = Plan::default();
    plan.set(
        "secondly",
        Some(&schedule("secondly", "* * * * * *", T0_MS)),
    );
    let now = T0_MS + 3_600_000;
    let skip = Due::Skip {
        name: "secondly".into(),
        revision: 4,
        through_ms: now - 60_000,
    };
    assert_eq!(plan.take_due(now, 10), vec![skip]);
    // After the skip applied, the times inside the window fire, in order.
    plan.set(
        "secondly",
        Some(&schedule("secondly", "* * * * * *", now - 60_000)),
    );
    assert_eq!(plan.take_due(now, 10), vec![fire("secondly", now - 59_000)]);
}

#[test]
fn paused_deleted_ended_and_unreadable_schedules_are_not_due() {
    let mut plan = Plan::default();
    let mut paused = schedule("paused", "* * * * * *", T0_MS);
    paused.paused = true;
    plan.set("paused", Some(&paused));
    let mut ended = schedule("ended", "* * * * * *", T0_MS);
    ended.def.end_ms = Some(T0_MS);
    plan.set("ended", Some(&ended));
    plan.set("odd", Some(&schedule("odd", "cron(not a spec)", T0_MS)));
    plan.set("gone", Some(&schedule("gone", "* * * * * *", T0_MS)));
    plan.set("gone", None);
    assert_eq!(plan.next_due_ms(), None);
    assert!(plan.take_due(u64::MAX, 10).is_empty());
    assert_eq!(plan.len(), 3);
    plan.clear();
    assert!(plan.is_empty());
}

#[test]
fn take_due_stops_at_its_maximum() {
    let mut plan = Plan::default();
    for i in 0..5 {
        let name = format!("s{i}");
        plan.set(&name, Some(&schedule(&name, "* * * * * *", T0_MS)));
    }
    assert_eq!(plan.take_due(T0_MS + 1000, 3).len(), 3);
    assert_eq!(plan.take_due(T0_MS + 1000, 3).len(), 2);
}

#[test]
fn jitter_delays_the_fire_not_the_scheduled_time() {
    let mut plan = Plan::default();
    let mut hourly = schedule("hourly", "rate(1 hour)", T0_MS);
    hourly.def.jitter_ms = 600_000;
    hourly.def.catchup_window_s = 3600;
    plan.set("hourly", Some(&hourly));
    let scheduled = T0_MS + 3_600_000;
    let delay = raftflow_core::schedule_timetable::jitter_ms("hourly", scheduled, 600_000);
    assert_eq!(plan.next_due_ms(), Some(scheduled + delay));
    assert!(plan.take_due(scheduled + delay - 1, 10).is_empty());
    assert_eq!(
        plan.take_due(scheduled + delay, 10),
        vec![Due::Fire {
            name: "hourly".into(),
            revision: 4,
            scheduled_ms: scheduled,
            jitter_ms: delay,
        }]
    );
    // A new leader plans the same delay for the same time.
    let mut other = Plan::default();
    other.set("hourly", Some(&hourly));
    assert_eq!(other.next_due_ms(), Some(scheduled + delay));
}
