//! The Raft transport, server side: decodes openraft RPCs and hands them to
//! the local Raft instance.

use raftflow_proto::v1::raft_service_server::RaftService;
use raftflow_proto::v1::{RaftReply, RaftRequest};
use raftflow_store::{codec, NodeId, TypeConfig};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::{Request, Response, Status};

pub type Raft = openraft::Raft<TypeConfig>;

pub struct RaftServiceImpl {
    id: NodeId,
    raft: Raft,
}

impl RaftServiceImpl {
    pub fn new(id: NodeId, raft: Raft) -> Self {
        Self { id, raft }
    }

    /// Refuses requests meant for another node: a stale address book must
    /// never make a leader replicate to a stranger, or to itself.
    fn open<T: DeserializeOwned>(&self, request: Request<RaftRequest>) -> Result<T, Status> {
        let request = request.into_inner();
        if request.target != self.id {
            return Err(Status::failed_precondition(format!(
                "this is node {}, not node {}",
                self.id, request.target
            )));
        }
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
        reply(&self.raft.append_entries(rpc).await)
    }

    async fn vote(&self, request: Request<RaftRequest>) -> Result<Response<RaftReply>, Status> {
        let rpc = self.open(request)?;
        reply(&self.raft.vote(rpc).await)
    }

    async fn install_snapshot(
        &self,
        request: Request<RaftRequest>,
    ) -> Result<Response<RaftReply>, Status> {
        let rpc = self.open(request)?;
        reply(&self.raft.install_snapshot(rpc).await)
    }
}
