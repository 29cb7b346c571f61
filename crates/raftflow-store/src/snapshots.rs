//! Which snapshot is current, and the steps that build, receive and install
//! one, each safe against a crash at any point.
//!
//! ```text
//!  build:   RocksDB snapshot ─stream─▶ build-N.tmp ─fsync, rename─▶ <id>.snap ─▶ meta "snapshot_file"
//!  receive: openraft chunks ─▶ recv-N.tmp
//!  install: recv-N.tmp ─rename─▶ <id>.snap ─verify, apply version─▶ meta "installing" (synced)
//!           ─▶ clear cf "sm", stream pairs in ≤ 4 MiB batches ─▶ last batch: position,
//!              meta "snapshot_file", delete "installing" (synced)
//!  open:    "installing" present ─▶ redo the install from its file; drop *.tmp and stale *.snap
//! ```
//! Memory stays flat: every step streams, whatever the snapshot's size.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use rocksdb::{IteratorMode, WriteBatch};
use serde::{Deserialize, Serialize};

use crate::apply_thread::on_engine_stack;
use crate::codec::{decode, encode};
use crate::db::{Db, CF_META, CF_SM};
use crate::error::StoreError;
use crate::machine::{Machine, KEY_APPLIED, KEY_MEMBERSHIP};
use crate::snapshot_file::{for_each_pair, sync_dir, SnapshotFile, SnapshotWriter};
use crate::types::{LogId, SnapshotMeta, StoredMembership};

/// The current snapshot's metadata and file name.
const KEY_CURRENT: &[u8] = b"snapshot_file";
/// Set while a received snapshot replaces the tables; cleared in the same
/// write that completes the install.
const KEY_INSTALLING: &[u8] = b"installing_snapshot";
const INSTALL_BATCH_BYTES: usize = 4 << 20;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta,
    file: String,
}

pub(crate) struct Snapshots {
    dir: PathBuf,
    /// Serialises changes of the current snapshot (a build may finish while
    /// an install runs) and the removal of files.
    lock: Mutex<()>,
    seq: AtomicU64,
    /// Size of the current snapshot file, and the log bytes appended (this
    /// process) when it was taken: what the snapshot policy weighs.
    current_bytes: AtomicU64,
    appended_at_current: AtomicU64,
}

impl Snapshots {
    /// Opens the snapshot directory beside the tables and finishes whatever a
    /// crash interrupted. Call before loading the in-memory state machine.
    pub fn open(db: &Db) -> Result<Self, StoreError> {
        let dir = db.path().join("snapshots");
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::SnapshotFile {
            path: dir.display().to_string(),
            message: e.to_string(),
        })?;
        let snapshots = Self {
            dir,
            lock: Mutex::new(()),
            seq: AtomicU64::new(0),
            current_bytes: AtomicU64::new(0),
            appended_at_current: AtomicU64::new(0),
        };
        if let Some(installing) = read::<StoredSnapshot>(db, KEY_INSTALLING)? {
            tracing::warn!(snapshot = %snapshot_id(&installing.meta), "finishing an interrupted snapshot install");
            snapshots.replace_tables(db, installing)?;
        }
        let current = read::<StoredSnapshot>(db, KEY_CURRENT)?.map(|s| s.file);
        // Nothing is being received yet: every other file is a leftover.
        for path in snapshots.files()? {
            if path.file_name().and_then(|n| n.to_str()) != current.as_deref() {
                let _ = std::fs::remove_file(path);
            } else {
                snapshots.note_current(&path, 0);
            }
        }
        Ok(snapshots)
    }

    fn note_current(&self, path: &Path, appended: u64) {
        let bytes = std::fs::metadata(path).map_or(0, |m| m.len());
        self.current_bytes.store(bytes, Ordering::Relaxed);
        self.appended_at_current.store(appended, Ordering::Relaxed);
    }

    /// The current snapshot's size, and the log bytes appended since it was
    /// taken (counted from this process's start at most).
    pub fn weight(&self, db: &Db) -> (u64, u64) {
        let since = db
            .appended_bytes()
            .saturating_sub(self.appended_at_current.load(Ordering::Relaxed));
        (self.current_bytes.load(Ordering::Relaxed), since)
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    fn next_tmp(&self, kind: &str) -> PathBuf {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        self.path(&format!("{kind}-{n}.tmp"))
    }

    /// Streams cf `sm`, as of one RocksDB snapshot, into a new current
    /// snapshot file, unless a newer snapshot became current meanwhile.
    pub fn build(&self, db: &Db) -> Result<(SnapshotMeta, SnapshotFile), StoreError> {
        let tmp = self.next_tmp("build");
        let appended = db.appended_bytes();
        let streamed = stream_tables(db, &tmp)?;
        let meta = SnapshotMeta {
            last_log_id: streamed.applied,
            last_membership: streamed.membership,
        };
        let _guard = self.lock.lock().expect("snapshot lock poisoned");
        let current = read::<StoredSnapshot>(db, KEY_CURRENT)?;
        if current.is_some_and(|c| c.meta.last_log_id > meta.last_log_id) {
            // An install moved past this build: hand it out once, keep the newer one.
            let file = SnapshotFile::open(&tmp)?;
            let _ = std::fs::remove_file(&tmp);
            return Ok((meta, file));
        }
        let name = file_name(&meta);
        self.rename_durably(&tmp, &name)?;
        let file = SnapshotFile::open(&self.path(&name))?;
        let mut batch = WriteBatch::default();
        batch.put_cf(
            db.cf(CF_META),
            KEY_CURRENT,
            encode(&StoredSnapshot {
                meta: meta.clone(),
                file: name.clone(),
            })?,
        );
        db.write_synced(batch)?;
        self.note_current(&self.path(&name), appended);
        self.remove_files_except(Some(&name))?;
        Ok((meta, file))
    }

    /// A new file for openraft to write a received snapshot into. Older
    /// receive files belong to abandoned transfers.
    pub fn begin_receiving(&self) -> Result<SnapshotFile, StoreError> {
        let _guard = self.lock.lock().expect("snapshot lock poisoned");
        for path in self.files()? {
            if path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("recv-"))
            {
                let _ = std::fs::remove_file(path);
            }
        }
        SnapshotFile::create(&self.next_tmp("recv"))
    }

    /// Makes `received` (complete, flushed) the state machine's state.
    pub fn install(
        &self,
        db: &Db,
        machine: &RwLock<Machine>,
        meta: SnapshotMeta,
        received: &Path,
    ) -> Result<(), StoreError> {
        let name = file_name(&meta);
        if received.parent() == Some(self.dir.as_path()) && !received.ends_with(&name) {
            std::fs::File::open(received)
                .and_then(|f| f.sync_all())
                .map_err(|e| StoreError::SnapshotFile {
                    path: received.display().to_string(),
                    message: format!("sync: {e}"),
                })?;
            self.rename_durably(received, &name)?;
        } else {
            // Not one of our receive files (openraft's storage suite hands
            // over another store's snapshot): copy it in.
            let tmp = self.next_tmp("copy");
            std::fs::copy(received, &tmp)
                .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
                .map_err(|e| StoreError::SnapshotFile {
                    path: received.display().to_string(),
                    message: format!("copy: {e}"),
                })?;
            self.rename_durably(&tmp, &name)?;
        }
        // Whole and readable, and under rules this node follows, before a
        // single key of its own state changes.
        let mut apply_version = crate::version::APPLY_VERSION_MIN;
        for_each_pair(&self.path(&name), |key, value| {
            if key == crate::version::KEY_APPLY_VERSION {
                apply_version = decode(value)?;
            }
            Ok(())
        })?;
        let supported = machine
            .read()
            .expect("state machine lock poisoned")
            .supported;
        supported.check(apply_version)?;
        let stored = StoredSnapshot { meta, file: name };
        let _guard = self.lock.lock().expect("snapshot lock poisoned");
        let mut batch = WriteBatch::default();
        batch.put_cf(db.cf(CF_META), KEY_INSTALLING, encode(&stored)?);
        db.write_synced(batch)?;
        let name = stored.file.clone();
        let mut guard = machine.write().expect("state machine lock poisoned");
        self.replace_tables(db, stored)?;
        let supported = guard.supported;
        let fresh = on_engine_stack(|| Machine::load(db, supported))?;
        let stale = std::mem::replace(&mut *guard, fresh);
        // Its runtimes may nest deeply: dropped on the engine's stack too.
        on_engine_stack(move || {
            drop(stale);
            Ok(())
        })?;
        drop(guard);
        self.note_current(&self.path(&name), db.appended_bytes());
        self.remove_files_except(Some(&name))
    }

    /// Clears cf `sm` and streams the snapshot's pairs into it; the last,
    /// synced batch records the position and ends the install.
    /// Callers hold the state machine's write lock and reload it afterwards.
    fn replace_tables(&self, db: &Db, stored: StoredSnapshot) -> Result<(), StoreError> {
        let sm = db.cf(CF_SM);
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(sm, [0u8].as_slice(), [0xffu8; 64].as_slice());
        for_each_pair(&self.path(&stored.file), |key, value| {
            batch.put_cf(sm, key, value);
            if batch.size_in_bytes() >= INSTALL_BATCH_BYTES {
                db.write(std::mem::take(&mut batch))?;
            }
            Ok(())
        })?;
        // The pairs carry last_applied; write the meta's values too so an
        // empty snapshot still records its position.
        batch.put_cf(sm, KEY_APPLIED, encode(&stored.meta.last_log_id)?);
        batch.put_cf(sm, KEY_MEMBERSHIP, encode(&stored.meta.last_membership)?);
        batch.put_cf(db.cf(CF_META), KEY_CURRENT, encode(&stored)?);
        batch.delete_cf(db.cf(CF_META), KEY_INSTALLING);
        db.write_synced(batch)
    }

    /// The current snapshot, opened for reading.
    pub fn current(&self, db: &Db) -> Result<Option<(SnapshotMeta, SnapshotFile)>, StoreError> {
        let _guard = self.lock.lock().expect("snapshot lock poisoned");
        let Some(stored) = read::<StoredSnapshot>(db, KEY_CURRENT)? else {
            return Ok(None);
        };
        let file = SnapshotFile::open(&self.path(&stored.file))?;
        Ok(Some((stored.meta, file)))
    }

    fn rename_durably(&self, from: &Path, name: &str) -> Result<(), StoreError> {
        std::fs::rename(from, self.path(name)).map_err(|e| StoreError::SnapshotFile {
            path: from.display().to_string(),
            message: format!("rename to {name}: {e}"),
        })?;
        sync_dir(&self.dir)
    }

    fn files(&self) -> Result<Vec<PathBuf>, StoreError> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| StoreError::SnapshotFile {
            path: self.dir.display().to_string(),
            message: e.to_string(),
        })?;
        Ok(entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
    }

    /// Removes every snapshot file but `keep` (and receive files, which an
    /// ongoing transfer may still be writing).
    fn remove_files_except(&self, keep: Option<&str>) -> Result<(), StoreError> {
        for path in self.files()? {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if Some(name) != keep && !name.starts_with("recv-") {
                let _ = std::fs::remove_file(&path);
            }
        }
        Ok(())
    }
}

/// What `stream_tables` wrote: the position and rules of the copy.
pub(crate) struct Streamed {
    pub applied: Option<LogId>,
    pub membership: StoredMembership,
    pub apply_version: u32,
    pub sha256: [u8; 32],
}

/// Streams cf `sm`, as of one RocksDB snapshot (one applied index: apply
/// writes each batch atomically), into a new snapshot file at `path`.
pub(crate) fn stream_tables(db: &Db, path: &Path) -> Result<Streamed, StoreError> {
    let view = db.raw().snapshot();
    let mut writer = SnapshotWriter::create(path)?;
    let mut applied: Option<LogId> = None;
    let mut membership = StoredMembership::default();
    let mut apply_version = crate::version::APPLY_VERSION_MIN;
    for item in view.iterator_cf(db.cf(CF_SM), IteratorMode::Start) {
        let (key, value) = item?;
        if &*key == KEY_APPLIED {
            applied = decode(&value)?;
        } else if &*key == KEY_MEMBERSHIP {
            membership = decode(&value)?;
        } else if &*key == crate::version::KEY_APPLY_VERSION {
            apply_version = decode(&value)?;
        }
        writer.push(&key, &value)?;
    }
    let (_, sha256) = writer.finish_hashed()?;
    Ok(Streamed {
        applied,
        membership,
        apply_version,
        sha256,
    })
}

fn read<T: serde::de::DeserializeOwned>(db: &Db, key: &[u8]) -> Result<Option<T>, StoreError> {
    db.get(CF_META, key)?.map(|b| decode(&b)).transpose()
}

/// `<term>-<leader>-<index>` of the last entry a snapshot covers, or
/// `empty`: names its file (openraft 0.10's metadata has no id of its own;
/// 0.9's, stored in older records, read the same and is ignored).
pub fn snapshot_id(meta: &SnapshotMeta) -> String {
    match meta.last_log_id {
        Some(l) => format!("{}-{}-{}", l.leader_id.term, l.leader_id.node_id, l.index),
        None => "empty".to_string(),
    }
}

/// `<snapshot id>.snap`, with anything but letters, digits and `-` replaced:
/// the id arrives from another node.
fn file_name(meta: &SnapshotMeta) -> String {
    let id: String = snapshot_id(meta)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{id}.snap")
}

#[cfg(test)]
#[path = "snapshots_tests.rs"]
mod tests;
