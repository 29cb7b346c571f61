//! Apply version 14: backfill never starts a time twice, the decided
//! ranges, several specs in the record, and the layouts of version 13.

use super::*;

const MINUTE_MS: u64 = 60_000;

fn backfill(c: &mut Cluster, from_ms: u64, to_ms: u64, times: Vec<u64>) -> CommandResult {
    let revision = c.schedule().revision;
    c.apply(Command::BackfillSchedule {
        name: "nightly".into(),
        revision,
        from_ms,
        to_ms,
        times,
        overlap: Overlap::AllowAll,
        now_ms: to_ms + 90 * MINUTE_MS,
        seed: 11,
        default_task_timeout_s: 0,
    })
}

fn minutes(from_ms: u64, count: u64) -> Vec<u64> {
    (0..count).map(|i| from_ms + i * MINUTE_MS).collect()
}

fn done(result: CommandResult) -> Backfilled {
    match result {
        CommandResult::ScheduleBackfilled(done) => done,
        other => panic!("not a backfill: {other:?}"),
    }
}

#[test]
fn a_backfill_starts_each_time_once_and_never_a_time_the_schedule_fired() {
    let mut c = Cluster::with_machine(TIMETABLES_FROM, PASS);
    c.apply(put3(def(Overlap::Skip, "{}"), true, T0_MS - 1000));
    outcome(c.fire(T0_MS, Some(1)));
    outcome(c.fire(T0_MS + MINUTE_MS, Some(1)));
    // Five minutes before the schedule existed, and the two it fired.
    let from = T0_MS - 5 * MINUTE_MS;
    let to = T0_MS + MINUTE_MS;
    let first = done(backfill(&mut c, from, to, minutes(from, 7)));
    assert_eq!((first.started, first.already), (5, 2));
    let fired = c.schedule().fired;
    assert_eq!(fired, 7);
    assert_eq!(c.schedule().decided, vec![(from, to)]);
    // Again: every time is decided; nothing starts, nothing is recorded
    // (the decision is the range's, not a look-up of execution names).
    let again = done(backfill(&mut c, from, to, minutes(from, 7)));
    assert_eq!((again.started, again.already), (0, 7));
    assert_eq!(c.schedule().fired, fired);
    let page = reads::executions(&c.db, "sm", None, 100, None).unwrap();
    assert_eq!(page.items.len(), 7);
}

#[test]
fn times_skipped_as_missed_or_paused_can_be_backfilled() {
    let mut c = Cluster::with_machine(TIMETABLES_FROM, PASS);
    c.apply(put3(def(Overlap::Skip, "{}"), true, T0_MS - 1000));
    outcome(c.fire(T0_MS, Some(1)));
    let through = T0_MS + 10 * MINUTE_MS;
    c.apply(Command::SkipMissed {
        name: "nightly".into(),
        revision: 1,
        through_ms: through,
        now_ms: through + 3_600_000,
    });
    assert_eq!(c.schedule().decided, vec![(T0_MS, T0_MS)]);
    let filled = done(backfill(&mut c, T0_MS, through, minutes(T0_MS, 11)));
    assert_eq!((filled.started, filled.already), (10, 1));
    assert_eq!(c.schedule().decided, vec![(T0_MS, through)]);
    // The next fire joins the range that ends at the cursor.
    outcome(c.fire(through + MINUTE_MS, Some(1)));
    assert_eq!(c.schedule().decided, vec![(T0_MS, through + MINUTE_MS)]);
}

#[test]
fn a_backfill_entry_is_bounded_and_checked() {
    let mut c = Cluster::with_machine(TIMETABLES_FROM, PASS);
    c.apply(put3(def(Overlap::Skip, "{}"), true, T0_MS));
    let problem = |r: CommandResult| match r {
        CommandResult::Rejected { code, message } => {
            assert_eq!(code, Reject::InvalidArgument);
            message
        }
        other => panic!("not refused: {other:?}"),
    };
    let future = problem(backfill(&mut c, T0_MS, T0_MS + MINUTE_MS, vec![]));
    assert!(future.contains("after the schedule's cursor"), "{future}");
    let outside = problem(backfill(&mut c, T0_MS - MINUTE_MS, T0_MS, vec![T0_MS + 1]));
    assert!(outside.contains("inside the range"), "{outside}");
    let many = minutes(0, MAX_BACKFILL_BATCH as u64 + 1);
    assert!(problem(backfill(&mut c, 0, T0_MS, many)).contains("at most 256"));
    let stale = c.apply(Command::BackfillSchedule {
        name: "nightly".into(),
        revision: 9,
        from_ms: 0,
        to_ms: 1,
        times: vec![],
        overlap: Overlap::Skip,
        now_ms: T0_MS,
        seed: 1,
        default_task_timeout_s: 0,
    });
    assert_eq!(code(&stale), Some(Reject::FailedPrecondition));
}

#[test]
fn decided_ranges_join_and_stay_bounded() {
    let mut s = Cluster::with_machine(TIMETABLES_FROM, PASS);
    s.apply(put3(def(Overlap::Skip, "{}"), true, T0_MS));
    let mut schedule = s.schedule();
    schedule.decide(10, 20);
    schedule.decide(30, 40);
    schedule.decide(21, 29);
    assert_eq!(schedule.decided, vec![(10, 40)]);
    schedule.decide(0, 5);
    schedule.decide(50, 60);
    assert!(schedule.is_decided(5) && schedule.is_decided(40) && !schedule.is_decided(45));
    assert!(!schedule.is_decided(6) && !schedule.is_decided(61));
    for i in 0..(MAX_DECIDED_RANGES as u64 + 10) {
        schedule.decide(1000 + i * 10, 1000 + i * 10);
    }
    assert_eq!(schedule.decided.len(), MAX_DECIDED_RANGES);
    // Joining the oldest loses only the chance to backfill their gap.
    assert!(schedule.is_decided(6));
}

#[test]
fn version_13_refuses_the_new_commands_and_keeps_writing_its_layout() {
    let mut c = Cluster::with_machine(SCHEDULES_FROM, PASS);
    let mut two = def(Overlap::Skip, "{}");
    two.specs.push("rate(5 minutes)".into());
    assert_eq!(
        code(&c.apply(put3(two.clone(), true, T0_MS - 1000))),
        Some(Reject::FailedPrecondition)
    );
    c.apply(put(def(Overlap::Skip, "{}"), true, T0_MS - 1000));
    outcome(c.fire(T0_MS, Some(1)));
    let refused = backfill(&mut c, T0_MS - MINUTE_MS, T0_MS, vec![]);
    assert_eq!(code(&refused), Some(Reject::FailedPrecondition));
    let bytes =
        c.db.get(crate::db::CF_SM, &key("nightly"))
            .unwrap()
            .unwrap();
    assert!(matches!(
        crate::codec::decode::<Stored>(&bytes).unwrap(),
        Stored::V2(_)
    ));
    // Raised to 14: the record reads with its time since creation decided,
    // and is written in the new layout from its next change.
    c.apply(Command::SetApplyVersion {
        version: TIMETABLES_FROM,
    });
    assert_eq!(c.schedule().decided, vec![(T0_MS - 1000, T0_MS)]);
    let none = done(backfill(&mut c, T0_MS - 1000, T0_MS, vec![T0_MS]));
    assert_eq!((none.started, none.already), (0, 1));
    assert!(matches!(
        c.apply(put3(two, false, T0_MS + 5)),
        CommandResult::ScheduleSaved { .. }
    ));
    let bytes =
        c.db.get(crate::db::CF_SM, &key("nightly"))
            .unwrap()
            .unwrap();
    let Stored::V3(record) = crate::codec::decode::<Stored>(&bytes).unwrap() else {
        panic!("not the version 14 layout");
    };
    assert_eq!(record.def.specs.len(), 2);
}
