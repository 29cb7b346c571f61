//! The overlap policies and pause on failure under apply: what a fire
//! does while the schedule's last run is going, and what the end of a run
//! does to the schedule (workflow/schedule_runs.rs).

use super::*;

#[test]
fn overlap_skip_skips_while_the_last_one_runs_and_allow_all_starts() {
    let mut c = Cluster::with_machine(SCHEDULES_FROM, TASK);
    c.apply(put(def(Overlap::Skip, "{}"), true, T0_MS - 1000));
    assert!(matches!(
        outcome(c.fire(T0_MS, Some(1))),
        Outcome::Started { .. }
    ));
    let skipped = outcome(c.fire(T0_MS + 60_000, Some(1)));
    assert_eq!(
        skipped,
        Outcome::SkippedOverlap {
            running: "sm:nightly-20261204T020000Z".into()
        }
    );
    c.apply(put(def(Overlap::AllowAll, "{}"), false, T0_MS + 61_000));
    let schedule = c.schedule();
    assert_eq!((schedule.revision, schedule.cursor_ms), (2, T0_MS + 61_000));
    // Planned under the old revision: refused.
    assert_eq!(
        code(&c.fire(T0_MS + 120_000, Some(1))),
        Some(Reject::FailedPrecondition)
    );
    assert!(matches!(
        outcome(c.fire(T0_MS + 120_000, Some(2))),
        Outcome::Started { .. }
    ));
    let schedule = c.schedule();
    assert_eq!(schedule.running.len(), 2);
    assert_eq!((schedule.fired, schedule.skipped), (2, 1));
}

#[test]
fn terminate_other_stops_the_running_execution_then_starts() {
    let mut c = Cluster::with_machine(SCHEDULES_FROM, TASK);
    c.apply(put(def(Overlap::TerminateOther, "{}"), true, T0_MS - 1000));
    assert!(matches!(
        outcome(c.fire(T0_MS, Some(1))),
        Outcome::Started { .. }
    ));
    let second = outcome(c.fire(T0_MS + 60_000, Some(1)));
    assert_eq!(
        second,
        Outcome::Started {
            execution_id: "sm:nightly-20261204T020100Z".into()
        }
    );
    let first = reads::execution(&c.db, "sm:nightly-20261204T020000Z")
        .unwrap()
        .unwrap();
    assert_eq!(first.status, raftflow_core::Status::Aborted);
    assert_eq!(first.error.as_deref(), Some("Schedule.Overlap"));
    assert_eq!(
        c.schedule().running,
        vec!["sm:nightly-20261204T020100Z".to_string()]
    );
}

fn stop(c: &mut Cluster, id: &str, now_ms: u64) {
    let stopped = c.apply(Command::StopExecution {
        execution_id: id.into(),
        error: "Test.Stop".into(),
        cause: String::new(),
        now_ms,
    });
    assert_eq!(stopped, CommandResult::Accepted, "{id}");
}

#[test]
fn buffer_one_keeps_one_time_and_starts_it_when_the_run_ends() {
    let mut c = Cluster::with_machine(SCHEDULES_FROM, TASK);
    c.apply(put(def(Overlap::BufferOne, "{}"), true, T0_MS - 1000));
    assert!(matches!(
        outcome(c.fire(T0_MS, Some(1))),
        Outcome::Started { .. }
    ));
    assert!(matches!(
        outcome(c.fire(T0_MS + 60_000, Some(1))),
        Outcome::Buffered { .. }
    ));
    assert!(matches!(
        outcome(c.fire(T0_MS + 120_000, Some(1))),
        Outcome::SkippedOverlap { .. }
    ));
    assert_eq!(c.schedule().buffered, vec![(T0_MS + 60_000, 0)]);
    stop(&mut c, "sm:nightly-20261204T020000Z", T0_MS + 130_000);
    let schedule = c.schedule();
    assert!(schedule.buffered.is_empty());
    assert_eq!(
        schedule.running,
        vec!["sm:nightly-20261204T020100Z".to_string()]
    );
    let kept = reads::execution(&c.db, "sm:nightly-20261204T020100Z")
        .unwrap()
        .unwrap();
    assert_eq!(
        kept.start_ms,
        T0_MS + 130_000,
        "started when the run before it ended"
    );
    assert_eq!((schedule.fired, schedule.skipped), (2, 1));
}

#[test]
fn buffer_all_starts_the_kept_times_in_turn_and_a_pause_drops_them() {
    let mut c = Cluster::with_machine(SCHEDULES_FROM, TASK);
    c.apply(put(def(Overlap::BufferAll, "{}"), true, T0_MS - 1000));
    for minute in 0..4 {
        c.fire(T0_MS + minute * 60_000, Some(1));
    }
    assert_eq!(c.schedule().buffered.len(), 3);
    stop(&mut c, "sm:nightly-20261204T020000Z", T0_MS + 250_000);
    stop(&mut c, "sm:nightly-20261204T020100Z", T0_MS + 260_000);
    assert_eq!(
        c.schedule().running,
        vec!["sm:nightly-20261204T020200Z".to_string()]
    );
    c.apply(Command::PauseSchedule {
        name: "nightly".into(),
        paused: true,
        note: String::new(),
        now_ms: T0_MS + 270_000,
    });
    let schedule = c.schedule();
    assert!(schedule.buffered.is_empty());
    assert_eq!(
        schedule.skipped, 1,
        "the kept 02:03 is dropped by the pause"
    );
    stop(&mut c, "sm:nightly-20261204T020200Z", T0_MS + 280_000);
    assert!(c.schedule().running.is_empty());
    assert!(reads::execution(&c.db, "sm:nightly-20261204T020300Z")
        .unwrap()
        .is_none());
}

#[test]
fn pause_on_failure_pauses_in_the_apply_that_failed_the_run() {
    let fails = r#"{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Nope"}}}"#;
    let mut c = Cluster::with_machine(SCHEDULES_FROM, fails);
    let mut def = def(Overlap::Skip, "{}");
    def.pause_on_failure = true;
    c.apply(put(def, true, T0_MS - 1000));
    assert!(matches!(
        outcome(c.fire(T0_MS, Some(1))),
        Outcome::Started { .. }
    ));
    let schedule = c.schedule();
    assert!(schedule.paused);
    assert!(
        schedule
            .note
            .contains("sm:nightly-20261204T020000Z ended FAILED"),
        "{}",
        schedule.note
    );
    assert!(schedule.running.is_empty());
    assert_eq!(
        code(&c.fire(T0_MS + 60_000, Some(2))),
        Some(Reject::FailedPrecondition)
    );
    // A restarted replica rebuilds the same index and reaches the same state.
    let reloaded = crate::machine::Machine::load(&c.db, crate::version::Supported::BINARY).unwrap();
    assert_eq!(
        reloaded.workflows.schedule_runs,
        c.m.workflows.schedule_runs
    );
}
