//! The first layouts of a schedule and of its definition (commits
//! `b64a172`..`7e235d2` on main, apply version 13 before buffering and
//! pause on failure): bincode stores fields by position, so records and
//! `Command::PutSchedule` entries written then are read with these and
//! converted; nothing is written in them any more.

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
            spec: d.spec,
            zone: d.zone,
            start_ms: d.start_ms,
            end_ms: d.end_ms,
            overlap: d.overlap,
            catchup_window_s: d.catchup_window_s,
            description: d.description,
            pause_on_failure: false,
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
        }
    }
}
