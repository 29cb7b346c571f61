//! A backfill, on the node that takes the request: the schedule's times in
//! the range are read from its spec here (apply never reads a spec) and
//! proposed in entries of at most `MAX_BACKFILL_BATCH` times, each of which
//! apply decides once (raftflow_store's workflow/schedule_backfill.rs).
//!
//! ```text
//!  from..=to (cut at the cursor) ──timetable──▶ times ──chunks of 256──▶ BackfillSchedule × n
//! ```
//! Nothing is kept between entries: a request cut short by a leader change
//! is repeated whole, and the entries that were applied start nothing again.

use raftflow_proto::v1::{BackfillScheduleReply, BackfillScheduleRequest};
use raftflow_store::schedules::{
    Backfilled, Overlap, Schedule, MAX_BACKFILL_BATCH, TIMETABLES_FROM,
};
use raftflow_store::{Command, CommandResult};

use crate::error::ApiError;
use crate::node::NodeContext;

/// Scheduled times one backfill request may cover, at most.
pub const MAX_BACKFILL_TIMES: usize = 10_000;

/// Backfills `request`'s range of `schedule` (read after a barrier).
pub async fn run(
    ctx: &NodeContext,
    schedule: &Schedule,
    request: &BackfillScheduleRequest,
) -> Result<BackfillScheduleReply, ApiError> {
    let active = ctx.reader.active_apply_version();
    if active < TIMETABLES_FROM {
        return Err(ApiError::FailedPrecondition(format!(
            "backfill needs apply version {TIMETABLES_FROM} (the cluster is at {active}; it is raised once every member runs a release that has it)"
        )));
    }
    let overlap = match request.overlap {
        0 => schedule.def.overlap,
        value => super::door::overlap(value)?,
    };
    let to_ms = range_end(schedule, request)?;
    let timetable = super::timetable_of(&schedule.def)
        .map_err(|e| ApiError::FailedPrecondition(format!("the spec does not read here: {e}")))?;
    let times = timetable
        .between(request.from_ms, to_ms, MAX_BACKFILL_TIMES)
        .map_err(|max| {
            ApiError::InvalidArgument(format!(
                "the range holds more than {max} scheduled times; backfill it in parts"
            ))
        })?;
    let mut reply = BackfillScheduleReply {
        times: times.len() as u32,
        to_ms,
        ..Default::default()
    };
    let mut from_ms = request.from_ms;
    let chunks: Vec<&[u64]> = times.chunks(MAX_BACKFILL_BATCH).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        // The last entry decides the rest of the range too.
        let chunk_to_ms = if i + 1 == chunks.len() {
            to_ms
        } else {
            *chunk.last().expect("chunks are not empty")
        };
        let done = propose(ctx, schedule, overlap, (from_ms, chunk_to_ms), chunk).await?;
        ctx.metrics.schedules.backfilled.fetch_add(
            u64::from(done.started),
            std::sync::atomic::Ordering::Relaxed,
        );
        add(&mut reply, &done);
        from_ms = chunk_to_ms.saturating_add(1);
    }
    Ok(reply)
}

/// The range's end, cut at the cursor: later times are the schedule's own.
fn range_end(schedule: &Schedule, request: &BackfillScheduleRequest) -> Result<u64, ApiError> {
    if request.from_ms > request.to_ms {
        return Err(ApiError::InvalidArgument(format!(
            "to_ms {} is before from_ms {}",
            request.to_ms, request.from_ms
        )));
    }
    let to_ms = request.to_ms.min(schedule.cursor_ms);
    if request.from_ms > to_ms {
        return Err(ApiError::InvalidArgument(format!(
            "nothing to backfill: from_ms {} is after the schedule's last fired or skipped time ({}); later times fire as scheduled",
            request.from_ms, schedule.cursor_ms
        )));
    }
    Ok(to_ms)
}

async fn propose(
    ctx: &NodeContext,
    schedule: &Schedule,
    overlap: Overlap,
    (from_ms, to_ms): (u64, u64),
    times: &[u64],
) -> Result<Backfilled, ApiError> {
    let command = Command::BackfillSchedule {
        name: schedule.def.name.clone(),
        revision: schedule.revision,
        from_ms,
        to_ms,
        times: times.to_vec(),
        overlap,
        now_ms: ctx.stamp_ms(),
        seed: rand::random(),
        default_task_timeout_s: ctx.config.scheduler.task_lease_s,
    };
    match ctx.proposer.propose(command).await? {
        CommandResult::ScheduleBackfilled(done) => Ok(done),
        CommandResult::Rejected { code, message } => Err(ApiError::rejected(code, message)),
        other => Err(ApiError::Internal(format!(
            "unexpected result of a backfill: {other:?}"
        ))),
    }
}

fn add(reply: &mut BackfillScheduleReply, done: &Backfilled) {
    reply.started = reply.started.saturating_add(done.started);
    reply.skipped = reply.skipped.saturating_add(done.skipped);
    reply.buffered = reply.buffered.saturating_add(done.buffered);
    reply.failed = reply.failed.saturating_add(done.failed);
    reply.already = reply.already.saturating_add(done.already);
}
