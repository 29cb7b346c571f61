//! The workflow tables in column family `sm`: record types and key layout.
//!
//! ```text
//!  m/<name>                      StateMachineMeta     latest version, deleted flag
//!  v/<name>/<version:010>        StateMachineVersion  immutable definition
//!  x/<execution>                 ExecutionRecord      status, input, output, times
//!  r/<execution>                 runtime (JSON)       the engine's state, while running
//!  e/<execution>/<event:020>     EventRecord          history
//!  l/<inverse seq:020>           execution id         newest-first listing
//!  t/<token>                     TaskEntry            open task attempts
//!  c/<token>                     ClosedAttempt        ended attempts (apply version 4 on)
//!  p/<poll id>                   token                the open attempt a poll holds (version 5 on)
//!  q/<token>                     poll id              the poll an open attempt went to (version 5 on)
//!  k/<withdrawal:020>            poll id              the last 10,000 withdrawn polls (version 5 on)
//!  withdrawals                   u64                  polls withdrawn so far (version 5 on)
//!  w/<execution>/<timer:020>     fire_at_ms           armed timers
//!  z/<execution>                 traceparent          the starting call's trace (version 22 on; traces.rs)
//!  epoch                         u64                  current leader epoch
//!  seq                           u64                  executions started so far
//! ```
//! Keys are ASCII; numbers are zero-padded so byte order is numeric order.

use raftflow_core::Status;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateMachineMeta {
    pub name: String,
    pub latest: u32,
    pub deleted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateMachineVersion {
    pub name: String,
    pub version: u32,
    pub definition: String,
    pub description: String,
    pub created_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionRecord {
    pub id: String,
    pub name: String,
    pub state_machine: String,
    pub version: u32,
    /// Stored as its text (`RUNNING`, …): the same bytes as release 0.1.0's
    /// `String`, so records, snapshots and digests are unchanged.
    #[serde(with = "status_text")]
    pub status: Status,
    pub input: String,
    pub output: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub start_ms: u64,
    pub stop_ms: Option<u64>,
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub id: u64,
    pub previous_id: u64,
    pub timestamp_ms: u64,
    pub kind: String,
    /// JSON text.
    pub details: String,
}

/// An open task attempt, as the leader's queues need it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskEntry {
    pub token: String,
    pub execution_id: String,
    pub activity: String,
    /// JSON text.
    pub input: String,
    pub attempt: u32,
    pub heartbeat_ms: Option<u64>,
    pub wait_for_token: bool,
    pub scheduled_ms: u64,
    /// Set once a leader recorded handing the task to a worker.
    pub dispatched: Option<Dispatch>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dispatch {
    pub epoch: u64,
    pub worker: String,
    pub at_ms: u64,
}

/// An attempt that ended, kept until its execution is purged, so that a
/// report repeated after its reply was lost can be told from a late or a
/// wrong one (apply version 4 on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedAttempt {
    /// The digest (`report_digest`) of the report that ended the attempt;
    /// `None` when a timeout, a stop or the end of its execution did.
    pub report: Option<[u8; 32]>,
}

/// What a worker reported, reduced to 32 bytes: the same report (same
/// kind, same text) gives the same digest.
pub fn report_digest(report: &Report<'_>) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    let parts: &[&str] = match report {
        Report::Completed { output } => &["completed", output],
        Report::Failed { error, cause } => &["failed", error, cause],
    };
    for part in parts {
        // Length-prefixed, so that no two reports share an encoding.
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part.as_bytes());
    }
    hash.finalize().into()
}

/// A worker's report on an attempt, as `report_digest` reads it.
#[derive(Debug, Clone, Copy)]
pub enum Report<'a> {
    Completed { output: &'a str },
    Failed { error: &'a str, cause: &'a str },
}

pub const KEY_EPOCH: &[u8] = b"epoch";
pub const KEY_SEQ: &[u8] = b"seq";
pub const KEY_WITHDRAWALS: &[u8] = b"withdrawals";

pub fn meta_key(name: &str) -> Vec<u8> {
    format!("m/{name}").into_bytes()
}

pub fn version_key(name: &str, version: u32) -> Vec<u8> {
    format!("v/{name}/{version:010}").into_bytes()
}

pub fn execution_key(id: &str) -> Vec<u8> {
    format!("x/{id}").into_bytes()
}

pub fn runtime_key(id: &str) -> Vec<u8> {
    format!("r/{id}").into_bytes()
}

pub fn event_prefix(id: &str) -> Vec<u8> {
    format!("e/{id}/").into_bytes()
}

pub fn event_key(id: &str, event: u64) -> Vec<u8> {
    format!("e/{id}/{event:020}").into_bytes()
}

pub fn list_key(seq: u64) -> Vec<u8> {
    format!("l/{:020}", u64::MAX - seq).into_bytes()
}

pub fn task_key(token: &str) -> Vec<u8> {
    format!("t/{token}").into_bytes()
}

pub fn closed_key(token: &str) -> Vec<u8> {
    format!("c/{token}").into_bytes()
}

/// Every closed attempt of an execution (tokens are `<execution>#<n>`).
pub fn closed_prefix(execution_id: &str) -> Vec<u8> {
    format!("c/{execution_id}#").into_bytes()
}

pub fn poll_key(poll_id: &str) -> Vec<u8> {
    format!("p/{poll_id}").into_bytes()
}

pub fn poll_of_key(token: &str) -> Vec<u8> {
    format!("q/{token}").into_bytes()
}

pub fn withdrawal_key(n: u64) -> Vec<u8> {
    format!("k/{n:020}").into_bytes()
}

pub fn timer_key(id: &str, timer: u64) -> Vec<u8> {
    format!("w/{id}/{timer:020}").into_bytes()
}

/// The execution id of a state machine's execution: `<state machine>:<name>`.
pub fn execution_id(state_machine: &str, name: &str) -> String {
    format!("{state_machine}:{name}")
}

/// The key just past every key that starts with `prefix`.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0xff; 64]
}

/// An execution status as its text, in any serde format.
mod status_text {
    use raftflow_core::Status;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(status: &Status, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(status.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Status, D::Error> {
        let text = String::deserialize(d)?;
        Status::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown execution status `{text}`")))
    }
}
