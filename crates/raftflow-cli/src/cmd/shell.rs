//! The shell-worker contract, shared by `worker run` and `run-local`.
//!
//! The task input arrives as JSON on stdin.
//! - Exit 0: stdout is the output (JSON; empty means `{}`).
//! - Any other exit: the task failed. The error name and cause come from
//!   stdout when it is `{"error": "...", "cause": "..."}`, else from the last
//!   stderr line when it reads `ErrorName: cause`, else the error is
//!   `ShellWorker.ExitCode` with the exit code and the last stderr line.
//!
//! `TRACEPARENT` holds the task's trace context when it has one.

use std::process::Stdio;

use serde_json::Value;
use tokio::io::AsyncWriteExt;

pub struct Outcome {
    pub result: Result<String, (String, String)>,
}

/// Runs `command` on `input`. With `trace_parent`, the command sees it as
/// `TRACEPARENT` (the W3C trace context as an environment variable, as
/// OpenTelemetry's SDKs and otel-cli read it), so its spans and the
/// `raftflow` calls it makes join the execution's trace.
pub async fn run(command: &[String], input: &str, trace_parent: &str) -> Outcome {
    let Some((program, args)) = command.split_first() else {
        return Outcome {
            result: Err(("ShellWorker.NoCommand".into(), "no command to run".into())),
        };
    };
    let mut child = tokio::process::Command::new(program);
    if !trace_parent.is_empty() {
        child.env("TRACEPARENT", trace_parent);
    }
    let child = child
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            return Outcome {
                result: Err(("ShellWorker.SpawnFailed".into(), format!("{program}: {e}"))),
            }
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        // A program that ignores its input may close stdin early; that is fine.
        let _ = stdin.write_all(input.as_bytes()).await;
    }
    let out = match child.wait_with_output().await {
        Ok(o) => o,
        Err(e) => {
            return Outcome {
                result: Err(("ShellWorker.WaitFailed".into(), e.to_string())),
            }
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last_err = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string();
    if out.status.success() {
        if stdout.is_empty() {
            return Outcome {
                result: Ok("{}".into()),
            };
        }
        return Outcome {
            result: match serde_json::from_str::<Value>(&stdout) {
                Ok(v) => Ok(v.to_string()),
                Err(e) => Err((
                    "ShellWorker.InvalidOutput".into(),
                    format!("stdout is not JSON: {e}"),
                )),
            },
        };
    }
    if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&stdout) {
        if let Some(error) = map.get("error").and_then(Value::as_str) {
            let cause = map.get("cause").and_then(Value::as_str).unwrap_or_default();
            return Outcome {
                result: Err((error.to_string(), cause.to_string())),
            };
        }
    }
    if let Some((error, cause)) = last_err.split_once(':') {
        if !error.is_empty() && !error.contains(char::is_whitespace) {
            return Outcome {
                result: Err((error.to_string(), cause.trim().to_string())),
            };
        }
    }
    let code = out
        .status
        .code()
        .map_or("a signal".to_string(), |c| c.to_string());
    Outcome {
        result: Err((
            "ShellWorker.ExitCode".into(),
            format!("exit code {code}: {last_err}"),
        )),
    }
}
