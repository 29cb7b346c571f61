//! A span for each gRPC call, the child of the caller's `traceparent`;
//! begun and ended by the layer that measures each call (metrics.rs).
//!
//! The handlers find the call's trace in the request's extensions
//! (`CallTrace`): a start keeps it with the execution. With telemetry off
//! no span is made, but the caller's trace is still passed on, so workers
//! still run in the caller's trace.

use opentelemetry::trace::SpanKind;
use opentelemetry::KeyValue;
use raftflow_core::trace_parent::TraceParent;

use super::{SpanRecord, Telemetry};

/// The trace a call runs in: the caller's, or this call's span in it.
#[derive(Debug, Clone, Copy)]
pub struct CallTrace(pub TraceParent);

impl CallTrace {
    /// What a call's handler passes on, if the call is in a trace.
    pub fn of<T>(request: &tonic::Request<T>) -> Option<TraceParent> {
        request.extensions().get::<CallTrace>().map(|t| t.0)
    }
}

/// A call's span while the call runs.
pub struct CallSpan {
    parent: TraceParent,
    root: bool,
    span_id: [u8; 8],
    name: String,
    start_ms: u64,
}

/// Reads the caller's trace, puts the call's into the request, and begins
/// the call's span when telemetry is on.
pub fn begin<B>(telemetry: &Telemetry, request: &mut http::Request<B>) -> Option<CallSpan> {
    let incoming = request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| TraceParent::parse(t).ok());
    if !telemetry.enabled() {
        if let Some(trace) = incoming {
            request.extensions_mut().insert(CallTrace(trace));
        }
        return None;
    }
    let span_id: [u8; 8] = nonzero(rand::random());
    let (parent, root) = match incoming {
        Some(trace) => (trace, false),
        None => {
            let trace_id: [u8; 16] = nonzero(rand::random());
            let flags = u8::from(telemetry.samples_new(&trace_id));
            let trace = TraceParent {
                trace_id,
                parent_id: span_id,
                flags,
            };
            (trace, true)
        }
    };
    request
        .extensions_mut()
        .insert(CallTrace(parent.child(span_id)));
    Some(CallSpan {
        parent,
        root,
        span_id,
        name: request.uri().path().trim_start_matches('/').to_string(),
        start_ms: now_ms(),
    })
}

impl CallSpan {
    /// Exports the span with the call's gRPC code (`OK`, `NotFound`, …).
    pub fn end(self, telemetry: &Telemetry, code: &str, node: u64) {
        let (service, method) = self.name.rsplit_once('/').unwrap_or((&self.name, ""));
        let attributes = vec![
            KeyValue::new("rpc.system", "grpc"),
            KeyValue::new("rpc.service", service.to_string()),
            KeyValue::new("rpc.method", method.to_string()),
            KeyValue::new("rpc.grpc.status_code", code.to_string()),
            KeyValue::new("raftflow.node_id", node as i64),
        ];
        let error = (!matches!(code, "OK" | "Ok")).then(|| code.to_string());
        telemetry.export(SpanRecord {
            trace: self.parent,
            root: self.root,
            span_id: self.span_id,
            name: self.name,
            kind: SpanKind::Server,
            start_ms: self.start_ms,
            end_ms: now_ms(),
            attributes,
            events: Vec::new(),
            error,
        });
    }
}

fn nonzero<const N: usize>(mut id: [u8; N]) -> [u8; N] {
    if id == [0; N] {
        id[0] = 1;
    }
    id
}

fn now_ms() -> u64 {
    crate::clock::now_us() / 1000
}
