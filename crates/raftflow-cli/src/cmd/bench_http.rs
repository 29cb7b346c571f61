//! `raftflow bench http`: HTTP Tasks against an endpoint in this process,
//! on a running cluster whose `[outbound]` allows the loopback over plain
//! http (the local cluster's configs do).
//!
//! ```text
//!  start ──▶ (commit, hand-out to the leader's caller, committed) ──▶ request arrives here
//!        ──▶ answer ──▶ (TaskCompleted committed, execution ends) ──▶ watch sees the end
//! ```
//! Figures: HTTP tasks per second; start→end p50/p99; start acknowledged →
//! request arrived (the hand-out path); and the round-trip overhead, start→
//! end minus the endpoint's own delay.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use raftflow_client::Client;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::bench::percentile;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 2000)]
    executions: usize,
    /// Executions in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// How long the endpoint takes to answer.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
}

const DEFINITION: &str = r#"{"StartAt": "Call", "States": {"Call": {"Type": "Task",
  "Resource": "arn:aws:states:::http:invoke",
  "Parameters": {"ApiEndpoint.$": "$.url", "Method": "GET"},
  "ResultSelector": {"status.$": "$.StatusCode"}, "End": true}}}"#;

/// When each execution's request arrived (its name is the path).
type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

async fn endpoint(delay_ms: u64) -> anyhow::Result<(u16, Arrivals)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let arrivals = Arrivals::default();
    let seen = arrivals.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 2048];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&head);
                let path = text.split_whitespace().nth(1).unwrap_or("/");
                let name = path.trim_start_matches('/').to_string();
                seen.lock()
                    .expect("arrivals")
                    .entry(name)
                    .or_insert_with(Instant::now);
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                let reply = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}";
                let _ = socket.write_all(reply.as_bytes()).await;
            });
        }
    });
    Ok((port, arrivals))
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    v
}

pub async fn run(args: Args, client: Arc<Client>) -> anyhow::Result<ExitCode> {
    let (port, arrivals) = endpoint(args.delay_ms).await?;
    client
        .create_state_machine("bench-http", DEFINITION, "raftflow bench http")
        .await?;
    let run = raftflow_server::clock::now_ms();
    let slots = Arc::new(tokio::sync::Semaphore::new(args.concurrency.max(1)));
    let started = Instant::now();
    let mut handles = Vec::new();
    for i in 0..args.executions {
        let permit = slots.clone().acquire_owned().await?;
        let client = client.clone();
        handles.push(tokio::spawn(async move {
            let name = format!("h{run}-{i}");
            let input = json!({"url": format!("http://127.0.0.1:{port}/{name}")}).to_string();
            let t = Instant::now();
            let id = client
                .start_execution("bench-http", Some(&name), &input)
                .await?
                .execution_id;
            let acked = Instant::now();
            let info = client.wait_for_end(&id).await?;
            drop(permit);
            anyhow::Ok((name, info.status == "SUCCEEDED", acked, t.elapsed()))
        }));
    }
    let (mut ends, mut to_endpoint, mut failed) = (Vec::new(), Vec::new(), 0usize);
    for handle in handles {
        let (name, ok, acked, took) = handle.await??;
        if !ok {
            failed += 1;
            continue;
        }
        ends.push(took.as_secs_f64() * 1000.0);
        if let Some(at) = arrivals.lock().expect("arrivals").get(&name) {
            to_endpoint.push(at.saturating_duration_since(acked).as_secs_f64() * 1000.0);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    report(&args, elapsed, sorted(ends), sorted(to_endpoint), failed);
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn report(args: &Args, elapsed: f64, ends: Vec<f64>, to_endpoint: Vec<f64>, failed: usize) {
    let delay = args.delay_ms as f64;
    let record = json!({"bench": "http", "executions": args.executions, "concurrency": args.concurrency,
        "endpoint_delay_ms": args.delay_ms, "failed": failed, "seconds": elapsed,
        "http_tasks_per_s": ends.len() as f64 / elapsed,
        "start_to_end_ms": {"p50": percentile(&ends, 50.0), "p99": percentile(&ends, 99.0)},
        "overhead_ms": {"p50": percentile(&ends, 50.0) - delay, "p99": percentile(&ends, 99.0) - delay},
        "ack_to_request_ms": {"p50": percentile(&to_endpoint, 50.0), "p99": percentile(&to_endpoint, 99.0)}});
    println!("http tasks/s  start→end p50 ms  p99 ms  overhead p50 ms  p99 ms  ack→request p50 ms  p99 ms  failed");
    println!(
        "{:>12.1}  {:>16.1}  {:>6.1}  {:>15.1}  {:>6.1}  {:>18.1}  {:>6.1}  {failed}",
        record["http_tasks_per_s"].as_f64().unwrap_or(0.0),
        record["start_to_end_ms"]["p50"].as_f64().unwrap_or(0.0),
        record["start_to_end_ms"]["p99"].as_f64().unwrap_or(0.0),
        record["overhead_ms"]["p50"].as_f64().unwrap_or(0.0),
        record["overhead_ms"]["p99"].as_f64().unwrap_or(0.0),
        record["ack_to_request_ms"]["p50"].as_f64().unwrap_or(0.0),
        record["ack_to_request_ms"]["p99"].as_f64().unwrap_or(0.0),
    );
    println!("{record}");
}
