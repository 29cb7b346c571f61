//! Running the engine on an execution and storing what it produced:
//! events, open tasks, timers, the end of the execution; and retention.

use std::collections::BTreeSet;

use raftflow_core::execution::Command as Core;
use raftflow_core::{Action, Rejected, Status};

use super::apply::{reject, MAX_HISTORY_EVENTS};
use super::records::*;
use super::{Effect, Running, Workflows};
use crate::command::{CommandResult, Reject};
use crate::db::Db;
use crate::error::StoreError;

impl Workflows {
    /// Applies one engine command to a running execution and records the outcome.
    pub(super) fn drive(
        &mut self,
        db: &Db,
        id: &str,
        core: Core,
        now_ms: u64,
        seed: u64,
    ) -> Result<CommandResult, StoreError> {
        let rules = self.rules();
        let Some(running) = self.running.get_mut(id) else {
            return Ok(reject(
                Reject::FailedPrecondition,
                format!("execution {id} is not running"),
            ));
        };
        running.exec.rules = rules;
        let tasks_before: BTreeSet<String> = running.exec.tasks.keys().cloned().collect();
        let timers_before: BTreeSet<u64> = running.exec.timers.keys().copied().collect();
        let def = running.def.clone();
        match running.exec.apply(&def, core, now_ms, seed) {
            Ok(actions) => {
                self.settle(db, id, actions, tasks_before, timers_before, now_ms)?;
                Ok(CommandResult::Accepted)
            }
            Err(Rejected::Finished) => Ok(reject(
                Reject::FailedPrecondition,
                format!("execution {id} has already finished"),
            )),
            Err(Rejected::StaleToken(t)) => Ok(reject(
                Reject::StaleToken,
                format!("task token {t} is no longer open"),
            )),
            Err(Rejected::StaleTimer(t)) => Ok(reject(
                Reject::FailedPrecondition,
                format!("timer {t} was already handled"),
            )),
        }
    }

    /// Writes a step's events: whole before apply version 9, from then on
    /// with each large value stored once per execution (blobs.rs).
    fn record_events(
        &mut self,
        db: &Db,
        id: &str,
        events: Vec<raftflow_core::execution::Event>,
    ) -> Result<(), StoreError> {
        for e in events {
            if self.apply_version < super::blobs::BLOBS_FROM {
                let record = EventRecord {
                    id: e.id,
                    previous_id: e.previous_id,
                    timestamp_ms: e.timestamp_ms,
                    kind: e.kind.into_owned(),
                    details: e.details.to_string(),
                };
                self.put(event_key(id, e.id), &record)?;
                continue;
            }
            let kind = e.kind.into_owned();
            let split = super::blobs::split(e.id, e.previous_id, e.timestamp_ms, kind, &e.details)?;
            for (hash, value) in split.blobs {
                let key = super::blobs::blob_key(id, &hash);
                if !self.contains(db, &key)? {
                    self.overlay.insert(key, Some(value.into_bytes()));
                }
            }
            self.overlay.insert(event_key(id, e.id), Some(split.record));
        }
        Ok(())
    }

    /// Stores what an engine step produced: events, tasks, timers, and the end.
    pub(super) fn settle(
        &mut self,
        db: &Db,
        id: &str,
        actions: Vec<Action>,
        tasks_before: BTreeSet<String>,
        timers_before: BTreeSet<u64>,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let running = self
            .running
            .get_mut(id)
            .expect("settle follows a step of a running execution");
        let events = running.exec.take_events();
        if !events.is_empty() || running.exec.status != Status::Running {
            self.touched.insert(id.to_string());
        }
        let tasks_after: BTreeSet<String> = running.exec.tasks.keys().cloned().collect();
        let timers_after: BTreeSet<u64> = running.exec.timers.keys().copied().collect();
        let status = running.exec.status;
        self.record_events(db, id, events)?;
        for action in actions {
            match action {
                Action::ScheduleTask {
                    token,
                    activity,
                    input,
                    attempt,
                    wait_for_token,
                    ..
                } => {
                    let heartbeat_ms = self.running[id]
                        .exec
                        .tasks
                        .get(&token)
                        .and_then(|t| t.heartbeat_ms);
                    let entry = TaskEntry {
                        token: token.clone(),
                        execution_id: id.into(),
                        activity,
                        input: input.to_string(),
                        attempt,
                        heartbeat_ms,
                        wait_for_token,
                        scheduled_ms: now_ms,
                        dispatched: None,
                    };
                    if tasks_after.contains(&token) {
                        self.put(task_key(&token), &entry)?;
                        self.ready.insert(&entry);
                        self.just_ready.push(token.clone());
                        self.effects.push(Effect::TaskReady(entry));
                    }
                }
                Action::ArmTimer { timer, fire_at_ms } => {
                    if timers_after.contains(&timer) {
                        self.put(timer_key(id, timer), &fire_at_ms)?;
                        self.effects.push(Effect::TimerArmed {
                            execution_id: id.into(),
                            timer,
                            fire_at_ms,
                        });
                    }
                }
                Action::StateVisited(visit) => {
                    let record = &self.running[id].record;
                    let (sm, version) = (record.state_machine.clone(), record.version);
                    self.count_visit(db, &sm, version, &visit)?;
                }
                Action::CancelTask { .. } | Action::Finished { .. } => {}
            }
        }
        for token in tasks_before.difference(&tasks_after) {
            self.delete(task_key(token));
            self.record_closed(token, None)?;
            self.ended.push(token.clone());
            self.ready.remove(token);
            self.effects.push(Effect::TaskGone {
                token: token.clone(),
            });
        }
        for timer in timers_before.difference(&timers_after) {
            self.delete(timer_key(id, *timer));
        }
        if status == Status::Running {
            let running = self.running.get_mut(id).expect("still running");
            if running.exec.last_event_id >= MAX_HISTORY_EVENTS {
                // Deterministic on every replica: the same events, the same cut.
                let def = running.def.clone();
                let cause = format!("the execution's history reached {MAX_HISTORY_EVENTS} events");
                let tasks: BTreeSet<String> = running.exec.tasks.keys().cloned().collect();
                let timers: BTreeSet<u64> = running.exec.timers.keys().copied().collect();
                let fail = Core::Fail {
                    error: "States.Runtime".into(),
                    cause,
                };
                let actions = running
                    .exec
                    .apply(&def, fail, now_ms, 0)
                    .expect("a running execution accepts Fail");
                return self.settle(db, id, actions, tasks, timers, now_ms);
            }
            self.dirty.insert(id.to_string());
            return Ok(());
        }
        let Running {
            exec, mut record, ..
        } = self.running.remove(id).expect("checked above");
        record.status = status;
        *self
            .counters
            .executions_finished
            .entry(status.as_str().to_string())
            .or_default() += 1;
        record.output = exec.output.as_ref().map(|v| v.to_string());
        record.error = exec.failure.as_ref().map(|f| f.error.clone());
        record.cause = exec.failure.as_ref().map(|f| f.cause.clone());
        record.stop_ms = Some(now_ms);
        let span_ms = (record.start_ms, now_ms);
        self.count_end(db, &record.state_machine, record.version, status, span_ms)?;
        self.dirty.remove(id);
        self.delete(runtime_key(id));
        self.put(execution_key(id), &record)?;
        if self.schedule_runs.contains_key(id) {
            self.finished_runs.push((id.to_string(), status));
        }
        if self.watched(&record.state_machine) {
            self.finished_watched.push((id.to_string(), status));
        }
        if let Some(when) = crate::triggers::When::of(status) {
            let change = crate::subscriptions::Change::ended(when);
            self.note_change(&record.state_machine, id, change);
        }
        self.effects.push(Effect::ExecutionFinished {
            execution_id: id.into(),
        });
        Ok(())
    }

    pub(super) fn purge(
        &mut self,
        db: &Db,
        before_ms: u64,
        limit: u32,
    ) -> Result<CommandResult, StoreError> {
        let mut count = 0;
        // Oldest first: list keys are inverse sequence numbers.
        let cf = db.cf(crate::db::CF_SM);
        let iter = db.raw().iterator_cf(
            cf,
            rocksdb::IteratorMode::From(&prefix_end(b"l/"), rocksdb::Direction::Reverse),
        );
        let mut victims = Vec::new();
        for item in iter {
            let (key, value) = item?;
            if !key.starts_with(b"l/") {
                break;
            }
            if victims.len() as u32 >= limit {
                break;
            }
            let id: String = crate::codec::decode(&value)?;
            let Some(record) = self.get_decoded::<ExecutionRecord>(db, &execution_key(&id))? else {
                continue;
            };
            match record.stop_ms {
                Some(stop) if stop < before_ms => victims.push((key.to_vec(), id)),
                // Stop at the first execution still inside retention, so
                // purges proceed in start order and stay cheap.
                _ => break,
            }
        }
        for (list, id) in victims {
            self.delete(list);
            self.delete(execution_key(&id));
            self.delete_prefix(event_prefix(&id));
            self.delete_prefix(super::blobs::blob_prefix(&id));
            if self.keeps_closed_attempts() {
                self.delete_prefix(closed_prefix(&id));
            }
            if self.keeps_traces() {
                self.delete(super::traces::trace_key(&id));
            }
            count += 1;
        }
        Ok(CommandResult::Purged { count })
    }
}
