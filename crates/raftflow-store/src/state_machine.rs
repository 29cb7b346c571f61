//! openraft's state machine and snapshots on RocksDB.

use std::sync::{Arc, RwLock};

use futures::TryStreamExt;
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::{ErrorVerb, OptionalSend, RaftSnapshotBuilder};
use tokio::io::AsyncWriteExt;

use crate::apply_thread::{on_engine_stack, ApplyThread};
use crate::db::Db;
use crate::error::{blocking, sm_err, snap_err, StoreError};
use crate::hub::Hub;
use crate::machine::{Machine, StateReader};
use crate::snapshot_file::SnapshotFile;
use crate::snapshots::Snapshots;
use crate::types::{Entry, LogId, Snapshot, SnapshotMeta, StoredMembership, TypeConfig};
use crate::version::Supported;
use crate::EnvelopeResult;

type StorageError = std::io::Error;

/// Entries applied in one write batch at most: the apply stream of a node
/// catching up may cover a long stretch of the log, and memory stays flat.
const APPLY_CHUNK_ENTRIES: usize = 256;

#[derive(Clone)]
pub struct StateMachineStore {
    db: Db,
    machine: Arc<RwLock<Machine>>,
    hub: Arc<Hub>,
    snapshots: Arc<Snapshots>,
    applier: Arc<ApplyThread>,
}

impl StateMachineStore {
    /// Opens the state machine, restoring its in-memory part from its tables:
    /// openraft 0.9 does not rebuild a state machine on start.
    pub fn open(db: Db) -> Result<Self, StoreError> {
        Self::open_supporting(db, Supported::BINARY)
    }

    /// `open`, applying only the apply versions of `supported`; refuses a
    /// state already past them.
    pub fn open_supporting(db: Db, supported: Supported) -> Result<Self, StoreError> {
        // First: it may finish an install a crash interrupted.
        let snapshots = Arc::new(Snapshots::open(&db)?);
        let machine = on_engine_stack(|| Machine::load(&db, supported))?;
        crate::version::follow_apply_version(&db, machine.workflows.apply_version)?;
        let hub = Arc::new(Hub::new(machine.applied.map_or(0, |l| l.index)));
        hub.set_apply_version(machine.workflows.apply_version);
        hub.set_acl(&machine.acl);
        Ok(Self {
            db,
            machine: Arc::new(RwLock::new(machine)),
            hub,
            snapshots,
            applier: Arc::new(ApplyThread::spawn()?),
        })
    }

    /// Applies `chunk` in one write batch on the apply thread, then answers
    /// each entry's waiting client, in log order.
    async fn apply_chunk(
        &self,
        chunk: Vec<EntryResponder<TypeConfig>>,
    ) -> Result<(), StorageError> {
        let (entries, responders): (Vec<Entry>, Vec<_>) = chunk.into_iter().unzip();
        let count = entries.len();
        let results = self
            .apply_entries(entries)
            .await
            .map_err(|e| sm_err(e, ErrorVerb::Write))?;
        assert_eq!(results.len(), count, "one result per applied entry");
        for (responder, result) in responders.into_iter().zip(results) {
            if let Some(responder) = responder {
                responder.send(result);
            }
        }
        Ok(())
    }

    /// Applies committed `entries` in one write batch on the apply thread
    /// and returns one result per entry.
    pub async fn apply_entries(
        &self,
        entries: Vec<Entry>,
    ) -> Result<Vec<EnvelopeResult>, StoreError> {
        let (db, machine, hub) = (self.db.clone(), self.machine.clone(), self.hub.clone());
        self.applier
            .run(move || crate::apply_batch::apply_entries(&db, &machine, &hub, entries))
            .await
    }

    pub fn reader(&self) -> StateReader {
        StateReader {
            db: self.db.clone(),
            machine: self.machine.clone(),
            hub: self.hub.clone(),
            snapshots: self.snapshots.clone(),
        }
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    type SnapshotData = SnapshotFile;

    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        let (db, snapshots) = (self.db.clone(), self.snapshots.clone());
        let (meta, file) = blocking(move || snapshots.build(&db))
            .await
            .map_err(|e| snap_err(e, ErrorVerb::Write))?;
        Ok(Snapshot {
            meta,
            snapshot: file,
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotData = SnapshotFile;
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let m = self.machine.read().expect("state machine lock poisoned");
        Ok((m.applied, m.membership.clone()))
    }

    async fn apply<S>(&mut self, mut entries: S) -> Result<(), StorageError>
    where
        S: futures::Stream<Item = Result<EntryResponder<TypeConfig>, StorageError>>
            + Unpin
            + OptionalSend,
    {
        let mut chunk = Vec::with_capacity(APPLY_CHUNK_ENTRIES);
        while let Some(item) = entries.try_next().await? {
            chunk.push(item);
            if chunk.len() == APPLY_CHUNK_ENTRIES {
                self.apply_chunk(std::mem::take(&mut chunk)).await?;
            }
        }
        if !chunk.is_empty() {
            self.apply_chunk(chunk).await?;
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        mut snapshot: SnapshotFile,
    ) -> Result<(), StorageError> {
        // openraft's chunks may still sit in tokio's write buffer.
        snapshot.file.flush().await.map_err(|e| {
            snap_err(
                StoreError::Task(format!("flush snapshot: {e}")),
                ErrorVerb::Write,
            )
        })?;
        let received = snapshot.path().to_path_buf();
        drop(snapshot);
        let (db, machine, snapshots) = (
            self.db.clone(),
            self.machine.clone(),
            self.snapshots.clone(),
        );
        let meta = meta.clone();
        let index = meta.last_log_id.map_or(0, |l| l.index);
        blocking(move || snapshots.install(&db, &machine, meta, &received))
            .await
            .map_err(|e| snap_err(e, ErrorVerb::Write))?;
        let version = self.reader().apply_versions().0;
        let db = self.db.clone();
        blocking(move || crate::version::follow_apply_version(&db, version))
            .await
            .map_err(|e| snap_err(e, ErrorVerb::Write))?;
        self.hub.set_apply_version(version);
        let acl = self
            .machine
            .read()
            .expect("state machine lock poisoned")
            .acl
            .clone();
        self.hub.set_acl(&acl);
        self.hub.applied.send_replace(index);
        self.hub.wake_all_watchers();
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        let (db, snapshots) = (self.db.clone(), self.snapshots.clone());
        let current = blocking(move || snapshots.current(&db))
            .await
            .map_err(|e| snap_err(e, ErrorVerb::Read))?;
        Ok(current.map(|(meta, file)| Snapshot {
            meta,
            snapshot: file,
        }))
    }
}
