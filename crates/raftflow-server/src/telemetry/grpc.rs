//! A span for each gRPC call, the child of the caller's `traceparent`.
//!
//! The handlers find the call's trace in the request's extensions
//! (`CallTrace`): a start keeps it with the execution. With telemetry off
//! no span is made, but the caller's trace is still passed on, so workers
//! still run in the caller's trace.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

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

#[derive(Clone)]
pub struct TraceLayer(pub Arc<Telemetry>, pub u64);

impl<S> tower::Layer<S> for TraceLayer {
    type Service = TraceService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TraceService {
            inner,
            telemetry: self.0.clone(),
            node: self.1,
        }
    }
}

#[derive(Clone)]
pub struct TraceService<S> {
    inner: S,
    telemetry: Arc<Telemetry>,
    node: u64,
}

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S, B, R> tower::Service<http::Request<B>> for TraceService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let incoming = request
            .headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(|t| TraceParent::parse(t).ok());
        if !self.telemetry.enabled() {
            if let Some(trace) = incoming {
                request.extensions_mut().insert(CallTrace(trace));
            }
            return Box::pin(self.inner.call(request));
        }
        let span_id: [u8; 8] = nonzero(rand::random());
        let (parent, root) = match incoming {
            Some(trace) => (trace, false),
            None => {
                let trace_id: [u8; 16] = nonzero(rand::random());
                let flags = u8::from(self.telemetry.samples_new(&trace_id));
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
        let name = request.uri().path().trim_start_matches('/').to_string();
        let start_ms = now_ms();
        let call = self.inner.call(request);
        let telemetry = self.telemetry.clone();
        let node = self.node;
        Box::pin(async move {
            let result = call.await;
            let code = crate::metrics::grpc_outcome(&result);
            let (service, method) = name.rsplit_once('/').unwrap_or((&name, ""));
            let attributes = vec![
                KeyValue::new("rpc.system", "grpc"),
                KeyValue::new("rpc.service", service.to_string()),
                KeyValue::new("rpc.method", method.to_string()),
                KeyValue::new("rpc.grpc.status_code", code.clone()),
                KeyValue::new("raftflow.node_id", node as i64),
            ];
            let error = (!matches!(code.as_str(), "OK" | "Ok")).then(|| code.clone());
            telemetry.export(SpanRecord {
                trace: parent,
                root,
                span_id,
                name,
                kind: SpanKind::Server,
                start_ms,
                end_ms: now_ms(),
                attributes,
                events: Vec::new(),
                error,
            });
            result
        })
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
