//! Taking a backup: `SaveSnapshot`'s header and content stream.

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
