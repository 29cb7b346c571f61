//! Numbers pass through every state type exactly as written (apply version
//! 6 on; numbers.rs): a 23-digit integer, `-0`, `1e-7`, a 17-digit decimal.

use raftflow_core::local::{run_local, Answer};
use raftflow_core::{parse_definition, Status};
use serde_json::Value;

/// Pass, Task, Choice, Wait, Parallel, Map and Succeed, none of which
/// computes on the numbers.
pub const EVERY_STATE: &str = include_str!("exact_numbers.asl.json");

pub const NUMBERS: &str = r#"{"big":12345678901234567890123,"neg0":-0,"tiny":1e-7,"dec":0.12345678901234567,"items":[12345678901234567890123,-0,1e-7]}"#;

#[test]
fn numbers_pass_through_every_state_as_written() {
    let def = parse_definition(EVERY_STATE).unwrap();
    let input: Value = serde_json::from_str(NUMBERS).unwrap();
    let outcome = run_local(&def, input, 0, 1, |_, input, _| {
        Answer::Succeed(input.clone())
    });
    let exec = outcome.execution;
    assert_eq!(exec.status, Status::Succeeded, "{:?}", exec.failure);
    let output = exec.output.expect("an output").to_string();
    let expected = concat!(
        r#"{"big":12345678901234567890123,"neg0":-0,"tiny":1e-7,"dec":0.12345678901234567,"#,
        r#""items":[12345678901234567890123,-0,1e-7],"#,
        r#""branches":[{"big":12345678901234567890123,"neg0":-0,"tiny":1e-7,"dec":0.12345678901234567,"items":[12345678901234567890123,-0,1e-7]}],"#,
        r#""mapped":[12345678901234567890123,-0,1e-7]}"#
    );
    assert_eq!(output, expected);
}

#[test]
fn string_to_json_keeps_numbers_only_from_version_6() {
    let def = parse_definition(
        r#"{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true,
            "Parameters": {"n.$": "States.StringToJson($.text)"}}}}"#,
    )
    .unwrap();
    let input = serde_json::json!({"text": "[1.50, 12345678901234567890123]"});
    let run = |rules| {
        let (exec, _) = raftflow_core::Execution::start_with_lease(
            &def,
            "x:1",
            "1",
            input.clone(),
            0,
            1,
            None,
            rules,
        );
        exec.output.expect("ends at once").to_string()
    };
    let newest = raftflow_core::execution::Rules::NEWEST;
    assert_eq!(run(newest), r#"{"n":[1.50,12345678901234567890123]}"#);
    let older = raftflow_core::execution::Rules {
        exact_numbers: false,
        ..newest
    };
    assert_eq!(run(older), r#"{"n":[1.5,1.2345678901234568e+22]}"#);
}
