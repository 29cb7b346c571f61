//! `ClusterService.RemovePeer`: one member out of the cluster, voter or
//! learner (Consul and Nomad's `operator raft remove-peer`).
//!
//! A leader asked to remove itself hands leadership over first and answers
//! "not the leader", so the client's retry reaches the new leader, which
//! removes it: the cluster waits for no election.

use std::collections::BTreeSet;
use std::time::Duration;

use openraft::ChangeMembers;

use crate::raft_service::WatchReceiver as _;

use crate::error::{ApiError, WriteError};
use crate::node::NodeContext;

/// Removes `id`; returns the log index of the new membership.
pub async fn remove(ctx: &NodeContext, id: u64) -> Result<u64, ApiError> {
    let metrics = ctx.raft.metrics().borrow_watched().clone();
    let membership = metrics.membership_config.membership();
    if !membership.nodes().any(|(n, _)| *n == id) {
        return Err(ApiError::NotFound(format!("node {id} is not a member")));
    }
    let voters: BTreeSet<u64> = membership.voter_ids().collect();
    let change = match voters.contains(&id) {
        true if voters.len() == 1 => {
            return Err(ApiError::FailedPrecondition(format!(
                "node {id} is the only voter; add another voter first"
            )))
        }
        true => ChangeMembers::RemoveVoters(BTreeSet::from([id])),
        false => ChangeMembers::RemoveNodes(BTreeSet::from([id])),
    };
    if id == ctx.id && metrics.current_leader == Some(ctx.id) {
        let timeout = Duration::from_millis(ctx.config.write_timeout_ms);
        let leader = crate::handover::hand_over(&ctx.raft, ctx.id, None, timeout).await?;
        let leader_api_addr = membership
            .nodes()
            .find(|(n, _)| **n == leader)
            .map(|(_, node)| node.api_addr.clone());
        return Err(ApiError::Write(WriteError::NotLeader {
            leader_id: Some(leader),
            leader_api_addr,
        }));
    }
    let reply = ctx
        .raft
        .change_membership(change, false)
        .await
        .map_err(crate::cluster_service::client_write_error)?;
    tracing::info!(
        node = ctx.id,
        removed = id,
        index = reply.log_id.index,
        "removed a member"
    );
    Ok(reply.log_id.index)
}
