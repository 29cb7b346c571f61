//! `raftflow bench flood`: does one token flooding the cluster at ten times
//! its rate limit hold back another token? The victim's read latency alone,
//! then under the flood, on the same cluster in the same sitting.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use raftflow_client::proto::Role;
use raftflow_client::Client;
use serde_json::json;

use super::bench::percentile;

#[derive(clap::Args)]
pub struct Args {
    /// Seconds of each phase (alone, then under the flood).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// The flooding (reader) token's request rate: ten times the default
    /// reader limit (1,000/s); pass ten times the cluster's.
    #[arg(long, default_value_t = 10_000)]
    flood_rps: u32,
    /// Concurrent flooding tasks.
    #[arg(long, default_value_t = 32)]
    flooders: u32,
}

/// The victim's `ListStateMachines` latencies (ms, sorted) for `seconds`.
async fn victim(client: &Client, seconds: u64) -> anyhow::Result<Vec<f64>> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut latencies = Vec::new();
    while Instant::now() < deadline {
        let started = Instant::now();
        client.list_state_machines().await?;
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    Ok(latencies)
}

/// Floods at `rps` in all until `stop`; counts answered and refused calls.
fn flood(
    client: Arc<Client>,
    args: &Args,
    stop: Arc<AtomicU64>,
) -> Vec<tokio::task::JoinHandle<(u64, u64)>> {
    let per_task =
        Duration::from_secs_f64(f64::from(args.flooders) / f64::from(args.flood_rps.max(1)));
    (0..args.flooders)
        .map(|_| {
            let (client, stop) = (client.clone(), stop.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(per_task);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                let (mut ok, mut refused) = (0, 0);
                while stop.load(Ordering::Relaxed) == 0 {
                    tick.tick().await;
                    match client.list_state_machines().await {
                        Ok(_) => ok += 1,
                        Err(_) => refused += 1,
                    }
                }
                (ok, refused)
            })
        })
        .collect()
}

pub async fn run(
    args: Args,
    admin: &Client,
    conn: &super::conn::Conn,
) -> anyhow::Result<std::process::ExitCode> {
    let suffix = std::process::id();
    // The flooder is a reader (its limit); the victim an operator, whose
    // own limit its sequential calls stay under.
    let made = |name: String, role| async move { admin.create_token(&name, role, &[], 3600).await };
    let flooder = made(format!("bench-flood-{suffix}"), Role::Reader).await?;
    let victim_token = made(format!("bench-victim-{suffix}"), Role::Operator).await?;
    let victim_client = conn.client()?.with_token(&victim_token.secret)?;
    let flood_client = Arc::new(conn.client()?.with_token(&flooder.secret)?);

    let alone = victim(&victim_client, args.seconds).await?;
    let stop = Arc::new(AtomicU64::new(0));
    let tasks = flood(flood_client, &args, stop.clone());
    let flooded = victim(&victim_client, args.seconds).await?;
    stop.store(1, Ordering::Relaxed);
    let (mut ok, mut refused) = (0, 0);
    for task in tasks {
        let (o, r) = task.await?;
        ok += o;
        refused += r;
    }
    for token in [&flooder, &victim_token] {
        if let Some(info) = &token.token {
            admin.revoke_token(&info.accessor).await?;
        }
    }
    let (p99_alone, p99_flooded) = (percentile(&alone, 99.0), percentile(&flooded, 99.0));
    let record = json!({"bench": "flood", "flood_rps": args.flood_rps, "seconds": args.seconds,
        "victim_alone": {"calls": alone.len(), "p50_ms": percentile(&alone, 50.0), "p99_ms": p99_alone},
        "victim_flooded": {"calls": flooded.len(), "p50_ms": percentile(&flooded, 50.0), "p99_ms": p99_flooded},
        "flood": {"answered": ok, "refused": refused}, "p99_ratio": p99_flooded / p99_alone.max(1e-9)});
    println!("phase     calls   p50 ms  p99 ms\nalone   {:>7}  {:>6.2}  {:>6.2}\nflooded {:>7}  {:>6.2}  {:>6.2}",
        alone.len(), percentile(&alone, 50.0), p99_alone, flooded.len(), percentile(&flooded, 50.0), p99_flooded);
    println!(
        "flood: {ok} answered, {refused} refused; p99 ratio {:.2} (target ≤ 2)",
        p99_flooded / p99_alone.max(1e-9)
    );
    println!("{record}");
    Ok(std::process::ExitCode::SUCCESS)
}
