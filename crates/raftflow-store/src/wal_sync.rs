//! Group commit for log appends: the entries are written (visible at once,
//! as openraft requires) and one thread fsyncs the write-ahead log for every
//! append that arrived meanwhile, then reports each one flushed, in order.
//!
//! ```text
//!  append ──write (no sync)──▶ RocksDB WAL ──┐
//!     └──callback──▶ queue ──▶ syncer thread: drain queue, flush_wal(sync), callbacks in order
//! ```
//! openraft 0.10 does not wait for the flush before it replicates (its
//! leader counts itself in the quorum only once flushed): the leader's
//! fsync overlaps the followers' appends, and appends that arrive during
//! one fsync share the next. The callbacks fire in the order the appends
//! were written, which is what openraft requires of `IOFlushed`.

use std::sync::mpsc;

use openraft::storage::IOFlushed;

use crate::db::Db;
use crate::types::TypeConfig;

pub(crate) struct WalSync {
    tx: Option<mpsc::Sender<IOFlushed<TypeConfig>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WalSync {
    pub fn start(db: Db) -> Self {
        let (tx, rx) = mpsc::channel::<IOFlushed<TypeConfig>>();
        let thread = std::thread::Builder::new()
            .name("raftflow-wal-sync".into())
            .spawn(move || {
                // Ends when the last LogStore (the sender) is dropped.
                while let Ok(first) = rx.recv() {
                    let mut waiting = vec![first];
                    waiting.extend(rx.try_iter());
                    let result = db.raw().flush_wal(true);
                    for callback in waiting {
                        let outcome = match &result {
                            Ok(()) => Ok(()),
                            Err(e) => Err(std::io::Error::other(format!("fsync of the log: {e}"))),
                        };
                        callback.io_completed(outcome);
                    }
                }
            })
            .expect("spawn the WAL sync thread");
        Self {
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    /// Reports `callback` flushed once everything written so far is synced.
    pub fn after_sync(&self, callback: IOFlushed<TypeConfig>) {
        let tx = self.tx.as_ref().expect("the sender lives until drop");
        if let Err(mpsc::SendError(callback)) = tx.send(callback) {
            callback.io_completed(Err(std::io::Error::other("the WAL sync thread stopped")));
        }
    }
}

impl Drop for WalSync {
    /// Stops the thread and waits for it: it holds a handle on the database,
    /// and a RocksDB closed by a thread still running while the process
    /// exits aborts in RocksDB's static destructors.
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
