//! `raftflow cluster`: status, members, membership changes and a probe write.

use std::process::ExitCode;

use raftflow_client::proto::NodeStatus;
use raftflow_client::Client;
use serde_json::json;

use crate::output::{table, Format};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Each node's id, address, role, term, leader and log indexes.
    Status {
        /// Also compute each node's state digest (scans the state machine).
        #[arg(long)]
        digest: bool,
    },
    /// The current members, as the leader sees them.
    Members,
    /// Add a node as a learner (it then catches up with the log).
    AddLearner {
        #[arg(long)]
        id: u64,
        #[arg(long)]
        raft_addr: String,
        #[arg(long)]
        api_addr: String,
    },
    /// Set the voters; every new voter must already be a learner.
    ChangeMembership {
        /// Node ids of the new voters, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        voters: Vec<u64>,
        /// Keep removed voters as learners.
        #[arg(long)]
        retain: bool,
    },
    /// Commit a small write through the log and print its index and latency.
    Probe {
        /// The key the probe writes (`--key` is the TLS key file).
        #[arg(id = "probe_key", long = "probe-key", default_value = "cli")]
        key: String,
    },
    /// Raise the apply version (the rules every node applies the log by),
    /// once every member runs a binary that supports it. Until then a
    /// rolling upgrade can be rolled back.
    UpgradeVersion {
        /// The version to raise to (default: the highest every member supports).
        #[arg(long)]
        to: Option<u32>,
    },
    /// Hand leadership to another voter before restarting the leader's
    /// node, so that clients wait for no election (a node stopped with
    /// SIGTERM does this by itself).
    TransferLeader {
        /// The voter to lead next (default: the one whose log is furthest ahead).
        #[arg(long)]
        to: Option<u64>,
    },
}

pub async fn run(
    command: Command,
    conn: &super::conn::Conn,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let client = match conn.client() {
        Ok(c) => c,
        Err(e) => return Ok(super::usage_error(e)),
    };
    match command {
        Command::Status { digest } => status(&client, digest, format).await,
        Command::Members => members(&client, format).await,
        Command::AddLearner {
            id,
            raft_addr,
            api_addr,
        } => {
            let reply = client.add_learner(id, &raft_addr, &api_addr).await?;
            println!(
                "node {id} added as a learner at log index {}",
                reply.log_index
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::ChangeMembership { voters, retain } => {
            let reply = client.change_membership(voters, retain).await?;
            println!("membership changed at log index {}", reply.log_index);
            Ok(ExitCode::SUCCESS)
        }
        Command::UpgradeVersion { to } => {
            let reply = client.upgrade_apply_version(to.unwrap_or(0)).await?;
            match format {
                Format::Text if reply.log_index == 0 => {
                    println!("apply version {} is already active", reply.active)
                }
                Format::Text => println!(
                    "apply version raised from {} to {} at log index {}",
                    reply.previous, reply.active, reply.log_index
                ),
                _ => println!(
                    "{}",
                    json!({"previous": reply.previous, "active": reply.active, "log_index": reply.log_index})
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::TransferLeader { to } => {
            let reply = client.transfer_leader(to.unwrap_or(0)).await?;
            match format {
                Format::Text => println!(
                    "node {} leads now (was node {})",
                    reply.leader, reply.previous
                ),
                _ => println!(
                    "{}",
                    json!({"leader": reply.leader, "previous": reply.previous})
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Probe { key } => {
            let started = std::time::Instant::now();
            let reply = client.probe(&key, b"probe").await?;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            match format {
                Format::Text => {
                    println!("committed at log index {} in {ms:.1} ms", reply.log_index)
                }
                _ => println!(
                    "{}",
                    json!({"log_index": reply.log_index, "latency_ms": ms})
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn status_json(url: &str, status: &Result<NodeStatus, tonic::Status>) -> serde_json::Value {
    match status {
        Ok(s) => json!({
            "endpoint": url, "up": true, "id": s.id, "api_addr": s.api_addr, "raft_addr": s.raft_addr,
            "role": s.role, "term": s.term, "leader_id": s.leader_id, "last_log_index": s.last_log_index,
            "applied_index": s.applied_index, "snapshot_index": s.snapshot_index, "purged_index": s.purged_index,
            "state_digest": s.state_digest, "apply_version": s.apply_version,
            "apply_version_min": s.apply_version_min, "apply_version_max": s.apply_version_max,
            "store_format": s.store_format, "clock_offsets_ms": s.clock_offsets_ms, "driving_epoch": s.driving_epoch,
            "disk_free_bytes": s.disk_free_bytes, "data_dir_bytes": s.data_dir_bytes,
            "short_of_space": s.short_of_space, "alarms": alarms_json(s),
            "cluster_id": s.cluster_id, "last_backup_ms": s.last_backup_ms, "last_backup_index": s.last_backup_index, "last_backup_name": s.last_backup_name,
        }),
        Err(e) => json!({"endpoint": url, "up": false, "error": e.message()}),
    }
}

fn alarms_json(s: &NodeStatus) -> Vec<serde_json::Value> {
    s.alarms
        .iter()
        .map(|a| json!({"node": a.node, "kind": alarm_kind(a.kind), "detail": a.detail, "since_ms": a.since_ms}))
        .collect()
}

fn alarm_kind(kind: i32) -> &'static str {
    match raftflow_proto::v1::AlarmKind::try_from(kind) {
        Ok(raftflow_proto::v1::AlarmKind::Nospace) => "NOSPACE",
        _ => "UNKNOWN",
    }
}

/// Free space in MiB, marked `!` when the node is short of space.
fn disk_free(s: &NodeStatus) -> String {
    let mib = s.disk_free_bytes >> 20;
    if s.short_of_space.is_empty() {
        mib.to_string()
    } else {
        format!("{mib}!")
    }
}

/// The alarms as the node that applied furthest knows them, one line each.
fn print_alarms(statuses: &[(String, Result<NodeStatus, tonic::Status>)]) {
    let newest = statuses
        .iter()
        .filter_map(|(_, s)| s.as_ref().ok())
        .max_by_key(|s| s.applied_index);
    for a in newest.map(|s| s.alarms.as_slice()).unwrap_or_default() {
        println!(
            "ALARM {} on node {}: {} (new executions and state machines are refused)",
            alarm_kind(a.kind),
            a.node,
            a.detail
        );
    }
    if let Some(s) = newest.filter(|s| !s.cluster_id.is_empty()) {
        println!("cluster id {}", s.cluster_id);
    }
    if let Some(s) = newest.filter(|s| s.last_backup_ms > 0) {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        println!(
            "last scheduled backup: {} (index {}), {} s ago",
            s.last_backup_name,
            s.last_backup_index,
            now_ms.saturating_sub(s.last_backup_ms) / 1000
        );
    }
    for s in statuses.iter().filter_map(|(_, s)| s.as_ref().ok()) {
        if !s.short_of_space.is_empty()
            && !newest.is_some_and(|n| n.alarms.iter().any(|a| a.node == s.id))
        {
            println!("node {} is short of space: {}", s.id, s.short_of_space);
        }
    }
}

/// The peer clock furthest from this node's, in ms with its sign and the
/// peer (`+3 (2)`), or `-` when no peer was measured lately.
fn clock_offset(s: &NodeStatus) -> String {
    s.clock_offsets_ms
        .iter()
        .max_by_key(|(_, ms)| ms.unsigned_abs())
        .map_or("-".into(), |(peer, ms)| format!("{ms:+} ({peer})"))
}

/// `2 (1..=2)`: the active apply version and the range the binary follows
/// (a binary from before versions reports none: it follows 1 only).
fn apply_versions(s: &NodeStatus) -> String {
    match s.apply_version_max {
        0 => "1 (1..=1)".into(),
        max => format!("{} ({}..={max})", s.apply_version, s.apply_version_min),
    }
}

async fn status(client: &Client, digest: bool, format: Format) -> anyhow::Result<ExitCode> {
    let statuses = client.status_all(digest).await;
    let any_up = statuses.iter().any(|(_, s)| s.is_ok());
    match format {
        Format::Json => {
            let nodes: Vec<_> = statuses.iter().map(|(u, s)| status_json(u, s)).collect();
            println!("{}", serde_json::to_string_pretty(&nodes)?);
        }
        Format::Jsonl => statuses
            .iter()
            .for_each(|(u, s)| println!("{}", status_json(u, s))),
        Format::Text => {
            let rows: Vec<Vec<String>> = statuses
                .iter()
                .map(|(url, s)| match s {
                    Ok(s) => {
                        let mut row = vec![
                            s.id.to_string(),
                            s.api_addr.clone(),
                            s.role.clone(),
                            s.term.to_string(),
                            if s.leader_id == 0 {
                                "-".into()
                            } else {
                                s.leader_id.to_string()
                            },
                            s.last_log_index.to_string(),
                            s.applied_index.to_string(),
                            apply_versions(s),
                            clock_offset(s),
                            disk_free(s),
                        ];
                        if digest {
                            row.push(s.state_digest.chars().take(16).collect());
                        }
                        row
                    }
                    Err(_) => {
                        let mut row = vec![
                            "?".into(),
                            url.trim_start_matches("http://")
                                .trim_start_matches("https://")
                                .into(),
                            "down".into(),
                        ];
                        row.extend(std::iter::repeat_n(
                            "-".to_string(),
                            if digest { 8 } else { 7 },
                        ));
                        row
                    }
                })
                .collect();
            let mut header = vec![
                "ID",
                "ADDRESS",
                "ROLE",
                "TERM",
                "LEADER",
                "LAST LOG",
                "APPLIED",
                "APPLY VERSION",
                "PEER CLOCK MS",
                "DISK FREE MIB",
            ];
            if digest {
                header.push("DIGEST");
            }
            table(&header, &rows);
            print_alarms(&statuses);
            for (url, s) in &statuses {
                if let Err(e) = s {
                    eprintln!("{url}: {}", client.explain(e));
                }
            }
        }
    }
    Ok(if any_up {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn members(client: &Client, format: Format) -> anyhow::Result<ExitCode> {
    let statuses = client.status_all(false).await;
    let Some(s) = statuses
        .iter()
        .filter_map(|(_, s)| s.as_ref().ok())
        .max_by_key(|s| (s.role == "leader", s.term))
    else {
        let why = statuses
            .iter()
            .find_map(|(url, s)| {
                s.as_ref()
                    .err()
                    .map(|e| format!("{url}: {}", client.explain(e)))
            })
            .unwrap_or_default();
        eprintln!("error: no node answered ({why})");
        return Ok(ExitCode::from(1));
    };
    match format {
        Format::Text => {
            let rows: Vec<Vec<String>> = s
                .members
                .iter()
                .map(|m| {
                    vec![
                        m.id.to_string(),
                        m.api_addr.clone(),
                        m.raft_addr.clone(),
                        if m.voter { "voter" } else { "learner" }.into(),
                    ]
                })
                .collect();
            table(&["ID", "API ADDRESS", "RAFT ADDRESS", "KIND"], &rows);
        }
        _ => {
            for m in &s.members {
                println!(
                    "{}",
                    json!({"id": m.id, "api_addr": m.api_addr, "raft_addr": m.raft_addr, "voter": m.voter})
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
