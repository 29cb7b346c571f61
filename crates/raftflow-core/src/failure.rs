//! Failure handling: Retry, Catch, failing a frame, and finishing the execution.

use serde_json::{json, Value};

use crate::definition::{Catcher, Retrier, StateKind, StateMachine};
use crate::eval::{Failure, Random};
use crate::execution::*;
use crate::run::entered;

impl Execution {
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
        let mut catcher = None;
        if let Some(h) = handling.filter(|_| !terminal) {
            if let Some(delay_ms) = retry_delay(&h.retry, &active.retries, &failure, &mut ctx.rng) {
                let (index, _) = delay_ms;
                let mut active = active.clone();
                active.retries.resize(h.retry.len(), 0);
                active.retries[index] += 1;
                let timer = self.arm(
                    ctx,
                    // Saturates: a delay past the clock's end never fires.
                    ctx.now_ms.saturating_add(delay_ms.1),
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
                    json!({"name": active.name, "error": failure.error, "cause": failure.cause}),
                ),
                StateKind::Map { .. } => self.event(
                    ctx,
                    "MapStateFailed",
                    json!({"name": active.name, "error": failure.error, "cause": failure.cause}),
                ),
                _ => {}
            }
            catcher = find_catcher(&h.catch, &failure).cloned();
        }
        let outcome = match catcher {
            Some(_) => VisitOutcome::Caught,
            None => VisitOutcome::Failed,
        };
        let visit = Visit::of(&active, ctx.now_ms, outcome);
        ctx.actions.push(Action::StateVisited(visit));
        match catcher {
            Some(catcher) => self.caught(def, ctx, frame, &active, catcher, failure),
            None => self.frame_failed(def, ctx, frame, failure),
        }
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

    pub(crate) fn frame_succeeded(
        &mut self,
        def: &StateMachine,
        ctx: &mut Ctx,
        frame: u32,
        output: Value,
    ) {
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

    pub(crate) fn finish(
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
