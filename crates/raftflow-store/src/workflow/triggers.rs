//! Applying the trigger commands, and starting triggered executions in
//! the apply that ends their source (crate::triggers says what they mean).
//!
//! Every replica keeps the same index of triggers by the state machine
//! they watch (`Workflows::triggers_by_source`, derived from the replicated
//! records, rebuilt on load), so every replica starts the same executions
//! at the same entry.

use raftflow_core::Status;

use super::apply::{reject, NewExecution};
use super::records::{execution_key, ExecutionRecord};
use super::Workflows;
use crate::command::{Command, CommandResult, Reject};
use crate::db::Db;
use crate::error::StoreError;
use crate::schedules::{Outcome, MAX_TEXT_BYTES};
use crate::triggers::*;

impl Workflows {
    pub(super) fn apply_trigger(
        &mut self,
        db: &Db,
        command: &Command,
    ) -> Result<CommandResult, StoreError> {
        if self.apply_version < TRIGGERS_FROM {
            return Ok(reject(
                Reject::FailedPrecondition,
                format!(
                    "triggers need apply version {TRIGGERS_FROM} (the cluster is at {})",
                    self.apply_version
                ),
            ));
        }
        match command {
            Command::PutTrigger {
                def,
                create,
                lease_s,
                now_ms,
            } => self.put_trigger(db, def, *create, *lease_s, *now_ms),
            Command::DeleteTrigger { name, .. } => {
                let Some(trigger) = self.trigger(db, name)? else {
                    return Ok(not_found(name));
                };
                self.unindex_trigger(&trigger.def);
                self.delete(key(name));
                Ok(CommandResult::Deleted)
            }
            _ => unreachable!("only trigger commands come here"),
        }
    }

    fn trigger(&self, db: &Db, name: &str) -> Result<Option<Trigger>, StoreError> {
        self.get(db, &key(name))?
            .map(|b| decode_stored(&b))
            .transpose()
    }

    fn put_trigger(
        &mut self,
        db: &Db,
        def: &TriggerDef,
        create: bool,
        lease_s: u64,
        now_ms: u64,
    ) -> Result<CommandResult, StoreError> {
        if let Some(problem) = def_problem(def) {
            return Ok(reject(Reject::InvalidArgument, problem));
        }
        let trigger = match (self.trigger(db, &def.name)?, create) {
            (Some(t), true) if t.def == *def => {
                return Ok(CommandResult::TriggerSaved {
                    revision: t.revision,
                    created: false,
                })
            }
            (Some(_), true) => {
                return Ok(reject(
                    Reject::AlreadyExists,
                    format!(
                        "trigger `{}` already exists with another definition; update it instead",
                        def.name
                    ),
                ))
            }
            (None, false) => return Ok(not_found(&def.name)),
            (None, true) if self.trigger_count() >= MAX_TRIGGERS => {
                return Ok(reject(
                    Reject::FailedPrecondition,
                    format!("the cluster holds {MAX_TRIGGERS} triggers, the most it keeps"),
                ))
            }
            (None, true) => Trigger {
                def: def.clone(),
                revision: 1,
                created_ms: now_ms,
                updated_ms: now_ms,
                lease_s,
                recent: Vec::new(),
                started: 0,
                failed: 0,
            },
            (Some(mut t), false) => {
                self.unindex_trigger(&t.def);
                t.def = def.clone();
                t.revision = t.revision.saturating_add(1);
                t.updated_ms = now_ms;
                t.lease_s = lease_s;
                t
            }
        };
        let revision = trigger.revision;
        self.index_trigger(&trigger.def);
        self.put(key(&def.name), &Stored::V1(trigger))?;
        Ok(CommandResult::TriggerSaved {
            revision,
            created: create,
        })
    }

    pub(super) fn index_trigger(&mut self, def: &TriggerDef) {
        self.triggers_by_source
            .entry(def.source.clone())
            .or_default()
            .insert(def.name.clone());
    }

    fn unindex_trigger(&mut self, def: &TriggerDef) {
        if let Some(names) = self.triggers_by_source.get_mut(&def.source) {
            names.remove(&def.name);
            if names.is_empty() {
                self.triggers_by_source.remove(&def.source);
            }
        }
    }

    fn trigger_count(&self) -> usize {
        self.triggers_by_source.values().map(|n| n.len()).sum()
    }

    /// Whether an execution of `state_machine` ending must be followed.
    pub(super) fn watched(&self, state_machine: &str) -> bool {
        self.triggers_by_source.contains_key(state_machine)
    }

    /// Starts what the triggers watching the executions the command ended
    /// say; a started execution that ends at once is followed in turn, up
    /// to `MAX_STARTS_PER_ENTRY` starts.
    pub(super) fn follow_triggers(&mut self, db: &Db, command: &Command) -> Result<(), StoreError> {
        let now_ms = command.now_ms().unwrap_or(0);
        let mut starts = 0usize;
        while !self.finished_watched.is_empty() {
            let finished = std::mem::take(&mut self.finished_watched);
            for (id, status) in finished {
                self.act_on_end(db, &id, status, now_ms, &mut starts)?;
            }
        }
        Ok(())
    }

    fn act_on_end(
        &mut self,
        db: &Db,
        id: &str,
        status: Status,
        now_ms: u64,
        starts: &mut usize,
    ) -> Result<(), StoreError> {
        let (Some(when), Some(record)) = (
            When::of(status),
            self.get_decoded::<ExecutionRecord>(db, &execution_key(id))?,
        ) else {
            return Ok(());
        };
        let names: Vec<String> = self
            .triggers_by_source
            .get(&record.state_machine)
            .map(|n| n.iter().cloned().collect())
            .unwrap_or_default();
        for name in names {
            let Some(mut trigger) = self.trigger(db, &name)? else {
                continue;
            };
            if !trigger.def.enabled || !trigger.def.on.contains(&when) {
                continue;
            }
            let outcome = if *starts >= MAX_STARTS_PER_ENTRY {
                Outcome::StartFailed {
                    message: format!(
                        "more than {MAX_STARTS_PER_ENTRY} trigger starts in one entry (a cycle of triggers?)"
                    ),
                }
            } else {
                *starts += 1;
                self.start_triggered(db, &trigger, &record, when, now_ms)?
            };
            note(&mut trigger, &record.id, when, now_ms, outcome);
            self.put(key(&name), &Stored::V1(trigger))?;
        }
        Ok(())
    }

    fn start_triggered(
        &mut self,
        db: &Db,
        trigger: &Trigger,
        source: &ExecutionRecord,
        when: When,
        now_ms: u64,
    ) -> Result<Outcome, StoreError> {
        let Target::StartExecution {
            state_machine,
            version,
        } = &trigger.def.target;
        let name = execution_name(&trigger.def.name, &source.name);
        let input = event(source, when, now_ms);
        let start = NewExecution {
            state_machine,
            version: *version,
            name: &name,
            input: &input,
            now_ms,
            // Drawn from the source and the time: the ending command may carry no seed.
            seed: source.seq.rotate_left(29) ^ now_ms,
            lease_s: trigger.lease_s,
            scheduled_ms: None,
        };
        Ok(match self.start(db, &start)? {
            CommandResult::ExecutionStarted {
                execution_id,
                created: true,
                ..
            } => Outcome::Started { execution_id },
            CommandResult::ExecutionStarted { execution_id, .. } => {
                Outcome::AlreadyStarted { execution_id }
            }
            CommandResult::Rejected { message, .. } => Outcome::StartFailed { message },
            other => Outcome::StartFailed {
                message: format!("unexpected start result {other:?}"),
            },
        })
    }
}

/// Keeps the last `MAX_RECENT` actions and counts them.
fn note(trigger: &mut Trigger, source: &str, when: When, at_ms: u64, outcome: Outcome) {
    match outcome {
        Outcome::StartFailed { .. } => trigger.failed = trigger.failed.saturating_add(1),
        _ => trigger.started = trigger.started.saturating_add(1),
    }
    trigger.recent.push(Fired {
        at_ms,
        source_execution: source.to_string(),
        when,
        outcome,
    });
    let excess = trigger.recent.len().saturating_sub(MAX_RECENT);
    trigger.recent.drain(..excess);
}

/// The bounds apply holds a definition to (the door checks them first).
fn def_problem(def: &TriggerDef) -> Option<String> {
    let named = super::schedule_checks::name_problem("trigger", &def.name, MAX_TRIGGER_NAME_CHARS);
    if named.is_some() {
        return named;
    }
    let Target::StartExecution { state_machine, .. } = &def.target;
    if def.source.is_empty() || def.source.len() > 80 || state_machine.len() > 80 {
        return Some("state machine names have 1 to 80 characters".into());
    }
    if def.on.is_empty() || !def.on.windows(2).all(|w| w[0] < w[1]) {
        return Some("a trigger acts on one to four ends, ascending, each once".into());
    }
    (def.description.len() > MAX_TEXT_BYTES).then(|| {
        format!(
            "the description is {} bytes; at most {MAX_TEXT_BYTES}",
            def.description.len()
        )
    })
}

fn not_found(name: &str) -> CommandResult {
    reject(Reject::NotFound, format!("trigger `{name}` does not exist"))
}
