//! Whole command sequences, generated: two stores fed the same committed
//! commands reach the same digest, no apply panics, and a store reopened
//! from its tables digests the same and goes on. Definitions and inputs
//! come from the engine's generator (`raftflow-core/tests/support/gen.rs`).

#[path = "../../raftflow-core/tests/support/gen.rs"]
#[allow(dead_code)]
mod gen;

use proptest::prelude::*;
use raftflow_store::types::{log_id, EntryPayload};
use raftflow_store::workflow::reads;
use raftflow_store::{Command, Entry, Envelope, StateMachineStore};

/// Definitions that parse, with tasks, timers, retries and a Map.
const KNOWN: [&str; 2] = [
    r#"{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "activity:a", "HeartbeatSeconds": 5,
        "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 2, "MaxAttempts": 2}], "Next": "W"},
        "W": {"Type": "Wait", "Seconds": 3, "Next": "M"},
        "M": {"Type": "Map", "ItemsPath": "$.xs", "MaxConcurrency": 2, "End": true,
          "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Task", "Resource": "activity:b", "End": true}}}}}}"#,
    r#"{"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
        {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "activity:a", "TimeoutSeconds": 4, "End": true}}},
        {"StartAt": "B", "States": {"B": {"Type": "Wait", "Seconds": 1, "End": true}}}]}}}"#,
];

/// The next command, chosen from the bytes and from what `sm` holds now.
fn next_command(b: &mut gen::Bytes, sm: &StateMachineStore, step: u64) -> Command {
    let db = sm.reader();
    let now_ms = 1_000 + step * 7_000;
    let tasks = reads::open_tasks(db.db()).unwrap();
    let timers = reads::timers(db.db()).unwrap();
    let task = |b: &mut gen::Bytes| tasks.get(b.below(tasks.len().max(1))).cloned();
    match b.below(8) {
        _ if step <= 2 || b.below(8) == 0 => Command::CreateStateMachine {
            name: format!("m{}", (step + 1) % 2),
            definition: match b.below(3) {
                0 => gen::definition(b, 0).to_string(),
                k => KNOWN[k - 1].to_string(),
            },
            description: String::new(),
            now_ms,
        },
        1 | 2 => Command::StartExecution {
            state_machine: format!("m{}", b.below(2)),
            version: 0,
            name: format!("e{}", b.below(4)),
            input: gen::input(b).to_string(),
            now_ms,
            seed: u64::from(b.byte()),
            default_task_timeout_s: u64::from(b.byte()),
        },
        3 => {
            let task = task(b);
            hand_out(b, task, db.epoch(), now_ms)
        }
        4 | 5 => match task(b) {
            Some(t) if b.below(2) == 0 => Command::TaskCompleted {
                epoch: t.dispatched.map(|d| d.epoch),
                token: t.token,
                output: if b.below(5) == 0 {
                    "not json".into()
                } else {
                    t.input
                },
                now_ms,
                seed: 3,
            },
            Some(t) => Command::TaskFailed {
                epoch: t.dispatched.map(|d| d.epoch),
                token: t.token,
                error: "E".into(),
                cause: "c".into(),
                now_ms,
                seed: 4,
            },
            None => Command::PurgeFinished {
                before_ms: now_ms,
                limit: 3,
            },
        },
        6 => match timers.get(b.below(timers.len().max(1))) {
            Some((execution_id, timer, _)) => Command::TimerFired {
                execution_id: execution_id.clone(),
                timer: *timer,
                now_ms,
                seed: 5,
            },
            None => Command::BeginEpoch { leader: 1, now_ms },
        },
        0 => Command::StopExecution {
            execution_id: format!("m{}:e{}", b.below(2), b.below(4)),
            error: "Stop".into(),
            cause: "stopped".into(),
            now_ms,
        },
        _ => Command::SetApplyVersion {
            version: 1 + b.below(6) as u32,
        },
    }
}

/// A hand-out, without or with a poll id; ids come from a set of three, so
/// that retries of a poll (and ids reused for other work) happen.
fn hand_out(
    b: &mut gen::Bytes,
    task: Option<raftflow_store::records::TaskEntry>,
    epoch: u64,
    now_ms: u64,
) -> Command {
    let poll_id = format!("p{}", b.below(3));
    let worker = "w".to_string();
    match (task, b.below(3)) {
        (Some(t), 0) => Command::TaskDispatched {
            token: t.token,
            epoch,
            worker,
            now_ms,
        },
        (Some(t), 1) => Command::TaskDispatchedForPoll {
            token: t.token,
            epoch,
            worker,
            now_ms,
            poll_id,
        },
        (_, 2) => Command::DispatchNextForPoll {
            epoch,
            worker,
            activities: vec![["a", "b"][b.below(2)].to_string()],
            now_ms,
            after_report: b.below(2) == 0,
            poll_id,
        },
        _ => Command::BeginEpoch { leader: 1, now_ms },
    }
}

fn entry(index: u64, command: Command) -> Entry {
    Entry {
        log_id: log_id(1, 1, index),
        payload: EntryPayload::Normal(Envelope::V1(vec![command])),
    }
}

async fn check(bytes: Vec<u8>) {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (_log_a, a) = raftflow_store::open(dir_a.path()).unwrap();
    let (_log_b, b) = raftflow_store::open(dir_b.path()).unwrap();
    let mut source = gen::Bytes::new(&bytes);
    for index in 1..=40 {
        let command = next_command(&mut source, &a, index);
        let ra = a
            .apply_entries(vec![entry(index, command.clone())])
            .await
            .unwrap();
        let rb = b.apply_entries(vec![entry(index, command)]).await.unwrap();
        assert_eq!(ra[0].results, rb[0].results, "step {index}");
    }
    let digest = a.reader().digest().unwrap();
    assert_eq!(digest, b.reader().digest().unwrap(), "replicas diverge");
    assert_eq!(a.reader().apply_panics(), 0, "an apply panicked");
    // Everything accepted reads back: reopened, it digests the same and goes on.
    drop((_log_a, a));
    let (_log_a, a) = raftflow_store::open(dir_a.path()).unwrap();
    assert_eq!(a.reader().digest().unwrap(), digest, "reopened differently");
    let more = Command::BeginEpoch {
        leader: 2,
        now_ms: 1,
    };
    a.apply_entries(vec![entry(41, more.clone())])
        .await
        .unwrap();
    b.apply_entries(vec![entry(41, more)]).await.unwrap();
    assert_eq!(a.reader().digest().unwrap(), b.reader().digest().unwrap());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn generated_command_sequences_agree_and_read_back(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        tokio::runtime::Runtime::new().unwrap().block_on(check(bytes));
    }
}
