//! `raftflow bench schedules`: schedules at scale on a cluster it starts.
//!
//! ```text
//!  N schedules firing every second (a one-Pass target) for S seconds
//!     ─> fire lag p50/p99 (scheduled time → the apply that started it, from
//!        each schedule's recent actions) and the leader's CPU
//!  delete them ─> M daily schedules stored ─> RSS per node
//!     ─> every node SIGKILLed and started again: time to the first write
//!        and to a schedule read
//! ```

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use raftflow_client::proto::{OverlapPolicy, ScheduleDefinition};
use raftflow_client::Client;
use serde_json::json;

use super::bench_own::{cpu_s, rss_bytes};
use super::bench_scale::{ms, stats};

#[derive(clap::Args)]
pub struct Args {
    /// Schedules firing every second.
    #[arg(long, default_value_t = 1000)]
    firing: usize,
    #[arg(long, default_value_t = 120)]
    seconds: u64,
    /// Daily schedules stored for the memory and restart figures.
    #[arg(long, default_value_t = 100_000)]
    stored: usize,
    /// Creates in flight at once.
    #[arg(long, default_value_t = 128)]
    concurrency: usize,
    /// Folder with node1.toml … node3.toml; the nodes must not be running.
    #[arg(long, default_value = "cluster-config")]
    config_dir: PathBuf,
    /// Delete the nodes' data directories first (they must be empty otherwise).
    #[arg(long)]
    fresh: bool,
}

const PASS: &str = r#"{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}"#;

fn schedule(name: String, spec: &str) -> ScheduleDefinition {
    ScheduleDefinition {
        name,
        state_machine: "tick".into(),
        spec: spec.into(),
        overlap: OverlapPolicy::AllowAll as i32,
        catchup_window_s: 60,
        ..Default::default()
    }
}

/// Creates `count` schedules named `prefix-i` with `spec`, `concurrency` at once.
async fn create_all(
    client: &Arc<Client>,
    prefix: &str,
    spec: &str,
    count: usize,
    concurrency: usize,
) {
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, next, prefix, spec) = (
                client.clone(),
                next.clone(),
                prefix.to_string(),
                spec.to_string(),
            );
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        return;
                    }
                    while client
                        .create_schedule(schedule(format!("{prefix}-{i}"), &spec))
                        .await
                        .is_err()
                    {}
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
}

/// Every schedule's recent actions: (schedule, scheduled time) → lag in ms.
async fn gather_lags(
    client: &Client,
    lags: &mut HashMap<(String, u64), u64>,
) -> anyhow::Result<()> {
    let mut after = String::new();
    loop {
        let page = client.list_schedules(&after, 1000).await?;
        for info in &page.schedules {
            let name = info
                .schedule
                .as_ref()
                .map(|d| d.name.clone())
                .unwrap_or_default();
            for a in info.recent.iter().filter(|a| !a.trigger) {
                lags.insert(
                    (name.clone(), a.scheduled_ms),
                    a.at_ms.saturating_sub(a.scheduled_ms),
                );
            }
        }
        if page.next_after.is_empty() {
            return Ok(());
        }
        after = page.next_after;
    }
}

pub async fn run(args: Args, conn: &super::conn::Conn) -> anyhow::Result<ExitCode> {
    let mut own = match super::bench_own::start(&args.config_dir, args.fresh, conn).await? {
        Ok(own) => own,
        Err(code) => return Ok(code),
    };
    let client = own.client.clone();
    client
        .create_state_machine("tick", PASS, "raftflow bench schedules")
        .await?;

    // 1. Firing every second.
    create_all(
        &client,
        "firing",
        "* * * * * *",
        args.firing,
        args.concurrency,
    )
    .await;
    let leader_pid = own
        .children
        .get(&own.leader)
        .and_then(|c| c.id())
        .unwrap_or(0);
    let (cpu_before, started) = (cpu_s(leader_pid), Instant::now());
    let mut lags = HashMap::new();
    while started.elapsed() < Duration::from_secs(args.seconds) {
        tokio::time::sleep(Duration::from_secs(5)).await;
        gather_lags(&client, &mut lags).await?;
    }
    let leader_cpu = (cpu_s(leader_pid) - cpu_before) / started.elapsed().as_secs_f64();
    let lag_ms: Vec<f64> = lags.values().map(|l| *l as f64).collect();
    let fires = lag_ms.len();
    for i in 0..args.firing {
        while client
            .delete_schedule(&format!("firing-{i}"))
            .await
            .is_err()
        {}
    }

    // 2. Stored: daily schedules, memory, and a restart of every node.
    let created = Instant::now();
    create_all(
        &client,
        "daily",
        "cron(0 3 * * ? *)",
        args.stored,
        args.concurrency,
    )
    .await;
    let create_per_s = args.stored as f64 / created.elapsed().as_secs_f64();
    let mib = |b: u64| (b as f64 / (1 << 20) as f64).round();
    let rss: Vec<f64> = own
        .children
        .values()
        .map(|c| mib(c.id().map_or(0, rss_bytes)))
        .collect();
    for child in own.children.values_mut() {
        child.kill().await?;
    }
    let restarted = Instant::now();
    let insecure = own.local.conn.insecure;
    for (id, (path, _)) in &own.local.configs {
        own.children
            .insert(*id, super::dev::spawn_node_quiet(path, *id, insecure)?);
    }
    while client.probe("bench-schedules", b"restart").await.is_err() {}
    let first_write = ms(restarted.elapsed());
    while client.describe_schedule("daily-0").await.is_err() {}
    let first_read = ms(restarted.elapsed());
    for child in own.children.values_mut() {
        let _ = child.kill().await;
    }

    let record = json!({"bench": "schedules", "firing": args.firing, "seconds": args.seconds,
        "fires_seen": fires, "fires_expected": args.firing as u64 * args.seconds,
        "fire_lag_ms": stats(lag_ms), "leader_cpu_cores": (leader_cpu * 100.0).round() / 100.0,
        "stored": args.stored, "create_per_s": create_per_s.round(), "rss_mib_with_stored": rss,
        "restart_all_first_write_ms": first_write.round(), "restart_all_first_schedule_read_ms": first_read.round()});
    println!("{}", serde_json::to_string_pretty(&record)?);
    Ok(ExitCode::SUCCESS)
}
