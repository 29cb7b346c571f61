//! `raftflow operator snapshot save|inspect|restore`: backups of the
//! replicated state, and new nodes built from one (etcdctl/etcdutl's
//! `snapshot save|status|restore`, Nomad's `operator snapshot`).

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use raftflow_store::backup::{self, BackupHeader, Inspection, RestoreTarget};
use raftflow_store::NodeInfo;
use serde_json::json;

use crate::output::Format;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Backups: save, inspect, restore.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// The Raft membership: list peers, remove one.
    #[command(subcommand)]
    Raft(super::operator_raft::RaftCommand),
}

#[derive(clap::Subcommand)]
pub enum SnapshotCommand {
    /// Save a backup of the replicated state from the leader to FILE
    /// (mode 0600: it holds token hashes and the task-token key).
    Save {
        file: PathBuf,
        /// Copy what the leader has applied, without the read barrier that
        /// makes sure it holds every acknowledged write.
        #[arg(long)]
        stale: bool,
    },
    /// Show a backup's header and what it holds; verifies its checksum.
    Inspect { file: PathBuf },
    /// Build a new node's data directory from a backup. Run it for every
    /// node of the new cluster with the same members, then start them.
    Restore {
        file: PathBuf,
        /// The node's config: its id, data_dir and initial_members (the new
        /// cluster's members) are taken from it.
        #[arg(long, conflicts_with_all = ["data_dir", "id", "members"])]
        config: Option<PathBuf>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        id: Option<u64>,
        /// A member of the new cluster: `ID=RAFT_ADDR,API_ADDR`. Repeat for each.
        #[arg(long = "member", value_parser = parse_member)]
        members: Vec<(u64, NodeInfo)>,
    },
}

fn parse_member(text: &str) -> Result<(u64, NodeInfo), String> {
    let usage = || format!("`{text}`: a member is ID=RAFT_ADDR,API_ADDR");
    let (id, addrs) = text.split_once('=').ok_or_else(usage)?;
    let (raft_addr, api_addr) = addrs.split_once(',').ok_or_else(usage)?;
    let id: u64 = id.parse().map_err(|_| usage())?;
    if id == 0 || raft_addr.is_empty() || api_addr.is_empty() {
        return Err(usage());
    }
    let (raft_addr, api_addr) = (raft_addr.into(), api_addr.into());
    Ok((
        id,
        NodeInfo {
            raft_addr,
            api_addr,
        },
    ))
}

pub async fn run(
    command: Command,
    conn: &super::conn::Conn,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let command = match command {
        Command::Snapshot(command) => command,
        Command::Raft(command) => {
            return match conn.client() {
                Ok(client) => super::operator_raft::run(command, &client, format).await,
                Err(e) => Ok(super::usage_error(e)),
            };
        }
    };
    match command {
        SnapshotCommand::Save { file, stale } => {
            let client = match conn.client() {
                Ok(client) => client,
                Err(e) => return Ok(super::usage_error(e)),
            };
            let inspection = save(&client, &file, !stale).await?;
            print(&inspection, format);
        }
        SnapshotCommand::Inspect { file } => print(&backup::inspect(&file)?, format),
        SnapshotCommand::Restore {
            file,
            config,
            data_dir,
            id,
            members,
        } => {
            let (data_dir, target) = match target(config, data_dir, id, members) {
                Ok(t) => t,
                Err(e) => return Ok(super::usage_error(e)),
            };
            let inspection = backup::restore(&file, &data_dir, &target)?;
            eprintln!(
                "restored node {} into {} at index {}; start every restored node of the new cluster",
                target.node_id,
                data_dir.display(),
                inspection.header.index
            );
            print(&inspection, format);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Streams a backup into `<file>.partial` (0600), verifies it whole, then
/// renames it into place: a file at `file` is always a complete backup.
pub(super) async fn save(
    client: &raftflow_client::Client,
    file: &Path,
    linearizable: bool,
) -> anyhow::Result<Inspection> {
    let (header_json, mut stream) = client.save_snapshot(linearizable).await?;
    let header: BackupHeader =
        serde_json::from_str(&header_json).context("reading the backup's header")?;
    let partial = file.with_extension("partial");
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)
        .with_context(|| format!("creating {}", partial.display()))?;
    let mut body = std::io::BufWriter::new(&mut out);
    backup::write_prefix(&mut body, &header)?;
    while let Some(chunk) = stream.message().await? {
        body.write_all(&chunk.data)?;
    }
    body.flush()?;
    drop(body);
    out.sync_all()?;
    let inspection = backup::inspect(&partial).context("the received backup does not check out")?;
    std::fs::rename(&partial, file).with_context(|| format!("renaming to {}", file.display()))?;
    Ok(inspection)
}

fn target(
    config: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    id: Option<u64>,
    members: Vec<(u64, NodeInfo)>,
) -> Result<(PathBuf, RestoreTarget), String> {
    if let Some(path) = config {
        let config = raftflow_server::NodeConfig::load(&path).map_err(|e| e.to_string())?;
        let members = config.initial_membership();
        return Ok((
            config.data_dir,
            RestoreTarget {
                node_id: config.id,
                members,
            },
        ));
    }
    let (Some(data_dir), Some(node_id)) = (data_dir, id) else {
        return Err(
            "restore needs --config, or --data-dir, --id and a --member for each node".into(),
        );
    };
    if members.is_empty() {
        return Err(
            "restore needs a --member ID=RAFT_ADDR,API_ADDR for each node of the new cluster"
                .into(),
        );
    }
    let members: BTreeMap<u64, NodeInfo> = members.into_iter().collect();
    Ok((data_dir, RestoreTarget { node_id, members }))
}

fn print(inspection: &Inspection, format: Format) {
    let h = &inspection.header;
    match format {
        Format::Text => {
            println!("format          {}", h.format);
            if !h.cluster_id.is_empty() {
                println!("cluster id      {}", h.cluster_id);
            }
            println!(
                "saved by        node {} (raftflow {})",
                h.node_id, h.release
            );
            println!("taken at        {} ms since the Unix epoch", h.taken_ms);
            println!("index, term     {}, {}", h.index, h.term);
            println!("apply version   {}", h.apply_version);
            println!("voters          {:?}", h.voters);
            println!(
                "content         {} bytes, {} pairs, sha256 {} (verified)",
                h.content_bytes, inspection.pairs, h.content_sha256
            );
            println!("state machines  {}", inspection.state_machines);
            let by_status: Vec<String> = inspection
                .executions
                .iter()
                .map(|(s, n)| format!("{s} {n}"))
                .collect();
            println!("executions      {}", by_status.join(", "));
            println!("open tasks      {}", inspection.open_tasks);
            println!("tokens          {}", inspection.tokens);
        }
        Format::Json | Format::Jsonl => println!(
            "{}",
            json!({
                "header": h, "pairs": inspection.pairs, "verified": true,
                "state_machines": inspection.state_machines, "executions": inspection.executions,
                "open_tasks": inspection.open_tasks, "tokens": inspection.tokens,
            })
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_is_an_id_and_two_addresses() {
        let (id, node) = parse_member("2=10.0.0.2:7101,10.0.0.2:7201").unwrap();
        assert_eq!(
            (id, node.raft_addr.as_str(), node.api_addr.as_str()),
            (2, "10.0.0.2:7101", "10.0.0.2:7201")
        );
        for bad in ["2", "2=a", "x=a,b", "0=a,b", "2=,b", "2=a,"] {
            let err = parse_member(bad).unwrap_err();
            assert!(
                err.contains("ID=RAFT_ADDR,API_ADDR") && err.contains(bad),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn a_restore_needs_a_config_or_the_three_flags() {
        let err = target(None, Some("d".into()), None, Vec::new()).unwrap_err();
        assert!(err.contains("--config, or --data-dir, --id"), "{err}");
        let err = target(None, Some("d".into()), Some(1), Vec::new()).unwrap_err();
        assert!(err.contains("--member"), "{err}");
        let member = parse_member("1=a:1,a:2").unwrap();
        let (dir, t) = target(None, Some("d".into()), Some(1), vec![member]).unwrap();
        assert_eq!(
            (dir, t.node_id, t.members.len()),
            (PathBuf::from("d"), 1, 1)
        );
    }
}
