//! The trace a task is handed out in, and the hand-out's span.

use opentelemetry::trace::SpanKind;
use opentelemetry::KeyValue;
use raftflow_store::records::TaskEntry;
use raftflow_store::workflow::traces;

use super::ids::{hand_out_span, ExecutionTrace};
use super::SpanRecord;
use crate::node::NodeContext;

/// The `traceparent` for `task`, handed out now: a child of the hand-out's
/// span (exported here: from ready to handed out) under the execution's
/// span. With telemetry off, the caller's own trace, passed on unchanged;
/// empty when the execution has none.
pub fn hand_out(ctx: &NodeContext, task: &TaskEntry) -> String {
    let stored = match traces::read(ctx.reader.db(), &task.execution_id) {
        Ok(stored) => stored,
        Err(e) => {
            tracing::debug!("the trace of {} is unreadable: {e}", task.execution_id);
            None
        }
    };
    let telemetry = &ctx.telemetry;
    if !telemetry.enabled() {
        return stored.map(|t| t.to_string()).unwrap_or_default();
    }
    let at = ExecutionTrace::of(&task.execution_id, stored, |t| telemetry.samples_new(t));
    let under = at.under_execution(&task.execution_id);
    let span_id = hand_out_span(&task.token);
    let dispatch = task.dispatched.as_ref();
    let worker = dispatch.map(|d| d.worker.clone()).unwrap_or_default();
    telemetry.export(SpanRecord {
        trace: under,
        root: false,
        span_id,
        name: format!("hand out {}", task.activity),
        kind: SpanKind::Producer,
        start_ms: task.scheduled_ms,
        end_ms: dispatch.map_or(task.scheduled_ms, |d| d.at_ms),
        attributes: vec![
            KeyValue::new("raftflow.execution_id", task.execution_id.clone()),
            KeyValue::new("raftflow.activity", task.activity.clone()),
            KeyValue::new("raftflow.attempt", i64::from(task.attempt)),
            KeyValue::new("raftflow.worker", worker),
        ],
        events: Vec::new(),
        error: None,
    });
    under.child(span_id).to_string()
}
