//! The Raft transport, server side: decodes openraft RPCs and hands them to
//! the local Raft instance.

use raftflow_proto::v1::raft_service_server::RaftService;
use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, TransferLeaderRequest};
use raftflow_proto::v1::{
    AttachBeat, AttachRequest, PreVoteReply, PreVoteRequest, RaftReply, RaftRequest,
};
use raftflow_store::{codec, NodeId, StateReader, TypeConfig};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::watch;
use tonic::{Request, Response, Status};

use crate::elector::Contact;

use crate::raft_snapshot_recv::SnapshotInbox;
use crate::raft_wire::{self, SnapshotChunk};

pub type Raft = openraft::Raft<TypeConfig, raftflow_store::StateMachineStore>;
/// What `Raft::metrics()` hands out; read it with the `WatchReceiver` trait.
pub type Metrics = openraft::alias::WatchReceiverOf<TypeConfig, openraft::RaftMetrics<TypeConfig>>;
pub use openraft::async_runtime::WatchReceiver;

pub struct RaftServiceImpl {
    pub(crate) id: NodeId,
    pub(crate) raft: Raft,
    pub(crate) contact: Arc<Contact>,
    pub(crate) stopped: watch::Receiver<bool>,
    pub(crate) clock: Arc<crate::clock::Clock>,
    max_clock_offset_ms: u64,
    pub(crate) peer_clocks: Arc<crate::peer_clocks::PeerClocks>,
    /// Over TLS: every RPC's claimed node id must be its certificate's.
    check_identity: bool,
    /// The snapshot being received, chunk by chunk.
    inbox: SnapshotInbox,
}

impl RaftServiceImpl {
    pub fn new(
        id: NodeId,
        raft: Raft,
        contact: Arc<Contact>,
        stopped: watch::Receiver<bool>,
        reader: StateReader,
    ) -> Self {
        Self {
            id,
            inbox: SnapshotInbox::new(reader),
            raft,
            contact,
            stopped,
            clock: Arc::default(),
            max_clock_offset_ms: crate::config::RaftTiming::default().max_clock_offset_ms,
            peer_clocks: Arc::default(),
            check_identity: false,
        }
    }

    /// Checks each caller's node certificate against the node id it claims
    /// (the port must run TLS with node certificates required).
    pub fn with_identity_check(mut self, check: bool) -> Self {
        self.check_identity = check;
        self
    }

    /// The node id of the caller's certificate; `None` on a plaintext port.
    pub(crate) fn caller<T>(&self, request: &Request<T>) -> Result<Option<NodeId>, Status> {
        if !self.check_identity {
            return Ok(None);
        }
        let certs = request.peer_certs().ok_or_else(|| {
            Status::unauthenticated("the Raft port admits nodes only: no client certificate")
        })?;
        let id = certs
            .first()
            .and_then(crate::tls::identity::node_id_of)
            .ok_or_else(|| {
                Status::unauthenticated("the Raft port admits node certificates only")
            })?;
        Ok(Some(id))
    }

    fn check_claim(
        &self,
        caller: Option<NodeId>,
        claimed: Option<NodeId>,
        what: &str,
    ) -> Result<(), Status> {
        check_claim(caller, claimed, what)
    }

    /// Judges candidates' clocks against `clock`.
    pub fn with_clock(
        mut self,
        (clock, peer_clocks): (
            Arc<crate::clock::Clock>,
            Arc<crate::peer_clocks::PeerClocks>,
        ),
        max_offset_ms: u64,
    ) -> Self {
        self.clock = clock;
        self.peer_clocks = peer_clocks;
        self.max_clock_offset_ms = max_offset_ms;
        self
    }

    /// A reply, carrying this node's clock.
    fn reply<T: Serialize>(&self, result: &T) -> Result<Response<RaftReply>, Status> {
        let mut response = reply(result)?;
        crate::clock::stamp_reply(&mut response, &self.clock);
        Ok(response)
    }

    /// Refuses a candidate whose clock (as it sent it) differs from this
    /// node's by more than the bound: a leader stamps the time on every
    /// timer it arms, so a wrong clock must not lead. Which of the two
    /// clocks is wrong, one voter cannot tell; a candidate needs a majority,
    /// so a winner's clock agrees with a majority's. No clock sent (an older
    /// node): no judgement.
    fn check_clock(&self, candidate: NodeId, sent_ms: Option<u64>) -> Result<(), String> {
        let Some(sent_ms) = sent_ms.filter(|ms| *ms > 0) else {
            return Ok(());
        };
        let offset_ms = self.clock.offset_of(sent_ms);
        if offset_ms.unsigned_abs() <= self.max_clock_offset_ms {
            return Ok(());
        }
        self.contact
            .skewed_candidates_refused
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let why = format!(
            "node {candidate}'s clock is {offset_ms} ms off this node's (node {}); the bound is raft.max_clock_offset_ms = {}",
            self.id, self.max_clock_offset_ms
        );
        tracing::warn!("refused a vote: {why}");
        Err(why)
    }

    fn check_target(&self, target: NodeId) -> Result<(), Status> {
        check_target(self.id, target)
    }

    fn open<T: DeserializeOwned>(&self, request: Request<RaftRequest>) -> Result<T, Status> {
        let request = request.into_inner();
        self.check_target(request.target)?;
        codec::decode(&request.payload)
            .map_err(|e| Status::invalid_argument(format!("raft payload: {e}")))
    }
}

fn reply<T: Serialize>(result: &T) -> Result<Response<RaftReply>, Status> {
    let payload =
        codec::encode(result).map_err(|e| Status::internal(format!("raft reply: {e}")))?;
    Ok(Response::new(RaftReply {
        payload,
        replied_ms: 0,
    }))
}

/// Refuses requests meant for another node: a stale address book must
/// never make a leader replicate to a stranger, or to itself.
pub(crate) fn check_target(id: NodeId, target: NodeId) -> Result<(), Status> {
    if target != id {
        return Err(Status::failed_precondition(format!(
            "this is node {id}, not node {target}"
        )));
    }
    Ok(())
}

/// Refuses an RPC whose claimed sender is not its certificate's node: a
/// node must not vote, append or install a snapshot in another's name.
pub(crate) fn check_claim(
    caller: Option<NodeId>,
    claimed: Option<NodeId>,
    what: &str,
) -> Result<(), Status> {
    let Some(caller) = caller else {
        return Ok(());
    };
    if claimed == Some(caller) {
        return Ok(());
    }
    let claimed = claimed.map_or("no node".to_string(), |c| format!("node {c}"));
    tracing::warn!(caller, "refused {what}: the caller's certificate is node {caller}'s, the request speaks for {claimed}");
    Err(Status::permission_denied(format!(
            "{what} refused: the caller's certificate is node {caller}'s, the request speaks for {claimed}"
        )))
}

#[tonic::async_trait]
impl RaftService for RaftServiceImpl {
    async fn append_entries(
        &self,
        request: Request<RaftRequest>,
    ) -> Result<Response<RaftReply>, Status> {
        let sent_ms = crate::clock::sent_at(&request);
        let caller = self.caller(&request)?;
        let rpc: AppendEntriesRequest<TypeConfig> = self.open(request)?;
        let leader = rpc.vote.leader_id.node_id;
        self.check_claim(caller, Some(leader), "AppendEntries")?;
        if let Some(sent_ms) = sent_ms {
            self.peer_clocks
                .record(leader, self.clock.offset_of(sent_ms));
        }
        let result = self.raft.append_entries(rpc).await;
        // A deposed leader that still sends is refused with HigherVote; it
        // must not keep this follower from standing.
        if !matches!(result, Ok(AppendEntriesResponse::HigherVote(_)) | Err(_)) {
            self.contact.touch();
        }
        self.reply(&result)
    }

    async fn vote(&self, request: Request<RaftRequest>) -> Result<Response<RaftReply>, Status> {
        let sent_ms = crate::clock::sent_at(&request);
        let caller = self.caller(&request)?;
        let request = request.into_inner();
        self.check_target(request.target)?;
        let rpc = raft_wire::decode_vote(&request.payload)
            .map_err(|e| Status::invalid_argument(format!("raft payload: {e}")))?;
        let candidate = rpc.vote.leader_id.node_id;
        self.check_claim(caller, Some(candidate), "Vote")?;
        // Refused before openraft sees it: the candidate's raised term then
        // reaches neither this node nor, through it, the current leader.
        self.check_clock(candidate, sent_ms)
            .map_err(Status::failed_precondition)?;
        let candidate_log = rpc.last_log_id;
        let result = self.raft.vote(rpc).await;
        match &result {
            // Like a heartbeat: a node that just voted gives the candidate
            // time to win before standing itself.
            Ok(r) if r.vote_granted => self.contact.touch(),
            // This node is the better candidate; the elector lets it stand.
            Ok(r) if r.last_log_id > candidate_log => self.contact.saw_worse_candidate(),
            _ => {}
        }
        self.reply(&result)
    }

    async fn install_snapshot(
        &self,
        request: Request<RaftRequest>,
    ) -> Result<Response<RaftReply>, Status> {
        let caller = self.caller(&request)?;
        let chunk: SnapshotChunk = self.open(request)?;
        self.check_claim(
            caller,
            Some(chunk.vote.leader_id.node_id),
            "InstallSnapshot",
        )?;
        let sender = chunk.vote;
        let result = self.inbox.receive(&self.raft, chunk).await?;
        if result.as_ref().is_ok_and(|ack| ack.vote == sender) {
            self.contact.touch();
        }
        self.reply(&result)
    }

    async fn pre_vote(
        &self,
        request: Request<PreVoteRequest>,
    ) -> Result<Response<PreVoteReply>, Status> {
        let caller = self.caller(&request)?;
        let request = request.into_inner();
        self.check_target(request.target)?;
        self.check_claim(caller, Some(request.candidate), "PreVote")?;
        let clock_ok = self
            .check_clock(request.candidate, Some(request.candidate_clock_ms))
            .is_ok();
        let leads = self.raft.is_leader();
        let (supports, silence) = self.contact.supports_election();
        Ok(Response::new(PreVoteReply {
            granted: supports && !leads && clock_ok,
            silence_ms: silence.as_millis() as u64,
        }))
    }

    async fn transfer_leader(
        &self,
        request: Request<RaftRequest>,
    ) -> Result<Response<RaftReply>, Status> {
        let caller = self.caller(&request)?;
        let rpc: TransferLeaderRequest<TypeConfig> = self.open(request)?;
        let from = rpc.from_leader().leader_id.node_id;
        self.check_claim(caller, Some(from), "TransferLeader")?;
        tracing::info!(from, to = rpc.to_node_id(), "leadership handed over");
        let result = self.raft.handle_transfer_leader(rpc).await;
        let result: raft_wire::Reply<_> = result.map_err(Into::into);
        self.reply(&result)
    }

    type StreamAppendStream = crate::raft_stream::Replies;

    async fn stream_append(
        &self,
        request: Request<tonic::Streaming<RaftRequest>>,
    ) -> Result<Response<Self::StreamAppendStream>, Status> {
        let caller = self.caller(&request)?;
        Ok(Response::new(
            self.stream_replies(caller, request.into_inner()),
        ))
    }

    type AttachStream = Pin<Box<dyn Stream<Item = Result<AttachBeat, Status>> + Send>>;

    async fn attach(
        &self,
        request: Request<AttachRequest>,
    ) -> Result<Response<Self::AttachStream>, Status> {
        let caller = self.caller(&request)?;
        let request = request.into_inner();
        self.check_target(request.target)?;
        // A follower from before the field sends 0: its certificate still
        // had to be a node's to get here.
        let claimed = (request.caller != 0).then_some(request.caller).or(caller);
        self.check_claim(caller, claimed, "Attach")?;
        // One beat, then silence: the stream ends only when this node stops
        // (or its process dies), which is what the follower listens for.
        let beat = futures::stream::iter([Ok(AttachBeat { node_id: self.id })]);
        let mut stopped = self.stopped.clone();
        let end = futures::stream::once(async move {
            let _ = stopped.wait_for(|s| *s).await;
        })
        .filter_map(|()| async { None });
        Ok(Response::new(Box::pin(beat.chain(end))))
    }
}
