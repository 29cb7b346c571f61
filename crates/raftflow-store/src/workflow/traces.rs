//! The trace an execution belongs to (apply version 22 on).
//!
//! ```text
//!  z/<execution>   traceparent (text)   the call that started it, until purged
//! ```
//! Kept in the replicated state, not on the node that took the start, so that
//! whichever node leads hands the execution's tasks out in the caller's trace
//! and its spans name the same parent on every node (the server's telemetry
//! says which spans those are).

use raftflow_core::trace_parent::TraceParent;

use super::apply::{reject, NewExecution};
use super::Workflows;
use crate::command::{Command, CommandResult, Reject};
use crate::db::{Db, CF_SM};
use crate::error::StoreError;

/// The first apply version that keeps traces.
pub const TRACES_FROM: u32 = 22;

pub fn trace_key(execution_id: &str) -> Vec<u8> {
    format!("z/{execution_id}").into_bytes()
}

/// The trace of `execution_id`, if it was started by a traced call.
pub fn read(db: &Db, execution_id: &str) -> Result<Option<TraceParent>, StoreError> {
    let Some(bytes) = db.raw().get_cf(db.cf(CF_SM), trace_key(execution_id))? else {
        return Ok(None);
    };
    let text: String = crate::codec::decode(&bytes)?;
    Ok(TraceParent::parse(&text).ok())
}

impl Workflows {
    pub(super) fn keeps_traces(&self) -> bool {
        self.apply_version >= TRACES_FROM
    }

    /// A start that names its trace: the start itself is `StartExecution`'s;
    /// a new execution keeps the trace, a repeated start leaves the first
    /// one's trace as it was.
    pub(super) fn apply_traced_start(
        &mut self,
        db: &Db,
        command: &Command,
    ) -> Result<CommandResult, StoreError> {
        let Command::StartExecutionTraced {
            state_machine,
            version,
            name,
            input,
            now_ms,
            seed,
            default_task_timeout_s,
            trace_parent,
        } = command
        else {
            unreachable!("only traced starts come here");
        };
        if !self.keeps_traces() {
            return Ok(reject(
                Reject::FailedPrecondition,
                format!(
                    "traced starts need apply version {TRACES_FROM} (the cluster is at {})",
                    self.apply_version
                ),
            ));
        }
        let trace = match TraceParent::parse(trace_parent) {
            Ok(trace) => trace,
            Err(e) => return Ok(reject(Reject::InvalidArgument, e.to_string())),
        };
        let start = NewExecution {
            state_machine,
            version: *version,
            name,
            input,
            now_ms: *now_ms,
            seed: *seed,
            lease_s: *default_task_timeout_s,
            scheduled_ms: None,
        };
        let result = self.start(db, &start)?;
        if let CommandResult::ExecutionStarted {
            execution_id,
            created: true,
            ..
        } = &result
        {
            self.put(trace_key(execution_id), &trace.to_string())?;
        }
        Ok(result)
    }
}
