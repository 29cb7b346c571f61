//! The leader's driver: hands tasks to workers and fires timers.
//!
//! ```text
//!  metrics: became leader ──▶ barrier (ensure_linearizable) ──▶ subscribe to effects
//!      ──▶ commit BeginEpoch ──▶ rebuild queues + timers from the applied tables
//!      ──▶ serve: PollTask takes from the queues (TaskDispatched committed first),
//!                 due timers are proposed as TimerFired, effects keep both fresh
//!  lost leadership, or no quorum ack for an election timeout ──▶ stop at once, clear
//! ```
//! Every replica applies the same commands; only this driver acts on them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openraft::ServerState;
use raftflow_store::records::TaskEntry;
use raftflow_store::workflow::reads;
use raftflow_store::{Command, CommandResult, Effect};
use tokio::sync::Notify;

use crate::error::{ApiError, WriteError};
use crate::node::NodeContext;

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[derive(Default)]
struct Queues {
    /// The epoch this node leads in; `None` while it does not drive.
    epoch: Option<u64>,
    /// Per activity, oldest first: (scheduled_ms, token) → task.
    ready: BTreeMap<String, BTreeMap<(u64, String), TaskEntry>>,
    where_is: HashMap<String, (String, u64)>,
    timers: BTreeSet<(u64, String, u64)>,
}

impl Queues {
    fn add_task(&mut self, task: TaskEntry) {
        if task.dispatched.is_some() || self.where_is.contains_key(&task.token) {
            return;
        }
        self.where_is.insert(
            task.token.clone(),
            (task.activity.clone(), task.scheduled_ms),
        );
        self.ready
            .entry(task.activity.clone())
            .or_default()
            .insert((task.scheduled_ms, task.token.clone()), task);
    }

    fn remove_task(&mut self, token: &str) {
        if let Some((activity, at)) = self.where_is.remove(token) {
            if let Some(q) = self.ready.get_mut(&activity) {
                q.remove(&(at, token.to_string()));
            }
        }
    }

    /// The oldest ready task among `activities`.
    fn take(&mut self, activities: &[String]) -> Option<TaskEntry> {
        let (activity, key) = activities
            .iter()
            .filter_map(|a| {
                self.ready
                    .get(a)
                    .and_then(|q| q.keys().next().map(|k| (a.clone(), k.clone())))
            })
            .min_by(|a, b| a.1.cmp(&b.1))?;
        self.where_is.remove(&key.1);
        self.ready.get_mut(&activity)?.remove(&key)
    }
}

pub struct Scheduler {
    queues: Mutex<Queues>,
    changed: Notify,
}

pub struct Dispatched {
    pub task: TaskEntry,
    pub epoch: u64,
}

impl Scheduler {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            queues: Mutex::new(Queues::default()),
            changed: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queues> {
        self.queues.lock().expect("scheduler lock poisoned")
    }

    /// The epoch this node drives in; `None` while it does not.
    pub fn epoch(&self) -> Option<u64> {
        self.lock().epoch
    }

    /// Timers armed in the leader's queue (for metrics).
    pub fn timers_pending(&self) -> usize {
        self.lock().timers.len()
    }

    /// Tasks waiting per activity (for metrics and status).
    pub fn waiting(&self) -> BTreeMap<String, usize> {
        self.lock()
            .ready
            .iter()
            .map(|(a, q)| (a.clone(), q.len()))
            .collect()
    }

    /// Long-polls for a task. The dispatch is committed before it returns.
    pub async fn poll(
        &self,
        ctx: &NodeContext,
        activities: &[String],
        worker: &str,
        timeout: Duration,
    ) -> Result<Option<Dispatched>, ApiError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (epoch, task) = {
                let mut q = self.lock();
                let Some(epoch) = q.epoch else {
                    return Err(not_leader(ctx));
                };
                (epoch, q.take(activities))
            };
            if let Some(task) = task {
                let command = Command::TaskDispatched {
                    token: task.token.clone(),
                    epoch,
                    worker: worker.to_string(),
                    now_ms: now_ms(),
                };
                match ctx.proposer.propose(command).await {
                    Ok(CommandResult::Accepted) => return Ok(Some(Dispatched { task, epoch })),
                    Ok(_) => continue, // the attempt ended meanwhile
                    Err(e) => {
                        let mut q = self.lock();
                        if q.epoch == Some(epoch) {
                            q.add_task(task);
                        }
                        return Err(e.into());
                    }
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(None);
            }
        }
    }

    fn apply_effects(&self, effects: Vec<Effect>) {
        let mut q = self.lock();
        for effect in effects {
            match effect {
                Effect::TaskReady(task) => q.add_task(task),
                Effect::TaskGone { token } => q.remove_task(&token),
                Effect::TimerArmed {
                    execution_id,
                    timer,
                    fire_at_ms,
                } => {
                    q.timers.insert((fire_at_ms, execution_id, timer));
                }
                Effect::ExecutionFinished { .. } => {}
            }
        }
        drop(q);
        self.changed.notify_waiters();
    }

    fn stop(&self) {
        *self.lock() = Queues::default();
        self.changed.notify_waiters();
    }
}

fn not_leader(ctx: &NodeContext) -> ApiError {
    let leader = ctx.leader().filter(|(id, _)| *id != ctx.id);
    ApiError::Write(WriteError::NotLeader {
        leader_id: leader.as_ref().map(|(id, _)| *id),
        leader_api_addr: leader.and_then(|(_, addr)| addr),
    })
}

fn is_leader(ctx: &NodeContext) -> bool {
    let m = ctx.raft.metrics().borrow().clone();
    m.state == ServerState::Leader && m.current_leader == Some(ctx.id)
}

/// Runs for the life of the node: drives while this node leads.
pub async fn run(ctx: NodeContext) {
    let mut metrics = ctx.raft.metrics();
    loop {
        if is_leader(&ctx) {
            let result = drive(&ctx).await;
            ctx.scheduler.stop();
            ctx.reader.unsubscribe_effects();
            if let Err(e) = result {
                // Still leader but the takeover or the quorum check failed:
                // try again shortly rather than wait for a metrics change
                // that an idle, stable cluster may never produce.
                tracing::warn!(node = ctx.id, "leader driver stopped: {e}; retrying");
                if ctx.raft.metrics().borrow().state == ServerState::Shutdown {
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
    crate::cluster_service::linearizable_barrier(ctx).await?;
    let mut effects = ctx.reader.subscribe_effects();
    let epoch = match ctx
        .proposer
        .propose(Command::BeginEpoch {
            leader: ctx.id,
            now_ms: now_ms(),
        })
        .await?
    {
        CommandResult::Epoch { epoch } => epoch,
        other => return Err(ApiError::Internal(format!("BeginEpoch answered {other:?}"))),
    };
    let reader = ctx.reader.clone();
    let (tasks, timers) = tokio::task::spawn_blocking(move || {
        Ok::<_, raftflow_store::StoreError>((
            reads::open_tasks(reader.db())?,
            reads::timers(reader.db())?,
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
        tasks.into_iter().for_each(|t| q.add_task(t));
        q.timers
            .extend(timers.into_iter().map(|(id, timer, at)| (at, id, timer)));
    }
    ctx.scheduler.changed.notify_waiters();
    tracing::info!(
        node = ctx.id,
        term = ctx.raft.metrics().borrow().current_term,
        epoch,
        "leading: dispatching tasks and firing timers"
    );
    let quorum_limit_ms = ctx.config.raft.election_timeout_max_ms;
    let mut metrics = ctx.raft.metrics();
    let mut last_purge = 0u64;
    loop {
        let next_timer = ctx.scheduler.lock().timers.first().map(|t| t.0);
        let sleep_ms = next_timer.map_or(100, |at| at.saturating_sub(now_ms()).min(100));
        tokio::select! {
            batch = effects.recv() => match batch {
                Some(batch) => ctx.scheduler.apply_effects(batch),
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
        let since_ack = ctx.raft.metrics().borrow().millis_since_quorum_ack;
        if since_ack.is_some_and(|ms| ms > quorum_limit_ms) {
            return Err(ApiError::Write(WriteError::Timeout {
                timeout_ms: quorum_limit_ms,
            }));
        }
        fire_due_timers(ctx);
        let now = now_ms();
        if now.saturating_sub(last_purge) > 60_000 {
            last_purge = now;
            let before_ms = now.saturating_sub(ctx.config.scheduler.retention_hours * 3_600_000);
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

fn fire_due_timers(ctx: &NodeContext) {
    let now = now_ms();
    let due: Vec<(u64, String, u64)> = {
        let mut q = ctx.scheduler.lock();
        let mut due = Vec::new();
        while q.timers.first().is_some_and(|t| t.0 <= now) {
            due.push(q.timers.pop_first().expect("checked"));
        }
        due
    };
    for (at, execution_id, timer) in due {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let command = Command::TimerFired {
                execution_id: execution_id.clone(),
                timer,
                now_ms: now_ms(),
                seed: rand::random(),
            };
            if ctx.proposer.propose(command).await.is_err() {
                // Outcome unknown: try again; a repeat is refused as stale.
                let mut q = ctx.scheduler.lock();
                if q.epoch.is_some() {
                    q.timers.insert((at, execution_id, timer));
                }
            }
        });
    }
}
