//! Handing leadership over on purpose: `raftflow cluster transfer-leader`,
//! and a leader's graceful shutdown (SIGTERM) before a planned restart.
//!
//! ```text
//!  leader ──trigger().transfer_leader(to)──▶ TransferLeader to every node
//!     `to` stands at once (its log caught up); the others let it win within
//!     the lease ──▶ the old leader sees the new one ──▶ reply / shut down
//! ```
//! Without it, stopping the leader's node costs clients the followers'
//! silence timeout (or the elector's crash detection) before anyone leads.

use std::time::Duration;

use openraft::{RaftMetrics, ServerState};
use raftflow_store::{NodeId, TypeConfig};

use crate::error::{ApiError, WriteError};
use crate::raft_service::{Raft, WatchReceiver as _};

/// The voter to lead next: `to` when named (another voter), otherwise the
/// voter whose log this leader knows to be furthest ahead (the lowest id
/// among equals), so that the transfer waits least for catching up.
pub fn successor(
    metrics: &RaftMetrics<TypeConfig>,
    me: NodeId,
    to: Option<NodeId>,
) -> Result<NodeId, ApiError> {
    let voters: Vec<NodeId> = metrics
        .membership_config
        .membership()
        .voter_ids()
        .filter(|v| *v != me)
        .collect();
    if let Some(to) = to {
        if to == me {
            return Err(ApiError::InvalidArgument(format!(
                "node {me} leads already"
            )));
        }
        if !voters.contains(&to) {
            return Err(ApiError::FailedPrecondition(format!(
                "node {to} is not a voter; voters other than the leader: {voters:?}"
            )));
        }
        return Ok(to);
    }
    let matched = |id: &NodeId| {
        let replication = metrics.replication.as_ref();
        replication.and_then(|r| r.get(id).copied().flatten())
    };
    let best = voters
        .iter()
        .copied()
        .max_by(|a, b| matched(a).cmp(&matched(b)).then(b.cmp(a)));
    best.ok_or_else(|| ApiError::FailedPrecondition("no other voter to hand leadership to".into()))
}

/// Hands leadership from this node (`me`, the leader) to `to` or the best
/// successor and waits until this node sees another leader; returns it.
pub async fn hand_over(
    raft: &Raft,
    me: NodeId,
    to: Option<NodeId>,
    timeout: Duration,
) -> Result<NodeId, ApiError> {
    let metrics = raft.metrics().borrow_watched().clone();
    if metrics.state != ServerState::Leader {
        let leader_api_addr = metrics.current_leader.and_then(|l| {
            let membership = metrics.membership_config.membership();
            membership.get_node(&l).map(|n| n.api_addr.clone())
        });
        return Err(ApiError::Write(WriteError::NotLeader {
            leader_id: metrics.current_leader,
            leader_api_addr,
        }));
    }
    let target = successor(&metrics, me, to)?;
    tracing::info!(node = me, to = target, "handing leadership over");
    let mut watch = raft.metrics();
    raft.trigger()
        .transfer_leader(target)
        .await
        .map_err(|e| ApiError::Write(WriteError::Raft(e.to_string())))?;
    let moved = watch.wait_until(|m| m.current_leader.is_some_and(|l| l != me));
    match tokio::time::timeout(timeout, moved).await {
        Ok(Ok(m)) => Ok(m.current_leader.unwrap_or(target)),
        Ok(Err(_)) => Err(ApiError::Write(WriteError::ShuttingDown)),
        Err(_) => Err(ApiError::Write(WriteError::Raft(format!(
            "node {target} did not take leadership within {} ms (is it stopping too?)",
            timeout.as_millis()
        )))),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::Arc;

    use raftflow_store::types::{log_id, Membership, StoredMembership};
    use raftflow_store::NodeInfo;

    use super::*;

    /// Node 1 leads voters 1..=3 (and learner 4); `matched` is what it
    /// knows of each follower's log.
    fn metrics(matched: &[(NodeId, Option<u64>)]) -> RaftMetrics<TypeConfig> {
        let voters: BTreeSet<NodeId> = (1..=3).collect();
        let nodes: BTreeMap<NodeId, NodeInfo> = (1..=4).map(|i| (i, NodeInfo::default())).collect();
        let membership = Membership::new(vec![voters], nodes).unwrap();
        let mut m = RaftMetrics::new_initial(1);
        m.membership_config = Arc::new(StoredMembership::new(None, membership));
        let replication = matched
            .iter()
            .map(|(id, i)| (*id, i.map(|i| log_id(1, 1, i))));
        m.replication = Some(replication.collect());
        m
    }

    #[test]
    fn the_voter_furthest_ahead_leads_next_and_a_tie_goes_to_the_lowest_id() {
        let m = metrics(&[(2, Some(7)), (3, Some(9)), (4, Some(12))]);
        assert_eq!(
            successor(&m, 1, None).unwrap(),
            3,
            "learner 4 is never chosen"
        );
        let m = metrics(&[(2, Some(9)), (3, Some(9))]);
        assert_eq!(successor(&m, 1, None).unwrap(), 2);
        let m = metrics(&[(2, None), (3, Some(1))]);
        assert_eq!(successor(&m, 1, None).unwrap(), 3);
    }

    #[test]
    fn a_named_successor_must_be_another_voter() {
        let m = metrics(&[(2, Some(1)), (3, Some(1))]);
        assert_eq!(successor(&m, 1, Some(2)).unwrap(), 2);
        let own = successor(&m, 1, Some(1)).unwrap_err().to_string();
        assert!(own.contains("node 1 leads already"), "{own}");
        let learner = successor(&m, 1, Some(4)).unwrap_err().to_string();
        assert!(learner.contains("node 4 is not a voter"), "{learner}");
    }
}
