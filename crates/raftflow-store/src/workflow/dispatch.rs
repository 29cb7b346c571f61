//! Handing a task attempt to a worker: recorded in the log before the worker
//! receives it (docs/guarantees.md, promise 3).

use raftflow_core::execution::Command as Core;

use super::apply::reject;
use super::records::*;
use super::{Effect, Workflows};
use crate::command::{CommandResult, Reject};
use crate::db::Db;
use crate::error::StoreError;

impl Workflows {
    /// `TaskDispatched`: the leader's long poll took `token` from its queue.
    pub(super) fn hand_out(
        &mut self,
        db: &Db,
        token: &str,
        epoch: u64,
        worker: &str,
        now_ms: u64,
    ) -> Result<CommandResult, StoreError> {
        let Some(mut entry) = self.get_decoded::<TaskEntry>(db, &task_key(token))? else {
            return Ok(reject(
                Reject::StaleToken,
                format!("task {token} is no longer open"),
            ));
        };
        if epoch != self.epoch {
            return Ok(reject(
                Reject::StaleToken,
                format!("epoch {epoch} is over; the current epoch is {}", self.epoch),
            ));
        }
        if entry.dispatched.is_some() {
            return Ok(reject(
                Reject::FailedPrecondition,
                format!("task {token} was already handed out"),
            ));
        }
        entry.dispatched = Some(Dispatch {
            epoch,
            worker: worker.to_string(),
            at_ms: now_ms,
        });
        self.put(task_key(token), &entry)?;
        self.ready.remove(token);
        // The leader's queue may still hold it (DispatchNext took it first).
        self.effects.push(Effect::TaskGone {
            token: token.to_string(),
        });
        self.drive(
            db,
            &entry.execution_id,
            Core::TaskStarted {
                token: token.to_string(),
                worker: worker.to_string(),
            },
            now_ms,
            0,
        )
    }

    /// `DispatchNext`: a task of `activities` that the report before it made
    /// ready (its execution's next step: that execution finishes sooner, and
    /// the worker that ran the step before runs the next), else the oldest
    /// ready one. Executions still progress: idle pollers and reports that
    /// make nothing ready take the oldest.
    pub(super) fn dispatch_next(
        &mut self,
        db: &Db,
        epoch: u64,
        worker: &str,
        activities: &[String],
        now_ms: u64,
        made_ready_before: &[String],
    ) -> Result<CommandResult, StoreError> {
        let next_step = made_ready_before
            .iter()
            .find(|t| self.ready.holds(t, activities));
        let Some(token) = next_step
            .map(String::as_str)
            .or_else(|| self.ready.oldest(activities))
            .map(str::to_string)
        else {
            return Ok(CommandResult::NothingReady);
        };
        match self.hand_out(db, &token, epoch, worker, now_ms)? {
            CommandResult::Accepted => {}
            refused => return Ok(refused),
        }
        let task = self
            .get_decoded::<TaskEntry>(db, &task_key(&token))?
            .expect("a task just handed out is open");
        Ok(CommandResult::Dispatched { task })
    }
}
