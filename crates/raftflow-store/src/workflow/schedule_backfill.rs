//! Applying `BackfillSchedule`: the scheduled times of a past range start
//! now, each once, whatever was purged since.
//!
//! ```text
//!  leader: spec times in from..=to (≤ cursor) ──batches of ≤ 256──▶ BackfillSchedule
//!  apply:  each time in a decided range ─▶ already (never twice)
//!          else ─▶ start under the overlap policy;  then from..=to is decided
//! ```
//! The decided ranges (crate::schedules::Schedule::decided) are what makes a
//! backfill over the same range, or over times the schedule fired itself,
//! start nothing: the executions may be gone, the ranges are not.

use super::apply::reject;
use super::schedule_checks::{changed, not_found};
use super::schedules::{record, Fire};
use super::Workflows;
use crate::command::{Command, CommandResult, Reject};
use crate::db::Db;
use crate::error::StoreError;
use crate::schedules::{Action, Backfilled, Outcome, Schedule, MAX_BACKFILL_BATCH};

/// Spreads the command's seed over its times (each start draws its own).
const SEED_STEP: u64 = 0x9e37_79b9_7f4a_7c15;

impl Workflows {
    pub(super) fn backfill(
        &mut self,
        db: &Db,
        command: &Command,
    ) -> Result<CommandResult, StoreError> {
        let Command::BackfillSchedule {
            name,
            revision,
            from_ms,
            to_ms,
            times,
            overlap,
            now_ms,
            seed,
            default_task_timeout_s,
        } = command
        else {
            unreachable!("only BackfillSchedule comes here");
        };
        let Some(mut schedule) = self.schedule(db, name)? else {
            return Ok(not_found(name));
        };
        if schedule.revision != *revision {
            return Ok(changed(name, *revision, schedule.revision));
        }
        if let Some(problem) = batch_problem(&schedule, *from_ms, *to_ms, times) {
            return Ok(reject(Reject::InvalidArgument, problem));
        }
        schedule.running.retain(|id| self.running.contains_key(id));
        let mut done = Backfilled::default();
        for (i, &at) in times.iter().enumerate() {
            if schedule.is_decided(at) {
                done.already = done.already.saturating_add(1);
                continue;
            }
            let fire = Fire {
                name,
                scheduled_ms: at,
                revision: Some(*revision),
                now_ms: *now_ms,
                seed: seed.wrapping_add((i as u64).wrapping_mul(SEED_STEP)),
                lease_s: *default_task_timeout_s,
            };
            let outcome = self.decide_time(db, &mut schedule, &fire, *overlap)?;
            tally(&mut done, &outcome);
            let action = Action {
                scheduled_ms: at,
                at_ms: *now_ms,
                trigger: false,
                outcome,
            };
            record(&mut schedule, action);
        }
        schedule.decide(*from_ms, *to_ms);
        self.save_schedule(schedule)?;
        Ok(CommandResult::ScheduleBackfilled(done))
    }
}

/// The bounds of one entry: a range at or before the cursor (later times
/// are the schedule's own to fire), its times inside it, ascending.
fn batch_problem(schedule: &Schedule, from_ms: u64, to_ms: u64, times: &[u64]) -> Option<String> {
    if from_ms > to_ms {
        return Some(format!(
            "the backfill range ends ({to_ms}) before it starts ({from_ms})"
        ));
    }
    if to_ms > schedule.cursor_ms {
        return Some(format!(
            "a backfill reaches only times already due: {to_ms} is after the schedule's cursor {}",
            schedule.cursor_ms
        ));
    }
    if times.len() > MAX_BACKFILL_BATCH {
        return Some(format!(
            "a backfill entry holds at most {MAX_BACKFILL_BATCH} times, not {}",
            times.len()
        ));
    }
    let inside = times.iter().all(|t| (from_ms..=to_ms).contains(t));
    let ascending = times.windows(2).all(|w| w[0] < w[1]);
    (!inside || !ascending).then(|| "backfill times are ascending and inside the range".to_string())
}

fn tally(done: &mut Backfilled, outcome: &Outcome) {
    let counter = match outcome {
        Outcome::Started { .. } => &mut done.started,
        // A run of that name exists: the time had its execution.
        Outcome::AlreadyStarted { .. } => &mut done.already,
        Outcome::SkippedOverlap { .. } | Outcome::SkippedMissed { .. } => &mut done.skipped,
        Outcome::Buffered { .. } => &mut done.buffered,
        Outcome::StartFailed { .. } => &mut done.failed,
    };
    *counter = counter.saturating_add(1);
}
