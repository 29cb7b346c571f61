//! An execution's spans, exported by the leader once the execution ends:
//! the execution, a span per state visit (attempts as span events), all
//! built from the replicated history with derived ids (ids.rs).
//!
//! Only the node that drives hears of the end (the driver passes the
//! effects on), so one node exports each execution; a leader that dies
//! between the end and the export loses those spans (telemetry, not state).

use std::collections::{BTreeMap, VecDeque};

use opentelemetry::trace::SpanKind;
use opentelemetry::KeyValue;
use raftflow_core::trace_parent::TraceParent;
use raftflow_store::records::{EventRecord, ExecutionRecord};
use raftflow_store::workflow::{reads, traces, Effect};
use raftflow_store::StoreError;
use serde_json::Value;
use tokio::sync::mpsc;

use super::ids::{state_span, ExecutionTrace};
use super::{SpanRecord, Telemetry};
use crate::node::NodeContext;

/// Ended executions waiting for their spans; past it, ends are not traced.
pub const QUEUE_EXECUTIONS: usize = 10_000;
/// The most history events read for one execution's spans.
pub const MAX_TRACED_EVENTS: usize = 5_000;

impl Telemetry {
    /// Queues the executions an apply ended (the driver's effects).
    pub fn absorb(&self, effects: &[Effect]) {
        let Some(finished) = &self.finished else {
            return;
        };
        for effect in effects {
            if let Effect::ExecutionFinished { execution_id } = effect {
                let _ = finished.try_send(execution_id.clone());
            }
        }
    }
}

/// Exports each ended execution's spans, for the life of the node.
pub async fn run(ctx: NodeContext, mut finished: mpsc::Receiver<String>) {
    while let Some(id) = finished.recv().await {
        let reader = ctx.reader.clone();
        let telemetry = ctx.telemetry.clone();
        let done = tokio::task::spawn_blocking(move || export(reader.db(), &telemetry, &id)).await;
        if let Ok(Err(e)) = done {
            tracing::debug!("execution spans not exported: {e}");
        }
    }
}

fn export(db: &raftflow_store::Db, telemetry: &Telemetry, id: &str) -> Result<(), StoreError> {
    let Some(record) = reads::execution(db, id)? else {
        return Ok(()); // purged meanwhile
    };
    let stored = traces::read(db, id)?;
    let at = ExecutionTrace::of(id, stored, |t| telemetry.samples_new(t));
    if !at.trace.sampled() {
        return Ok(());
    }
    let history = reads::history(db, id, None, MAX_TRACED_EVENTS, false)?;
    let end_ms = record.stop_ms.unwrap_or(record.start_ms);
    for span in state_spans(id, &history.items, at.under_execution(id), end_ms) {
        telemetry.export(span);
    }
    telemetry.export(execution_span(&record, &at, history.next.is_some()));
    Ok(())
}

fn execution_span(record: &ExecutionRecord, at: &ExecutionTrace, truncated: bool) -> SpanRecord {
    let mut attributes = vec![
        KeyValue::new("raftflow.execution_id", record.id.clone()),
        KeyValue::new("raftflow.state_machine", record.state_machine.clone()),
        KeyValue::new("raftflow.version", i64::from(record.version)),
        KeyValue::new("raftflow.status", record.status.as_str()),
    ];
    if truncated {
        attributes.push(KeyValue::new("raftflow.states_truncated", true));
    }
    let error = record.error.as_ref().map(|e| match &record.cause {
        Some(cause) if !cause.is_empty() => format!("{e}: {cause}"),
        _ => e.clone(),
    });
    SpanRecord {
        trace: at.trace,
        root: at.root,
        span_id: super::ids::execution_span(&record.id),
        name: format!("execution {}", record.state_machine),
        kind: SpanKind::Internal,
        start_ms: record.start_ms,
        end_ms: record.stop_ms.unwrap_or(record.start_ms),
        attributes,
        events: Vec::new(),
        error,
    }
}

/// A span per state visit: from its `…StateEntered` to the `…StateExited`
/// of the same name (in order, so a state entered again, by a loop or in
/// Map iterations, pairs first with first), or to `end_ms` when the
/// execution ended inside it. Task attempts are the span's events.
pub fn state_spans(
    id: &str,
    events: &[EventRecord],
    under: TraceParent,
    end_ms: u64,
) -> Vec<SpanRecord> {
    let mut open: BTreeMap<String, VecDeque<SpanRecord>> = BTreeMap::new();
    let mut spans = Vec::new();
    for event in events {
        let details: Value = serde_json::from_str(&event.details).unwrap_or(Value::Null);
        let name = details["name"].as_str().unwrap_or_default().to_string();
        if let Some(kind) = event.kind.strip_suffix("StateEntered") {
            open.entry(name.clone()).or_default().push_back(SpanRecord {
                trace: under,
                root: false,
                span_id: state_span(id, event.id),
                name: format!("state {name}"),
                kind: SpanKind::Internal,
                start_ms: event.timestamp_ms,
                end_ms,
                attributes: vec![
                    KeyValue::new("raftflow.state", name.clone()),
                    KeyValue::new("raftflow.state_type", kind.to_string()),
                ],
                events: Vec::new(),
                error: None,
            });
        } else if event.kind.ends_with("StateExited") {
            if let Some(mut span) = open.get_mut(&name).and_then(VecDeque::pop_front) {
                span.end_ms = event.timestamp_ms;
                span.error = None; // a caught failure exits the state
                spans.push(span);
            }
        } else if event.kind.starts_with("Activity") {
            if let Some(span) = open.get_mut(&name).and_then(|q| q.front_mut()) {
                attempt_event(span, event, &details);
            }
        }
    }
    spans.extend(open.into_values().flatten());
    spans
}

/// An attempt's step on its state's span; the last failure is the span's
/// error until the state exits.
fn attempt_event(span: &mut SpanRecord, event: &EventRecord, details: &Value) {
    let mut attributes = Vec::new();
    for key in ["workerName", "error", "cause"] {
        if let Some(text) = details[key].as_str() {
            attributes.push(KeyValue::new(format!("raftflow.{key}"), text.to_string()));
        }
    }
    if matches!(event.kind.as_str(), "ActivityFailed" | "ActivityTimedOut") {
        span.error = details["error"].as_str().map(str::to_string);
    }
    span.events
        .push((event.kind.clone(), event.timestamp_ms, attributes));
}
