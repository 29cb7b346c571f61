//! The node's single RocksDB instance and its column families.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, DBCompressionType, Options,
    WriteBatch, WriteOptions, DB,
};

use crate::error::StoreError;

/// Raft log entries, keyed by index (big-endian u64, so keys sort by index).
pub const CF_LOG: &str = "log";
/// Raft metadata: vote, committed, last purged log id, current snapshot.
pub const CF_META: &str = "meta";
/// The replicated state machine's tables, plus its own `last_applied`.
pub const CF_SM: &str = "sm";

/// Memory bounds. RocksDB's defaults (64 MiB memtables, two per family,
/// and a block cache per family) would let three families take ~400 MiB;
/// these keep a node's RocksDB around 100 MiB whatever the data size.
const BLOCK_CACHE_BYTES: usize = 32 << 20;
const LOG_MEMTABLE_BYTES: usize = 16 << 20;
const SM_MEMTABLE_BYTES: usize = 16 << 20;
const META_MEMTABLE_BYTES: usize = 1 << 20;
const MAX_TOTAL_WAL_BYTES: u64 = 64 << 20;

#[derive(Clone)]
pub struct Db {
    inner: Arc<DB>,
    path: Arc<PathBuf>,
    /// Bytes of log entries appended since this process opened the store.
    appended: Arc<AtomicU64>,
    /// Whether new tables of cf log and sm are written lz4-compressed
    /// (store format 3, version.rs).
    compressed: Arc<AtomicBool>,
    /// Whether a backup's copy exists on this node (backup.rs: one at a time).
    backup_slot: Arc<AtomicBool>,
}

/// The right to hold a backup's copy on this node's disk; freed on drop.
pub struct BackupSlot(Arc<AtomicBool>);

impl Drop for BackupSlot {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Db {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_compression_type(DBCompressionType::None);
        // cf "meta" sees a few small writes; without a cap the write-ahead log
        // could not be recycled until it happened to fill a memtable.
        opts.set_max_total_wal_size(MAX_TOTAL_WAL_BYTES);
        let cache = Cache::new_lru_cache(BLOCK_CACHE_BYTES);
        let cfs = [
            (CF_LOG, LOG_MEMTABLE_BYTES),
            (CF_META, META_MEMTABLE_BYTES),
            (CF_SM, SM_MEMTABLE_BYTES),
        ]
        .into_iter()
        .map(|(name, memtable_bytes)| {
            let mut table = BlockBasedOptions::default();
            table.set_block_cache(&cache);
            let mut cf = Options::default();
            cf.set_block_based_table_factory(&table);
            // Stated, not left to RocksDB: with lz4 compiled in, its default
            // is lz4, which a binary without it cannot read (store format 3).
            cf.set_compression_type(DBCompressionType::None);
            cf.set_write_buffer_size(memtable_bytes);
            cf.set_max_write_buffer_number(2);
            ColumnFamilyDescriptor::new(name, cf)
        });
        let db = DB::open_cf_descriptors(&opts, path, cfs)?;
        Ok(Self {
            inner: Arc::new(db),
            path: Arc::new(path.to_path_buf()),
            appended: Arc::default(),
            compressed: Arc::default(),
            backup_slot: Arc::default(),
        })
    }

    /// The backup slot, unless another backup holds it.
    pub fn take_backup_slot(&self) -> Option<BackupSlot> {
        self.backup_slot
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
            .then(|| BackupSlot(self.backup_slot.clone()))
    }

    /// From now on, tables RocksDB writes for the log and the state machine
    /// are lz4-compressed (flushes and compactions; older tables are
    /// rewritten as compaction reaches them). A binary built without lz4
    /// cannot read them: version.rs turns this on only with store format 3.
    pub fn enable_compression(&self) -> Result<(), StoreError> {
        for name in [CF_LOG, CF_SM] {
            self.inner
                .set_options_cf(self.cf(name), &[("compression", "kLZ4Compression")])?;
        }
        self.compressed.store(true, Ordering::Release);
        Ok(())
    }

    pub fn is_compressed(&self) -> bool {
        self.compressed.load(Ordering::Acquire)
    }

    pub fn count_appended(&self, bytes: u64) {
        self.appended.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Bytes of log entries appended since this process opened the store.
    pub fn appended_bytes(&self) -> u64 {
        self.appended.load(Ordering::Relaxed)
    }

    /// The directory RocksDB lives in; snapshot files sit in `snapshots/` under it.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn raw(&self) -> &DB {
        &self.inner
    }

    pub fn cf(&self, name: &str) -> &ColumnFamily {
        // The three families are created in `open`; a missing one is a bug.
        self.inner
            .cf_handle(name)
            .unwrap_or_else(|| panic!("column family {name} was not opened"))
    }

    /// Writes `batch` and fsyncs the write-ahead log before returning. Use it
    /// for everything Raft is told is durable: log appends, votes, truncation.
    pub fn write_synced(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let mut opts = WriteOptions::default();
        opts.set_sync(true);
        self.inner.write_opt(batch, &opts)?;
        Ok(())
    }

    /// Writes `batch` to the write-ahead log without an fsync. State-machine
    /// applies use it: the entries are already durable in the log, and the next
    /// synced write makes this one durable too (one WAL, written in order).
    pub fn write(&self, batch: WriteBatch) -> Result<(), StoreError> {
        self.inner.write(batch)?;
        Ok(())
    }

    pub fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.inner.get_cf(self.cf(cf), key)?)
    }

    /// Whether `key` holds a value; the value stays pinned in RocksDB's cache.
    pub fn contains(&self, cf: &str, key: &[u8]) -> Result<bool, StoreError> {
        Ok(self.inner.get_pinned_cf(self.cf(cf), key)?.is_some())
    }
}

/// Log keys are big-endian so that RocksDB's byte order is index order.
pub fn log_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

pub fn log_index(key: &[u8]) -> Result<u64, StoreError> {
    let bytes: [u8; 8] = key
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("log key of {} bytes", key.len())))?;
    Ok(u64::from_be_bytes(bytes))
}

/// Up to `limit` values under `prefix` whose key follows `prefix` + `after`
/// (paging by name), decoded with `decode`.
pub(crate) fn page_by_prefix<T>(
    db: &Db,
    prefix: &[u8],
    after: &str,
    limit: usize,
    decode: impl Fn(&[u8]) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut start = prefix.to_vec();
    start.extend_from_slice(after.as_bytes());
    let mode = rocksdb::IteratorMode::From(&start, rocksdb::Direction::Forward);
    let mut out = Vec::new();
    for item in db.raw().iterator_cf(db.cf(CF_SM), mode) {
        let (key, value) = item?;
        if !key.starts_with(prefix) || out.len() >= limit {
            break;
        }
        if &key[prefix.len()..] == after.as_bytes() {
            continue;
        }
        out.push(decode(&value)?);
    }
    Ok(out)
}
