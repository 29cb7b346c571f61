//! HTTP Tasks run through every fault: an endpoint in the harness answers
//! each call; every acknowledged execution must end SUCCEEDED, its endpoint
//! must have been called, and every call of one execution must carry the
//! same Idempotency-Key (one state entry), whatever leader changed while a
//! call was in flight ("may have run": ended at once and retried).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use raftflow_client::Client;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub const STATE_MACHINE: &str = "chaos-http";
/// How long the endpoint takes to answer.
const CALL_MS: u64 = 700;

/// The Idempotency-Key of every call the endpoint answered, in order.
#[derive(Clone, Default)]
pub struct Calls(pub Arc<Mutex<Vec<String>>>);

/// Starts the endpoint on every interface (the nodes may sit in network
/// namespaces behind a bridge); returns its port. HTTP Task calls (`/call`)
/// go to `calls`, subscription events (`/events`, rule 9) to `events`.
pub async fn serve(calls: Calls, events: Calls) -> anyhow::Result<u16> {
    let listener = TcpListener::bind("0.0.0.0:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (calls, events) = (calls.clone(), events.clone());
            tokio::spawn(async move {
                let Some((path, key)) = read_request(&mut socket).await else {
                    return;
                };
                if path.starts_with("/events") {
                    events.0.lock().expect("events").push(key);
                    let reply = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
                    let _ = socket.write_all(reply.as_bytes()).await;
                    return;
                }
                calls.0.lock().expect("calls").push(key);
                // Slow enough that faults find calls in flight.
                tokio::time::sleep(Duration::from_millis(CALL_MS)).await;
                let reply = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}";
                let _ = socket.write_all(reply.as_bytes()).await;
            });
        }
    });
    Ok(port)
}

/// Reads a request's head and body: its path and Idempotency-Key.
async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<(String, String)> {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&bytes[..end]).to_string();
    let header = |wanted: &str| {
        head.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case(wanted)
                .then(|| value.trim().to_string())
        })
    };
    let length: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while bytes.len() < end + 4 + length {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
        }
    }
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    Some((path, header("idempotency-key").unwrap_or_default()))
}

/// Registers the state machine: one call, retried on "may have run".
pub async fn create(client: &Client, host: &str, port: u16) -> anyhow::Result<()> {
    let definition = format!(
        r#"{{"StartAt": "Call", "States": {{"Call": {{"Type": "Task",
  "Resource": "arn:aws:states:::http:invoke",
  "Parameters": {{"ApiEndpoint": "http://{host}:{port}/call", "Method": "POST", "RequestBody": {{"n.$": "$.n"}}}},
  "TimeoutSeconds": 30,
  "Retry": [{{"ErrorEquals": ["States.Http.Socket", "States.Timeout"], "IntervalSeconds": 1, "MaxAttempts": 20, "BackoffRate": 1}}],
  "End": true}}}}}}"#
    );
    client
        .create_state_machine(STATE_MACHINE, &definition, "chaos HTTP Tasks")
        .await?;
    Ok(())
}

/// Starts one execution a second until stopped; the acknowledged names.
pub async fn load(client: Arc<Client>, run_id: String, stop: watch::Receiver<bool>) -> Vec<String> {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut acknowledged = Vec::new();
    let mut n = 0u64;
    while !*stop.borrow() {
        tick.tick().await;
        let name = format!("{run_id}-http-{n}");
        let input = format!(r#"{{"n": {n}}}"#);
        n += 1;
        if client
            .start_execution(STATE_MACHINE, Some(&name), &input)
            .await
            .is_ok()
        {
            acknowledged.push(name);
        }
    }
    acknowledged
}

/// Waits for the acknowledged executions to end, then checks them.
pub async fn check(
    client: &Client,
    acknowledged: &[String],
    calls: &Calls,
) -> Result<String, Vec<String>> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let mut ended = BTreeMap::new();
    while tokio::time::Instant::now() < deadline {
        let all = crate::trigger::all(client, STATE_MACHINE)
            .await
            .map_err(|e| vec![format!("http: {e}")])?;
        ended = all.into_iter().map(|e| (e.name.clone(), e)).collect();
        if acknowledged
            .iter()
            .all(|n| ended.get(n).is_some_and(|e| e.status != "RUNNING"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let calls = calls.0.lock().expect("calls").clone();
    let mut keys: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for key in &calls {
        let execution = key.split('/').next().unwrap_or_default();
        keys.entry(execution).or_default().insert(key.as_str());
    }
    let mut violations = Vec::new();
    for name in acknowledged {
        let id = format!("{STATE_MACHINE}:{name}");
        match ended.get(name) {
            Some(e) if e.status == "SUCCEEDED" => {}
            Some(e) => violations.push(format!(
                "http: {id} ended {} {} {}",
                e.status, e.error, e.cause
            )),
            None => violations.push(format!("http: {id} was acknowledged but is not listed")),
        }
        match keys.get(id.as_str()).map(BTreeSet::len) {
            Some(1) => {}
            Some(n) => violations.push(format!(
                "http: {id} was called under {n} Idempotency-Keys, not one"
            )),
            None => violations.push(format!("http: {id} never reached the endpoint")),
        }
    }
    if !violations.is_empty() {
        return Err(violations);
    }
    let repeated = calls.len() - acknowledged.len().min(calls.len());
    Ok(format!(
        "http: {} executions succeeded, each called under one key ({} calls in all, {repeated} repeated after a fault)",
        acknowledged.len(),
        calls.len()
    ))
}
