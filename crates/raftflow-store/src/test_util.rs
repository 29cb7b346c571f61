//! Helpers shared by the crate's unit tests.

use rocksdb::WriteBatch;

use crate::command::{Command, CommandResult, Envelope};
use crate::machine::Machine;
use crate::{Db, StoreError};

/// Applies one command as entry `index` and writes its batch.
pub fn apply(
    m: &mut Machine,
    db: &Db,
    index: u64,
    command: Command,
) -> Result<CommandResult, StoreError> {
    let mut batch = WriteBatch::default();
    let log_id = crate::types::log_id(1, 1, index);
    let refused = crate::apply_batch::Refused::new();
    let mut result = m.apply_envelope(
        db,
        &Envelope::V1(vec![command]),
        log_id,
        &mut batch,
        &refused,
    )?;
    m.workflows.flush(&mut batch, db)?;
    m.record_position(db, Some(log_id), None, &mut batch)?;
    db.write(batch)?;
    Ok(result.results.remove(0))
}

/// The state digest of the tables in `db`, as a fresh reader computes it.
pub fn digest(db: &Db) -> String {
    crate::StateMachineStore::open_supporting(db.clone(), crate::version::Supported::BINARY)
        .unwrap()
        .reader()
        .digest()
        .unwrap()
        .1
}

/// A fresh data directory whose machine applies under `version`.
pub fn machine_at(version: u32) -> (tempfile::TempDir, Db, Machine) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    let mut m = Machine::load(&db, crate::version::Supported::BINARY).unwrap();
    apply(&mut m, &db, 1, Command::SetApplyVersion { version }).unwrap();
    (dir, db, m)
}
