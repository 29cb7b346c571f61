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
use std::time::Duration;

use openraft::ServerState;
use raftflow_store::hub::AppliedEffects;
use raftflow_store::records::TaskEntry;
use raftflow_store::workflow::reads;
use raftflow_store::{Command, CommandResult, Effect};
use tokio::sync::Notify;

use crate::error::{ApiError, WriteError};
use crate::node::NodeContext;
use crate::parked::{ParkedPollers, Reserved};

/// How long a poll that reached a node without a driver waits for a takeover
/// or a leader to redirect to (an election here takes ~0.3-2 s).
pub(crate) const TAKEOVER_WAIT: Duration = Duration::from_millis(500);

pub use crate::clock::now_ms;

#[derive(Default)]
struct Queues {
    /// The epoch this node leads in; `None` while it does not drive.
    epoch: Option<u64>,
    /// Per activity, oldest first: (scheduled_ms, token) → task.
    ready: BTreeMap<String, BTreeMap<(u64, String), TaskEntry>>,
    /// token → (activity, scheduled_ms, when it became ready here in µs).
    where_is: HashMap<String, (String, u64, u64)>,
    /// When tasks that left the queue without a poll became ready: a report's
    /// DispatchNext took them (its handler reads the time here), or they
    /// ended while waiting (dropped after a minute).
    left_ready_at: HashMap<String, u64>,
    timers: BTreeSet<(u64, String, u64)>,
}

impl Queues {
    fn add_task(&mut self, task: TaskEntry, ready_at_us: u64) {
        if task.dispatched.is_some() || self.where_is.contains_key(&task.token) {
            return;
        }
        self.where_is.insert(
            task.token.clone(),
            (task.activity.clone(), task.scheduled_ms, ready_at_us),
        );
        self.ready
            .entry(task.activity.clone())
            .or_default()
            .insert((task.scheduled_ms, task.token.clone()), task);
    }

    fn remove_task(&mut self, token: &str) {
        if let Some((activity, at, ready_at_us)) = self.where_is.remove(token) {
            if let Some(q) = self.ready.get_mut(&activity) {
                q.remove(&(at, token.to_string()));
            }
            self.left_ready_at.insert(token.to_string(), ready_at_us);
        }
    }

    /// The oldest ready task among `activities`, and when it became ready.
    fn take(&mut self, activities: &[String]) -> Option<(TaskEntry, u64)> {
        let (activity, key) = activities
            .iter()
            .filter_map(|a| {
                self.ready
                    .get(a)
                    .and_then(|q| q.keys().next().map(|k| (a.clone(), k.clone())))
            })
            .min_by(|a, b| a.1.cmp(&b.1))?;
        let (_, _, ready_at_us) = self.where_is.remove(&key.1)?;
        let task = self.ready.get_mut(&activity)?.remove(&key)?;
        Some((task, ready_at_us))
    }
}

pub struct Scheduler {
    queues: Mutex<Queues>,
    changed: Notify,
    parked: Mutex<ParkedPollers>,
}

enum Wake {
    Served(Option<Dispatched>),
    Changed,
    Deadline,
}

pub struct Dispatched {
    pub task: TaskEntry,
    pub epoch: u64,
    /// When the task became ready on this leader (µs since the Unix epoch).
    pub ready_at_us: u64,
}

impl Scheduler {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            queues: Mutex::new(Queues::default()),
            changed: Notify::new(),
            parked: Mutex::new(ParkedPollers::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queues> {
        self.queues.lock().expect("scheduler lock poisoned")
    }

    fn parked(&self) -> std::sync::MutexGuard<'_, ParkedPollers> {
        self.parked.lock().expect("parked pollers lock poisoned")
    }

    /// A parked poll for a start to serve, with the epoch it would serve in.
    pub fn reserve_parked(&self) -> Option<(u64, Reserved)> {
        let epoch = self.epoch()?;
        Some((epoch, self.parked().reserve()?))
    }

    /// When a task that `DispatchNext` handed out became ready here: in the
    /// same entry (whose commands carry `entry_ms`) it is that entry's apply;
    /// else when the queue got it (whether or not the driver has seen this
    /// apply's effects yet); else, ready since before this leader, when its
    /// command was proposed (an upper bound on its wait).
    pub fn ready_at_us(&self, task: &TaskEntry, entry_ms: u64, applied_at_us: u64) -> u64 {
        let mut q = self.lock();
        // Taken out in every case, so the map holds only tasks that ended
        // while waiting (and the few a handler read before the driver).
        let left = q.left_ready_at.remove(&task.token);
        if task.scheduled_ms == entry_ms {
            return applied_at_us;
        }
        let queued = q.where_is.get(&task.token).map(|(_, _, at)| *at);
        queued.or(left).unwrap_or(task.scheduled_ms * 1000)
    }

    /// The epoch this node drives in; `None` while it does not.
    pub fn epoch(&self) -> Option<u64> {
        self.lock().epoch
    }

    /// Worker polls waiting for a task (for metrics).
    pub fn polls_waiting(&self) -> usize {
        self.parked().len()
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
        let takeover_deadline = deadline.min(tokio::time::Instant::now() + TAKEOVER_WAIT);
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let taken = {
                let mut q = self.lock();
                let epoch = q.epoch;
                epoch.map(|epoch| (epoch, q.take(activities)))
            };
            let Some((epoch, task)) = taken else {
                if self.await_takeover(ctx, notified, takeover_deadline).await {
                    continue;
                }
                return Err(not_leader(ctx));
            };
            if let Some((task, ready_at_us)) = task {
                let command = Command::TaskDispatched {
                    token: task.token.clone(),
                    epoch,
                    worker: worker.to_string(),
                    now_ms: now_ms(),
                };
                match ctx.proposer.propose(command).await {
                    Ok(CommandResult::Accepted) => {
                        return Ok(Some(Dispatched {
                            task,
                            epoch,
                            ready_at_us,
                        }))
                    }
                    Ok(_) => continue, // the attempt ended meanwhile
                    Err(e) => {
                        let mut q = self.lock();
                        if q.epoch == Some(epoch) {
                            q.add_task(task, ready_at_us);
                        }
                        return Err(e.into());
                    }
                }
            }
            // Nothing ready: wait for a change, for a start that serves us
            // in its own entry (parked.rs), or for the deadline.
            let Some((id, mut handed)) = self.parked().park(activities, worker) else {
                return Err(ApiError::ResourceExhausted(format!(
                    "{} polls are waiting on this node; poll less often or with fewer workers",
                    crate::limits::MAX_WAITING_POLLS
                )));
            };
            let woke = tokio::select! {
                r = &mut handed => Wake::Served(r.ok()),
                () = &mut notified => Wake::Changed,
                () = tokio::time::sleep_until(deadline) => Wake::Deadline,
            };
            let still_parked = self.parked().unpark(id);
            let deadline_passed = matches!(woke, Wake::Deadline);
            let served = match woke {
                Wake::Served(served) => served,
                _ if still_parked => None,
                // A start took this poll meanwhile: its commit decides.
                _ => {
                    let limit = Duration::from_millis(ctx.config.write_timeout_ms);
                    tokio::time::timeout(limit, handed)
                        .await
                        .ok()
                        .and_then(Result::ok)
                }
            };
            if served.is_some() {
                return Ok(served);
            }
            if deadline_passed {
                return Ok(None);
            }
        }
    }

    /// This node does not drive. When no other node is known to lead (an
    /// election is running) or this node was just elected (its epoch is not
    /// committed yet), the answer is milliseconds away: wait for it rather
    /// than send the worker off with "no leader" to back off and come back.
    /// Returns true once this node drives, false to redirect (another node
    /// leads, or the wait ran out).
    async fn await_takeover(
        &self,
        ctx: &NodeContext,
        mut notified: std::pin::Pin<&mut tokio::sync::futures::Notified<'_>>,
        until: tokio::time::Instant,
    ) -> bool {
        let mut metrics = ctx.raft.metrics();
        loop {
            if ctx.leader().is_some_and(|(id, _)| id != ctx.id) {
                return false;
            }
            tokio::select! {
                () = &mut notified => return true, // the driver started or stopped: look again
                changed = metrics.changed() => if changed.is_err() { return false },
                () = tokio::time::sleep_until(until) => return false,
            }
        }
    }

    fn apply_effects(&self, applied: AppliedEffects) {
        let mut q = self.lock();
        for effect in applied.effects {
            match effect {
                Effect::TaskReady(task) => q.add_task(task, applied.applied_at_us),
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
        self.parked().clear();
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
    let delay_ms = ctx.config.fault_injection.takeover_delay_ms();
    if delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    }
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
        // Ready since before this leader: the time its command was proposed.
        tasks.into_iter().for_each(|t| {
            let ready_at_us = t.scheduled_ms * 1000;
            q.add_task(t, ready_at_us)
        });
        q.timers
            .extend(timers.into_iter().map(|(id, timer, at)| (at, id, timer)));
    }
    ctx.scheduler.changed.notify_waiters();
    tokio::spawn(crate::upgrade::raise_on_new_cluster(ctx.clone(), epoch));
    tracing::info!(
        node = ctx.id,
        term = ctx.raft.metrics().borrow().current_term,
        epoch,
        "leading: dispatching tasks and firing timers"
    );
    let quorum_limit_ms = ctx.config.raft.election_timeout_max_ms;
    let mut metrics = ctx.raft.metrics();
    let mut last_purge = 0u64;
    let mut last_sweep = 0u64;
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
        if now.saturating_sub(last_sweep) > 1_000 {
            last_sweep = now;
            let stale_us = (now * 1000).saturating_sub(60_000_000);
            ctx.scheduler
                .lock()
                .left_ready_at
                .retain(|_, at| *at > stale_us);
        }
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

/// Timers due at once fire in the order of their deadlines, in one entry
/// per chunk, chunks one after another: after an outage, a task's heartbeat
/// deadline and its timeout may both be due, and the earlier one decides.
fn fire_due_timers(ctx: &NodeContext) {
    const CHUNK: usize = 256;
    let now = now_ms();
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
                    now_ms: now_ms(),
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
