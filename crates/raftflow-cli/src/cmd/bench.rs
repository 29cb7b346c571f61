//! `raftflow bench`: measures a running cluster and prints a table and a JSON
//! record. Targets are checked here, never by timed assertions in tests.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use raftflow_client::{Client, Worker};
use serde_json::json;

#[derive(clap::Subcommand)]
pub enum Command {
    /// SIGKILL the leader again and again under load: time to a new leader
    /// and to the first task handed out. Starts its own nodes.
    Failover(super::bench_failover::Args),
    /// Fill a cluster it starts with N finished executions, then measure
    /// reads, memory, disk, a follower restart and a snapshot catch-up.
    Scale(super::bench_scale::Args),
    /// Schedules firing every second on a cluster it starts: fire lag and
    /// the leader's CPU; then many daily schedules stored: memory and the
    /// time to serve after every node restarts.
    Schedules(super::bench_schedules::Args),
    /// One token floods at ten times its rate limit: another token's read
    /// latency alone and under the flood.
    Flood(super::bench_flood::Args),
    /// Executions of a chain of Pass states with a large input: executions/s,
    /// MB/s, elections seen and bytes on disk per execution.
    Payload(super::bench_payload::Args),
    /// HTTP Tasks against an endpoint in this process: tasks/s, start→end
    /// and the round-trip overhead (the cluster must allow the loopback).
    Http(super::bench_http::Args),
    /// Subscription events to a receiver in this process: start
    /// acknowledged → its event received, p50/p99 (the cluster must allow
    /// the loopback).
    Events(super::bench_events::Args),
    /// The replicated log alone: probe writes from N concurrent writers.
    Log {
        #[arg(long, default_value_t = 64)]
        writers: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Workflows at saturation: executions of a one-task or three-task
    /// workflow, answered at once by in-process workers.
    Workflow {
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=3))]
        tasks: u8,
        #[arg(long, default_value_t = 1000)]
        executions: usize,
        /// Starts in flight at once.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Start executions at this fixed rate per second instead (no limit
        /// on how many are in flight), so that queueing cannot hide latency.
        #[arg(long, default_value_t = 0)]
        rate: u32,
        /// Instead of a chain of tasks: Pass, Choice, Task, and a Parallel
        /// of two Tasks (the benchmark issue's five-state workflow).
        #[arg(long, conflicts_with = "tasks")]
        five_state: bool,
    },
}

const FIVE_STATE: &str = r#"{"StartAt": "Prepare", "States": {
  "Prepare": {"Type": "Pass", "Result": {"express": false}, "ResultPath": "$.prep", "Next": "Route"},
  "Route": {"Type": "Choice", "Choices": [{"Variable": "$.prep.express", "BooleanEquals": true, "Next": "Both"}], "Default": "Charge"},
  "Charge": {"Type": "Task", "Resource": "activity:bench-1", "ResultPath": "$.charge", "Next": "Both"},
  "Both": {"Type": "Parallel", "End": true, "Branches": [
    {"StartAt": "Pack", "States": {"Pack": {"Type": "Task", "Resource": "activity:bench-2", "End": true}}},
    {"StartAt": "Notify", "States": {"Notify": {"Type": "Task", "Resource": "activity:bench-3", "End": true}}}]}}}"#;

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

pub async fn run(
    command: Command,
    client: Client,
    conn: &super::conn::Conn,
) -> anyhow::Result<ExitCode> {
    let client = Arc::new(client);
    match command {
        Command::Failover(args) => return super::bench_failover::run(args, conn).await,
        Command::Scale(args) => return super::bench_scale::run(args, conn).await,
        Command::Schedules(args) => return super::bench_schedules::run(args, conn).await,
        Command::Flood(args) => return super::bench_flood::run(args, &client, conn).await,
        Command::Payload(args) => return super::bench_payload::run(args, &client).await,
        Command::Http(args) => return super::bench_http::run(args, client).await,
        Command::Events(args) => return super::bench_events::run(args, client).await,
        Command::Log { writers, seconds } => {
            let deadline = Instant::now() + Duration::from_secs(seconds);
            let started = Instant::now();
            let tasks: Vec<_> = (0..writers)
                .map(|w| {
                    let client = client.clone();
                    tokio::spawn(async move {
                        let mut latencies = Vec::new();
                        let mut i = 0u64;
                        while Instant::now() < deadline {
                            let t = Instant::now();
                            if client
                                .probe(&format!("bench-{w}"), &i.to_be_bytes())
                                .await
                                .is_ok()
                            {
                                latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                            }
                            i += 1;
                        }
                        latencies
                    })
                })
                .collect();
            let mut all = Vec::new();
            for t in tasks {
                all.extend(t.await?);
            }
            let elapsed = started.elapsed().as_secs_f64();
            all.sort_by(|a, b| a.partial_cmp(b).expect("latencies are finite"));
            let record = json!({"bench": "log", "writers": writers, "commands": all.len(), "seconds": elapsed,
                "commands_per_s": all.len() as f64 / elapsed, "p50_ms": percentile(&all, 50.0), "p99_ms": percentile(&all, 99.0)});
            println!(
                "writers  commands/s  p50 ms  p99 ms\n{writers:>7}  {:>10.0}  {:>6.2}  {:>6.2}",
                record["commands_per_s"].as_f64().unwrap_or(0.0),
                record["p50_ms"].as_f64().unwrap_or(0.0),
                record["p99_ms"].as_f64().unwrap_or(0.0)
            );
            println!("{record}");
        }
        Command::Workflow {
            tasks,
            executions,
            concurrency,
            rate,
            five_state,
        } => {
            let tasks = if five_state { 3 } else { tasks };
            let states: Vec<String> = (1..=tasks)
                .map(|i| {
                    let next = if i == tasks {
                        r#""End": true"#.to_string()
                    } else {
                        format!(r#""Next": "T{}""#, i + 1)
                    };
                    format!(
                        r#""T{i}": {{"Type": "Task", "Resource": "activity:bench-{i}", {next}}}"#
                    )
                })
                .collect();
            let (def, name) = if five_state {
                (FIVE_STATE.to_string(), "bench-five-state".to_string())
            } else {
                (
                    format!(r#"{{"StartAt": "T1", "States": {{{}}}}}"#, states.join(",")),
                    format!("bench-{tasks}"),
                )
            };
            client
                .create_state_machine(&name, &def, "raftflow bench")
                .await?;
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let mut worker = Worker::new(client.clone(), "bench")
                .concurrency(64)
                .poll_timeout(Duration::from_secs(1));
            // Start sent → its first task in a worker's hands: the start's
            // commit, then the dispatch path (queue, long poll, TaskDispatched
            // commit). Minus the start acknowledgement, that is dispatch.
            let acked: Arc<std::sync::Mutex<std::collections::HashMap<String, Instant>>> =
                Arc::default();
            let dispatch: Arc<std::sync::Mutex<Vec<f64>>> = Arc::default();
            // Every task: ready on the leader (its apply, the leader's clock;
            // same host) → in this worker's hands.
            let ready_to_held: Arc<std::sync::Mutex<Vec<f64>>> = Arc::default();
            for i in 1..=tasks {
                let (acked, dispatch) = (acked.clone(), dispatch.clone());
                let ready_to_held = ready_to_held.clone();
                worker = worker.handle(format!("bench-{i}"), move |task| {
                    let held_us = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_micros() as u64);
                    ready_to_held
                        .lock()
                        .expect("ready_to_held")
                        .push(held_us.saturating_sub(task.ready_at_us) as f64 / 1000.0);
                    if i == 1 {
                        if let Some(at) = acked.lock().expect("acked").remove(&task.execution_id) {
                            dispatch
                                .lock()
                                .expect("dispatch")
                                .push(at.elapsed().as_secs_f64() * 1000.0);
                        }
                    }
                    async { Ok("{}".to_string()) }
                });
            }
            let worker = tokio::spawn(worker.run(async {
                stopped.await.ok();
            }));
            let run = raftflow_server::clock::now_ms();
            let started = Instant::now();
            let slots = Arc::new(tokio::sync::Semaphore::new(if rate > 0 {
                executions.max(1)
            } else {
                concurrency
            }));
            let mut pace =
                tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
            let mut handles = Vec::new();
            for i in 0..executions {
                if rate > 0 {
                    pace.tick().await;
                }
                let permit = slots.clone().acquire_owned().await?;
                let (client, name, acked) = (client.clone(), name.clone(), acked.clone());
                handles.push(tokio::spawn(async move {
                    let t = Instant::now();
                    let execution = format!("b{run}-{i}");
                    acked
                        .lock()
                        .expect("acked")
                        .insert(format!("{name}:{execution}"), t);
                    let id = client
                        .start_execution(&name, Some(&execution), "{}")
                        .await?
                        .execution_id;
                    let ack_ms = t.elapsed().as_secs_f64() * 1000.0;
                    let info = client.wait_for_end(&id).await?;
                    drop(permit);
                    anyhow::Ok((
                        info.status == "SUCCEEDED",
                        t.elapsed().as_secs_f64() * 1000.0,
                        ack_ms,
                    ))
                }));
            }
            let (mut latencies, mut acks) = (Vec::new(), Vec::new());
            let mut failed = 0;
            for h in handles {
                match h.await? {
                    Ok((true, ms, ack_ms)) => {
                        latencies.push(ms);
                        acks.push(ack_ms);
                    }
                    _ => failed += 1,
                }
            }
            let sorted = |mut v: Vec<f64>| {
                v.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
                v
            };
            let acks = sorted(acks);
            let dispatch = sorted(dispatch.lock().expect("dispatch").clone());
            let ready_to_held = sorted(ready_to_held.lock().expect("ready_to_held").clone());
            let elapsed = started.elapsed().as_secs_f64();
            let _ = stop.send(());
            let _ = worker.await;
            latencies.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
            // Each history event is one state transition recorded through
            // the replicated log; every execution of the run has as many.
            let per_execution = client
                .history(&format!("{name}:b{run}-0"), false)
                .await?
                .len();
            let transitions = executions as f64 * per_execution as f64;
            let record = json!({"bench": "workflow", "tasks": tasks, "executions": executions, "failed": failed, "seconds": elapsed,
                "workflow": name, "events_per_execution": per_execution, "executions_per_s": executions as f64 / elapsed, "transitions_per_s": transitions / elapsed,
                "rate_per_s": rate, "p50_ms": percentile(&latencies, 50.0), "p99_ms": percentile(&latencies, 99.0), "max_ms": latencies.last(),
                "start_ack_ms": {"p50": percentile(&acks, 50.0), "p99": percentile(&acks, 99.0)},
                "start_to_first_task_ms": {"p50": percentile(&dispatch, 50.0), "p99": percentile(&dispatch, 99.0)},
                "dispatch_ms": {"p50": percentile(&ready_to_held, 50.0), "p99": percentile(&ready_to_held, 99.0), "tasks": ready_to_held.len()}});
            println!("tasks  executions/s  transitions/s  start→end p50 ms  p99 ms  dispatch p50 ms  failed");
            println!(
                "{tasks:>5}  {:>12.1}  {:>13.0}  {:>16.1}  {:>6.1}  {:>15.2}  {failed}",
                record["executions_per_s"].as_f64().unwrap_or(0.0),
                record["transitions_per_s"].as_f64().unwrap_or(0.0),
                record["p50_ms"].as_f64().unwrap_or(0.0),
                record["p99_ms"].as_f64().unwrap_or(0.0),
                record["dispatch_ms"]["p50"].as_f64().unwrap_or(0.0)
            );
            println!("{record}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
