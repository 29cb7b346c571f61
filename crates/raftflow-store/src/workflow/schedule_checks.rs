//! What apply checks of schedule commands, and the refusals it answers
//! (workflow/schedules.rs applies them).

use super::apply::reject;
use crate::command::{CommandResult, Reject};
use crate::schedules::*;

/// The bounds apply holds a definition to (the door checks them first,
/// with the spec parsed; apply never parses a spec).
pub(super) fn def_problem(def: &ScheduleDef) -> Option<String> {
    if let Some(problem) = name_problem("schedule", &def.name, MAX_SCHEDULE_NAME_CHARS) {
        return Some(problem);
    }
    let longest_spec = def.specs.iter().map(String::len).max().unwrap_or(0);
    let sizes = [
        ("the state machine name", def.state_machine.len(), 80),
        ("the input", def.input.len(), MAX_SCHEDULE_INPUT_BYTES),
        ("the spec", longest_spec, MAX_SPEC_BYTES),
        ("the time zone", def.zone.len(), MAX_ZONE_BYTES),
        ("the description", def.description.len(), MAX_TEXT_BYTES),
    ];
    if let Some((field, len, max)) = sizes.into_iter().find(|(_, len, max)| len > max) {
        return Some(format!("{field} is {len} bytes; at most {max}"));
    }
    if let Some(problem) = timetable_problem(def) {
        return Some(problem);
    }
    if def.catchup_window_s == 0 || def.catchup_window_s > MAX_CATCHUP_WINDOW_S {
        return Some(format!(
            "the catch-up window is {} s; from 1 to {MAX_CATCHUP_WINDOW_S}",
            def.catchup_window_s
        ));
    }
    match (def.start_ms, def.end_ms) {
        (Some(start), Some(end)) if end < start => Some(format!(
            "the end ({end} ms) is before the start ({start} ms)"
        )),
        _ => None,
    }
}

/// A schedule's or trigger's name: 1 to `max` letters, digits, `-`, `_`
/// or `.` (its executions' names are built from it).
pub(super) fn name_problem(kind: &str, name: &str, max: usize) -> Option<String> {
    let ok = !name.is_empty()
        && name.chars().count() <= max
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    (!ok).then(|| format!("a {kind} name has 1 to {max} letters, digits, `-`, `_` or `.`"))
}

/// Counts and order of what version 14 added (a version 13 definition
/// always passes: one spec, nothing else).
pub(super) fn timetable_problem(def: &ScheduleDef) -> Option<String> {
    use raftflow_core::schedule_timetable::{MAX_EXCLUDED_DATES, MAX_SPECS};
    if def.specs.is_empty() || def.specs.len() > MAX_SPECS {
        return Some(format!(
            "a schedule has 1 to {MAX_SPECS} specs, not {}",
            def.specs.len()
        ));
    }
    if def.exclude_days.len() > MAX_EXCLUDED_DATES
        || !def.exclude_days.windows(2).all(|w| w[0] < w[1])
    {
        return Some(format!(
            "excluded dates are at most {MAX_EXCLUDED_DATES}, ascending, each once"
        ));
    }
    (def.jitter_ms > MAX_JITTER_MS).then(|| {
        format!(
            "the jitter is {} ms; at most {MAX_JITTER_MS}",
            def.jitter_ms
        )
    })
}

pub(super) fn not_found(name: &str) -> CommandResult {
    reject(
        Reject::NotFound,
        format!("schedule `{name}` does not exist"),
    )
}

pub(super) fn too_long(field: &str, len: usize, max: usize) -> CommandResult {
    reject(
        Reject::InvalidArgument,
        format!("{field} is {len} bytes; at most {max}"),
    )
}

pub(super) fn changed(name: &str, planned: u64, now: u64) -> CommandResult {
    reject(
        Reject::FailedPrecondition,
        format!("schedule `{name}` changed (revision {now}, the fire was planned at {planned})"),
    )
}

pub(super) fn spent(name: &str, scheduled_ms: u64, cursor_ms: u64) -> CommandResult {
    reject(
        Reject::AlreadyExists,
        format!("schedule `{name}` already fired or skipped the time {scheduled_ms} (its cursor is at {cursor_ms})"),
    )
}
