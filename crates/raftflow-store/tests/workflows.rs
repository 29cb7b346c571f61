//! The workflow tables, driven through openraft's state-machine API.

use raftflow_store::types::{log_id, EntryPayload};
use raftflow_store::workflow::reads;
use raftflow_store::{Command, CommandResult, Entry, Envelope, StateMachineStore};
use tempfile::TempDir;

struct Harness {
    _dir: TempDir,
    sm: StateMachineStore,
    index: u64,
}

impl Harness {
    fn new() -> Self {
        let dir = TempDir::new().unwrap();
        let (_, sm) = raftflow_store::open(dir.path()).unwrap();
        Self {
            _dir: dir,
            sm,
            index: 0,
        }
    }

    async fn apply(&mut self, command: Command) -> CommandResult {
        self.apply_together(vec![command]).await.remove(0)
    }

    /// Applies `commands` as one log entry.
    async fn apply_together(&mut self, commands: Vec<Command>) -> Vec<CommandResult> {
        self.index += 1;
        let entry = Entry {
            log_id: log_id(1, 1, self.index),
            payload: EntryPayload::Normal(Envelope::V1(commands)),
        };
        let mut results = self.sm.apply_entries(vec![entry]).await.unwrap();
        results.remove(0).results
    }

    /// Closes the state machine and opens it again from its tables.
    fn reopen(&mut self) {
        // RocksDB allows one open per directory: close ours first.
        let spare = TempDir::new().unwrap();
        let (_, placeholder) = raftflow_store::open(spare.path()).unwrap();
        drop(std::mem::replace(&mut self.sm, placeholder));
        let (_, sm) = raftflow_store::open(self._dir.path()).unwrap();
        self.sm = sm;
    }

    async fn create(&mut self, name: &str, definition: &str) {
        let r = self
            .apply(Command::CreateStateMachine {
                name: name.into(),
                definition: definition.into(),
                description: String::new(),
                now_ms: 1,
            })
            .await;
        assert!(
            matches!(r, CommandResult::StateMachineCreated { created: true, .. }),
            "{r:?}"
        );
    }

    async fn start(&mut self, sm: &str, name: &str, now_ms: u64) -> String {
        self.start_with(sm, name, "{}", now_ms).await
    }

    async fn start_with(&mut self, sm: &str, name: &str, input: &str, now_ms: u64) -> String {
        let r = self
            .apply(Command::StartExecution {
                state_machine: sm.into(),
                version: 0,
                name: name.into(),
                input: input.into(),
                now_ms,
                seed: 1,
                default_task_timeout_s: 60,
            })
            .await;
        match r {
            CommandResult::ExecutionStarted { execution_id, .. } => execution_id,
            other => panic!("start refused: {other:?}"),
        }
    }
}

#[tokio::test]
async fn finished_executions_leave_after_their_retention() {
    let mut h = Harness::new();
    h.create(
        "quick",
        r#"{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}"#,
    )
    .await;
    let old = h.start("quick", "old", 1_000).await;
    let new = h.start("quick", "new", 5_000).await;
    let db = h.sm.reader();
    assert_eq!(
        reads::execution(db.db(), &old).unwrap().unwrap().status,
        raftflow_core::Status::Succeeded
    );
    assert_eq!(
        h.apply(Command::PurgeFinished {
            before_ms: 500,
            limit: 10
        })
        .await,
        CommandResult::Purged { count: 0 }
    );
    assert_eq!(
        h.apply(Command::PurgeFinished {
            before_ms: 2_000,
            limit: 10
        })
        .await,
        CommandResult::Purged { count: 1 }
    );
    assert!(
        reads::execution(db.db(), &old).unwrap().is_none(),
        "the old execution is gone"
    );
    assert!(
        reads::history(db.db(), &old, None, 100, false)
            .unwrap()
            .items
            .is_empty(),
        "with its history"
    );
    assert!(
        reads::execution(db.db(), &new).unwrap().is_some(),
        "the recent one stays"
    );
    // A purged name can be started again: it is a new execution.
    let again = h
        .apply(Command::StartExecution {
            state_machine: "quick".into(),
            version: 0,
            name: "old".into(),
            input: "{}".into(),
            now_ms: 9_000,
            seed: 1,
            default_task_timeout_s: 60,
        })
        .await;
    assert!(
        matches!(again, CommandResult::ExecutionStarted { created: true, .. }),
        "{again:?}"
    );
}

#[tokio::test]
async fn an_execution_whose_history_outgrows_the_limit_fails() {
    let mut h = Harness::new();
    // 3,200 iterations of 8 events each, all waiting at the end: over 25,000
    // events while still running.
    h.create(
        "huge",
        r#"{"StartAt": "Each", "States": {
            "Each": {"Type": "Map", "ItemsPath": "$.items", "End": true, "ItemProcessor": {"StartAt": "A", "States": {
                "A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "C"}, "C": {"Type": "Pass", "Next": "W"},
                "W": {"Type": "Wait", "Seconds": 60, "End": true}}}}}}"#,
    )
    .await;
    let items: Vec<u32> = (0..3_200).collect();
    let id = h
        .start_with(
            "huge",
            "h-1",
            &serde_json::json!({"items": items}).to_string(),
            1_000,
        )
        .await;
    let record = reads::execution(h.sm.reader().db(), &id).unwrap().unwrap();
    assert_eq!(
        (record.status.as_str(), record.error.as_deref()),
        ("FAILED", Some("States.Runtime")),
        "{record:?}"
    );
    assert!(
        reads::timers(h.sm.reader().db()).unwrap().is_empty(),
        "its timers are disarmed"
    );
}

fn dispatch_next(epoch: u64, activities: &[&str], now_ms: u64, after_report: bool) -> Command {
    Command::DispatchNext {
        epoch,
        worker: "w-1".into(),
        activities: activities.iter().map(|a| a.to_string()).collect(),
        now_ms,
        after_report,
    }
}

fn completed(token: &str, now_ms: u64) -> Command {
    Command::TaskCompleted {
        token: token.into(),
        epoch: Some(1),
        output: "{}".into(),
        now_ms,
        seed: 1,
    }
}

fn handed(result: &CommandResult) -> &raftflow_store::records::TaskEntry {
    match result {
        CommandResult::Dispatched { task } => task,
        other => panic!("expected a task handed out, got {other:?}"),
    }
}

#[tokio::test]
async fn a_report_takes_its_executions_next_step_else_the_oldest_task() {
    let mut h = Harness::new();
    h.create(
        "two",
        r#"{"StartAt": "A", "States": {
            "A": {"Type": "Task", "Resource": "activity:a", "Next": "B"},
            "B": {"Type": "Task", "Resource": "activity:b", "End": true}}}"#,
    )
    .await;
    let epoch = h
        .apply(Command::BeginEpoch {
            leader: 1,
            now_ms: 1,
        })
        .await;
    assert_eq!(epoch, CommandResult::Epoch { epoch: 1 });
    let e1 = h.start("two", "e1", 1_000).await;
    let e2 = h.start("two", "e2", 2_000).await;

    // Standalone: the oldest ready task of the named activities.
    let first = h.apply(dispatch_next(1, &["a"], 2_500, false)).await;
    let first = handed(&first).clone();
    assert_eq!(first.execution_id, e1);
    assert_eq!(
        first.dispatched.as_ref().map(|d| d.worker.as_str()),
        Some("w-1")
    );

    // e1's report makes its B ready (at 3,000): its next step comes before
    // e2's older A.
    let results = h
        .apply_together(vec![
            completed(&first.token, 3_000),
            dispatch_next(1, &["a", "b"], 3_000, true),
        ])
        .await;
    assert_eq!(results[0], CommandResult::Accepted);
    let second = handed(&results[1]).clone();
    assert_eq!(
        (second.execution_id.as_str(), second.activity.as_str()),
        (e1.as_str(), "b")
    );
    let history = reads::history(h.sm.reader().db(), &e1, None, 100, false).unwrap();
    let started = history.items.iter().filter(|e| e.kind == "ActivityStarted");
    assert_eq!(started.count(), 2, "the hand-out is in e1's history");

    // A refused report hands nothing out: its worker gets an error instead.
    let results = h
        .apply_together(vec![
            completed(&first.token, 3_100),
            dispatch_next(1, &["a", "b"], 3_100, true),
        ])
        .await;
    assert!(
        matches!(results[0], CommandResult::Rejected { .. }),
        "{results:?}"
    );
    assert_eq!(results[1], CommandResult::NothingReady);
    // A past epoch hands nothing out either.
    let stale = h.apply(dispatch_next(0, &["a"], 3_200, false)).await;
    assert!(matches!(stale, CommandResult::Rejected { .. }), "{stale:?}");
    assert_eq!(
        h.apply(dispatch_next(1, &["c"], 3_200, false)).await,
        CommandResult::NothingReady
    );

    // The ready tasks are rebuilt from the tables: e2's A is still there,
    // and a report that makes nothing ready (e1 ends) takes the oldest.
    h.reopen();
    let results = h
        .apply_together(vec![
            completed(&second.token, 4_000),
            dispatch_next(1, &["a", "b"], 4_000, true),
        ])
        .await;
    assert_eq!(results[0], CommandResult::Accepted);
    let third = handed(&results[1]);
    assert_eq!(
        (third.execution_id.as_str(), third.activity.as_str()),
        (e2.as_str(), "a")
    );
    let e1_status = reads::execution(h.sm.reader().db(), &e1)
        .unwrap()
        .unwrap()
        .status;
    assert_eq!(e1_status, raftflow_core::Status::Succeeded);
    assert_eq!(
        h.apply(dispatch_next(1, &["a", "b"], 4_100, false)).await,
        CommandResult::NothingReady
    );
}
