//! Every definition in the conformance fixtures and the examples is drawn
//! readably: no state over another, no edge through a state, no label over
//! a label, a state or an edge (`raftflow_core::layout::check`).

use std::path::Path;

use raftflow_core::layout::{check, layout};
use raftflow_core::parse_definition;
use serde_json::Value;

fn definitions() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    let fixtures = root.join("tests/conformance/fixtures");
    let mut files: Vec<_> = std::fs::read_dir(&fixtures)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        let cases: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        for case in cases.as_array().unwrap() {
            let id = format!("{} {}", case["suite"], case["test"]);
            out.push((id, case["definition"].to_string()));
        }
    }
    let order = root.join("../../examples/order/order.asl.json");
    out.push((
        "order example".into(),
        std::fs::read_to_string(order).unwrap(),
    ));
    out
}

#[test]
fn every_fixture_is_drawn_readably() {
    let mut drawn = 0;
    let mut failures = Vec::new();
    for (id, text) in definitions() {
        let Ok(machine) = parse_definition(&text) else {
            continue;
        };
        drawn += 1;
        let drawing = layout(&machine);
        let problems = check(&drawing);
        if !problems.is_empty() {
            failures.push(format!("{id}: {problems:?}"));
        }
        for e in &drawing.edges {
            if !label_fits(e) {
                failures.push(format!(
                    "{id}: the label {:?} is wider than its box",
                    e.label
                ));
            }
        }
    }
    assert!(drawn >= 100, "the fixtures hold definitions: {drawn}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The label's text fits its box at the console's font for labels (11px
/// monospace: 0.6 em, 6.6 px, per character). The geometry check trusts the
/// boxes; this is what makes them honest (the browser test measures them).
fn label_fits(e: &raftflow_core::layout::Edge) -> bool {
    let Some(b) = e.label_box else {
        return e.label.is_empty();
    };
    f64::from(b.w) >= 6.6 * e.label.chars().count() as f64 && b.h >= 13
}

/// How long drawing takes: the order example, and a Choice jumping to each
/// state of a chain (the worst shape: every edge long) as it grows to the
/// bound. A measurement, not a check (`--ignored --nocapture`).
#[test]
#[ignore]
fn layout_time() {
    let order = include_str!("../../../examples/order/order.asl.json");
    let order = parse_definition(order).unwrap();
    let started = std::time::Instant::now();
    for _ in 0..100 {
        layout(&order);
    }
    println!("order example: {:?} per layout", started.elapsed() / 100);
    for n in [50usize, 100, 140, 400] {
        let rules: Vec<String> = (1..n)
            .map(|r| format!(r#"{{"Variable":"$.v","NumericEquals":{r},"Next":"S{r}"}}"#))
            .collect();
        let mut states = vec![format!(
            r#""S0":{{"Type":"Choice","Choices":[{}],"Default":"S1"}}"#,
            rules.join(",")
        )];
        for i in 1..n {
            let next = if i + 1 == n {
                r#""Type":"Succeed""#.to_string()
            } else {
                format!(r#""Type":"Pass","Next":"S{}""#, i + 1)
            };
            states.push(format!(r#""S{i}":{{{next}}}"#));
        }
        let text = format!(r#"{{"StartAt":"S0","States":{{{}}}}}"#, states.join(","));
        let machine = parse_definition(&text).unwrap();
        let started = std::time::Instant::now();
        let drawn = layout(&machine);
        println!(
            "fan of {n}: {:?}, {} edges{}",
            started.elapsed(),
            drawn.edges.len(),
            drawn.note.map_or(String::new(), |n| format!(" ({n})"))
        );
    }
}
