//! What every client and worker saw, as JSON lines (`history.jsonl`).
//!
//! The recorder keeps the records in memory too, so the checker reads the
//! same facts that the file holds. Times are milliseconds since the run began.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// What a call's caller knows about its effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The server acknowledged it.
    Ok,
    /// The server refused it definitely (it changed nothing).
    Refused,
    /// Timed out or lost in transit: it may or may not have happened.
    Unknown,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    Start {
        t_ms: u64,
        name: String,
        outcome: Outcome,
        execution_id: Option<String>,
        error: Option<String>,
    },
    Delivered {
        t_ms: u64,
        poller: usize,
        token: String,
        execution_id: String,
        activity: String,
        epoch: u64,
        /// The poll it answered (none: a poll without an id).
        #[serde(default)]
        poll_id: Option<String>,
    },
    /// A report of a task's outcome. `duplicate` marks a deliberate repeat
    /// of a report that was already acknowledged: it must be acknowledged as
    /// already applied (or, before apply version 4, refused), never applied
    /// again.
    Report {
        t_ms: u64,
        /// When the worker first sent it (its retries come later): what it
        /// reports was applied after this.
        #[serde(default)]
        sent_ms: u64,
        token: String,
        kind: String,
        duplicate: bool,
        outcome: Outcome,
        /// The server said this very report had already been applied.
        #[serde(default)]
        already_applied: bool,
        /// ... and gave back the next task its first try had taken.
        #[serde(default)]
        next_recovered: bool,
        error: Option<String>,
    },
    /// A worker "crashed" holding this task: it never reports it.
    Abandoned { t_ms: u64, token: String },
    Fault {
        t_ms: u64,
        kind: String,
        node: Option<u64>,
        phase: String,
        applied: bool,
        detail: String,
    },
    /// `node`, restarted with its clock `clock_ms` off, said it drove.
    SkewedLeader { t_ms: u64, node: u64, clock_ms: i64 },
    /// The first write committed after a fault that took the leader away.
    Failover {
        fault_t_ms: u64,
        kind: String,
        write_ms: u64,
    },
    Final {
        node: u64,
        applied_index: u64,
        digest: String,
    },
}

#[derive(Clone)]
pub struct Recorder {
    began: Instant,
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    file: std::io::BufWriter<std::fs::File>,
    records: Vec<Record>,
}

impl Recorder {
    pub fn create(path: &Path) -> std::io::Result<Self> {
        let file = std::io::BufWriter::new(std::fs::File::create(path)?);
        Ok(Self {
            began: Instant::now(),
            inner: Arc::new(Mutex::new(Inner {
                file,
                records: Vec::new(),
            })),
        })
    }

    pub fn now_ms(&self) -> u64 {
        self.began.elapsed().as_millis() as u64
    }

    pub fn record(&self, record: Record) {
        let mut inner = self.inner.lock().expect("recorder lock");
        let line = serde_json::to_string(&record).expect("records serialise");
        // A full disk must not stop the run; the in-memory copy is checked.
        let _ = writeln!(inner.file, "{line}");
        inner.records.push(record);
    }

    pub fn records(&self) -> Vec<Record> {
        let mut inner = self.inner.lock().expect("recorder lock");
        let _ = inner.file.flush();
        inner.records.clone()
    }
}

/// The attempt a token names: a worker token is `<attempt>@<epoch>`, a
/// callback token is the attempt alone.
pub fn attempt_of(token: &str) -> &str {
    token.split_once('@').map_or(token, |(attempt, _)| attempt)
}
