//! OpenTelemetry: a caller's W3C trace runs through the start, the
//! execution's spans, the task's hand-out, the worker and its report, all
//! exported over OTLP to a collector in this process.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::Span;
use raftflow_core::trace_parent::TraceParent;

use crate::harness::TestCluster;

const WAIT: Duration = Duration::from_secs(30);
const CHARGE: &str = r#"{"StartAt": "Charge", "States": {
    "Charge": {"Type": "Task", "Resource": "activity:charge", "Next": "Done"},
    "Done": {"Type": "Pass", "End": true}}}"#;
/// The caller's trace and span.
const CALLER: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// What the collector received: spans, and each one's `service.name`.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<(String, Span)>>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.0.lock().unwrap();
        for resource in request.into_inner().resource_spans {
            let service = resource
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref())
                .map(|v| format!("{:?}", v.value))
                .unwrap_or_default();
            for scope in resource.scope_spans {
                spans.extend(scope.spans.into_iter().map(|s| (service.clone(), s)));
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Collector {
    async fn start() -> (Collector, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let collector = Collector::default();
        let service = TraceServiceServer::new(collector.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        (collector, format!("http://{addr}"))
    }

    /// The span named `name` in trace `trace_id`, once it has arrived.
    async fn span(&self, trace_id: &[u8], name: &str) -> Span {
        self.first(|s| s.trace_id == trace_id && s.name == name, name)
            .await
    }

    /// The first span `wanted` picks, once it has arrived.
    async fn first(&self, wanted: impl Fn(&Span) -> bool, what: &str) -> Span {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let found = self
                .0
                .lock()
                .unwrap()
                .iter()
                .find_map(|(_, s)| wanted(s).then(|| s.clone()));
            if let Some(span) = found {
                return span;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no span `{what}` arrived; got {:?}",
                self.names()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn names(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(_, s)| s.name.clone())
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_callers_trace_runs_through_the_execution_the_hand_out_and_the_worker() {
    let (collector, endpoint) = Collector::start().await;
    let cluster = TestCluster::start(3, |c| {
        c.telemetry.otlp_endpoint = endpoint.clone();
        c.telemetry.export_interval_ms = 20;
    })
    .await;
    cluster.client_with("orders", CHARGE).await;
    let caller = TraceParent::parse(CALLER).unwrap();
    let traced = cluster.client().with_trace_parent(CALLER).unwrap();
    let started = traced
        .start_execution("orders", Some("o1"), "{}")
        .await
        .unwrap();

    // The worker is handed the task in the caller's trace, under a span of
    // raftflow's, and reports in it.
    let worker = cluster.client();
    let task = worker
        .poll_task(&["charge".to_string()], "w1", 10_000)
        .await
        .unwrap()
        .expect("a task");
    let handed = TraceParent::parse(&task.trace_parent).expect("the task carries a traceparent");
    assert_eq!(handed.trace_id, caller.trace_id);
    assert_ne!(handed.parent_id, caller.parent_id);
    raftflow_client::trace::in_trace(
        task.trace_parent.clone(),
        worker.complete_task(&task.token, "{}"),
    )
    .await
    .unwrap();
    worker.wait_for_end(&started.execution_id).await.unwrap();

    let trace = caller.trace_id.to_vec();
    // The execution hangs under the call that started it: the client may
    // have called a follower first (told where the leader is), a call of
    // its own in the same trace.
    let execution = collector.span(&trace, "execution orders").await;
    let start = collector
        .first(
            |s| s.span_id == execution.parent_span_id,
            "the start's call",
        )
        .await;
    assert_eq!(start.name, "raftflow.v1.WorkflowService/StartExecution");
    assert_eq!(start.trace_id, trace);
    assert_eq!(
        start.parent_span_id, caller.parent_id,
        "the call is the caller's child"
    );
    let charge = collector.span(&trace, "state Charge").await;
    assert_eq!(charge.parent_span_id, execution.span_id);
    let steps: Vec<&str> = charge.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        steps,
        ["ActivityScheduled", "ActivityStarted", "ActivitySucceeded"]
    );
    assert!(charge.end_time_unix_nano >= charge.start_time_unix_nano);
    let done = collector.span(&trace, "state Done").await;
    assert_eq!(done.parent_span_id, execution.span_id);
    let hand_out = collector.span(&trace, "hand out charge").await;
    assert_eq!(
        hand_out.span_id, handed.parent_id,
        "the worker's parent is the hand-out"
    );
    assert_eq!(hand_out.parent_span_id, execution.span_id);
    let report = collector
        .span(&trace, "raftflow.v1.WorkerService/CompleteTask")
        .await;
    assert_eq!(
        report.parent_span_id, handed.parent_id,
        "the report is in the worker's trace"
    );
    let services = collector
        .0
        .lock()
        .unwrap()
        .iter()
        .all(|(s, _)| s.contains("raftflow"));
    assert!(services, "every span names the service");
    cluster.shutdown().await;
}

/// A call without a `traceparent` starts a trace of its own: the start's
/// call span is its root, and the execution hangs under it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_start_without_a_trace_is_the_root_of_a_new_one() {
    let (collector, endpoint) = Collector::start().await;
    let cluster = TestCluster::start(1, |c| {
        c.telemetry.otlp_endpoint = endpoint.clone();
        c.telemetry.export_interval_ms = 20;
    })
    .await;
    let pass = r#"{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}"#;
    let client = cluster.client_with("plain", pass).await;
    let started = client
        .start_execution("plain", Some("p1"), "{}")
        .await
        .unwrap();
    client.wait_for_end(&started.execution_id).await.unwrap();
    let execution = collector
        .first(|s| s.name == "execution plain", "execution plain")
        .await;
    let start = collector
        .span(
            &execution.trace_id,
            "raftflow.v1.WorkflowService/StartExecution",
        )
        .await;
    assert!(
        start.parent_span_id.is_empty(),
        "the call is a root: {start:?}"
    );
    assert_eq!(execution.parent_span_id, start.span_id);
    let state = collector.span(&execution.trace_id, "state P").await;
    assert_eq!(state.parent_span_id, execution.span_id);
    cluster.shutdown().await;
}
