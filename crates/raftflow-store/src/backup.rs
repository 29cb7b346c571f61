//! Backups: a consistent copy of the replicated state taken from a running
//! node, checked and read back, and a new node's data directory built from it.
//!
//! ```text
//!  backup file = "raftflow-backup-v1\n"
//!                header_len:u32be  header (JSON, BackupHeader)
//!                content: a snapshot file (snapshot_file.rs), whose trailer
//!                         SHA-256 the header repeats as content_sha256
//! ```
//! The content is every pair of cf `sm` as of one applied index, the same
//! bytes a snapshot carries: state machines, executions and their history,
//! open tasks and timers, tokens, the apply version. A restore writes them
//! into an empty data directory with a new membership, so the restored nodes
//! form a new cluster (etcdutl's `snapshot restore`). The file holds secrets
//! (token hashes, the task-token key, the console's session key): whoever
//! writes one keeps it as carefully as the nodes' disks.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::db::Db;
use crate::error::StoreError;
use crate::snapshot_file::read_pairs;
use crate::types::NodeInfo;

pub use crate::backup_restore::{inspect, restore, Inspection, RestoreTarget, EPOCH_BUMP};

/// The backup file's layout; a reader refuses a newer one by name.
pub const BACKUP_FORMAT: u32 = 1;
const MAGIC: &[u8] = b"raftflow-backup-v1\n";
const MAX_HEADER_BYTES: u32 = 1 << 20;
const IO_BUFFER_BYTES: usize = 1 << 20;

/// What a backup says about itself, readable without its content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupHeader {
    pub format: u32,
    /// The raftflow release of the node that saved it.
    pub release: String,
    /// The node that saved it.
    pub node_id: u64,
    /// The last log entry the copy includes.
    pub index: u64,
    pub term: u64,
    /// When the node began the copy (its clock, ms since the Unix epoch).
    pub taken_ms: u64,
    pub apply_version: u32,
    /// The membership the copy was taken under (a restore replaces it).
    pub voters: BTreeSet<u64>,
    pub members: BTreeMap<u64, NodeInfo>,
    pub content_bytes: u64,
    /// Hex SHA-256 of the content: the snapshot trailer's own hash.
    pub content_sha256: String,
    /// The id of the cluster it was taken from; empty before apply
    /// version 12 named the cluster (and in files from before).
    #[serde(default)]
    pub cluster_id: String,
}

/// A backup's content written on the saving node, ready to be streamed;
/// removed when dropped. One at a time per node: each is a full copy on
/// the node's disk until it has been streamed.
pub struct SavedContent {
    pub path: PathBuf,
    pub header: BackupHeader,
    _slot: crate::db::BackupSlot,
}

impl Drop for SavedContent {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Copies the replicated state into `<data dir>/backups/` and returns the
/// file with its header. Writes go on meanwhile: the copy reads one RocksDB
/// snapshot, which only keeps older versions of changed keys alive.
pub fn save_content(db: &Db, node_id: u64, taken_ms: u64) -> Result<SavedContent, StoreError> {
    let slot = db.take_backup_slot().ok_or_else(|| {
        StoreError::Busy(
            "a backup is already being saved on this node; try again when it ends".into(),
        )
    })?;
    let dir = db.path().join("backups");
    // What an earlier save left behind (a crash, a client that went away).
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| file_err(&dir, e))?;
    let path = dir.join(format!("save-{taken_ms}.content"));
    let streamed = crate::snapshots::stream_tables(db, &path)?;
    let applied = streamed.applied.ok_or_else(|| {
        StoreError::Busy("this node has applied nothing yet: nothing to back up".into())
    })?;
    let membership = streamed.membership.membership();
    let header = BackupHeader {
        format: BACKUP_FORMAT,
        release: env!("CARGO_PKG_VERSION").into(),
        node_id,
        index: applied.index,
        term: applied.leader_id.term,
        taken_ms,
        apply_version: streamed.apply_version,
        voters: membership.voter_ids().collect(),
        members: membership.nodes().map(|(id, n)| (*id, n.clone())).collect(),
        content_bytes: std::fs::metadata(&path)
            .map_err(|e| file_err(&path, e))?
            .len(),
        content_sha256: hex(&streamed.sha256),
        cluster_id: crate::cluster_id::read(db)?.unwrap_or_default(),
    };
    Ok(SavedContent {
        path,
        header,
        _slot: slot,
    })
}

/// Writes what comes before the content: the magic and the header.
pub fn write_prefix(out: &mut impl Write, header: &BackupHeader) -> std::io::Result<()> {
    let json = serde_json::to_vec(header).map_err(std::io::Error::other)?;
    let len = u32::try_from(json.len()).map_err(std::io::Error::other)?;
    out.write_all(MAGIC)?;
    out.write_all(&len.to_be_bytes())?;
    out.write_all(&json)
}

/// Opens a backup file and reads its header; the reader is left at the content.
pub fn open(path: &Path) -> Result<(BackupHeader, BufReader<File>), StoreError> {
    let file = File::open(path).map_err(|e| file_err(path, e))?;
    let mut input = BufReader::with_capacity(IO_BUFFER_BYTES, file);
    let mut magic = vec![0u8; MAGIC.len()];
    input
        .read_exact(&mut magic)
        .map_err(|_| bad(path, "too short to be a raftflow backup"))?;
    if magic != MAGIC {
        return Err(bad(
            path,
            match magic.starts_with(b"raftflow-backup-v") {
                true => "written in a newer backup format than this binary reads (raftflow-backup-v1): use a newer raftflow",
                false => "not a raftflow backup (bad magic)",
            },
        ));
    }
    let mut len = [0u8; 4];
    input
        .read_exact(&mut len)
        .map_err(|_| bad(path, "truncated header"))?;
    let len = u32::from_be_bytes(len);
    if len > MAX_HEADER_BYTES {
        return Err(bad(path, "a header larger than 1 MiB"));
    }
    let mut json = vec![0u8; len as usize];
    input
        .read_exact(&mut json)
        .map_err(|_| bad(path, "truncated header"))?;
    let header: BackupHeader =
        serde_json::from_slice(&json).map_err(|e| bad(path, &format!("unreadable header: {e}")))?;
    if header.format != BACKUP_FORMAT {
        return Err(bad(
            path,
            &format!(
                "backup format {} (this binary reads {BACKUP_FORMAT})",
                header.format
            ),
        ));
    }
    Ok((header, input))
}

/// Calls `f` for every pair of the content, then checks the content's
/// trailer and that it is the content the header names.
pub fn for_each_pair(
    path: &Path,
    f: impl FnMut(&[u8], &[u8]) -> Result<(), StoreError>,
) -> Result<(BackupHeader, u64), StoreError> {
    let (header, input) = open(path)?;
    let (pairs, sha256) = read_pairs(input, path, f)?;
    if hex(&sha256) != header.content_sha256 {
        return Err(bad(
            path,
            "the content is not the one its header names (checksum differs)",
        ));
    }
    Ok((header, pairs))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn file_err(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::SnapshotFile {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn bad(path: &Path, message: &str) -> StoreError {
    StoreError::BackupFile {
        path: path.display().to_string(),
        message: message.into(),
    }
}

#[cfg(test)]
#[path = "backup_tests.rs"]
mod tests;
