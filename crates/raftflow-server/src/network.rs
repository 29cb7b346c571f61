//! The Raft transport, client side: openraft's RPCs sent over gRPC.
//!
//! ```text
//!  openraft replication task ──▶ PeerClient::append_entries ──bincode──▶ RaftService (peer)
//!                                    │ deadline = openraft's hard TTL
//!                                    └─ transport failure ⇒ Unreachable (openraft backs off)
//! ```

use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use raftflow_proto::v1::raft_service_client::RaftServiceClient;
use raftflow_proto::v1::RaftRequest;
use raftflow_store::codec;
use raftflow_store::{NodeId, NodeInfo, TypeConfig};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::transport::Channel;

/// gRPC messages may carry snapshot chunks and large batches.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
/// Entries per AppendEntries (openraft's `max_payload_entries`).
pub const MAX_ENTRIES_PER_APPEND: u64 = 48;
/// The proposer closes a log entry before its commands pass this many
/// bytes; one larger proposal still makes an entry of its own.
pub const ENTRY_TARGET_BYTES: usize = 1 << 20;
/// An entry's own fields (log id, envelope) and an AppendEntries' (vote,
/// previous log id, commit).
const ENTRY_OVERHEAD_BYTES: usize = 4 * 1024;
const APPEND_OVERHEAD_BYTES: usize = 64 * 1024;

/// The largest log entry a node whose payloads are at most
/// `max_payload_bytes` writes: what one AppendEntries multiplies.
pub fn entry_bytes_bound(max_payload_bytes: usize) -> usize {
    ENTRY_TARGET_BYTES.max(crate::limits::max_request_bytes(max_payload_bytes))
        + ENTRY_OVERHEAD_BYTES
}

/// The largest AppendEntries such a node sends: it must fit the transport.
pub fn append_bytes_bound(max_payload_bytes: usize) -> usize {
    entry_bytes_bound(max_payload_bytes) * MAX_ENTRIES_PER_APPEND as usize + APPEND_OVERHEAD_BYTES
}

/// Stamps every Raft RPC with this node's clock (clock.rs).
pub struct Network {
    pub clock: std::sync::Arc<crate::clock::Clock>,
    /// Where the peers' clocks, read from their replies, are kept.
    pub peer_clocks: std::sync::Arc<crate::peer_clocks::PeerClocks>,
    /// Plaintext, or mutual TLS checking each peer's node id (tls/).
    pub security: crate::tls::Security,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &NodeInfo) -> PeerClient {
        let clocks = (self.clock.clone(), self.peer_clocks.clone());
        PeerClient::new(target, &node.raft_addr, clocks, &self.security)
    }
}

pub struct PeerClient {
    target: NodeId,
    addr: String,
    client: Option<RaftServiceClient<Channel>>,
    clock: std::sync::Arc<crate::clock::Clock>,
    peer_clocks: std::sync::Arc<crate::peer_clocks::PeerClocks>,
}

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<NodeId, NodeInfo, RaftError<NodeId, E>>>;

impl PeerClient {
    fn new(
        target: NodeId,
        addr: &str,
        (clock, peer_clocks): (
            std::sync::Arc<crate::clock::Clock>,
            std::sync::Arc<crate::peer_clocks::PeerClocks>,
        ),
        security: &crate::tls::Security,
    ) -> Self {
        let dial = crate::tls::peer_endpoint(security, target, addr, Duration::from_millis(500));
        let client = dial.map(|dial| {
            RaftServiceClient::new(dial.lazy())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES)
        });
        Self {
            target,
            addr: addr.to_string(),
            client,
            clock,
            peer_clocks,
        }
    }

    async fn call<Req, Resp, E>(
        &mut self,
        kind: RpcKind,
        req: &Req,
        option: &RPCOption,
    ) -> RpcResult<Resp, E>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let client = self.client.as_mut().ok_or_else(|| {
            let e = std::io::Error::other(format!("invalid peer address {}", self.addr));
            RPCError::Unreachable(Unreachable::new(&e))
        })?;
        let payload = codec::encode(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let mut request = tonic::Request::new(RaftRequest {
            target: self.target,
            payload,
        });
        request.set_timeout(option.hard_ttl());
        crate::clock::stamp(&mut request, &self.clock);
        let sent_ms = self.clock.now_ms();
        let reply = match kind {
            RpcKind::Append => client.append_entries(request).await,
            RpcKind::Vote => client.vote(request).await,
            RpcKind::Snapshot => client.install_snapshot(request).await,
        };
        let reply = reply.map_err(|status| match status.code() {
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => {
                RPCError::Unreachable(Unreachable::new(&status))
            }
            _ => RPCError::Network(NetworkError::new(&status)),
        })?;
        if let Some(peer_ms) = crate::clock::replied_at(&reply) {
            let offset =
                crate::peer_clocks::round_trip_offset(peer_ms, sent_ms, self.clock.now_ms());
            self.peer_clocks.record(self.target, offset);
        }
        let result: Result<Resp, RaftError<NodeId, E>> = codec::decode(&reply.into_inner().payload)
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

#[derive(Clone, Copy)]
enum RpcKind {
    Append,
    Vote,
    Snapshot,
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        self.call(RpcKind::Append, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        self.call(RpcKind::Snapshot, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        self.call(RpcKind::Vote, &rpc, &option).await
    }
}
