//! Runs an execution to its end in virtual time, answering tasks from a
//! callback: the engine behind `raftflow run-local` and the core's tests.
//!
//! Timers fire in the order of their virtual time, so a workflow with a day
//! of Wait states finishes in microseconds.

use std::collections::{BTreeMap, VecDeque};

use serde_json::Value;

use crate::definition::StateMachine;
use crate::execution::{Action, Command, Execution, Rules, Status, Visit, MAX_HISTORY_EVENTS};

/// How a task is answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Succeed(Value),
    Fail {
        error: String,
        cause: String,
    },
    /// Never answer: the task's timeouts decide.
    Silent,
}

pub struct Outcome {
    pub execution: Execution,
    /// Commands applied after the start, i.e. state transitions driven.
    pub commands: u64,
    /// Virtual time when the run ended.
    pub end_ms: u64,
    /// Every state visit that ended, in order (what the cluster counts
    /// into per-state statistics).
    pub visits: Vec<Visit>,
}

pub fn run_local(
    def: &StateMachine,
    input: Value,
    start_ms: u64,
    seed: u64,
    mut answer: impl FnMut(&str, &Value, u32) -> Answer,
) -> Outcome {
    run_local_tasks(def, input, start_ms, seed, |task| {
        answer(task.activity, task.input, task.attempt)
    })
}

/// One task to answer, as `run_local_tasks` hands it over.
pub struct TaskCall<'a> {
    pub activity: &'a str,
    pub input: &'a Value,
    pub attempt: u32,
    /// A callback (`.waitForTaskToken`): only a report with its token ends it.
    pub wait_for_token: bool,
}

/// `run_local`, with everything the engine says of each task.
pub fn run_local_tasks(
    def: &StateMachine,
    input: Value,
    start_ms: u64,
    seed: u64,
    mut answer: impl FnMut(&TaskCall<'_>) -> Answer,
) -> Outcome {
    // The newest rules: run-local shows what a cluster at the newest apply
    // version does.
    let (mut exec, actions) = Execution::start_with_lease(
        def,
        "local:run",
        "run",
        input,
        start_ms,
        seed,
        None,
        Rules::NEWEST,
    );
    let mut now = start_ms;
    let mut timers: BTreeMap<(u64, u64), ()> = BTreeMap::new();
    let mut pending: VecDeque<Command> = VecDeque::new();
    let mut commands = 0u64;
    let mut step_seed = seed;
    let mut visits = Vec::new();
    let mut absorb = |actions: Vec<Action>,
                      pending: &mut VecDeque<Command>,
                      timers: &mut BTreeMap<(u64, u64), ()>| {
        for action in actions {
            match action {
                Action::ScheduleTask {
                    token,
                    activity,
                    input,
                    attempt,
                    wait_for_token,
                    ..
                } => match answer(&TaskCall {
                    activity: &activity,
                    input: &input,
                    attempt,
                    wait_for_token,
                }) {
                    Answer::Succeed(output) => {
                        pending.push_back(Command::TaskStarted {
                            token: token.clone(),
                            worker: "local".into(),
                        });
                        pending.push_back(Command::TaskSucceeded { token, output });
                    }
                    Answer::Fail { error, cause } => {
                        pending.push_back(Command::TaskStarted {
                            token: token.clone(),
                            worker: "local".into(),
                        });
                        pending.push_back(Command::TaskFailed {
                            token,
                            error,
                            cause,
                        });
                    }
                    Answer::Silent => pending.push_back(Command::TaskStarted {
                        token,
                        worker: "local".into(),
                    }),
                },
                Action::ArmTimer { timer, fire_at_ms } => {
                    timers.insert((fire_at_ms, timer), ());
                }
                Action::StateVisited(visit) => visits.push(visit),
                Action::CancelTask { .. } | Action::Finished { .. } => {}
            }
        }
    };
    absorb(actions, &mut pending, &mut timers);
    while exec.status == Status::Running {
        // The cluster's rule (the store's settle): the history is bounded.
        if exec.last_event_id >= MAX_HISTORY_EVENTS {
            let cause = format!("the execution's history reached {MAX_HISTORY_EVENTS} events");
            let fail = Command::Fail {
                error: "States.Runtime".into(),
                cause,
            };
            let actions = exec.apply(def, fail, now, 0).unwrap_or_default();
            absorb(actions, &mut pending, &mut timers);
            break;
        }
        let command = match pending.pop_front() {
            Some(c) => c,
            None => match timers.pop_first() {
                Some(((at, timer), ())) => {
                    now = now.max(at);
                    Command::TimerFired { timer }
                }
                None => break, // waiting on a callback token that nobody will report
            },
        };
        step_seed = step_seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        if let Ok(actions) = exec.apply(def, command, now, step_seed) {
            commands += 1;
            absorb(actions, &mut pending, &mut timers);
        }
    }
    Outcome {
        execution: exec,
        commands,
        end_ms: now,
        visits,
    }
}
