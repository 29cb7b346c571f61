//! With `--collector-port`, the harness is the nodes' OpenTelemetry
//! collector: it receives their spans over OTLP/gRPC through the faults, and
//! checks that executions, hand-outs and calls were traced, and how many
//! hand-outs found their execution's span (a leader killed between an
//! execution's end and its export loses that execution's spans).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};

/// What arrived: span ids by kind of span, and each hand-out's parent.
#[derive(Clone, Default)]
pub struct Spans(Arc<Mutex<Received>>);

#[derive(Default)]
struct Received {
    /// `execution`, `state`, `hand`, or the gRPC method's name.
    counts: BTreeMap<String, u64>,
    executions: BTreeSet<Vec<u8>>,
    hand_out_parents: Vec<Vec<u8>>,
}

#[tonic::async_trait]
impl TraceService for Spans {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut got = self.0.lock().expect("spans lock");
        let spans = request
            .into_inner()
            .resource_spans
            .into_iter()
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans);
        for span in spans {
            let kind = span.name.split(' ').next().unwrap_or_default().to_string();
            match kind.as_str() {
                "execution" => {
                    got.executions.insert(span.span_id.clone());
                }
                "hand" => got.hand_out_parents.push(span.parent_span_id.clone()),
                _ => {}
            }
            *got.counts.entry(kind).or_default() += 1;
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Spans {
    /// Listens on `port` (0: any) of every interface: nodes in network
    /// namespaces reach the harness on its bridge address.
    pub async fn start(port: u16) -> anyhow::Result<(Spans, u16)> {
        let listener = tokio::net::TcpListener::bind(("0.0.0.0", port)).await?;
        let port = listener.local_addr()?.port();
        let spans = Spans::default();
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        let server = tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(spans.clone()))
            .serve_with_incoming(incoming);
        tokio::spawn(server);
        Ok((spans, port))
    }

    /// `check`, once it passes or `wait` has passed: the nodes send a batch
    /// every `export_interval_ms`.
    pub async fn checked_within(&self, wait: std::time::Duration) -> Result<String, Vec<String>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let checked = self.check();
            if checked.is_ok() || tokio::time::Instant::now() > deadline {
                return checked;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Executions, states, hand-outs and calls must all have been traced.
    pub fn check(&self) -> Result<String, Vec<String>> {
        let got = self.0.lock().expect("spans lock");
        let count = |kind: &str| got.counts.get(kind).copied().unwrap_or(0);
        let calls: u64 = got
            .counts
            .iter()
            .filter(|(k, _)| k.starts_with("raftflow.v1."))
            .map(|(_, n)| n)
            .sum();
        let (executions, states, hand_outs) = (count("execution"), count("state"), count("hand"));
        let found = got
            .hand_out_parents
            .iter()
            .filter(|p| got.executions.contains(*p))
            .count();
        let summary = format!(
            "traces: {executions} execution spans, {states} state spans, {hand_outs} hand-outs ({found} under an execution span that arrived), {calls} gRPC call spans"
        );
        let kinds = [
            ("execution", executions),
            ("state", states),
            ("hand-out", hand_outs),
            ("gRPC call", calls),
        ];
        let missing: Vec<&str> = kinds
            .into_iter()
            .filter(|(_, n)| *n == 0)
            .map(|(what, _)| what)
            .collect();
        if missing.is_empty() {
            return Ok(summary);
        }
        Err(vec![format!(
            "no {} span reached the collector ({summary})",
            missing.join(", no ")
        )])
    }
}
