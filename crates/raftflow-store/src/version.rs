//! Versions of what raftflow persists, and the committed apply version.
//!
//! ```text
//!  store format   cf meta "format"          this node's data directory layout   node-local, migrated on open
//!  apply version  cf sm  "\0apply_version"  the rules apply follows             replicated, raised by a command
//!  log entries    Envelope::V1              the command encoding                 decided by the apply version
//!  snapshot file  "raftflow-snapshot-v1"    the file layout                      decided by the apply version
//! ```
//!
//! **The rule.** Apply behaves according to the active apply version, never
//! according to the binary: a change to what apply accepts, rejects or
//! computes, or to what it writes, goes behind a new version, so an entry
//! replays the same on every node and every release. The only change allowed
//! without a version is turning an entry that panicked under an older binary
//! into a deterministic result: no replica ever applied it. Stored
//! definitions are re-read leniently; stricter checks happen at the door.
//! A version is raised by `Command::SetApplyVersion` only once every member
//! runs a binary that supports it, and until then every node keeps writing
//! the formats of the active version, so an older node can still read the
//! leader's entries and snapshots (and an operator can still roll back).

use rocksdb::WriteBatch;

use crate::codec::{decode, encode};
use crate::db::{Db, CF_META, CF_SM};
use crate::error::StoreError;

/// The oldest apply version this binary can apply: release 0.1.0's rules.
pub const APPLY_VERSION_MIN: u32 = 1;
/// The newest apply version this binary can apply.
pub const APPLY_VERSION_MAX: u32 = 23;
/// Where the active apply version is kept; absent means version 1, so the
/// tables of release 0.1.0 (which has no such key) digest the same here.
pub const KEY_APPLY_VERSION: &[u8] = b"\0apply_version";

/// What each apply version changed, for `cluster status` and the docs.
pub fn apply_version_change(version: u32) -> &'static str {
    match version {
        1 => "release 0.1.0's rules",
        2 => "CreateStateMachine refused when a number exceeds Step Functions' bounds",
        3 => "a state whose output is larger than 256 KiB fails with States.DataLimitExceeded",
        4 => "ended task attempts are kept until their execution is purged: a repeated identical report is acknowledged as already applied",
        5 => "a hand-out records the worker's poll id: a poll retried under the same id gets the same attempt back",
        6 => "JSON numbers are kept as written (big integers, -0, 1e-7, 17-digit decimals), not rounded through a double",
        7 => "API tokens with roles: AclBootstrap and the token commands are applied (refused before)",
        8 => "task tokens carry a secret (an HMAC of the attempt under a key derived from the ACL bootstrap): a report must show the token as handed out",
        9 => "history events store a large value once per execution; the data directory's tables are compressed (lz4)",
        10 => "alarms (NOSPACE) are replicated: SetAlarm is applied (refused before)",
        11 => "the last scheduled backup is recorded: BackupRecorded is applied (refused before)",
        12 => "the cluster has an id (SetClusterId), carried in backups; a restore gives a new one",
        13 => "schedules: the schedule commands are applied (refused before); a fire starts an execution that sees $$.Schedule.ScheduledTime",
        14 => "schedules have several specs, excluded dates, jitter and backfill (PutScheduleV3, BackfillSchedule; refused before) and keep the ranges of time they decided",
        15 => "triggers: PutTrigger and DeleteTrigger are applied (refused before); the apply that ends an execution starts what the triggers watching its state machine say",
        16 => "definitions may hold HTTP Tasks (arn:aws:states:::http:invoke), queued under the activity `:http` that the leader's own caller polls",
        17 => "connections: PutConnection and DeleteConnection are applied (refused before); an HTTP Task's Authentication.ConnectionArn names one",
        18 => "an HTTP Task may be a callback (arn:aws:states:::http:invoke.waitForTaskToken): its attempt is queued as a callback task under `:http`; an HTTP Task's Entry (its Idempotency-Key) names the time its state was entered even when the state does not read $$",
        19 => "an HTTP Task's input carries its state's TimeoutSeconds: the leader cuts the call there rather than at 60 s",
        20 => "subscriptions: PutSubscription, DeleteSubscription, EventsDelivered and RedriveEvents are applied (refused before); the apply that starts or ends an execution writes the events its subscriptions send into their outbox",
        21 => "statistics: the apply that starts or ends an execution counts it into its state machine's minute and hour buckets and all-time totals (started, ended by status, a histogram of durations), pruning expired buckets",
        22 => "traces: StartExecutionTraced is applied (refused before) and keeps the W3C traceparent of the call that started the execution until the execution is purged",
        23 => "per-state statistics: the apply that ends a state's visit counts it into its state machine's per-state minute and hour buckets (left, caught or failed, retries, a histogram of durations)",
        _ => "unknown to this binary",
    }
}

/// This node's data-directory layout. 0: snapshots inline in cf meta (before
/// file snapshots); 1: release 0.1.0 (file snapshots, no marker); 2: the
/// marker below. Format 2 adds only the marker, so 0.1.0 still opens it.
/// 3: the log and state-machine tables may be lz4-compressed, which a
/// binary of format 2 cannot read; it follows the apply version instead of
/// being migrated on open (`follow_apply_version`), so that until every
/// member can read it, every node writes tables an older one can open.
pub const STORE_FORMAT: u32 = 3;
/// The newest format `open_format` migrates to by itself.
const STORE_FORMAT_ON_OPEN: u32 = 2;
/// The apply version from which every node writes compressed tables.
pub const COMPRESSION_FROM: u32 = 9;
const KEY_FORMAT: &[u8] = b"format";
/// Where format 0 kept the snapshot bytes inline.
pub(crate) const KEY_LEGACY_INLINE: &[u8] = b"snapshot";

/// Reads the data directory's format, refuses a newer one with one clear
/// line, and migrates an older one step by step. Returns the format found.
pub fn open_format(db: &Db) -> Result<u32, StoreError> {
    let found = match db.get(CF_META, KEY_FORMAT)? {
        Some(bytes) => decode::<u32>(&bytes)?,
        None if db.get(CF_META, KEY_LEGACY_INLINE)?.is_some() => 0,
        None => 1,
    };
    if found > STORE_FORMAT {
        return Err(StoreError::NewerFormat(format!(
            "written by a newer release (store format {found}; this binary reads formats up to {STORE_FORMAT}): run a newer raftflow"
        )));
    }
    for from in found..STORE_FORMAT_ON_OPEN {
        migrate(db, from)?;
        tracing::info!(from, to = from + 1, "migrated the data directory's format");
    }
    if found >= 3 {
        db.enable_compression()?;
    }
    Ok(found)
}

/// Moves the data directory to format 3 once the active apply version says
/// every member reads it: the marker first (synced), then compression, so
/// no compressed table exists under an older marker. Cheap when done.
pub fn follow_apply_version(db: &Db, active: u32) -> Result<(), StoreError> {
    if active < COMPRESSION_FROM || db.is_compressed() {
        return Ok(());
    }
    let mut batch = WriteBatch::default();
    batch.put_cf(db.cf(CF_META), KEY_FORMAT, encode(&3u32)?);
    db.write_synced(batch)?;
    db.enable_compression()?;
    tracing::info!(
        apply_version = active,
        "data directory at format 3: tables are lz4-compressed"
    );
    Ok(())
}

/// One step, from `from` to `from + 1`; each ends with a synced write.
fn migrate(db: &Db, from: u32) -> Result<(), StoreError> {
    let mut batch = WriteBatch::default();
    match from {
        // The inline snapshot is dropped; the next snapshot is built as a file.
        0 => batch.delete_cf(db.cf(CF_META), KEY_LEGACY_INLINE),
        1 => {}
        _ => unreachable!("no migration from format {from}"),
    }
    batch.put_cf(db.cf(CF_META), KEY_FORMAT, encode(&(from + 1))?);
    db.write_synced(batch)
}

/// The active apply version as stored in `db`'s tables.
pub fn stored_apply_version(db: &Db) -> Result<u32, StoreError> {
    Ok(db
        .get(CF_SM, KEY_APPLY_VERSION)?
        .map(|b| decode::<u32>(&b))
        .transpose()?
        .unwrap_or(APPLY_VERSION_MIN))
}

/// The range of apply versions this node may apply: the binary's, or less
/// when a test caps it to act as an older release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Supported {
    pub min: u32,
    pub max: u32,
}

impl Supported {
    pub const BINARY: Supported = Supported {
        min: APPLY_VERSION_MIN,
        max: APPLY_VERSION_MAX,
    };

    /// The binary's range, capped at `max` (at least the minimum).
    pub fn capped(max: u32) -> Self {
        Self {
            min: APPLY_VERSION_MIN,
            max: max.clamp(APPLY_VERSION_MIN, APPLY_VERSION_MAX),
        }
    }

    /// Refuses a state whose active version this node cannot apply.
    pub fn check(&self, active: u32) -> Result<(), StoreError> {
        if active > self.max {
            return Err(StoreError::NewerFormat(format!(
                "the replicated state is at apply version {active}; this node applies versions {}..={}: run a newer raftflow",
                self.min, self.max
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "version_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "version9_tests.rs"]
mod version9_tests;
