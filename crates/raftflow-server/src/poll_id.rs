//! Poll ids at the door. The store (workflow/polls.rs) records the id of
//! the poll each hand-out answers, in the hand-out's own log entry; here a
//! request's id is checked, the commands that carry it are built, and a
//! retried poll is answered from the applied state without a commit.
//!
//! Apply decides in every case — a retry that reaches a leader before the
//! first try's entry applied still gets the first try's attempt back — so
//! the read here only spares a commit.

use raftflow_store::records::TaskEntry;
use raftflow_store::workflow::{reads, POLL_IDS_FROM};
use raftflow_store::{Command, CommandResult};

use crate::error::ApiError;
use crate::limits;
use crate::node::NodeContext;

/// The poll id to record for a request: `None` when it names none, or when
/// the active apply version does not record them yet (older members).
pub fn checked(ctx: &NodeContext, raw: &str) -> Result<Option<String>, ApiError> {
    if raw.is_empty() {
        return Ok(None);
    }
    limits::name("the poll id", raw)?;
    let active = ctx.reader.active_apply_version();
    Ok((active >= POLL_IDS_FROM).then(|| raw.to_string()))
}

/// The command that hands `token` to a poll: `TaskDispatched`, or with a
/// poll id `TaskDispatchedForPoll`.
pub fn hand_out(
    token: &str,
    (epoch, worker, now_ms): (u64, &str, u64),
    poll_id: Option<&str>,
) -> Command {
    let (token, worker) = (token.to_string(), worker.to_string());
    match poll_id {
        None => Command::TaskDispatched {
            token,
            epoch,
            worker,
            now_ms,
        },
        Some(id) => Command::TaskDispatchedForPoll {
            token,
            epoch,
            worker,
            now_ms,
            poll_id: id.to_string(),
        },
    }
}

/// The command that hands the next ready task of `activities` to a poll
/// in the same entry as a report or a start (`after_report`).
pub fn dispatch_next(
    (epoch, worker, now_ms): (u64, &str, u64),
    activities: &[String],
    poll_id: Option<&str>,
) -> Command {
    let (worker, activities) = (worker.to_string(), activities.to_vec());
    match poll_id {
        None => Command::DispatchNext {
            epoch,
            worker,
            activities,
            now_ms,
            after_report: true,
        },
        Some(id) => Command::DispatchNextForPoll {
            epoch,
            worker,
            activities,
            now_ms,
            after_report: true,
            poll_id: id.to_string(),
        },
    }
}

/// The open attempt poll `poll_id` already holds, read from this node's
/// applied state; refused when it is not one of `activities`.
pub fn held(
    ctx: &NodeContext,
    poll_id: &str,
    activities: &[String],
) -> Result<Option<TaskEntry>, ApiError> {
    let Some(task) = reads::held_by_poll(ctx.reader.db(), poll_id)? else {
        return Ok(None);
    };
    if !activities.contains(&task.activity) {
        return Err(ApiError::InvalidArgument(format!(
            "poll id `{poll_id}` already holds a task of activity `{}`; use a new id for every poll",
            task.activity
        )));
    }
    Ok(Some(task))
}

/// `WithdrawPoll`: the parked poll stops waiting here, and the withdrawal
/// is committed — also when nothing seems handed out yet, since a hand-out
/// to that poll may still be on its way to the log (apply then refuses it).
/// Returns whether a task went back.
pub async fn withdraw(ctx: &NodeContext, raw: &str) -> Result<bool, ApiError> {
    limits::name("the poll id", raw)?;
    let Some(poll_id) = checked(ctx, raw)? else {
        return Err(ApiError::FailedPrecondition(format!(
            "withdrawing a poll needs apply version {POLL_IDS_FROM} (`raftflow cluster upgrade-version`); wait for the poll to end instead"
        )));
    };
    ctx.scheduler.withdraw_parked(&poll_id);
    let command = Command::WithdrawPoll {
        poll_id,
        now_ms: ctx.stamp_ms(),
        seed: rand::random(),
    };
    match ctx.proposer.propose(command).await? {
        CommandResult::Accepted => Ok(true),
        CommandResult::NothingReady => Ok(false),
        CommandResult::Rejected { code, message } => Err(ApiError::rejected(code, message)),
        other => Err(ApiError::Internal(format!("unexpected result {other:?}"))),
    }
}
