//! openraft's log storage on RocksDB.
//!
//! Votes, truncations and purges are synced writes issued from a blocking
//! thread and awaited before the method returns. Appends are written at once
//! (visible to reads) and return before the fsync: the WAL sync thread
//! reports them flushed, in order, after the fsync that covers them
//! (wal_sync.rs). openraft 0.10 replicates meanwhile, so the leader's own
//! fsync overlaps its followers'.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use openraft::storage::{IOFlushed, RaftLogStorage};
use openraft::{ErrorVerb, LogState, OptionalSend, RaftLogReader};
use rocksdb::{Direction, IteratorMode, WriteBatch};

use crate::codec::{decode, encode};
use crate::db::{log_index, log_key, Db, CF_LOG, CF_META};
use crate::error::{blocking, log_err, vote_err, StoreError};
use crate::types::{Entry, LogId, TypeConfig, Vote};

type StorageError = std::io::Error;
use crate::wal_sync::WalSync;

const KEY_VOTE: &[u8] = b"vote";
const KEY_COMMITTED: &[u8] = b"committed";
const KEY_LAST_PURGED: &[u8] = b"last_purged";

/// A restored node's Raft metadata (backup_restore.rs): a vote in the
/// backup's term, so that the next election's term is past every entry the
/// copy includes, and the log purged up to the copy's last entry, which
/// the state machine holds.
pub(crate) fn seed_restored(db: &Db, vote: &Vote, applied: LogId) -> Result<(), StoreError> {
    let mut batch = WriteBatch::default();
    batch.put_cf(db.cf(CF_META), KEY_VOTE, encode(vote)?);
    batch.put_cf(db.cf(CF_META), KEY_LAST_PURGED, encode(&applied)?);
    batch.put_cf(db.cf(CF_META), KEY_COMMITTED, encode(&Some(applied))?);
    db.write_synced(batch)
}

#[derive(Clone)]
pub struct LogStore {
    db: Db,
    sync: Arc<WalSync>,
}

impl LogStore {
    pub fn new(db: Db) -> Self {
        let sync = Arc::new(WalSync::start(db.clone()));
        Self { db, sync }
    }

    fn meta<T: serde::de::DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StoreError> {
        self.db.get(CF_META, key)?.map(|b| decode(&b)).transpose()
    }

    fn last_entry_id(&self) -> Result<Option<LogId>, StoreError> {
        let mut iter = self
            .db
            .raw()
            .iterator_cf(self.db.cf(CF_LOG), IteratorMode::End);
        match iter.next() {
            None => Ok(None),
            Some(item) => {
                let (_, value) = item?;
                let entry: Entry = decode(&value)?;
                Ok(Some(entry.log_id))
            }
        }
    }

    fn read_range(&self, start: u64, end_inclusive: Option<u64>) -> Result<Vec<Entry>, StoreError> {
        let mode = IteratorMode::From(&log_key(start), Direction::Forward);
        let mut entries = Vec::new();
        for item in self.db.raw().iterator_cf(self.db.cf(CF_LOG), mode) {
            let (key, value) = item?;
            let index = log_index(&key)?;
            if end_inclusive.is_some_and(|end| index > end) {
                break;
            }
            let entry: Entry = decode(&value).map_err(|e| {
                StoreError::Decode(format!(
                    "log entry {index} (an entry from a newer raftflow, or damage): {e}"
                ))
            })?;
            assert_eq!(
                entry.log_id.index, index,
                "log entry stored under a foreign index"
            );
            entries.push(entry);
        }
        Ok(entries)
    }

    async fn write_synced(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let db = self.db.clone();
        blocking(move || db.write_synced(batch)).await
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i + 1,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(i) => Some(*i),
            Bound::Excluded(0) => return Ok(Vec::new()),
            Bound::Excluded(i) => Some(i - 1),
            Bound::Unbounded => None,
        };
        self.read_range(start, end)
            .map_err(|e| log_err(e, ErrorVerb::Read))
    }
    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        self.meta(KEY_VOTE)
            .map_err(|e| vote_err(e, ErrorVerb::Read))
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged: Option<LogId> = self
            .meta(KEY_LAST_PURGED)
            .map_err(|e| log_err(e, ErrorVerb::Read))?;
        let last = self
            .last_entry_id()
            .map_err(|e| log_err(e, ErrorVerb::Read))?;
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last.or(last_purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        let bytes = encode(vote).map_err(|e| vote_err(e, ErrorVerb::Write))?;
        batch.put_cf(self.db.cf(CF_META), KEY_VOTE, bytes);
        self.write_synced(batch)
            .await
            .map_err(|e| vote_err(e, ErrorVerb::Write))
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        // Not synced: it only lets a restarted node re-apply sooner; Raft's
        // safety does not depend on it.
        let bytes = encode(&committed).map_err(|e| log_err(e, ErrorVerb::Write))?;
        self.db
            .raw()
            .put_cf(self.db.cf(CF_META), KEY_COMMITTED, bytes)
            .map_err(|e| log_err(e.into(), ErrorVerb::Write))
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self
            .meta::<Option<LogId>>(KEY_COMMITTED)
            .map_err(|e| log_err(e, ErrorVerb::Read))?
            .flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = WriteBatch::default();
        for entry in entries {
            let bytes = encode(&entry).map_err(|e| log_err(e, ErrorVerb::Write))?;
            self.db.count_appended(bytes.len() as u64);
            batch.put_cf(self.db.cf(CF_LOG), log_key(entry.log_id.index), bytes);
        }
        // Visible at once (openraft reads what it appended), durable later:
        // the callback fires only after the WAL holding it was fsynced.
        match self.db.write(batch) {
            Ok(()) => {
                self.sync.after_sync(callback);
                Ok(())
            }
            Err(e) => {
                callback.io_completed(Err(std::io::Error::other(e.to_string())));
                Err(log_err(e, ErrorVerb::Write))
            }
        }
    }

    async fn truncate_after(&mut self, last: Option<LogId>) -> Result<(), StorageError> {
        let from = last.map_or(0, |l| l.index + 1);
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(self.db.cf(CF_LOG), log_key(from), log_key(u64::MAX));
        batch.delete_cf(self.db.cf(CF_LOG), log_key(u64::MAX));
        self.write_synced(batch)
            .await
            .map_err(|e| log_err(e, ErrorVerb::Delete))
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        let bytes = encode(&log_id).map_err(|e| log_err(e, ErrorVerb::Write))?;
        batch.put_cf(self.db.cf(CF_META), KEY_LAST_PURGED, bytes);
        batch.delete_range_cf(self.db.cf(CF_LOG), log_key(0), log_key(log_id.index + 1));
        self.write_synced(batch)
            .await
            .map_err(|e| log_err(e, ErrorVerb::Delete))
    }
}
