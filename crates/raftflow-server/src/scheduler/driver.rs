//! The leader's driver: takes over when this node is elected (barrier,
//! `BeginEpoch`, queues rebuilt from the applied tables), then keeps the
//! queues fresh from apply's effects, fires due timers and purges old
//! executions, until leadership or the quorum is lost.

use crate::raft_service::WatchReceiver as _;
use std::time::Duration;

use openraft::ServerState;
use raftflow_store::workflow::reads;
use raftflow_store::{Command, CommandResult};

use super::Queues;
use crate::error::{ApiError, WriteError};
use crate::node::NodeContext;

fn is_leader(ctx: &NodeContext) -> bool {
    let m = ctx.raft.metrics().borrow_watched().clone();
    m.state == ServerState::Leader && m.current_leader == Some(ctx.id)
}

/// Runs for the life of the node: drives while this node leads.
pub async fn run(ctx: NodeContext) {
    let mut metrics = ctx.raft.metrics();
    loop {
        if is_leader(&ctx) {
            let result = drive(&ctx).await;
            ctx.scheduler.stop();
            ctx.schedules.stop();
            ctx.reader.unsubscribe_effects();
            if let Err(e) = result {
                // Still leader but the takeover or the quorum check failed:
                // try again shortly rather than wait for a metrics change
                // that an idle, stable cluster may never produce.
                tracing::warn!(node = ctx.id, "leader driver stopped: {e}; retrying");
                if ctx.raft.metrics().borrow_watched().state == ServerState::Shutdown {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        }
        if metrics.changed().await.is_err() {
            return; // Raft shut down
        }
    }
}

async fn drive(ctx: &NodeContext) -> Result<(), ApiError> {
    let delay_ms = ctx.config.fault_injection.takeover_delay_ms();
    if delay_ms > 0 {
        let term = ctx.raft.metrics().borrow_watched().current_term;
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        // Deposed meanwhile (and perhaps elected again): this takeover
        // belongs to a term that is over; the next one waits its own delay.
        if !is_leader(ctx) || ctx.raft.metrics().borrow_watched().current_term != term {
            return Ok(());
        }
    }
    // A leader may be one restarted with a wrong clock, that took its
    // leadership back without a vote: it stamps nothing until its clock
    // agrees with a majority (clock_guard.rs).
    let judged = Duration::from_millis(ctx.config.raft.election_timeout_max_ms);
    ctx.clock_gate.opened(judged).await?;
    crate::cluster_service::linearizable_barrier(ctx).await?;
    // Stamps are held to the time elapsed since this takeover (log_clock.rs).
    ctx.log_clock.reanchor();
    let mut effects = ctx.reader.subscribe_effects();
    let epoch = match ctx
        .proposer
        .propose(Command::BeginEpoch {
            leader: ctx.id,
            now_ms: ctx.stamp_ms(),
        })
        .await?
    {
        CommandResult::Epoch { epoch } => epoch,
        other => return Err(ApiError::Internal(format!("BeginEpoch answered {other:?}"))),
    };
    let reader = ctx.reader.clone();
    let (tasks, timers, schedules) = tokio::task::spawn_blocking(move || {
        Ok::<_, raftflow_store::StoreError>((
            reads::open_tasks(reader.db())?,
            reads::timers(reader.db())?,
            raftflow_store::schedules::list(reader.db(), "", usize::MAX)?,
        ))
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    {
        let mut q = ctx.scheduler.lock();
        *q = Queues {
            epoch: Some(epoch),
            ..Queues::default()
        };
        // Ready since before this leader: the time its command was proposed.
        tasks.into_iter().for_each(|t| {
            let ready_at_us = t.scheduled_ms * 1000;
            q.add_task(t, ready_at_us)
        });
        q.timers
            .extend(timers.into_iter().map(|(id, timer, at)| (at, id, timer)));
    }
    ctx.scheduler.changed.notify_waiters();
    ctx.schedules.take_over(&schedules);
    tokio::spawn(crate::schedules::runner::run(ctx.clone(), epoch));
    tokio::spawn(crate::http_tasks::run(ctx.clone(), epoch));
    tokio::spawn(crate::subscriptions::deliver::run(ctx.clone(), epoch));
    tokio::spawn(crate::upgrade::raise_on_new_cluster(ctx.clone(), epoch));
    let named = ctx.clone();
    tokio::spawn(async move { crate::upgrade::ensure_cluster_id(&named).await });
    tokio::spawn(crate::acl_service::bootstrap_from_config(
        ctx.clone(),
        epoch,
    ));
    tracing::info!(
        node = ctx.id,
        term = ctx.raft.metrics().borrow_watched().current_term,
        epoch,
        "leading: dispatching tasks and firing timers"
    );
    let quorum_limit_ms = ctx.config.raft.election_timeout_max_ms;
    let mut metrics = ctx.raft.metrics();
    // Intervals on the monotonic clock: a stepped wall clock must neither
    // stall nor hurry them.
    let mut last_purge: Option<std::time::Instant> = None;
    let mut last_sweep = std::time::Instant::now();
    loop {
        let next_timer = ctx.scheduler.lock().timers.first().map(|t| t.0);
        let sleep_ms = next_timer.map_or(100, |at| at.saturating_sub(ctx.log_now_ms()).min(100));
        tokio::select! {
            batch = effects.recv() => match batch {
                Some(batch) => {
                    ctx.schedules.absorb(&batch.effects);
                    ctx.outbox.absorb(&batch.effects);
                    ctx.telemetry.absorb(&batch.effects);
                    ctx.scheduler.apply_effects(batch)
                }
                None => return Ok(()),
            },
            changed = metrics.changed() => {
                if changed.is_err() || !is_leader(ctx) {
                    return Ok(());
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(sleep_ms)) => {}
        }
        // A leader cut off from its quorum must stop handing out work at once.
        if millis_since_quorum_ack(ctx).is_some_and(|ms| ms > quorum_limit_ms) {
            return Err(ApiError::Write(WriteError::Timeout {
                timeout_ms: quorum_limit_ms,
            }));
        }
        fire_due_timers(ctx);
        if last_sweep.elapsed() > Duration::from_secs(1) {
            last_sweep = std::time::Instant::now();
            let stale_us = ctx.clock.now_us().saturating_sub(60_000_000);
            ctx.scheduler
                .lock()
                .left_ready_at
                .retain(|_, at| *at > stale_us);
        }
        if last_purge.is_none_or(|at| at.elapsed() > Duration::from_secs(60)) {
            last_purge = Some(std::time::Instant::now());
            // In log time: the stamps the executions finished at.
            let retention_ms = ctx
                .config
                .scheduler
                .retention_hours
                .saturating_mul(3_600_000);
            let before_ms = ctx.stamp_ms().saturating_sub(retention_ms);
            let proposer = ctx.proposer.clone();
            tokio::spawn(async move {
                proposer
                    .propose(Command::PurgeFinished {
                        before_ms,
                        limit: 1000,
                    })
                    .await
            });
        }
    }
}

/// Timers due at once fire in the order of their deadlines, in one entry
/// per chunk, chunks one after another: after an outage, a task's heartbeat
/// deadline and its timeout may both be due, and the earlier one decides.
fn fire_due_timers(ctx: &NodeContext) {
    const CHUNK: usize = 256;
    let now = ctx.stamp_ms();
    let due: Vec<(u64, String, u64)> = {
        let mut q = ctx.scheduler.lock();
        let mut due = Vec::new();
        while q.timers.first().is_some_and(|t| t.0 <= now) {
            due.push(q.timers.pop_first().expect("checked"));
        }
        due
    };
    if due.is_empty() {
        return;
    }
    let ctx = ctx.clone();
    tokio::spawn(async move {
        for (n, chunk) in due.chunks(CHUNK).enumerate() {
            let commands = chunk
                .iter()
                .map(|(_, execution_id, timer)| Command::TimerFired {
                    execution_id: execution_id.clone(),
                    timer: *timer,
                    now_ms: ctx.stamp_ms(),
                    seed: rand::random(),
                })
                .collect();
            if ctx.proposer.propose_together(commands).await.is_err() {
                // Outcome unknown: this chunk and the later ones go back,
                // still in order; a repeat is refused as stale.
                let mut q = ctx.scheduler.lock();
                if q.epoch.is_some() {
                    q.timers.extend(due[n * CHUNK..].iter().cloned());
                }
                return;
            }
        }
    });
}

/// How long ago a quorum last acknowledged this leader, read against the
/// clock now (metrics are published only when something changes).
fn millis_since_quorum_ack(ctx: &NodeContext) -> Option<u64> {
    use openraft::Instant as _;
    let acked = ctx.raft.metrics().borrow_watched().last_quorum_acked?;
    Some(acked.elapsed().as_millis() as u64)
}
