//! Statistics per state machine: executions started and ended by status,
//! and a histogram of whole-execution durations, in minute and hour
//! buckets per version, plus all-time totals.
//!
//! Replicated, not derived: the apply that starts or ends an execution
//! adds to its buckets, so every replica holds the same numbers, a node
//! that joins from a snapshot or a cluster restored from a backup shows
//! them too, and they outlive the retention that purges executions. A
//! derived index could not do the last two: what a snapshot or a purge
//! removed is gone. The cost is one read-modify-write of three small
//! records (minute, hour, total) per start and per end, in the same batch.
//!
//! Integers only: counts, and durations counted into buckets with fixed
//! bounds (`DURATION_BOUNDS_MS`); percentiles are read off the buckets
//! when asked. Bounded: minute buckets are kept `MINUTES_KEPT`, hour
//! buckets `HOURS_KEPT`; each new bucket prunes up to `PRUNE_PER_BUCKET`
//! expired ones of its state machine, so the store holds at most about
//! (2,880 + 840) buckets per state machine and version. Applied from
//! apply version 21 (`STATS_FROM`); the apply is in workflow/stats.rs.

use serde::{Deserialize, Serialize};

use crate::codec::decode;
use crate::db::{Db, CF_SM};
use crate::error::StoreError;

/// The apply version from which executions are counted.
pub const STATS_FROM: u32 = 21;
/// Upper bounds of the duration buckets, in ms; one more bucket holds
/// everything longer.
pub const DURATION_BOUNDS_MS: [u64; 15] = [
    10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000, 900_000,
    3_600_000,
];
pub const DURATION_BUCKETS: usize = DURATION_BOUNDS_MS.len() + 1;
pub const MINUTE_MS: u64 = 60_000;
pub const HOUR_MS: u64 = 3_600_000;
/// Minute buckets are kept two days, hour buckets 35 days.
pub const MINUTES_KEPT: u64 = 2 * 24 * 60;
pub const HOURS_KEPT: u64 = 35 * 24;
/// Expired buckets one new bucket prunes, at most (keeps an apply bounded).
pub const PRUNE_PER_BUCKET: usize = 64;

const PREFIX: &[u8] = b"\0stats/";

/// Bucket sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grain {
    Minute,
    Hour,
}

impl Grain {
    pub fn ms(self) -> u64 {
        match self {
            Grain::Minute => MINUTE_MS,
            Grain::Hour => HOUR_MS,
        }
    }

    fn tag(self) -> u8 {
        match self {
            Grain::Minute => b'm',
            Grain::Hour => b'h',
        }
    }

    /// The tag of the per-state records (stats_states.rs).
    pub(crate) fn state_tag(self) -> u8 {
        match self {
            Grain::Minute => b'M',
            Grain::Hour => b'H',
        }
    }

    /// Buckets older than this many are pruned.
    pub fn kept(self) -> u64 {
        match self {
            Grain::Minute => MINUTES_KEPT,
            Grain::Hour => HOURS_KEPT,
        }
    }
}

/// What one bucket (or the totals) counted. Fields are only appended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub started: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub timed_out: u64,
    pub aborted: u64,
    /// Durations of the executions that ended, by `DURATION_BOUNDS_MS`.
    pub durations: [u64; DURATION_BUCKETS],
    /// Their sum, in ms (saturating): with the buckets, a Prometheus
    /// histogram.
    pub duration_ms_sum: u64,
}

impl Counts {
    pub fn ended(&self) -> u64 {
        self.succeeded
            .saturating_add(self.failed)
            .saturating_add(self.timed_out)
            .saturating_add(self.aborted)
    }

    pub fn add(&mut self, other: &Counts) {
        self.started = self.started.saturating_add(other.started);
        self.succeeded = self.succeeded.saturating_add(other.succeeded);
        self.failed = self.failed.saturating_add(other.failed);
        self.timed_out = self.timed_out.saturating_add(other.timed_out);
        self.aborted = self.aborted.saturating_add(other.aborted);
        add_durations(&mut self.durations, &other.durations);
        self.duration_ms_sum = self.duration_ms_sum.saturating_add(other.duration_ms_sum);
    }

    /// The `permille`th duration, read off the buckets with linear
    /// interpolation inside the one it falls in; `None` with no ended
    /// execution or when it falls past the last bound (over an hour).
    pub fn duration_percentile_ms(&self, permille: u64) -> Option<u64> {
        percentile_ms(&self.durations, permille)
    }
}

/// Adds the histogram `other` into `into`, bucket by bucket (saturating).
pub fn add_durations(into: &mut [u64; DURATION_BUCKETS], other: &[u64; DURATION_BUCKETS]) {
    for (a, b) in into.iter_mut().zip(other) {
        *a = a.saturating_add(*b);
    }
}

/// The `permille`th duration of a histogram over `DURATION_BOUNDS_MS`,
/// with linear interpolation inside its bucket; `None` when it is empty
/// or the duration falls past the last bound.
pub fn percentile_ms(durations: &[u64; DURATION_BUCKETS], permille: u64) -> Option<u64> {
    let total: u64 = durations.iter().fold(0, |a, b| a.saturating_add(*b));
    if total == 0 {
        return None;
    }
    // The rank of the wanted duration, 1-based: ceil(total × p).
    let rank = (u128::from(total) * u128::from(permille.min(1000)))
        .div_ceil(1000)
        .max(1);
    let mut before = 0u128;
    for (i, count) in durations.iter().enumerate() {
        let count = u128::from(*count);
        if before + count >= rank {
            let upper = *DURATION_BOUNDS_MS.get(i)?;
            let lower = if i == 0 { 0 } else { DURATION_BOUNDS_MS[i - 1] };
            let within = u128::from(upper - lower) * (rank - before) / count;
            return Some(lower + within as u64);
        }
        before += count;
    }
    None
}

/// The bucket index of a duration.
pub fn duration_bucket(ms: u64) -> usize {
    DURATION_BOUNDS_MS
        .iter()
        .position(|bound| ms <= *bound)
        .unwrap_or(DURATION_BOUNDS_MS.len())
}

pub(crate) fn machine_prefix(tag: u8, state_machine: &str) -> Vec<u8> {
    let mut key = PREFIX.to_vec();
    key.push(tag);
    key.push(b'/');
    key.extend_from_slice(state_machine.as_bytes());
    key.push(0);
    key
}

/// `\0stats/<m|h>/<state machine>\0<bucket start ms, BE>\0<version, BE>`:
/// a state machine's buckets in time order, versions side by side.
pub fn bucket_key(grain: Grain, state_machine: &str, start_ms: u64, version: u32) -> Vec<u8> {
    let mut key = machine_prefix(grain.tag(), state_machine);
    key.extend_from_slice(&start_ms.to_be_bytes());
    key.push(0);
    key.extend_from_slice(&version.to_be_bytes());
    key
}

/// The first key of `state_machine`'s buckets that start at `start_ms`.
pub fn bucket_from(grain: Grain, state_machine: &str, start_ms: u64) -> Vec<u8> {
    let mut key = machine_prefix(grain.tag(), state_machine);
    key.extend_from_slice(&start_ms.to_be_bytes());
    key
}

pub fn total_key(state_machine: &str, version: u32) -> Vec<u8> {
    let mut key = machine_prefix(b't', state_machine);
    key.extend_from_slice(&version.to_be_bytes());
    key
}

/// Every stats key of `state_machine` starts with one of these (for a
/// delete of the state machine), per-state records (stats_states.rs)
/// included.
pub fn prefixes(state_machine: &str) -> [Vec<u8>; 5] {
    [b'm', b'h', b't', b'M', b'H'].map(|tag| machine_prefix(tag, state_machine))
}

/// A bucket key's start time and version.
pub fn parse_bucket_key(prefix_len: usize, key: &[u8]) -> Option<(u64, u32)> {
    let rest = key.get(prefix_len..)?;
    let start = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
    let version = u32::from_be_bytes(rest.get(9..13)?.try_into().ok()?);
    Some((start, version))
}

/// One bucket of a series: its start and what it counted (all versions,
/// or one).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bucket {
    pub start_ms: u64,
    pub counts: Counts,
}

/// `state_machine`'s buckets starting in `[from_ms, to_ms)`, oldest first,
/// with versions added up unless `version` names one. Buckets that counted
/// nothing are absent.
pub fn series(
    db: &Db,
    state_machine: &str,
    version: Option<u32>,
    grain: Grain,
    from_ms: u64,
    to_ms: u64,
) -> Result<Vec<Bucket>, StoreError> {
    let prefix = machine_prefix(grain.tag(), state_machine);
    let mut out: Vec<Bucket> = Vec::new();
    let range = (from_ms, to_ms);
    each_bucket(db, &prefix, range, version, |at, _, value| {
        let counts: Counts = decode(value)?;
        match out.last_mut() {
            Some(last) if last.start_ms == at => last.counts.add(&counts),
            _ => out.push(Bucket {
                start_ms: at,
                counts,
            }),
        }
        Ok(())
    })?;
    Ok(out)
}

/// Calls `each(start, key, value)` for the records under `prefix` (one
/// state machine's buckets of one series) whose bucket starts in
/// `[from_ms, to_ms)`, oldest first, of `version` only if it names one.
pub(crate) fn each_bucket(
    db: &Db,
    prefix: &[u8],
    (from_ms, to_ms): (u64, u64),
    version: Option<u32>,
    mut each: impl FnMut(u64, &[u8], &[u8]) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut start = prefix.to_vec();
    start.extend_from_slice(&from_ms.to_be_bytes());
    let iter = db.raw().iterator_cf(
        db.cf(CF_SM),
        rocksdb::IteratorMode::From(&start, rocksdb::Direction::Forward),
    );
    for item in iter {
        let (key, value) = item?;
        let Some((at, v)) =
            parse_bucket_key(prefix.len(), &key).filter(|_| key.starts_with(prefix))
        else {
            break;
        };
        if at >= to_ms {
            break;
        }
        if version.is_none_or(|want| want == v) {
            each(at, &key, &value)?;
        }
    }
    Ok(())
}

/// All-time totals of `state_machine`, per version.
pub fn totals(db: &Db, state_machine: &str) -> Result<Vec<(u32, Counts)>, StoreError> {
    let prefix = machine_prefix(b't', state_machine);
    let mut out = Vec::new();
    for (key, value) in crate::workflow::scan(db, &prefix)? {
        let Some(v) = key.get(prefix.len()..).and_then(|b| b.try_into().ok()) else {
            continue;
        };
        out.push((u32::from_be_bytes(v), decode(&value)?));
    }
    Ok(out)
}

#[cfg(test)]
#[path = "stats_tests.rs"]
mod tests;
