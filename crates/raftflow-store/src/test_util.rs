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

/// One replica's machine in a temporary data directory, under `version`,
/// with state machines created; each command one log entry.
pub struct Replica {
    _dir: tempfile::TempDir,
    pub db: Db,
    pub m: Machine,
    index: u64,
}

impl Replica {
    /// `machines`: (name, definition), created at `now_ms`.
    pub fn new(version: u32, machines: &[(&str, &str)], now_ms: u64) -> Self {
        let (_dir, db, m) = machine_at(version);
        let mut r = Self {
            _dir,
            db,
            m,
            index: 1,
        };
        for (name, definition) in machines {
            let created = r.apply(Command::CreateStateMachine {
                name: (*name).into(),
                definition: (*definition).into(),
                description: String::new(),
                now_ms,
            });
            assert!(matches!(created, CommandResult::StateMachineCreated { .. }));
        }
        r
    }

    /// Replaces the machine with one loaded afresh from the data directory
    /// (what a restart does).
    pub fn reload(&mut self) {
        self.m = Machine::load(&self.db, crate::version::Supported::BINARY).unwrap();
    }

    pub fn apply(&mut self, command: Command) -> CommandResult {
        self.index += 1;
        apply(&mut self.m, &self.db, self.index, command).unwrap()
    }

    /// Applies `commands` as one entry each, all in one write batch (as the
    /// apply thread does with the entries it has at hand).
    pub fn apply_together(&mut self, commands: Vec<Command>) {
        let mut batch = WriteBatch::default();
        let refused = crate::apply_batch::Refused::new();
        let mut log_id = crate::types::log_id(1, 1, self.index);
        for command in commands {
            self.index += 1;
            log_id = crate::types::log_id(1, 1, self.index);
            let envelope = Envelope::V1(vec![command]);
            self.m
                .apply_envelope(&self.db, &envelope, log_id, &mut batch, &refused)
                .unwrap();
        }
        self.m.workflows.flush(&mut batch, &self.db).unwrap();
        self.m
            .record_position(&self.db, Some(log_id), None, &mut batch)
            .unwrap();
        self.db.write(batch).unwrap();
    }
}
