//! Executions: the configuration of active states, the history, and the one
//! entry point `Execution::apply`.
//!
//! ```text
//!  Execution::start(def, id, name, input, now_ms, seed) ──▶ (Execution, actions)
//!  execution.apply(def, command, now_ms, seed)          ──▶ Ok(actions) | Err(Rejected)
//! ```
//! A rejected command (stale token, handled timer, finished execution) leaves
//! the execution untouched.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::eval::{Failure, Random};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Status {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "RUNNING",
            Status::Succeeded => "SUCCEEDED",
            Status::Failed => "FAILED",
            Status::TimedOut => "TIMED_OUT",
            Status::Aborted => "ABORTED",
        }
    }

    pub const ALL: [Status; 5] = [
        Status::Running,
        Status::Succeeded,
        Status::Failed,
        Status::TimedOut,
        Status::Aborted,
    ];

    /// The status named as `as_str` writes it.
    pub fn parse(text: &str) -> Option<Status> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Event {
    pub id: u64,
    pub previous_id: u64,
    pub timestamp_ms: u64,
    /// Step Functions' event type; a static name, so recording it allocates nothing.
    pub kind: std::borrow::Cow<'static, str>,
    pub details: Value,
}

/// What the caller (the scheduler's leader) must do after a command.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Action {
    ScheduleTask {
        token: String,
        activity: String,
        input: Value,
        attempt: u32,
        timeout_at_ms: Option<u64>,
        wait_for_token: bool,
    },
    CancelTask {
        token: String,
    },
    ArmTimer {
        timer: u64,
        fire_at_ms: u64,
    },
    Finished {
        status: Status,
    },
    /// A state's visit ended. Nothing to do for the leader and not stored
    /// with the execution: the store counts it into per-state statistics
    /// (from apply version 23). A visit cut short by the execution's end
    /// (a stop, a timeout, a sibling branch's failure) ends none.
    StateVisited(Visit),
}

/// One visit of a state, from its entry to its exit.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Visit {
    pub name: String,
    pub entered_ms: u64,
    pub exited_ms: u64,
    /// 1 plus the retries the visit took.
    pub attempts: u32,
    pub outcome: VisitOutcome,
}

/// How a visit ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum VisitOutcome {
    /// It left by its Next or End.
    Succeeded,
    /// It failed and a Catch moved on.
    Caught,
    /// It failed its branch, or the execution.
    Failed,
}

impl Visit {
    /// The visit of `active` ending now.
    pub fn of(active: &Active, now_ms: u64, outcome: VisitOutcome) -> Visit {
        let retries = active
            .retries
            .iter()
            .fold(0u32, |sum, r| sum.saturating_add(*r));
        Visit {
            name: active.name.clone(),
            entered_ms: active.entered_ms,
            exited_ms: now_ms,
            attempts: retries.saturating_add(1),
            outcome,
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Command {
    TaskStarted {
        token: String,
        worker: String,
    },
    TaskSucceeded {
        token: String,
        output: Value,
    },
    TaskFailed {
        token: String,
        error: String,
        cause: String,
    },
    TaskHeartbeat {
        token: String,
    },
    /// The worker's poll was withdrawn before the worker received this
    /// attempt: it ends unrun, and a new attempt of the same state is
    /// scheduled at once, with the same attempt number (it does not count
    /// against `MaxAttempts`).
    TaskReturned {
        token: String,
    },
    TimerFired {
        timer: u64,
    },
    Stop {
        error: String,
        cause: String,
    },
    /// Ends the execution as FAILED from outside the definition (for
    /// example when its history outgrows the scheduler's limit).
    Fail {
        error: String,
        cause: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum Rejected {
    #[error("the execution has already finished")]
    Finished,
    #[error("task token `{0}` is unknown or its attempt is no longer open")]
    StaleToken(String),
    #[error("timer {0} is unknown or was already handled")]
    StaleTimer(u64),
}

/// One step of the path from the root machine to a nested one.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScopeStep {
    pub state: String,
    /// The Parallel branch; `None` for a Map's processor.
    pub branch: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Frame {
    pub scope: Vec<ScopeStep>,
    /// The frame waiting on this one, and this frame's slot there.
    pub parent: Option<(u32, usize)>,
    pub active: Option<Active>,
    /// The Map item of this iteration (for `$$.Map.Item`).
    pub map_item: Option<(usize, Value)>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Active {
    pub name: String,
    /// The state's input as it arrived (before InputPath): ResultPath merges into it.
    pub raw_input: Value,
    /// After InputPath (and Parameters, for Task).
    pub effective: Value,
    pub entered_ms: u64,
    /// Attempts used per retrier, by index.
    pub retries: Vec<u32>,
    pub phase: Phase,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Phase {
    Task {
        token: String,
    },
    Backoff {
        timer: u64,
    },
    Wait {
        timer: u64,
    },
    Parallel {
        results: Vec<Option<Value>>,
        children: Vec<u32>,
    },
    Map {
        items: Vec<Value>,
        next: usize,
        results: Vec<Option<Value>>,
        running: BTreeMap<u32, usize>,
        failed: u64,
        limits: MapLimits,
    },
}

/// A Map state's limits, resolved against its input when it starts.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MapLimits {
    /// 0 means unbounded.
    pub max_concurrency: u64,
    pub tolerated_count: Option<u64>,
    pub tolerated_percentage: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TaskRecord {
    pub frame: u32,
    pub attempt: u32,
    pub started: bool,
    pub heartbeat_ms: Option<u64>,
    pub heartbeat_timer: Option<u64>,
    pub timeout_timer: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum TimerPurpose {
    Wait { frame: u32 },
    Backoff { frame: u32 },
    TaskTimeout,
    Heartbeat,
    Execution,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Execution {
    pub id: String,
    pub name: String,
    pub input: Value,
    pub start_ms: u64,
    pub status: Status,
    pub output: Option<Value>,
    pub failure: Option<Failure>,
    /// Events not yet taken by `take_events` (all of them, if nobody takes).
    pub events: Vec<Event>,
    pub last_event_id: u64,
    /// Lease for tasks whose state sets neither TimeoutSeconds nor
    /// HeartbeatSeconds (callback tasks excepted), so no task waits forever.
    pub default_task_timeout_s: Option<u64>,
    pub frames: BTreeMap<u32, Frame>,
    pub next_frame: u32,
    pub next_timer: u64,
    pub next_attempt: u32,
    pub tasks: BTreeMap<String, TaskRecord>,
    pub timers: BTreeMap<u64, (TimerPurpose, Option<String>)>,
    /// The time a schedule started it for (`$$.Schedule.ScheduledTime`);
    /// absent, and left out of the stored runtime, for any other start, so
    /// that runtimes written before schedules existed read and write the
    /// same bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_ms: Option<u64>,
    /// Not stored: chosen by the host before every step.
    #[serde(skip)]
    pub rules: Rules,
}

/// The most events one step (a start, or one command) may write. The engine
/// follows a chain of instant states by calling itself, so a step's stack
/// grows with its events; past this many, the step fails its execution
/// (`States.Runtime`) instead of growing without end (an instant loop that
/// never waits). Equal to the history limit: a step cannot usefully write
/// more. Release 0.1.0 overflowed its 2 MiB apply stack near 1,000 events
/// in one step, so no entry it applied reaches this cut.
pub const MAX_STEP_EVENTS: u64 = MAX_HISTORY_EVENTS;

/// Step Functions' hard limit on one execution's history: an execution
/// that reaches it fails (`States.Runtime`), on the cluster and in
/// `run-local` alike.
pub const MAX_HISTORY_EVENTS: u64 = 25_000;

/// The stack a host must give the engine: `MAX_STEP_EVENTS` events take
/// about 2 KB each (measured: 50,000 events overflow 64 MiB and fit in
/// 128 MiB), so this leaves five times that. Reserved, not committed:
/// memory is used only as deep as a step goes.
pub const ENGINE_STACK_BYTES: usize = 256 << 20;

/// Reads a runtime written by `serde_json::to_vec(&execution)`, however
/// deeply its data nests. The engine may build values deeper than
/// serde_json's default limit (128) from shallow input (a Pass state that
/// wraps `$` once per turn), and what was applied must always read back
/// after a restart. Recursion follows the nesting (bounded by the history
/// limit): call it on the engine's stack.
pub fn read_runtime(bytes: &[u8]) -> Result<Execution, serde_json::Error> {
    use serde::Deserialize;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    de.disable_recursion_limit();
    let exec = Execution::deserialize(&mut de)?;
    de.end()?;
    Ok(exec)
}

/// Step Functions' largest state input or output, serialised.
pub const MAX_DATA_BYTES: usize = 256 * 1024;

/// What the store's apply version changes inside the engine. The default is
/// release 0.1.0's rules; the store sets them from the active version before
/// every step, and `run-local` uses the newest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rules {
    /// A state whose output is larger fails with `States.DataLimitExceeded`
    /// (apply version 3). Without it, a loop that doubles its data each turn
    /// grows until the node runs out of memory.
    pub max_data_bytes: Option<usize>,
    /// `States.StringToJson` keeps numbers as written (apply version 6;
    /// numbers.rs).
    pub exact_numbers: bool,
    /// Attempts are opened with a secret in their token (apply version 8,
    /// once the cluster has a key: task_token.rs).
    pub task_key: Option<crate::task_token::TaskKey>,
    /// An HTTP Task's `Entry` names the time its state was entered even when
    /// the state does not read `$$` (apply version 18). Before, such a
    /// state's entry was `<state>@`, the same for every entry of it.
    pub http_entry_time: bool,
    /// An HTTP Task's input carries the state's `TimeoutSeconds`, so that
    /// the call is cut there instead of at the 60-second cap (apply
    /// version 19).
    pub http_timeout_in_input: bool,
}

impl Rules {
    /// The newest rules without a key (`run-local`: nobody else reports).
    pub const NEWEST: Rules = Rules {
        max_data_bytes: Some(MAX_DATA_BYTES),
        exact_numbers: true,
        task_key: None,
        http_entry_time: true,
        http_timeout_in_input: true,
    };
}

/// How an execution starts, besides its definition and input.
#[derive(Debug, Clone, Copy)]
pub struct Start<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub now_ms: u64,
    pub seed: u64,
    /// The lease of tasks whose state sets no timeout.
    pub default_task_timeout_s: Option<u64>,
    pub rules: Rules,
    /// The scheduled time, for a start a schedule made.
    pub scheduled_ms: Option<u64>,
}

/// The command's environment: its time and its random values.
pub struct Ctx {
    pub now_ms: u64,
    pub rng: Random,
    pub actions: Vec<Action>,
    /// `last_event_id` when this step began (for `MAX_STEP_EVENTS`).
    pub step_start_event: u64,
}

impl Execution {
    pub fn event(&mut self, ctx: &Ctx, kind: &'static str, details: Value) {
        let previous_id = self.last_event_id;
        self.last_event_id += 1;
        self.events.push(Event {
            id: self.last_event_id,
            previous_id,
            timestamp_ms: ctx.now_ms,
            kind: std::borrow::Cow::Borrowed(kind),
            details,
        });
    }

    /// The state a frame is in, named in task events so that a reader (the
    /// console's graph) can tell which state an event belongs to.
    pub(crate) fn active_name(&self, frame: u32) -> String {
        self.frames
            .get(&frame)
            .and_then(|f| f.active.as_ref())
            .map_or_else(String::new, |a| a.name.clone())
    }

    /// Hands over the events recorded since the last call, so that a caller
    /// that stores history elsewhere need not keep it in the execution.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    pub fn arm(
        &mut self,
        ctx: &mut Ctx,
        fire_at_ms: u64,
        purpose: TimerPurpose,
        token: Option<String>,
    ) -> u64 {
        self.next_timer += 1;
        let timer = self.next_timer;
        self.timers.insert(timer, (purpose, token));
        ctx.actions.push(Action::ArmTimer { timer, fire_at_ms });
        timer
    }

    /// Open task tokens, for the scheduler's queues and for StopExecution.
    pub fn open_tasks(&self) -> impl Iterator<Item = &String> {
        self.tasks.keys()
    }
}
