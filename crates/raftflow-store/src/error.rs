//! Storage errors, and their translation into openraft's `StorageError`.

use openraft::{ErrorSubject, ErrorVerb};

use crate::types::{NodeId, StorageError};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("rocksdb: {0}")]
    Rocks(#[from] rocksdb::Error),
    #[error("encoding failed: {0}")]
    Encode(String),
    #[error("decoding failed: {0}")]
    Decode(String),
    #[error("storage task panicked or was cancelled: {0}")]
    Task(String),
    #[error("snapshot file {path}: {message}")]
    SnapshotFile { path: String, message: String },
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// Data written by a newer release than this binary (a store format or
    /// an apply version): the message says which, and what to run instead.
    #[error("{0}")]
    NewerFormat(String),
}

impl StoreError {
    pub fn into_raft(self, subject: ErrorSubject<NodeId>, verb: ErrorVerb) -> StorageError {
        openraft::StorageIOError::new(subject, verb, openraft::AnyError::new(&self)).into()
    }
}

/// Shorthands for the most common error subjects.
pub fn log_err(e: StoreError, verb: ErrorVerb) -> StorageError {
    e.into_raft(ErrorSubject::Logs, verb)
}

pub fn sm_err(e: StoreError, verb: ErrorVerb) -> StorageError {
    e.into_raft(ErrorSubject::StateMachine, verb)
}

pub fn vote_err(e: StoreError, verb: ErrorVerb) -> StorageError {
    e.into_raft(ErrorSubject::Vote, verb)
}

pub fn snap_err(e: StoreError, verb: ErrorVerb) -> StorageError {
    e.into_raft(ErrorSubject::Snapshot(None), verb)
}

/// Runs blocking RocksDB work off the async executor: on two cores a synced
/// write on a tokio worker would stall half of the node.
pub async fn blocking<T, F>(f: F) -> Result<T, StoreError>
where
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
}
