//! Replicated schedule records as the API shows them.

use raftflow_core::schedule_timetable::format_date;
use raftflow_proto::v1::{
    OverlapPolicy, ScheduleAction, ScheduleDefinition, ScheduleInfo, ScheduleOutcome,
};
use raftflow_store::schedules::{Action, Outcome, Overlap, Schedule, ScheduleDef};

/// The next scheduled times after the cursor (none while paused), or why
/// the spec does not read here.
pub fn upcoming(schedule: &Schedule, count: usize) -> (Vec<u64>, String) {
    if schedule.paused {
        return (Vec::new(), String::new());
    }
    match super::timetable_of(&schedule.def) {
        Ok(timetable) => (timetable.upcoming(schedule.cursor_ms, count), String::new()),
        Err(e) => (Vec::new(), e.to_string()),
    }
}

pub fn info(schedule: Schedule) -> ScheduleInfo {
    let (next_fire_ms, problem) = upcoming(&schedule, super::door::UPCOMING);
    ScheduleInfo {
        schedule: Some(definition(schedule.def)),
        paused: schedule.paused,
        note: schedule.note,
        revision: schedule.revision,
        created_ms: schedule.created_ms,
        updated_ms: schedule.updated_ms,
        cursor_ms: schedule.cursor_ms,
        next_fire_ms,
        buffered_ms: schedule.buffered.iter().map(|(at, _)| *at).collect(),
        recent: schedule.recent.into_iter().map(action).collect(),
        fired: schedule.fired,
        skipped: schedule.skipped,
        problem,
    }
}

fn definition(def: ScheduleDef) -> ScheduleDefinition {
    let state_machine = match def.version {
        0 => def.state_machine,
        v => format!("{}:{v}", def.state_machine),
    };
    let overlap = match def.overlap {
        Overlap::Skip => OverlapPolicy::Skip,
        Overlap::AllowAll => OverlapPolicy::AllowAll,
        Overlap::TerminateOther => OverlapPolicy::TerminateOther,
        Overlap::BufferOne => OverlapPolicy::BufferOne,
        Overlap::BufferAll => OverlapPolicy::BufferAll,
    };
    let mut specs = def.specs.into_iter();
    ScheduleDefinition {
        name: def.name,
        state_machine,
        input: def.input,
        spec: specs.next().unwrap_or_default(),
        more_specs: specs.collect(),
        exclude_dates: def.exclude_days.into_iter().map(format_date).collect(),
        jitter_ms: def.jitter_ms,
        time_zone: def.zone,
        start_ms: def.start_ms.unwrap_or(0),
        end_ms: def.end_ms.unwrap_or(0),
        overlap: overlap as i32,
        catchup_window_s: def.catchup_window_s,
        description: def.description,
        pause_on_failure: def.pause_on_failure,
    }
}

pub fn action(a: Action) -> ScheduleAction {
    let (outcome, execution_id, detail) = match a.outcome {
        Outcome::Started { execution_id } => {
            (ScheduleOutcome::Started, execution_id, String::new())
        }
        Outcome::AlreadyStarted { execution_id } => {
            (ScheduleOutcome::AlreadyStarted, execution_id, String::new())
        }
        Outcome::SkippedOverlap { running } => (
            ScheduleOutcome::SkippedOverlap,
            running,
            "the previous execution was still running".into(),
        ),
        Outcome::SkippedMissed { through_ms } => (
            ScheduleOutcome::SkippedMissed,
            String::new(),
            format!("missed times up to {through_ms} were older than the catch-up window"),
        ),
        Outcome::StartFailed { message } => (ScheduleOutcome::StartFailed, String::new(), message),
        Outcome::Buffered { running } => (
            ScheduleOutcome::Buffered,
            running,
            "kept until the running execution ends".into(),
        ),
    };
    ScheduleAction {
        scheduled_ms: a.scheduled_ms,
        at_ms: a.at_ms,
        trigger: a.trigger,
        outcome: outcome as i32,
        execution_id,
        detail,
    }
}
