//! Store records as the API's messages: one place for each conversion.

use raftflow_proto::v1::{ExecutionInfo, HistoryEvent};
use raftflow_store::records::{EventRecord, ExecutionRecord};

pub fn execution_info(r: ExecutionRecord) -> ExecutionInfo {
    ExecutionInfo {
        execution_id: r.id,
        name: r.name,
        state_machine: r.state_machine,
        version: r.version,
        status: r.status.as_str().to_string(),
        input: r.input,
        output: r.output.unwrap_or_default(),
        error: r.error.unwrap_or_default(),
        cause: r.cause.unwrap_or_default(),
        start_ms: r.start_ms,
        stop_ms: r.stop_ms.unwrap_or(0),
    }
}

pub fn history_event(e: EventRecord) -> HistoryEvent {
    HistoryEvent {
        id: e.id,
        previous_event_id: e.previous_id,
        timestamp_ms: e.timestamp_ms,
        r#type: e.kind,
        details: e.details,
    }
}
