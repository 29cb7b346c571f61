//! The benches that start their own three nodes from a config folder, on
//! empty data directories: the start they share.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use raftflow_client::Client;
use tokio::process::Child;

use super::local::LocalCluster;

pub struct OwnCluster {
    pub local: LocalCluster,
    pub client: Arc<Client>,
    pub children: BTreeMap<u64, Child>,
    pub leader: u64,
}

/// Starts the nodes of `config_dir` on empty data directories (deleted
/// first with `fresh`); an exit code when the folder or the nodes refuse.
pub async fn start(
    config_dir: &Path,
    fresh: bool,
    conn: &super::conn::Conn,
) -> anyhow::Result<Result<OwnCluster, ExitCode>> {
    let local = match super::local::load(config_dir, conn) {
        Ok(local) => local,
        Err(e) => return Ok(Err(super::usage_error(e))),
    };
    for (_, c) in local.configs.values() {
        let used = std::fs::read_dir(&c.data_dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(false);
        if used && !fresh {
            return Ok(Err(super::usage_error(format!(
                "{} is not empty: pass --fresh to delete it",
                c.data_dir.display()
            ))));
        }
        let _ = std::fs::remove_dir_all(&c.data_dir);
    }
    let endpoints: Vec<String> = local
        .configs
        .values()
        .map(|(_, c)| c.api_addr.clone())
        .collect();
    let client = Arc::new(local.conn.at(endpoints).client()?);
    let insecure = local.conn.insecure;
    let children = match super::dev::start_own_nodes(&client, &local.paths(), insecure).await? {
        Ok(children) => children,
        Err(code) => return Ok(Err(code)),
    };
    let leader = super::demo::wait_leader(&client, Duration::from_secs(60))
        .await
        .ok_or_else(|| anyhow::anyhow!("no leader within 60 s"))?;
    Ok(Ok(OwnCluster {
        local,
        client,
        children,
        leader,
    }))
}

/// Resident memory of process `pid`, in bytes (0 when unknown).
pub fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// CPU time process `pid` used so far (user + system), in seconds.
pub fn cpu_s(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which may hold spaces), from field 3.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // Linux counts them in USER_HZ, 100 per second on every architecture
    // it runs on. utime and stime are fields 14 and 15: 11 and 12 after the name.
    const USER_HZ: f64 = 100.0;
    (ticks(11) + ticks(12)) as f64 / USER_HZ
}
