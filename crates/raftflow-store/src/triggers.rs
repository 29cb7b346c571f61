//! Triggers: when an execution of one state machine ends (succeeded,
//! failed, timed out, aborted), start an execution of another with the
//! event as its input — workflow B starts when A succeeds.
//!
//! ```text
//!  apply that ends A ──▶ triggers watching A's state machine ──▶ start B (name derived from A)
//! ```
//! The start happens inside the apply that ends A, through the same
//! internal start path as a schedule's fire (`Workflows::start`), so it
//! happens exactly once, on every replica at the same entry, with no outbox
//! and no delivery. Applied from apply version 15 (`TRIGGERS_FROM`).
//! The apply is in workflow/triggers.rs.

use serde::{Deserialize, Serialize};

use crate::codec::decode;
use crate::db::{Db, CF_SM};
use crate::error::StoreError;
use crate::schedules::Outcome;
use crate::workflow::records::ExecutionRecord;

/// The apply version from which triggers are applied.
pub const TRIGGERS_FROM: u32 = 15;
/// A trigger's name, at most (its executions are named `NAME-<A's name>`).
pub const MAX_TRIGGER_NAME_CHARS: usize = 48;
/// Triggers in the cluster, at most.
pub const MAX_TRIGGERS: usize = 10_000;
/// Starts by triggers in one log entry, at most: a cycle of triggers over
/// executions that end at once (a Pass) stops here, recorded as a failed start.
pub const MAX_STARTS_PER_ENTRY: usize = 64;
/// The largest event given as input (Step Functions' input limit); past
/// it the source's input, then its output, are left out.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;
/// Actions kept per trigger for `describe`, newest last.
pub const MAX_RECENT: usize = 10;

pub(crate) const TRIGGER_PREFIX: &[u8] = b"\0trigger/";

/// How an execution ended, as a trigger matches it. Variants are only
/// appended: bincode stores their position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum When {
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
}

impl When {
    pub fn of(status: raftflow_core::Status) -> Option<Self> {
        use raftflow_core::Status;
        match status {
            Status::Succeeded => Some(When::Succeeded),
            Status::Failed => Some(When::Failed),
            Status::TimedOut => Some(When::TimedOut),
            Status::Aborted => Some(When::Aborted),
            _ => None,
        }
    }

    /// As Step Functions writes the status: `SUCCEEDED`, `TIMED_OUT`, …
    pub fn as_str(self) -> &'static str {
        match self {
            When::Succeeded => "SUCCEEDED",
            When::Failed => "FAILED",
            When::TimedOut => "TIMED_OUT",
            When::Aborted => "ABORTED",
        }
    }
}

/// What a trigger does. Variants are only appended (a webhook comes with
/// subscriptions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Target {
    /// Start an execution of `state_machine` (0: its latest version).
    StartExecution { state_machine: String, version: u32 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerDef {
    pub name: String,
    /// The state machine whose executions' ends it watches.
    pub source: String,
    /// The ends it acts on: one to four, ascending, each once.
    pub on: Vec<When>,
    pub target: Target,
    pub description: String,
    pub enabled: bool,
}

/// One end a trigger acted on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fired {
    pub at_ms: u64,
    pub source_execution: String,
    pub when: When,
    /// `Started`, `AlreadyStarted` or `StartFailed`.
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trigger {
    pub def: TriggerDef,
    pub revision: u64,
    pub created_ms: u64,
    pub updated_ms: u64,
    /// The default task timeout of the executions it starts (the node's
    /// setting when the trigger was saved).
    pub lease_s: u64,
    pub recent: Vec<Fired>,
    pub started: u64,
    pub failed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Stored {
    V1(Trigger),
}

pub(crate) fn key(name: &str) -> Vec<u8> {
    let mut key = TRIGGER_PREFIX.to_vec();
    key.extend_from_slice(name.as_bytes());
    key
}

pub(crate) fn decode_stored(bytes: &[u8]) -> Result<Trigger, StoreError> {
    match decode::<Stored>(bytes)? {
        Stored::V1(trigger) => Ok(trigger),
    }
}

/// One trigger as applied here.
pub fn read(db: &Db, name: &str) -> Result<Option<Trigger>, StoreError> {
    db.get(CF_SM, &key(name))?
        .map(|b| decode_stored(&b))
        .transpose()
}

/// Up to `limit` triggers by name, from after `after` (paging).
pub fn list(db: &Db, after: &str, limit: usize) -> Result<Vec<Trigger>, StoreError> {
    crate::db::page_by_prefix(db, TRIGGER_PREFIX, after, limit, decode_stored)
}

/// The execution a trigger starts for the end of `source` (an execution
/// name): `TRIGGER-SOURCE`, or when that passes 80 characters, the
/// source's name cut and a hash of it, so that it stays unique.
pub fn execution_name(trigger: &str, source: &str) -> String {
    let whole = format!("{trigger}-{source}");
    if whole.len() <= 80 {
        return whole;
    }
    let hash = fnv1a(source.as_bytes());
    let room = 80 - trigger.len() - 1 - 17;
    let cut: String = source.chars().take(room).collect();
    format!("{trigger}-{cut}-{hash:016x}")
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The input of the execution a trigger starts: the event Step Functions
/// sends to EventBridge ("Step Functions Execution Status Change"), with
/// the source's input and output as JSON text when the event stays within
/// `MAX_EVENT_BYTES` (`inputDetails.included` says whether they are).
pub fn event(record: &ExecutionRecord, when: When, at_ms: u64) -> String {
    let wrap = |detail: &serde_json::Value| {
        serde_json::json!({
            "version": "0",
            "detail-type": "Step Functions Execution Status Change",
            "source": "raftflow",
            "time": crate::schedules::rfc3339_time(at_ms),
            "detail": detail,
        })
        .to_string()
    };
    fit(detail(record, when.as_str()), wrap)
}

/// The `detail` of a status-change event: the execution as its record
/// holds it, under `status`.
pub fn detail(record: &ExecutionRecord, status: &str) -> serde_json::Value {
    serde_json::json!({
        "executionArn": record.id,
        "stateMachineArn": record.state_machine,
        "name": record.name,
        "status": status,
        "startDate": record.start_ms,
        "stopDate": record.stop_ms,
        "error": record.error,
        "cause": record.cause,
        "input": record.input,
        "inputDetails": {"included": true},
        "output": record.output,
        "outputDetails": {"included": true},
    })
}

/// `wrap(detail)`, with the input and then the output left out while it
/// is larger than `MAX_EVENT_BYTES`.
pub fn fit(mut detail: serde_json::Value, wrap: impl Fn(&serde_json::Value) -> String) -> String {
    for field in ["input", "output"] {
        let text = wrap(&detail);
        if text.len() <= MAX_EVENT_BYTES {
            return text;
        }
        detail[field] = serde_json::Value::Null;
        detail[format!("{field}Details")]["included"] = false.into();
    }
    wrap(&detail)
}

#[cfg(test)]
#[path = "triggers_tests.rs"]
mod tests;
