//! How far each peer's clock is from this node's, measured on the Raft
//! traffic the nodes exchange anyway: every request and every reply carries
//! its sender's clock (`raftflow-clock-ms`).
//!
//! ```text
//!  caller (leader):   offset = peer clock − (sent + received) / 2   error ≤ round trip / 2
//!  callee (follower): offset = peer clock − received                 one way: transit makes it look behind
//! ```
//! Exported as `raftflow_clock_offset_seconds{peer}`; `/readyz` reports a
//! node whose clock disagrees with a majority of the voters.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use raftflow_store::NodeId;

/// A measurement older than this is not reported (the peer is silent).
const FRESH: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
pub struct PeerClocks {
    offsets: Mutex<BTreeMap<NodeId, (i64, Instant)>>,
}

impl PeerClocks {
    /// Records that `peer`'s clock is `offset_ms` ahead of this node's.
    pub fn record(&self, peer: NodeId, offset_ms: i64) {
        let mut offsets = self.offsets.lock().expect("peer clocks lock");
        offsets.insert(peer, (offset_ms, Instant::now()));
    }

    /// The fresh measurements: peer → offset (ms, the peer ahead positive).
    pub fn fresh(&self) -> BTreeMap<NodeId, i64> {
        let offsets = self.offsets.lock().expect("peer clocks lock");
        offsets
            .iter()
            .filter(|(_, (_, at))| at.elapsed() < FRESH)
            .map(|(peer, (offset, _))| (*peer, *offset))
            .collect()
    }

    /// Whether this node's clock agrees (within `max_offset_ms`) with a
    /// majority of `voters` (itself included); `None` while too few peers
    /// were measured to tell.
    pub fn agrees_with_majority(
        &self,
        voters: &[NodeId],
        me: NodeId,
        max_offset_ms: u64,
    ) -> Option<bool> {
        let fresh = self.fresh();
        let majority = voters.len() / 2 + 1;
        let peers: Vec<i64> = voters
            .iter()
            .filter(|v| **v != me)
            .filter_map(|v| fresh.get(v).copied())
            .collect();
        let agree = 1 + peers
            .iter()
            .filter(|o| o.unsigned_abs() <= max_offset_ms)
            .count();
        let disagree = peers.len() + 1 - agree;
        if agree >= majority {
            Some(true)
        } else if disagree + majority > voters.len() {
            Some(false)
        } else {
            None
        }
    }
}

/// The offset of a peer that answered at `peer_ms` a call sent at
/// `sent_ms` and answered at `received_ms` (this node's clock): the peer's
/// reading is taken as the middle of the round trip.
pub fn round_trip_offset(peer_ms: u64, sent_ms: u64, received_ms: u64) -> i64 {
    let middle = sent_ms / 2 + received_ms / 2;
    (peer_ms as i128 - middle as i128).clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_disagreeing_with_both_peers_is_skewed() {
        let clocks = PeerClocks::default();
        let voters = [1, 2, 3];
        assert_eq!(clocks.agrees_with_majority(&voters, 1, 500), None);
        clocks.record(2, 3_600_000);
        assert_eq!(clocks.agrees_with_majority(&voters, 1, 500), None);
        clocks.record(3, 3_599_990);
        assert_eq!(clocks.agrees_with_majority(&voters, 1, 500), Some(false));
        clocks.record(3, 20);
        assert_eq!(clocks.agrees_with_majority(&voters, 1, 500), Some(true));
        assert_eq!(round_trip_offset(1_010, 1_000, 1_004), 8);
    }
}
