//! The schedule commands under apply: exactly one execution per scheduled
//! time, the overlap policy, pause, trigger, update and missed times.

use super::*;
use crate::command::{Command, CommandResult, Reject};
use crate::test_util::{apply, machine_at};
use crate::workflow::reads;

/// 2026-12-04T02:00:00Z.
const T0_MS: u64 = 1_796_349_600_000;
const PASS: &str = r#"{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"scheduled.$":"$$.Schedule.ScheduledTime","given.$":"$.when"},"End":true}}}"#;
const TASK: &str =
    r#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"activity:slow","End":true}}}"#;

struct Cluster {
    _dir: tempfile::TempDir,
    db: crate::Db,
    m: crate::machine::Machine,
    index: u64,
}

impl Cluster {
    fn new(version: u32) -> Self {
        let (_dir, db, m) = machine_at(version);
        Self {
            _dir,
            db,
            m,
            index: 1,
        }
    }

    fn apply(&mut self, command: Command) -> CommandResult {
        self.index += 1;
        apply(&mut self.m, &self.db, self.index, command).unwrap()
    }

    fn with_machine(version: u32, definition: &str) -> Self {
        let mut c = Self::new(version);
        let created = c.apply(Command::CreateStateMachine {
            name: "sm".into(),
            definition: definition.into(),
            description: String::new(),
            now_ms: T0_MS - 10_000,
        });
        assert!(matches!(created, CommandResult::StateMachineCreated { .. }));
        c
    }

    fn fire(&mut self, scheduled_ms: u64, revision: Option<u64>) -> CommandResult {
        self.apply(Command::FireSchedule {
            name: "nightly".into(),
            scheduled_ms,
            revision,
            now_ms: scheduled_ms + 5,
            seed: 7,
            default_task_timeout_s: 0,
        })
    }

    fn schedule(&self) -> Schedule {
        read(&self.db, "nightly")
            .unwrap()
            .expect("the schedule exists")
    }
}

fn def(overlap: Overlap, input: &str) -> ScheduleDef {
    ScheduleDef {
        name: "nightly".into(),
        state_machine: "sm".into(),
        version: 0,
        input: input.into(),
        specs: vec!["rate(1 minute)".into()],
        zone: "UTC".into(),
        start_ms: None,
        end_ms: None,
        overlap,
        catchup_window_s: 3600,
        description: String::new(),
        pause_on_failure: false,
        exclude_days: Vec::new(),
        jitter_ms: 0,
    }
}

/// A create or update in the layout of apply version 13.
fn put(def: ScheduleDef, create: bool, now_ms: u64) -> Command {
    Command::PutScheduleV2 {
        def: (&def).into(),
        create,
        now_ms,
    }
}

/// A create or update in the layout of apply version 14.
fn put3(def: ScheduleDef, create: bool, now_ms: u64) -> Command {
    Command::PutScheduleV3 {
        def,
        create,
        now_ms,
    }
}

fn code(result: &CommandResult) -> Option<Reject> {
    match result {
        CommandResult::Rejected { code, .. } => Some(*code),
        _ => None,
    }
}

fn outcome(result: CommandResult) -> Outcome {
    match result {
        CommandResult::ScheduleActed(action) => action.outcome,
        other => panic!("not an action: {other:?}"),
    }
}

#[test]
fn before_version_13_a_schedule_is_refused() {
    let mut c = Cluster::with_machine(SCHEDULES_FROM - 1, PASS);
    let result = c.apply(put(def(Overlap::Skip, "{}"), true, T0_MS - 1000));
    assert_eq!(code(&result), Some(Reject::FailedPrecondition));
    assert!(read(&c.db, "nightly").unwrap().is_none());
}

#[test]
fn each_scheduled_time_starts_one_execution_that_sees_the_time() {
    let mut c = Cluster::with_machine(SCHEDULES_FROM, PASS);
    let input = format!(r#"{{"when":"{SCHEDULED_TIME_PLACEHOLDER}"}}"#);
    let saved = c.apply(put(def(Overlap::Skip, &input), true, T0_MS - 1000));
    assert_eq!(
        saved,
        CommandResult::ScheduleSaved {
            revision: 1,
            created: true
        }
    );
    let started = outcome(c.fire(T0_MS, Some(1)));
    let id = "sm:nightly-20261204T020000Z".to_string();
    assert_eq!(
        started,
        Outcome::Started {
            execution_id: id.clone()
        }
    );
    let record = reads::execution(&c.db, &id).unwrap().unwrap();
    let output: serde_json::Value = serde_json::from_str(&record.output.unwrap()).unwrap();
    assert_eq!(output["scheduled"], "2026-12-04T02:00:00.000Z");
    assert_eq!(output["given"], "2026-12-04T02:00:00Z");
    // The same time again (a fire retried across a failover) is refused,
    // even after the execution is gone.
    c.apply(Command::PurgeFinished {
        before_ms: u64::MAX,
        limit: 10,
    });
    assert!(reads::execution(&c.db, &id).unwrap().is_none());
    assert_eq!(code(&c.fire(T0_MS, Some(1))), Some(Reject::AlreadyExists));
    assert_eq!(
        code(&c.fire(T0_MS - 60_000, Some(1))),
        Some(Reject::AlreadyExists)
    );
    assert!(reads::execution(&c.db, &id).unwrap().is_none());
    let schedule = c.schedule();
    assert_eq!((schedule.cursor_ms, schedule.fired), (T0_MS, 1));
}

#[test]
fn a_paused_schedule_does_not_fire_but_can_be_triggered() {
    let mut c = Cluster::with_machine(SCHEDULES_FROM, PASS);
    c.apply(put(
        def(Overlap::Skip, r#"{"when":"x"}"#),
        true,
        T0_MS - 1000,
    ));
    let pause = |paused, now_ms| Command::PauseSchedule {
        name: "nightly".into(),
        paused,
        note: "maintenance".into(),
        now_ms,
    };
    assert_eq!(c.apply(pause(true, T0_MS - 500)), CommandResult::Accepted);
    assert_eq!(
        code(&c.fire(T0_MS, Some(2))),
        Some(Reject::FailedPrecondition)
    );
    let triggered = outcome(c.fire(T0_MS + 1_234, None));
    assert_eq!(
        triggered,
        Outcome::Started {
            execution_id: "sm:nightly-trigger-20261204T020001.234Z".into()
        }
    );
    assert_eq!(
        c.schedule().cursor_ms,
        T0_MS - 500,
        "a trigger leaves the cursor"
    );
    // Unpaused later: the times passed while paused are not made up for.
    c.apply(pause(false, T0_MS + 120_000));
    assert_eq!(
        code(&c.fire(T0_MS + 60_000, Some(3))),
        Some(Reject::AlreadyExists)
    );
    assert!(matches!(
        outcome(c.fire(T0_MS + 180_000, Some(3))),
        Outcome::Started { .. }
    ));
    assert_eq!(c.schedule().note, "maintenance");
}

#[test]
fn missed_times_beyond_the_window_are_skipped_and_a_gone_machine_spends_the_time() {
    let mut c = Cluster::with_machine(SCHEDULES_FROM, PASS);
    c.apply(put(
        def(Overlap::Skip, r#"{"when":"x"}"#),
        true,
        T0_MS - 1000,
    ));
    let skip = Command::SkipMissed {
        name: "nightly".into(),
        revision: 1,
        through_ms: T0_MS + 600_000,
        now_ms: T0_MS + 4_000_000,
    };
    let skipped = outcome(c.apply(skip.clone()));
    assert_eq!(
        skipped,
        Outcome::SkippedMissed {
            through_ms: T0_MS + 600_000
        }
    );
    assert_eq!(code(&c.apply(skip)), Some(Reject::AlreadyExists));
    assert_eq!(
        code(&c.fire(T0_MS + 600_000, Some(1))),
        Some(Reject::AlreadyExists)
    );
    c.apply(Command::DeleteStateMachine {
        name: "sm".into(),
        force: true,
        now_ms: T0_MS + 650_000,
    });
    let failed = outcome(c.fire(T0_MS + 660_000, Some(1)));
    assert!(
        matches!(failed, Outcome::StartFailed { message } if message.contains("does not exist"))
    );
    assert_eq!(c.schedule().cursor_ms, T0_MS + 660_000);
}

#[test]
fn bounds_names_and_delete() {
    let mut c = Cluster::with_machine(SCHEDULES_FROM, PASS);
    let mut bad = def(Overlap::Skip, "{}");
    bad.name = "x".repeat(MAX_SCHEDULE_NAME_CHARS + 1);
    assert_eq!(
        code(&c.apply(put(bad, true, 1))),
        Some(Reject::InvalidArgument)
    );
    let mut bad = def(Overlap::Skip, "{}");
    bad.catchup_window_s = 0;
    assert_eq!(
        code(&c.apply(put(bad, true, 1))),
        Some(Reject::InvalidArgument)
    );
    assert_eq!(
        code(&c.apply(put(def(Overlap::Skip, "{}"), false, 1))),
        Some(Reject::NotFound)
    );
    c.apply(put(def(Overlap::Skip, "{}"), true, 1));
    let again = c.apply(put(def(Overlap::Skip, "{}"), true, 2));
    assert_eq!(
        again,
        CommandResult::ScheduleSaved {
            revision: 1,
            created: false
        }
    );
    let other = c.apply(put(def(Overlap::AllowAll, "{}"), true, 3));
    assert_eq!(code(&other), Some(Reject::AlreadyExists));
    let before = crate::test_util::digest(&c.db);
    let delete = Command::DeleteSchedule {
        name: "nightly".into(),
        now_ms: 4,
    };
    assert_eq!(c.apply(delete.clone()), CommandResult::Deleted);
    assert_ne!(before, crate::test_util::digest(&c.db));
    assert_eq!(code(&c.apply(delete)), Some(Reject::NotFound));
    assert!(list(&c.db, "", 10).unwrap().is_empty());
    // The longest name still makes a valid execution name, up to year 9999.
    let longest = "n".repeat(MAX_SCHEDULE_NAME_CHARS);
    assert!(execution_name(&longest, 253_402_300_799_999, true).len() <= 80);
    assert_eq!(execution_name("a", 1_500, false), "a-19700101T000001.500Z");
}

/// A schedule written in the first layout (record and command) reads and
/// applies as the same schedule, without buffering or pause on failure.
#[test]
fn the_first_layout_of_records_and_commands_still_reads() {
    use crate::schedules_v1::{ScheduleDefV1, ScheduleV1};
    let mut c = Cluster::with_machine(SCHEDULES_FROM, PASS);
    let v1 = ScheduleDefV1 {
        name: "nightly".into(),
        state_machine: "sm".into(),
        version: 0,
        input: r#"{"when":"x"}"#.into(),
        spec: "rate(1 minute)".into(),
        zone: "UTC".into(),
        start_ms: None,
        end_ms: None,
        overlap: Overlap::Skip,
        catchup_window_s: 3600,
        description: String::new(),
    };
    let old = Command::PutSchedule {
        def: v1.clone(),
        create: true,
        now_ms: T0_MS - 1000,
    };
    let entry = crate::codec::encode(&crate::command::Envelope::V1(vec![old.clone()])).unwrap();
    let back: crate::command::Envelope = crate::codec::decode(&entry).unwrap();
    assert_eq!(back.commands(), std::slice::from_ref(&old));
    assert!(matches!(
        c.apply(old),
        CommandResult::ScheduleSaved { created: true, .. }
    ));
    assert!(!c.schedule().def.pause_on_failure);
    let record = ScheduleV1 {
        def: v1,
        paused: true,
        note: "old".into(),
        revision: 3,
        created_ms: 1,
        updated_ms: 2,
        cursor_ms: 3,
        running: vec!["sm:x".into()],
        recent: Vec::new(),
        fired: 4,
        skipped: 5,
    };
    let bytes = crate::codec::encode(&Stored::V1(record)).unwrap();
    let read = decode_stored(&bytes).unwrap();
    assert_eq!((read.revision, read.fired, read.running.len()), (3, 4, 1));
    assert!(read.buffered.is_empty() && read.paused);
}

#[path = "schedules_overlap_tests.rs"]
mod overlap;

#[path = "schedules_backfill_tests.rs"]
mod backfill;
