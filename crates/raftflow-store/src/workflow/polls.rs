//! Poll ids (apply version 5 on). A worker names each poll with an id of
//! its choosing and retries a poll whose reply it lost under the same id.
//! The hand-out records the id in the same log entry as the hand-out
//! itself, so the retry — on the same leader or, after a failover, on the
//! next — gets the same attempt back instead of a new one or nothing, and
//! a lost reply no longer strands a task until its lease ends. No commit is
//! added: the id rides on the hand-out's command.
//!
//! A worker that stops while a poll is in flight withdraws it: the attempt
//! the poll holds goes back (a new attempt of the same state, at once), and
//! a hand-out to that poll still in flight is refused when it applies.
//!
//! ```text
//!  p/<poll id>        token     the open attempt handed to that poll ("": withdrawn)
//!  q/<token>          poll id   so that the attempt's end removes the binding
//!  k/<withdrawal>     poll id   the last MAX_WITHDRAWN withdrawals, oldest dropped
//! ```
//! An attempt is handed out to at most one poll id; its keys go when the
//! attempt ends, whichever way it ends.

use raftflow_core::execution::Command as Core;

use super::apply::reject;
use super::records::*;
use super::Workflows;
use crate::command::{CommandResult, Reject};
use crate::db::Db;
use crate::error::StoreError;

/// The first apply version that records poll ids.
pub const POLL_IDS_FROM: u32 = 5;
/// Withdrawn poll ids remembered. A withdrawal only has to outlive a
/// hand-out to the same poll that was in flight (milliseconds), and
/// workers withdraw only when they stop.
pub const MAX_WITHDRAWN: u64 = 10_000;
/// `p/<poll id>`'s value for a withdrawn poll (tokens are never empty).
const WITHDRAWN: &str = "";

/// What a poll id stands for now.
pub(crate) enum PollState {
    Free,
    Holds(TaskEntry),
    Withdrawn,
}

impl Workflows {
    pub(super) fn keeps_poll_ids(&self) -> bool {
        self.apply_version >= POLL_IDS_FROM
    }

    /// The refusal of a poll-id command under an older apply version: the
    /// door never proposes one then, so only a defect or a crafted entry
    /// gets here, and every replica refuses it alike.
    fn poll_ids_unknown(&self) -> CommandResult {
        reject(
            Reject::InvalidArgument,
            format!(
                "poll ids need apply version {POLL_IDS_FROM}; the active version is {}",
                self.apply_version
            ),
        )
    }

    pub(crate) fn poll_state(&self, db: &Db, poll_id: &str) -> Result<PollState, StoreError> {
        Ok(match self.get_decoded::<String>(db, &poll_key(poll_id))? {
            None => PollState::Free,
            Some(token) if token == WITHDRAWN => PollState::Withdrawn,
            Some(token) => match self.get_decoded::<TaskEntry>(db, &task_key(&token))? {
                Some(task) => PollState::Holds(task),
                None => PollState::Free,
            },
        })
    }

    /// What a retry of poll `poll_id` gets, if not a new hand-out: the
    /// attempt it holds (when one of `activities`), or nothing when it was
    /// withdrawn.
    pub(crate) fn retried_poll(
        &self,
        db: &Db,
        poll_id: &str,
        activities: Option<&[String]>,
    ) -> Result<Option<CommandResult>, StoreError> {
        if !self.keeps_poll_ids() {
            return Ok(Some(self.poll_ids_unknown()));
        }
        match self.poll_state(db, poll_id)? {
            PollState::Free => Ok(None),
            PollState::Withdrawn => Ok(Some(CommandResult::NothingReady)),
            PollState::Holds(task) if activities.is_some_and(|a| !a.contains(&task.activity)) => {
                Ok(Some(reject(
                    Reject::InvalidArgument,
                    format!(
                        "poll id `{poll_id}` already holds a task of activity `{}`; use a new id for every poll",
                        task.activity
                    ),
                )))
            }
            PollState::Holds(task) => Ok(Some(CommandResult::Dispatched { task })),
        }
    }

    /// `TaskDispatchedForPoll`.
    pub(super) fn hand_out_for_poll(
        &mut self,
        db: &Db,
        token: &str,
        (epoch, worker, now_ms): (u64, &str, u64),
        poll_id: &str,
    ) -> Result<CommandResult, StoreError> {
        if let Some(retried) = self.retried_poll(db, poll_id, None)? {
            return Ok(retried);
        }
        match self.hand_out(db, token, epoch, worker, now_ms)? {
            CommandResult::Accepted => {}
            refused => return Ok(refused),
        }
        self.bind_poll(poll_id, token)?;
        let task = self
            .get_decoded::<TaskEntry>(db, &task_key(token))?
            .expect("a task just handed out is open");
        Ok(CommandResult::Dispatched { task })
    }

    /// `DispatchNextForPoll`.
    pub(super) fn dispatch_next_for_poll(
        &mut self,
        db: &Db,
        (epoch, worker, now_ms): (u64, &str, u64),
        activities: &[String],
        poll_id: &str,
        made_ready_before: &[String],
    ) -> Result<CommandResult, StoreError> {
        if let Some(retried) = self.retried_poll(db, poll_id, Some(activities))? {
            return Ok(retried);
        }
        let result =
            self.dispatch_next(db, epoch, worker, activities, now_ms, made_ready_before)?;
        if let CommandResult::Dispatched { task } = &result {
            self.bind_poll(poll_id, &task.token)?;
        }
        Ok(result)
    }

    /// `WithdrawPoll`: `Accepted` when an attempt went back, else
    /// `NothingReady`.
    pub(super) fn withdraw_poll(
        &mut self,
        db: &Db,
        poll_id: &str,
        now_ms: u64,
        seed: u64,
    ) -> Result<CommandResult, StoreError> {
        if !self.keeps_poll_ids() {
            return Ok(self.poll_ids_unknown());
        }
        let state = self.poll_state(db, poll_id)?;
        if matches!(state, PollState::Withdrawn) {
            return Ok(CommandResult::NothingReady);
        }
        self.mark_withdrawn(db, poll_id)?;
        let PollState::Holds(task) = state else {
            return Ok(CommandResult::NothingReady);
        };
        let returned = Core::TaskReturned {
            token: task.token.clone(),
        };
        self.drive(db, &task.execution_id, returned, now_ms, seed)
    }

    fn bind_poll(&mut self, poll_id: &str, token: &str) -> Result<(), StoreError> {
        self.put(poll_key(poll_id), &token.to_string())?;
        self.put(poll_of_key(token), &poll_id.to_string())
    }

    /// Remembers `poll_id` as withdrawn; forgets the oldest withdrawal past
    /// `MAX_WITHDRAWN`.
    fn mark_withdrawn(&mut self, db: &Db, poll_id: &str) -> Result<(), StoreError> {
        let count = self
            .get_decoded::<u64>(db, KEY_WITHDRAWALS)?
            .unwrap_or(0)
            .checked_add(1)
            .expect("fewer than 2^64 withdrawals");
        self.put(KEY_WITHDRAWALS.to_vec(), &count)?;
        self.put(poll_key(poll_id), &WITHDRAWN.to_string())?;
        self.put(withdrawal_key(count), &poll_id.to_string())?;
        let Some(oldest) = count.checked_sub(MAX_WITHDRAWN) else {
            return Ok(());
        };
        if let Some(old_id) = self.get_decoded::<String>(db, &withdrawal_key(oldest))? {
            self.delete(withdrawal_key(oldest));
            if self
                .get_decoded::<String>(db, &poll_key(&old_id))?
                .as_deref()
                == Some(WITHDRAWN)
            {
                self.delete(poll_key(&old_id));
            }
        }
        Ok(())
    }

    /// Forgets the poll ids of the attempts this command ended (a poll id
    /// marked withdrawn meanwhile stays marked).
    pub(super) fn unbind_ended(&mut self, db: &Db) -> Result<(), StoreError> {
        let ended = std::mem::take(&mut self.ended);
        if !self.keeps_poll_ids() {
            return Ok(());
        }
        for token in ended {
            let Some(poll_id) = self.get_decoded::<String>(db, &poll_of_key(&token))? else {
                continue;
            };
            self.delete(poll_of_key(&token));
            if self
                .get_decoded::<String>(db, &poll_key(&poll_id))?
                .as_deref()
                == Some(&token)
            {
                self.delete(poll_key(&poll_id));
            }
        }
        Ok(())
    }
}
