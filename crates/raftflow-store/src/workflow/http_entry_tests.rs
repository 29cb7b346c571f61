//! An HTTP Task's `Entry` (its Idempotency-Key) under the apply version:
//! `<state>@` for a state that does not read `$$` under 16 and 17, kept so
//! that old entries replay the same; the entered time from 18. And the
//! state's TimeoutSeconds in the input from 19.

use crate::command::{Command, CommandResult};
use crate::test_util::{apply, machine_at};
use crate::workflow::reads;

const CALL: &str = r#"{"StartAt": "Call", "States": {"Call": {"Type": "Task",
  "Resource": "arn:aws:states:::http:invoke",
  "Parameters": {"ApiEndpoint": "https://example.com/", "Method": "GET"},
  "TimeoutSeconds": 5, "End": true}}}"#;

/// The task input the start of one execution queues under `version`.
fn input_at(version: u32) -> serde_json::Value {
    let (_dir, db, mut m) = machine_at(version);
    let created = apply(
        &mut m,
        &db,
        2,
        Command::CreateStateMachine {
            name: "call".into(),
            definition: CALL.into(),
            description: String::new(),
            now_ms: 1_000,
        },
    );
    assert!(matches!(
        created,
        Ok(CommandResult::StateMachineCreated { .. })
    ));
    let start = Command::StartExecution {
        state_machine: "call".into(),
        version: 0,
        name: "e".into(),
        input: "{}".into(),
        now_ms: 1_796_349_600_000,
        seed: 1,
        default_task_timeout_s: 60,
    };
    apply(&mut m, &db, 3, start).unwrap();
    let tasks = reads::open_tasks(&db).unwrap();
    serde_json::from_str(&tasks[0].input).unwrap()
}

fn entry_at(version: u32) -> String {
    input_at(version)["Entry"].as_str().unwrap().to_string()
}

#[test]
fn the_input_carries_the_timeout_from_version_19() {
    assert!(input_at(18).get("TimeoutSeconds").is_none());
    let input = input_at(19);
    assert_eq!(input["TimeoutSeconds"], 5);
    assert_eq!(raftflow_core::http_task::call_timeout_ms(&input), 5_000);
    assert_eq!(
        raftflow_core::http_task::call_timeout_ms(&input_at(18)),
        60_000
    );
}

#[test]
fn the_entry_names_the_entered_time_from_version_18() {
    assert_eq!(entry_at(17), "Call@");
    assert_eq!(entry_at(18), "Call@2026-12-04T02:00:00.000Z");
}
