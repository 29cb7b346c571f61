//! `raftflow bench events`: subscription delivery lag against a receiver in
//! this process, on a running cluster whose `[outbound]` allows the
//! loopback over plain http (the local cluster's configs do).
//!
//! ```text
//!  start (a Pass: starts and succeeds in one apply) ──ack──▶ … ──▶ the SUCCEEDED event arrives here
//! ```
//! Figure: start acknowledged → its `succeeded` event received (p50/p99),
//! i.e. the outbox write's commit, the leader's round, the POST; and the
//! events received per second.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use raftflow_client::proto::{ExecutionChange, SaveSubscriptionRequest};
use raftflow_client::Client;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::bench::percentile;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 2000)]
    executions: usize,
    /// Starts in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
}

const DEFINITION: &str = r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#;

/// When each event arrived, by its Idempotency-Key (`<execution>/<STATUS>`).
type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

/// Reads one request's head and body; its Idempotency-Key.
async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<String> {
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
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    let length: usize = header("content-length")?.parse().ok()?;
    while bytes.len() < end + 4 + length {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
        }
    }
    header("idempotency-key")
}

async fn receiver() -> anyhow::Result<(u16, Arrivals)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let arrivals = Arrivals::default();
    let seen = arrivals.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let Some(key) = read_request(&mut socket).await else {
                    return;
                };
                let at = Instant::now();
                seen.lock().expect("arrivals").entry(key).or_insert(at);
                let reply = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                let _ = socket.write_all(reply.as_bytes()).await;
            });
        }
    });
    Ok((port, arrivals))
}

pub async fn run(args: Args, client: Arc<Client>) -> anyhow::Result<ExitCode> {
    let (port, arrivals) = receiver().await?;
    let machine = "bench-events";
    client
        .create_state_machine(machine, DEFINITION, "raftflow bench events")
        .await?;
    let run = raftflow_server::clock::now_ms();
    let subscription = format!("bench-events-{run}");
    let request = SaveSubscriptionRequest {
        name: subscription.clone(),
        state_machine: machine.into(),
        on: vec![ExecutionChange::Succeeded as i32],
        url: format!("http://127.0.0.1:{port}/events"),
        signing_secret: format!("bench-secret-{run}"),
        ..Default::default()
    };
    client.save_subscription(request, true).await?;
    let slots = Arc::new(tokio::sync::Semaphore::new(args.concurrency.max(1)));
    let started = Instant::now();
    let mut handles = Vec::new();
    for i in 0..args.executions {
        let permit = slots.clone().acquire_owned().await?;
        let client = client.clone();
        handles.push(tokio::spawn(async move {
            let name = format!("e{run}-{i}");
            let id = client
                .start_execution(machine, Some(&name), "{}")
                .await?
                .execution_id;
            drop(permit);
            anyhow::Ok((format!("{id}/SUCCEEDED"), Instant::now()))
        }));
    }
    let mut acks = Vec::new();
    for handle in handles {
        acks.push(handle.await??);
    }
    let lags = wait_for_all(&arrivals, &acks).await;
    let elapsed = started.elapsed().as_secs_f64();
    client.delete_subscription(&subscription).await?;
    report(&args, elapsed, lags.clone());
    Ok(if lags.len() == acks.len() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Each event's lag (ms), once all came or none came for 30 s.
async fn wait_for_all(arrivals: &Arrivals, acks: &[(String, Instant)]) -> Vec<f64> {
    let mut last_count = 0;
    let mut last_change = Instant::now();
    loop {
        let count = arrivals.lock().expect("arrivals").len();
        if count >= acks.len() || last_change.elapsed().as_secs() >= 30 {
            break;
        }
        if count != last_count {
            (last_count, last_change) = (count, Instant::now());
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let seen = arrivals.lock().expect("arrivals");
    let mut lags: Vec<f64> = acks
        .iter()
        .filter_map(|(key, acked)| {
            let at = seen.get(key)?;
            Some(at.saturating_duration_since(*acked).as_secs_f64() * 1000.0)
        })
        .collect();
    lags.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    lags
}

fn report(args: &Args, elapsed: f64, lags: Vec<f64>) {
    let missing = args.executions.saturating_sub(lags.len());
    let record = json!({"bench": "events", "executions": args.executions,
        "concurrency": args.concurrency, "seconds": elapsed, "missing": missing,
        "events_per_s": lags.len() as f64 / elapsed,
        "ack_to_event_ms": {"p50": percentile(&lags, 50.0), "p99": percentile(&lags, 99.0)}});
    println!("events/s  ack→event p50 ms  p99 ms  missing");
    println!(
        "{:>8.1}  {:>16.1}  {:>6.1}  {missing}",
        record["events_per_s"].as_f64().unwrap_or(0.0),
        record["ack_to_event_ms"]["p50"].as_f64().unwrap_or(0.0),
        record["ack_to_event_ms"]["p99"].as_f64().unwrap_or(0.0),
    );
    println!("{record}");
}
