//! Tests of polls.rs: poll ids recorded with hand-outs (apply version 5).

use rocksdb::WriteBatch;

use crate::command::{Command, CommandResult, Envelope, Reject};
use crate::db::{Db, CF_SM};
use crate::machine::Machine;
use crate::version::Supported;
use crate::workflow::reads;
use crate::workflow::records::{poll_of_key, TaskEntry};

const ONE_TASK: &str =
    r#"{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "activity:x", "End": true}}}"#;

struct Node {
    _dir: tempfile::TempDir,
    db: Db,
    m: Machine,
    index: u64,
}

impl Node {
    /// A machine at apply version `version` with one state machine and epoch 1.
    fn at_version(version: u32) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let m = Machine::load(&db, Supported::BINARY).unwrap();
        let mut node = Node {
            _dir: dir,
            db,
            m,
            index: 0,
        };
        node.one(Command::SetApplyVersion { version });
        node.one(Command::CreateStateMachine {
            name: "one".into(),
            definition: ONE_TASK.into(),
            description: String::new(),
            now_ms: 1,
        });
        node.one(Command::BeginEpoch {
            leader: 1,
            now_ms: 1,
        });
        node
    }

    /// Applies one log entry; its results.
    fn entry(&mut self, commands: Vec<Command>) -> Vec<CommandResult> {
        self.index += 1;
        let mut batch = WriteBatch::default();
        let log_id = crate::types::log_id(1, 1, self.index);
        let refused = crate::apply_batch::Refused::new();
        let envelope = Envelope::V1(commands);
        let results = self
            .m
            .apply_envelope(&self.db, &envelope, log_id, &mut batch, &refused)
            .unwrap();
        self.m.workflows.flush(&mut batch, &self.db).unwrap();
        self.m
            .record_position(&self.db, Some(log_id), None, &mut batch)
            .unwrap();
        self.db.write(batch).unwrap();
        results.results
    }

    fn one(&mut self, command: Command) -> CommandResult {
        self.entry(vec![command]).remove(0)
    }

    fn start(&mut self, name: &str) {
        let started = self.one(Command::StartExecution {
            state_machine: "one".into(),
            version: 0,
            name: name.into(),
            input: "{}".into(),
            now_ms: 10,
            seed: 1,
            default_task_timeout_s: 60,
        });
        assert!(matches!(started, CommandResult::ExecutionStarted { .. }));
    }
}

fn next_for(poll_id: &str, after_report: bool) -> Command {
    Command::DispatchNextForPoll {
        epoch: 1,
        worker: "w".into(),
        activities: vec!["x".into()],
        now_ms: 11,
        after_report,
        poll_id: poll_id.into(),
    }
}

fn dispatched(result: CommandResult) -> TaskEntry {
    match result {
        CommandResult::Dispatched { task } => task,
        other => panic!("a hand-out: {other:?}"),
    }
}

#[test]
fn before_version_5_a_poll_id_command_is_refused_alike_everywhere() {
    let mut node = Node::at_version(4);
    node.start("a");
    match node.one(next_for("p-1", false)) {
        CommandResult::Rejected {
            code: Reject::InvalidArgument,
            message,
        } => assert!(message.contains("apply version 5"), "{message}"),
        other => panic!("refused: {other:?}"),
    }
    let open = reads::open_tasks(&node.db).unwrap();
    assert!(open[0].dispatched.is_none(), "nothing was handed out");
}

#[test]
fn a_retried_poll_gets_the_same_attempt_and_takes_nothing_else() {
    let mut node = Node::at_version(5);
    node.start("a");
    node.start("b");
    let first = dispatched(node.one(next_for("p-1", false)));
    assert!(first.token.starts_with("one:a#"));
    // The retry, as DispatchNext and as TaskDispatched naming b's task.
    assert_eq!(dispatched(node.one(next_for("p-1", false))), first);
    let b_token = reads::open_tasks(&node.db)
        .unwrap()
        .into_iter()
        .find(|t| t.execution_id == "one:b")
        .unwrap()
        .token;
    let again = node.one(Command::TaskDispatchedForPoll {
        token: b_token.clone(),
        epoch: 1,
        worker: "w".into(),
        now_ms: 12,
        poll_id: "p-1".into(),
    });
    assert_eq!(dispatched(again), first);
    let b = reads::task(&node.db, &b_token).unwrap().unwrap();
    assert!(b.dispatched.is_none(), "b's task is still ready");
    // Another poll takes b's; a poll for other activities is refused.
    assert_eq!(dispatched(node.one(next_for("p-2", false))).token, b_token);
    let other = node.one(Command::DispatchNextForPoll {
        epoch: 1,
        worker: "w".into(),
        activities: vec!["y".into()],
        now_ms: 11,
        after_report: false,
        poll_id: "p-1".into(),
    });
    assert!(matches!(
        other,
        CommandResult::Rejected {
            code: Reject::InvalidArgument,
            ..
        }
    ));
}

#[test]
fn a_retried_report_gets_the_next_task_its_first_try_took() {
    let mut node = Node::at_version(5);
    node.start("a");
    node.start("b");
    let a = dispatched(node.one(next_for("p-1", false)));
    let report = Command::TaskCompleted {
        token: a.token.clone(),
        epoch: Some(1),
        output: "{}".into(),
        now_ms: 20,
        seed: 1,
    };
    let first = node.entry(vec![report.clone(), next_for("p-2", true)]);
    assert_eq!(first[0], CommandResult::Accepted);
    let b = dispatched(first[1].clone());
    // The reply was lost; the worker repeats the report and the poll id.
    let repeat = node.entry(vec![report.clone(), next_for("p-2", true)]);
    assert!(matches!(
        repeat[0],
        CommandResult::Rejected {
            code: Reject::StaleToken,
            ..
        }
    ));
    assert_eq!(dispatched(repeat[1].clone()), b);
    // A refused report with a fresh poll id hands out nothing.
    let fresh = node.entry(vec![report, next_for("p-3", true)]);
    assert_eq!(fresh[1], CommandResult::NothingReady);
}

#[test]
fn the_poll_id_goes_when_its_attempt_ends() {
    let mut node = Node::at_version(5);
    node.start("a");
    let a = dispatched(node.one(next_for("p-1", false)));
    assert_eq!(
        reads::held_by_poll(&node.db, "p-1").unwrap(),
        Some(a.clone())
    );
    let done = node.one(Command::TaskCompleted {
        token: a.token.clone(),
        epoch: Some(1),
        output: "{}".into(),
        now_ms: 20,
        seed: 1,
    });
    assert_eq!(done, CommandResult::Accepted);
    assert_eq!(reads::held_by_poll(&node.db, "p-1").unwrap(), None);
    assert!(node
        .db
        .get(CF_SM, &poll_of_key(&a.token))
        .unwrap()
        .is_none());
    // The id is free again: a new task goes to it (the worker's next poll
    // would use a new id, but the cluster does not depend on it).
    node.start("b");
    assert!(dispatched(node.one(next_for("p-1", false)))
        .token
        .starts_with("one:b#"));
}

fn withdraw(poll_id: &str) -> Command {
    Command::WithdrawPoll {
        poll_id: poll_id.into(),
        now_ms: 30,
        seed: 2,
    }
}

#[test]
fn a_withdrawn_poll_gives_its_task_back_as_the_same_attempt_number() {
    let mut node = Node::at_version(5);
    node.start("a");
    let first = dispatched(node.one(next_for("p-1", false)));
    assert_eq!(node.one(withdraw("p-1")), CommandResult::Accepted);
    assert_eq!(reads::task(&node.db, &first.token).unwrap(), None);
    let open = reads::open_tasks(&node.db).unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    let again = &open[0];
    assert_ne!(again.token, first.token, "a new attempt");
    assert_eq!(again.attempt, first.attempt, "not counted as a retry");
    assert!(again.dispatched.is_none(), "ready for any poll");
    let history = reads::history(&node.db, "one:a", None, 100, false).unwrap();
    assert!(history.items.iter().any(|e| e.kind == "ActivityReturned"));
    // The withdrawn id takes nothing more; another poll takes the task.
    assert_eq!(
        node.one(next_for("p-1", false)),
        CommandResult::NothingReady
    );
    assert_eq!(node.one(withdraw("p-1")), CommandResult::NothingReady);
    assert_eq!(
        dispatched(node.one(next_for("p-2", false))).token,
        again.token
    );
}

#[test]
fn a_hand_out_that_applies_after_the_withdrawal_is_refused() {
    let mut node = Node::at_version(5);
    node.start("a");
    assert_eq!(node.one(withdraw("p-1")), CommandResult::NothingReady);
    let token = reads::open_tasks(&node.db).unwrap()[0].token.clone();
    let late = node.one(Command::TaskDispatchedForPoll {
        token: token.clone(),
        epoch: 1,
        worker: "w".into(),
        now_ms: 12,
        poll_id: "p-1".into(),
    });
    assert_eq!(late, CommandResult::NothingReady);
    let task = reads::task(&node.db, &token).unwrap().unwrap();
    assert!(task.dispatched.is_none(), "still ready");
}

#[test]
fn withdrawals_are_remembered_up_to_a_bound() {
    use crate::workflow::polls::MAX_WITHDRAWN;
    let mut node = Node::at_version(5);
    let many = (0..=MAX_WITHDRAWN).map(|n| withdraw(&format!("p-{n}")));
    node.entry(many.collect());
    node.start("a");
    // The oldest withdrawal is forgotten (its id is free), the next kept.
    assert!(matches!(
        node.one(next_for("p-1", false)),
        CommandResult::NothingReady
    ));
    assert!(matches!(
        node.one(next_for("p-0", false)),
        CommandResult::Dispatched { .. }
    ));
}
