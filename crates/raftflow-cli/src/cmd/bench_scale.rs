//! `raftflow bench scale`: fill a cluster with N finished executions, then
//! measure reads, memory, disk, a restart and a snapshot catch-up.
//!
//! ```text
//!  start 3 nodes ─> N one-state executions (C in flight) ─> Describe / List latency
//!     ─> RSS and disk per node ─> SIGKILL + restart a follower (time to caught up)
//!     ─> a 4th node joins as a learner (time to catch up through a snapshot)
//!     ─> a backup saved under probe writes ─> all nodes restored from it (bench_backup.rs)
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::bench::percentile;
use super::bench_own::rss_bytes;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 1_000_000)]
    executions: usize,
    /// Starts in flight at once.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Folder with node1.toml … node3.toml; the nodes must not be running.
    #[arg(long, default_value = "cluster-config")]
    config_dir: PathBuf,
    /// Delete the nodes' data directories first (they must be empty otherwise).
    #[arg(long)]
    fresh: bool,
}

const ONE_STATE: &str = r#"{"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": true}}}"#;

pub(super) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn timed<T, F: std::future::Future<Output = T>>(samples: &mut Vec<f64>, f: F) -> T {
    let t = Instant::now();
    let out = f.await;
    samples.push(ms(t.elapsed()));
    out
}

pub(super) fn stats(mut v: Vec<f64>) -> serde_json::Value {
    v.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    json!({"p50": percentile(&v, 50.0), "p99": percentile(&v, 99.0), "max": v.last()})
}

/// Waits until node `api` reports an applied index of at least `index`.
async fn caught_up(
    conn: &super::conn::Conn,
    api: &str,
    index: u64,
    limit: Duration,
) -> Option<Duration> {
    let started = Instant::now();
    let client = conn.at(vec![api.to_string()]).client().ok()?;
    while started.elapsed() < limit {
        if let Some((_, Ok(s))) = client.status_all(false).await.into_iter().next() {
            if s.applied_index >= index {
                return Some(started.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

pub async fn run(args: Args, conn: &super::conn::Conn) -> anyhow::Result<ExitCode> {
    let own = match super::bench_own::start(&args.config_dir, args.fresh, conn).await? {
        Ok(own) => own,
        Err(code) => return Ok(code),
    };
    let (local, client, mut children, leader) = (own.local, own.client, own.children, own.leader);
    let conn = &local.conn;
    let configs = local.configs.clone();
    client
        .create_state_machine("scale", ONE_STATE, "raftflow bench scale")
        .await?;

    // 1. Fill.
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let run = raftflow_server::clock::now_ms();
    let loaders: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (client, next, total) = (client.clone(), next.clone(), args.executions);
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        return;
                    }
                    if i % (total / 10).max(1) == 0 {
                        eprintln!("  started {i} executions");
                    }
                    while client
                        .start_execution("scale", Some(&format!("s{run}-{i}")), "{}")
                        .await
                        .is_err()
                    {}
                }
            })
        })
        .collect();
    for l in loaders {
        l.await?;
    }
    let fill_s = started.elapsed().as_secs_f64();
    println!(
        "filled {} executions in {fill_s:.0} s ({:.0}/s)",
        args.executions,
        args.executions as f64 / fill_s
    );

    // 2. Reads.
    let mut describe = Vec::new();
    for k in 0..2_000usize {
        let i = (k * 7_919 + 13) % args.executions;
        timed(
            &mut describe,
            client.describe_execution(&format!("scale:s{run}-{i}")),
        )
        .await?;
    }
    let (mut list_first, mut list_status) = (Vec::new(), Vec::new());
    for _ in 0..200 {
        timed(
            &mut list_first,
            client.list_executions("scale", "", 100, ""),
        )
        .await?;
        timed(
            &mut list_status,
            client.list_executions("scale", "SUCCEEDED", 100, ""),
        )
        .await?;
    }

    // 3. Memory and disk.
    let rss: BTreeMap<u64, u64> = children
        .iter()
        .map(|(id, c)| (*id, c.id().map_or(0, rss_bytes)))
        .collect();
    let disk: BTreeMap<u64, u64> = configs
        .iter()
        .map(|(id, (_, c))| (*id, raftflow_store::dir_bytes(&c.data_dir)))
        .collect();
    let disk_per_execution = disk.values().sum::<u64>() as f64 / 3.0 / args.executions as f64;

    // 4. Restart a follower: SIGKILL, start, time until it serves and has caught up.
    let follower = (leader % 3) + 1;
    let target = client.probe("bench-scale", b"restart").await?.log_index;
    children.get_mut(&follower).expect("started").kill().await?;
    let restart_at = Instant::now();
    children.insert(
        follower,
        super::dev::spawn_node_quiet(&configs[&follower].0, follower, conn.insecure)?,
    );
    let restart = caught_up(
        conn,
        &configs[&follower].1.api_addr,
        target,
        Duration::from_secs(600),
    )
    .await
    .map(ms);
    let restart_total = restart.map(|_| ms(restart_at.elapsed()));

    // 5. A fourth node catches up through a snapshot.
    let dir = args.config_dir.join("../data/bench-scale");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let port = |l: std::net::TcpListener| l.local_addr().map(|a| a.port());
    let (raft_port, api_port) = (
        port(std::net::TcpListener::bind("127.0.0.1:0")?)?,
        port(std::net::TcpListener::bind("127.0.0.1:0")?)?,
    );
    let (raft_addr, api_addr) = (
        format!("127.0.0.1:{raft_port}"),
        format!("127.0.0.1:{api_port}"),
    );
    let t = &configs[&1].1.raft;
    let security = local.extra_node_security(4).map_err(anyhow::Error::msg)?;
    let (insecure_line, tls_table) = if security.starts_with("insecure") {
        (security.as_str(), "")
    } else {
        ("", security.as_str())
    };
    std::fs::write(dir.join("node4.toml"), format!(
        "id = 4\n{insecure_line}raft_addr = \"{raft_addr}\"\napi_addr = \"{api_addr}\"\ndata_dir = \"node4\"\n\n[raft]\nheartbeat_interval_ms = {}\nelection_timeout_min_ms = {}\nelection_timeout_max_ms = {}\nleader_lease_ms = {}\nsnapshot_after_entries = {}\nkeep_entries_after_snapshot = {}\n\n{tls_table}",
        t.heartbeat_interval_ms, t.election_timeout_min_ms, t.election_timeout_max_ms, t.leader_lease_ms, t.snapshot_after_entries, t.keep_entries_after_snapshot))?;
    children.insert(
        4,
        super::dev::spawn_node_quiet(&dir.join("node4.toml"), 4, conn.insecure)?,
    );
    let target = client.probe("bench-scale", b"learner").await?.log_index;
    let joined = Instant::now();
    // Not idempotent, so not retried by the client: retry here while the
    // leader is busy (a learner added twice is the same learner).
    let mut tries = 0;
    while let Err(e) = client.add_learner(4, &raft_addr, &api_addr).await {
        tries += 1;
        anyhow::ensure!(tries < 10, "adding the learner failed 10 times: {e}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    if let Some(Ok(Some(status))) = children.get_mut(&4).map(|c| c.try_wait()) {
        anyhow::bail!(
            "node 4 exited ({status}); its log is beside {}",
            dir.display()
        );
    }
    let learner = caught_up(conn, &api_addr, target, Duration::from_secs(900))
        .await
        .map(|_| ms(joined.elapsed()));
    let learner_rss = children.get(&4).and_then(|c| c.id()).map_or(0, rss_bytes);
    let rss_after: BTreeMap<u64, u64> = children
        .iter()
        .map(|(id, c)| (*id, c.id().map_or(0, rss_bytes)))
        .collect();
    // 6. A backup under load, then all three nodes restored from it.
    let file = args.config_dir.join("../data/bench-scale/cluster.backup");
    let saved = super::bench_backup::save(&client, &file).await?;
    for child in children.values_mut() {
        let _ = child.kill().await;
    }
    let _ = std::fs::remove_dir_all(dir.join("node4"));
    let (restored, mut restored_nodes) =
        super::bench_backup::restore(&client, &file, &configs, conn.insecure).await?;
    for child in restored_nodes.iter_mut() {
        let _ = child.kill().await;
    }

    let mib = |b: &u64| (*b as f64 / (1 << 20) as f64).round();
    let record = json!({"bench": "scale", "executions": args.executions, "fill_per_s": (args.executions as f64 / fill_s).round(),
        "describe_ms": stats(describe), "list_first_page_ms": stats(list_first), "list_by_status_ms": stats(list_status),
        "rss_mib": rss.values().map(mib).collect::<Vec<_>>(), "rss_mib_after_learner": rss_after.values().map(mib).collect::<Vec<_>>(),
        "learner_rss_mib": mib(&learner_rss), "disk_mib": disk.values().map(mib).collect::<Vec<_>>(),
        "disk_bytes_per_execution": disk_per_execution.round(), "restart_follower_caught_up_ms": restart_total,
        "learner_caught_up_ms": learner, "backup": saved, "restore": restored});
    println!("{}", serde_json::to_string_pretty(&record)?);
    Ok(ExitCode::SUCCESS)
}
