//! Sending a snapshot to a follower: the file is read in chunks and each
//! chunk is one InstallSnapshot call, in the layout 0.9 used
//! (`raft_wire::SnapshotChunk`), so that a follower of either release can
//! receive it. Memory stays at one chunk, whatever the snapshot's size.

use openraft::errors::{NetworkError, RPCError, ReplicationClosed, StreamingError};
use openraft::network::RPCOption;
use openraft::raft::SnapshotResponse;
use openraft::OptionalSend;
use raftflow_store::types::{Snapshot, Vote};
use raftflow_store::{codec, TypeConfig};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::network::{PeerClient, RpcKind, MAX_MESSAGE_BYTES};
use crate::raft_wire::{SnapshotAck, SnapshotChunk};

/// Bytes per chunk unless openraft's `snapshot_max_chunk_size` says less.
const CHUNK_BYTES: usize = 4 << 20;

type SnapshotResult = Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>>;

fn streaming(e: RPCError<TypeConfig>) -> StreamingError<TypeConfig> {
    match e {
        RPCError::Timeout(t) => t.into(),
        RPCError::Unreachable(u) => u.into(),
        RPCError::Network(n) => n.into(),
        RPCError::RemoteError(r) => NetworkError::new(&r).into(),
    }
}

fn io(e: std::io::Error) -> StreamingError<TypeConfig> {
    NetworkError::new(&e).into()
}

/// Fills `buf` from `file` up to its capacity or the end of the file.
async fn read_chunk(
    file: &mut (impl AsyncReadExt + Unpin),
    buf: &mut Vec<u8>,
) -> std::io::Result<()> {
    buf.clear();
    let capacity = buf.capacity();
    while buf.len() < capacity {
        let read = file
            .take((capacity - buf.len()) as u64)
            .read_to_end(buf)
            .await?;
        if read == 0 {
            break;
        }
    }
    Ok(())
}

impl PeerClient {
    pub(crate) async fn send_snapshot(
        &mut self,
        vote: Vote,
        mut snapshot: Snapshot,
        cancel: impl std::future::Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> SnapshotResult {
        let chunk_bytes = option
            .snapshot_chunk_size()
            .unwrap_or(CHUNK_BYTES)
            .clamp(1, MAX_MESSAGE_BYTES / 2);
        let id = raftflow_store::snapshot_id(&snapshot.meta);
        let file = &mut snapshot.snapshot;
        file.seek(std::io::SeekFrom::Start(0)).await.map_err(io)?;
        let mut cancel = std::pin::pin!(cancel);
        let (mut offset, mut data) = (0u64, Vec::with_capacity(chunk_bytes));
        loop {
            read_chunk(file, &mut data).await.map_err(io)?;
            let done = data.len() < chunk_bytes;
            let chunk = SnapshotChunk {
                vote,
                last_log_id: snapshot.meta.last_log_id,
                last_membership: snapshot.meta.last_membership.clone(),
                snapshot_id: id.clone(),
                offset,
                data: std::mem::take(&mut data),
                done,
            };
            offset += chunk.data.len() as u64;
            let payload = codec::encode(&chunk);
            data = chunk.data;
            let ack: SnapshotAck = tokio::select! {
                closed = &mut cancel => return Err(StreamingError::Closed(closed)),
                reply = self.unary(RpcKind::Snapshot, payload, option.hard_ttl()) => reply,
            }
            .map_err(streaming)?;
            // A follower that knows a newer leader refuses the rest.
            if done || ack.vote != vote {
                return Ok(SnapshotResponse::new(ack.vote));
            }
        }
    }
}
