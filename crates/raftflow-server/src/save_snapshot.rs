//! `ClusterService.SaveSnapshot`: a backup streamed from this node while it
//! keeps serving (raftflow_store::backup has the file's layout).
//!
//! ```text
//!  [barrier] ─▶ blocking: copy cf sm from one RocksDB snapshot ─▶ <data>/backups/*.content
//!            ─▶ stream: header, then 1 MiB chunks ─▶ the file is removed when the stream ends
//! ```
//! The copy goes to the node's disk first so the header can carry the
//! content's checksum and size; the stream then reads it at the client's pace.

use std::pin::Pin;

use raftflow_proto::v1::BackupChunk;
use raftflow_store::backup;
use tokio::io::AsyncReadExt;
use tokio_stream::Stream;
use tonic::Status;

use crate::error::ApiError;
use crate::node::NodeContext;

pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<BackupChunk, Status>> + Send>>;

const CHUNK_BYTES: usize = 1 << 20;

pub async fn save(ctx: &NodeContext, linearizable: bool) -> Result<ChunkStream, ApiError> {
    if linearizable {
        crate::cluster_service::linearizable_barrier(ctx).await?;
    }
    let db = ctx.reader.db().clone();
    let (node_id, taken_ms) = (ctx.id, ctx.clock.now_ms());
    let saved = tokio::task::spawn_blocking(move || backup::save_content(&db, node_id, taken_ms))
        .await
        .map_err(|e| ApiError::Internal(format!("backup task: {e}")))??;
    let header = serde_json::to_string(&saved.header)
        .map_err(|e| ApiError::Internal(format!("backup header: {e}")))?;
    tracing::info!(
        node = node_id,
        index = saved.header.index,
        bytes = saved.header.content_bytes,
        "streaming a backup"
    );
    let file = tokio::fs::File::open(&saved.path)
        .await
        .map_err(|e| ApiError::Internal(format!("backup content: {e}")))?;
    // Dropping `saved` removes the copy, however the stream ends.
    let guard = saved;
    // A few chunks ahead of the client at most: memory stays bounded.
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        let _guard = guard;
        let first = BackupChunk {
            header_json: header,
            data: Vec::new(),
        };
        if tx.send(Ok(first)).await.is_ok() {
            send_content(file, &tx).await;
        }
    });
    Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)))
}

/// Sends the file in chunks until it ends, the client goes away or a read fails.
async fn send_content(
    mut file: tokio::fs::File,
    tx: &tokio::sync::mpsc::Sender<Result<BackupChunk, Status>>,
) {
    loop {
        let mut data = vec![0u8; CHUNK_BYTES];
        let n = match file.read(&mut data).await {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) => {
                let _ = tx
                    .send(Err(Status::internal(format!("backup content: {e}"))))
                    .await;
                return;
            }
        };
        data.truncate(n);
        let chunk = BackupChunk {
            header_json: String::new(),
            data,
        };
        if tx.send(Ok(chunk)).await.is_err() {
            return;
        }
    }
}
