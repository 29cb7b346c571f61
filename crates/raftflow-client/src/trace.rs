//! W3C trace context on calls: the `traceparent` metadata.
//!
//! A client may carry one for all its calls (`Client::with_trace_parent`,
//! the CLI's `TRACEPARENT`), and code may run in one (`in_trace`): the
//! worker runs each task in the trace it was handed out in, so the task's
//! reports, and any call its handler makes, join the execution's trace.

use std::future::Future;

use raftflow_core::trace_parent::TraceParent;

use crate::ClientError;

tokio::task_local! {
    static TRACE_PARENT: String;
}

/// Runs `work` with `trace_parent` sent on every call it makes (none when
/// empty).
pub async fn in_trace<F: Future>(trace_parent: String, work: F) -> F::Output {
    if trace_parent.is_empty() {
        return work.await;
    }
    TRACE_PARENT.scope(trace_parent, work).await
}

/// The trace the running code is in, if any.
pub fn current() -> Option<String> {
    TRACE_PARENT.try_with(|t| t.clone()).ok()
}

/// Checks a `traceparent` before it is sent.
pub fn checked(trace_parent: &str) -> Result<String, ClientError> {
    TraceParent::parse(trace_parent.trim())
        .map(|t| t.to_string())
        .map_err(|e| ClientError::Trace(e.to_string()))
}
