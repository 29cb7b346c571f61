//! Counters and latency histograms kept by this node (not replicated), and
//! the tower layer that counts every gRPC request by method and status.
//!
//! ```text
//!  gRPC request ─> GrpcMetricsLayer ─> service ─> response (grpc-status) ─┐
//!  PollTask answered ─> dispatch latency (task ready → handed out)         ├─> Metrics ─> /metrics
//!  Complete/FailTask ─> task duration (handed out → reported)              │
//!  raft metrics watch ─> leader changes                                   ─┘
//! ```

use crate::raft_service::WatchReceiver as _;
use std::collections::BTreeMap;
use std::fmt::Write;
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

    /// Writes the `_bucket`, `_sum` and `_count` lines; `labels` is either
    /// empty or `key="value",` pairs ending in a comma.
    pub fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (bound, count) in BUCKETS_S.iter().zip(&self.counts) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {count}");
        let labels = labels.trim_end_matches(',');
        let sum_s = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let braces = |l: &str| {
            if l.is_empty() {
                String::new()
            } else {
                format!("{{{l}}}")
            }
        };
        let _ = writeln!(out, "{name}_sum{} {sum_s}", braces(labels));
        let _ = writeln!(out, "{name}_count{} {count}", braces(labels));
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

/// Counts requests of the client API by method and status code.
#[derive(Clone)]
pub struct GrpcMetricsLayer(pub Arc<Metrics>, pub u64);

impl<S> tower::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetricsService {
            inner,
            metrics: self.0.clone(),
            node: self.1,
        }
    }
}

#[derive(Clone)]
pub struct GrpcMetricsService<S> {
    inner: S,
    metrics: Arc<Metrics>,
    node: u64,
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

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
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

/// The families this module owns, appended to `/metrics`.
pub fn render(ctx: &crate::node::NodeContext, out: &mut String) {
    use crate::http::{counter, family};
    let m = &ctx.metrics;
    family(
        out,
        "raftflow_raft_committed_index",
        "gauge",
        "On the leader: the highest index a majority has stored. Elsewhere: the applied index (a lower bound).",
    );
    let _ = writeln!(
        out,
        "raftflow_raft_committed_index {}",
        committed_index(ctx)
    );
    counter(
        out,
        "raftflow_leader_changes_total",
        "Times this node saw a new leader.",
        m.leader_changes.load(Ordering::Relaxed),
    );
    counter(out, "raftflow_clock_skew_refusals_total", "Votes and pre-votes this node refused because the candidate's clock differed from its own by more than raft.max_clock_offset_ms.", ctx.contact .skewed_candidates_refused .load(Ordering::Relaxed));
    family(
        out,
        "raftflow_clock_offset_seconds",
        "gauge",
        "How far each peer's clock is ahead of this node's (negative: behind), measured on Raft traffic in the last 10 s.",
    );
    for (peer, offset_ms) in ctx.peer_clocks.fresh() {
        let _ = writeln!(
            out,
            "raftflow_clock_offset_seconds{{peer=\"{peer}\"}} {}",
            offset_ms as f64 / 1000.0
        );
    }
    counter(out, "raftflow_clock_stamps_clamped_total", "Time stamps this leader held to the time elapsed since its takeover because its clock stepped (logged once per step).", ctx.log_clock.clamped.load(Ordering::Relaxed));
    counter(out, "raftflow_hand_outs_recovered_total", "Tasks whose hand-out reply was lost and that a retried poll or report got back (leader only).", m.hand_outs_recovered.load(Ordering::Relaxed));
    family(
        out,
        "raftflow_timers_pending",
        "gauge",
        "Timers armed in the leader's queue (leader only).",
    );
    let _ = writeln!(
        out,
        "raftflow_timers_pending {}",
        ctx.scheduler.timers_pending()
    );
    family(
        out,
        "raftflow_polls_waiting",
        "gauge",
        "Worker polls waiting for a task (leader only).",
    );
    let _ = writeln!(
        out,
        "raftflow_polls_waiting {}",
        ctx.scheduler.polls_waiting()
    );
    family(
        out,
        "raftflow_watch_streams",
        "gauge",
        "WatchExecution streams open on this node.",
    );
    let _ = writeln!(out, "raftflow_watch_streams {}", ctx.reader.watch_streams());
    counter(
        out,
        "raftflow_apply_panics_total",
        "Commands refused because applying them panicked (a defect; each is logged).",
        ctx.reader.apply_panics(),
    );
    family(
        out,
        "raftflow_auth_denied_total",
        "counter",
        "Calls refused by the token check on this node, by reason.",
    );
    for (reason, count) in ctx.auth.denied_counts() {
        let _ = writeln!(
            out,
            "raftflow_auth_denied_total{{reason=\"{reason}\"}} {count}"
        );
    }
    family(
        out,
        "raftflow_tokens",
        "gauge",
        "API tokens in the replicated state, as applied here.",
    );
    let _ = writeln!(out, "raftflow_tokens {}", ctx.reader.acl().len());
    let (active, supported) = ctx.reader.apply_versions();
    family(
        out,
        "raftflow_apply_version",
        "gauge",
        "The apply version: active (replicated) and the range this binary supports.",
    );
    let _ = writeln!(out, "raftflow_apply_version{{kind=\"active\"}} {active}");
    let _ = writeln!(
        out,
        "raftflow_apply_version{{kind=\"min\"}} {}",
        supported.min
    );
    let _ = writeln!(
        out,
        "raftflow_apply_version{{kind=\"max\"}} {}",
        supported.max
    );
    family(
        out,
        "raftflow_storage_bytes",
        "gauge",
        "Bytes of this node's data directory on disk (as of the last disk check).",
    );
    // The disk check measures it every storage.check_interval_ms; a scrape
    // need not walk the directory again.
    let _ = writeln!(
        out,
        "raftflow_storage_bytes {}",
        ctx.disk.reading().data_bytes
    );
    crate::alarm_keeper::render(ctx, out);
    family(
        out,
        "raftflow_task_dispatch_latency_seconds",
        "histogram",
        "From a task being ready to a worker holding it.",
    );
    m.dispatch_latency
        .render(out, "raftflow_task_dispatch_latency_seconds", "");
    family(
        out,
        "raftflow_task_duration_seconds",
        "histogram",
        "From a task being handed out to its report.",
    );
    m.task_duration
        .render(out, "raftflow_task_duration_seconds", "");
    crate::schedules::render_metrics(ctx, out);
    crate::http_task_metrics::render(ctx, out);
    crate::subscriptions::deliver_metrics::render(ctx, out);
    family(
        out,
        "raftflow_grpc_request_duration_seconds",
        "histogram",
        "Client API requests by method and gRPC status code.",
    );
    let grpc: Vec<_> = m
        .grpc
        .lock()
        .expect("grpc metrics lock")
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for ((method, code), histogram) in grpc {
        histogram.render(
            out,
            "raftflow_grpc_request_duration_seconds",
            &format!("method=\"{method}\",code=\"{code}\","),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::default();
        for s in [0.0004, 0.003, 0.003, 7.0, 1_000.0] {
            h.observe_s(s);
        }
        let mut out = String::new();
        h.render(&mut out, "x_seconds", "m=\"a\",");
        assert!(
            out.contains("x_seconds_bucket{m=\"a\",le=\"0.0005\"} 1\n"),
            "{out}"
        );
        assert!(out.contains("x_seconds_bucket{m=\"a\",le=\"0.005\"} 3\n"));
        assert!(out.contains("x_seconds_bucket{m=\"a\",le=\"10\"} 4\n"));
        assert!(out.contains("x_seconds_bucket{m=\"a\",le=\"+Inf\"} 5\n"));
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
