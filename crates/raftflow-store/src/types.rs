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
    pub TypeConfig:
        D = Envelope,
        R = EnvelopeResult,
        NodeId = NodeId,
        Node = NodeInfo,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = SnapshotFile,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type StoredMembership = openraft::StoredMembership<NodeId, NodeInfo>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, NodeInfo>;
pub type StorageError = openraft::StorageError<NodeId>;
