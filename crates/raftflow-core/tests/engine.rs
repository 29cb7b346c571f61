//! The engine end to end, in virtual time.

use raftflow_core::local::{run_local, Answer};
use raftflow_core::{parse_definition, Status};
use serde_json::{json, Value};

fn run(
    def: Value,
    input: Value,
    answer: impl FnMut(&str, &Value, u32) -> Answer,
) -> raftflow_core::local::Outcome {
    let machine = parse_definition(&def.to_string()).unwrap_or_else(|d| panic!("{d:?}"));
    run_local(&machine, input, 1_700_000_000_000, 42, answer)
}

fn kinds(outcome: &raftflow_core::local::Outcome) -> Vec<&str> {
    outcome
        .execution
        .events
        .iter()
        .map(|e| e.kind.as_ref())
        .collect()
}

#[test]
fn pass_chain_with_paths() {
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Result": {"x": 1}, "ResultPath": "$.a", "Next": "B"},
        "B": {"Type": "Pass", "Parameters": {"sum.$": "States.MathAdd($.a.x, $.n)", "ctx.$": "$$.State.Name"}, "ResultPath": "$.b", "OutputPath": "$.b", "End": true}}});
    let out = run(def, json!({"n": 2}), |_, _, _| Answer::Silent);
    assert_eq!(out.execution.status, Status::Succeeded);
    assert_eq!(out.execution.output, Some(json!({"sum": 3, "ctx": "B"})));
    assert_eq!(
        kinds(&out),
        [
            "ExecutionStarted",
            "PassStateEntered",
            "PassStateExited",
            "PassStateEntered",
            "PassStateExited",
            "ExecutionSucceeded"
        ]
    );
}

#[test]
fn task_retry_then_catch() {
    let def = json!({"StartAt": "Charge", "States": {
        "Charge": {"Type": "Task", "Resource": "activity:charge",
            "Retry": [{"ErrorEquals": ["Flaky"], "MaxAttempts": 2, "IntervalSeconds": 1}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Refund"}], "Next": "Done"},
        "Refund": {"Type": "Pass", "End": true},
        "Done": {"Type": "Succeed"}}});
    let mut calls = 0;
    let out = run(def, json!({"order": 7}), |activity, input, attempt| {
        assert_eq!(activity, "charge");
        assert_eq!(input, &json!({"order": 7}));
        calls += 1;
        assert_eq!(attempt, calls);
        Answer::Fail {
            error: "Flaky".into(),
            cause: "card network".into(),
        }
    });
    assert_eq!(calls, 3, "one try and two retries");
    assert_eq!(out.execution.status, Status::Succeeded);
    assert_eq!(
        out.execution.output,
        Some(json!({"order": 7, "error": {"Error": "Flaky", "Cause": "card network"}}))
    );
    assert!(
        out.end_ms >= 1_700_000_000_000 + 3_000,
        "back-off of 1 s then 2 s in virtual time"
    );
}

#[test]
fn choice_wait_parallel_map() {
    let def = json!({"StartAt": "Route", "States": {
        "Route": {"Type": "Choice", "Choices": [
            {"And": [{"Variable": "$.score", "NumericGreaterThan": 50}, {"Variable": "$.vip", "BooleanEquals": false}], "Next": "Review"}],
            "Default": "Fan"},
        "Review": {"Type": "Fail", "Error": "Review", "Cause": "score too high"},
        "Fan": {"Type": "Parallel", "Next": "Pause", "Branches": [
            {"StartAt": "Reserve", "States": {"Reserve": {"Type": "Task", "Resource": "activity:reserve", "End": true}}},
            {"StartAt": "Each", "States": {"Each": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2,
                "ItemSelector": {"sku.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index"},
                "ItemProcessor": {"StartAt": "Pick", "States": {"Pick": {"Type": "Task", "Resource": "arn:aws:states:us-east-1:123456789012:activity:pick", "End": true}}},
                "End": true}}}]},
        "Pause": {"Type": "Wait", "Seconds": 60, "End": true}}});
    let out = run(
        def.clone(),
        json!({"score": 10, "vip": false, "items": ["a", "b", "c"]}),
        |activity, input, _| match activity {
            "reserve" => Answer::Succeed(json!("reserved")),
            "pick" => Answer::Succeed(json!(format!(
                "{}@{}",
                input["sku"].as_str().unwrap(),
                input["i"]
            ))),
            other => panic!("unexpected activity {other}"),
        },
    );
    assert_eq!(
        out.execution.status,
        Status::Succeeded,
        "{:?}",
        out.execution.failure
    );
    assert_eq!(
        out.execution.output,
        Some(json!(["reserved", ["a@0", "b@1", "c@2"]]))
    );
    assert_eq!(out.end_ms, 1_700_000_000_000 + 60_000);

    let failed = run(
        def,
        json!({"score": 99, "vip": false, "items": []}),
        |_, _, _| Answer::Silent,
    );
    assert_eq!(failed.execution.status, Status::Failed);
    assert_eq!(failed.execution.failure.as_ref().unwrap().error, "Review");
}

#[test]
fn heartbeat_timeout_triggers_retry() {
    let def = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "activity:slow", "HeartbeatSeconds": 5,
        "Retry": [{"ErrorEquals": ["States.HeartbeatTimeout"], "MaxAttempts": 1}], "End": true}}});
    let mut attempts = 0;
    let out = run(def, json!({}), |_, _, _| {
        attempts += 1;
        if attempts == 1 {
            Answer::Silent
        } else {
            Answer::Succeed(json!("ok"))
        }
    });
    assert_eq!(out.execution.status, Status::Succeeded);
    assert!(kinds(&out).contains(&"ActivityTimedOut"));
}

#[test]
fn execution_timeout() {
    let def = json!({"StartAt": "W", "TimeoutSeconds": 10, "States": {"W": {"Type": "Wait", "Seconds": 100, "End": true}}});
    let out = run(def, json!({}), |_, _, _| Answer::Silent);
    assert_eq!(out.execution.status, Status::TimedOut);
}

#[test]
fn same_commands_same_state() {
    let def = json!({"StartAt": "U", "States": {"U": {"Type": "Pass", "Parameters": {"id.$": "States.UUID()"}, "End": true}}});
    let a = run(def.clone(), json!({}), |_, _, _| Answer::Silent);
    let b = run(def, json!({}), |_, _, _| Answer::Silent);
    assert_eq!(a.execution, b.execution);
}

#[test]
fn validation_reports_every_problem_with_its_location() {
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Task", "Resource": "activity:a", "Next": "Nowhere", "Colour": "red"},
        "B": {"Type": "Pass", "End": true, "Choices": []},
        "C": {"Type": "Pass", "InputPath": "not-a-path", "End": true}}});
    let diags = parse_definition(&def.to_string()).unwrap_err();
    let found: Vec<(String, String)> = diags
        .iter()
        .map(|d| (d.location.clone(), d.code.clone()))
        .collect();
    for expected in [
        ("/States/A/Next", "MISSING_TRANSITION_TARGET"),
        ("/States/A/Colour", "UNKNOWN_FIELD"),
        ("/States/B/Choices", "FIELD_NOT_ALLOWED"),
        ("/States/C/InputPath", "INVALID_PATH"),
        ("/States/B", "UNREACHABLE_STATE"),
    ] {
        assert!(
            found.contains(&(expected.0.to_string(), expected.1.to_string())),
            "missing {expected:?} in {found:?}"
        );
    }
}

#[test]
fn error_paths_have_step_functions_names() {
    let cases = [
        // A Parameters path that matches nothing is catchable.
        (
            json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "activity:t", "Parameters": {"x.$": "$.missing"},
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "F"}], "End": true}, "F": {"Type": "Fail", "ErrorPath": "$.Error"}}}),
            "States.ParameterPathFailure",
        ),
        (
            json!({"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "D"}]},
            "D": {"Type": "Succeed"}}}),
            "States.NoChoiceMatched",
        ),
        (
            json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"x.$": "States.ArrayGetItem($.a, 9)"}, "End": true}}}),
            "States.IntrinsicFailure",
        ),
        (
            json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": 1, "ResultPath": "$.n.deeper", "End": true}}}),
            "States.ResultPathMatchFailure",
        ),
        // An InputPath that matches nothing is States.Runtime, which States.ALL does not catch.
        (
            json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "activity:t", "InputPath": "$.missing",
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "S"}], "End": true}, "S": {"Type": "Succeed"}}}),
            "States.Runtime",
        ),
    ];
    for (def, error) in cases {
        let out = run(def.clone(), json!({"n": 2, "a": []}), |_, _, _| {
            Answer::Succeed(json!({}))
        });
        assert_eq!(out.execution.status, Status::Failed, "{def}");
        assert_eq!(
            out.execution.failure.as_ref().unwrap().error,
            error,
            "{def}"
        );
    }
}

#[test]
fn heartbeats_push_the_deadline_back() {
    use raftflow_core::{Action, Command, Execution};
    let def = parse_definition(r#"{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "activity:t", "HeartbeatSeconds": 5, "End": true}}}"#).unwrap();
    let (mut exec, actions) = Execution::start(&def, "x", "x", json!({}), 0, 1);
    let Some(Action::ScheduleTask { token, .. }) = actions
        .into_iter()
        .find(|a| matches!(a, Action::ScheduleTask { .. }))
    else {
        panic!("no task")
    };
    let armed = |actions: Vec<Action>| {
        actions.into_iter().find_map(|a| match a {
            Action::ArmTimer { timer, fire_at_ms } => Some((timer, fire_at_ms)),
            _ => None,
        })
    };
    let first = armed(
        exec.apply(
            &def,
            Command::TaskStarted {
                token: token.clone(),
                worker: "w".into(),
            },
            1_000,
            1,
        )
        .unwrap(),
    )
    .expect("heartbeat timer");
    assert_eq!(first.1, 6_000);
    let second = armed(
        exec.apply(
            &def,
            Command::TaskHeartbeat {
                token: token.clone(),
            },
            4_000,
            1,
        )
        .unwrap(),
    )
    .expect("re-armed");
    assert_eq!(second.1, 9_000);
    // The first deadline no longer counts: firing it is refused as stale.
    assert!(exec
        .apply(&def, Command::TimerFired { timer: first.0 }, 6_000, 1)
        .is_err());
    assert_eq!(exec.status, Status::Running);
    exec.apply(
        &def,
        Command::TaskSucceeded {
            token,
            output: json!("done"),
        },
        8_000,
        1,
    )
    .unwrap();
    assert_eq!(exec.status, Status::Succeeded);
}

/// Each state visit ends once, with its duration, attempts and outcome:
/// what the cluster counts into per-state statistics.
#[test]
fn every_visit_ends_once_with_its_attempts_and_outcome() {
    use raftflow_core::VisitOutcome::{Caught, Failed, Succeeded};
    let def = json!({"StartAt": "Reserve", "States": {
        "Reserve": {"Type": "Task", "Resource": "activity:reserve",
            "Retry": [{"ErrorEquals": ["Busy"], "MaxAttempts": 3, "IntervalSeconds": 2}], "Next": "Charge"},
        "Charge": {"Type": "Task", "Resource": "activity:charge",
            "Catch": [{"ErrorEquals": ["Declined"], "Next": "Release"}], "Next": "Ship"},
        "Ship": {"Type": "Succeed"},
        "Release": {"Type": "Task", "Resource": "activity:release", "Next": "Stuck"},
        "Stuck": {"Type": "Fail", "Error": "Order.Stuck"}}});
    let mut reserve_calls = 0;
    let out = run(def, json!({}), |activity, _, _| match activity {
        "reserve" if reserve_calls < 2 => {
            reserve_calls += 1;
            Answer::Fail {
                error: "Busy".into(),
                cause: "try later".into(),
            }
        }
        "reserve" => Answer::Succeed(json!({})),
        "charge" => Answer::Fail {
            error: "Declined".into(),
            cause: "card".into(),
        },
        _ => Answer::Succeed(json!({})),
    });
    assert_eq!(out.execution.status, Status::Failed);
    let seen: Vec<(&str, u32, raftflow_core::VisitOutcome, u64)> = out
        .visits
        .iter()
        .map(|v| {
            (
                v.name.as_str(),
                v.attempts,
                v.outcome,
                v.exited_ms - v.entered_ms,
            )
        })
        .collect();
    // Reserve: two back-offs of 2 s and 4 s in virtual time.
    assert_eq!(
        seen,
        [
            ("Reserve", 3, Succeeded, 6_000),
            ("Charge", 1, Caught, 0),
            ("Release", 1, Succeeded, 0),
            ("Stuck", 1, Failed, 0)
        ]
    );
}
