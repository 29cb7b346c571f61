//! openraft's state machine and snapshots on RocksDB.

use std::io::Cursor;
use std::sync::{Arc, RwLock};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{EntryPayload, ErrorVerb, OptionalSend, RaftSnapshotBuilder};
use rocksdb::{IteratorMode, WriteBatch};
use serde::{Deserialize, Serialize};

use crate::codec::{decode, encode};
use crate::db::{Db, CF_META, CF_SM};
use crate::error::{blocking, sm_err, snap_err, StoreError};
use crate::machine::{Hub, Machine, StateReader, KEY_APPLIED, KEY_MEMBERSHIP};
use crate::types::{Entry, LogId, SnapshotMeta, StorageError, StoredMembership, TypeConfig};
use crate::EnvelopeResult;

const KEY_SNAPSHOT: &[u8] = b"snapshot";

/// The current snapshot as kept in cf `meta`: its metadata and its bytes.
#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta,
    data: Vec<u8>,
}

/// Snapshot bytes: every pair of cf `sm`, in key order.
#[derive(Serialize, Deserialize)]
struct SnapshotPairs {
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
}

#[derive(Clone)]
pub struct StateMachineStore {
    db: Db,
    machine: Arc<RwLock<Machine>>,
    hub: Arc<Hub>,
}

impl StateMachineStore {
    /// Opens the state machine, restoring its in-memory part from its tables:
    /// openraft 0.9 does not rebuild a state machine on start.
    pub fn open(db: Db) -> Result<Self, StoreError> {
        let machine = Machine::load(&db)?;
        let hub = Arc::new(Hub::new(machine.applied.map_or(0, |l| l.index)));
        Ok(Self {
            db,
            machine: Arc::new(RwLock::new(machine)),
            hub,
        })
    }

    pub fn reader(&self) -> StateReader {
        StateReader {
            db: self.db.clone(),
            machine: self.machine.clone(),
            hub: self.hub.clone(),
        }
    }

    fn build(db: &Db) -> Result<(SnapshotMeta, Vec<u8>), StoreError> {
        // One RocksDB snapshot: the pairs and `last_applied` describe the same instant.
        let view = db.raw().snapshot();
        let mut pairs = Vec::new();
        let mut applied: Option<LogId> = None;
        let mut membership = StoredMembership::default();
        for item in view.iterator_cf(db.cf(CF_SM), IteratorMode::Start) {
            let (key, value) = item?;
            if &*key == KEY_APPLIED {
                applied = decode(&value)?;
            } else if &*key == KEY_MEMBERSHIP {
                membership = decode(&value)?;
            }
            pairs.push((key.to_vec(), value.to_vec()));
        }
        let snapshot_id = match applied {
            Some(l) => format!("{}-{}-{}", l.leader_id.term, l.leader_id.node_id, l.index),
            None => "empty".to_string(),
        };
        let meta = SnapshotMeta {
            last_log_id: applied,
            last_membership: membership,
            snapshot_id,
        };
        let data = encode(&SnapshotPairs { pairs })?;
        let mut batch = WriteBatch::default();
        batch.put_cf(
            db.cf(CF_META),
            KEY_SNAPSHOT,
            encode(&StoredSnapshot {
                meta: meta.clone(),
                data: data.clone(),
            })?,
        );
        db.write_synced(batch)?;
        Ok((meta, data))
    }

    fn install(
        db: &Db,
        machine: &RwLock<Machine>,
        meta: SnapshotMeta,
        data: Vec<u8>,
    ) -> Result<(), StoreError> {
        let snapshot: SnapshotPairs = decode(&data)?;
        let mut batch = WriteBatch::default();
        let sm = db.cf(CF_SM);
        batch.delete_range_cf(sm, [0u8].as_slice(), [0xffu8; 64].as_slice());
        for (key, value) in &snapshot.pairs {
            batch.put_cf(sm, key, value);
        }
        // The snapshot's own pairs carry last_applied; write the meta's
        // values too so an empty snapshot still records its position.
        batch.put_cf(sm, KEY_APPLIED, encode(&meta.last_log_id)?);
        batch.put_cf(sm, KEY_MEMBERSHIP, encode(&meta.last_membership)?);
        batch.put_cf(
            db.cf(CF_META),
            KEY_SNAPSHOT,
            encode(&StoredSnapshot { meta, data })?,
        );
        let mut guard = machine.write().expect("state machine lock poisoned");
        db.write_synced(batch)?;
        *guard = Machine::load(db)?;
        Ok(())
    }

    fn apply_entries(
        db: &Db,
        machine: &RwLock<Machine>,
        hub: &Hub,
        entries: Vec<Entry>,
    ) -> Result<Vec<EnvelopeResult>, StoreError> {
        let mut guard = machine.write().expect("state machine lock poisoned");
        let mut batch = WriteBatch::default();
        let mut results = Vec::with_capacity(entries.len());
        let mut last = guard.applied;
        let mut membership = None;
        for entry in entries {
            if let Some(prev) = last {
                assert!(
                    entry.log_id.index > prev.index,
                    "apply out of order: {} after {}",
                    entry.log_id,
                    prev
                );
            }
            last = Some(entry.log_id);
            match &entry.payload {
                EntryPayload::Blank => results.push(EnvelopeResult::default()),
                EntryPayload::Normal(envelope) => {
                    results.push(guard.apply_envelope(db, envelope, entry.log_id, &mut batch)?)
                }
                EntryPayload::Membership(m) => {
                    membership = Some(StoredMembership::new(Some(entry.log_id), m.clone()));
                    results.push(EnvelopeResult::default());
                }
            }
        }
        guard.workflows.flush(&mut batch, db)?;
        guard.record_position(db, last, membership, &mut batch)?;
        db.write(batch)?;
        let effects = guard.workflows.take_effects();
        hub.publish(last.map_or(0, |l| l.index), effects);
        Ok(results)
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let db = self.db.clone();
        let (meta, data) = blocking(move || Self::build(&db))
            .await
            .map_err(|e| snap_err(e, ErrorVerb::Write))?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let m = self.machine.read().expect("state machine lock poisoned");
        Ok((m.applied, m.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<EnvelopeResult>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let (db, machine, hub) = (self.db.clone(), self.machine.clone(), self.hub.clone());
        blocking(move || Self::apply_entries(&db, &machine, &hub, entries))
            .await
            .map_err(|e| sm_err(e, ErrorVerb::Write))
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let (db, machine, meta) = (self.db.clone(), self.machine.clone(), meta.clone());
        let data = snapshot.into_inner();
        blocking(move || Self::install(&db, &machine, meta, data))
            .await
            .map_err(|e| snap_err(e, ErrorVerb::Write))
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let stored: Option<StoredSnapshot> = self
            .db
            .get(CF_META, KEY_SNAPSHOT)
            .and_then(|b| b.map(|b| decode(&b)).transpose())
            .map_err(|e| snap_err(e, ErrorVerb::Read))?;
        Ok(stored.map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data)),
        }))
    }
}
