//! Schedules: replicated state that starts executions on a timetable.
//!
//! ```text
//!  PutSchedule ─▶ record (def, cursor = now)      leader: next = spec.next_after(cursor)
//!  FireSchedule { scheduled_ms, revision } ─▶ scheduled_ms > cursor? ─▶ start (or skip: overlap)
//!                                              └─ cursor = scheduled_ms, in the same apply
//! ```
//! Exactly once per scheduled time: the cursor (the last scheduled time
//! fired or skipped) moves in the apply that starts the execution, so a
//! fire retried across a failover is refused, whatever happened to the
//! execution since. Apply never reads a spec (the leader does, with
//! raftflow_core::schedule_spec): the time-zone database is part of the
//! binary and may change with a release; apply only compares times.
//!
//! Applied from apply version 13 (`SCHEDULES_FROM`); refused before.
//! The apply itself is in workflow/schedules.rs: a fire starts an
//! execution through the same path as `StartExecution`.

use serde::{Deserialize, Serialize};

use crate::codec::decode;
use crate::db::{Db, CF_SM};
use crate::error::StoreError;

/// The apply version from which the schedule commands are applied.
pub const SCHEDULES_FROM: u32 = 13;
/// The apply version from which a schedule has several specs, excluded
/// dates, jitter and backfill (`PutScheduleV3`, `BackfillSchedule`), and
/// records the ranges of time it has decided (`Schedule::decided`).
pub const TIMETABLES_FROM: u32 = 14;
/// Scheduled times in one `BackfillSchedule` entry, at most.
pub const MAX_BACKFILL_BATCH: usize = 256;
/// Decided ranges a schedule keeps; past that the two oldest are joined
/// (the gap between them can no longer be backfilled: never twice).
pub const MAX_DECIDED_RANGES: usize = 256;
/// The longest jitter: a day (EventBridge's flexible window is at most 1,440 minutes).
pub const MAX_JITTER_MS: u64 = 24 * 3600 * 1000;
/// A schedule's name, at most: its executions are named
/// `NAME-trigger-yyyymmddThhmmss.mmmZ` within the 80-character name rule.
pub const MAX_SCHEDULE_NAME_CHARS: usize = 48;
/// Actions kept per schedule for `describe`, newest last.
pub const MAX_RECENT_ACTIONS: usize = 10;
/// Times a `buffer_all` schedule keeps at most; later ones are skipped.
pub const MAX_BUFFERED: usize = 1000;
/// The largest fixed input a schedule keeps (Step Functions' input limit).
pub const MAX_SCHEDULE_INPUT_BYTES: usize = 256 * 1024;
/// Spec, zone, description and note, at most (bytes).
pub const MAX_SPEC_BYTES: usize = 256;
pub const MAX_ZONE_BYTES: usize = 64;
pub const MAX_TEXT_BYTES: usize = 512;
/// The longest catch-up window: a year, as Temporal's default.
pub const MAX_CATCHUP_WINDOW_S: u64 = 366 * 24 * 3600;
/// EventBridge Scheduler's placeholder for the scheduled time, replaced in
/// the input of each fire by the time as `2026-12-04T02:30:00Z`.
pub const SCHEDULED_TIME_PLACEHOLDER: &str = "<aws.scheduler.scheduled-time>";

pub(crate) const SCHEDULE_PREFIX: &[u8] = b"\0schedule/";

/// What to do when a fire comes while the schedule's previous execution is
/// still running. (Temporal's `cancel_other` needs a graceful cancel that
/// raftflow does not have; it is left out.) Variants are only appended:
/// bincode stores their position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Overlap {
    /// Skip this fire (recorded as skipped); the default.
    Skip,
    /// Start it anyway.
    AllowAll,
    /// Stop the running one (as `StopExecution`: ABORTED, error
    /// `Schedule.Overlap`), then start.
    TerminateOther,
    /// Keep this time and start it when the running one ends; while one
    /// is kept, later ones are skipped.
    BufferOne,
    /// Keep every time (up to `MAX_BUFFERED`) and start them one after
    /// another as each run ends.
    BufferAll,
}

impl Overlap {
    pub fn as_str(self) -> &'static str {
        match self {
            Overlap::Skip => "skip",
            Overlap::AllowAll => "allow_all",
            Overlap::TerminateOther => "terminate_other",
            Overlap::BufferOne => "buffer_one",
            Overlap::BufferAll => "buffer_all",
        }
    }
}

/// What a user sets: create and update carry all of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleDef {
    pub name: String,
    pub state_machine: String,
    /// 0: the latest version at each fire.
    pub version: u32,
    pub input: String,
    /// `cron(…)`, `rate(…)`, `at(…)` or a plain cron expression, one to
    /// eight: a time of any of them is a scheduled time (once).
    pub specs: Vec<String>,
    /// An IANA time zone.
    pub zone: String,
    pub start_ms: Option<u64>,
    pub end_ms: Option<u64>,
    pub overlap: Overlap,
    /// Missed times older than this (after an outage) are skipped.
    pub catchup_window_s: u64,
    pub description: String,
    /// Pause the schedule when one of its executions fails or times out.
    pub pause_on_failure: bool,
    /// Dates (days since 1970-01-01 in the zone's calendar) on which no
    /// scheduled time fires, ascending.
    pub exclude_days: Vec<i32>,
    /// The leader fires each time up to this long after it (drawn per time,
    /// raftflow_core::schedule_timetable::jitter_ms).
    pub jitter_ms: u64,
}

impl ScheduleDef {
    /// The first spec (every definition has one).
    pub fn spec(&self) -> &str {
        self.specs.first().map_or("", String::as_str)
    }
}

/// What happened at one scheduled time (or trigger).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    Started {
        execution_id: String,
    },
    /// An execution of that name already existed (started before).
    AlreadyStarted {
        execution_id: String,
    },
    /// The previous execution was still running (overlap `skip`).
    SkippedOverlap {
        running: String,
    },
    /// Missed (no leader, or the cluster down) and older than the catch-up
    /// window: every scheduled time up to `through_ms` is skipped.
    SkippedMissed {
        through_ms: u64,
    },
    /// The start was refused (the state machine is gone, the input is not
    /// JSON once the scheduled time is put in): the time is spent.
    StartFailed {
        message: String,
    },
    /// Kept (overlap `buffer_one`/`buffer_all`) until `running` ends.
    Buffered {
        running: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    pub scheduled_ms: u64,
    /// When the fire was applied (log time).
    pub at_ms: u64,
    pub trigger: bool,
    pub outcome: Outcome,
}

/// What one backfill entry did: times started, skipped by the overlap
/// policy, kept by a buffer policy, refused at the start, or already
/// decided (fired, skipped or backfilled before: never twice).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backfilled {
    pub started: u32,
    pub skipped: u32,
    pub buffered: u32,
    pub failed: u32,
    pub already: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub def: ScheduleDef,
    pub paused: bool,
    pub note: String,
    /// Changes with every update, pause and unpause: a fire planned before
    /// carries the old one and is refused.
    pub revision: u64,
    pub created_ms: u64,
    pub updated_ms: u64,
    /// The last scheduled time fired or skipped: only later ones fire.
    pub cursor_ms: u64,
    /// Executions it started that may still run (checked at each fire).
    pub running: Vec<String>,
    /// Times kept by a buffer overlap policy, oldest first, each with the
    /// task lease of the fire that kept it.
    pub buffered: Vec<(u64, u64)>,
    pub recent: Vec<Action>,
    pub fired: u64,
    pub skipped: u64,
    /// Ranges of scheduled time (both ends included, ascending, apart)
    /// whose every time has had its one chance: fired, skipped by the
    /// overlap policy, failed to start or backfilled. A backfill starts only
    /// times outside them; the gaps are times missed past the catch-up
    /// window, paused, or from before the schedule existed.
    pub decided: Vec<(u64, u64)>,
}

impl Schedule {
    /// Whether `at_ms` lies in a decided range.
    pub fn is_decided(&self, at_ms: u64) -> bool {
        let after = self.decided.partition_point(|(from, _)| *from <= at_ms);
        after > 0 && self.decided[after - 1].1 >= at_ms
    }

    /// Marks `from_ms..=to_ms` decided, joined with the ranges it touches;
    /// at `MAX_DECIDED_RANGES` the two oldest are joined.
    pub fn decide(&mut self, from_ms: u64, to_ms: u64) {
        debug_assert!(from_ms <= to_ms);
        let (mut from, mut to) = (from_ms, to_ms);
        self.decided.retain(|&(a, b)| {
            let touches = a <= to.saturating_add(1) && b.saturating_add(1) >= from;
            if touches {
                (from, to) = (from.min(a), to.max(b));
            }
            !touches
        });
        let at = self.decided.partition_point(|(a, _)| *a < from);
        self.decided.insert(at, (from, to));
        if self.decided.len() > MAX_DECIDED_RANGES {
            let (_, second_end) = self.decided.remove(1);
            self.decided[0].1 = second_end;
        }
    }

    /// A scheduled time reached in order (a fire, an overlap skip): the
    /// range ending at the cursor grows to it, else a new one starts.
    pub fn decide_next(&mut self, at_ms: u64) {
        match self.decided.last_mut() {
            Some(last) if last.1 == self.cursor_ms && at_ms >= last.1 => last.1 = at_ms,
            _ => self.decide(at_ms, at_ms),
        }
    }
}

/// How a schedule is stored: versioned, so that it can grow fields
/// (schedules_v1.rs keeps the first layout).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Stored {
    V1(crate::schedules_v1::ScheduleV1),
    /// With `buffered` and `pause_on_failure` (apply version 13).
    V2(crate::schedules_v1::ScheduleV2),
    /// With several specs, excluded dates, jitter and the decided ranges
    /// (apply version 14 on).
    V3(Schedule),
}

pub(crate) fn key(name: &str) -> Vec<u8> {
    let mut key = SCHEDULE_PREFIX.to_vec();
    key.extend_from_slice(name.as_bytes());
    key
}

pub(crate) fn decode_stored(bytes: &[u8]) -> Result<Schedule, StoreError> {
    match decode::<Stored>(bytes)? {
        Stored::V1(schedule) => Ok(schedule.into()),
        Stored::V2(schedule) => Ok(schedule.into()),
        Stored::V3(schedule) => Ok(schedule),
    }
}

/// One schedule as applied here.
pub fn read(db: &Db, name: &str) -> Result<Option<Schedule>, StoreError> {
    db.get(CF_SM, &key(name))?
        .map(|b| decode_stored(&b))
        .transpose()
}

/// Up to `limit` schedules by name, from after `after` (paging).
pub fn list(db: &Db, after: &str, limit: usize) -> Result<Vec<Schedule>, StoreError> {
    crate::db::page_by_prefix(db, SCHEDULE_PREFIX, after, limit, decode_stored)
}

/// The execution name for a scheduled time: `NAME-20261204T023000Z`
/// (milliseconds shown only when not zero), or for a trigger
/// `NAME-trigger-20261204T023000.123Z`.
pub fn execution_name(schedule: &str, scheduled_ms: u64, trigger: bool) -> String {
    let stamp = compact_time(scheduled_ms, trigger);
    if trigger {
        format!("{schedule}-trigger-{stamp}")
    } else {
        format!("{schedule}-{stamp}")
    }
}

fn compact_time(ms: u64, with_millis: bool) -> String {
    let text: String = rfc3339_time(ms)
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect();
    if with_millis && ms.is_multiple_of(1000) {
        text.replace('Z', ".000Z")
    } else {
        text
    }
}

/// The scheduled time as EventBridge writes it: `2026-12-04T02:30:00Z`
/// (with `.mmm` only when the milliseconds are not zero). Integer calendar
/// arithmetic (raftflow_core::time), the same on every replica.
pub fn rfc3339_time(ms: u64) -> String {
    let text = raftflow_core::time::format_millis(ms);
    if ms.is_multiple_of(1000) {
        text.replace(".000Z", "Z")
    } else {
        text
    }
}

/// A schedule's input for one fire: the placeholder replaced.
pub fn fire_input(input: &str, scheduled_ms: u64) -> String {
    if input.contains(SCHEDULED_TIME_PLACEHOLDER) {
        input.replace(SCHEDULED_TIME_PLACEHOLDER, &rfc3339_time(scheduled_ms))
    } else {
        input.to_string()
    }
}

#[cfg(test)]
#[path = "schedules_tests.rs"]
mod tests;
