//! `bench scale`'s backup phase (issue #22's figures): a backup saved from
//! the filled cluster while probe writes run (their latency with and
//! without the save shows the pause it causes), then every node wiped,
//! restored from the file and started (restore time, time to the first
//! committed write).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use raftflow_client::Client;
use raftflow_server::NodeConfig;
use raftflow_store::backup::RestoreTarget;
use raftflow_store::NodeInfo;
use serde_json::json;

use super::bench_scale::{ms, stats};

/// Probe writes one after another until `stop`; their latencies in ms.
async fn probes(client: Arc<Client>, stop: Arc<AtomicBool>) -> anyhow::Result<Vec<f64>> {
    let mut samples = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        client.probe("bench-backup", b"p").await?;
        samples.push(ms(t.elapsed()));
    }
    Ok(samples)
}

async fn probes_for(client: &Arc<Client>, span: Duration) -> anyhow::Result<Vec<f64>> {
    let stop = Arc::new(AtomicBool::new(false));
    let task = tokio::spawn(probes(client.clone(), stop.clone()));
    tokio::time::sleep(span).await;
    stop.store(true, Ordering::Relaxed);
    task.await?
}

/// Saves a backup to `file` with probes running; the figures as JSON.
pub async fn save(client: &Arc<Client>, file: &Path) -> anyhow::Result<serde_json::Value> {
    let without = probes_for(client, Duration::from_secs(3)).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let task = tokio::spawn(probes(client.clone(), stop.clone()));
    let t = Instant::now();
    let inspection = super::operator::save(client, file, true).await?;
    let save_ms = ms(t.elapsed());
    stop.store(true, Ordering::Relaxed);
    let during = task.await??;
    let bytes = std::fs::metadata(file)?.len();
    println!(
        "backup saved in {save_ms:.0} ms: {bytes} bytes, {} pairs",
        inspection.pairs
    );
    Ok(
        json!({"save_ms": save_ms.round(), "file_mib": (bytes as f64 / (1 << 20) as f64).round(),
        "probe_ms_without_save": stats(without), "probe_ms_during_save": stats(during)}),
    )
}

/// Wipes the (stopped) nodes' data directories, restores each from `file`,
/// starts them and waits for the first committed write; the figures as JSON.
pub async fn restore(
    client: &Arc<Client>,
    file: &Path,
    configs: &BTreeMap<u64, (PathBuf, NodeConfig)>,
    insecure: bool,
) -> anyhow::Result<(serde_json::Value, Vec<tokio::process::Child>)> {
    let members: BTreeMap<u64, NodeInfo> = configs
        .iter()
        .map(|(id, (_, c))| {
            (
                *id,
                NodeInfo {
                    raft_addr: c.raft_addr.clone(),
                    api_addr: c.api_addr.clone(),
                },
            )
        })
        .collect();
    let t = Instant::now();
    for (id, (_, config)) in configs {
        let _ = std::fs::remove_dir_all(&config.data_dir);
        let target = RestoreTarget {
            node_id: *id,
            members: members.clone(),
        };
        raftflow_store::backup::restore(file, &config.data_dir, &target)?;
    }
    let restore_ms = ms(t.elapsed());
    let started = Instant::now();
    let mut children = Vec::new();
    for (id, (path, _)) in configs {
        children.push(super::dev::spawn_node_quiet(path, *id, insecure)?);
    }
    let deadline = started + Duration::from_secs(120);
    while client.probe("bench-backup", b"restored").await.is_err() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the restored cluster took no write in 120 s"
        );
    }
    let first_write_ms = ms(started.elapsed());
    println!("restored three nodes in {restore_ms:.0} ms; first write {first_write_ms:.0} ms after they started");
    Ok((
        json!({"restore_three_nodes_ms": restore_ms.round(), "start_to_first_write_ms": first_write_ms.round()}),
        children,
    ))
}
