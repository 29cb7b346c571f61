//! The leader's proposer: gathers concurrent commands into one log entry.
//!
//! openraft 0.9 appends and fsyncs every `client_write` on its own, so one
//! command per entry would cap throughput at one fsync per command. Callers
//! hand commands to one queue; a loop drains whatever has accumulated into a
//! single `Envelope`, and a few envelopes are in flight at once. Each caller
//! still receives its own result, in its own command's slot.
//!
//! ```text
//!  caller ─┐                        ┌─ client_write(Envelope[c1..cn]) ─▶ Raft
//!  caller ─┼─▶ queue ─▶ drain ≤ max ┤   (≤ IN_FLIGHT at once, each with a deadline)
//!  caller ─┘                        └─ results[i] ─▶ caller i
//! ```

use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use raftflow_store::{Command, CommandResult, Envelope};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::error::WriteError;
use crate::raft_service::Raft;

const QUEUE_CAPACITY: usize = 16 * 1024;
const IN_FLIGHT: usize = 4;

struct Proposal {
    command: Command,
    reply: oneshot::Sender<Result<CommandResult, WriteError>>,
}

#[derive(Clone)]
pub struct Proposer {
    queue: mpsc::Sender<Proposal>,
}

/// Observed batch sizes, for metrics and benchmarks.
#[derive(Debug, Default)]
pub struct BatchStats {
    pub entries: std::sync::atomic::AtomicU64,
    pub commands: std::sync::atomic::AtomicU64,
}

impl Proposer {
    pub fn spawn(raft: Raft, max_batch: usize, timeout: Duration, stats: Arc<BatchStats>) -> Self {
        assert!(max_batch > 0, "max_batch must be positive");
        let (queue, rx) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(run(raft, rx, max_batch, timeout, stats));
        Self { queue }
    }

    /// Replicates `command` and returns its result once it is committed and
    /// applied on this node. A timeout means the outcome is unknown: the entry
    /// may still commit later.
    pub async fn propose(&self, command: Command) -> Result<CommandResult, WriteError> {
        let (reply, rx) = oneshot::channel();
        self.queue
            .send(Proposal { command, reply })
            .await
            .map_err(|_| WriteError::ShuttingDown)?;
        rx.await.map_err(|_| WriteError::ShuttingDown)?
    }
}

async fn run(
    raft: Raft,
    mut rx: mpsc::Receiver<Proposal>,
    max_batch: usize,
    timeout: Duration,
    stats: Arc<BatchStats>,
) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        // Wait for a free slot before draining: commands that arrive while all
        // slots are busy join this batch instead of queueing behind it.
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        stats
            .entries
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        stats
            .commands
            .fetch_add(batch.len() as u64, std::sync::atomic::Ordering::Relaxed);
        let raft = raft.clone();
        tokio::spawn(async move {
            write_batch(&raft, batch, timeout).await;
            drop(permit);
        });
    }
}

async fn write_batch(raft: &Raft, batch: Vec<Proposal>, timeout: Duration) {
    let (commands, replies): (Vec<_>, Vec<_>) =
        batch.into_iter().map(|p| (p.command, p.reply)).unzip();
    let outcome = tokio::time::timeout(timeout, raft.client_write(Envelope::V1(commands))).await;
    let results: Result<Vec<CommandResult>, WriteError> = match outcome {
        Err(_) => Err(WriteError::Timeout {
            timeout_ms: timeout.as_millis() as u64,
        }),
        Ok(Ok(response)) => Ok(response.data.results),
        Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
            Err(WriteError::NotLeader {
                leader_id: f.leader_id,
                leader_api_addr: f.leader_node.map(|n| n.api_addr),
            })
        }
        Ok(Err(e)) => Err(WriteError::Raft(e.to_string())),
    };
    match results {
        Ok(results) => {
            assert_eq!(results.len(), replies.len(), "one result per command");
            for (result, reply) in results.into_iter().zip(replies) {
                let _ = reply.send(Ok(result));
            }
        }
        Err(e) => {
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}
