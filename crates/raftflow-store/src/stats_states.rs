//! Statistics per state: how each state's visits ended (left by Next or
//! End, caught, failed), the retries they took and a histogram of their
//! durations, in the same minute and hour buckets as the executions'
//! (stats.rs), from apply version 23.
//!
//! One small record per state machine, bucket, version and state: a visit
//! rewrites its state's two records (minute, hour), and a window is one
//! range scan. No all-time totals: the hour buckets keep 35 days.
//! The engine reports each visit's end (`raftflow_core::Visit`); the
//! apply counts it (workflow/stats.rs). A visit cut short by its
//! execution's end (a stop, a timeout) ends none and is not counted.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::codec::decode;
use crate::db::Db;
use crate::error::StoreError;
use crate::stats::{
    add_durations, each_bucket, machine_prefix, percentile_ms, Grain, DURATION_BUCKETS,
};

/// The apply version from which state visits are counted.
pub const STATE_STATS_FROM: u32 = 23;

/// What one state's visits counted. Fields are only appended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateCounts {
    /// Visits that left by their Next or End.
    pub succeeded: u64,
    /// Visits that failed and a Catch moved on.
    pub caught: u64,
    /// Visits whose error failed their branch or execution.
    pub failed: u64,
    /// Attempts past each visit's first (Retry).
    pub retries: u64,
    /// Durations of the visits, entry to exit, by `DURATION_BOUNDS_MS`.
    pub durations: [u64; DURATION_BUCKETS],
    pub duration_ms_sum: u64,
}

impl StateCounts {
    pub fn visits(&self) -> u64 {
        self.succeeded
            .saturating_add(self.caught)
            .saturating_add(self.failed)
    }

    pub fn add(&mut self, other: &StateCounts) {
        self.succeeded = self.succeeded.saturating_add(other.succeeded);
        self.caught = self.caught.saturating_add(other.caught);
        self.failed = self.failed.saturating_add(other.failed);
        self.retries = self.retries.saturating_add(other.retries);
        add_durations(&mut self.durations, &other.durations);
        self.duration_ms_sum = self.duration_ms_sum.saturating_add(other.duration_ms_sum);
    }

    pub fn duration_percentile_ms(&self, permille: u64) -> Option<u64> {
        percentile_ms(&self.durations, permille)
    }
}

/// States by name, with what their visits counted.
pub type StateTable = BTreeMap<String, StateCounts>;

/// `\0stats/<M|H>/<state machine>\0<bucket start ms, BE>\0<version, BE><state>`:
/// one small record per state (21 varint integers), so a visit rewrites
/// its own, not every state of its bucket.
pub fn bucket_key(
    grain: Grain,
    state_machine: &str,
    (start_ms, version): (u64, u32),
    state: &str,
) -> Vec<u8> {
    let mut key = bucket_from(grain, state_machine, start_ms);
    key.push(0);
    key.extend_from_slice(&version.to_be_bytes());
    key.extend_from_slice(state.as_bytes());
    key
}

/// The first key of `state_machine`'s per-state buckets from `start_ms`.
pub fn bucket_from(grain: Grain, state_machine: &str, start_ms: u64) -> Vec<u8> {
    let mut key = machine_prefix(grain.state_tag(), state_machine);
    key.extend_from_slice(&start_ms.to_be_bytes());
    key
}

/// Every state of `state_machine` over the buckets starting in
/// `[from_ms, to_ms)`, added up (all versions unless `version` names one).
pub fn window(
    db: &Db,
    state_machine: &str,
    version: Option<u32>,
    grain: Grain,
    (from_ms, to_ms): (u64, u64),
) -> Result<StateTable, StoreError> {
    let prefix = machine_prefix(grain.state_tag(), state_machine);
    let mut out = StateTable::new();
    each_bucket(db, &prefix, (from_ms, to_ms), version, |_, key, value| {
        let name = String::from_utf8_lossy(&key[prefix.len() + 13..]).into_owned();
        out.entry(name).or_default().add(&decode(value)?);
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
#[path = "stats_states_tests.rs"]
mod tests;
