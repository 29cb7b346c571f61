//! What a log entry carries: a versioned envelope around a batch of commands.
//!
//! bincode encodes an enum variant by its position, so variants are only ever
//! appended, never reordered or removed: entries written today must decode
//! after the command set grows. `Envelope::V1` is the format version.

use serde::{Deserialize, Serialize};

/// One log entry's application payload: commands gathered by the leader's
/// proposer into a single entry, so that one fsync commits many of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Envelope {
    V1(Vec<Command>),
}

impl Envelope {
    pub fn commands(&self) -> &[Command] {
        match self {
            Envelope::V1(commands) => commands,
        }
    }
}

/// What openraft logs of an entry: the batch's size, never its contents
/// (inputs and tokens stay out of the logs).
impl std::fmt::Display for Envelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Envelope::V1(commands) => write!(f, "V1({} commands)", commands.len()),
        }
    }
}

/// Time (`now_ms`) and random values (`seed`) are chosen by the leader that
/// proposes a command, so that every replica computes the same state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// A diagnostic write: stores `value` under `key` in the probe table.
    Probe {
        key: String,
        value: Vec<u8>,
    },
    /// The leader that proposes it starts a new epoch: the fencing token of
    /// every task it hands out.
    BeginEpoch {
        leader: u64,
        now_ms: u64,
    },
    CreateStateMachine {
        name: String,
        definition: String,
        description: String,
        now_ms: u64,
    },
    DeleteStateMachine {
        name: String,
        force: bool,
        now_ms: u64,
    },
    StartExecution {
        state_machine: String,
        version: u32,
        name: String,
        input: String,
        now_ms: u64,
        seed: u64,
        default_task_timeout_s: u64,
    },
    /// Recorded before the worker receives the task.
    TaskDispatched {
        token: String,
        epoch: u64,
        worker: String,
        now_ms: u64,
    },
    TaskCompleted {
        token: String,
        epoch: Option<u64>,
        output: String,
        now_ms: u64,
        seed: u64,
    },
    TaskFailed {
        token: String,
        epoch: Option<u64>,
        error: String,
        cause: String,
        now_ms: u64,
        seed: u64,
    },
    TaskHeartbeat {
        token: String,
        epoch: Option<u64>,
        now_ms: u64,
    },
    TimerFired {
        execution_id: String,
        timer: u64,
        now_ms: u64,
        seed: u64,
    },
    StopExecution {
        execution_id: String,
        error: String,
        cause: String,
        now_ms: u64,
    },
    /// Removes up to `limit` executions that finished before `before_ms`.
    PurgeFinished {
        before_ms: u64,
        limit: u32,
    },
    /// Hands the oldest ready task of `activities` to `worker`, recorded like
    /// `TaskDispatched`. Proposed in the same entry right after a worker's
    /// report, so the worker gets its next task with the report's reply: one
    /// commit instead of two, and the dispatch is still in the log before
    /// the worker sees it. A start may carry one too, for a worker whose poll
    /// is waiting. With `after_report`, it hands out nothing when the command
    /// before it in the entry (a report or a start) was refused.
    DispatchNext {
        epoch: u64,
        worker: String,
        activities: Vec<String>,
        now_ms: u64,
        after_report: bool,
    },
    /// Raises the active apply version (version.rs). Proposed only after
    /// every member reported that its binary supports `version`.
    SetApplyVersion {
        version: u32,
    },
    /// `TaskDispatched` for the poll `poll_id` (chosen by the worker; apply
    /// version 5 on): the hand-out records the poll id, and a poll id that
    /// already holds an open attempt gets that attempt back instead of
    /// `token` (workflow/polls.rs).
    TaskDispatchedForPoll {
        token: String,
        epoch: u64,
        worker: String,
        now_ms: u64,
        poll_id: String,
    },
    /// `DispatchNext` for the poll `poll_id` (apply version 5 on), as
    /// `TaskDispatchedForPoll`. After a refused report it still gives back
    /// the attempt the poll id holds: a retried report whose first try was
    /// applied is refused as stale, and its next task is the one the first
    /// try took.
    DispatchNextForPoll {
        epoch: u64,
        worker: String,
        activities: Vec<String>,
        now_ms: u64,
        after_report: bool,
        poll_id: String,
    },
    /// The worker withdrew the poll `poll_id` (apply version 5 on): the
    /// attempt it holds, if any, ends unrun and its state schedules a new
    /// one at once, not counted against `MaxAttempts`; a poll id that holds
    /// none is marked withdrawn, so that a hand-out to it still in flight
    /// is refused (workflow/polls.rs).
    WithdrawPoll {
        poll_id: String,
        now_ms: u64,
        seed: u64,
    },
    /// Turns the ACL system on with its first admin token, once per cluster
    /// (apply version 7 on; acl/). `session_key` signs console sessions.
    AclBootstrap {
        token: crate::acl::TokenSpec,
        session_key: Vec<u8>,
        now_ms: u64,
    },
    /// A new API token (apply version 7 on): only its secret's hash.
    TokenCreated {
        token: crate::acl::TokenSpec,
        now_ms: u64,
    },
    /// Ends a token: every node refuses it once this is applied there.
    TokenRevoked {
        accessor: String,
        now_ms: u64,
    },
    /// Replaces a token's secret; the old one is refused from here on.
    TokenRotated {
        accessor: String,
        secret_hash: Vec<u8>,
        now_ms: u64,
    },
    /// Raises or clears `node`'s alarm (apply version 10 on; alarms.rs).
    /// Proposed by the leader from what each node reports of itself.
    SetAlarm {
        node: u64,
        kind: crate::alarms::AlarmKind,
        raised: bool,
        detail: String,
        now_ms: u64,
    },
    /// A scheduled backup was taken and stored (apply version 11 on;
    /// backup_record.rs). Proposed by the leader that took it.
    BackupRecorded {
        record: crate::backup_record::BackupRecord,
        now_ms: u64,
    },
    /// Names the cluster, once (apply version 12 on; cluster_id.rs): a
    /// random id chosen by the leader that proposes it.
    SetClusterId {
        id: String,
    },
    /// `PutScheduleV2` in the first layout of a definition, as written by
    /// `b64a172`..`7e235d2` (schedules_v1.rs); read, never proposed.
    PutSchedule {
        def: crate::schedules_v1::ScheduleDefV1,
        create: bool,
        now_ms: u64,
    },
    DeleteSchedule {
        name: String,
        now_ms: u64,
    },
    /// Pauses or unpauses with a note; times passed while paused are not
    /// made up for.
    PauseSchedule {
        name: String,
        paused: bool,
        note: String,
        now_ms: u64,
    },
    /// Fires `name` for `scheduled_ms`, planned by the leader from the
    /// schedule at `revision`; or, with no revision, a trigger: fires now,
    /// paused or not, and leaves the cursor where it is.
    FireSchedule {
        name: String,
        scheduled_ms: u64,
        revision: Option<u64>,
        now_ms: u64,
        seed: u64,
        default_task_timeout_s: u64,
    },
    /// Skips every scheduled time up to `through_ms`: missed, and older
    /// than the schedule's catch-up window.
    SkipMissed {
        name: String,
        revision: u64,
        through_ms: u64,
        now_ms: u64,
    },
    /// Creates (`create`) or replaces a schedule's definition (apply
    /// version 13 on; schedules.rs). An update takes effect from the next
    /// scheduled time after it. The layout of version 13 (one spec),
    /// proposed while the cluster is at 13.
    PutScheduleV2 {
        def: crate::schedules_v1::ScheduleDefV2,
        create: bool,
        now_ms: u64,
    },
    /// `PutScheduleV2` with several specs, excluded dates and jitter
    /// (apply version 14 on).
    PutScheduleV3 {
        def: crate::schedules::ScheduleDef,
        create: bool,
        now_ms: u64,
    },
    /// Decides the scheduled times `times` of `from_ms..=to_ms` (both
    /// included, at or before the cursor), as the leader read them from the
    /// schedule at `revision`: each time not yet decided starts under
    /// `overlap`; then the whole range is decided (apply version 14 on).
    /// A backfill is a run of these, ≤ `MAX_BACKFILL_BATCH` times each.
    BackfillSchedule {
        name: String,
        revision: u64,
        from_ms: u64,
        to_ms: u64,
        times: Vec<u64>,
        overlap: crate::schedules::Overlap,
        now_ms: u64,
        seed: u64,
        default_task_timeout_s: u64,
    },
    /// Creates (`create`) or replaces a trigger (apply version 15 on;
    /// triggers.rs); `lease_s` is the default task timeout of what it starts.
    PutTrigger {
        def: crate::triggers::TriggerDef,
        create: bool,
        lease_s: u64,
        now_ms: u64,
    },
    DeleteTrigger {
        name: String,
        now_ms: u64,
    },
    /// Creates (`create`) or replaces a connection (apply version 17 on;
    /// connections.rs): its secret comes sealed, and is stored as it is.
    /// An update with `expect_revision` other than 0 applies only at it.
    PutConnection {
        def: crate::connections::ConnectionDef,
        create: bool,
        expect_revision: u64,
        now_ms: u64,
    },
    DeleteConnection {
        name: String,
        now_ms: u64,
    },
    /// Creates (`create`) or replaces a subscription (apply version 20 on;
    /// subscriptions.rs): its signing secret comes sealed. An update with
    /// `expect_revision` other than 0 applies only at it.
    PutSubscription {
        def: crate::subscriptions::SubscriptionDef,
        create: bool,
        expect_revision: u64,
        now_ms: u64,
    },
    /// Deletes a subscription with its pending events and dead letters.
    DeleteSubscription {
        name: String,
        now_ms: u64,
    },
    /// What one delivery round did: events the receiver took (gone from the
    /// outbox) and events it did not (tried again later, or dead letters).
    EventsDelivered {
        subscription: String,
        delivered: Vec<u64>,
        failed: Vec<(u64, String)>,
        now_ms: u64,
    },
    /// Puts dead letters back into the outbox, fresh.
    RedriveEvents {
        subscription: String,
        seqs: Vec<u64>,
        now_ms: u64,
    },
    /// `StartExecution` with the W3C `traceparent` of the call that started
    /// it (apply version 22 on; workflow/traces.rs): kept with the execution
    /// so that every leader hands its tasks out in the caller's trace.
    StartExecutionTraced {
        state_machine: String,
        version: u32,
        name: String,
        input: String,
        now_ms: u64,
        seed: u64,
        default_task_timeout_s: u64,
        trace_parent: String,
    },
}

impl Command {
    /// The time its proposer stamped on it, for commands that carry one.
    pub fn now_ms(&self) -> Option<u64> {
        match self {
            Command::BeginEpoch { now_ms, .. }
            | Command::CreateStateMachine { now_ms, .. }
            | Command::DeleteStateMachine { now_ms, .. }
            | Command::StartExecution { now_ms, .. }
            | Command::StartExecutionTraced { now_ms, .. }
            | Command::TaskDispatched { now_ms, .. }
            | Command::TaskCompleted { now_ms, .. }
            | Command::TaskFailed { now_ms, .. }
            | Command::TaskHeartbeat { now_ms, .. }
            | Command::TimerFired { now_ms, .. }
            | Command::StopExecution { now_ms, .. }
            | Command::DispatchNext { now_ms, .. }
            | Command::TaskDispatchedForPoll { now_ms, .. }
            | Command::DispatchNextForPoll { now_ms, .. }
            | Command::WithdrawPoll { now_ms, .. }
            | Command::AclBootstrap { now_ms, .. }
            | Command::TokenCreated { now_ms, .. }
            | Command::TokenRevoked { now_ms, .. }
            | Command::TokenRotated { now_ms, .. }
            | Command::SetAlarm { now_ms, .. }
            | Command::BackupRecorded { now_ms, .. }
            | Command::PutSchedule { now_ms, .. }
            | Command::PutScheduleV2 { now_ms, .. }
            | Command::PutScheduleV3 { now_ms, .. }
            | Command::BackfillSchedule { now_ms, .. }
            | Command::PutTrigger { now_ms, .. }
            | Command::DeleteTrigger { now_ms, .. }
            | Command::PutConnection { now_ms, .. }
            | Command::DeleteConnection { now_ms, .. }
            | Command::PutSubscription { now_ms, .. }
            | Command::DeleteSubscription { now_ms, .. }
            | Command::EventsDelivered { now_ms, .. }
            | Command::RedriveEvents { now_ms, .. }
            | Command::DeleteSchedule { now_ms, .. }
            | Command::PauseSchedule { now_ms, .. }
            | Command::FireSchedule { now_ms, .. }
            | Command::SkipMissed { now_ms, .. } => Some(*now_ms),
            Command::Probe { .. }
            | Command::PurgeFinished { .. }
            | Command::SetApplyVersion { .. }
            | Command::SetClusterId { .. } => None,
        }
    }
}

/// One result per command of the envelope, in the same order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EnvelopeResult {
    pub results: Vec<CommandResult>,
    /// When this node applied the entry (µs since the Unix epoch, its own
    /// clock): the instant a task it made ready became ready, for dispatch
    /// latency. Not state: only the proposing leader sees results.
    #[serde(default)]
    pub applied_at_us: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CommandResult {
    Probe {
        log_index: u64,
    },
    Epoch {
        epoch: u64,
    },
    StateMachineCreated {
        version: u32,
        created: bool,
    },
    Deleted,
    ExecutionStarted {
        execution_id: String,
        start_ms: u64,
        created: bool,
    },
    Accepted,
    Purged {
        count: u32,
    },
    /// The command was valid to propose but the state refused it; nothing changed.
    Rejected {
        code: Reject,
        message: String,
    },
    /// `DispatchNext` handed out this task (its `dispatched` is set).
    Dispatched {
        task: crate::workflow::records::TaskEntry,
    },
    /// `DispatchNext` found no ready task (or the report before it was refused).
    NothingReady,
    /// The apply version now active; `log_index` is the entry that raised
    /// it (0 when it was already active).
    ApplyVersion {
        version: u32,
        log_index: u64,
    },
    /// A schedule was created (`created`) or updated, or an identical
    /// create repeated (`created = false`, nothing changed).
    ScheduleSaved {
        revision: u64,
        created: bool,
    },
    /// What a fire or a skip did.
    ScheduleActed(crate::schedules::Action),
    /// What one `BackfillSchedule` entry did with its times.
    ScheduleBackfilled(crate::schedules::Backfilled),
    /// A trigger was created (`created`) or updated, or an identical
    /// create repeated (`created = false`, nothing changed).
    TriggerSaved {
        revision: u64,
        created: bool,
    },
    /// A connection was created (`created`) or updated, or an identical
    /// create repeated (`created = false`, nothing changed).
    ConnectionSaved {
        revision: u64,
        created: bool,
    },
    /// A subscription was created (`created`) or updated, or an identical
    /// create repeated (`created = false`, nothing changed).
    SubscriptionSaved {
        revision: u64,
        created: bool,
    },
    /// How many dead letters went back into the outbox.
    Redriven {
        count: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reject {
    NotFound,
    AlreadyExists,
    InvalidArgument,
    FailedPrecondition,
    /// Unknown task token, an attempt no longer open, or an older epoch.
    StaleToken,
    /// Applying the command panicked (a defect); it changed nothing.
    Internal,
}
