//! Applying the schedule commands (crate::schedules says what they mean).
//! A fire starts its execution through `Workflows::start`, in the same
//! apply that moves the schedule's cursor.

use super::apply::{reject, NewExecution};
use super::schedule_checks::{changed, def_problem, not_found, spent, too_long};
use super::{Effect, Workflows};
use crate::command::{Command, CommandResult, Reject};
use crate::db::Db;
use crate::error::StoreError;
use crate::schedules::*;
use raftflow_core::execution::Command as Core;

/// A fire, as `Command::FireSchedule` carries it.
pub(super) struct Fire<'a> {
    pub name: &'a str,
    pub scheduled_ms: u64,
    pub revision: Option<u64>,
    pub now_ms: u64,
    pub seed: u64,
    pub lease_s: u64,
}

impl Workflows {
    pub(super) fn apply_schedule(
        &mut self,
        db: &Db,
        command: &Command,
    ) -> Result<CommandResult, StoreError> {
        if self.apply_version < SCHEDULES_FROM {
            return Ok(reject(
                Reject::FailedPrecondition,
                format!(
                    "schedules need apply version {SCHEDULES_FROM} (the cluster is at {})",
                    self.apply_version
                ),
            ));
        }
        match command {
            Command::PutSchedule {
                def,
                create,
                now_ms,
            } => self.put_schedule(db, &def.clone().into(), *create, *now_ms),
            Command::PutScheduleV2 {
                def,
                create,
                now_ms,
            } => self.put_schedule(db, &def.clone().into(), *create, *now_ms),
            Command::PutScheduleV3 {
                def,
                create,
                now_ms,
            } => match self.needs_timetables() {
                Some(refused) => Ok(refused),
                None => self.put_schedule(db, def, *create, *now_ms),
            },
            Command::BackfillSchedule { .. } => match self.needs_timetables() {
                Some(refused) => Ok(refused),
                None => self.backfill(db, command),
            },
            Command::DeleteSchedule { name, .. } => {
                if self.schedule(db, name)?.is_none() {
                    return Ok(not_found(name));
                }
                self.delete(key(name));
                self.schedule_changed(name, None);
                Ok(CommandResult::Deleted)
            }
            Command::PauseSchedule {
                name,
                paused,
                note,
                now_ms,
            } => self.pause_schedule(db, name, *paused, note, *now_ms),
            Command::FireSchedule {
                name,
                scheduled_ms,
                revision,
                now_ms,
                seed,
                default_task_timeout_s,
            } => self.fire(
                db,
                &Fire {
                    name,
                    scheduled_ms: *scheduled_ms,
                    revision: *revision,
                    now_ms: *now_ms,
                    seed: *seed,
                    lease_s: *default_task_timeout_s,
                },
            ),
            Command::SkipMissed {
                name,
                revision,
                through_ms,
                now_ms,
            } => self.skip_missed(db, name, *revision, *through_ms, *now_ms),
            _ => unreachable!("only schedule commands come here"),
        }
    }

    pub(super) fn schedule(&self, db: &Db, name: &str) -> Result<Option<Schedule>, StoreError> {
        self.get(db, &key(name))?
            .map(|b| decode_stored(&b))
            .transpose()
    }

    /// Refused before apply version 14 (`TIMETABLES_FROM`).
    fn needs_timetables(&self) -> Option<CommandResult> {
        (self.apply_version < TIMETABLES_FROM).then(|| {
            reject(
                Reject::FailedPrecondition,
                format!(
                    "several specs, excluded dates, jitter and backfill need apply version {TIMETABLES_FROM} (the cluster is at {})",
                    self.apply_version
                ),
            )
        })
    }

    /// Writes the record in the layout of the active apply version.
    pub(super) fn save_schedule(&mut self, schedule: Schedule) -> Result<(), StoreError> {
        let name = schedule.def.name.clone();
        if self.apply_version >= TIMETABLES_FROM {
            self.put(key(&name), &Stored::V3(schedule.clone()))?;
        } else {
            let old: crate::schedules_v1::ScheduleV2 = (&schedule).into();
            self.put(key(&name), &Stored::V2(old))?;
        }
        self.schedule_changed(&name, Some(schedule));
        Ok(())
    }

    fn schedule_changed(&mut self, name: &str, schedule: Option<Schedule>) {
        self.effects.push(Effect::ScheduleChanged {
            name: name.to_string(),
            schedule: schedule.map(Box::new),
        });
    }

    fn put_schedule(
        &mut self,
        db: &Db,
        def: &ScheduleDef,
        create: bool,
        now_ms: u64,
    ) -> Result<CommandResult, StoreError> {
        if let Some(problem) = def_problem(def) {
            return Ok(reject(Reject::InvalidArgument, problem));
        }
        let existing = self.schedule(db, &def.name)?;
        let mut schedule = match (existing, create) {
            (Some(s), true) if s.def == *def => {
                return Ok(CommandResult::ScheduleSaved {
                    revision: s.revision,
                    created: false,
                })
            }
            (Some(_), true) => {
                return Ok(reject(
                    Reject::AlreadyExists,
                    format!(
                        "schedule `{}` already exists with another definition; update it instead",
                        def.name
                    ),
                ))
            }
            (None, false) => return Ok(not_found(&def.name)),
            (None, true) => new_schedule(def.clone(), now_ms),
            (Some(mut s), false) => {
                s.def = def.clone();
                s.revision = s.revision.saturating_add(1);
                s.updated_ms = now_ms;
                // From the next scheduled time after the update.
                s.cursor_ms = s.cursor_ms.max(now_ms);
                s
            }
        };
        schedule.running.retain(|id| self.running.contains_key(id));
        let revision = schedule.revision;
        self.save_schedule(schedule)?;
        Ok(CommandResult::ScheduleSaved {
            revision,
            created: create,
        })
    }

    fn pause_schedule(
        &mut self,
        db: &Db,
        name: &str,
        paused: bool,
        note: &str,
        now_ms: u64,
    ) -> Result<CommandResult, StoreError> {
        if note.len() > MAX_TEXT_BYTES {
            return Ok(too_long("the note", note.len(), MAX_TEXT_BYTES));
        }
        let Some(mut schedule) = self.schedule(db, name)? else {
            return Ok(not_found(name));
        };
        if schedule.paused != paused {
            schedule.revision = schedule.revision.saturating_add(1);
            // Times passed while paused are not made up for, nor kept ones.
            schedule.cursor_ms = schedule.cursor_ms.max(now_ms);
            let dropped = std::mem::take(&mut schedule.buffered).len() as u64;
            schedule.skipped = schedule.skipped.saturating_add(dropped);
        }
        schedule.paused = paused;
        schedule.note = note.to_string();
        schedule.updated_ms = now_ms;
        self.save_schedule(schedule)?;
        Ok(CommandResult::Accepted)
    }

    fn fire(&mut self, db: &Db, fire: &Fire<'_>) -> Result<CommandResult, StoreError> {
        let Some(mut schedule) = self.schedule(db, fire.name)? else {
            return Ok(not_found(fire.name));
        };
        if let Some(refused) = planned_fire_refused(&schedule, fire) {
            return Ok(refused);
        }
        schedule.running.retain(|id| self.running.contains_key(id));
        let overlap = schedule.def.overlap;
        let outcome = self.decide_time(db, &mut schedule, fire, overlap)?;
        if fire.revision.is_some() {
            schedule.decide_next(fire.scheduled_ms);
            schedule.cursor_ms = fire.scheduled_ms;
        }
        let action = Action {
            scheduled_ms: fire.scheduled_ms,
            at_ms: fire.now_ms,
            trigger: fire.revision.is_none(),
            outcome,
        };
        record(&mut schedule, action.clone());
        self.save_schedule(schedule)?;
        Ok(CommandResult::ScheduleActed(action))
    }

    /// One time's start under `overlap`, with the schedule's running
    /// executions as they are (a fire, a trigger, a backfilled time).
    pub(super) fn decide_time(
        &mut self,
        db: &Db,
        schedule: &mut Schedule,
        fire: &Fire<'_>,
        overlap: Overlap,
    ) -> Result<Outcome, StoreError> {
        let trigger = fire.revision.is_none();
        let outcome = match (overlap, schedule.running.last().cloned()) {
            (Overlap::BufferOne | Overlap::BufferAll, Some(running)) if !trigger => {
                buffer(schedule, overlap, fire, running)
            }
            (Overlap::Skip | Overlap::BufferOne | Overlap::BufferAll, Some(running)) => {
                Outcome::SkippedOverlap { running }
            }
            (Overlap::TerminateOther, Some(_)) => {
                let others = std::mem::take(&mut schedule.running);
                self.stop_others(db, fire, &others)?;
                self.start_for(db, &schedule.def, fire)?
            }
            _ => self.start_for(db, &schedule.def, fire)?,
        };
        if let Outcome::Started { execution_id } = &outcome {
            schedule.running.push(execution_id.clone());
        }
        Ok(outcome)
    }

    /// Overlap `terminate_other`: the schedule's running executions stop
    /// as `StopExecution` stops them, before the new one starts.
    fn stop_others(
        &mut self,
        db: &Db,
        fire: &Fire<'_>,
        others: &[String],
    ) -> Result<(), StoreError> {
        for id in others {
            let stop = Core::Stop {
                error: "Schedule.Overlap".into(),
                cause: format!(
                    "schedule {} started its run for {} (overlap terminate_other)",
                    fire.name,
                    rfc3339_time(fire.scheduled_ms)
                ),
            };
            // An execution that ended meanwhile is refused: nothing to stop.
            self.drive(db, id, stop, fire.now_ms, 0)?;
        }
        Ok(())
    }

    /// The execution for one fire, named after the schedule and the time.
    pub(super) fn start_for(
        &mut self,
        db: &Db,
        def: &ScheduleDef,
        fire: &Fire<'_>,
    ) -> Result<Outcome, StoreError> {
        let trigger = fire.revision.is_none();
        let name = execution_name(&def.name, fire.scheduled_ms, trigger);
        let input = fire_input(&def.input, fire.scheduled_ms);
        // Followed from before the start: a run that ends within it (a
        // Pass, a Fail) is followed too (schedule_runs.rs).
        let id = format!("{}:{name}", def.state_machine);
        self.schedule_runs.insert(id.clone(), def.name.clone());
        let start = NewExecution {
            state_machine: &def.state_machine,
            version: def.version,
            name: &name,
            input: &input,
            now_ms: fire.now_ms,
            seed: fire.seed,
            lease_s: fire.lease_s,
            scheduled_ms: Some(fire.scheduled_ms),
        };
        let outcome = match self.start(db, &start)? {
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
        };
        if !matches!(outcome, Outcome::Started { .. }) {
            self.schedule_runs.remove(&id);
        }
        Ok(outcome)
    }

    fn skip_missed(
        &mut self,
        db: &Db,
        name: &str,
        revision: u64,
        through_ms: u64,
        now_ms: u64,
    ) -> Result<CommandResult, StoreError> {
        let Some(mut schedule) = self.schedule(db, name)? else {
            return Ok(not_found(name));
        };
        if schedule.revision != revision {
            return Ok(changed(name, revision, schedule.revision));
        }
        if through_ms <= schedule.cursor_ms {
            return Ok(spent(name, through_ms, schedule.cursor_ms));
        }
        schedule.cursor_ms = through_ms;
        let action = Action {
            scheduled_ms: through_ms,
            at_ms: now_ms,
            trigger: false,
            outcome: Outcome::SkippedMissed { through_ms },
        };
        record(&mut schedule, action.clone());
        self.save_schedule(schedule)?;
        Ok(CommandResult::ScheduleActed(action))
    }
}

/// Keeps a time behind a running execution (overlap `buffer_one` keeps
/// one, `buffer_all` up to `MAX_BUFFERED`); past that it is skipped.
fn buffer(schedule: &mut Schedule, overlap: Overlap, fire: &Fire<'_>, running: String) -> Outcome {
    let room = match overlap {
        Overlap::BufferOne => schedule.buffered.is_empty(),
        _ => schedule.buffered.len() < MAX_BUFFERED,
    };
    if !room {
        return Outcome::SkippedOverlap { running };
    }
    schedule.buffered.push((fire.scheduled_ms, fire.lease_s));
    Outcome::Buffered { running }
}

/// Why a planned fire (not a trigger) may not go ahead, if it may not.
fn planned_fire_refused(schedule: &Schedule, fire: &Fire<'_>) -> Option<CommandResult> {
    let revision = fire.revision?;
    if schedule.revision != revision {
        return Some(changed(fire.name, revision, schedule.revision));
    }
    if schedule.paused {
        return Some(reject(
            Reject::FailedPrecondition,
            format!("schedule `{}` is paused", fire.name),
        ));
    }
    if fire.scheduled_ms <= schedule.cursor_ms {
        return Some(spent(fire.name, fire.scheduled_ms, schedule.cursor_ms));
    }
    None
}

fn new_schedule(def: ScheduleDef, now_ms: u64) -> Schedule {
    Schedule {
        def,
        paused: false,
        note: String::new(),
        revision: 1,
        created_ms: now_ms,
        updated_ms: now_ms,
        // Fires the scheduled times after its creation.
        cursor_ms: now_ms,
        running: Vec::new(),
        buffered: Vec::new(),
        recent: Vec::new(),
        fired: 0,
        skipped: 0,
        decided: Vec::new(),
    }
}

/// Keeps the last `MAX_RECENT_ACTIONS` actions and counts them.
pub(super) fn record(schedule: &mut Schedule, action: Action) {
    match action.outcome {
        Outcome::SkippedOverlap { .. } | Outcome::SkippedMissed { .. } => {
            schedule.skipped = schedule.skipped.saturating_add(1)
        }
        // Counted when it starts.
        Outcome::Buffered { .. } => {}
        _ => schedule.fired = schedule.fired.saturating_add(1),
    }
    schedule.recent.push(action);
    let excess = schedule.recent.len().saturating_sub(MAX_RECENT_ACTIONS);
    schedule.recent.drain(..excess);
}
