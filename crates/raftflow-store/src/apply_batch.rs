//! Applying a batch of committed entries, with a last line of defence.
//!
//! ```text
//!  entries ──build (catch_unwind)──▶ WriteBatch + results ──write──▶ cf "sm" ──▶ hub
//!              │ a command panicked
//!              └─▶ drop the batch, reload the machine from RocksDB,
//!                  build again with that command refused (Reject::Internal)
//! ```
//! Every known cause of a panic is fixed at its root; this turns an unknown
//! one into that command's deterministic rejection on every replica (the
//! same code panics the same way everywhere) instead of a node that stops,
//! restarts, replays the entry and stops again. Nothing half-applied
//! survives: the batch is only written once it was built without a panic.
//! A stack overflow cannot be caught; the engine bounds its depth instead.

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::RwLock;

use rocksdb::WriteBatch;

use crate::db::Db;
use crate::error::StoreError;
use crate::hub::{AppliedEffects, Hub};
use crate::machine::Machine;
use crate::types::{Entry, EntryPayload, LogId, StoredMembership};
use crate::{Command, EnvelopeResult};

/// Commands refused because applying them panicked: (log index, position).
pub(crate) type Refused = BTreeSet<(u64, usize)>;

struct Built {
    batch: WriteBatch,
    results: Vec<EnvelopeResult>,
    last: Option<LogId>,
}

pub(crate) fn apply_entries(
    db: &Db,
    machine: &RwLock<Machine>,
    hub: &Hub,
    entries: Vec<Entry>,
) -> Result<Vec<EnvelopeResult>, StoreError> {
    let mut guard = machine.write().expect("state machine lock poisoned");
    let mut refused = Refused::new();
    let Built {
        batch,
        mut results,
        last,
    } = loop {
        match catch_unwind(AssertUnwindSafe(|| {
            build(db, &mut guard, &entries, &refused)
        })) {
            Ok(built) => break built?,
            Err(payload) => {
                let at = recover(db, &mut guard, hub, &*payload)?;
                refused.insert(at);
            }
        }
    };
    db.write(batch)?;
    crate::version::follow_apply_version(db, guard.workflows.apply_version)?;
    let applied_at_us = crate::hub::now_us();
    results
        .iter_mut()
        .for_each(|r| r.applied_at_us = applied_at_us);
    let effects = AppliedEffects {
        applied_at_us,
        effects: guard.workflows.take_effects(),
    };
    let touched = guard.workflows.take_touched();
    hub.set_apply_version(guard.workflows.apply_version);
    hub.set_acl(&guard.acl);
    hub.observe_log_time(latest_stamp(&entries));
    hub.publish(last.map_or(0, |l| l.index), effects, touched);
    Ok(results)
}

/// The latest time stamped on the entries' commands (0: none).
fn latest_stamp(entries: &[Entry]) -> u64 {
    entries
        .iter()
        .filter_map(|e| match &e.payload {
            EntryPayload::Normal(envelope) => {
                envelope.commands().iter().filter_map(Command::now_ms).max()
            }
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

/// Logs the panic, reloads the machine's in-memory part from the tables
/// (the batch was never written) and returns the command to refuse.
fn recover(
    db: &Db,
    machine: &mut Machine,
    hub: &Hub,
    payload: &(dyn std::any::Any + Send),
) -> Result<(u64, usize), StoreError> {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    let Some(at) = machine.applying.take() else {
        return Err(StoreError::Task(format!(
            "apply panicked outside any command: {message}"
        )));
    };
    tracing::error!(
        index = at.0,
        command = at.1,
        panic = %message,
        "applying a command panicked (a defect): the command is refused, here as on every replica, and its entry applied again without it"
    );
    hub.count_apply_panic();
    let counters = std::mem::take(&mut machine.workflows.counters);
    *machine = Machine::load(db, machine.supported)?;
    machine.workflows.counters = counters;
    Ok(at)
}

fn build(
    db: &Db,
    m: &mut Machine,
    entries: &[Entry],
    refused: &Refused,
) -> Result<Built, StoreError> {
    let mut batch = WriteBatch::default();
    let mut results = Vec::with_capacity(entries.len());
    let mut last = m.applied;
    let mut membership = None;
    for entry in entries {
        if let Some(prev) = last {
            assert!(
                entry.log_id.index > prev.index,
                "apply out of order: {} after {}",
                entry.log_id,
                prev
            );
        }
        last = Some(entry.log_id);
        match &entry.payload {
            EntryPayload::Blank => results.push(EnvelopeResult::default()),
            EntryPayload::Normal(envelope) => {
                results.push(m.apply_envelope(db, envelope, entry.log_id, &mut batch, refused)?)
            }
            EntryPayload::Membership(members) => {
                membership = Some(StoredMembership::new(Some(entry.log_id), members.clone()));
                results.push(EnvelopeResult::default());
            }
        }
    }
    m.workflows.flush(&mut batch, db)?;
    m.record_position(db, last, membership, &mut batch)?;
    Ok(Built {
        batch,
        results,
        last,
    })
}

#[cfg(test)]
mod tests {
    use crate::types::EntryPayload;

    use crate::command::{Command, CommandResult, Envelope, Reject};
    use crate::types::Entry;

    fn entry(index: u64, keys: &[&str]) -> Entry {
        let commands = keys
            .iter()
            .map(|k| Command::Probe {
                key: k.to_string(),
                value: b"v".to_vec(),
            })
            .collect();
        Entry {
            log_id: crate::types::log_id(1, 1, index),
            payload: EntryPayload::Normal(Envelope::V1(commands)),
        }
    }

    #[tokio::test]
    async fn a_panicking_command_is_refused_and_the_rest_of_its_batch_applies() {
        let entries = vec![
            entry(1, &["a", "test/panic-in-apply", "b"]),
            entry(2, &["c"]),
        ];
        let mut digests = Vec::new();
        for _ in 0..2 {
            let dir = tempfile::tempdir().unwrap();
            let (_log, sm) = crate::open(dir.path()).unwrap();
            let results = sm.apply_entries(entries.clone()).await.unwrap();
            let first = &results[0].results;
            assert_eq!(first[0], CommandResult::Probe { log_index: 1 });
            assert!(
                matches!(
                    &first[1],
                    CommandResult::Rejected {
                        code: Reject::Internal,
                        ..
                    }
                ),
                "{first:?}"
            );
            assert_eq!(first[2], CommandResult::Probe { log_index: 1 });
            assert_eq!(results[1].results[0], CommandResult::Probe { log_index: 2 });
            let reader = sm.reader();
            assert_eq!(reader.apply_panics(), 1);
            for key in ["a", "b", "c"] {
                assert!(reader.probe(key).unwrap().is_some(), "{key} applied");
            }
            assert!(reader.probe("test/panic-in-apply").unwrap().is_none());
            // The lock is not poisoned and the next entry applies.
            assert_eq!(reader.applied().map(|l| l.index), Some(2));
            sm.apply_entries(vec![entry(3, &["d"])]).await.unwrap();
            digests.push(reader.digest().unwrap());
        }
        assert_eq!(
            digests[0], digests[1],
            "every replica refuses the same command"
        );
    }
}
