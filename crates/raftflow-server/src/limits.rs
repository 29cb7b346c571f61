//! Limits at the door: every field of every request is bounded before a
//! command is proposed (everything proposed goes into the log, every
//! replica and every snapshot), and each refusal names the field and its
//! limit. Step Functions' own numbers where it has them.

use serde_json::Value;

use crate::error::ApiError;

/// State machine, execution and activity names, and worker identities.
pub const MAX_NAME_CHARS: usize = 80;
/// `<state machine>:<execution>`.
pub const MAX_EXECUTION_ID_CHARS: usize = 2 * MAX_NAME_CHARS + 1;
pub const MAX_DESCRIPTION_CHARS: usize = 256;
pub const MAX_ERROR_CHARS: usize = 256;
pub const MAX_CAUSE_CHARS: usize = 32_768;
/// A task token: `<execution id>#<attempt>@<epoch>` fits in far less.
pub const MAX_TOKEN_CHARS: usize = 1024;
/// Activities one poll may name.
pub const MAX_ACTIVITIES: usize = 100;
/// JSON nesting of inputs, outputs and definitions: half of what serde_json
/// reads back (128), so that what the engine stores a few levels deeper
/// (ResultPath, Parallel, Map) is still read back after a restart.
pub const MAX_JSON_DEPTH: usize = 64;
pub const MAX_PROBE_KEY_BYTES: usize = 256;
pub const MAX_PROBE_VALUE_BYTES: usize = 4096;
pub const MAX_ADDR_CHARS: usize = 256;
/// Polls parked on one node at once, waiting for a task.
pub const MAX_WAITING_POLLS: usize = 10_000;
/// WatchExecution streams open on one node at once, unless
/// `scheduler.max_watch_streams` says otherwise.
pub const DEFAULT_MAX_WATCH_STREAMS: usize = 10_000;
/// Streams a client may reset before this node accepted them, per
/// connection. h2's default (20) is passed whenever a node resumes from a
/// pause with its clients' deadline-cancelled calls queued, and the node
/// then closed the connection (GOAWAY `too_many_resets`). Bounded still: an
/// unbounded count is the HTTP/2 Rapid Reset attack (CVE-2023-44487).
pub const MAX_PENDING_ACCEPT_RESET_STREAMS: usize = 4096;
/// gRPC (method, code) series in the metrics; the rest count as `other`.
pub const MAX_GRPC_SERIES: usize = 512;
/// Room for every field of a request besides its one JSON payload.
const REQUEST_OVERHEAD_BYTES: usize = 64 * 1024;

/// The largest request the client API decodes: one payload at its limit
/// plus the other fields. A longer one is refused from its length prefix.
pub fn max_request_bytes(max_payload_bytes: usize) -> usize {
    max_payload_bytes + REQUEST_OVERHEAD_BYTES
}

fn invalid(message: String) -> ApiError {
    ApiError::InvalidArgument(message)
}

/// Text of at most `max` characters.
pub fn text(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    let chars = value.chars().count();
    if chars > max {
        return Err(invalid(format!(
            "{field} is {chars} characters; the limit is {max}"
        )));
    }
    Ok(())
}

/// Text of 1 to `max` characters.
pub fn required(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.is_empty() {
        return Err(invalid(format!("{field} is empty")));
    }
    text(field, value, max)
}

/// Names as Step Functions allows them, minus the characters our ids use.
pub fn name(field: &str, value: &str) -> Result<(), ApiError> {
    required(field, value, MAX_NAME_CHARS)?;
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        // Echoed escaped: a newline or a control byte must not reach the
        // caller's terminal or log raw.
        return Err(invalid(format!(
            "{field} `{}` contains `{}`; use letters, digits, `-`, `_` and `.`",
            value.escape_debug(),
            c.escape_debug()
        )));
    }
    Ok(())
}

/// A JSON document of at most `max_bytes` and `MAX_JSON_DEPTH` levels.
pub fn json(field: &str, text: &str, max_bytes: usize) -> Result<(), ApiError> {
    if text.len() > max_bytes {
        return Err(invalid(format!(
            "the {field} is {} bytes; the limit is {max_bytes}",
            text.len()
        )));
    }
    let value: Value = serde_json::from_str(text)
        .map_err(|e| invalid(format!("the {field} is not valid JSON: {e}")))?;
    let depth = depth(&value);
    if depth > MAX_JSON_DEPTH {
        return Err(invalid(format!(
            "the {field} nests {depth} levels deep; the limit is {MAX_JSON_DEPTH}"
        )));
    }
    Ok(())
}

/// How deeply `value` nests (a scalar is 1), without recursion.
pub fn depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 1usize)];
    while let Some((v, level)) = stack.pop() {
        deepest = deepest.max(level);
        match v {
            Value::Array(items) => stack.extend(items.iter().map(|i| (i, level + 1))),
            Value::Object(map) => stack.extend(map.values().map(|i| (i, level + 1))),
            _ => {}
        }
    }
    deepest
}

/// A list filter on execution status: empty for all, else one status by
/// name (any case).
pub fn status_filter(text: &str) -> Result<Option<raftflow_core::Status>, ApiError> {
    if text.is_empty() {
        return Ok(None);
    }
    raftflow_core::Status::parse(&text.to_ascii_uppercase())
        .map(Some)
        .ok_or_else(|| {
            let names: Vec<_> = raftflow_core::Status::ALL
                .iter()
                .map(|s| s.as_str())
                .collect();
            invalid(format!(
                "the status filter `{}` is not one of {}",
                text.escape_debug(),
                names.join(", ")
            ))
        })
}

/// The activities a poll (or a report's `next`) names.
pub fn activities(list: &[String]) -> Result<(), ApiError> {
    if list.is_empty() {
        return Err(invalid("name at least one activity to poll".into()));
    }
    if list.len() > MAX_ACTIVITIES {
        return Err(invalid(format!(
            "a poll names {} activities; the limit is {MAX_ACTIVITIES}",
            list.len()
        )));
    }
    list.iter().try_for_each(|a| {
        required("an activity name", a, MAX_NAME_CHARS)?;
        if a.starts_with(':') {
            return Err(invalid(format!(
                "activity `{}` is the cluster's own (HTTP Tasks); workers cannot poll it",
                a.escape_debug()
            )));
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clusters_own_activity_cannot_be_polled() {
        let error = activities(&[":http".to_string()]).unwrap_err().to_string();
        assert!(error.contains("cannot poll"), "{error}");
        assert!(activities(&["payments".to_string()]).is_ok());
    }

    #[test]
    fn a_name_with_control_characters_is_echoed_escaped() {
        let err = name("the execution name", "a\nb\t\u{1}")
            .unwrap_err()
            .to_string();
        assert!(err.contains(r"`a\nb\t\u{1}` contains `\n`"), "{err}");
        assert!(!err.contains('\n') && !err.contains('\u{1}'), "{err}");
    }

    #[test]
    fn each_refusal_names_the_field_and_the_limit() {
        let err = text(
            "the cause",
            &"x".repeat(MAX_CAUSE_CHARS + 1),
            MAX_CAUSE_CHARS,
        );
        assert!(format!("{err:?}").contains("the cause is 32769 characters; the limit is 32768"));
        assert!(
            text("the error", &"é".repeat(256), MAX_ERROR_CHARS).is_ok(),
            "characters, not bytes"
        );
        let deep = format!("{}1{}", "[".repeat(65), "]".repeat(65));
        let err = json("input", &deep, 1 << 20).unwrap_err();
        assert!(format!("{err:?}").contains("nests 66 levels deep; the limit is 64"));
        assert!(json(
            "input",
            &format!("{}1{}", "[".repeat(63), "]".repeat(63)),
            1 << 20
        )
        .is_ok());
        assert!(format!("{:?}", json("input", "{}", 1).unwrap_err())
            .contains("2 bytes; the limit is 1"));
        assert!(activities(&vec!["a".to_string(); 101]).is_err());
        assert!(name("the execution name", "a:b").is_err());
    }

    #[test]
    fn depth_counts_levels_without_recursion() {
        assert_eq!(depth(&serde_json::json!(1)), 1);
        assert_eq!(depth(&serde_json::json!({"a": [1, {"b": 2}]})), 4);
        let mut v = serde_json::json!(0);
        for _ in 0..100_000 {
            v = Value::Array(vec![v]);
        }
        assert_eq!(depth(&v), 100_001);
        // Dropping it recursively would overflow this test's stack.
        std::mem::forget(v);
    }
}
