//! Reading a backup back: `inspect` (what it holds, checksum verified) and
//! `restore` (a new node's data directory built from it).
//!
//! A restore moves two counters past anything the old cluster could have
//! issued after the copy, so that a worker still holding an old cluster's
//! task token can never report on an attempt the new cluster opens (etcd's
//! `--bump-revision`): the leader epoch by `EPOCH_BUMP`, and every running
//! execution's attempt counter by the history limit (each attempt writes at
//! least one event, so an execution cannot open more attempts than that).
//! Every restored node applies the same change to the same bytes, so the
//! new cluster starts in agreement.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use rocksdb::WriteBatch;

use crate::apply_thread::on_engine_stack;
use crate::backup::{for_each_pair, BackupHeader};
use crate::codec::{decode, encode};
use crate::db::{Db, CF_SM};
use crate::error::StoreError;
use crate::machine::{KEY_APPLIED, KEY_MEMBERSHIP};
use crate::types::{LogId, Membership, NodeInfo, StoredMembership, Vote};
use crate::workflow::records::{ExecutionRecord, StateMachineMeta, KEY_EPOCH};

/// Added to the leader epoch on restore: more leader changes than a
/// cluster makes in its life.
pub const EPOCH_BUMP: u64 = 1 << 32;
const RESTORE_BATCH_BYTES: usize = 4 << 20;

/// What `inspect` found in a backup.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspection {
    pub header: BackupHeader,
    pub pairs: u64,
    pub state_machines: u64,
    /// Executions by status text (`RUNNING`, `SUCCEEDED`, …).
    pub executions: BTreeMap<String, u64>,
    pub open_tasks: u64,
    pub tokens: u64,
}

/// Reads the whole backup, verifies its checksum, and counts what it holds.
pub fn inspect(path: &Path) -> Result<Inspection, StoreError> {
    let (mut machines, mut executions, mut tasks, mut tokens) = (0, BTreeMap::new(), 0, 0);
    let (header, pairs) = for_each_pair(path, |key, value| {
        match key.get(..2) {
            Some(b"m/") => machines += u64::from(!decode::<StateMachineMeta>(value)?.deleted),
            Some(b"x/") => {
                let record: ExecutionRecord = decode(value)?;
                *executions
                    .entry(record.status.as_str().to_string())
                    .or_insert(0) += 1;
            }
            Some(b"t/") => tasks += 1,
            Some(b"a/") => tokens += 1,
            _ => {}
        }
        Ok(())
    })?;
    Ok(Inspection {
        header,
        pairs,
        state_machines: machines,
        executions,
        open_tasks: tasks,
        tokens,
    })
}

/// Who the restored node is and which cluster it belongs to.
#[derive(Debug, Clone)]
pub struct RestoreTarget {
    pub node_id: u64,
    /// Every member of the new cluster, all voters.
    pub members: BTreeMap<u64, NodeInfo>,
}

/// Builds a data directory at `data_dir` (absent or empty) from the backup
/// at `path`, for node `target.node_id` of a new cluster of
/// `target.members`. The backup is verified whole before anything is written.
pub fn restore(
    path: &Path,
    data_dir: &Path,
    target: &RestoreTarget,
) -> Result<Inspection, StoreError> {
    if !target.members.contains_key(&target.node_id) {
        return Err(StoreError::Refused(format!(
            "node {} is not among the members given ({:?})",
            target.node_id,
            target.members.keys().collect::<Vec<_>>()
        )));
    }
    if std::fs::read_dir(data_dir).is_ok_and(|mut d| d.next().is_some()) {
        return Err(StoreError::Refused(format!(
            "{} is not empty: a restore builds a new node's data directory, it never writes over one",
            data_dir.display()
        )));
    }
    let inspection = inspect(path)?;
    crate::version::Supported::BINARY.check(inspection.header.apply_version)?;
    let db = Db::open(data_dir)?;
    crate::version::open_format(&db)?;
    let members: Vec<(u64, String, String)> = target
        .members
        .iter()
        .map(|(id, n)| (*id, n.raft_addr.clone(), n.api_addr.clone()))
        .collect();
    let cluster_id = crate::cluster_id::for_restore(&inspection.header.content_sha256, &members);
    let applied = write_tables(path, &db, target, &cluster_id)?;
    let vote = Vote::new(applied.leader_id.term, target.node_id);
    crate::log_store::seed_restored(&db, &vote, applied)?;
    crate::version::follow_apply_version(&db, inspection.header.apply_version)?;
    // A current snapshot at once, for the first follower that needs one.
    crate::snapshots::Snapshots::open(&db)?.build(&db)?;
    Ok(inspection)
}

/// Streams the backup's pairs into cf `sm`, changed as the module doc says.
fn write_tables(
    path: &Path,
    db: &Db,
    target: &RestoreTarget,
    cluster_id: &str,
) -> Result<LogId, StoreError> {
    let sm = db.cf(CF_SM);
    let mut batch = WriteBatch::default();
    let mut applied: Option<LogId> = None;
    let mut had_id = false;
    for_each_pair(path, |key, value| {
        let value = match key {
            KEY_APPLIED => {
                applied = decode(value)?;
                value.to_vec()
            }
            KEY_EPOCH => encode(&bump_epoch(decode(value)?)?)?,
            // Written below, once the position is known.
            KEY_MEMBERSHIP => return Ok(()),
            crate::cluster_id::KEY_CLUSTER_ID => {
                had_id = true;
                return Ok(());
            }
            _ if key.starts_with(b"r/") => bump_attempts(key, value)?,
            _ => value.to_vec(),
        };
        batch.put_cf(sm, key, value);
        if batch.size_in_bytes() >= RESTORE_BATCH_BYTES {
            db.write(std::mem::take(&mut batch))?;
        }
        Ok(())
    })?;
    let applied =
        applied.ok_or_else(|| StoreError::Corrupt("the backup has no applied position".into()))?;
    let voters: BTreeSet<u64> = target.members.keys().copied().collect();
    let membership = Membership::new(vec![voters], target.members.clone())
        .map_err(|e| StoreError::Refused(format!("membership: {e}")))?;
    let stored = StoredMembership::new(Some(applied), membership);
    batch.put_cf(sm, KEY_MEMBERSHIP, encode(&stored)?);
    // A new cluster, a new id; only where the old one had an id, so that
    // a cluster below apply version 12 holds no key it does not know.
    if had_id {
        batch.put_cf(
            sm,
            crate::cluster_id::KEY_CLUSTER_ID,
            encode(&cluster_id.to_string())?,
        );
    }
    db.write_synced(batch)?;
    Ok(applied)
}

fn bump_epoch(epoch: u64) -> Result<u64, StoreError> {
    epoch
        .checked_add(EPOCH_BUMP)
        .ok_or_else(|| StoreError::Corrupt(format!("leader epoch {epoch} cannot be moved on")))
}

/// A running execution's runtime with its attempt counter moved on.
fn bump_attempts(key: &[u8], value: &[u8]) -> Result<Vec<u8>, StoreError> {
    let key_text = String::from_utf8_lossy(key).to_string();
    let value = value.to_vec();
    on_engine_stack(move || {
        let mut exec = raftflow_core::execution::read_runtime(&value)
            .map_err(|e| StoreError::Corrupt(format!("runtime {key_text}: {e}")))?;
        let bump = u32::try_from(raftflow_core::execution::MAX_HISTORY_EVENTS).expect("fits");
        exec.next_attempt = exec.next_attempt.checked_add(bump).ok_or_else(|| {
            StoreError::Corrupt(format!("runtime {key_text}: attempt counter at its limit"))
        })?;
        let bytes = serde_json::to_vec(&exec).map_err(|e| StoreError::Encode(e.to_string()));
        // A deep runtime is dropped on the engine's stack too.
        drop(exec);
        bytes
    })
}
