//! raftflow's replicated storage: the Raft log and the state machine, on one
//! RocksDB instance, behind openraft's v2 storage traits.
//!
//! ```text
//!  openraft ──append/vote/truncate/purge──▶ LogStore ──synced WriteBatch──▶ cf "log", cf "meta"
//!     │
//!     └──apply(committed entries)──▶ StateMachineStore ──one WriteBatch per apply──▶ cf "sm"
//!                                        │   (commands + last_applied + membership)
//!                                        └──▶ Machine (in-memory indexes, rebuilt on start)
//!  snapshot = a file streamed from one RocksDB snapshot of cf "sm" (snapshot_file.rs, snapshots.rs)
//! ```
//!
//! One RocksDB instance means one write-ahead log: after a crash the three
//! column families are prefix-consistent, and a synced log write also makes
//! every earlier state-machine write durable.
//!
//! **Versions** (version.rs): apply follows the committed apply version,
//! never the binary. A change to what apply accepts, rejects, computes or
//! writes goes behind a new version; only an entry that panicked under an
//! older binary may become a deterministic result without one. Stored
//! definitions are re-read leniently. The data directory's own layout has a
//! store format, migrated on open; a newer one is refused.

pub mod acl;
pub mod alarms;
mod apply_batch;
mod apply_thread;
pub mod backup;
pub mod backup_record;
mod backup_restore;
pub mod cluster_id;
pub mod codec;
pub mod command;
mod command_size;
pub mod connections;
pub mod db;
mod disk;
pub mod error;
pub mod hub;
pub mod log_store;
pub mod machine;
pub mod schedules;
pub mod schedules_v1;
pub mod snapshot_file;
mod snapshots;
pub mod state_machine;
pub mod stats;
pub mod stats_states;
pub mod subscriptions;
#[cfg(test)]
mod test_util;
pub mod triggers;
pub mod types;
pub mod version;
mod wal_sync;
pub mod workflow;

pub use command::{Command, CommandResult, Envelope, EnvelopeResult, Reject};
pub use db::Db;
pub use disk::dir_bytes;
pub use error::StoreError;
pub use log_store::LogStore;
pub use machine::{Machine, StateReader};
pub use snapshots::snapshot_id;
pub use state_machine::StateMachineStore;
pub use types::{Entry, NodeId, NodeInfo, TypeConfig};
pub use workflow::records;
pub use workflow::Effect;

/// Opens (or creates) the node's RocksDB at `path` and returns both halves of
/// the openraft storage plus a read handle on the applied state.
pub fn open(path: &std::path::Path) -> Result<(LogStore, StateMachineStore), StoreError> {
    open_supporting(path, version::Supported::BINARY)
}

/// `open`, for a node that applies only the apply versions of `supported`
/// (a test acting as an older release). The data directory's format is
/// checked and migrated first: a newer one is refused before anything else.
pub fn open_supporting(
    path: &std::path::Path,
    supported: version::Supported,
) -> Result<(LogStore, StateMachineStore), StoreError> {
    let db = Db::open(path)?;
    version::open_format(&db)?;
    let log = LogStore::new(db.clone());
    let sm = StateMachineStore::open_supporting(db, supported)?;
    Ok((log, sm))
}
