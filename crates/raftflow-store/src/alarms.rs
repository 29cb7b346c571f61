//! Alarms: a condition one node found that the whole cluster acts on, as
//! etcd's NOSPACE alarm. The leader raises or clears a node's alarm with
//! `Command::SetAlarm` from what the node reports; the alarm is replicated
//! state (in snapshots, backups and the digest), so every node shows the
//! same list and a new leader starts from it.
//!
//! Applied from apply version 10 (`ALARMS_FROM`); before it the command is
//! refused and the leader keeps its view to itself (the door still refuses
//! growing writes: that needs no log entry).

use rocksdb::{Direction, IteratorMode, WriteBatch};
use serde::{Deserialize, Serialize};

use crate::codec::{decode, encode};
use crate::command::{CommandResult, Reject};
use crate::db::{Db, CF_SM};
use crate::error::StoreError;

/// The apply version from which `SetAlarm` is applied.
pub const ALARMS_FROM: u32 = 10;
/// The longest detail an alarm keeps (bytes): a sentence, not a document.
pub const MAX_ALARM_DETAIL_BYTES: usize = 512;
const ALARM_PREFIX: &[u8] = b"\0alarm/";

/// What an alarm is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AlarmKind {
    /// The node's free space is below its floor, or its data above its
    /// quota: the cluster refuses writes that grow the state.
    NoSpace,
}

impl AlarmKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmKind::NoSpace => "NOSPACE",
        }
    }

    fn tag(self) -> u8 {
        match self {
            AlarmKind::NoSpace => 1,
        }
    }

    fn from_tag(tag: u8) -> Option<Self> {
        (tag == 1).then_some(AlarmKind::NoSpace)
    }
}

/// What is stored per raised alarm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmRecord {
    pub detail: String,
    /// When it was first raised (log time).
    pub since_ms: u64,
}

/// One raised alarm, as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Alarm {
    pub node: u64,
    pub kind: AlarmKind,
    pub detail: String,
    pub since_ms: u64,
}

fn key(kind: AlarmKind, node: u64) -> Vec<u8> {
    let mut key = ALARM_PREFIX.to_vec();
    key.push(kind.tag());
    key.extend_from_slice(&node.to_be_bytes());
    key
}

/// What `Command::SetAlarm` asks for.
pub struct SetAlarm<'a> {
    pub node: u64,
    pub kind: AlarmKind,
    pub raised: bool,
    pub detail: &'a str,
    pub now_ms: u64,
}

/// Applies `SetAlarm`: raising an alarm already raised keeps its first time
/// and takes the new detail; clearing one that is not raised changes nothing.
pub(crate) fn apply(
    db: &Db,
    batch: &mut WriteBatch,
    apply_version: u32,
    set: &SetAlarm<'_>,
) -> Result<CommandResult, StoreError> {
    if apply_version < ALARMS_FROM {
        return Ok(rejected(
            Reject::FailedPrecondition,
            format!("alarms need apply version {ALARMS_FROM} (the cluster is at {apply_version})"),
        ));
    }
    if set.detail.len() > MAX_ALARM_DETAIL_BYTES {
        return Ok(rejected(
            Reject::InvalidArgument,
            format!(
                "an alarm's detail is {} bytes; at most {MAX_ALARM_DETAIL_BYTES}",
                set.detail.len()
            ),
        ));
    }
    let key = key(set.kind, set.node);
    if !set.raised {
        batch.delete_cf(db.cf(CF_SM), key);
        return Ok(CommandResult::Accepted);
    }
    let since_ms = match db.get(CF_SM, &key)? {
        Some(bytes) => decode::<AlarmRecord>(&bytes)?.since_ms,
        None => set.now_ms,
    };
    let record = AlarmRecord {
        detail: set.detail.to_string(),
        since_ms,
    };
    batch.put_cf(db.cf(CF_SM), key, encode(&record)?);
    Ok(CommandResult::Accepted)
}

fn rejected(code: Reject, message: String) -> CommandResult {
    CommandResult::Rejected { code, message }
}

/// Every raised alarm, by kind then node.
pub fn read_all(db: &Db) -> Result<Vec<Alarm>, StoreError> {
    let mode = IteratorMode::From(ALARM_PREFIX, Direction::Forward);
    let mut alarms = Vec::new();
    for item in db.raw().iterator_cf(db.cf(CF_SM), mode) {
        let (key, value) = item?;
        let Some(rest) = key.strip_prefix(ALARM_PREFIX) else {
            break;
        };
        let (Some(kind), Ok(node)) = (
            rest.first().copied().and_then(AlarmKind::from_tag),
            <[u8; 8]>::try_from(&rest[1.min(rest.len())..]),
        ) else {
            return Err(StoreError::Corrupt(format!("an alarm key {key:?}")));
        };
        let record: AlarmRecord = decode(&value)?;
        alarms.push(Alarm {
            node: u64::from_be_bytes(node),
            kind,
            detail: record.detail,
            since_ms: record.since_ms,
        });
    }
    Ok(alarms)
}

#[cfg(test)]
#[path = "alarms_tests.rs"]
mod tests;
