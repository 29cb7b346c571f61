//! OpenTelemetry spans, exported over OTLP/gRPC when `[telemetry]` names a
//! collector (off by default).
//!
//! ```text
//!  caller ──traceparent──▶ gRPC call span (grpc.rs) ──▶ StartExecutionTraced keeps it (z/<execution>)
//!                                                        │
//!  leader: execution span ─┬─ state spans                │ (executions.rs, when the execution ends)
//!                          └─ hand-out span ──traceparent──▶ worker ──traceparent──▶ report call span
//! ```
//! Spans of an execution are built from the replicated history with ids
//! derived from the execution (ids.rs), not drawn at random: any leader
//! names the same span, so a worker's span handed out by one leader is a
//! child of the execution span another leader exports. Spans are built as
//! `SpanData` and given to the SDK's batch processor directly: the SDK's
//! tracer draws every id itself.

mod config;
pub mod executions;
pub mod grpc;
pub mod hand_outs;
pub mod ids;

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::{WithExportConfig, WithTonicConfig};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SpanData, SpanProcessor};
use opentelemetry_sdk::Resource;
use raftflow_core::trace_parent::TraceParent;

pub use config::{TelemetryConfig, MAX_QUEUE_SPANS};

/// One finished span, in raftflow's terms.
pub struct SpanRecord {
    /// The trace, and the parent span (`parent_id`) within it.
    pub trace: TraceParent,
    /// No parent: the root of its trace.
    pub root: bool,
    pub span_id: [u8; 8],
    pub name: String,
    pub kind: SpanKind,
    pub start_ms: u64,
    pub end_ms: u64,
    pub attributes: Vec<KeyValue>,
    /// What happened during it: name, time, attributes.
    pub events: Vec<(String, u64, Vec<KeyValue>)>,
    /// The error that ended it, if it failed.
    pub error: Option<String>,
}

/// This node's exporter, or nothing.
pub struct Telemetry {
    inner: Option<Inner>,
    /// Ended executions, for their spans (executions.rs).
    finished: Option<tokio::sync::mpsc::Sender<String>>,
}

struct Inner {
    processor: BatchSpanProcessor,
    scope: InstrumentationScope,
    sample_percent: u32,
}

#[derive(Debug, thiserror::Error)]
#[error("telemetry: {0}")]
pub struct TelemetryError(String);

impl Telemetry {
    pub fn off() -> Telemetry {
        Telemetry {
            inner: None,
            finished: None,
        }
    }

    /// The exporter for `config`, and where the executions it must trace
    /// arrive (for `executions::run`); must run inside the Tokio runtime,
    /// which drives the gRPC channel the batch thread sends through.
    pub fn start(
        config: &TelemetryConfig,
        node: u64,
    ) -> Result<(Telemetry, Option<tokio::sync::mpsc::Receiver<String>>), TelemetryError> {
        if !config.enabled() {
            return Ok((Telemetry::off(), None));
        }
        let mut builder = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(config.otlp_endpoint.clone())
            .with_timeout(Duration::from_secs(10));
        if config.otlp_endpoint.starts_with("https") {
            let mut tls = tonic::transport::ClientTlsConfig::new().with_webpki_roots();
            if let Some(path) = &config.ca_file {
                let pem = std::fs::read(path)
                    .map_err(|e| TelemetryError(format!("ca_file {}: {e}", path.display())))?;
                tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
            }
            builder = builder.with_tls_config(tls);
        }
        let exporter = builder.build().map_err(|e| TelemetryError(e.to_string()))?;
        let batch = BatchConfigBuilder::default()
            .with_scheduled_delay(Duration::from_millis(config.export_interval_ms))
            .with_max_queue_size(config.max_queue_spans)
            .build();
        let mut processor = BatchSpanProcessor::new(exporter, batch);
        let resource = Resource::builder_empty()
            .with_attributes([
                KeyValue::new("service.name", config.service_name.clone()),
                KeyValue::new("service.instance.id", node.to_string()),
                KeyValue::new("raftflow.node_id", node as i64),
            ])
            .build();
        processor.set_resource(&resource);
        let scope = InstrumentationScope::builder("raftflow")
            .with_version(env!("CARGO_PKG_VERSION"))
            .build();
        let (finished, receiver) = tokio::sync::mpsc::channel(executions::QUEUE_EXECUTIONS);
        let telemetry = Telemetry {
            inner: Some(Inner {
                processor,
                scope,
                sample_percent: config.sample_percent,
            }),
            finished: Some(finished),
        };
        Ok((telemetry, Some(receiver)))
    }

    pub fn enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Whether a trace that starts here is recorded: decided by its id, so
    /// every node decides the same for an execution's derived trace.
    pub fn samples_new(&self, trace_id: &[u8; 16]) -> bool {
        let Some(inner) = &self.inner else {
            return false;
        };
        let low = u64::from_be_bytes(trace_id[8..16].try_into().expect("8 bytes"));
        (low % 100) < u64::from(inner.sample_percent)
    }

    /// Hands a finished span to the batch; unsampled traces are dropped.
    pub fn export(&self, span: SpanRecord) {
        let Some(inner) = &self.inner else {
            return;
        };
        if !span.trace.sampled() {
            return;
        }
        inner.processor.on_end(span_data(span, inner.scope.clone()));
    }

    /// Sends what is queued and stops the batch thread (blocks).
    pub fn shutdown(&self) {
        if let Some(inner) = &self.inner {
            if let Err(e) = inner.processor.shutdown() {
                tracing::debug!("telemetry shutdown: {e}");
            }
        }
    }
}

fn span_data(span: SpanRecord, scope: InstrumentationScope) -> SpanData {
    let flags = TraceFlags::new(span.trace.flags);
    let context = SpanContext::new(
        TraceId::from_bytes(span.trace.trace_id),
        SpanId::from_bytes(span.span_id),
        flags,
        false,
        TraceState::default(),
    );
    let parent = if span.root {
        SpanId::INVALID
    } else {
        SpanId::from_bytes(span.trace.parent_id)
    };
    let status = match span.error {
        Some(message) => Status::error(message),
        None => Status::Ok,
    };
    SpanData {
        span_context: context,
        parent_span_id: parent,
        parent_span_is_remote: false,
        span_kind: span.kind,
        name: Cow::Owned(span.name),
        start_time: at_ms(span.start_ms),
        end_time: at_ms(span.end_ms.max(span.start_ms)),
        attributes: span.attributes,
        dropped_attributes_count: 0,
        events: span_events(span.events),
        links: Default::default(),
        status,
        instrumentation_scope: scope,
    }
}

pub(crate) fn at_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn span_events(events: Vec<(String, u64, Vec<KeyValue>)>) -> opentelemetry_sdk::trace::SpanEvents {
    let mut out = opentelemetry_sdk::trace::SpanEvents::default();
    out.events = events
        .into_iter()
        .map(|(name, at, attributes)| {
            opentelemetry::trace::Event::new(name, at_ms(at), attributes, 0)
        })
        .collect();
    out
}
