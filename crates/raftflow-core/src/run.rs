//! How an execution moves: entering states, finishing them, failing them.

use serde_json::{json, Value};

use crate::choice;
use crate::dataflow::{apply_output, context_object, effective_input, shape_result, text};
use crate::definition::{State, StateKind, StateMachine, Transition};
use crate::eval::{render, Failure, Random, Scope};
use crate::execution::*;
use crate::timers::wait_until;

/// Names Step Functions gives the enter/exit events of each state type.
pub(crate) fn entered(kind: &StateKind) -> (&'static str, &'static str) {
    match kind {
        StateKind::Pass { .. } => ("PassStateEntered", "PassStateExited"),
        StateKind::Task { .. } => ("TaskStateEntered", "TaskStateExited"),
        StateKind::Choice { .. } => ("ChoiceStateEntered", "ChoiceStateExited"),
        StateKind::Wait { .. } => ("WaitStateEntered", "WaitStateExited"),
        StateKind::Succeed => ("SucceedStateEntered", "SucceedStateExited"),
        StateKind::Fail { .. } => ("FailStateEntered", "FailStateExited"),
        StateKind::Parallel { .. } => ("ParallelStateEntered", "ParallelStateExited"),
        StateKind::Map { .. } => ("MapStateEntered", "MapStateExited"),
    }
}

pub fn machine_at<'a>(def: &'a StateMachine, scope: &[ScopeStep]) -> &'a StateMachine {
    let mut machine = def;
    for step in scope {
        let state = machine
            .state(&step.state)
            .expect("scope names an existing state");
        machine = match (&state.kind, step.branch) {
            (StateKind::Parallel { branches, .. }, Some(i)) => &branches[i],
            (StateKind::Map { processor, .. }, None) => processor,
            _ => unreachable!("scope steps pass through Parallel and Map states only"),
        };
    }
    machine
}

impl Execution {
    pub fn start(
        def: &StateMachine,
        id: &str,
        name: &str,
        input: Value,
        now_ms: u64,
        seed: u64,
    ) -> (Execution, Vec<Action>) {
        Self::start_with_lease(def, id, name, input, now_ms, seed, None, Rules::default())
    }

    /// Starts an execution whose tasks without timeouts get
    /// `default_task_timeout_s`, under `rules`.
    #[allow(clippy::too_many_arguments)]
    pub fn start_with_lease(
        def: &StateMachine,
        id: &str,
        name: &str,
        input: Value,
        now_ms: u64,
        seed: u64,
        default_task_timeout_s: Option<u64>,
        rules: Rules,
    ) -> (Execution, Vec<Action>) {
        let start = Start {
            id,
            name,
            now_ms,
            seed,
            default_task_timeout_s,
            rules,
            scheduled_ms: None,
        };
        Self::start_as(def, input, start)
    }

    /// Starts an execution as `start` describes (a schedule's fire sets
    /// `scheduled_ms`).
    pub fn start_as(
        def: &StateMachine,
        input: Value,
        start: Start<'_>,
    ) -> (Execution, Vec<Action>) {
        let Start {
            id,
            name,
            now_ms,
            seed,
            default_task_timeout_s,
            rules,
            scheduled_ms,
        } = start;
        let mut exec = Execution {
            id: id.to_string(),
            name: name.to_string(),
            input: input.clone(),
            start_ms: now_ms,
            status: Status::Running,
            output: None,
            failure: None,
            events: Vec::new(),
            last_event_id: 0,
            default_task_timeout_s,
            frames: Default::default(),
            next_frame: 0,
            next_timer: 0,
            next_attempt: 0,
            tasks: Default::default(),
            timers: Default::default(),
            scheduled_ms,
            rules,
        };
        let mut ctx = Ctx {
            now_ms,
            rng: Random::new(seed),
            actions: Vec::new(),
            step_start_event: 0,
        };
        exec.event(&ctx, "ExecutionStarted", json!({"input": input}));
        if let Some(t) = def.timeout_seconds {
            match crate::bounds::deadline_ms(now_ms, t, "the execution's TimeoutSeconds") {
                Ok(at) => {
                    exec.arm(&mut ctx, at, TimerPurpose::Execution, None);
                }
                Err(failure) => {
                    exec.finish(&mut ctx, Status::Failed, None, Some(failure));
                    return (exec, ctx.actions);
                }
            }
        }
        let root = exec.new_frame(Vec::new(), None, None);
        exec.enter(def, &mut ctx, root, &def.start_at.clone(), input);
        (exec, ctx.actions)
    }

    pub fn apply(
        &mut self,
        def: &StateMachine,
        command: Command,
        now_ms: u64,
        seed: u64,
    ) -> Result<Vec<Action>, Rejected> {
        if self.status != Status::Running {
            return Err(Rejected::Finished);
        }
        let mut ctx = Ctx {
            now_ms,
            rng: Random::new(seed),
            actions: Vec::new(),
            step_start_event: self.last_event_id,
        };
        match command {
            Command::TaskStarted { token, worker } => {
                let record = self
                    .tasks
                    .get_mut(&token)
                    .ok_or_else(|| Rejected::StaleToken(token.clone()))?;
                if record.started {
                    return Ok(Vec::new()); // a repeated report of the same attempt is harmless
                }
                record.started = true;
                let frame = record.frame;
                let name = self.active_name(frame);
                self.event(
                    &ctx,
                    "ActivityStarted",
                    json!({"name": name, "workerName": worker}),
                );
                self.rearm_heartbeat(&mut ctx, &token);
            }
            Command::TaskHeartbeat { token } => {
                if !self.tasks.contains_key(&token) {
                    return Err(Rejected::StaleToken(token));
                }
                self.rearm_heartbeat(&mut ctx, &token);
            }
            Command::TaskSucceeded { token, output } => {
                let record = self.close_task(&token).ok_or(Rejected::StaleToken(token))?;
                let name = self.active_name(record.frame);
                self.event(
                    &ctx,
                    "ActivitySucceeded",
                    json!({"name": name, "output": output}),
                );
                self.state_result(def, &mut ctx, record.frame, output);
            }
            Command::TaskFailed {
                token,
                error,
                cause,
            } => {
                let record = self.close_task(&token).ok_or(Rejected::StaleToken(token))?;
                let name = self.active_name(record.frame);
                self.event(
                    &ctx,
                    "ActivityFailed",
                    json!({"name": name, "error": error, "cause": cause}),
                );
                self.state_failed(def, &mut ctx, record.frame, Failure { error, cause });
            }
            Command::TaskReturned { token } => self.task_returned(def, &mut ctx, token)?,
            Command::TimerFired { timer } => {
                let (purpose, token) = self
                    .timers
                    .remove(&timer)
                    .ok_or(Rejected::StaleTimer(timer))?;
                self.timer_fired(def, &mut ctx, purpose, token);
            }
            Command::Stop { error, cause } => {
                self.finish(
                    &mut ctx,
                    Status::Aborted,
                    None,
                    Some(Failure { error, cause }),
                );
            }
            Command::Fail { error, cause } => {
                self.finish(
                    &mut ctx,
                    Status::Failed,
                    None,
                    Some(Failure { error, cause }),
                );
            }
        }
        Ok(ctx.actions)
    }

    pub(crate) fn new_frame(
        &mut self,
        scope: Vec<ScopeStep>,
        parent: Option<(u32, usize)>,
        map_item: Option<(usize, Value)>,
    ) -> u32 {
        self.next_frame += 1;
        self.frames.insert(
            self.next_frame,
            Frame {
                scope,
                parent,
                active: None,
                map_item,
            },
        );
        self.next_frame
    }

    pub(crate) fn context(&self, frame: u32, ctx: &Ctx, token: Option<&str>) -> Value {
        context_object(self, frame, ctx.now_ms, token)
    }

    /// The context object, or `null` for states that never read it.
    pub(crate) fn context_for(
        &self,
        state: &State,
        frame: u32,
        ctx: &Ctx,
        token: Option<&str>,
    ) -> Value {
        if state.uses_context {
            self.context(frame, ctx, token)
        } else {
            Value::Null
        }
    }

    pub(crate) fn state<'a>(&self, def: &'a StateMachine, frame: u32, name: &str) -> &'a State {
        let scope = &self.frames[&frame].scope;
        machine_at(def, scope)
            .state(name)
            .expect("transitions were validated")
    }

    pub(crate) fn enter(
        &mut self,
        def: &StateMachine,
        ctx: &mut Ctx,
        frame: u32,
        name: &str,
        input: Value,
    ) {
        // The execution ended earlier in this step (a branch failed it).
        if self.status != Status::Running || !self.frames.contains_key(&frame) {
            return;
        }
        if self.last_event_id.saturating_sub(ctx.step_start_event) >= MAX_STEP_EVENTS {
            let cause = format!(
                "one step wrote {MAX_STEP_EVENTS} events without waiting (an instant loop, or a Map too large for the history limit)"
            );
            let failure = Failure::new("States.Runtime", cause);
            return self.finish(ctx, Status::Failed, None, Some(failure));
        }
        let state = self.state(def, frame, name);
        self.event(
            ctx,
            entered(&state.kind).0,
            json!({"name": name, "input": input}),
        );
        let active = Active {
            name: name.to_string(),
            raw_input: input.clone(),
            effective: Value::Null,
            entered_ms: ctx.now_ms,
            retries: Vec::new(),
            phase: Phase::Backoff { timer: 0 },
        };
        self.frames.get_mut(&frame).expect("frame exists").active = Some(active);
        let context = self.context_for(state, frame, ctx, None);
        let effective = match effective_input(state, &input, &context) {
            Ok(v) => v,
            Err(f) => return self.state_failed(def, ctx, frame, f),
        };
        // Only states that act later (a task, a timer, a fan-out, a retry)
        // need the effective input kept.
        if matches!(
            state.kind,
            StateKind::Task { .. }
                | StateKind::Wait { .. }
                | StateKind::Parallel { .. }
                | StateKind::Map { .. }
        ) {
            self.frames
                .get_mut(&frame)
                .expect("frame exists")
                .active
                .as_mut()
                .expect("just set")
                .effective = effective.clone();
        }
        match &state.kind {
            StateKind::Pass {
                parameters, result, ..
            } => {
                let output = match (result, parameters) {
                    (Some(r), _) => Ok(r.clone()),
                    (None, Some(p)) => {
                        let scope = Scope {
                            data: &effective,
                            context: &context,
                            exact_numbers: self.rules.exact_numbers,
                        };
                        render(p, &scope, &mut ctx.rng)
                    }
                    (None, None) => Ok(effective),
                };
                match output {
                    Ok(v) => self.state_result(def, ctx, frame, v),
                    Err(f) => self.state_failed(def, ctx, frame, f),
                }
            }
            StateKind::Task { .. } => {
                let active = self.frames[&frame].active.clone().expect("just set");
                self.schedule_task(def, ctx, frame, active);
            }
            StateKind::Choice { choices, default } => {
                let next = choices
                    .iter()
                    .find(|(rule, _)| choice::evaluate(rule, &effective, &context))
                    .map(|(_, n)| n)
                    .or(default.as_ref());
                match next {
                    Some(next) => {
                        let next = next.clone();
                        self.exit_to(def, ctx, frame, effective, Some(next));
                    }
                    None => self.state_failed(
                        def,
                        ctx,
                        frame,
                        Failure::new(
                            "States.NoChoiceMatched",
                            "No Choice rule matched and there is no Default",
                        ),
                    ),
                }
            }
            StateKind::Wait { wait } => {
                let fire_at = match wait_until(wait, &effective, ctx.now_ms) {
                    Ok(t) => t,
                    Err(f) => return self.state_failed(def, ctx, frame, f),
                };
                let timer = self.arm(ctx, fire_at, TimerPurpose::Wait { frame }, None);
                self.set_phase(frame, Phase::Wait { timer });
            }
            StateKind::Succeed => self.leave(def, ctx, frame, effective),
            StateKind::Fail { error, cause } => {
                let scope = Scope {
                    data: &effective,
                    context: &context,
                    exact_numbers: self.rules.exact_numbers,
                };
                let error = text(error.as_ref(), &scope, &mut ctx.rng).unwrap_or_default();
                let cause = text(cause.as_ref(), &scope, &mut ctx.rng).unwrap_or_default();
                if let Some(active) = &self.frames[&frame].active {
                    let visit = Visit::of(active, ctx.now_ms, VisitOutcome::Failed);
                    ctx.actions.push(Action::StateVisited(visit));
                }
                self.frame_failed(def, ctx, frame, Failure { error, cause });
            }
            StateKind::Parallel { .. } | StateKind::Map { .. } => {
                crate::fanout::start(self, def, ctx, frame, state, effective, &context)
            }
        }
    }

    pub(crate) fn set_phase(&mut self, frame: u32, phase: Phase) {
        self.frames
            .get_mut(&frame)
            .and_then(|f| f.active.as_mut())
            .expect("an active state")
            .phase = phase;
    }

    /// A state produced `result`: ResultSelector, ResultPath, OutputPath, then move on.
    pub(crate) fn state_result(
        &mut self,
        def: &StateMachine,
        ctx: &mut Ctx,
        frame: u32,
        result: Value,
    ) {
        let Some(active) = self.frames[&frame].active.as_ref() else {
            return;
        };
        let state = self.state(def, frame, &active.name);
        let context = self.context_for(state, frame, ctx, None);
        // Borrow the raw input in place: cloning the whole active state here
        // was a measurable share of the engine's time.
        let active = self.frames[&frame].active.as_ref().expect("checked above");
        match shape_result(
            state,
            &active.raw_input,
            result,
            (&context, self.rules.exact_numbers),
            &mut ctx.rng,
        ) {
            Ok(output) => self.leave(def, ctx, frame, output),
            Err(f) => self.state_failed(def, ctx, frame, f),
        }
    }

    /// Applies OutputPath to `data` and follows the state's transition.
    pub(crate) fn leave(&mut self, def: &StateMachine, ctx: &mut Ctx, frame: u32, data: Value) {
        let name = self.frames[&frame]
            .active
            .as_ref()
            .expect("an active state")
            .name
            .clone();
        let state = self.state(def, frame, &name);
        match &state.transition {
            Transition::Next(n) => {
                let n = n.clone();
                self.exit_to(def, ctx, frame, data, Some(n));
            }
            Transition::End | Transition::None => self.exit_to(def, ctx, frame, data, None),
        }
    }

    fn exit_to(
        &mut self,
        def: &StateMachine,
        ctx: &mut Ctx,
        frame: u32,
        data: Value,
        next: Option<String>,
    ) {
        let name = self.frames[&frame]
            .active
            .as_ref()
            .expect("an active state")
            .name
            .clone();
        let state = self.state(def, frame, &name);
        let output = match apply_output(state, data).and_then(|v| self.data_within(v)) {
            Ok(v) => v,
            Err(f) => return self.state_failed(def, ctx, frame, f),
        };
        if let Some(active) = &self.frames[&frame].active {
            let visit = Visit::of(active, ctx.now_ms, VisitOutcome::Succeeded);
            ctx.actions.push(Action::StateVisited(visit));
        }
        self.event(
            ctx,
            entered(&state.kind).1,
            json!({"name": name, "output": output}),
        );
        match next {
            Some(n) => self.enter(def, ctx, frame, &n, output),
            None => self.frame_succeeded(def, ctx, frame, output),
        }
    }
}
