//! Streamed replication, follower side: the requests of one stream go to
//! openraft in order and each gets its reply on the return stream, without
//! the leader waiting for one before it sends the next.
//!
//! Every request is checked as a unary AppendEntries is: meant for this
//! node, sent by the node whose certificate the stream came with. The first
//! that fails ends the stream with its refusal.

use std::pin::Pin;
use std::sync::{Arc, Mutex};

use futures::{Stream, StreamExt};
use openraft::raft::{AppendEntriesRequest, StreamAppendError};
use raftflow_proto::v1::{RaftReply, RaftRequest};
use raftflow_store::{codec, NodeId, TypeConfig};
use tonic::{Status, Streaming};

use crate::elector::Contact;
use crate::raft_service::{check_claim, check_target, RaftServiceImpl};

pub type Replies = Pin<Box<dyn Stream<Item = Result<RaftReply, Status>> + Send>>;

/// What admits each streamed request.
struct Door {
    id: NodeId,
    caller: Option<NodeId>,
    clock: Arc<crate::clock::Clock>,
    peer_clocks: Arc<crate::peer_clocks::PeerClocks>,
    refused: Arc<Mutex<Option<Status>>>,
}

impl Door {
    fn admit(
        &self,
        item: Result<RaftRequest, Status>,
    ) -> Result<AppendEntriesRequest<TypeConfig>, Status> {
        let request = item?;
        check_target(self.id, request.target)?;
        let rpc: AppendEntriesRequest<TypeConfig> = codec::decode(&request.payload)
            .map_err(|e| Status::invalid_argument(format!("raft payload: {e}")))?;
        let leader = rpc.vote.leader_id.node_id;
        check_claim(self.caller, Some(leader), "AppendEntries")?;
        if request.sent_ms > 0 {
            self.peer_clocks
                .record(leader, self.clock.offset_of(request.sent_ms));
        }
        Ok(rpc)
    }

    /// Ends the stream at the first request refused, keeping why.
    fn pass(&self, item: Result<RaftRequest, Status>) -> Option<AppendEntriesRequest<TypeConfig>> {
        match self.admit(item) {
            Ok(rpc) => Some(rpc),
            Err(status) => {
                *self.refused.lock().expect("refusal lock") = Some(status);
                None
            }
        }
    }
}

fn answer(
    contact: &Contact,
    clock: &crate::clock::Clock,
    result: openraft::raft::StreamAppendResult<TypeConfig>,
) -> Result<RaftReply, Status> {
    // A deposed leader that still sends is refused; it must not keep this
    // follower from standing.
    if !matches!(result, Err(StreamAppendError::HigherVote(_))) {
        contact.touch();
    }
    let payload =
        codec::encode(&result).map_err(|e| Status::internal(format!("raft reply: {e}")))?;
    Ok(RaftReply {
        payload,
        replied_ms: clock.now_ms(),
    })
}

async fn stopping(mut stopped: tokio::sync::watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}

impl RaftServiceImpl {
    pub(crate) fn stream_replies(
        &self,
        caller: Option<NodeId>,
        input: Streaming<RaftRequest>,
    ) -> Replies {
        let refused = Arc::new(Mutex::new(None));
        let door = Door {
            id: self.id,
            caller,
            clock: self.clock.clone(),
            peer_clocks: self.peer_clocks.clone(),
            refused: refused.clone(),
        };
        // Both halves end when this node stops: openraft reads the requests
        // in a task of its own, and while it holds them the connection stays
        // open and the server's graceful shutdown waits for it.
        let requests = input
            .scan(door, |door, item| futures::future::ready(door.pass(item)))
            .take_until(stopping(self.stopped.clone()));
        let (contact, clock) = (self.contact.clone(), self.clock.clone());
        let replies = self
            .raft
            .stream_append(requests)
            .map(move |result| match result {
                Ok(result) => answer(&contact, &clock, result),
                Err(fatal) => Err(Status::internal(format!("raft stopped: {fatal}"))),
            });
        let refusal =
            futures::stream::once(async move { refused.lock().expect("refusal lock").take() })
                .filter_map(|refusal| async move { refusal.map(Err) });
        Box::pin(
            replies
                .chain(refusal)
                .take_until(stopping(self.stopped.clone())),
        )
    }
}
