//! Group commit for log appends: the entries are written (visible at once,
//! as openraft requires) and one thread fsyncs the write-ahead log for every
//! append that arrived meanwhile, then reports each one flushed, in order.
//!
//! ```text
//!  append ──write (no sync)──▶ RocksDB WAL ──┐
//!     └──callback──▶ queue ──▶ syncer thread: drain queue, flush_wal(sync), callbacks in order
//! ```
//! What this does *not* buy with openraft 0.9.25: its core awaits the flush
//! callback itself (`RaftCore::append_to_log`) before it runs the next
//! command, so a leader replicates an entry only after its own fsync, and
//! one node never has two appends waiting for the same fsync. The thread
//! keeps the fsync off the tokio workers (two, on this machine) and is ready
//! for an openraft that stops waiting (pipelined replication, planned for
//! 0.10); see docs/benchmarks.md, "Where one writer's commit goes".

use std::sync::mpsc;

use openraft::storage::LogFlushed;

use crate::db::Db;
use crate::types::TypeConfig;

pub(crate) struct WalSync {
    tx: Option<mpsc::Sender<LogFlushed<TypeConfig>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WalSync {
    pub fn start(db: Db) -> Self {
        let (tx, rx) = mpsc::channel::<LogFlushed<TypeConfig>>();
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
                        callback.log_io_completed(outcome);
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
    pub fn after_sync(&self, callback: LogFlushed<TypeConfig>) {
        let tx = self.tx.as_ref().expect("the sender lives until drop");
        if let Err(mpsc::SendError(callback)) = tx.send(callback) {
            callback.log_io_completed(Err(std::io::Error::other("the WAL sync thread stopped")));
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
