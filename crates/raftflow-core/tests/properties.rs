//! Properties: the engine never panics, and it is deterministic.

use proptest::prelude::*;
use raftflow_core::local::{run_local, Answer};
use raftflow_core::parse_definition;
use serde_json::{json, Value};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        "[a-z$.\\[\\]*0-9']{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[A-Za-z.$]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A definition that exercises paths, templates and intrinsics on any input.
fn probing_definition() -> Value {
    json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "InputPath": "$.a", "Parameters": {"x.$": "$.b", "l.$": "States.ArrayLength($.c)"}, "ResultPath": "$.r", "Next": "C"},
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.r.x", "NumericGreaterThan": 1, "Next": "M"}], "Default": "T"},
        "M": {"Type": "Map", "ItemsPath": "$.r.x", "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "Next": "T"},
        "T": {"Type": "Task", "Resource": "activity:t", "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2, "JitterStrategy": "FULL"}], "End": true}}})
}

proptest! {
    #[test]
    fn definitions_never_panic_the_parser(def in arb_json()) {
        let _ = parse_definition(&def.to_string());
    }

    #[test]
    fn any_input_runs_without_panicking_and_deterministically(input in arb_json(), seed in any::<u64>(), fail in any::<bool>()) {
        let machine = parse_definition(&probing_definition().to_string()).expect("valid");
        let answer = |_: &str, i: &Value, _: u32| if fail { Answer::Fail { error: "E".into(), cause: i.to_string() } } else { Answer::Succeed(i.clone()) };
        let a = run_local(&machine, input.clone(), 0, seed, answer);
        let b = run_local(&machine, input, 0, seed, answer);
        prop_assert_eq!(a.execution, b.execution);
    }
}
