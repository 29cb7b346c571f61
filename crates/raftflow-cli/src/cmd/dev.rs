//! `raftflow dev`: the local three-node cluster as child processes.
//!
//! Each node's log lines are prefixed with its name. Ctrl-C or SIGTERM stops
//! all three; children are also killed if this process dies.

use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

#[derive(clap::Args)]
pub struct Args {
    /// Folder holding node1.toml, node2.toml and node3.toml.
    #[arg(long, default_value = "cluster-config")]
    config_dir: PathBuf,
}

pub async fn run(args: Args, conn: &super::conn::Conn) -> anyhow::Result<ExitCode> {
    let local = match super::local::load(&args.config_dir, conn) {
        Ok(local) => local,
        Err(e) => return Ok(super::usage_error(e)),
    };
    let mut children = Vec::new();
    for (path, config) in local.configs.values() {
        children.push(spawn_node(path, config.id, conn.insecure)?);
    }
    let endpoints = local.api_endpoints();
    let client = local.conn.at(endpoints.clone()).client()?;
    let leader = wait_for_leader(&client, Duration::from_secs(30)).await;
    match leader {
        Some(id) => eprintln!("raftflow dev: cluster up, leader is node {id}"),
        None => eprintln!("raftflow dev: no leader after 30 s; the nodes keep trying"),
    }
    println!("endpoints: {}", endpoints.join(","));
    match &local.conn.tls {
        Some(_) => println!(
            "TLS on: the CLI finds the local CA and client certificate in {} by itself",
            super::conn::LOCAL_CERTS_DIR
        ),
        None => println!("INSECURE: plaintext, no certificates, no tokens (--insecure)"),
    }
    if local.conn.token.is_some() {
        let file = local
            .configs
            .values()
            .find_map(|(_, c)| c.auth.bootstrap_token_file.clone());
        if let Some(file) = file {
            println!(
                "tokens on: the first admin token is in {} (mode 0600); the CLI sends it by itself",
                file.display()
            );
        }
    }
    super::shutdown_signal().await;
    eprintln!("raftflow dev: stopping the nodes");
    stop_all(&mut children).await;
    Ok(ExitCode::SUCCESS)
}

/// A node whose output goes to `<data dir>/../node<id>.log` instead of the terminal.
pub fn spawn_node_quiet(
    config: &std::path::Path,
    id: u64,
    insecure: bool,
) -> anyhow::Result<Child> {
    let exe = std::env::current_exe().context("locating the raftflow binary")?;
    let log_dir = config
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .join("../data");
    std::fs::create_dir_all(&log_dir).with_context(|| format!("creating {}", log_dir.display()))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_dir.join(format!("node{id}.log")))?;
    Command::new(exe)
        .arg("server")
        .arg("--config")
        .arg(config)
        .args(insecure.then_some("--insecure"))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting node {id}"))
}

fn spawn_node(config: &std::path::Path, id: u64, insecure: bool) -> anyhow::Result<Child> {
    let exe = std::env::current_exe().context("locating the raftflow binary")?;
    let mut child = Command::new(exe)
        .arg("server")
        .arg("--config")
        .arg(config)
        .args(insecure.then_some("--insecure"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting node {id}"))?;
    let prefix = format!("[node{id}]");
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let prefix = prefix.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("{prefix} {line}");
            }
        });
    }
    Ok(child)
}

async fn wait_for_leader(client: &raftflow_client::Client, timeout: Duration) -> Option<u64> {
    let started = Instant::now();
    while started.elapsed() < timeout {
        for (_, status) in client.status_all(false).await {
            if let Ok(s) = status {
                if s.role == "leader" {
                    return Some(s.id);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

/// SIGTERM first so nodes close RocksDB cleanly; SIGKILL whatever is left.
async fn stop_all(children: &mut [Child]) {
    for child in children.iter() {
        if let Some(pid) = child.id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
    for child in children.iter_mut() {
        if tokio::time::timeout(Duration::from_secs(5), child.wait())
            .await
            .is_err()
        {
            let _ = child.kill().await;
        }
    }
}

/// Starts the nodes of a benchmark that kills and restarts its own nodes;
/// `Err(exit code)` when a node already answers on their endpoints.
pub async fn start_own_nodes(
    client: &raftflow_client::Client,
    configs: &std::collections::BTreeMap<u64, PathBuf>,
    insecure: bool,
) -> anyhow::Result<Result<std::collections::BTreeMap<u64, Child>, ExitCode>> {
    if client
        .status_all(false)
        .await
        .iter()
        .any(|(_, s)| s.is_ok())
    {
        return Ok(Err(super::usage_error(
            "a node already answers on these endpoints: stop the cluster first (this benchmark starts, kills and restarts its own nodes)",
        )));
    }
    let mut children = std::collections::BTreeMap::new();
    for (id, path) in configs {
        children.insert(*id, spawn_node_quiet(path, *id, insecure)?);
    }
    Ok(Ok(children))
}
