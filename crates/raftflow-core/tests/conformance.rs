//! Conformance with AWS Step Functions, on cases recorded against AWS itself
//! (imported from LocalStack's suite by tools/import_conformance.py; see NOTICE).
//!
//! Every runnable case is run in virtual time with its tasks answered as the
//! recorded history answered them. Cases listed in `conformance/passing.txt`
//! must pass: a regression fails the test. Set `RAFTFLOW_CONFORMANCE_REPORT`
//! to a path to write the full report (docs/conformance.md is made from it).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

use raftflow_core::local::{run_local, Answer};
use raftflow_core::parse_definition;
use serde_json::Value;

struct Verdict {
    id: String,
    suite: String,
    result: Result<(), String>,
}

fn run_case(case: &Value) -> Result<(), String> {
    let definition = case["definition"].to_string();
    let machine = parse_definition(&definition).map_err(|d| {
        format!(
            "rejected definition: {}",
            d.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        )
    })?;
    let mut answers: VecDeque<Value> = case["task_answers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into();
    let input = case["input"].clone();
    let outcome = run_local(
        &machine,
        input,
        1_600_000_000_000,
        7,
        |_, _, _| match answers.pop_front() {
            Some(a) if a.get("output").is_some() => Answer::Succeed(a["output"].clone()),
            Some(a) if a.get("error").is_some() => Answer::Fail {
                error: a["error"].as_str().unwrap_or_default().into(),
                cause: a["cause"].as_str().unwrap_or_default().into(),
            },
            _ => Answer::Silent,
        },
    );
    let exec = &outcome.execution;
    let expected = &case["expected"];
    let status = exec.status.as_str();
    if status != expected["status"] {
        return Err(format!(
            "status {status}, expected {} ({:?})",
            expected["status"], exec.failure
        ));
    }
    if status == "SUCCEEDED" && exec.output.as_ref() != Some(&expected["output"]) {
        return Err(format!(
            "output {}, expected {}",
            exec.output.as_ref().unwrap_or(&Value::Null),
            expected["output"]
        ));
    }
    if status == "FAILED" {
        let failure = exec
            .failure
            .as_ref()
            .expect("a failed execution has a failure");
        if expected["error"] != Value::Null
            && failure.error != expected["error"].as_str().unwrap_or_default()
        {
            return Err(format!(
                "error {}, expected {}",
                failure.error, expected["error"]
            ));
        }
    }
    let mut ours: Vec<&str> = exec.events.iter().map(|e| e.kind.as_ref()).collect();
    let mut theirs: Vec<&str> = case["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    // Parallel branches and Map iterations interleave by timing in AWS; with
    // concurrency compare the same events in any order.
    if definition.contains("\"Parallel\"") || definition.contains("\"Map\"") {
        ours.sort_unstable();
        theirs.sort_unstable();
    }
    if ours != theirs {
        return Err(format!(
            "events differ:\n    ours:   {ours:?}\n    theirs: {theirs:?}"
        ));
    }
    Ok(())
}

#[test]
fn recorded_aws_executions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut verdicts = Vec::new();
    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    let mut files: Vec<_> = std::fs::read_dir(dir.join("fixtures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        let cases: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        for case in cases {
            let id = format!(
                "{}::{}::{}",
                case["suite"].as_str().unwrap(),
                case["test"].as_str().unwrap(),
                case["history"].as_str().unwrap()
            );
            if let Some(reason) = case["skip"].as_str() {
                *skipped.entry(reason.to_string()).or_default() += 1;
                continue;
            }
            let result = std::panic::catch_unwind(|| run_case(&case))
                .unwrap_or_else(|_| Err("the engine panicked".into()));
            verdicts.push(Verdict {
                id,
                suite: case["suite"].as_str().unwrap().to_string(),
                result,
            });
        }
    }
    // Required: without the list, no regression could be caught.
    let passing: BTreeSet<String> = std::fs::read_to_string(dir.join("passing.txt"))
        .expect("tests/conformance/passing.txt lists the cases that must pass")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    let passed = verdicts.iter().filter(|v| v.result.is_ok()).count();
    let mut report = format!(
        "{passed} of {} runnable cases pass; {} cases skipped.\n",
        verdicts.len(),
        skipped.values().sum::<usize>()
    );
    for (reason, n) in &skipped {
        report.push_str(&format!("- skipped {n}: {reason}\n"));
    }
    let mut by_suite: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for v in &verdicts {
        let e = by_suite.entry(&v.suite).or_default();
        e.1 += 1;
        e.0 += v.result.is_ok() as usize;
    }
    report.push_str("\n| suite | pass | of |\n|---|---|---|\n");
    for (suite, (p, n)) in &by_suite {
        report.push_str(&format!("| {suite} | {p} | {n} |\n"));
    }
    report.push_str("\nFailing cases:\n");
    for v in verdicts.iter().filter(|v| v.result.is_err()) {
        report.push_str(&format!(
            "- `{}`: {}\n",
            v.id,
            v.result.as_ref().unwrap_err().replace('\n', " ")
        ));
    }
    if let Ok(path) = std::env::var("RAFTFLOW_CONFORMANCE_REPORT") {
        std::fs::write(&path, &report).unwrap();
        let ids: Vec<&str> = verdicts
            .iter()
            .filter(|v| v.result.is_ok())
            .map(|v| v.id.as_str())
            .collect();
        std::fs::write(format!("{path}.passing"), ids.join("\n") + "\n").unwrap();
    }
    println!("{report}");
    let regressions: Vec<String> = verdicts
        .iter()
        .filter(|v| passing.contains(&v.id))
        .filter_map(|v| v.result.as_ref().err().map(|e| format!("{}: {e}", v.id)))
        .collect();
    assert!(
        regressions.is_empty(),
        "conformance regressions:\n{}",
        regressions.join("\n")
    );
    assert!(
        passed >= passing.len(),
        "fewer cases pass ({passed}) than passing.txt lists ({})",
        passing.len()
    );
}
