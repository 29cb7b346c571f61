//! Applying workflow commands. Deterministic: the same commands on the same
//! state write the same bytes on every replica.

use std::collections::BTreeSet;

use raftflow_core::execution::Command as Core;
use raftflow_core::Execution;
use serde_json::Value;

use super::records::*;
use super::{Running, Workflows};
use crate::command::{Command, CommandResult, Reject};
use crate::db::Db;
use crate::error::StoreError;

pub use raftflow_core::execution::MAX_HISTORY_EVENTS;

/// What a start needs, from `StartExecution` or a schedule's fire.
#[derive(Clone, Copy)]
pub(super) struct NewExecution<'a> {
    pub state_machine: &'a str,
    /// 0: the latest.
    pub version: u32,
    pub name: &'a str,
    pub input: &'a str,
    pub now_ms: u64,
    pub seed: u64,
    pub lease_s: u64,
    pub scheduled_ms: Option<u64>,
}

pub(super) fn reject(code: Reject, message: impl Into<String>) -> CommandResult {
    CommandResult::Rejected {
        code,
        message: message.into(),
    }
}

impl Workflows {
    pub fn apply(&mut self, db: &Db, command: &Command) -> Result<CommandResult, StoreError> {
        let result = self.apply_one(db, command)?;
        self.unbind_ended(db)?;
        self.follow_schedule_runs(db, command)?;
        self.follow_triggers(db, command)?;
        self.queue_events(db, command.now_ms().unwrap_or(0))?;
        Ok(result)
    }

    fn apply_one(&mut self, db: &Db, command: &Command) -> Result<CommandResult, StoreError> {
        // The tasks the command before this one made ready (DispatchNext
        // prefers them); this command starts a new list.
        let made_ready_before = std::mem::take(&mut self.just_ready);
        match command {
            Command::Probe { .. }
            | Command::SetApplyVersion { .. }
            | Command::AclBootstrap { .. }
            | Command::TokenCreated { .. }
            | Command::TokenRevoked { .. }
            | Command::TokenRotated { .. }
            | Command::SetAlarm { .. }
            | Command::BackupRecorded { .. }
            | Command::SetClusterId { .. } => {
                unreachable!("the machine applies these itself")
            }
            Command::BeginEpoch { .. } => {
                self.epoch += 1;
                let epoch = self.epoch;
                self.put(KEY_EPOCH.to_vec(), &epoch)?;
                Ok(CommandResult::Epoch { epoch: self.epoch })
            }
            Command::CreateStateMachine {
                name,
                definition,
                description,
                now_ms,
            } => self.create(db, name, definition, description, *now_ms),
            Command::DeleteStateMachine {
                name,
                force,
                now_ms,
            } => self.delete_machine(db, name, *force, *now_ms),
            Command::StartExecution {
                state_machine,
                version,
                name,
                input,
                now_ms,
                seed,
                default_task_timeout_s,
            } => self.start(
                db,
                &NewExecution {
                    state_machine,
                    version: *version,
                    name,
                    input,
                    now_ms: *now_ms,
                    seed: *seed,
                    lease_s: *default_task_timeout_s,
                    scheduled_ms: None,
                },
            ),
            Command::StartExecutionTraced { .. } => self.apply_traced_start(db, command),
            Command::PutSchedule { .. }
            | Command::PutScheduleV2 { .. }
            | Command::PutScheduleV3 { .. }
            | Command::BackfillSchedule { .. }
            | Command::DeleteSchedule { .. }
            | Command::PauseSchedule { .. }
            | Command::FireSchedule { .. }
            | Command::SkipMissed { .. } => self.apply_schedule(db, command),
            Command::PutTrigger { .. } | Command::DeleteTrigger { .. } => {
                self.apply_trigger(db, command)
            }
            Command::PutConnection { .. } | Command::DeleteConnection { .. } => {
                self.apply_connection(db, command)
            }
            Command::PutSubscription { .. }
            | Command::DeleteSubscription { .. }
            | Command::EventsDelivered { .. }
            | Command::RedriveEvents { .. } => self.apply_subscription(db, command),
            Command::TaskDispatched {
                token,
                epoch,
                worker,
                now_ms,
            } => self.hand_out(db, token, *epoch, worker, *now_ms),
            Command::DispatchNext {
                epoch,
                worker,
                activities,
                now_ms,
                after_report: _, // decided by the machine, which sees the entry
            } => self.dispatch_next(db, *epoch, worker, activities, *now_ms, &made_ready_before),
            Command::TaskDispatchedForPoll {
                token,
                epoch,
                worker,
                now_ms,
                poll_id,
            } => self.hand_out_for_poll(db, token, (*epoch, worker, *now_ms), poll_id),
            Command::DispatchNextForPoll {
                epoch,
                worker,
                activities,
                now_ms,
                after_report: _, // as DispatchNext
                poll_id,
            } => self.dispatch_next_for_poll(
                db,
                (*epoch, worker, *now_ms),
                activities,
                poll_id,
                &made_ready_before,
            ),
            Command::WithdrawPoll {
                poll_id,
                now_ms,
                seed,
            } => self.withdraw_poll(db, poll_id, *now_ms, *seed),
            Command::TaskCompleted {
                token,
                epoch,
                output,
                now_ms,
                seed,
            } => {
                let report = self
                    .keeps_closed_attempts()
                    .then(|| report_digest(&Report::Completed { output }));
                let output: Value = match self.parse_json(output) {
                    Ok(v) => v,
                    Err(e) => {
                        return Ok(reject(
                            Reject::InvalidArgument,
                            format!("the output is not JSON: {e}"),
                        ))
                    }
                };
                self.task_report(
                    db,
                    token,
                    *epoch,
                    Core::TaskSucceeded {
                        token: token.clone(),
                        output,
                    },
                    (*now_ms, *seed),
                    report,
                )
            }
            Command::TaskFailed {
                token,
                epoch,
                error,
                cause,
                now_ms,
                seed,
            } => {
                let report = self
                    .keeps_closed_attempts()
                    .then(|| report_digest(&Report::Failed { error, cause }));
                let core = Core::TaskFailed {
                    token: token.clone(),
                    error: error.clone(),
                    cause: cause.clone(),
                };
                self.task_report(db, token, *epoch, core, (*now_ms, *seed), report)
            }
            Command::TaskHeartbeat {
                token,
                epoch,
                now_ms,
            } => self.task_report(
                db,
                token,
                *epoch,
                Core::TaskHeartbeat {
                    token: token.clone(),
                },
                (*now_ms, 0),
                None,
            ),
            Command::TimerFired {
                execution_id,
                timer,
                now_ms,
                seed,
            } => {
                let result = self.drive(
                    db,
                    execution_id,
                    Core::TimerFired { timer: *timer },
                    *now_ms,
                    *seed,
                )?;
                // A timer that lost its purpose still leaves the table.
                self.delete(timer_key(execution_id, *timer));
                Ok(result)
            }
            Command::StopExecution {
                execution_id,
                error,
                cause,
                now_ms,
            } => self.drive(
                db,
                execution_id,
                Core::Stop {
                    error: error.clone(),
                    cause: cause.clone(),
                },
                *now_ms,
                0,
            ),
            Command::PurgeFinished { before_ms, limit } => self.purge(db, *before_ms, *limit),
        }
    }

    fn create(
        &mut self,
        db: &Db,
        name: &str,
        definition: &str,
        description: &str,
        now_ms: u64,
    ) -> Result<CommandResult, StoreError> {
        let parsed = raftflow_core::parse::parse_definition_at(definition, self.apply_version);
        let diagnostics = match parsed {
            Err(diagnostics) => diagnostics,
            // Apply version 2: Step Functions' bounds on numbers, which
            // release 0.1.0 did not check (its entries replay unchanged).
            Ok(def) if self.apply_version >= 2 => raftflow_core::bounds::check_bounds(&def),
            Ok(_) => Vec::new(),
        };
        if let Some(first) = diagnostics.first() {
            return Ok(reject(
                Reject::InvalidArgument,
                format!(
                    "invalid definition ({} problems), first: {first}",
                    diagnostics.len()
                ),
            ));
        }
        let meta = self.metas.get(name).cloned();
        if let Some(meta) = meta.as_ref().filter(|m| !m.deleted) {
            let latest: Option<StateMachineVersion> =
                self.get_decoded(db, &version_key(name, meta.latest))?;
            if latest.is_some_and(|v| v.definition == definition) {
                return Ok(CommandResult::StateMachineCreated {
                    version: meta.latest,
                    created: false,
                });
            }
        }
        let version = meta.as_ref().map_or(1, |m| m.latest + 1);
        let record = StateMachineVersion {
            name: name.into(),
            version,
            definition: definition.into(),
            description: description.into(),
            created_ms: now_ms,
        };
        self.put(version_key(name, version), &record)?;
        let meta = StateMachineMeta {
            name: name.into(),
            latest: version,
            deleted: false,
        };
        self.put(meta_key(name), &meta)?;
        self.metas.insert(name.into(), meta);
        Ok(CommandResult::StateMachineCreated {
            version,
            created: true,
        })
    }

    fn delete_machine(
        &mut self,
        db: &Db,
        name: &str,
        force: bool,
        now_ms: u64,
    ) -> Result<CommandResult, StoreError> {
        let Some(mut meta) = self.metas.get(name).cloned().filter(|m| !m.deleted) else {
            return Ok(reject(
                Reject::NotFound,
                format!("state machine `{name}` does not exist"),
            ));
        };
        let running: Vec<String> = self
            .running
            .iter()
            .filter(|(_, r)| r.record.state_machine == name)
            .map(|(id, _)| id.clone())
            .collect();
        if !running.is_empty() && !force {
            return Ok(reject(
                Reject::FailedPrecondition,
                format!(
                    "{} executions of `{name}` are running; stop them or delete with force",
                    running.len()
                ),
            ));
        }
        for id in running {
            self.drive(
                db,
                &id,
                Core::Stop {
                    error: "States.Aborted".into(),
                    cause: format!("state machine {name} was deleted"),
                },
                now_ms,
                0,
            )?;
        }
        meta.deleted = true;
        self.put(meta_key(name), &meta)?;
        self.metas.insert(name.into(), meta);
        Ok(CommandResult::Deleted)
    }

    /// Starts an execution: the path of `StartExecution` and of a
    /// schedule's fire (the cluster's own starts, idempotent by name).
    pub(super) fn start(
        &mut self,
        db: &Db,
        start: &NewExecution<'_>,
    ) -> Result<CommandResult, StoreError> {
        let NewExecution {
            state_machine: sm,
            version,
            name,
            input,
            now_ms,
            seed,
            lease_s,
            scheduled_ms,
        } = *start;
        let Some(meta) = self.metas.get(sm).filter(|m| !m.deleted).cloned() else {
            return Ok(reject(
                Reject::NotFound,
                format!("state machine `{sm}` does not exist"),
            ));
        };
        let version = if version == 0 { meta.latest } else { version };
        if version > meta.latest {
            return Ok(reject(
                Reject::NotFound,
                format!(
                    "state machine `{sm}` has no version {version} (latest is {})",
                    meta.latest
                ),
            ));
        }
        let id = execution_id(sm, name);
        if let Some(existing) = self.get_decoded::<ExecutionRecord>(db, &execution_key(&id))? {
            // Idempotent as in Step Functions: same name and input ⇒ the same execution.
            return Ok(if existing.input == input {
                CommandResult::ExecutionStarted {
                    execution_id: id,
                    start_ms: existing.start_ms,
                    created: false,
                }
            } else {
                reject(
                    Reject::AlreadyExists,
                    format!("execution `{name}` already exists with another input"),
                )
            });
        }
        let input_value: Value = match self.parse_json(input) {
            Ok(v) => v,
            Err(e) => {
                return Ok(reject(
                    Reject::InvalidArgument,
                    format!("the input is not JSON: {e}"),
                ))
            }
        };
        let def = self.definition(db, sm, version)?;
        self.seq += 1;
        let seq = self.seq;
        self.put(KEY_SEQ.to_vec(), &seq)?;
        let lease = (lease_s > 0).then_some(lease_s);
        let rules = self.rules();
        let how = raftflow_core::execution::Start {
            id: &id,
            name,
            now_ms,
            seed,
            default_task_timeout_s: lease,
            rules,
            scheduled_ms,
        };
        let (exec, actions) = Execution::start_as(&def, input_value, how);
        let record = ExecutionRecord {
            id: id.clone(),
            name: name.into(),
            state_machine: sm.into(),
            version,
            status: raftflow_core::Status::Running,
            input: input.into(),
            output: None,
            error: None,
            cause: None,
            start_ms: now_ms,
            stop_ms: None,
            seq: self.seq,
        };
        self.put(list_key(self.seq), &id)?;
        self.put(execution_key(&id), &record)?;
        self.running
            .insert(id.clone(), Running { def, exec, record });
        self.counters.executions_started += 1;
        self.count_start(db, sm, version, now_ms)?;
        self.note_change(sm, &id, crate::subscriptions::Change::Started);
        self.settle(db, &id, actions, BTreeSet::new(), BTreeSet::new(), now_ms)?;
        Ok(CommandResult::ExecutionStarted {
            execution_id: id,
            start_ms: now_ms,
            created: true,
        })
    }

    fn task_report(
        &mut self,
        db: &Db,
        token: &str,
        epoch: Option<u64>,
        core: Core,
        (now_ms, seed): (u64, u64),
        report: Option<[u8; 32]>,
    ) -> Result<CommandResult, StoreError> {
        let Some(entry) = self.get_decoded::<TaskEntry>(db, &task_key(token))? else {
            return Ok(reject(Reject::StaleToken, format!("task token {token} is unknown, or its attempt already ended (timed out, completed or cancelled)")));
        };
        match (epoch, &entry.dispatched) {
            (Some(e), Some(d)) if e != d.epoch => {
                return Ok(reject(Reject::StaleToken, format!("the token was issued in epoch {e}; the attempt was handed out again in epoch {}", d.epoch)))
            }
            (Some(_), None) => return Ok(reject(Reject::StaleToken, "the task was never handed out under this token")),
            (None, _) if !entry.wait_for_token => {
                return Ok(reject(Reject::StaleToken, "only callback (.waitForTaskToken) tasks accept a token without an epoch"))
            }
            _ => {}
        }
        let result = self.drive(db, &entry.execution_id, core, now_ms, seed)?;
        if let (CommandResult::Accepted, Some(report)) = (&result, report) {
            // After settle, which recorded the end without its report.
            self.record_closed(token, Some(report))?;
        }
        Ok(result)
    }
}
