//! `StartExecution`: checks at the door, the start (with the first task for
//! a waiting poll in the same entry), and the idempotent repeat.
//!
//! A start is idempotent as in Step Functions: the same name and the same
//! input give back the same execution (`created = false`). Apply compares
//! the input's text, and that comparison cannot change without a new apply
//! version (replicas replaying old entries must agree); so when apply
//! refuses a start as "another input", the door reads the stored input and,
//! if it is the same JSON value written differently (keys in another order,
//! other spacing), answers with the existing execution. Only that rare
//! refusal costs a read; a new start costs none.

use std::time::Duration;

use raftflow_core::trace_parent::TraceParent;
use raftflow_proto::v1::{StartExecutionReply, StartExecutionRequest};
use raftflow_store::workflow::reads;
use raftflow_store::workflow::traces::TRACES_FROM;
use raftflow_store::{Command, CommandResult};
use serde_json::Value;

use crate::error::ApiError;
use crate::limits;
use crate::node::NodeContext;
use crate::scheduler::Dispatched;

/// What the door accepted.
struct Start {
    state_machine: String,
    version: u32,
    name: String,
    input: String,
}

/// Starts `req`; `trace` is the call's trace context (telemetry/grpc.rs),
/// kept with a new execution once the cluster keeps traces (version 22).
pub async fn run(
    ctx: &NodeContext,
    req: StartExecutionRequest,
    trace: Option<TraceParent>,
) -> Result<StartExecutionReply, ApiError> {
    let start = checked(ctx, req)?;
    let id = format!("{}:{}", start.state_machine, start.name);
    if let Err(refused) = ctx.disk.admit_growth(ctx.id) {
        // A repeat of a start that was applied grows nothing: answer it.
        return same_input_as_stored(ctx, id, &start.input)
            .await?
            .ok_or(refused);
    }
    // Kept to compare with the stored input, should apply refuse the start.
    let input = start.input.clone();
    let now = ctx.stamp_ms();
    let mut commands = vec![start_command(ctx, start, now, trace)];
    // An idle worker is waiting: hand it the execution's first task in
    // the start's own entry (parked.rs).
    let reserved = ctx.scheduler.reserve_parked();
    if let Some((epoch, poller)) = &reserved {
        commands.push(crate::poll_id::dispatch_next(
            (*epoch, &poller.worker, now),
            &poller.activities,
            poller.poll_id.as_deref(),
        ));
    }
    let applied = ctx.proposer.propose_together(commands).await?;
    let mut results = applied.results.into_iter();
    let started = results.next();
    if let (Some((epoch, mut poller)), Some(CommandResult::Dispatched { task })) =
        (reserved, results.next())
    {
        if ctx.countdowns.hold_start_hand_out() {
            let _ = tokio::time::timeout(Duration::from_secs(10), poller.left()).await;
        }
        let ready_at_us = ctx.scheduler.ready_at_us(&task, now, applied.applied_at_us);
        let token = task.token.clone();
        let poll_id = poller.poll_id.clone();
        let dispatched = Dispatched {
            task,
            epoch,
            ready_at_us,
        };
        if !poller.deliver(dispatched) {
            give_back(ctx, &token, poll_id).await;
        }
    }
    match reply(started) {
        Err(ApiError::AlreadyExists(message)) => same_input_as_stored(ctx, id, &input)
            .await?
            .ok_or(ApiError::AlreadyExists(message)),
        other => other,
    }
}

/// The start, traced when it has a trace and the cluster keeps them.
fn start_command(
    ctx: &NodeContext,
    start: Start,
    now_ms: u64,
    trace: Option<TraceParent>,
) -> Command {
    let seed = rand::random();
    let default_task_timeout_s = ctx.config.scheduler.task_lease_s;
    let traces_kept = ctx.reader.active_apply_version() >= TRACES_FROM;
    match trace.filter(|_| traces_kept) {
        Some(trace) => Command::StartExecutionTraced {
            state_machine: start.state_machine,
            version: start.version,
            name: start.name,
            input: start.input,
            now_ms,
            seed,
            default_task_timeout_s,
            trace_parent: trace.to_string(),
        },
        None => Command::StartExecution {
            state_machine: start.state_machine,
            version: start.version,
            name: start.name,
            input: start.input,
            now_ms,
            seed,
            default_task_timeout_s,
        },
    }
}

/// The poll the start's first task went to ended before it arrived (its
/// client left, say during a leader pause): a poll with an id gives the
/// attempt back at once (`WithdrawPoll`), rather than leave it to its
/// lease; one without waits for its lease. Found by the chaos smoke
/// without task timeouts (an execution started as a paused leader resumed
/// stayed RUNNING).
async fn give_back(ctx: &NodeContext, token: &str, poll_id: Option<String>) {
    let shown = raftflow_core::task_token::redact(token);
    let Some(poll_id) = poll_id else {
        tracing::warn!(
            "the poll for {shown} ended before its task arrived; the attempt waits for its lease"
        );
        return;
    };
    let command = Command::WithdrawPoll {
        poll_id,
        now_ms: ctx.stamp_ms(),
        seed: rand::random(),
    };
    match ctx.proposer.propose(command).await {
        Ok(_) => tracing::info!("the poll for {shown} ended before its task arrived; the attempt is ready again"),
        Err(e) => tracing::warn!("the poll for {shown} ended before its task arrived, and giving it back failed ({e}): it waits for its lease"),
    }
}

/// The request's fields, bounded, with the defaults filled in.
fn checked(ctx: &NodeContext, req: StartExecutionRequest) -> Result<Start, ApiError> {
    let (state_machine, version) = match req.state_machine.rsplit_once(':') {
        Some((name, v)) => (
            name.to_string(),
            v.parse::<u32>()
                .map_err(|_| ApiError::InvalidArgument(format!("`{v}` is not a version number")))?,
        ),
        None => (req.state_machine.clone(), 0),
    };
    limits::name("the state machine name", &state_machine)?;
    let name = if req.name.is_empty() {
        uuid_name()
    } else {
        req.name
    };
    limits::name("the execution name", &name)?;
    let input = if req.input.trim().is_empty() {
        "{}".to_string()
    } else {
        req.input
    };
    limits::json("input", &input, ctx.config.scheduler.max_payload_bytes)?;
    Ok(Start {
        state_machine,
        version,
        name,
        input,
    })
}

/// The existing execution `id`, when its stored input is the same JSON
/// value as `input` (apply compared the text and found it different).
async fn same_input_as_stored(
    ctx: &NodeContext,
    id: String,
    input: &str,
) -> Result<Option<StartExecutionReply>, ApiError> {
    let reader = ctx.reader.clone();
    let lookup = id.clone();
    let existing = tokio::task::spawn_blocking(move || reads::execution(reader.db(), &lookup))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(existing
        .filter(|e| same_json(&e.input, input))
        .map(|e| StartExecutionReply {
            execution_id: id,
            start_ms: e.start_ms,
            created: false,
        }))
}

/// Whether two JSON texts hold the same value: objects compare as maps
/// (key order aside), numbers by value as a 64-bit integer or a double
/// (`1.50` and `1.5` are the same; `1` and `1.0` differ, as they do for a
/// state that reads them).
fn same_json(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<Value>(a),
        serde_json::from_str::<Value>(b),
    ) {
        (Ok(a), Ok(b)) => raftflow_core::numbers::same_value(&a, &b),
        _ => false,
    }
}

fn reply(started: Option<CommandResult>) -> Result<StartExecutionReply, ApiError> {
    match started.ok_or_else(|| ApiError::Internal("no result for the start".into()))? {
        CommandResult::Rejected { code, message } => Err(ApiError::rejected(code, message)),
        CommandResult::ExecutionStarted {
            execution_id,
            start_ms,
            created,
        } => {
            tracing::Span::current().record("execution", execution_id.as_str());
            tracing::debug!(created, "execution started");
            Ok(StartExecutionReply {
                execution_id,
                start_ms,
                created,
            })
        }
        other => Err(ApiError::Internal(format!("unexpected result {other:?}"))),
    }
}

/// A random version-4 UUID, drawn with the engine's generator (the same one
/// the client uses for the names it chooses).
fn uuid_name() -> String {
    raftflow_core::eval::Random::new(rand::random()).uuid()
}

#[cfg(test)]
mod tests {
    use super::same_json;

    #[test]
    fn the_same_value_written_differently_is_the_same_input() {
        assert!(same_json(
            r#"{"a":1,"b":[1,2]}"#,
            "{ \"b\": [1, 2],\n \"a\": 1 }"
        ));
        assert!(!same_json(r#"{"a":1}"#, r#"{"a":1.0}"#));
        assert!(!same_json(r#"{"a":[1,2]}"#, r#"{"a":[2,1]}"#));
        assert!(!same_json(r#"{"a":1}"#, r#"{"a":1,"b":null}"#));
        assert!(!same_json("{", "{"));
    }
}
