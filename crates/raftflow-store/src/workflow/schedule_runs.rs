//! What a schedule does when one of its executions ends, in the apply that
//! ended it: the next kept time starts (overlap `buffer_one`/`buffer_all`),
//! or the schedule pauses (`pause_on_failure`).
//!
//! Every replica keeps the same index of the executions schedules started
//! (`Workflows::schedule_runs`, derived from the replicated `running`
//! lists), so every replica takes the same step at the same entry.

use raftflow_core::Status;

use super::schedules::{record, Fire};
use super::Workflows;
use crate::command::Command;
use crate::db::Db;
use crate::error::StoreError;
use crate::schedules::{Action, Outcome, Schedule};

impl Workflows {
    /// Follows the schedule runs the command ended; a kept time that starts
    /// and ends at once (a Pass) lets the next one start in turn.
    pub(super) fn follow_schedule_runs(
        &mut self,
        db: &Db,
        command: &Command,
    ) -> Result<(), StoreError> {
        let now_ms = command.now_ms().unwrap_or(0);
        while !self.finished_runs.is_empty() {
            let finished = std::mem::take(&mut self.finished_runs);
            for (id, status) in finished {
                let Some(name) = self.schedule_runs.remove(&id) else {
                    continue;
                };
                // Only a run its record lists: the index of a node that has
                // run for long may hold runs of a schedule deleted and made
                // again; one rebuilt from the tables does not.
                let Some(mut schedule) = self
                    .schedule(db, &name)?
                    .filter(|s| s.running.contains(&id))
                else {
                    continue;
                };
                schedule
                    .running
                    .retain(|r| *r != id && self.running.contains_key(r));
                if schedule.def.pause_on_failure
                    && matches!(status, Status::Failed | Status::TimedOut)
                {
                    pause_for(&mut schedule, &id, status, now_ms);
                }
                if !schedule.paused && schedule.running.is_empty() && !schedule.buffered.is_empty()
                {
                    self.start_kept(db, &mut schedule, now_ms)?;
                }
                self.save_schedule(schedule)?;
            }
        }
        Ok(())
    }

    /// Starts the oldest kept time of `schedule`.
    fn start_kept(
        &mut self,
        db: &Db,
        schedule: &mut Schedule,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let (scheduled_ms, lease_s) = schedule.buffered.remove(0);
        let name = schedule.def.name.clone();
        let fire = Fire {
            name: &name,
            scheduled_ms,
            revision: Some(schedule.revision),
            now_ms,
            // Drawn from the time: the command that ended the run may carry none.
            seed: scheduled_ms.rotate_left(17) ^ now_ms,
            lease_s,
        };
        let outcome = self.start_for(db, &schedule.def, &fire)?;
        if let Outcome::Started { execution_id } = &outcome {
            schedule.running.push(execution_id.clone());
        }
        let action = Action {
            scheduled_ms,
            at_ms: now_ms,
            trigger: false,
            outcome,
        };
        record(schedule, action);
        Ok(())
    }
}

/// `pause_on_failure`: the schedule pauses with a note naming the run; its
/// kept times are dropped (counted as skipped), as a pause drops them.
fn pause_for(schedule: &mut Schedule, id: &str, status: Status, now_ms: u64) {
    if schedule.paused {
        return;
    }
    schedule.paused = true;
    schedule.note = format!("paused because {id} ended {}", status.as_str());
    schedule.revision = schedule.revision.saturating_add(1);
    schedule.cursor_ms = schedule.cursor_ms.max(now_ms);
    schedule.updated_ms = now_ms;
    let dropped = std::mem::take(&mut schedule.buffered).len() as u64;
    schedule.skipped = schedule.skipped.saturating_add(dropped);
}
