//! Errors of the node and their one mapping onto gRPC status codes.

use tonic::Status;

/// Metadata key carrying the leader's client address on a redirect.
pub const LEADER_ADDR_KEY: &str = "x-raftflow-leader";
/// Metadata key set when a write was refused because this node is not the
/// leader: the request had no effect and is safe to retry elsewhere.
pub const NOT_LEADER_KEY: &str = "x-raftflow-not-leader";

#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    #[error("this node is not the leader")]
    NotLeader {
        leader_id: Option<u64>,
        leader_api_addr: Option<String>,
    },
    #[error("no quorum committed the write within {timeout_ms} ms; it may still commit")]
    Timeout { timeout_ms: u64 },
    #[error("raft: {0}")]
    Raft(String),
    #[error("the node is shutting down")]
    ShuttingDown,
    /// The leader's clock is not (yet) agreed with a majority (clock_guard.rs).
    #[error("{0}; retry on another node")]
    ClockNotAgreed(&'static str),
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("already exists: {0}")]
    AlreadyExists(String),
    #[error("failed precondition: {0}")]
    FailedPrecondition(String),
    #[error("storage: {0}")]
    Storage(#[from] raftflow_store::StoreError),
    #[error("internal: {0}")]
    Internal(String),
    /// A task report whose attempt is over (Step Functions' TaskTimedOut).
    #[error("TaskTimedOut: {0}")]
    TaskTimedOut(String),
    /// A well-formed task token that names no task (Step Functions'
    /// TaskDoesNotExist).
    #[error("TaskDoesNotExist: {0}")]
    TaskDoesNotExist(String),
    /// A malformed task token (Step Functions' InvalidToken).
    #[error("InvalidToken: {0}")]
    InvalidToken(String),
    /// A bounded in-memory structure of a request path is full.
    #[error("resource exhausted: {0}")]
    ResourceExhausted(String),
}

impl ApiError {
    /// Turns a state-machine refusal into the API's error.
    pub fn rejected(code: raftflow_store::Reject, message: String) -> Self {
        use raftflow_store::Reject;
        match code {
            Reject::NotFound => ApiError::NotFound(message),
            Reject::AlreadyExists => ApiError::AlreadyExists(message),
            Reject::InvalidArgument => ApiError::InvalidArgument(message),
            Reject::FailedPrecondition => ApiError::FailedPrecondition(message),
            Reject::StaleToken => ApiError::TaskTimedOut(message),
            Reject::Internal => ApiError::Internal(message),
        }
    }
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Status {
        let message = error.to_string();
        match error {
            ApiError::Write(WriteError::NotLeader {
                leader_id,
                leader_api_addr,
            }) => {
                let text = match (&leader_id, &leader_api_addr) {
                    (Some(id), Some(addr)) => {
                        format!("not the leader; the leader is node {id} at {addr}")
                    }
                    _ => "not the leader, and no leader is known right now; retry shortly"
                        .to_string(),
                };
                let mut status = Status::unavailable(text);
                status.metadata_mut().insert(
                    NOT_LEADER_KEY,
                    tonic::metadata::MetadataValue::from_static("1"),
                );
                if let Some(addr) = leader_api_addr.and_then(|a| a.parse().ok()) {
                    status.metadata_mut().insert(LEADER_ADDR_KEY, addr);
                }
                status
            }
            ApiError::Write(WriteError::Timeout { .. })
            | ApiError::Write(WriteError::ShuttingDown)
            | ApiError::Write(WriteError::ClockNotAgreed(_)) => Status::unavailable(message),
            ApiError::Write(WriteError::Raft(_)) => Status::unavailable(message),
            ApiError::InvalidArgument(_) => Status::invalid_argument(message),
            ApiError::NotFound(_) | ApiError::TaskDoesNotExist(_) => Status::not_found(message),
            ApiError::AlreadyExists(_) => Status::already_exists(message),
            ApiError::FailedPrecondition(_) | ApiError::TaskTimedOut(_) => {
                Status::failed_precondition(message)
            }
            ApiError::InvalidToken(_) => Status::invalid_argument(message),
            ApiError::ResourceExhausted(_) => Status::resource_exhausted(message),
            ApiError::Storage(raftflow_store::StoreError::Busy(_)) => {
                Status::failed_precondition(message)
            }
            ApiError::Storage(_) | ApiError::Internal(_) => Status::internal(message),
        }
    }
}
