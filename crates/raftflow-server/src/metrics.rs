//! Counters and latency histograms kept by this node (not replicated), and
//! the tower layer that counts every gRPC request by method and status.
//!
//! ```text
//!  gRPC request ─> GrpcMetricsLayer ─> service ─> response (grpc-status) ─┐
//!  PollTask answered ─> dispatch latency (task ready → handed out)         ├─> Metrics ─> /metrics
//!  Complete/FailTask ─> task duration (handed out → reported)              │
//!  raft metrics watch ─> leader changes                                   ─┘
//! ```

use crate::exposition::{labels, Page};
use crate::raft_service::WatchReceiver as _;
use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

/// Upper bounds of the histogram buckets, in seconds.
const BUCKETS_S: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
    300.0,
];

/// A Prometheus histogram with fixed buckets; lock-free to observe.
#[derive(Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS_S.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    pub fn observe_s(&self, seconds: f64) {
        let seconds = seconds.max(0.0);
        if let Some(i) = BUCKETS_S.iter().position(|b| seconds <= *b) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    /// The counts as they stand, for the page (exposition.rs): per bucket,
    /// the observations past the last bound in `+Inf`.
    pub fn values(&self) -> crate::exposition::HistogramValues {
        let count = self.count.load(Ordering::Relaxed);
        let mut buckets: Vec<(f64, u64)> = BUCKETS_S
            .iter()
            .zip(&self.counts)
            .map(|(bound, n)| (*bound, n.load(Ordering::Relaxed)))
            .collect();
        let counted: u64 = buckets.iter().map(|(_, n)| n).sum();
        buckets.push((f64::INFINITY, count.saturating_sub(counted)));
        crate::exposition::HistogramValues {
            sum: self.sum_us.load(Ordering::Relaxed) as f64 / 1e6,
            count,
            buckets,
        }
    }
}

#[derive(Default)]
pub struct Metrics {
    pub dispatch_latency: Histogram,
    pub task_duration: Histogram,
    pub leader_changes: AtomicU64,
    /// Hand-outs whose reply was lost that a retry got back (poll ids).
    pub hand_outs_recovered: AtomicU64,
    /// Scheduled backups that failed on this node (backup_schedule.rs).
    pub backup_failures: AtomicU64,
    /// (method, grpc status code) → request latency.
    pub grpc: Mutex<BTreeMap<(String, String), Arc<Histogram>>>,
    /// Fires this node proposed as leader (schedules/runner.rs).
    pub schedules: ScheduleMetrics,
    /// HTTP Task calls this node made as leader (http_tasks.rs).
    pub http: crate::http_task_metrics::HttpMetrics,
    /// Subscription events this node delivered as leader (subscriptions/).
    pub events: crate::subscriptions::deliver_metrics::EventMetrics,
}

/// What the schedule fires this node proposed came to.
#[derive(Default)]
pub struct ScheduleMetrics {
    pub started: AtomicU64,
    pub skipped_overlap: AtomicU64,
    pub skipped_missed: AtomicU64,
    pub start_failed: AtomicU64,
    pub buffered: AtomicU64,
    /// Past times a backfill through this node started.
    pub backfilled: AtomicU64,
    /// From the scheduled time to the apply that started the execution.
    pub lag: Histogram,
}

impl Metrics {
    fn grpc_histogram(&self, method: &str, code: &str) -> Arc<Histogram> {
        let mut grpc = self.grpc.lock().expect("grpc metrics lock");
        let mut key = (method.to_string(), code.to_string());
        // The method comes from the request's path, which any client
        // chooses: past the bound, new ones share one series.
        if !grpc.contains_key(&key) && grpc.len() >= crate::limits::MAX_GRPC_SERIES {
            key.0 = "other".into();
        }
        grpc.entry(key).or_default().clone()
    }
}

/// Counts requests of the client API by method and status code, and gives
/// each its span (telemetry/grpc.rs): the one place a call is measured.
#[derive(Clone)]
pub struct GrpcMetricsLayer(
    pub Arc<Metrics>,
    pub u64,
    pub Arc<crate::telemetry::Telemetry>,
);

impl<S> tower::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetricsService {
            inner,
            metrics: self.0.clone(),
            node: self.1,
            telemetry: self.2.clone(),
        }
    }
}

#[derive(Clone)]
pub struct GrpcMetricsService<S> {
    inner: S,
    metrics: Arc<Metrics>,
    node: u64,
    telemetry: Arc<crate::telemetry::Telemetry>,
}

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S, B, R> tower::Service<http::Request<B>> for GrpcMetricsService<S>
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
        let call_span = crate::telemetry::grpc::begin(&self.telemetry, &mut request);
        // `/raftflow.v1.WorkflowService/StartExecution` → `WorkflowService/StartExecution`.
        let path = request.uri().path();
        let method = path
            .rsplit('/')
            .take(2)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("/");
        let method = method
            .rsplit_once('.')
            .map_or(method.clone(), |(_, m)| m.to_string());
        let started = Instant::now();
        let metrics = self.metrics.clone();
        let (telemetry, node) = (self.telemetry.clone(), self.node);
        // Every log line of a request carries the node and the method; the
        // handlers record the execution they act on.
        let span = tracing::info_span!(
            "request",
            node = self.node,
            method = %method,
            execution = tracing::field::Empty
        );
        let call = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        use tracing::Instrument;
        Box::pin(
            async move {
                let result = call.await;
                let code = grpc_outcome(&result);
                if let Some(call_span) = call_span {
                    call_span.end(&telemetry, &code, node);
                }
                metrics
                    .grpc_histogram(&method, &code)
                    .observe_s(started.elapsed().as_secs_f64());
                result
            }
            .instrument(span),
        )
    }
}

/// A call's gRPC code as text. An error returned by a handler travels in
/// the headers (trailers-only); a success sets grpc-status in the trailers.
pub(crate) fn grpc_outcome<R, E>(result: &Result<http::Response<R>, E>) -> String {
    match result {
        Ok(response) => response
            .headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i32>().ok())
            .map_or("OK".to_string(), |c| format!("{:?}", tonic::Code::from(c))),
        Err(_) => "Transport".to_string(),
    }
}

/// Counts leader changes as this node sees them.
pub async fn watch_leader(raft: crate::raft_service::Raft, metrics: Arc<Metrics>) {
    let mut watch = raft.metrics();
    let mut leader = watch.borrow_watched().current_leader;
    while watch.changed().await.is_ok() {
        let now = watch.borrow_watched().current_leader;
        if now != leader && now.is_some() {
            metrics.leader_changes.fetch_add(1, Ordering::Relaxed);
        }
        leader = now;
    }
}

/// The index a majority of voters has stored, as the leader knows it; the
/// applied index on other nodes.
fn committed_index(ctx: &crate::node::NodeContext) -> u64 {
    let raft = ctx.raft.metrics().borrow_watched().clone();
    let applied = raft.last_applied.map_or(0, |l| l.index);
    let Some(replication) = raft.replication.as_ref() else {
        return applied;
    };
    let voters: Vec<u64> = raft.membership_config.membership().voter_ids().collect();
    let mut stored: Vec<u64> = voters
        .iter()
        .map(|id| match *id == ctx.id {
            true => raft.last_log_index.unwrap_or(0),
            false => replication
                .get(id)
                .copied()
                .flatten()
                .map_or(0, |l| l.index),
        })
        .collect();
    stored.sort_unstable_by(|a, b| b.cmp(a));
    stored
        .get(voters.len() / 2)
        .copied()
        .unwrap_or(applied)
        .max(applied)
}

/// The families this module owns, on the `/metrics` page.
pub fn render(ctx: &crate::node::NodeContext, page: &mut Page) {
    let m = &ctx.metrics;
    page.gauge(
        "raftflow_raft_committed_index",
        "On the leader: the highest index a majority has stored. Elsewhere: the applied index (a lower bound).",
        committed_index(ctx) as i64,
    );
    page.counter(
        "raftflow_leader_changes_total",
        "Times this node saw a new leader.",
        m.leader_changes.load(Ordering::Relaxed),
    );
    page.counter("raftflow_clock_skew_refusals_total", "Votes and pre-votes this node refused because the candidate's clock differed from its own by more than raft.max_clock_offset_ms.", ctx.contact.skewed_candidates_refused.load(Ordering::Relaxed));
    page.gauges_f64(
        "raftflow_clock_offset_seconds",
        "How far each peer's clock is ahead of this node's (negative: behind), measured on Raft traffic in the last 10 s.",
        ctx.peer_clocks
            .fresh()
            .into_iter()
            .map(|(peer, offset_ms)| (labels(&[("peer", &peer.to_string())]), offset_ms as f64 / 1000.0)),
    );
    page.counter("raftflow_clock_stamps_clamped_total", "Time stamps this leader held to the time elapsed since its takeover because its clock stepped (logged once per step).", ctx.log_clock.clamped.load(Ordering::Relaxed));
    page.counter("raftflow_hand_outs_recovered_total", "Tasks whose hand-out reply was lost and that a retried poll or report got back (leader only).", m.hand_outs_recovered.load(Ordering::Relaxed));
    page.gauge(
        "raftflow_timers_pending",
        "Timers armed in the leader's queue (leader only).",
        ctx.scheduler.timers_pending() as i64,
    );
    page.gauge(
        "raftflow_polls_waiting",
        "Worker polls waiting for a task (leader only).",
        ctx.scheduler.polls_waiting() as i64,
    );
    page.gauge(
        "raftflow_watch_streams",
        "WatchExecution streams open on this node.",
        ctx.reader.watch_streams() as i64,
    );
    page.counter(
        "raftflow_apply_panics_total",
        "Commands refused because applying them panicked (a defect; each is logged).",
        ctx.reader.apply_panics(),
    );
    page.counters(
        "raftflow_auth_denied_total",
        "Calls refused by the token check on this node, by reason.",
        ctx.auth
            .denied_counts()
            .into_iter()
            .map(|(reason, n)| (labels(&[("reason", reason)]), n)),
    );
    page.gauge(
        "raftflow_tokens",
        "API tokens in the replicated state, as applied here.",
        ctx.reader.acl().len() as i64,
    );
    let (active, supported) = ctx.reader.apply_versions();
    page.gauges(
        "raftflow_apply_version",
        "The apply version: active (replicated) and the range this binary supports.",
        [
            ("active", active),
            ("min", supported.min),
            ("max", supported.max),
        ]
        .map(|(kind, v)| (labels(&[("kind", kind)]), i64::from(v))),
    );
    // The disk check measures it every storage.check_interval_ms; a scrape
    // need not walk the directory again.
    page.gauge(
        "raftflow_storage_bytes",
        "Bytes of this node's data directory on disk (as of the last disk check).",
        ctx.disk.reading().data_bytes as i64,
    );
    crate::alarm_keeper::render(ctx, page);
    page.histogram(
        "raftflow_task_dispatch_latency_seconds",
        "From a task being ready to a worker holding it.",
        m.dispatch_latency.values(),
    );
    page.histogram(
        "raftflow_task_duration_seconds",
        "From a task being handed out to its report.",
        m.task_duration.values(),
    );
    crate::schedules::render_metrics(ctx, page);
    crate::http_task_metrics::render(ctx, page);
    crate::subscriptions::deliver_metrics::render(ctx, page);
    let grpc: Vec<_> = m
        .grpc
        .lock()
        .expect("grpc metrics lock")
        .iter()
        .map(|((method, code), h)| (labels(&[("method", method), ("code", code)]), h.values()))
        .collect();
    page.histograms(
        "raftflow_grpc_request_duration_seconds",
        "Client API requests by method and gRPC status code.",
        grpc,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_on_the_page() {
        let h = Histogram::default();
        for s in [0.0004, 0.003, 0.003, 7.0, 1_000.0] {
            h.observe_s(s);
        }
        let mut page = Page::default();
        page.histograms("x_seconds", "x", [(labels(&[("m", "a")]), h.values())]);
        let out = page.encode();
        assert!(
            out.contains("x_seconds_bucket{le=\"0.0005\",m=\"a\"} 1\n"),
            "{out}"
        );
        assert!(out.contains("x_seconds_bucket{le=\"0.005\",m=\"a\"} 3\n"));
        assert!(out.contains("x_seconds_bucket{le=\"10.0\",m=\"a\"} 4\n"));
        assert!(out.contains("x_seconds_bucket{le=\"+Inf\",m=\"a\"} 5\n"));
        assert!(out.contains("x_seconds_count{m=\"a\"} 5\n"));
    }

    #[test]
    fn methods_a_client_makes_up_share_one_series_past_the_bound() {
        let m = Metrics::default();
        for i in 0..2 * crate::limits::MAX_GRPC_SERIES {
            m.grpc_histogram(&format!("Made/Up{i}"), "Unimplemented");
        }
        let grpc = m.grpc.lock().unwrap();
        assert_eq!(grpc.len(), crate::limits::MAX_GRPC_SERIES + 1);
        assert!(grpc.contains_key(&("other".to_string(), "Unimplemented".to_string())));
    }
}
