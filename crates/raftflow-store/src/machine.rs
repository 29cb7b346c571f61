//! The replicated state machine's logic: how each command changes the tables.
//!
//! `Machine` is the in-memory part (applied position, membership); the tables
//! themselves live in column family `sm`. Every replica applies the same
//! commands in the same order and so writes the same bytes.

use std::sync::{Arc, RwLock};

use tokio::sync::{mpsc, watch};

use rocksdb::{IteratorMode, WriteBatch};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::codec::{decode, encode};
use crate::command::{Command, CommandResult, Envelope, EnvelopeResult};
use crate::db::{Db, CF_SM};
use crate::error::StoreError;
use crate::hub::{AppliedEffects, ExecutionWatch, Hub};
use crate::types::{LogId, StoredMembership};
use crate::version::Supported;
use crate::workflow::Workflows;

/// Keys of the state machine's own bookkeeping; they sort before every table.
pub const KEY_APPLIED: &[u8] = b"\0applied";
pub const KEY_MEMBERSHIP: &[u8] = b"\0membership";
const PROBE_PREFIX: &str = "probe/";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeRecord {
    pub value: Vec<u8>,
    pub log_index: u64,
}

pub struct Machine {
    pub applied: Option<LogId>,
    pub membership: StoredMembership,
    pub workflows: Workflows,
    /// API tokens (acl/); swapped whole when a command changes it.
    pub acl: crate::acl::SharedAcl,
    /// The apply versions this node can follow (not replicated state).
    pub supported: Supported,
    /// The command being applied: (log index, position in its entry), so
    /// that a panic can be pinned on it (apply_batch.rs).
    pub(crate) applying: Option<(u64, usize)>,
}

impl Machine {
    /// Rebuilds the in-memory part from the tables, after a restart or a
    /// snapshot install.
    pub fn load(db: &Db, supported: Supported) -> Result<Self, StoreError> {
        let applied: Option<LogId> = db
            .get(CF_SM, KEY_APPLIED)?
            .map(|b| decode::<Option<LogId>>(&b))
            .transpose()?
            .flatten();
        let membership = db
            .get(CF_SM, KEY_MEMBERSHIP)?
            .map(|b| decode(&b))
            .transpose()?
            .unwrap_or_default();
        let workflows = Workflows::load(db)?;
        supported.check(workflows.apply_version)?;
        let acl = std::sync::Arc::new(crate::acl::AclTable::load(db)?);
        let mut machine = Self {
            applied,
            membership,
            workflows,
            acl,
            supported,
            applying: None,
        };
        machine.sync_task_key();
        Ok(machine)
    }

    /// Task tokens are sealed with a key derived from the ACL bootstrap's
    /// session key (raftflow_core::task_token): every replica has the same.
    fn sync_task_key(&mut self) {
        self.workflows.task_key = self.acl.bootstrap().map(crate::acl::Bootstrap::task_key);
    }

    pub fn apply_envelope(
        &mut self,
        db: &Db,
        envelope: &Envelope,
        log_id: LogId,
        batch: &mut WriteBatch,
        refused: &crate::apply_batch::Refused,
    ) -> Result<EnvelopeResult, StoreError> {
        let mut results = Vec::with_capacity(envelope.commands().len());
        // What one command made ready matters only to the next one in the
        // same entry: a node that restarts resumes at an entry boundary.
        self.workflows.just_ready.clear();
        for (position, command) in envelope.commands().iter().enumerate() {
            self.applying = Some((log_id.index, position));
            let result = match command {
                _ if refused.contains(&(log_id.index, position)) => CommandResult::Rejected {
                    code: crate::Reject::Internal,
                    message: "applying this command failed inside raftflow (a defect, logged on every node); it was refused".into(),
                },
                // Hands out nothing after a refused report or start: its
                // caller gets an error, and a task nobody saw would wait for
                // its lease.
                Command::DispatchNext {
                    after_report: true, ..
                } if matches!(results.last(), None | Some(CommandResult::Rejected { .. })) => {
                    CommandResult::NothingReady
                }
                // The same, except that a poll id that already holds an
                // attempt gets it back (a retried report: workflow/polls.rs).
                Command::DispatchNextForPoll {
                    after_report: true,
                    poll_id,
                    activities,
                    ..
                } if matches!(results.last(), None | Some(CommandResult::Rejected { .. })) => self
                    .workflows
                    .retried_poll(db, poll_id, Some(activities))?
                    .unwrap_or(CommandResult::NothingReady),
                _ => self.apply_command(db, command, log_id, batch)?,
            };
            results.push(result);
        }
        self.applying = None;
        Ok(EnvelopeResult {
            results,
            applied_at_us: 0,
        })
    }

    fn apply_command(
        &mut self,
        db: &Db,
        command: &Command,
        log_id: LogId,
        batch: &mut WriteBatch,
    ) -> Result<CommandResult, StoreError> {
        match command {
            #[cfg(test)]
            Command::Probe { key, .. } if key == "test/panic-in-apply" => {
                panic!("a panic planted by a test")
            }
            Command::Probe { key, value } => {
                let record = ProbeRecord {
                    value: value.clone(),
                    log_index: log_id.index,
                };
                batch.put_cf(db.cf(CF_SM), probe_key(key), encode(&record)?);
                Ok(CommandResult::Probe {
                    log_index: log_id.index,
                })
            }
            Command::SetApplyVersion { version } => {
                self.set_apply_version(db, *version, log_id.index)
            }
            Command::AclBootstrap { .. }
            | Command::TokenCreated { .. }
            | Command::TokenRevoked { .. }
            | Command::TokenRotated { .. } => self.apply_acl(db, command, batch),
            Command::SetAlarm {
                node,
                kind,
                raised,
                detail,
                now_ms,
            } => {
                let set = crate::alarms::SetAlarm {
                    node: *node,
                    kind: *kind,
                    raised: *raised,
                    detail,
                    now_ms: *now_ms,
                };
                crate::alarms::apply(db, batch, self.workflows.apply_version, &set)
            }
            Command::SetClusterId { id } => {
                crate::cluster_id::apply(db, batch, self.workflows.apply_version, id)
            }
            Command::BackupRecorded { record, .. } => {
                crate::backup_record::apply(db, batch, self.workflows.apply_version, record)
            }
            other => self.workflows.apply(db, other),
        }
    }

    /// The token commands (acl/), refused before apply version 7.
    fn apply_acl(
        &mut self,
        db: &Db,
        command: &Command,
        batch: &mut WriteBatch,
    ) -> Result<CommandResult, StoreError> {
        if let Some(refused) = crate::acl::apply::gate(self.workflows.apply_version) {
            return Ok(refused);
        }
        let acl = Arc::make_mut(&mut self.acl);
        match command {
            Command::AclBootstrap {
                token,
                session_key,
                now_ms,
            } => {
                let result = acl.apply_bootstrap(db, batch, token, session_key, *now_ms);
                self.sync_task_key();
                result
            }
            Command::TokenCreated { token, now_ms } => acl.apply_create(db, batch, token, *now_ms),
            Command::TokenRevoked { accessor, .. } => acl.apply_revoke(db, batch, accessor),
            Command::TokenRotated {
                accessor,
                secret_hash,
                now_ms,
            } => acl.apply_rotate(db, batch, accessor, secret_hash, *now_ms),
            _ => unreachable!("only token commands come here"),
        }
    }

    /// Raises the rules every later entry is applied by. A node that cannot
    /// follow them stops here (an error, not a result), before applying
    /// anything under rules it does not know; the others go on.
    fn set_apply_version(
        &mut self,
        db: &Db,
        version: u32,
        index: u64,
    ) -> Result<CommandResult, StoreError> {
        let active = self.workflows.apply_version;
        if version < active {
            return Ok(CommandResult::Rejected {
                code: crate::Reject::FailedPrecondition,
                message: format!(
                    "the apply version is {active} and never goes down (asked for {version})"
                ),
            });
        }
        if version == active {
            return Ok(CommandResult::ApplyVersion {
                version,
                log_index: 0,
            });
        }
        self.supported.check(version)?;
        self.workflows.set_apply_version(db, version)?;
        tracing::info!(
            from = active,
            to = version,
            change = crate::version::apply_version_change(version),
            "apply version raised"
        );
        Ok(CommandResult::ApplyVersion {
            version,
            log_index: index,
        })
    }

    /// Records the applied position in the same batch as the commands, so
    /// that the tables and `last_applied` can never disagree after a crash.
    pub fn record_position(
        &mut self,
        db: &Db,
        applied: Option<LogId>,
        membership: Option<StoredMembership>,
        batch: &mut WriteBatch,
    ) -> Result<(), StoreError> {
        batch.put_cf(db.cf(CF_SM), KEY_APPLIED, encode(&applied)?);
        if let Some(membership) = membership {
            batch.put_cf(db.cf(CF_SM), KEY_MEMBERSHIP, encode(&membership)?);
            self.membership = membership;
        }
        self.applied = applied;
        Ok(())
    }
}

fn probe_key(key: &str) -> Vec<u8> {
    format!("{PROBE_PREFIX}{key}").into_bytes()
}

/// A cheap, cloneable read handle on the applied state, for the API layer.
#[derive(Clone)]
pub struct StateReader {
    pub(crate) db: Db,
    pub(crate) machine: Arc<RwLock<Machine>>,
    pub(crate) hub: Arc<Hub>,
    pub(crate) snapshots: Arc<crate::snapshots::Snapshots>,
}

impl StateReader {
    /// A new file to receive a leader's snapshot into: the Raft service
    /// writes the streamed chunks, then hands it to openraft to install.
    /// Older receive files belong to abandoned transfers.
    pub async fn begin_receiving_snapshot(
        &self,
    ) -> Result<crate::snapshot_file::SnapshotFile, StoreError> {
        let snapshots = self.snapshots.clone();
        crate::error::blocking(move || snapshots.begin_receiving()).await
    }

    /// The current snapshot's size in bytes, and the bytes of log appended
    /// since it was taken: what decides when the next one is worth building.
    pub fn snapshot_weight(&self) -> (u64, u64) {
        self.snapshots.weight(&self.db)
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Routes every later apply's effects to the returned receiver (one
    /// subscriber: the leader's driver). Subscribe before reading the tables.
    pub fn subscribe_effects(&self) -> mpsc::UnboundedReceiver<AppliedEffects> {
        let (tx, rx) = mpsc::unbounded_channel();
        *self.hub.effects.lock().expect("hub lock poisoned") = Some(tx);
        rx
    }

    pub fn unsubscribe_effects(&self) {
        *self.hub.effects.lock().expect("hub lock poisoned") = None;
    }

    /// The applied log index, updated after every apply.
    pub fn watch_applied(&self) -> watch::Receiver<u64> {
        self.hub.applied.subscribe()
    }

    /// Wakes when an apply gives `execution_id` new events or ends it (or a
    /// snapshot replaces the tables). Register before reading, so that no
    /// change between the read and the wait is missed.
    pub fn watch_execution(&self, execution_id: &str) -> ExecutionWatch {
        ExecutionWatch::register(self.hub.clone(), execution_id)
    }

    /// Commands refused since this node started because applying them
    /// panicked (raftflow_apply_panics_total).
    pub fn apply_panics(&self) -> u64 {
        self.hub.apply_panics()
    }

    /// How many execution watches are registered (open watch streams).
    pub fn watch_streams(&self) -> usize {
        self.hub.watchers()
    }

    /// The active apply version, as applied here, and the versions this
    /// node supports.
    pub fn apply_versions(&self) -> (u32, Supported) {
        let m = self.machine.read().expect("state machine lock poisoned");
        (m.workflows.apply_version, m.supported)
    }

    /// The active apply version as applied here, without waiting for an
    /// apply in progress (the door reads it on every poll).
    pub fn active_apply_version(&self) -> u32 {
        self.hub.apply_version()
    }

    /// The latest time stamped on a command applied here since this node
    /// started (0 before any).
    pub fn log_time_ms(&self) -> u64 {
        self.hub.log_time_ms()
    }

    /// The cluster's id as applied here (cluster_id.rs); none before it is set.
    pub fn cluster_id(&self) -> Result<Option<String>, StoreError> {
        crate::cluster_id::read(&self.db)
    }

    /// The last scheduled backup as applied here (backup_record.rs).
    pub fn last_backup(&self) -> Result<Option<crate::backup_record::BackupRecord>, StoreError> {
        crate::backup_record::read_last(&self.db)
    }

    /// The raised alarms as applied here (alarms.rs): a short scan.
    pub fn alarms(&self) -> Result<Vec<crate::alarms::Alarm>, StoreError> {
        crate::alarms::read_all(&self.db)
    }

    /// The token table as applied here, without waiting for an apply in
    /// progress (the door reads it on every call).
    pub fn acl(&self) -> crate::acl::SharedAcl {
        self.hub.acl()
    }

    /// The current leader epoch, as applied here.
    pub fn epoch(&self) -> u64 {
        self.machine
            .read()
            .expect("state machine lock poisoned")
            .workflows
            .epoch
    }

    /// Executions started and finished by status, as applied on this node
    /// since it started.
    pub fn counters(&self) -> crate::workflow::Counters {
        self.machine
            .read()
            .expect("state machine lock poisoned")
            .workflows
            .counters
            .clone()
    }

    /// How many executions are running here.
    pub fn running_executions(&self) -> usize {
        self.machine
            .read()
            .expect("state machine lock poisoned")
            .workflows
            .running
            .len()
    }

    pub fn applied(&self) -> Option<LogId> {
        self.machine
            .read()
            .expect("state machine lock poisoned")
            .applied
    }

    pub fn membership(&self) -> StoredMembership {
        self.machine
            .read()
            .expect("state machine lock poisoned")
            .membership
            .clone()
    }

    pub fn probe(&self, key: &str) -> Result<Option<ProbeRecord>, StoreError> {
        self.db
            .get(CF_SM, &probe_key(key))?
            .map(|b| decode(&b))
            .transpose()
    }

    /// SHA-256 over every key and value of the state machine, read from one
    /// RocksDB snapshot; returns the applied index it describes. Two replicas
    /// at the same applied index must report the same digest.
    pub fn digest(&self) -> Result<(u64, String), StoreError> {
        let snapshot = self.db.raw().snapshot();
        let mut hasher = Sha256::new();
        let mut applied = 0;
        for item in snapshot.iterator_cf(self.db.cf(CF_SM), IteratorMode::Start) {
            let (key, value) = item?;
            if &*key == KEY_APPLIED {
                let log_id: Option<LogId> = decode(&value)?;
                applied = log_id.map_or(0, |l| l.index);
            }
            hasher.update((key.len() as u64).to_be_bytes());
            hasher.update(&key);
            hasher.update((value.len() as u64).to_be_bytes());
            hasher.update(&value);
        }
        let digest = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok((applied, digest))
    }
}
