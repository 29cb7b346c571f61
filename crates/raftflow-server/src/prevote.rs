//! Pre-vote: before a follower stands after a silence, it asks the other
//! voters whether they would vote now.
//!
//! ```text
//!  elector: silence timeout passed ──PreVote──▶ every other voter (300 ms deadline)
//!     granted by a majority (counting itself) ──▶ raft.trigger().elect()
//!     otherwise ──▶ stay a follower, try again after the next timeout
//! ```
//! Without a pre-vote, a follower that is cut off keeps standing, raising its
//! term each time; when it returns, that term deposes a healthy leader and
//! costs an epoch. A voter grants a pre-vote only when it has heard from no
//! leader for a lease, does not lead, and finds the candidate's clock within
//! `max_clock_offset_ms` of its own. openraft 0.10 has a pre-vote of its own
//! (`enable_pre_vote`, off by default); this one stays because it also judges
//! the candidate's clock, so that a node with a wrong clock never even raises
//! the term (clocks.rs tests), and because the elector decides when to ask.

use crate::raft_service::WatchReceiver as _;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};

use raftflow_proto::v1::raft_service_client::RaftServiceClient;
use raftflow_proto::v1::PreVoteRequest;
use raftflow_store::NodeId;

use crate::raft_service::Raft;

const DEADLINE: Duration = Duration::from_millis(300);

/// True when this node and enough others to form a majority of the voters
/// would vote in an election now.
pub async fn majority_would_vote(
    raft: &Raft,
    id: NodeId,
    clock: &crate::clock::Clock,
    security: &crate::tls::Security,
) -> bool {
    let (voters, peers): (usize, Vec<(NodeId, String)>) = {
        let m = raft.metrics();
        let m = m.borrow_watched();
        let membership = m.membership_config.membership();
        let voters: Vec<NodeId> = membership.voter_ids().collect();
        let peers = voters
            .iter()
            .filter(|&&v| v != id)
            .filter_map(|v| membership.get_node(v).map(|n| (*v, n.raft_addr.clone())))
            .collect();
        (voters.len(), peers)
    };
    let majority = voters / 2 + 1;
    // Stop at a majority: waiting for a silent peer's deadline would give the
    // other followers time to stand too, and split the vote.
    let mut asks: FuturesUnordered<_> = peers
        .iter()
        .map(|(peer, addr)| ask(*peer, addr.clone(), id, clock.now_ms(), security))
        .collect();
    let mut granted = 1; // this node
    while granted < majority {
        match asks.next().await {
            Some(true) => granted += 1,
            Some(false) => {}
            None => break,
        }
    }
    let agreed = granted >= majority;
    tracing::info!(granted, voters, agreed, "pre-vote");
    agreed
}

async fn ask(
    peer: NodeId,
    addr: String,
    candidate: NodeId,
    clock_ms: u64,
    security: &crate::tls::Security,
) -> bool {
    let call = async {
        let channel = crate::tls::peer_endpoint(security, peer, &addr, DEADLINE)?
            .connect()
            .await
            .ok()?;
        let reply = RaftServiceClient::new(channel)
            .pre_vote(PreVoteRequest {
                target: peer,
                candidate,
                candidate_clock_ms: clock_ms,
            })
            .await
            .ok()?;
        Some(reply.into_inner().granted)
    };
    tokio::time::timeout(DEADLINE, call)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}
