//! The scheduler's replicated state: state machines, executions, open tasks
//! and timers, changed only by applying committed commands.
//!
//! ```text
//!  Command ──▶ Workflows::apply ──▶ raftflow-core (Execution::apply) ──▶ actions + events
//!                 │                                                        │
//!                 ├─ overlay (this batch's writes, readable at once) ◀─────┘
//!                 └─ effects (task ready/gone, timer armed) ──▶ the leader's driver
//!  flush: overlay + dirty runtimes ──▶ the apply's WriteBatch
//! ```
//! Every replica applies; only the leader acts on the effects.

mod apply;
pub mod blobs;
mod closed;
mod connections;
mod dispatch;
#[cfg(test)]
mod http_entry_tests;
mod polls;
#[cfg(test)]
mod polls_tests;
pub mod reads;
mod ready;
pub mod records;
mod schedule_backfill;
mod schedule_checks;
mod schedule_runs;
mod schedules;
#[cfg(test)]
mod secrets_tests;
mod settle;
mod stats;
mod subscription_events;
mod subscriptions;
pub mod traces;
#[cfg(test)]
mod traces_tests;
mod triggers;

pub use polls::POLL_IDS_FROM;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use raftflow_core::{Execution, StateMachine};
use rocksdb::{IteratorMode, WriteBatch};

use crate::codec::{decode, encode};
use crate::db::{Db, CF_SM};
use crate::error::StoreError;
use records::*;

/// What the leader's driver learns from each apply.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    TaskReady(TaskEntry),
    TaskGone {
        token: String,
    },
    TimerArmed {
        execution_id: String,
        timer: u64,
        fire_at_ms: u64,
    },
    ExecutionFinished {
        execution_id: String,
    },
    /// A schedule was saved, fired, paused or deleted (`None`): the
    /// leader plans its next fire from this.
    ScheduleChanged {
        name: String,
        schedule: Option<Box<crate::schedules::Schedule>>,
    },
    /// Events of `subscription` wait in its outbox: the leader delivers.
    EventQueued {
        subscription: String,
    },
}

pub(crate) struct Running {
    pub def: Arc<StateMachine>,
    pub exec: Execution,
    pub record: ExecutionRecord,
}

#[derive(Default)]
pub struct Workflows {
    pub(crate) metas: BTreeMap<String, StateMachineMeta>,
    pub(crate) defs: BTreeMap<(String, u32), Arc<StateMachine>>,
    pub(crate) running: BTreeMap<String, Running>,
    pub(crate) epoch: u64,
    pub(crate) seq: u64,
    /// The active apply version: which rules `apply` follows (version.rs).
    pub(crate) apply_version: u32,
    /// The key task tokens are sealed with, from the ACL bootstrap; the
    /// machine keeps it in step with the token table (used from version 8).
    pub(crate) task_key: Option<raftflow_core::task_token::TaskKey>,
    /// This batch's writes: `None` deletes. Reads see them before RocksDB.
    overlay: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    range_deletes: Vec<(Vec<u8>, Vec<u8>)>,
    dirty: BTreeSet<String>,
    /// Open attempts no worker holds, for `DispatchNext` (rebuilt on load).
    pub(crate) ready: ready::ReadyTasks,
    /// Tasks the command being applied made ready, in order.
    pub(crate) just_ready: Vec<String>,
    /// Attempts the command being applied ended (their poll ids go).
    ended: Vec<String>,
    /// Executions a schedule started that may still run → the schedule
    /// (derived from the schedules' `running` lists; rebuilt on load).
    pub(crate) schedule_runs: BTreeMap<String, String>,
    /// Of those, the ones the command being applied ended, in order.
    finished_runs: Vec<(String, raftflow_core::Status)>,
    /// Trigger names by the state machine they watch (derived from the
    /// replicated triggers; rebuilt on load).
    pub(crate) triggers_by_source: BTreeMap<String, BTreeSet<String>>,
    /// Executions of watched state machines the command being applied
    /// ended, in order.
    finished_watched: Vec<(String, raftflow_core::Status)>,
    /// Subscription names by the state machine they watch (derived from
    /// the replicated subscriptions; rebuilt on load).
    pub(crate) subscriptions_by_source: BTreeMap<String, BTreeSet<String>>,
    /// Changes of watched executions (state machine, id, change) the
    /// command being applied made, in order.
    changes_watched: Vec<(String, String, crate::subscriptions::Change)>,
    /// Connections in the replicated state (counted on load).
    pub(crate) connection_count: usize,
    /// Executions whose history or status this batch changed (watch streams).
    touched: BTreeSet<String>,
    pub(crate) effects: Vec<Effect>,
    /// Counters since this node started, for metrics (not replicated state).
    pub(crate) counters: Counters,
}

/// What this node's applies did since it started.
#[derive(Debug, Default, Clone)]
pub struct Counters {
    pub executions_started: u64,
    pub executions_finished: BTreeMap<String, u64>,
}

impl Workflows {
    pub fn load(db: &Db) -> Result<Self, StoreError> {
        let mut w = Workflows::default();
        let get_u64 = |key: &[u8]| -> Result<u64, StoreError> {
            Ok(db
                .get(CF_SM, key)?
                .map(|b| decode(&b))
                .transpose()?
                .unwrap_or(0))
        };
        w.epoch = get_u64(KEY_EPOCH)?;
        w.apply_version = crate::version::stored_apply_version(db)?;
        w.seq = get_u64(KEY_SEQ)?;
        for (_, value) in scan(db, b"m/")? {
            let meta: StateMachineMeta = decode(&value)?;
            w.metas.insert(meta.name.clone(), meta);
        }
        for (key, value) in scan(db, b"r/")? {
            let id = String::from_utf8_lossy(&key[2..]).to_string();
            let exec: Execution = raftflow_core::execution::read_runtime(&value)
                .map_err(|e| StoreError::Corrupt(format!("runtime of {id}: {e}")))?;
            let record: ExecutionRecord =
                decode(&db.get(CF_SM, &execution_key(&id))?.ok_or_else(|| {
                    StoreError::Corrupt(format!("runtime without record: {id}"))
                })?)?;
            let def = w.definition(db, &record.state_machine, record.version)?;
            w.running.insert(id, Running { def, exec, record });
        }
        for schedule in crate::schedules::list(db, "", usize::MAX)? {
            for id in schedule.running {
                w.schedule_runs.insert(id, schedule.def.name.clone());
            }
        }
        for trigger in crate::triggers::list(db, "", usize::MAX)? {
            w.index_trigger(&trigger.def);
        }
        w.connection_count = crate::connections::list(db, "", usize::MAX)?.len();
        for subscription in crate::subscriptions::list(db, "", usize::MAX)? {
            w.index_subscription(&subscription.def);
        }
        for task in reads::open_tasks(db)? {
            w.ready.insert(&task);
        }
        Ok(w)
    }

    /// The engine's rules under the active apply version.
    pub(crate) fn rules(&self) -> raftflow_core::execution::Rules {
        raftflow_core::execution::Rules {
            max_data_bytes: (self.apply_version >= 3)
                .then_some(raftflow_core::execution::MAX_DATA_BYTES),
            exact_numbers: self.exact_numbers(),
            task_key: self
                .task_key
                .filter(|_| self.apply_version >= raftflow_core::task_token::TASK_SECRETS_FROM),
            http_entry_time: self.apply_version >= raftflow_core::http_task::HTTP_CALLBACKS_FROM,
            http_timeout_in_input: self.apply_version
                >= raftflow_core::http_task::HTTP_TIMEOUT_FROM,
        }
    }

    /// Whether numbers are kept as written (raftflow_core::numbers).
    pub(crate) fn exact_numbers(&self) -> bool {
        self.apply_version >= raftflow_core::numbers::EXACT_NUMBERS_FROM
    }

    /// Parses JSON text that enters apply by the active version's rules.
    pub(crate) fn parse_json(&self, text: &str) -> Result<serde_json::Value, String> {
        raftflow_core::numbers::from_str_at(text, self.apply_version)
    }

    pub(crate) fn set_apply_version(&mut self, db: &Db, version: u32) -> Result<(), StoreError> {
        let was_exact = self.exact_numbers();
        self.apply_version = version;
        if self.exact_numbers() != was_exact {
            // Definitions are read by the version's number rules: every
            // replica reads the running executions' definitions anew here,
            // at the same entry, so they agree whatever they cached.
            self.defs.clear();
            let ids: Vec<String> = self.running.keys().cloned().collect();
            for id in ids {
                let (sm, v) = {
                    let r = &self.running[&id].record;
                    (r.state_machine.clone(), r.version)
                };
                let def = self.definition(db, &sm, v)?;
                self.running.get_mut(&id).expect("listed").def = def;
            }
        }
        self.put(crate::version::KEY_APPLY_VERSION.to_vec(), &version)
    }

    fn get(&self, db: &Db, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self.overlay.get(key) {
            Some(v) => Ok(v.clone()),
            None => db.get(CF_SM, key),
        }
    }

    /// Whether `key` holds a value, without copying it out of RocksDB.
    fn contains(&self, db: &Db, key: &[u8]) -> Result<bool, StoreError> {
        match self.overlay.get(key) {
            Some(v) => Ok(v.is_some()),
            None => db.contains(CF_SM, key),
        }
    }

    fn get_decoded<T: serde::de::DeserializeOwned>(
        &self,
        db: &Db,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        self.get(db, key)?.map(|b| decode(&b)).transpose()
    }

    fn put<T: serde::Serialize>(&mut self, key: Vec<u8>, value: &T) -> Result<(), StoreError> {
        self.overlay.insert(key, Some(encode(value)?));
        Ok(())
    }

    fn delete(&mut self, key: Vec<u8>) {
        self.overlay.insert(key, None);
    }

    fn delete_prefix(&mut self, prefix: Vec<u8>) {
        let end = prefix_end(&prefix);
        self.overlay
            .retain(|k, _| !(k.as_slice() >= prefix.as_slice() && k.as_slice() < end.as_slice()));
        self.range_deletes.push((prefix, end));
    }

    pub(crate) fn definition(
        &mut self,
        db: &Db,
        name: &str,
        version: u32,
    ) -> Result<Arc<StateMachine>, StoreError> {
        if let Some(def) = self.defs.get(&(name.to_string(), version)) {
            return Ok(def.clone());
        }
        let record: StateMachineVersion = self
            .get_decoded(db, &version_key(name, version))?
            .ok_or_else(|| StoreError::Corrupt(format!("missing version {version} of {name}")))?;
        let def = raftflow_core::parse::parse_definition_at(&record.definition, self.apply_version)
            .map_err(|d| {
                StoreError::Corrupt(format!(
                    "stored definition {name}:{version} no longer parses: {:?}",
                    d.first()
                ))
            })?;
        let def = Arc::new(def);
        self.defs.insert((name.to_string(), version), def.clone());
        Ok(def)
    }

    /// Writes this batch's changes into `batch`: the overlay, and the runtime
    /// of every execution that changed (once per batch, not per command).
    pub fn flush(&mut self, batch: &mut WriteBatch, db: &Db) -> Result<(), StoreError> {
        for id in std::mem::take(&mut self.dirty) {
            if let Some(r) = self.running.get(&id) {
                let json =
                    serde_json::to_vec(&r.exec).map_err(|e| StoreError::Encode(e.to_string()))?;
                self.overlay.insert(runtime_key(&id), Some(json));
            }
        }
        let cf = db.cf(CF_SM);
        for (start, end) in std::mem::take(&mut self.range_deletes) {
            batch.delete_range_cf(cf, start, end);
        }
        for (key, value) in std::mem::take(&mut self.overlay) {
            match value {
                Some(v) => batch.put_cf(cf, key, v),
                None => batch.delete_cf(cf, key),
            }
        }
        Ok(())
    }

    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    /// The executions this batch gave new events or a final status.
    pub fn take_touched(&mut self) -> BTreeSet<String> {
        std::mem::take(&mut self.touched)
    }
}

/// A key and its value.
pub(crate) type Pair = (Vec<u8>, Vec<u8>);

/// Every pair under `prefix`, in key order.
pub(crate) fn scan(db: &Db, prefix: &[u8]) -> Result<Vec<Pair>, StoreError> {
    let mut out = Vec::new();
    let iter = db.raw().iterator_cf(
        db.cf(CF_SM),
        IteratorMode::From(prefix, rocksdb::Direction::Forward),
    );
    for item in iter {
        let (k, v) = item?;
        if !k.starts_with(prefix) {
            break;
        }
        out.push((k.to_vec(), v.to_vec()));
    }
    Ok(out)
}
