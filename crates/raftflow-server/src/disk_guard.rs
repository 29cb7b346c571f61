//! Running out of disk: watch it, refuse growth, recover by itself.
//!
//! ```text
//!  every check_interval_ms, every node:  free space of the data dir's filesystem < min_free_mb ─┐
//!                                        bytes of the data dir               > quota_mb ────────┴─▶ "short of space"
//!  the leader: its own view + each member's (Status) ──▶ door refuses growing writes (RESOURCE_EXHAUSTED)
//!                                                    └──▶ SetAlarm raise / clear (alarm_keeper.rs)
//! ```
//! A node that runs out of space for real stops its Raft core (the log
//! append fails), and every node fills at about the same rate: without a
//! floor the whole cluster stops at once. Below the floor the cluster stops
//! taking new work (starts, new state machines), keeps serving reads and
//! lets running executions go on in the space the floor leaves; the alarm
//! clears once space is back above the floor plus a margin, so that it
//! does not flap.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use raftflow_store::NodeId;
use serde::Deserialize;

use crate::error::ApiError;

const MIB: u64 = 1 << 20;
/// A member's report older than this does not count (it is down or cut off).
const FRESH: Duration = Duration::from_secs(10);

/// `[storage]` in the node's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Free space the data directory's filesystem keeps: below it the node
    /// is short of space (0: no floor).
    pub min_free_mb: u64,
    /// The most the data directory may hold (0: no quota), as etcd's
    /// `--quota-backend-bytes`.
    pub quota_mb: u64,
    /// How often each node measures, and the leader gathers the members'.
    pub check_interval_ms: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            min_free_mb: 256,
            quota_mb: 8192,
            check_interval_ms: 1_000,
        }
    }
}

/// The smallest floor (other than none): RocksDB itself needs room to go
/// on below the floor — a memtable flush writes up to two 16 MiB tables
/// per family, a new write-ahead log is preallocated, a compaction writes
/// its output before it deletes its input.
pub const MIN_FLOOR_MB: u64 = 128;

impl StorageConfig {
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.min_free_mb != 0 && self.min_free_mb < MIN_FLOOR_MB {
            return Err((
                "storage.min_free_mb",
                format!("must be 0 (no floor) or at least {MIN_FLOOR_MB}: below the floor the node still needs room to flush and compact"),
            ));
        }
        if !(10..=60_000).contains(&self.check_interval_ms) {
            return Err((
                "storage.check_interval_ms",
                "must be between 10 and 60000".into(),
            ));
        }
        Ok(())
    }
}

/// One measurement of a node's disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reading {
    pub free_bytes: u64,
    pub data_bytes: u64,
}

/// Whether `reading` leaves the node short of space, and why. `was_short`
/// adds the margin that keeps an alarm from flapping: an eighth of the
/// floor (or of the quota) must come back before it clears.
pub fn assess(config: &StorageConfig, reading: Reading, was_short: bool) -> Option<String> {
    let floor = config.min_free_mb.saturating_mul(MIB);
    let quota = config.quota_mb.saturating_mul(MIB);
    let (floor_now, quota_now) = if was_short {
        (
            floor.saturating_add(floor / 8),
            quota.saturating_sub(quota / 8),
        )
    } else {
        (floor, quota)
    };
    if floor > 0 && reading.free_bytes < floor_now {
        return Some(format!(
            "{} MiB free on the data directory's filesystem, below the floor storage.min_free_mb = {}",
            reading.free_bytes / MIB,
            config.min_free_mb
        ));
    }
    if quota > 0 && reading.data_bytes > quota_now {
        return Some(format!(
            "the data directory holds {} MiB, above the quota storage.quota_mb = {}",
            reading.data_bytes / MIB,
            config.quota_mb
        ));
    }
    None
}

/// Free bytes for an unprivileged writer on the filesystem holding `dir`,
/// and the bytes under `dir`.
pub fn measure(dir: &Path) -> std::io::Result<Reading> {
    let stat = nix::sys::statvfs::statvfs(dir).map_err(std::io::Error::from)?;
    let free_bytes = (stat.blocks_available() as u64).saturating_mul(stat.fragment_size() as u64);
    Ok(Reading {
        free_bytes,
        data_bytes: raftflow_store::dir_bytes(dir),
    })
}

#[derive(Debug, Default)]
struct Own {
    reading: Reading,
    short: Option<String>,
}

/// This node's disk, and what the leader last heard of each member's.
pub struct DiskGuard {
    pub config: StorageConfig,
    dir: PathBuf,
    own: Mutex<Own>,
    members: Mutex<BTreeMap<NodeId, (Option<String>, Instant)>>,
}

impl DiskGuard {
    pub fn new(config: StorageConfig, dir: PathBuf) -> Self {
        Self {
            config,
            dir,
            own: Mutex::default(),
            members: Mutex::default(),
        }
    }

    /// Measures this node's disk (blocking: it walks the data directory)
    /// and logs a change of state.
    pub fn check(&self, node: NodeId) {
        let reading = match measure(&self.dir) {
            Ok(reading) => reading,
            Err(e) => {
                tracing::warn!(node, "cannot measure the data directory's disk: {e}");
                return;
            }
        };
        let mut own = self.own.lock().expect("disk lock");
        let short = assess(&self.config, reading, own.short.is_some());
        match (&own.short, &short) {
            (None, Some(why)) => tracing::warn!(
                node,
                "short of space: {why}; new work is refused until space is back"
            ),
            (Some(_), None) => tracing::info!(node, "space is back: new work is accepted again"),
            _ => {}
        }
        *own = Own { reading, short };
    }

    pub fn reading(&self) -> Reading {
        self.own.lock().expect("disk lock").reading
    }

    /// Why this node is short of space, if it is.
    pub fn own_short(&self) -> Option<String> {
        self.own.lock().expect("disk lock").short.clone()
    }

    /// Records what `member` reported of itself (the leader's gathering).
    pub fn record_member(&self, member: NodeId, short: Option<String>) {
        let mut members = self.members.lock().expect("disk lock");
        members.insert(member, (short, Instant::now()));
    }

    /// Every node known to be short of space now: this one, and members
    /// that reported so lately.
    pub fn short_nodes(&self, me: NodeId) -> BTreeMap<NodeId, String> {
        let mut short: BTreeMap<NodeId, String> = self
            .fresh_members()
            .into_iter()
            .filter_map(|(id, why)| why.map(|w| (id, w)))
            .collect();
        short.remove(&me);
        if let Some(why) = self.own_short() {
            short.insert(me, why);
        }
        short
    }

    /// The members' fresh reports (`None`: not short).
    pub fn fresh_members(&self) -> BTreeMap<NodeId, Option<String>> {
        let members = self.members.lock().expect("disk lock");
        members
            .iter()
            .filter(|(_, (_, at))| at.elapsed() < FRESH)
            .map(|(id, (why, _))| (*id, why.clone()))
            .collect()
    }

    /// The door for writes that grow the state (new executions, new state
    /// machines): refused while any node is short of space.
    pub fn admit_growth(&self, me: NodeId) -> Result<(), ApiError> {
        let short = self.short_nodes(me);
        let Some((node, why)) = short.iter().next() else {
            return Ok(());
        };
        Err(ApiError::ResourceExhausted(format!(
            "NOSPACE: node {node} is short of space ({why}); the cluster refuses new work until space is back, while reads, task reports and stops go on (docs/operations.md, \"Running out of disk\")"
        )))
    }
}

#[cfg(test)]
#[path = "disk_guard_tests.rs"]
mod tests;
