//! Step Functions' HTTP Task (`arn:aws:states:::http:invoke`), the pure
//! half: its resolved `Parameters` read into a request, and a response (or
//! a socket failure) turned into the task's result or error, in Step
//! Functions' own shapes so that definitions move over unchanged.
//!
//! ```text
//!  Parameters {ApiEndpoint, Method, Headers, QueryParameters, RequestBody,
//!              Transform {RequestBodyEncoding, RequestEncodingOptions {ArrayFormat}},
//!              Authentication {ConnectionArn}}      ──request()──▶ Invoke
//!  status, headers, body ──outcome()──▶ {StatusCode, StatusText, Headers, ResponseBody}
//!                                       or States.Http.StatusCode.NNN
//!  no answer (refused, reset, past 60 s) ──socket()──▶ States.Http.Socket
//! ```
//! No I/O here: the node's caller makes the request (raftflow-server's
//! outbound/), under its destination rules.

use serde_json::{Map, Value};

use crate::eval::Failure;

/// The resource of an HTTP Task.
pub const RESOURCE: &str = "arn:aws:states:::http:invoke";
/// The apply version from which definitions may hold HTTP Tasks.
pub const HTTP_TASKS_FROM: u32 = 16;
/// The apply version from which an HTTP Task may be a callback
/// (`http:invoke.waitForTaskToken`, a raftflow extension): the call carries
/// the task token and the endpoint reports later.
pub const HTTP_CALLBACKS_FROM: u32 = 18;
/// The apply version from which an HTTP Task's input carries its state's
/// `TimeoutSeconds` (the call is cut there).
pub const HTTP_TIMEOUT_FROM: u32 = 19;
/// How long one call may take: the state's `TimeoutSeconds` (in the task's
/// input from `HTTP_TIMEOUT_FROM`), at most Step Functions' 60 seconds.
pub fn call_timeout_ms(input: &Value) -> u64 {
    let cap_s = input["TimeoutSeconds"]
        .as_u64()
        .map_or(MAX_CALL_S, |s| s.min(MAX_CALL_S));
    cap_s.max(1) * 1000
}
/// Why a callback HTTP Task is refused under `apply_version`, if it is.
pub fn callback_refused(wait_for_token: bool, apply_version: u32) -> Option<String> {
    (wait_for_token && apply_version < HTTP_CALLBACKS_FROM).then(|| {
        format!("an HTTP Task with `.waitForTaskToken` needs apply version {HTTP_CALLBACKS_FROM} (the cluster is at {apply_version})")
    })
}
/// Whether the call's deadline is the state's own `TimeoutSeconds` (below
/// the 60-second cap): past it, the state's timer says States.Timeout and
/// the caller reports nothing.
pub fn cut_at_own_timeout(input: &Value) -> bool {
    input["TimeoutSeconds"]
        .as_u64()
        .is_some_and(|s| s < MAX_CALL_S)
}
/// The header a callback HTTP Task's request carries its task token in.
pub const TASK_TOKEN_HEADER: &str = "X-Raftflow-Task-Token";
/// The activity HTTP Tasks are queued under: a name no definition's
/// activity can have (`:`), polled only by the leader's own caller.
pub const ACTIVITY: &str = ":http";

/// What the caller receives for one attempt: the resolved `Parameters` and
/// the state entry, the same for every retry of that entry (the
/// `Idempotency-Key` is made of it).
pub fn task_input(parameters: Value, state: &str, entered: &Value) -> Value {
    serde_json::json!({
        "Parameters": parameters,
        "Entry": format!("{state}@{}", entered.as_str().unwrap_or_default()),
    })
}
/// Step Functions' cap on one HTTP call.
pub const MAX_CALL_S: u64 = 60;
/// Methods Step Functions' HTTP Task takes.
pub const METHODS: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"];

/// How arrays are written in a URL-encoded body (Step Functions' `ArrayFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArrayFormat {
    /// `a[0]=x&a[1]=y` (the default).
    Indices,
    /// `a=x&a=y`.
    Repeat,
    /// `a=x,y`.
    Commas,
    /// `a[]=x&a[]=y`.
    Brackets,
}

/// One HTTP call, as the parameters describe it.
#[derive(Debug, Clone, PartialEq)]
pub struct Invoke {
    pub method: String,
    /// `ApiEndpoint` with `QueryParameters` appended.
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// The connection named by `Authentication.ConnectionArn` (its last
    /// part, or the plain name), if any.
    pub connection: Option<String>,
}

fn runtime(cause: impl Into<String>) -> Failure {
    Failure::new("States.Runtime", cause)
}

/// The request the resolved `Parameters` describe; a parameter that is
/// missing or of the wrong kind fails the state with `States.Runtime`,
/// naming it.
pub fn request(parameters: &Value) -> Result<Invoke, Failure> {
    let p = parameters
        .as_object()
        .ok_or_else(|| runtime("an HTTP Task's Parameters must be an object"))?;
    let endpoint = text(p, "ApiEndpoint")?
        .ok_or_else(|| runtime("an HTTP Task needs Parameters.ApiEndpoint"))?;
    let method = text(p, "Method")?
        .ok_or_else(|| runtime("an HTTP Task needs Parameters.Method"))?
        .to_ascii_uppercase();
    if !METHODS.contains(&method.as_str()) {
        return Err(runtime(format!(
            "Parameters.Method `{method}` is not one of {}",
            METHODS.join(", ")
        )));
    }
    let format = array_format(p)?;
    let url = with_query(&endpoint, p.get("QueryParameters"), format)?;
    let mut headers = header_pairs(p.get("Headers"))?;
    let body = body(p, format, &mut headers)?;
    Ok(Invoke {
        method,
        url,
        headers,
        body,
        connection: connection(p)?,
    })
}

fn text(p: &Map<String, Value>, field: &str) -> Result<Option<String>, Failure> {
    match p.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(runtime(format!("Parameters.{field} must be a string"))),
    }
}

fn array_format(p: &Map<String, Value>) -> Result<ArrayFormat, Failure> {
    let format = p
        .get("Transform")
        .and_then(|t| t.get("RequestEncodingOptions"))
        .and_then(|o| o.get("ArrayFormat"));
    match format.and_then(Value::as_str) {
        None | Some("INDICES") => Ok(ArrayFormat::Indices),
        Some("REPEAT") => Ok(ArrayFormat::Repeat),
        Some("COMMAS") => Ok(ArrayFormat::Commas),
        Some("BRACKETS") => Ok(ArrayFormat::Brackets),
        Some(other) => Err(runtime(format!(
            "Transform.RequestEncodingOptions.ArrayFormat `{other}` is not INDICES, REPEAT, COMMAS or BRACKETS"
        ))),
    }
}

fn with_query(
    endpoint: &str,
    query: Option<&Value>,
    format: ArrayFormat,
) -> Result<String, Failure> {
    let Some(query) = query.filter(|q| !q.is_null()) else {
        return Ok(endpoint.to_string());
    };
    let object = query
        .as_object()
        .ok_or_else(|| runtime("Parameters.QueryParameters must be an object"))?;
    let encoded = url_encoded(object, format);
    if encoded.is_empty() {
        return Ok(endpoint.to_string());
    }
    let joiner = if endpoint.contains('?') { '&' } else { '?' };
    Ok(format!("{endpoint}{joiner}{encoded}"))
}

fn header_pairs(headers: Option<&Value>) -> Result<Vec<(String, String)>, Failure> {
    let Some(headers) = headers.filter(|h| !h.is_null()) else {
        return Ok(Vec::new());
    };
    let object = headers
        .as_object()
        .ok_or_else(|| runtime("Parameters.Headers must be an object"))?;
    Ok(object
        .iter()
        .map(|(name, value)| (name.clone(), scalar(value)))
        .collect())
}

/// The body: JSON (an object or array, `application/json` unless a
/// Content-Type is given), text as is, or URL-encoded when
/// `Transform.RequestBodyEncoding` is `URL_ENCODED`.
fn body(
    p: &Map<String, Value>,
    format: ArrayFormat,
    headers: &mut Vec<(String, String)>,
) -> Result<Option<Vec<u8>>, Failure> {
    let Some(body) = p.get("RequestBody").filter(|b| !b.is_null()) else {
        return Ok(None);
    };
    let encoding = p
        .get("Transform")
        .and_then(|t| t.get("RequestBodyEncoding"));
    let has_type = headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
    let (bytes, content_type) = match encoding.and_then(Value::as_str) {
        Some("URL_ENCODED") => {
            let object = body
                .as_object()
                .ok_or_else(|| runtime("a URL_ENCODED Parameters.RequestBody must be an object"))?;
            (
                url_encoded(object, format).into_bytes(),
                "application/x-www-form-urlencoded",
            )
        }
        None | Some("NONE") => match body {
            Value::String(s) => (s.clone().into_bytes(), "text/plain; charset=utf-8"),
            other => (other.to_string().into_bytes(), "application/json"),
        },
        Some(other) => {
            return Err(runtime(format!(
                "Transform.RequestBodyEncoding `{other}` is not NONE or URL_ENCODED"
            )))
        }
    };
    if !has_type {
        headers.push(("Content-Type".into(), content_type.into()));
    }
    Ok(Some(bytes))
}

/// `Authentication.ConnectionArn`: the ARN's last part (after `/` in an
/// EventBridge connection ARN, `connection/NAME/uuid` → NAME) or a plain name.
fn connection(p: &Map<String, Value>) -> Result<Option<String>, Failure> {
    let Some(arn) = p.get("Authentication").and_then(|a| a.get("ConnectionArn")) else {
        return Ok(None);
    };
    let arn = arn
        .as_str()
        .ok_or_else(|| runtime("Authentication.ConnectionArn must be a string"))?;
    let name = match arn.split_once(":connection/") {
        Some((_, rest)) => rest.split('/').next().unwrap_or(rest),
        None => arn,
    };
    Ok(Some(name.to_string()))
}

/// A JSON value as text in a header or a URL: strings bare, the rest as JSON.
fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `key=value&…`, arrays by `format`, nested objects as `a[b]=c`.
pub fn url_encoded(object: &Map<String, Value>, format: ArrayFormat) -> String {
    let mut pairs = Vec::new();
    for (key, value) in object {
        flatten(key, value, format, &mut pairs);
    }
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (key, value) in &pairs {
        out.append_pair(key, value);
    }
    out.finish()
}

fn flatten(key: &str, value: &Value, format: ArrayFormat, out: &mut Vec<(String, String)>) {
    match value {
        Value::Array(items) => match format {
            ArrayFormat::Commas => {
                let joined: Vec<String> = items.iter().map(scalar).collect();
                out.push((key.to_string(), joined.join(",")));
            }
            _ => {
                for (i, item) in items.iter().enumerate() {
                    let name = match format {
                        ArrayFormat::Indices => format!("{key}[{i}]"),
                        ArrayFormat::Brackets => format!("{key}[]"),
                        _ => key.to_string(),
                    };
                    flatten(&name, item, format, out);
                }
            }
        },
        Value::Object(fields) => {
            for (field, inner) in fields {
                flatten(&format!("{key}[{field}]"), inner, format, out);
            }
        }
        other => out.push((key.to_string(), scalar(other))),
    }
}

/// The task's result for a response: `{StatusCode, StatusText, Headers,
/// ResponseBody}` (the body parsed when it is JSON, else text) for 2xx;
/// `States.Http.StatusCode.NNN` otherwise, with that result as the cause.
pub fn outcome(
    status: u16,
    reason: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Value, Failure> {
    let text = String::from_utf8_lossy(body);
    let json_type = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("content-type") && v.to_ascii_lowercase().contains("json")
    });
    let response_body = match serde_json::from_str::<Value>(&text) {
        Ok(parsed) if json_type => parsed,
        _ => Value::String(text.into_owned()),
    };
    let header_map: Map<String, Value> = headers
        .iter()
        .map(|(n, v)| (n.clone(), Value::String(v.clone())))
        .collect();
    let result = serde_json::json!({
        "StatusCode": status,
        "StatusText": reason,
        "Headers": header_map,
        "ResponseBody": response_body,
    });
    if (200..300).contains(&status) {
        Ok(result)
    } else {
        Err(Failure::new(
            &format!("States.Http.StatusCode.{status}"),
            result.to_string(),
        ))
    }
}

/// `States.Http.Socket` or `States.Http.StatusCode.NNN` (three digits).
pub fn is_error_name(name: &str) -> bool {
    name == "States.Http.Socket"
        || name
            .strip_prefix("States.Http.StatusCode.")
            .is_some_and(|code| code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()))
}

/// No response: refused, reset, a destination not allowed, past the
/// 60-second cap, or an attempt a new leader ended ("may have run").
pub fn socket(cause: impl Into<String>) -> Failure {
    Failure::new("States.Http.Socket", cause)
}

#[cfg(test)]
#[path = "http_task_tests.rs"]
mod tests;
