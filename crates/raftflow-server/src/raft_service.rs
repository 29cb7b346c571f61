//! The Raft transport, server side: decodes openraft RPCs and hands them to
//! the local Raft instance.

use raftflow_proto::v1::raft_service_server::RaftService;
use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use openraft::raft::{AppendEntriesResponse, InstallSnapshotRequest};
use raftflow_proto::v1::{
    AttachBeat, AttachRequest, PreVoteReply, PreVoteRequest, RaftReply, RaftRequest,
};
use raftflow_store::{codec, NodeId, TypeConfig};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::watch;
use tonic::{Request, Response, Status};

use crate::elector::Contact;

pub type Raft = openraft::Raft<TypeConfig>;

pub struct RaftServiceImpl {
    id: NodeId,
    raft: Raft,
    contact: Arc<Contact>,
    stopped: watch::Receiver<bool>,
}

impl RaftServiceImpl {
    pub fn new(
        id: NodeId,
        raft: Raft,
        contact: Arc<Contact>,
        stopped: watch::Receiver<bool>,
    ) -> Self {
        Self {
            id,
            raft,
            contact,
            stopped,
        }
    }

    /// Refuses requests meant for another node: a stale address book must
    /// never make a leader replicate to a stranger, or to itself.
    fn check_target(&self, target: NodeId) -> Result<(), Status> {
        if target != self.id {
            return Err(Status::failed_precondition(format!(
                "this is node {}, not node {target}",
                self.id
            )));
        }
        Ok(())
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
    Ok(Response::new(RaftReply { payload }))
}

#[tonic::async_trait]
impl RaftService for RaftServiceImpl {
    async fn append_entries(
        &self,
        request: Request<RaftRequest>,
    ) -> Result<Response<RaftReply>, Status> {
        let rpc = self.open(request)?;
        let result = self.raft.append_entries(rpc).await;
        // A deposed leader that still sends is refused with HigherVote; it
        // must not keep this follower from standing.
        if !matches!(result, Ok(AppendEntriesResponse::HigherVote(_)) | Err(_)) {
            self.contact.touch();
        }
        reply(&result)
    }

    async fn vote(&self, request: Request<RaftRequest>) -> Result<Response<RaftReply>, Status> {
        let rpc: openraft::raft::VoteRequest<NodeId> = self.open(request)?;
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
        reply(&result)
    }

    async fn install_snapshot(
        &self,
        request: Request<RaftRequest>,
    ) -> Result<Response<RaftReply>, Status> {
        let rpc: InstallSnapshotRequest<TypeConfig> = self.open(request)?;
        let sender = rpc.vote;
        let result = self.raft.install_snapshot(rpc).await;
        if result.as_ref().is_ok_and(|r| r.vote == sender) {
            self.contact.touch();
        }
        reply(&result)
    }

    async fn pre_vote(
        &self,
        request: Request<PreVoteRequest>,
    ) -> Result<Response<PreVoteReply>, Status> {
        self.check_target(request.into_inner().target)?;
        let leads = self.raft.metrics().borrow().state == openraft::ServerState::Leader;
        let (supports, silence) = self.contact.supports_election();
        Ok(Response::new(PreVoteReply {
            granted: supports && !leads,
            silence_ms: silence.as_millis() as u64,
        }))
    }

    type AttachStream = Pin<Box<dyn Stream<Item = Result<AttachBeat, Status>> + Send>>;

    async fn attach(
        &self,
        request: Request<AttachRequest>,
    ) -> Result<Response<Self::AttachStream>, Status> {
        self.check_target(request.into_inner().target)?;
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
