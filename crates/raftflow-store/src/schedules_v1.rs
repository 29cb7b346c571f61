//! The earlier layouts of a schedule and of its definition: bincode stores
//! fields by position, so records and commands written in them are read
//! with these and converted.
//! - V1: commits `b64a172`..`7e235d2` on main (apply version 13 before
//!   buffering and pause on failure); nothing is written in it any more.
//! - V2: apply version 13 (one spec, no decided ranges); still written
//!   while the cluster's apply version is 13, so an older node reads it.

use serde::{Deserialize, Serialize};

use crate::schedules::{Action, Overlap, Schedule, ScheduleDef};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleDefV1 {
    pub name: String,
    pub state_machine: String,
    pub version: u32,
    pub input: String,
    pub spec: String,
    pub zone: String,
    pub start_ms: Option<u64>,
    pub end_ms: Option<u64>,
    pub overlap: Overlap,
    pub catchup_window_s: u64,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleV1 {
    pub def: ScheduleDefV1,
    pub paused: bool,
    pub note: String,
    pub revision: u64,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub cursor_ms: u64,
    pub running: Vec<String>,
    pub recent: Vec<Action>,
    pub fired: u64,
    pub skipped: u64,
}

impl From<ScheduleDefV1> for ScheduleDef {
    fn from(d: ScheduleDefV1) -> Self {
        ScheduleDef {
            name: d.name,
            state_machine: d.state_machine,
            version: d.version,
            input: d.input,
            specs: vec![d.spec],
            zone: d.zone,
            start_ms: d.start_ms,
            end_ms: d.end_ms,
            overlap: d.overlap,
            catchup_window_s: d.catchup_window_s,
            description: d.description,
            pause_on_failure: false,
            exclude_days: Vec::new(),
            jitter_ms: 0,
        }
    }
}

impl From<ScheduleV1> for Schedule {
    fn from(s: ScheduleV1) -> Self {
        Schedule {
            def: s.def.into(),
            paused: s.paused,
            note: s.note,
            revision: s.revision,
            created_ms: s.created_ms,
            updated_ms: s.updated_ms,
            cursor_ms: s.cursor_ms,
            running: s.running,
            buffered: Vec::new(),
            recent: s.recent,
            fired: s.fired,
            skipped: s.skipped,
            // Written before the ranges were kept: all of its time since
            // creation counts as decided, so a backfill never repeats a run.
            decided: decided_since(s.created_ms, s.cursor_ms),
        }
    }
}

fn decided_since(created_ms: u64, cursor_ms: u64) -> Vec<(u64, u64)> {
    if cursor_ms > created_ms {
        vec![(created_ms, cursor_ms)]
    } else {
        Vec::new()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleDefV2 {
    pub name: String,
    pub state_machine: String,
    pub version: u32,
    pub input: String,
    pub spec: String,
    pub zone: String,
    pub start_ms: Option<u64>,
    pub end_ms: Option<u64>,
    pub overlap: Overlap,
    pub catchup_window_s: u64,
    pub description: String,
    pub pause_on_failure: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleV2 {
    pub def: ScheduleDefV2,
    pub paused: bool,
    pub note: String,
    pub revision: u64,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub cursor_ms: u64,
    pub running: Vec<String>,
    pub buffered: Vec<(u64, u64)>,
    pub recent: Vec<Action>,
    pub fired: u64,
    pub skipped: u64,
}

impl From<ScheduleDefV2> for ScheduleDef {
    fn from(d: ScheduleDefV2) -> Self {
        ScheduleDef {
            name: d.name,
            state_machine: d.state_machine,
            version: d.version,
            input: d.input,
            specs: vec![d.spec],
            zone: d.zone,
            start_ms: d.start_ms,
            end_ms: d.end_ms,
            overlap: d.overlap,
            catchup_window_s: d.catchup_window_s,
            description: d.description,
            pause_on_failure: d.pause_on_failure,
            exclude_days: Vec::new(),
            jitter_ms: 0,
        }
    }
}

/// For apply version 13, which has one spec and nothing of version 14.
impl From<&ScheduleDef> for ScheduleDefV2 {
    fn from(d: &ScheduleDef) -> Self {
        ScheduleDefV2 {
            name: d.name.clone(),
            state_machine: d.state_machine.clone(),
            version: d.version,
            input: d.input.clone(),
            spec: d.spec().to_string(),
            zone: d.zone.clone(),
            start_ms: d.start_ms,
            end_ms: d.end_ms,
            overlap: d.overlap,
            catchup_window_s: d.catchup_window_s,
            description: d.description.clone(),
            pause_on_failure: d.pause_on_failure,
        }
    }
}

impl From<ScheduleV2> for Schedule {
    fn from(s: ScheduleV2) -> Self {
        Schedule {
            decided: decided_since(s.created_ms, s.cursor_ms),
            def: s.def.into(),
            paused: s.paused,
            note: s.note,
            revision: s.revision,
            created_ms: s.created_ms,
            updated_ms: s.updated_ms,
            cursor_ms: s.cursor_ms,
            running: s.running,
            buffered: s.buffered,
            recent: s.recent,
            fired: s.fired,
            skipped: s.skipped,
        }
    }
}

impl From<&Schedule> for ScheduleV2 {
    fn from(s: &Schedule) -> Self {
        ScheduleV2 {
            def: (&s.def).into(),
            paused: s.paused,
            note: s.note.clone(),
            revision: s.revision,
            created_ms: s.created_ms,
            updated_ms: s.updated_ms,
            cursor_ms: s.cursor_ms,
            running: s.running.clone(),
            buffered: s.buffered.clone(),
            recent: s.recent.clone(),
            fired: s.fired,
            skipped: s.skipped,
        }
    }
}
