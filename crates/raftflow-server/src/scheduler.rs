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

use crate::raft_service::WatchReceiver as _;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use raftflow_store::hub::AppliedEffects;
use raftflow_store::records::TaskEntry;
use raftflow_store::{CommandResult, Effect};
use tokio::sync::Notify;

use crate::error::{ApiError, WriteError};
use crate::node::NodeContext;
use crate::parked::{ParkedPollers, Reserved};

mod driver;
pub use driver::run;

/// How long a poll that reached a node without a driver waits for a takeover
/// or a leader to redirect to (an election here takes ~0.3-2 s).
pub(crate) const TAKEOVER_WAIT: Duration = Duration::from_millis(500);

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
    /// A start's outcome: a task, `Some(None)` when the poll was withdrawn,
    /// `None` when the start had nothing for it.
    Served(Option<Option<Dispatched>>),
    Changed,
    Deadline,
}

pub struct Dispatched {
    pub task: TaskEntry,
    pub epoch: u64,
    /// When the task became ready on this leader (µs since the Unix epoch).
    pub ready_at_us: u64,
}

impl Dispatched {
    /// An attempt handed out before, to a poll retried under the same id:
    /// in the epoch of its hand-out, ready since its command (an upper
    /// bound on its wait).
    fn again(task: TaskEntry, epoch: u64) -> Self {
        Self {
            epoch: task.dispatched.as_ref().map_or(epoch, |d| d.epoch),
            ready_at_us: task.scheduled_ms.saturating_mul(1000),
            task,
        }
    }
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

    /// Drops a parked poll its worker withdrew; true if one was parked.
    pub fn withdraw_parked(&self, poll_id: &str) -> bool {
        self.parked().withdraw(poll_id)
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

    /// Worker polls waiting for a task (for metrics; the leader's own
    /// HTTP Task caller is not a worker).
    pub fn polls_waiting(&self) -> usize {
        self.parked().workers()
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
    /// With a poll id, the hand-out records it, and a poll id that already
    /// holds an attempt gets that one back (poll_id.rs).
    pub async fn poll(
        &self,
        ctx: &NodeContext,
        (activities, worker, poll_id): (&[String], &str, Option<&str>),
        timeout: Duration,
    ) -> Result<Option<Dispatched>, ApiError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let takeover_deadline = deadline.min(tokio::time::Instant::now() + TAKEOVER_WAIT);
        let mut held_checked_in = None;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let Some(epoch) = self.epoch() else {
                if self.await_takeover(ctx, notified, takeover_deadline).await {
                    continue;
                }
                return Err(not_leader(ctx));
            };
            // Once per epoch: within one, only this poll's own hand-out
            // could bind its id, and apply answers a race with it.
            if let (Some(id), false) = (poll_id, held_checked_in == Some(epoch)) {
                held_checked_in = Some(epoch);
                if let Some(held) = crate::poll_id::held(ctx, id, activities)? {
                    tracing::debug!(poll_id = id, token = %raftflow_core::task_token::redact(&held.token), "a retried poll gets its attempt back");
                    count_recovered(ctx);
                    return Ok(Some(Dispatched::again(held, epoch)));
                }
            }
            let task = {
                let mut q = self.lock();
                if q.epoch != Some(epoch) {
                    continue;
                }
                q.take(activities)
            };
            if let Some((task, ready_at_us)) = task {
                let command =
                    crate::poll_id::hand_out(&task.token, (epoch, worker, ctx.stamp_ms()), poll_id);
                match ctx.proposer.propose(command).await {
                    Ok(CommandResult::Accepted) => {
                        return Ok(Some(Dispatched {
                            task,
                            epoch,
                            ready_at_us,
                        }))
                    }
                    Ok(CommandResult::Dispatched { task: held }) => {
                        if held.token != task.token {
                            count_recovered(ctx);
                        }
                        return Ok(Some(self.held_instead(task, held, (epoch, ready_at_us))));
                    }
                    Ok(CommandResult::Rejected {
                        code: raftflow_store::Reject::InvalidArgument,
                        message,
                    }) => {
                        self.requeue(task, epoch, ready_at_us);
                        return Err(ApiError::InvalidArgument(message));
                    }
                    Ok(_) => continue, // the attempt ended meanwhile
                    Err(e) => {
                        self.requeue(task, epoch, ready_at_us);
                        return Err(e.into());
                    }
                }
            }
            // Nothing ready: wait for a change, for a start that serves us
            // in its own entry (parked.rs), or for the deadline.
            let Some((id, mut handed)) = self.parked().park(activities, worker, poll_id) else {
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
            match served {
                Some(handed) => return Ok(handed), // a task, or withdrawn
                None if deadline_passed => return Ok(None),
                None => {}
            }
        }
    }

    /// Puts a task taken from the queue back, if this node still drives in
    /// the epoch it was taken in.
    fn requeue(&self, task: TaskEntry, epoch: u64, ready_at_us: u64) {
        let mut q = self.lock();
        if q.epoch == Some(epoch) {
            q.add_task(task, ready_at_us);
        }
    }

    /// A hand-out for a poll id came back with `held`: the task taken for
    /// this try, or, when the id's first try applied before this one, the
    /// first try's attempt — the task taken, untouched, goes back.
    fn held_instead(
        &self,
        taken: TaskEntry,
        held: TaskEntry,
        (epoch, ready_at_us): (u64, u64),
    ) -> Dispatched {
        if held.token == taken.token {
            return Dispatched {
                task: held,
                epoch,
                ready_at_us, // this try's hand-out
            };
        }
        self.requeue(taken, epoch, ready_at_us);
        Dispatched::again(held, epoch)
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
                Effect::ExecutionFinished { .. }
                | Effect::ScheduleChanged { .. }
                | Effect::EventQueued { .. } => {}
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

/// A hand-out whose reply was lost went back to its retried poll.
pub(crate) fn count_recovered(ctx: &NodeContext) {
    ctx.metrics
        .hand_outs_recovered
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

fn not_leader(ctx: &NodeContext) -> ApiError {
    let leader = ctx.leader().filter(|(id, _)| *id != ctx.id);
    ApiError::Write(WriteError::NotLeader {
        leader_id: leader.as_ref().map(|(id, _)| *id),
        leader_api_addr: leader.and_then(|(_, addr)| addr),
    })
}
