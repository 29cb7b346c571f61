//! `raftflow run-local`: runs a definition in-process, in virtual time, with
//! tasks answered from a file or by a shell command. No cluster needed.
//!
//! The task-results file maps each activity to one answer or a list of
//! answers used in turn (the last one repeats):
//! ```json
//! { "charge":  [{"error": "Declined", "cause": "card"}, {"output": {"ok": true}}],
//!   "ship":    {"output": {"tracking": "T1"}},
//!   "review":  {"silent": true},
//!   "notify":  {"command": "jq '{sent: true}'"} }
//! ```
//! An HTTP Task is called for real when `--allow-http` allows its host
//! (run_local_http.rs); otherwise it is answered under its state's name.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use raftflow_core::bounds::parse_checked;
use raftflow_core::local::{run_local_tasks, Answer};
use raftflow_core::Status;
use serde_json::{json, Value};

use crate::output::Format;

#[derive(clap::Args)]
pub struct Args {
    /// The state machine definition (ASL JSON).
    #[arg(long)]
    definition: PathBuf,
    /// The execution input: JSON text, or @FILE.
    #[arg(long, default_value = "{}")]
    input: String,
    /// Answers per activity (see `raftflow run-local --help`).
    #[arg(long)]
    task_results: Option<PathBuf>,
    /// Print the event history too.
    #[arg(long)]
    history: bool,
    /// Seed for the random values the run draws (UUIDs, jitter).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    http: super::run_local_http::HttpArgs,
}

pub fn read_json_arg(text: &str) -> anyhow::Result<Value> {
    let raw = match text.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?,
        None => text.to_string(),
    };
    serde_json::from_str(&raw).with_context(|| "the input is not valid JSON".to_string())
}

fn answer_from(spec: &Value, activity: &str, input: &Value) -> anyhow::Result<Answer> {
    if let Some(output) = spec.get("output") {
        return Ok(Answer::Succeed(output.clone()));
    }
    if let Some(error) = spec.get("error").and_then(Value::as_str) {
        let cause = spec
            .get("cause")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return Ok(Answer::Fail {
            error: error.into(),
            cause: cause.into(),
        });
    }
    if spec.get("silent").and_then(Value::as_bool) == Some(true) {
        return Ok(Answer::Silent);
    }
    if let Some(command) = spec.get("command").and_then(Value::as_str) {
        return run_command(command, input);
    }
    bail!("the answer for `{activity}` needs one of output, error, silent or command: {spec}")
}

fn run_command(command: &str, input: &Value) -> anyhow::Result<Answer> {
    let argv = vec!["sh".to_string(), "-c".to_string(), command.to_string()];
    let runtime = tokio::runtime::Handle::current();
    let outcome = tokio::task::block_in_place(|| {
        runtime.block_on(super::shell::run(&argv, &input.to_string(), ""))
    });
    Ok(match outcome.result {
        Ok(text) => Answer::Succeed(serde_json::from_str(&text)?),
        Err((error, cause)) => Answer::Fail { error, cause },
    })
}

/// Runs on a thread with the engine's stack (`ENGINE_STACK_BYTES`): a step
/// of an instant loop or a large Map goes deep, and the main thread's 8 MiB
/// overflowed at 2,000 Map items.
pub fn run(args: Args, format: Format) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Handle::current();
    std::thread::Builder::new()
        .name("run-local".into())
        .stack_size(raftflow_core::execution::ENGINE_STACK_BYTES)
        .spawn(move || {
            let _entered = runtime.enter();
            run_here(args, format, runtime.clone())
        })?
        .join()
        .map_err(|_| anyhow::anyhow!("run-local panicked"))?
}

fn run_here(
    args: Args,
    format: Format,
    runtime: tokio::runtime::Handle,
) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.definition)
        .with_context(|| format!("reading {}", args.definition.display()))?;
    let machine = match parse_checked(&text) {
        Ok(m) => m,
        Err(diagnostics) => {
            eprintln!(
                "error: {} is not a valid state machine:",
                args.definition.display()
            );
            for d in diagnostics {
                eprintln!("  {d}");
            }
            return Ok(ExitCode::from(2));
        }
    };
    let input = read_json_arg(&args.input)?;
    let results: BTreeMap<String, Value> = match &args.task_results {
        Some(path) => serde_json::from_str(
            &std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?,
        )
        .with_context(|| {
            format!(
                "{} must be a JSON object of activity → answer",
                path.display()
            )
        })?,
        None => BTreeMap::new(),
    };
    let http = super::run_local_http::HttpCalls::new(&args.http, runtime)?;
    let mut calls: BTreeMap<String, usize> = BTreeMap::new();
    let mut problem: Option<anyhow::Error> = None;
    let outcome = run_local_tasks(&machine, input, 0, args.seed, |task| {
        let (mut activity, input) = (task.activity.to_string(), task.input);
        if activity == raftflow_core::http_task::ACTIVITY {
            if let Some(answer) = http.call(task) {
                return answer;
            }
            let keys = super::run_local_http::answer_keys(input);
            let found = keys.iter().find(|k| results.contains_key(k.as_str()));
            activity = found.unwrap_or(&keys[0]).clone();
        }
        let activity = activity.as_str();
        let n = calls.entry(activity.to_string()).or_default();
        *n += 1;
        let spec = match results.get(activity) {
            Some(Value::Array(list)) if !list.is_empty() => {
                list[(*n - 1).min(list.len() - 1)].clone()
            }
            Some(other) if !other.is_array() => other.clone(),
            _ => {
                problem.get_or_insert_with(|| {
                    anyhow::anyhow!("no answer for activity `{activity}` in --task-results")
                });
                return Answer::Silent;
            }
        };
        answer_from(&spec, activity, input).unwrap_or_else(|e| {
            problem.get_or_insert(e);
            Answer::Silent
        })
    });
    if let Some(e) = problem {
        return Err(e);
    }
    let exec = &outcome.execution;
    let result = json!({
        "status": exec.status.as_str(),
        "output": exec.output,
        "error": exec.failure.as_ref().map(|f| &f.error),
        "cause": exec.failure.as_ref().map(|f| &f.cause),
        "virtual_duration_ms": outcome.end_ms,
    });
    if args.history {
        for e in &exec.events {
            match format {
                Format::Text => eprintln!(
                    "{:>4} {:>9}ms {:<28} {}",
                    e.id, e.timestamp_ms, e.kind, e.details
                ),
                _ => eprintln!(
                    "{}",
                    json!({"id": e.id, "previous_id": e.previous_id, "timestamp_ms": e.timestamp_ms, "type": e.kind, "details": e.details})
                ),
            }
        }
    }
    match format {
        Format::Text => match exec.status {
            Status::Succeeded => println!(
                "{}",
                serde_json::to_string_pretty(exec.output.as_ref().unwrap_or(&Value::Null))?
            ),
            Status::Running => {
                println!("RUNNING: the execution waits for a callback that no task answer provides")
            }
            other => println!(
                "{}: {} {}",
                other.as_str(),
                result["error"].as_str().unwrap_or(""),
                result["cause"].as_str().unwrap_or("")
            ),
        },
        _ => println!("{result}"),
    }
    Ok(if exec.status == Status::Succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
