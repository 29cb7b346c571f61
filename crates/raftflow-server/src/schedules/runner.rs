//! The leader's runner: proposes each schedule's fire when its time comes.
//!
//! Started by the driver after a takeover (the plan is loaded from the
//! applied tables first) and ended when the epoch ends. Fires due together
//! go in one entry. A fire that is refused (its time already spent, the
//! schedule changed) or whose outcome is unknown is re-read from the
//! applied tables and planned again: apply's cursor check makes a repeat
//! harmless, so the runner may always retry.

use std::sync::atomic::Ordering;
use std::time::Duration;

use raftflow_store::schedules::{Action, Outcome};
use raftflow_store::{Command, CommandResult};

use super::plan::Due;
use crate::node::NodeContext;

/// Fires proposed in one entry, at most.
const FIRES_PER_ENTRY: usize = 256;
/// The longest the runner sleeps without looking at the plan.
const IDLE_MS: u64 = 1000;
/// The wait before a fire whose outcome is unknown is planned again.
const RETRY_MS: u64 = 200;

/// Fires while this node leads under `epoch`.
pub async fn run(ctx: NodeContext, epoch: u64) {
    let mut stopping = ctx.stopping.clone();
    while ctx.scheduler.epoch() == Some(epoch) {
        let now_ms = ctx.log_now_ms();
        let due = ctx.schedules.plan().take_due(now_ms, FIRES_PER_ENTRY);
        if !due.is_empty() {
            let ctx = ctx.clone();
            tokio::spawn(async move { propose(&ctx, due).await });
            continue;
        }
        let next = ctx.schedules.plan().next_due_ms();
        let wait_ms = next.map_or(IDLE_MS, |at| at.saturating_sub(now_ms).clamp(1, IDLE_MS));
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(wait_ms)) => {}
            _ = ctx.schedules.changed.notified() => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
    }
}

fn command(ctx: &NodeContext, due: &Due) -> Command {
    match due {
        Due::Fire {
            name,
            revision,
            scheduled_ms,
            ..
        } => Command::FireSchedule {
            name: name.clone(),
            scheduled_ms: *scheduled_ms,
            revision: Some(*revision),
            now_ms: ctx.stamp_ms(),
            seed: rand::random(),
            default_task_timeout_s: ctx.config.scheduler.task_lease_s,
        },
        Due::Skip {
            name,
            revision,
            through_ms,
        } => Command::SkipMissed {
            name: name.clone(),
            revision: *revision,
            through_ms: *through_ms,
            now_ms: ctx.stamp_ms(),
        },
    }
}

async fn propose(ctx: &NodeContext, due: Vec<Due>) {
    let commands = due.iter().map(|d| command(ctx, d)).collect();
    let results = match ctx.proposer.propose_together(commands).await {
        Ok(applied) => applied.results,
        Err(e) => {
            tracing::debug!("schedule fires not applied ({e}); planned again");
            tokio::time::sleep(Duration::from_millis(RETRY_MS)).await;
            replan(ctx, due.iter().map(|d| d.name().to_string()).collect()).await;
            return;
        }
    };
    let mut refused = Vec::new();
    for (due, result) in due.iter().zip(results) {
        match result {
            CommandResult::ScheduleActed(action) => count(ctx, &action, due),
            CommandResult::Rejected { message, .. } => {
                tracing::debug!(schedule = due.name(), "fire refused: {message}");
                refused.push(due.name().to_string());
            }
            other => tracing::warn!(schedule = due.name(), "unexpected fire result {other:?}"),
        }
    }
    if !refused.is_empty() {
        replan(ctx, refused).await;
    }
}

/// Plans `names` again from the applied tables (an apply that refused a
/// fire changed nothing, so no effect brought the record back).
async fn replan(ctx: &NodeContext, names: Vec<String>) {
    let reader = ctx.reader.clone();
    let read = tokio::task::spawn_blocking(move || {
        names
            .into_iter()
            .map(|name| {
                let schedule = raftflow_store::schedules::read(reader.db(), &name)?;
                Ok((name, schedule))
            })
            .collect::<Result<Vec<_>, raftflow_store::StoreError>>()
    })
    .await;
    match read {
        Ok(Ok(records)) => {
            for (name, schedule) in records {
                ctx.schedules.set(&name, schedule.as_ref());
            }
        }
        Ok(Err(e)) => tracing::error!("cannot read schedules to plan them again: {e}"),
        Err(e) => tracing::error!("schedule read task failed: {e}"),
    }
}

/// Metrics of one applied fire or skip (this node leads).
fn count(ctx: &NodeContext, action: &Action, due: &Due) {
    let m = &ctx.metrics.schedules;
    let counter = match &action.outcome {
        Outcome::Started { .. } | Outcome::AlreadyStarted { .. } => &m.started,
        Outcome::SkippedOverlap { .. } => &m.skipped_overlap,
        Outcome::SkippedMissed { .. } => &m.skipped_missed,
        Outcome::StartFailed { .. } => &m.start_failed,
        Outcome::Buffered { .. } => &m.buffered,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    if matches!(action.outcome, Outcome::Started { .. }) && !action.trigger {
        let jitter_ms = match due {
            Due::Fire { jitter_ms, .. } => *jitter_ms,
            Due::Skip { .. } => 0,
        };
        let planned_ms = action.scheduled_ms.saturating_add(jitter_ms);
        let lag_ms = action.at_ms.saturating_sub(planned_ms);
        m.lag.observe_s(lag_ms as f64 / 1000.0);
    }
}
