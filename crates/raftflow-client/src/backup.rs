//! Operations calls: a backup (`SaveSnapshot`'s header and content
//! stream), removing a member and setting the voters.

use raftflow_proto::v1::cluster_service_client::ClusterServiceClient;
use raftflow_proto::v1::{BackupChunk, SaveSnapshotRequest};
use tonic::{Status, Streaming};

use crate::{Client, ClientError};

impl Client {
    /// Asks the leader for a backup: returns its header (JSON) and the stream
    /// of its content. `linearizable`: the copy holds every write
    /// acknowledged before the call.
    pub async fn save_snapshot(
        &self,
        linearizable: bool,
    ) -> Result<(String, Streaming<BackupChunk>), ClientError> {
        self.on_leader(true, |channel| async move {
            let request = SaveSnapshotRequest { linearizable };
            let mut stream = ClusterServiceClient::new(channel)
                .save_snapshot(request)
                .await?
                .into_inner();
            let first = stream
                .message()
                .await?
                .ok_or_else(|| Status::internal("the backup stream ended before its header"))?;
            Ok((first.header_json, stream))
        })
        .await
    }
}

impl Client {
    /// Removes member `id` (voter or learner); retried on the next leader
    /// when the leader asked is the one removed (it hands over first).
    pub async fn remove_peer(
        &self,
        id: u64,
    ) -> Result<raftflow_proto::v1::MembershipReply, ClientError> {
        self.on_leader(true, |channel| async move {
            let request = raftflow_proto::v1::RemovePeerRequest { id };
            ClusterServiceClient::new(channel)
                .remove_peer(request)
                .await
                .map(|r| r.into_inner())
        })
        .await
    }
}

impl Client {
    /// Sets the voters (each must already be a member); `retain` keeps the
    /// removed voters as learners. Not retried: a change is not idempotent.
    pub async fn change_membership(
        &self,
        voters: Vec<u64>,
        retain: bool,
    ) -> Result<raftflow_proto::v1::MembershipReply, ClientError> {
        self.on_leader(false, |channel| {
            let request = raftflow_proto::v1::ChangeMembershipRequest {
                voters: voters.clone(),
                retain,
            };
            async move {
                ClusterServiceClient::new(channel)
                    .change_membership(request)
                    .await
                    .map(|r| r.into_inner())
            }
        })
        .await
    }
}
