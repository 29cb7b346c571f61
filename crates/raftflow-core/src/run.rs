//! How an execution moves: entering states, finishing them, failing them.

use serde_json::{json, Value};

use crate::choice;
use crate::dataflow::{apply_output, context_object, effective_input, seconds, shape_result, text};
use crate::definition::{Catcher, Retrier, State, StateKind, StateMachine, Transition, WaitFor};
use crate::eval::{render, Failure, Random, Scope};
use crate::execution::*;

/// Names Step Functions gives the enter/exit events of each state type.
fn entered(kind: &StateKind) -> (&'static str, &'static str) {
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
        Self::start_with_lease(def, id, name, input, now_ms, seed, None)
    }

    /// Starts an execution whose tasks without timeouts get `default_task_timeout_s`.
    pub fn start_with_lease(
        def: &StateMachine,
        id: &str,
        name: &str,
        input: Value,
        now_ms: u64,
        seed: u64,
        default_task_timeout_s: Option<u64>,
    ) -> (Execution, Vec<Action>) {
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
        };
        let mut ctx = Ctx {
            now_ms,
            rng: Random::new(seed),
            actions: Vec::new(),
        };
        exec.event(&ctx, "ExecutionStarted", json!({"input": input}));
        if let Some(t) = def.timeout_seconds {
            exec.arm(&mut ctx, now_ms + t * 1000, TimerPurpose::Execution, None);
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
                let hb = record.heartbeat_ms;
                self.event(&ctx, "ActivityStarted", json!({"workerName": worker}));
                if let Some(hb) = hb {
                    let timer = self.arm(
                        &mut ctx,
                        now_ms + hb,
                        TimerPurpose::Heartbeat,
                        Some(token.clone()),
                    );
                    self.tasks
                        .get_mut(&token)
                        .expect("checked above")
                        .heartbeat_timer = Some(timer);
                }
            }
            Command::TaskHeartbeat { token } => {
                let record = self
                    .tasks
                    .get(&token)
                    .ok_or_else(|| Rejected::StaleToken(token.clone()))?;
                if let Some(hb) = record.heartbeat_ms {
                    let old = record.heartbeat_timer;
                    old.map(|t| self.timers.remove(&t));
                    let timer = self.arm(
                        &mut ctx,
                        now_ms + hb,
                        TimerPurpose::Heartbeat,
                        Some(token.clone()),
                    );
                    self.tasks
                        .get_mut(&token)
                        .expect("checked above")
                        .heartbeat_timer = Some(timer);
                }
            }
            Command::TaskSucceeded { token, output } => {
                let record = self.close_task(&token).ok_or(Rejected::StaleToken(token))?;
                self.event(&ctx, "ActivitySucceeded", json!({"output": output}));
                self.state_result(def, &mut ctx, record.frame, output);
            }
            Command::TaskFailed {
                token,
                error,
                cause,
            } => {
                let record = self.close_task(&token).ok_or(Rejected::StaleToken(token))?;
                self.event(
                    &ctx,
                    "ActivityFailed",
                    json!({"error": error, "cause": cause}),
                );
                self.state_failed(def, &mut ctx, record.frame, Failure { error, cause });
            }
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

    fn timer_fired(
        &mut self,
        def: &StateMachine,
        ctx: &mut Ctx,
        purpose: TimerPurpose,
        token: Option<String>,
    ) {
        match purpose {
            TimerPurpose::Execution => {
                let failure = Failure::new(
                    "States.Timeout",
                    "The execution exceeded its TimeoutSeconds",
                );
                self.finish(ctx, Status::TimedOut, None, Some(failure));
            }
            TimerPurpose::TaskTimeout | TimerPurpose::Heartbeat => {
                let token = token.expect("task timers carry their token");
                let Some(record) = self.close_task(&token) else {
                    return;
                };
                ctx.actions.push(Action::CancelTask { token });
                let error = if purpose == TimerPurpose::Heartbeat {
                    "States.HeartbeatTimeout"
                } else {
                    "States.Timeout"
                };
                self.event(ctx, "ActivityTimedOut", json!({"error": error}));
                self.state_failed(
                    def,
                    ctx,
                    record.frame,
                    Failure::new(error, "The task did not report in time"),
                );
            }
            TimerPurpose::Wait { frame } => {
                let Some(active) = self.frames.get(&frame).and_then(|f| f.active.clone()) else {
                    return;
                };
                self.leave(def, ctx, frame, active.effective);
            }
            TimerPurpose::Backoff { frame } => {
                let Some(active) = self.frames.get(&frame).and_then(|f| f.active.clone()) else {
                    return;
                };
                let state = self.state(def, frame, &active.name);
                if let StateKind::Task { .. } = state.kind {
                    self.schedule_task(def, ctx, frame, active);
                } else {
                    // A retried Parallel or Map runs all of its work again.
                    let context = self.context_for(state, frame, ctx, None);
                    crate::fanout::start(self, def, ctx, frame, state, active.effective, &context);
                }
            }
        }
    }

    fn close_task(&mut self, token: &str) -> Option<TaskRecord> {
        let record = self.tasks.remove(token)?;
        for timer in [record.heartbeat_timer, record.timeout_timer]
            .into_iter()
            .flatten()
        {
            self.timers.remove(&timer);
        }
        Some(record)
    }

    fn new_frame(
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

    fn state<'a>(&self, def: &'a StateMachine, frame: u32, name: &str) -> &'a State {
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
        self.frames
            .get_mut(&frame)
            .expect("frame exists")
            .active
            .as_mut()
            .expect("just set")
            .effective = effective.clone();
        match &state.kind {
            StateKind::Pass {
                parameters, result, ..
            } => {
                let scope = Scope {
                    data: &effective,
                    context: &context,
                };
                let output = match (result, parameters) {
                    (Some(r), _) => Ok(r.clone()),
                    (None, Some(p)) => render(p, &scope, &mut ctx.rng),
                    (None, None) => Ok(effective.clone()),
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
                };
                let error = text(error.as_ref(), &scope, &mut ctx.rng).unwrap_or_default();
                let cause = text(cause.as_ref(), &scope, &mut ctx.rng).unwrap_or_default();
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

    fn schedule_task(&mut self, def: &StateMachine, ctx: &mut Ctx, frame: u32, active: Active) {
        let state = self.state(def, frame, &active.name);
        let StateKind::Task {
            activity,
            handling,
            timeout,
            heartbeat,
        } = &state.kind
        else {
            unreachable!("only Task states schedule tasks")
        };
        self.next_attempt += 1;
        let token = format!("{}#{}", self.id, self.next_attempt);
        let context = self.context_for(state, frame, ctx, Some(&token));
        let scope = Scope {
            data: &active.effective,
            context: &context,
        };
        let input = match &handling.parameters {
            Some(p) => match render(p, &scope, &mut ctx.rng) {
                Ok(v) => v,
                Err(f) => return self.state_failed(def, ctx, frame, f),
            },
            None => active.effective.clone(),
        };
        let (timeout_s, heartbeat_s) = match (
            seconds(timeout.as_ref(), &active.effective),
            seconds(heartbeat.as_ref(), &active.effective),
        ) {
            (Ok(t), Ok(h)) => (t, h),
            (Err(f), _) | (_, Err(f)) => return self.state_failed(def, ctx, frame, f),
        };
        let attempt = active.retries.iter().sum::<u32>() + 1;
        let timeout_s = match (timeout_s, heartbeat_s, activity.wait_for_token) {
            (None, None, false) => self.default_task_timeout_s,
            _ => timeout_s,
        };
        self.event(ctx, "ActivityScheduled", json!({"resource": activity.resource, "input": input, "timeoutInSeconds": timeout_s, "heartbeatInSeconds": heartbeat_s}));
        let timeout_at_ms = timeout_s.map(|s| ctx.now_ms + s * 1000);
        let timeout_timer = timeout_at_ms
            .map(|at| self.arm(ctx, at, TimerPurpose::TaskTimeout, Some(token.clone())));
        self.tasks.insert(
            token.clone(),
            TaskRecord {
                frame,
                attempt,
                started: false,
                heartbeat_ms: heartbeat_s.map(|s| s * 1000),
                heartbeat_timer: None,
                timeout_timer,
            },
        );
        self.set_phase(
            frame,
            Phase::Task {
                token: token.clone(),
            },
        );
        ctx.actions.push(Action::ScheduleTask {
            token,
            activity: activity.name.clone(),
            input,
            attempt,
            timeout_at_ms,
            wait_for_token: activity.wait_for_token,
        });
    }

    /// A state produced `result`: ResultSelector, ResultPath, OutputPath, then move on.
    pub(crate) fn state_result(
        &mut self,
        def: &StateMachine,
        ctx: &mut Ctx,
        frame: u32,
        result: Value,
    ) {
        let Some(active) = self.frames[&frame].active.clone() else {
            return;
        };
        let state = self.state(def, frame, &active.name);
        let context = self.context_for(state, frame, ctx, None);
        match shape_result(state, &active.raw_input, result, &context, &mut ctx.rng) {
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
        let output = match apply_output(state, data) {
            Ok(v) => v,
            Err(f) => return self.state_failed(def, ctx, frame, f),
        };
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

    /// A state failed: retry it, catch it, or fail its frame.
    pub(crate) fn state_failed(
        &mut self,
        def: &StateMachine,
        ctx: &mut Ctx,
        frame: u32,
        failure: Failure,
    ) {
        let Some(active) = self.frames[&frame].active.clone() else {
            return;
        };
        let state = self.state(def, frame, &active.name);
        let handling = match &state.kind {
            StateKind::Task { handling, .. }
            | StateKind::Parallel { handling, .. }
            | StateKind::Map { handling, .. } => Some(handling),
            _ => None,
        };
        let terminal = matches!(
            failure.error.as_str(),
            "States.Runtime" | "States.DataLimitExceeded"
        );
        if let Some(h) = handling.filter(|_| !terminal) {
            if let Some(delay_ms) = retry_delay(&h.retry, &active.retries, &failure, &mut ctx.rng) {
                let (index, _) = delay_ms;
                let mut active = active.clone();
                active.retries.resize(h.retry.len(), 0);
                active.retries[index] += 1;
                let timer = self.arm(
                    ctx,
                    ctx.now_ms + delay_ms.1,
                    TimerPurpose::Backoff { frame },
                    None,
                );
                active.phase = Phase::Backoff { timer };
                self.frames.get_mut(&frame).expect("frame exists").active = Some(active);
                return;
            }
            match &state.kind {
                StateKind::Parallel { .. } => self.event(
                    ctx,
                    "ParallelStateFailed",
                    json!({"error": failure.error, "cause": failure.cause}),
                ),
                StateKind::Map { .. } => self.event(
                    ctx,
                    "MapStateFailed",
                    json!({"error": failure.error, "cause": failure.cause}),
                ),
                _ => {}
            }
            if let Some(catcher) = find_catcher(&h.catch, &failure) {
                return self.caught(def, ctx, frame, &active, catcher.clone(), failure);
            }
        }
        self.frame_failed(def, ctx, frame, failure);
    }

    fn caught(
        &mut self,
        def: &StateMachine,
        ctx: &mut Ctx,
        frame: u32,
        active: &Active,
        catcher: Catcher,
        failure: Failure,
    ) {
        let error_output = json!({"Error": failure.error, "Cause": failure.cause});
        let data = match &catcher.result_path {
            crate::definition::ResultPath::Discard => active.raw_input.clone(),
            crate::definition::ResultPath::At(p) => {
                let mut data = active.raw_input.clone();
                if p.segments.is_empty() {
                    error_output
                } else if p.set(&mut data, error_output).is_ok() {
                    data
                } else {
                    return self.frame_failed(
                        def,
                        ctx,
                        frame,
                        Failure::new(
                            "States.ResultPathMatchFailure",
                            format!("Unable to apply ResultPath {} to the input", p.raw),
                        ),
                    );
                }
            }
        };
        let state = self.state(def, frame, &active.name);
        self.event(
            ctx,
            entered(&state.kind).1,
            json!({"name": active.name, "output": data}),
        );
        self.enter(def, ctx, frame, &catcher.next, data);
    }

    fn frame_succeeded(&mut self, def: &StateMachine, ctx: &mut Ctx, frame: u32, output: Value) {
        let parent = self.frames.remove(&frame).and_then(|f| f.parent);
        match parent {
            None => self.finish(ctx, Status::Succeeded, Some(output), None),
            Some((parent, slot)) => {
                crate::fanout::child_succeeded(self, def, ctx, parent, frame, slot, output)
            }
        }
    }

    pub(crate) fn frame_failed(
        &mut self,
        def: &StateMachine,
        ctx: &mut Ctx,
        frame: u32,
        failure: Failure,
    ) {
        let parent = self.frames.get(&frame).and_then(|f| f.parent);
        self.drop_frame(ctx, frame);
        match parent {
            None => self.finish(ctx, Status::Failed, None, Some(failure)),
            Some((parent, slot)) => {
                crate::fanout::child_failed(self, def, ctx, parent, frame, slot, failure)
            }
        }
    }

    /// Removes a frame and everything it still runs: tasks, timers, children.
    pub(crate) fn drop_frame(&mut self, ctx: &mut Ctx, frame: u32) {
        let Some(f) = self.frames.remove(&frame) else {
            return;
        };
        let children: Vec<u32> = self
            .frames
            .iter()
            .filter(|(_, c)| c.parent.is_some_and(|(p, _)| p == frame))
            .map(|(id, _)| *id)
            .collect();
        for child in children {
            self.drop_frame(ctx, child);
        }
        let tokens: Vec<String> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.frame == frame)
            .map(|(k, _)| k.clone())
            .collect();
        for token in tokens {
            self.close_task(&token);
            ctx.actions.push(Action::CancelTask { token });
        }
        self.timers.retain(|_, (purpose, _)| !matches!(purpose, TimerPurpose::Wait { frame: f2 } | TimerPurpose::Backoff { frame: f2 } if *f2 == frame));
        drop(f);
    }

    fn finish(
        &mut self,
        ctx: &mut Ctx,
        status: Status,
        output: Option<Value>,
        failure: Option<Failure>,
    ) {
        let roots: Vec<u32> = self.frames.keys().copied().collect();
        for frame in roots {
            self.drop_frame(ctx, frame);
        }
        self.timers.clear();
        let (kind, details) = match status {
            Status::Succeeded => ("ExecutionSucceeded", json!({"output": output})),
            Status::Failed => ("ExecutionFailed", failure_json(&failure)),
            Status::TimedOut => ("ExecutionTimedOut", failure_json(&failure)),
            Status::Aborted => ("ExecutionAborted", failure_json(&failure)),
            Status::Running => unreachable!("finish takes a terminal status"),
        };
        self.event(ctx, kind, details);
        self.status = status;
        self.output = output;
        self.failure = failure;
        ctx.actions.push(Action::Finished { status });
    }
}

fn failure_json(f: &Option<Failure>) -> Value {
    f.as_ref()
        .map_or(json!({}), |f| json!({"error": f.error, "cause": f.cause}))
}

fn matches(names: &[String], failure: &Failure) -> bool {
    names.iter().any(|n| {
        n == &failure.error
            || n == "States.ALL"
            || (n == "States.TaskFailed" && failure.error != "States.Timeout")
    })
}

/// (retrier index, delay) when a retrier applies and has attempts left.
fn retry_delay(
    retriers: &[Retrier],
    used: &[u32],
    failure: &Failure,
    rng: &mut Random,
) -> Option<(usize, u64)> {
    let (index, r) = retriers
        .iter()
        .enumerate()
        .find(|(_, r)| matches(&r.error_equals, failure))?;
    let attempts = used.get(index).copied().unwrap_or(0);
    if attempts >= r.max_attempts {
        return None;
    }
    let mut delay_s = r.interval_seconds as f64 * r.backoff_rate.powi(attempts as i32);
    if let Some(max) = r.max_delay_seconds {
        delay_s = delay_s.min(max as f64);
    }
    if r.full_jitter {
        delay_s *= rng.unit();
    }
    Some((index, (delay_s * 1000.0).round() as u64))
}

fn find_catcher<'a>(catchers: &'a [Catcher], failure: &Failure) -> Option<&'a Catcher> {
    catchers.iter().find(|c| matches(&c.error_equals, failure))
}

fn wait_until(wait: &WaitFor, input: &Value, now_ms: u64) -> Result<u64, Failure> {
    let ts_ms = |s: &str| crate::time::parse_timestamp(s).map(|ns| (ns / 1_000_000).max(0) as u64);
    match wait {
        WaitFor::Seconds(s) => Ok(now_ms + s * 1000),
        WaitFor::SecondsPath(p) => match p.select(input).and_then(|v| v.as_u64()) {
            Some(s) => Ok(now_ms + s * 1000),
            None => Err(Failure::new(
                "States.Runtime",
                format!("SecondsPath {} does not name a non-negative integer", p.raw),
            )),
        },
        WaitFor::Timestamp(t) => Ok(ts_ms(t).unwrap_or(now_ms).max(now_ms)),
        WaitFor::TimestampPath(p) => match p
            .select(input)
            .as_ref()
            .and_then(Value::as_str)
            .and_then(ts_ms)
        {
            Some(t) => Ok(t.max(now_ms)),
            None => Err(Failure::new(
                "States.Runtime",
                format!(
                    "TimestampPath {} does not name an RFC 3339 timestamp",
                    p.raw
                ),
            )),
        },
    }
}
