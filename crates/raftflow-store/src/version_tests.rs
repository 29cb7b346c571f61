//! Tests of version.rs: store formats, the apply version, and what each
//! version changes.

mod format {
    use super::super::*;

    #[test]
    fn a_release_0_1_0_directory_is_migrated_by_writing_the_marker_only() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let mut batch = WriteBatch::default();
        batch.put_cf(db.cf(CF_SM), b"x/a", b"1");
        db.write_synced(batch).unwrap();
        assert_eq!(open_format(&db).unwrap(), 1);
        assert_eq!(
            decode::<u32>(&db.get(CF_META, KEY_FORMAT).unwrap().unwrap()).unwrap(),
            2
        );
        assert_eq!(db.get(CF_SM, b"x/a").unwrap().unwrap(), b"1");
        assert_eq!(open_format(&db).unwrap(), 2, "reopening migrates nothing");
    }

    #[test]
    fn a_format_0_directory_drops_its_inline_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let mut batch = WriteBatch::default();
        batch.put_cf(db.cf(CF_META), KEY_LEGACY_INLINE, vec![7u8; 100]);
        db.write_synced(batch).unwrap();
        assert_eq!(open_format(&db).unwrap(), 0);
        assert!(db.get(CF_META, KEY_LEGACY_INLINE).unwrap().is_none());
        assert_eq!(open_format(&db).unwrap(), 2);
    }

    #[test]
    fn a_newer_format_is_refused_with_one_clear_line() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let mut batch = WriteBatch::default();
        batch.put_cf(db.cf(CF_META), KEY_FORMAT, encode(&9u32).unwrap());
        db.write_synced(batch).unwrap();
        let err = open_format(&db).unwrap_err().to_string();
        assert!(err.contains("store format 9"), "{err}");
        assert!(err.contains("run a newer raftflow"), "{err}");
        assert!(!err.contains('\n'));
    }

    #[test]
    fn a_capped_node_refuses_a_state_past_its_cap() {
        assert!(Supported::capped(1).check(1).is_ok());
        let err = Supported::capped(1).check(2).unwrap_err().to_string();
        assert!(
            err.contains("apply version 2") && err.contains("1..=1"),
            "{err}"
        );
        assert_eq!(Supported::capped(99), Supported::BINARY);
        assert_eq!(Supported::capped(0).max, APPLY_VERSION_MIN);
    }
}

mod apply {

    use super::super::*;
    use crate::command::{Command, CommandResult, Reject};
    use crate::machine::Machine;

    /// Within the parser's range, past Step Functions' bound (99,999,999).
    const LONG_WAIT: &str =
        r#"{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 100000000, "End": true}}}"#;

    pub(super) use crate::test_util::apply;

    fn create(name: &str) -> Command {
        Command::CreateStateMachine {
            name: name.into(),
            definition: LONG_WAIT.into(),
            description: String::new(),
            now_ms: 1,
        }
    }

    #[test]
    fn the_apply_version_rises_by_command_and_gates_the_new_rule() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let mut m = Machine::load(&db, Supported::BINARY).unwrap();
        let created = apply(&mut m, &db, 1, create("a")).unwrap();
        assert!(
            matches!(created, CommandResult::StateMachineCreated { .. }),
            "version 1 accepts it: {created:?}"
        );
        let same = apply(&mut m, &db, 2, Command::SetApplyVersion { version: 1 }).unwrap();
        assert_eq!(
            same,
            CommandResult::ApplyVersion {
                version: 1,
                log_index: 0
            }
        );
        assert!(
            db.get(CF_SM, KEY_APPLY_VERSION).unwrap().is_none(),
            "version 1 writes no key"
        );

        let raised = apply(&mut m, &db, 3, Command::SetApplyVersion { version: 2 }).unwrap();
        assert_eq!(
            raised,
            CommandResult::ApplyVersion {
                version: 2,
                log_index: 3
            }
        );
        assert_eq!(stored_apply_version(&db).unwrap(), 2);
        match apply(&mut m, &db, 4, create("b")).unwrap() {
            CommandResult::Rejected {
                code: Reject::InvalidArgument,
                message,
            } => {
                assert!(
                    message.contains("OUT_OF_RANGE") && message.contains("/States/W/Seconds"),
                    "{message}"
                )
            }
            other => panic!("version 2 refuses it: {other:?}"),
        }
        let lower = apply(&mut m, &db, 5, Command::SetApplyVersion { version: 1 }).unwrap();
        assert!(matches!(
            lower,
            CommandResult::Rejected {
                code: Reject::FailedPrecondition,
                ..
            }
        ));

        let reloaded = Machine::load(&db, Supported::BINARY).unwrap();
        assert_eq!(reloaded.workflows.apply_version, 2);
        let err = Machine::load(&db, Supported::capped(1))
            .err()
            .expect("refused");
        assert!(err.to_string().contains("apply version 2"), "{err}");
    }

    #[test]
    fn a_node_that_cannot_follow_a_version_stops_before_applying_under_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let mut m = Machine::load(&db, Supported::capped(1)).unwrap();
        let err = apply(&mut m, &db, 1, Command::SetApplyVersion { version: 2 }).unwrap_err();
        assert!(matches!(err, StoreError::NewerFormat(_)), "{err}");
        assert_eq!(stored_apply_version(&db).unwrap(), 1, "nothing was written");
    }
}

mod data {
    use super::super::*;
    use crate::command::{Command, CommandResult};
    use crate::machine::Machine;
    use crate::workflow::reads;

    /// Two branches that each pass their input on: the output is twice it.
    const TWICE: &str = r#"{"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
        {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}},
        {"StartAt": "B", "States": {"B": {"Type": "Pass", "End": true}}}]}}}"#;

    fn apply(m: &mut Machine, db: &Db, index: u64, command: Command) -> CommandResult {
        super::apply::apply(m, db, index, command).expect("applied")
    }

    fn start(name: &str, input: &str) -> Command {
        Command::StartExecution {
            state_machine: "twice".into(),
            version: 0,
            name: name.into(),
            input: input.into(),
            now_ms: 1,
            seed: 1,
            default_task_timeout_s: 60,
        }
    }

    #[test]
    fn state_data_is_bounded_from_apply_version_3_on() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let mut m = Machine::load(&db, Supported::BINARY).unwrap();
        let create = Command::CreateStateMachine {
            name: "twice".into(),
            definition: TWICE.into(),
            description: String::new(),
            now_ms: 1,
        };
        apply(&mut m, &db, 1, create);
        let input = serde_json::json!({"pad": "x".repeat(150 * 1024)}).to_string();
        apply(&mut m, &db, 2, start("before", &input));
        let before = reads::execution(&db, "twice:before").unwrap().unwrap();
        assert_eq!(
            before.status,
            raftflow_core::Status::Succeeded,
            "0.1.0's rules: unbounded"
        );

        apply(&mut m, &db, 3, Command::SetApplyVersion { version: 3 });
        apply(&mut m, &db, 4, start("after", &input));
        let after = reads::execution(&db, "twice:after").unwrap().unwrap();
        assert_eq!(after.status, raftflow_core::Status::Failed);
        assert_eq!(after.error.as_deref(), Some("States.DataLimitExceeded"));
        assert!(after.cause.unwrap().contains("larger than 262144 bytes"));
    }
}

mod closed {
    use super::super::*;
    use crate::command::{Command, CommandResult};
    use crate::machine::Machine;
    use crate::workflow::reads;
    use crate::workflow::records::{report_digest, ClosedAttempt, Report};

    const ONE_TASK: &str = r#"{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "activity:x", "End": true}}}"#;

    fn apply(m: &mut Machine, db: &Db, index: &mut u64, command: Command) -> CommandResult {
        *index += 1;
        super::apply::apply(m, db, *index, command).expect("applied")
    }

    /// Starts `name`, hands its task out and completes it; returns the token.
    fn run_one(m: &mut Machine, db: &Db, index: &mut u64, name: &str) -> String {
        let start = Command::StartExecution {
            state_machine: "one".into(),
            version: 0,
            name: name.into(),
            input: "{}".into(),
            now_ms: 10,
            seed: 1,
            default_task_timeout_s: 60,
        };
        apply(m, db, index, start);
        let next = Command::DispatchNext {
            epoch: 1,
            worker: "w".into(),
            activities: vec!["x".into()],
            now_ms: 11,
            after_report: false,
        };
        let CommandResult::Dispatched { task } = apply(m, db, index, next) else {
            panic!("a task was ready");
        };
        let done = Command::TaskCompleted {
            token: task.token.clone(),
            epoch: Some(1),
            output: r#"{"ok": 1}"#.into(),
            now_ms: 12,
            seed: 1,
        };
        assert_eq!(apply(m, db, index, done), CommandResult::Accepted);
        task.token
    }

    #[test]
    fn ended_attempts_are_kept_from_apply_version_4_on_and_purged_with_their_execution() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let mut m = Machine::load(&db, Supported::BINARY).unwrap();
        let mut index = 0;
        let create = Command::CreateStateMachine {
            name: "one".into(),
            definition: ONE_TASK.into(),
            description: String::new(),
            now_ms: 1,
        };
        apply(&mut m, &db, &mut index, create);
        let epoch = Command::BeginEpoch {
            leader: 1,
            now_ms: 1,
        };
        apply(&mut m, &db, &mut index, epoch);
        let before = run_one(&mut m, &db, &mut index, "before");
        assert_eq!(reads::closed_attempt(&db, &before).unwrap(), None);

        apply(
            &mut m,
            &db,
            &mut index,
            Command::SetApplyVersion { version: 4 },
        );
        let after = run_one(&mut m, &db, &mut index, "after");
        let digest = report_digest(&Report::Completed {
            output: r#"{"ok": 1}"#,
        });
        assert_eq!(
            reads::closed_attempt(&db, &after).unwrap(),
            Some(ClosedAttempt {
                report: Some(digest)
            })
        );
        let purge = Command::PurgeFinished {
            before_ms: u64::MAX,
            limit: 10,
        };
        apply(&mut m, &db, &mut index, purge);
        assert_eq!(reads::closed_attempt(&db, &after).unwrap(), None);
    }
}
