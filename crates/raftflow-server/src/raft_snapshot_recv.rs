//! Receiving a snapshot, follower side: the chunks of one transfer are
//! written, in order, to a receive file in the snapshot directory; the last
//! one hands the file to openraft, which installs it (the store then
//! verifies and streams it into the tables, snapshots.rs).
//!
//! A chunk at offset 0 starts a new transfer (abandoning any other); a
//! chunk that does not continue the transfer under way is refused, and the
//! leader starts over.

use raftflow_store::types::Snapshot;
use raftflow_store::{snapshot_file::SnapshotFile, StateReader};
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;
use tonic::Status;

use crate::raft_service::Raft;
use crate::raft_wire::{Reply, SnapshotAck, SnapshotChunk};

struct Receiving {
    snapshot_id: String,
    file: SnapshotFile,
    received_bytes: u64,
}

pub(crate) struct SnapshotInbox {
    reader: StateReader,
    current: Mutex<Option<Receiving>>,
}

fn storage(what: &str, e: impl std::fmt::Display) -> Status {
    Status::internal(format!("receiving a snapshot: {what}: {e}"))
}

impl SnapshotInbox {
    pub fn new(reader: StateReader) -> Self {
        Self {
            reader,
            current: Mutex::new(None),
        }
    }

    /// Takes one chunk; the last one installs the snapshot and answers with
    /// this node's vote after it.
    pub async fn receive(
        &self,
        raft: &Raft,
        chunk: SnapshotChunk,
    ) -> Result<Reply<SnapshotAck>, Status> {
        let mut current = self.current.lock().await;
        if chunk.offset == 0 {
            let file = self
                .reader
                .begin_receiving_snapshot()
                .await
                .map_err(|e| storage("open", e))?;
            *current = Some(Receiving {
                snapshot_id: chunk.snapshot_id.clone(),
                file,
                received_bytes: 0,
            });
        }
        let receiving = current
            .as_mut()
            .filter(|r| r.snapshot_id == chunk.snapshot_id && r.received_bytes == chunk.offset)
            .ok_or_else(|| {
                Status::failed_precondition(format!(
                    "snapshot {} chunk at offset {} does not continue the transfer under way",
                    chunk.snapshot_id, chunk.offset
                ))
            })?;
        receiving
            .file
            .write_all(&chunk.data)
            .await
            .map_err(|e| storage("write", e))?;
        receiving.received_bytes += chunk.data.len() as u64;
        if !chunk.done {
            return Ok(Ok(SnapshotAck { vote: chunk.vote }));
        }
        let mut done = current.take().expect("a transfer under way");
        done.file.flush().await.map_err(|e| storage("flush", e))?;
        let snapshot = Snapshot {
            meta: chunk.meta(),
            snapshot: done.file,
        };
        let installed = raft.install_full_snapshot(chunk.vote, snapshot).await;
        Ok(installed
            .map(|r| SnapshotAck { vote: r.vote })
            .map_err(Into::into))
    }
}
