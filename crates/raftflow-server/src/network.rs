//! The Raft transport, client side: openraft 0.10's RPCs sent over gRPC.
//!
//! ```text
//!  replication task ──stream_append──▶ one gRPC stream per session ──▶ RaftService (peer)
//!                     (requests pipelined; replies read back in order; network_stream.rs)
//!  heartbeats, votes ──unary call, deadline = openraft's TTL──▶ RaftService
//!  snapshots ──chunks read from the snapshot file (network_snapshot.rs)──▶ RaftService
//!  transport failure ⇒ Unreachable (openraft backs off)
//! ```

use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use openraft::base::{BoxFuture, BoxStream};
use openraft::errors::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, StreamAppendResult,
    TransferLeaderRequest, TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::{OptionalSend, RaftNetworkV2};
use raftflow_proto::v1::raft_service_client::RaftServiceClient;
use raftflow_proto::v1::RaftRequest;
use raftflow_store::snapshot_file::SnapshotFile;
use raftflow_store::types::{Snapshot, Vote};
use raftflow_store::{codec, NodeId, NodeInfo, TypeConfig};
use serde::de::DeserializeOwned;
use tonic::transport::Channel;

use crate::raft_wire::{self, Reply};

/// gRPC messages may carry snapshot chunks and large batches.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
/// Entries per AppendEntries (openraft's `max_payload_entries`).
pub const MAX_ENTRIES_PER_APPEND: u64 = 48;
/// How long a leader sends one AppendEntries at a time to a peer that
/// refused a stream before it tries a stream again.
const STREAM_RETRY: Duration = Duration::from_secs(30);
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
    pub clock: Arc<crate::clock::Clock>,
    /// Where the peers' clocks, read from their replies, are kept.
    pub peer_clocks: Arc<crate::peer_clocks::PeerClocks>,
    /// Plaintext, or mutual TLS checking each peer's node id (tls/).
    pub security: crate::tls::Security,
    /// How long a streamed append may wait for its reply before the stream
    /// counts as broken (a paused or cut-off follower sends no reset).
    pub stream_reply_timeout: Duration,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &NodeInfo) -> PeerClient {
        PeerClient::new(target, &node.raft_addr, self)
    }
}

pub struct PeerClient {
    pub(crate) target: NodeId,
    addr: String,
    client: Option<RaftServiceClient<Channel>>,
    pub(crate) clock: Arc<crate::clock::Clock>,
    pub(crate) peer_clocks: Arc<crate::peer_clocks::PeerClocks>,
    /// When the peer last answered that it has no StreamAppend (an older
    /// release during a rolling upgrade): appends then go one at a time,
    /// and streaming is tried again after `STREAM_RETRY` (the peer may
    /// have been upgraded meanwhile).
    pub(crate) streams_refused_at: Option<std::time::Instant>,
    pub(crate) stream_reply_timeout: Duration,
}

pub(crate) type Rpc<T> = Result<T, RPCError<TypeConfig>>;

pub(crate) fn unreachable(e: &(impl std::error::Error + 'static)) -> RPCError<TypeConfig> {
    RPCError::Unreachable(Unreachable::new(e))
}

pub(crate) fn network_error(e: &(impl std::error::Error + 'static)) -> RPCError<TypeConfig> {
    RPCError::Network(NetworkError::new(e))
}

/// A transport status as openraft should weigh it: a peer that cannot be
/// reached is backed off from; anything else is a network error.
pub(crate) fn status_error(status: &tonic::Status) -> RPCError<TypeConfig> {
    match status.code() {
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => {
            unreachable(status)
        }
        _ => network_error(status),
    }
}

impl PeerClient {
    fn new(target: NodeId, addr: &str, network: &Network) -> Self {
        let dial =
            crate::tls::peer_endpoint(&network.security, target, addr, Duration::from_millis(500));
        let client = dial.map(|dial| {
            RaftServiceClient::new(dial.lazy())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES)
        });
        Self {
            target,
            addr: addr.to_string(),
            client,
            clock: network.clock.clone(),
            peer_clocks: network.peer_clocks.clone(),
            streams_refused_at: None,
            stream_reply_timeout: network.stream_reply_timeout,
        }
    }

    /// A handle on the peer's Raft service (tonic clients share one channel).
    pub(crate) fn client(&self) -> Rpc<RaftServiceClient<Channel>> {
        self.client.clone().ok_or_else(|| {
            let e = std::io::Error::other(format!("invalid peer address {}", self.addr));
            unreachable(&e)
        })
    }

    /// Records the peer's clock from a reply sent at `sent_ms` (this node's).
    pub(crate) fn note_peer_clock(&self, peer_ms: Option<u64>, sent_ms: u64) {
        if let Some(peer_ms) = peer_ms.filter(|ms| *ms > 0) {
            let offset =
                crate::peer_clocks::round_trip_offset(peer_ms, sent_ms, self.clock.now_ms());
            self.peer_clocks.record(self.target, offset);
        }
    }

    /// One unary call: `payload` out, the reply's payload back.
    pub(crate) async fn call(
        &mut self,
        kind: RpcKind,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> Rpc<Vec<u8>> {
        let mut client = self.client()?;
        let mut request = tonic::Request::new(RaftRequest {
            target: self.target,
            payload,
            sent_ms: 0,
        });
        request.set_timeout(timeout);
        crate::clock::stamp(&mut request, &self.clock);
        let sent_ms = self.clock.now_ms();
        let reply = match kind {
            RpcKind::Append => client.append_entries(request).await,
            RpcKind::Vote => client.vote(request).await,
            RpcKind::Snapshot => client.install_snapshot(request).await,
            RpcKind::Transfer => client.transfer_leader(request).await,
        };
        let reply = reply.map_err(|status| status_error(&status))?;
        self.note_peer_clock(crate::clock::replied_at(&reply), sent_ms);
        Ok(reply.into_inner().payload)
    }
}

impl PeerClient {
    /// One unary call with an encoded request; its reply opened.
    pub(crate) async fn unary<T: DeserializeOwned>(
        &mut self,
        kind: RpcKind,
        encoded: Result<Vec<u8>, raftflow_store::StoreError>,
        timeout: Duration,
    ) -> Rpc<T> {
        let payload = encoded.map_err(|e| network_error(&e))?;
        let reply = self.call(kind, payload, timeout).await?;
        open_reply(&reply)
    }
}

/// A reply's payload: the response, or the peer's Raft error (a network
/// error here: openraft 0.10's network calls carry no remote API errors).
pub(crate) fn open_reply<T: DeserializeOwned>(payload: &[u8]) -> Rpc<T> {
    let reply: Reply<T> = codec::decode(payload).map_err(|e| network_error(&e))?;
    reply.map_err(|e| network_error(&e))
}

#[derive(Clone, Copy)]
pub(crate) enum RpcKind {
    Append,
    Vote,
    Snapshot,
    Transfer,
}

impl RaftNetworkV2<TypeConfig> for PeerClient {
    type SnapshotData = SnapshotFile;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Rpc<AppendEntriesResponse<TypeConfig>> {
        self.unary(RpcKind::Append, codec::encode(&rpc), option.hard_ttl())
            .await
    }

    fn stream_append<'s, S>(
        &'s mut self,
        input: S,
        option: RPCOption,
    ) -> BoxFuture<'s, Rpc<BoxStream<'s, Rpc<StreamAppendResult<TypeConfig>>>>>
    where
        S: Stream<Item = AppendEntriesRequest<TypeConfig>> + OptionalSend + Unpin + 'static,
    {
        let refused = self.streams_refused_at;
        if refused.is_none_or(|at| at.elapsed() >= STREAM_RETRY) {
            Box::pin(self.streamed(input))
        } else {
            openraft::network::stream_append_sequential(self, input, option)
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Rpc<VoteResponse<TypeConfig>> {
        let payload = raft_wire::encode_vote(&rpc);
        self.unary(RpcKind::Vote, payload, option.hard_ttl()).await
    }

    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Rpc<TransferLeaderResponse<TypeConfig>> {
        self.unary(RpcKind::Transfer, codec::encode(&req), option.hard_ttl())
            .await
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl std::future::Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        self.send_snapshot(vote, snapshot, cancel, option).await
    }
}
