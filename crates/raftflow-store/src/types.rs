//! The openraft type configuration: what a log entry carries and how nodes are named.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::command::{Envelope, EnvelopeResult};
use crate::snapshot_file::SnapshotFile;

pub type NodeId = u64;

/// How to reach a node: its internal Raft address and its client API address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub raft_addr: String,
    pub api_addr: String,
}

impl fmt::Display for NodeInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "raft={} api={}", self.raft_addr, self.api_addr)
    }
}

openraft::declare_raft_types!(
    /// raftflow's Raft types: one log entry carries one batch of commands.
    /// The leader id is openraft's default ("advanced": several leaders may
    /// share a term, ordered by node id), as in 0.9, so the persisted log
    /// ids and votes keep their bytes (`compat_tests.rs`).
    pub TypeConfig:
        D = Envelope,
        R = EnvelopeResult,
        NodeId = NodeId,
        Node = NodeInfo,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type LogId = openraft::alias::LogIdOf<TypeConfig>;
pub type CommittedLeaderId = openraft::alias::CommittedLeaderIdOf<TypeConfig>;
pub type Vote = openraft::alias::VoteOf<TypeConfig>;
pub type Entry = openraft::alias::EntryOf<TypeConfig>;
pub type EntryPayload = openraft::alias::EntryPayloadOf<TypeConfig>;
pub type StoredMembership = openraft::alias::StoredMembershipOf<TypeConfig>;
pub type SnapshotMeta = openraft::alias::SnapshotMetaOf<TypeConfig>;
pub type Snapshot = openraft::alias::SnapshotOf<TypeConfig, SnapshotFile>;
pub type Membership = openraft::Membership<NodeId, NodeInfo>;

/// The log id of entry `index`, written in `term` by `leader`.
pub fn log_id(term: u64, leader: NodeId, index: u64) -> LogId {
    LogId::new(
        CommittedLeaderId {
            term,
            node_id: leader,
        },
        index,
    )
}
