//! `raftflow operator raft list-peers|remove-peer` (Consul and Nomad's
//! `operator raft`): the members as the leader sees them, and removing one.

use std::process::ExitCode;

use raftflow_client::Client;
use serde_json::json;

use crate::output::{table, Format};

#[derive(clap::Subcommand)]
pub enum RaftCommand {
    /// Every member as the leader sees it: role, last contact, match index, lag.
    ListPeers,
    /// Remove a member (voter or learner). A leader removed hands leadership
    /// over first. Then stop that node; to bring it back, wipe its data and
    /// add it as a learner again.
    RemovePeer { id: u64 },
}

pub async fn run(
    command: RaftCommand,
    client: &Client,
    format: Format,
) -> anyhow::Result<ExitCode> {
    match command {
        RaftCommand::ListPeers => list_peers(client, format).await,
        RaftCommand::RemovePeer { id } => {
            let reply = client.remove_peer(id).await?;
            let left: Vec<u64> = reply.members.iter().map(|m| m.id).collect();
            println!(
                "node {id} removed at log index {}; members now {left:?}",
                reply.log_index
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn list_peers(client: &Client, format: Format) -> anyhow::Result<ExitCode> {
    let statuses = client.status_all(false).await;
    let Some(leader) = statuses
        .iter()
        .filter_map(|(_, s)| s.as_ref().ok())
        .find(|s| s.role == "leader")
    else {
        eprintln!("error: no node answered as the leader; `raftflow cluster status` shows what each node sees");
        return Ok(ExitCode::from(1));
    };
    let last = leader.last_log_index;
    let rows: Vec<Vec<String>> = leader
        .members
        .iter()
        .map(|m| {
            let role = match (m.id == leader.id, m.voter) {
                (true, _) => "leader",
                (false, true) => "voter",
                (false, false) => "learner",
            };
            let contact = match m.last_ack_ms_ago {
                -1 => "never".to_string(),
                ms => format!("{ms} ms ago"),
            };
            let lag = last.saturating_sub(m.matched_index);
            vec![
                m.id.to_string(),
                m.raft_addr.clone(),
                m.api_addr.clone(),
                role.into(),
                contact,
                m.matched_index.to_string(),
                lag.to_string(),
            ]
        })
        .collect();
    match format {
        Format::Text => table(
            &[
                "ID",
                "RAFT ADDRESS",
                "API ADDRESS",
                "ROLE",
                "LAST CONTACT",
                "MATCH INDEX",
                "LAG",
            ],
            &rows,
        ),
        Format::Json | Format::Jsonl => {
            let peers: Vec<_> = leader
                .members
                .iter()
                .map(|m| {
                    json!({"id": m.id, "raft_addr": m.raft_addr, "api_addr": m.api_addr, "voter": m.voter,
                        "leader": m.id == leader.id, "last_ack_ms_ago": m.last_ack_ms_ago,
                        "matched_index": m.matched_index, "lag": last.saturating_sub(m.matched_index)})
                })
                .collect();
            println!(
                "{}",
                json!({"leader": leader.id, "last_log_index": last, "peers": peers})
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
