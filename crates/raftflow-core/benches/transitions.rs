//! Core throughput: state transitions per second with no I/O at all.
//!
//! `cargo bench -p raftflow-core --bench transitions`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use raftflow_core::local::{run_local, Answer};
use raftflow_core::parse_definition;
use serde_json::{json, Value};

fn chain_of_ten() -> Value {
    let mut states = serde_json::Map::new();
    for i in 0..10 {
        let next = format!("S{}", i + 1);
        let state = if i == 9 {
            json!({"Type": "Pass", "End": true})
        } else if i % 2 == 0 {
            json!({"Type": "Pass", "Parameters": {"n.$": "$.n", "step": i}, "Next": next})
        } else {
            json!({"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericGreaterThanEquals": 0, "Next": next}], "Default": next})
        };
        states.insert(format!("S{i}"), state);
    }
    json!({"StartAt": "S0", "States": states})
}

fn map_of(n: usize) -> (Value, Value) {
    let def = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 0,
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "End": true}}});
    (def, json!({"items": (0..n).collect::<Vec<_>>()}))
}

fn bench(c: &mut Criterion) {
    let chain = parse_definition(&chain_of_ten().to_string()).expect("valid");
    let mut group = c.benchmark_group("core");
    // 10 states entered and exited per execution.
    group.throughput(Throughput::Elements(10));
    group.bench_function("chain_of_10_pass_choice", |b| {
        b.iter(|| run_local(&chain, json!({"n": 1}), 0, 1, |_, _, _| Answer::Silent))
    });
    let (map_def, input) = map_of(1000);
    let map = parse_definition(&map_def.to_string()).expect("valid");
    // One Map state plus 1,000 iterations of one Pass state.
    group.throughput(Throughput::Elements(1001));
    group.sample_size(20);
    group.bench_function("map_over_1000_items", |b| {
        b.iter(|| run_local(&map, input.clone(), 0, 1, |_, _, _| Answer::Silent))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
