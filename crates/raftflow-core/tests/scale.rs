//! Executions as large as the history limit allows, run on the engine's
//! stack (`ENGINE_STACK_BYTES`, what every host gives the engine): none may
//! overflow it, and a step that would write more than `MAX_STEP_EVENTS`
//! events fails its execution instead of growing without end.

use raftflow_core::execution::{ENGINE_STACK_BYTES, MAX_STEP_EVENTS};
use raftflow_core::local::{run_local, Answer};
use raftflow_core::{parse_definition, Execution, Status};
use serde_json::{json, Value};

fn run(definition: Value, input: Value) -> Execution {
    std::thread::Builder::new()
        .stack_size(ENGINE_STACK_BYTES)
        .spawn(move || {
            let def = parse_definition(&definition.to_string()).expect("valid");
            run_local(&def, input, 0, 1, |_, input, _| {
                Answer::Succeed(input.clone())
            })
            .execution
        })
        .unwrap()
        .join()
        .expect("the engine ran to its end")
}

fn instant_map(max_concurrency: u64) -> Value {
    json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.xs", "MaxConcurrency": max_concurrency,
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "End": true}}})
}

fn items(n: u64) -> Value {
    json!({"xs": (0..n).collect::<Vec<u64>>()})
}

fn counting_loop(rounds: Option<u64>) -> Value {
    let rule = match rounds {
        Some(n) => json!({"Variable": "$.n", "NumericLessThan": n, "Next": "Add"}),
        None => json!({"Variable": "$.n", "NumericGreaterThanEquals": 0, "Next": "Add"}),
    };
    json!({"StartAt": "Check", "States": {
        "Check": {"Type": "Choice", "Choices": [rule], "Default": "Done"},
        "Add": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, 1)"}, "Next": "Check"},
        "Done": {"Type": "Succeed"}}})
}

fn assert_cut(exec: &Execution) {
    assert_eq!(exec.status, Status::Failed);
    let failure = exec.failure.as_ref().expect("a failure");
    assert_eq!(failure.error, "States.Runtime");
    assert!(
        failure.cause.contains("without waiting"),
        "{}",
        failure.cause
    );
    assert!(
        exec.last_event_id <= MAX_STEP_EVENTS + 2,
        "{}",
        exec.last_event_id
    );
}

#[test]
fn an_instant_map_as_large_as_the_history_allows_succeeds() {
    // 4 events per item: 6,000 items stay under the 25,000-event history.
    let exec = run(instant_map(0), items(6_000));
    assert_eq!(exec.status, Status::Succeeded);
    assert_eq!(
        exec.output.as_ref().unwrap().as_array().unwrap().len(),
        6_000
    );
    let exec = run(instant_map(10), items(6_000));
    assert_eq!(exec.status, Status::Succeeded, "with MaxConcurrency too");
}

#[test]
fn an_instant_map_past_the_history_limit_fails_cleanly() {
    assert_cut(&run(instant_map(0), items(7_000)));
}

#[test]
fn a_counting_loop_up_to_the_history_limit_succeeds() {
    let exec = run(counting_loop(Some(6_000)), json!({"n": 0}));
    assert_eq!(exec.status, Status::Succeeded);
    assert_eq!(exec.output, Some(json!({"n": 6_000})));
}

#[test]
fn an_instant_loop_that_never_waits_fails_cleanly() {
    assert_cut(&run(counting_loop(None), json!({"n": 0})));
}

#[test]
fn nested_maps_of_fifty_by_fifty_succeed() {
    let def = json!({"StartAt": "Outer", "States": {"Outer": {"Type": "Map", "ItemsPath": "$.xs",
        "ItemSelector": {"xs.$": "$.xs"},
        "ItemProcessor": {"StartAt": "Inner", "States": {"Inner": {"Type": "Map", "ItemsPath": "$.xs",
            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "End": true}}},
        "End": true}}});
    let input = json!({"xs": (0..50).collect::<Vec<u64>>()});
    let exec = run(def, input);
    assert_eq!(exec.status, Status::Succeeded);
    let outer = exec.output.unwrap();
    assert_eq!(outer.as_array().unwrap().len(), 50);
    assert_eq!(outer[49].as_array().unwrap().len(), 50);
}

#[test]
fn a_map_of_tasks_as_large_as_the_history_allows_succeeds() {
    let def = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.xs",
        "ItemProcessor": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "activity:echo", "End": true}}},
        "End": true}}});
    let exec = run(def, items(3_000));
    assert_eq!(exec.status, Status::Succeeded);
    assert_eq!(exec.output.as_ref().unwrap()[2_999], json!(2_999));
}

#[test]
fn data_nested_deeper_than_serde_json_reads_by_default_reads_back() {
    // A Pass that wraps `$` once per turn: 300 turns nest 300 levels, from
    // an input of one level. The store must read such a runtime back.
    let def = json!({"StartAt": "Check", "States": {
        "Check": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericLessThan": 300, "Next": "Wrap"}], "Default": "Done"},
        "Wrap": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, 1)", "inner.$": "$"}, "Next": "Check"},
        "Done": {"Type": "Succeed"}}});
    let exec = run(def, json!({"n": 0}));
    assert_eq!(exec.status, Status::Succeeded);
    let written = std::thread::Builder::new()
        .stack_size(ENGINE_STACK_BYTES)
        .spawn(move || {
            let written = serde_json::to_vec(&exec).unwrap();
            assert!(
                serde_json::from_slice::<Execution>(&written).is_err(),
                "past serde_json's default depth"
            );
            let back = raftflow_core::execution::read_runtime(&written).expect("reads back");
            assert_eq!(serde_json::to_vec(&back).unwrap(), written);
            written.len()
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(written > 0);
}

#[test]
fn a_loop_that_waits_stops_at_the_history_limit_in_run_local_as_on_the_cluster() {
    // Each turn waits, so no step is long; the history limit ends it.
    let def = json!({"StartAt": "Nap", "States": {
        "Nap": {"Type": "Wait", "Seconds": 1, "Next": "Again"},
        "Again": {"Type": "Choice", "Choices": [{"Variable": "$.stop", "IsPresent": true, "Next": "Done"}], "Default": "Nap"},
        "Done": {"Type": "Succeed"}}});
    let exec = run(def, json!({}));
    assert_eq!(exec.status, Status::Failed);
    let failure = exec.failure.as_ref().unwrap();
    assert_eq!(failure.error, "States.Runtime");
    assert!(
        failure.cause.contains("history reached 25000 events"),
        "{}",
        failure.cause
    );
}

#[test]
fn data_that_doubles_each_turn_fails_at_the_data_limit() {
    // run-local follows the newest rules: no loop can grow data without end.
    let def = json!({"StartAt": "Twice", "States": {
        "Again": {"Type": "Choice", "Choices": [{"Variable": "$.stop", "IsPresent": true, "Next": "Done"}], "Default": "Twice"},
        "Done": {"Type": "Succeed"},
        "Twice": {"Type": "Parallel", "Next": "Again", "Branches": [
            {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}},
            {"StartAt": "B", "States": {"B": {"Type": "Pass", "End": true}}}]}}});
    let exec = run(def, json!({"seed": "x"}));
    assert_eq!(exec.status, Status::Failed);
    let failure = exec.failure.as_ref().unwrap();
    assert_eq!(failure.error, "States.DataLimitExceeded");
}
