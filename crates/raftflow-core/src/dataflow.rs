//! Step Functions' data flow around a state:
//! `InputPath → Parameters → (work) → ResultSelector → ResultPath → OutputPath`.

use serde_json::{json, Value};

use crate::definition::{ResultPath, Seconds, State, StateKind, Text};
use crate::eval::{call_intrinsic, render, Failure, Random, Scope};
use crate::execution::Execution;
use crate::time::format_millis;

fn runtime(message: String) -> Failure {
    Failure::new("States.Runtime", message)
}

/// InputPath: the part of the state's input the state works on.
pub fn effective_input(state: &State, input: &Value, _context: &Value) -> Result<Value, Failure> {
    match &state.input_path {
        None => Ok(json!({})),
        Some(p) => p.select(input).ok_or_else(|| {
            runtime(format!(
                "Invalid path '{}' : No results for path: {}",
                p.raw, p.raw
            ))
        }),
    }
}

/// ResultSelector then ResultPath, merging the result into the raw input.
pub fn shape_result(
    state: &State,
    raw_input: &Value,
    result: Value,
    (context, exact_numbers): (&Value, bool),
    rng: &mut Random,
) -> Result<Value, Failure> {
    let (selector, result_path) = match &state.kind {
        StateKind::Pass { result_path, .. } => (None, result_path.as_ref()),
        StateKind::Task { handling, .. }
        | StateKind::Parallel { handling, .. }
        | StateKind::Map { handling, .. } => (
            handling.result_selector.as_ref(),
            handling.result_path.as_ref(),
        ),
        _ => (None, None),
    };
    let result = match selector {
        Some(t) => render(
            t,
            &Scope {
                data: &result,
                context,
                exact_numbers,
            },
            rng,
        )?,
        None => result,
    };
    match result_path {
        None => Ok(result),
        Some(ResultPath::Discard) => Ok(raw_input.clone()),
        Some(ResultPath::At(p)) if p.segments.is_empty() => Ok(result),
        Some(ResultPath::At(p)) => {
            let mut data = raw_input.clone();
            p.set(&mut data, result).map_err(|e| {
                Failure::new(
                    "States.ResultPathMatchFailure",
                    format!(
                        "Unable to apply ResultPath {} to input {raw_input}: {e}",
                        p.raw
                    ),
                )
            })?;
            Ok(data)
        }
    }
}

/// OutputPath: the part of the data passed to the next state.
pub fn apply_output(state: &State, data: Value) -> Result<Value, Failure> {
    match &state.output_path {
        None => Ok(json!({})),
        Some(p) if p.segments.is_empty() => Ok(data),
        Some(p) => p.select(&data).ok_or_else(|| {
            runtime(format!(
                "Invalid path '{}' : No results for path: {}",
                p.raw, p.raw
            ))
        }),
    }
}

pub fn seconds(spec: Option<&Seconds>, input: &Value) -> Result<Option<u64>, Failure> {
    match spec {
        None => Ok(None),
        Some(Seconds::Fixed(s)) => Ok(Some(*s)),
        Some(Seconds::Path(p)) => match p.select(input).and_then(|v| v.as_u64()) {
            Some(s) if s > 0 => Ok(Some(s)),
            _ => Err(runtime(format!(
                "{} does not name a positive integer of seconds",
                p.raw
            ))),
        },
    }
}

pub fn text(spec: Option<&Text>, scope: &Scope, rng: &mut Random) -> Option<String> {
    let value = match spec? {
        Text::Fixed(s) => return Some(s.clone()),
        Text::Path(p) => scope.read(p)?,
        Text::Intrinsic(c) => call_intrinsic(c, scope, rng).ok()?,
    };
    Some(match value {
        Value::String(s) => s,
        other => other.to_string(),
    })
}

/// The context object `$$` as a state sees it.
pub fn context_object(exec: &Execution, frame: u32, now_ms: u64, token: Option<&str>) -> Value {
    let f = exec.frames.get(&frame);
    let active = f.and_then(|f| f.active.as_ref());
    let mut ctx = json!({
        "Execution": {
            "Id": exec.id,
            "Name": exec.name,
            "Input": exec.input,
            "StartTime": format_millis(exec.start_ms),
        },
        "State": {
            "Name": active.map(|a| a.name.clone()).unwrap_or_default(),
            "EnteredTime": format_millis(active.map_or(now_ms, |a| a.entered_ms)),
            "RetryCount": active.map_or(0, |a| a.retries.iter().sum::<u32>()),
        },
        "StateMachine": {"Id": exec.id.split(':').next().unwrap_or_default()},
    });
    if let Some(scheduled_ms) = exec.scheduled_ms {
        ctx["Schedule"] = json!({"ScheduledTime": format_millis(scheduled_ms)});
    }
    if let Some(token) = token {
        ctx["Task"] = json!({"Token": token});
    }
    if let Some((index, value)) = f.and_then(|f| f.map_item.as_ref()) {
        ctx["Map"] = json!({"Item": {"Index": index, "Value": value}});
    }
    ctx
}
