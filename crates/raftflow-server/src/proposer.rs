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
//!           (commands and ≤ 1 MiB)
//!  caller ─┘                        └─ results[i] ─▶ caller i
//! ```

use crate::raft_service::WatchReceiver as _;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use raftflow_store::{Command, CommandResult, Envelope};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::error::WriteError;
use crate::network::ENTRY_TARGET_BYTES;
use crate::raft_service::Raft;
use crate::scheduler::TAKEOVER_WAIT;

const QUEUE_CAPACITY: usize = 16 * 1024;
const IN_FLIGHT: usize = 4;

/// Commands that must share one log entry, in order, and their results.
struct Proposal {
    commands: Vec<Command>,
    reply: oneshot::Sender<Result<Applied, WriteError>>,
}

impl Proposal {
    fn size_bound(&self) -> usize {
        self.commands.iter().map(Command::size_bound).sum()
    }
}

/// What applying a proposal's commands returned, and when (µs since the Unix
/// epoch, this node's clock).
#[derive(Debug)]
pub struct Applied {
    pub results: Vec<CommandResult>,
    pub applied_at_us: u64,
}

#[derive(Clone)]
pub struct Proposer {
    queue: mpsc::Sender<Proposal>,
    raft: Raft,
    /// How long a write may wait for a new leader's clock judgement.
    timeout: Duration,
    clock_gate: Arc<crate::clock_guard::ClockGate>,
}

/// Observed batch sizes, for metrics and benchmarks.
#[derive(Debug, Default)]
pub struct BatchStats {
    pub entries: std::sync::atomic::AtomicU64,
    pub commands: std::sync::atomic::AtomicU64,
}

impl Proposer {
    pub fn spawn(
        raft: Raft,
        (max_batch, timeout): (usize, Duration),
        stats: Arc<BatchStats>,
        clock_gate: Arc<crate::clock_guard::ClockGate>,
    ) -> Self {
        assert!(max_batch > 0, "max_batch must be positive");
        let (queue, rx) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(run(raft.clone(), rx, max_batch, timeout, stats));
        Self {
            queue,
            raft,
            timeout,
            clock_gate,
        }
    }

    /// Replicates `command` and returns its result once it is committed and
    /// applied on this node. A timeout means the outcome is unknown: the entry
    /// may still commit later.
    pub async fn propose(&self, command: Command) -> Result<CommandResult, WriteError> {
        let mut applied = self.propose_together(vec![command]).await?;
        assert_eq!(applied.results.len(), 1, "one result per command");
        Ok(applied.results.remove(0))
    }

    /// Replicates `commands` in one log entry, adjacent and in this order, so
    /// that one commit carries them all (a report and the next dispatch).
    pub async fn propose_together(&self, commands: Vec<Command>) -> Result<Applied, WriteError> {
        assert!(!commands.is_empty(), "propose at least one command");
        // Every command carries a stamp from this node's clock.
        self.clock_gate.admit(&self.raft, self.timeout).await?;
        let (reply, rx) = oneshot::channel();
        self.queue
            .send(Proposal { commands, reply })
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
    // A proposal that would have made the last entry too large opens the next.
    let mut carried: Option<Proposal> = None;
    loop {
        let first = match carried.take() {
            Some(p) => p,
            None => match rx.recv().await {
                Some(p) => p,
                None => return,
            },
        };
        // Wait for a free slot before draining: commands that arrive while all
        // slots are busy join this batch instead of queueing behind it.
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut commands = first.commands.len();
        let mut bytes = first.size_bound();
        let mut batch = vec![first];
        while commands < max_batch {
            let Ok(p) = rx.try_recv() else {
                break;
            };
            let size = p.size_bound();
            if bytes + size > ENTRY_TARGET_BYTES {
                carried = Some(p);
                break;
            }
            commands += p.commands.len();
            bytes += size;
            batch.push(p);
        }
        stats
            .entries
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        stats
            .commands
            .fetch_add(commands as u64, std::sync::atomic::Ordering::Relaxed);
        let raft = raft.clone();
        tokio::spawn(async move {
            write_batch(&raft, batch, timeout).await;
            drop(permit);
        });
    }
}

async fn write_batch(raft: &Raft, batch: Vec<Proposal>, timeout: Duration) {
    let mut commands = Vec::new();
    let mut replies = Vec::with_capacity(batch.len());
    for proposal in batch {
        replies.push((proposal.commands.len(), proposal.reply));
        commands.extend(proposal.commands);
    }
    let write = async {
        // Mid-election no node takes writes and a follower knows nobody to
        // send them to: wait for the vote's outcome (briefly) instead of
        // answering "no leader", so that the caller is redirected, or
        // served here, as soon as there is a leader.
        if raft.metrics().borrow_watched().current_leader.is_none() {
            let mut metrics = raft.metrics();
            let elected = metrics.wait_until(|m| m.current_leader.is_some());
            let _ = tokio::time::timeout(TAKEOVER_WAIT, elected).await;
        }
        raft.client_write(Envelope::V1(commands)).await
    };
    let outcome = tokio::time::timeout(timeout, write).await;
    let results: Result<(Vec<CommandResult>, u64), WriteError> = match outcome {
        Err(_) => Err(WriteError::Timeout {
            timeout_ms: timeout.as_millis() as u64,
        }),
        Ok(Ok(response)) => Ok((response.data.results, response.data.applied_at_us)),
        // A discarded entry may have committed: as after a timeout, the
        // caller's retry is deduplicated by the command itself.
        Ok(Err(RaftError::APIError(
            ClientWriteError::ForwardToLeader(f) | ClientWriteError::LogEntryDiscarded(f),
        ))) => Err(WriteError::NotLeader {
            leader_id: f.leader_id,
            leader_api_addr: f.leader_node.map(|n| n.api_addr),
        }),
        Ok(Err(e)) => Err(WriteError::Raft(e.to_string())),
    };
    match results {
        Ok((results, applied_at_us)) => {
            let expected: usize = replies.iter().map(|(n, _)| n).sum();
            assert_eq!(results.len(), expected, "one result per command");
            let mut results = results.into_iter();
            for (n, reply) in replies {
                let results = results.by_ref().take(n).collect();
                let _ = reply.send(Ok(Applied {
                    results,
                    applied_at_us,
                }));
            }
        }
        Err(e) => {
            for (_, reply) in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}
