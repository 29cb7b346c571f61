//! The workflow tables, driven through openraft's state-machine API.

use openraft::storage::RaftStateMachine;
use openraft::{CommittedLeaderId, EntryPayload, LogId};
use raftflow_store::workflow::reads;
use raftflow_store::{Command, CommandResult, Entry, Envelope, StateMachineStore};
use tempfile::TempDir;

fn entry(index: u64, command: Command) -> Entry {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
        payload: EntryPayload::Normal(Envelope::V1(vec![command])),
    }
}

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
        self.index += 1;
        let mut results = self
            .sm
            .apply(vec![entry(self.index, command)])
            .await
            .unwrap();
        results.remove(0).results.remove(0)
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
        "SUCCEEDED"
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
