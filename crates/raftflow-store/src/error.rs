//! Storage errors, and their translation into the `io::Error` openraft's
//! storage traits return.

use openraft::ErrorVerb;

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
    #[error("backup file {path}: {message}")]
    BackupFile { path: String, message: String },
    /// Not now, for a reason the message gives (one backup at a time).
    #[error("{0}")]
    Busy(String),
    /// A request this store cannot carry out as asked (a restore into a
    /// directory that is not empty): the message names the problem.
    #[error("{0}")]
    Refused(String),
}

/// What a failed store call was doing, for the `io::Error` openraft gets:
/// openraft 0.10's storage traits speak `std::io::Error` only.
fn io_error(e: StoreError, verb: ErrorVerb, subject: &str) -> std::io::Error {
    std::io::Error::other(format!("{verb:?} {subject}: {e}"))
}

/// Shorthands for the most common error subjects.
pub fn log_err(e: StoreError, verb: ErrorVerb) -> std::io::Error {
    io_error(e, verb, "logs")
}

pub fn sm_err(e: StoreError, verb: ErrorVerb) -> std::io::Error {
    io_error(e, verb, "state machine")
}

pub fn vote_err(e: StoreError, verb: ErrorVerb) -> std::io::Error {
    io_error(e, verb, "vote")
}

pub fn snap_err(e: StoreError, verb: ErrorVerb) -> std::io::Error {
    io_error(e, verb, "snapshot")
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
