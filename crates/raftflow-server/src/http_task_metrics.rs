//! What this node's HTTP Task caller did as leader, for /metrics: calls by
//! outcome and how long they took.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::exposition::{labels, Page};
use crate::metrics::Histogram;
use crate::outbound::caller::CallError;

#[derive(Default)]
pub struct HttpMetrics {
    /// Answered 2xx.
    pub succeeded: AtomicU64,
    /// Answered with another status (States.Http.StatusCode.NNN).
    pub status: AtomicU64,
    /// No answer: refused, reset, TLS, past the 60-second cap.
    pub socket: AtomicU64,
    /// The destination was refused by `[outbound]`.
    pub denied: AtomicU64,
    /// Cut at the state's TimeoutSeconds (the state's timer ends it).
    pub cut: AtomicU64,
    /// Attempts of an older leader ended at takeover ("may have run").
    pub taken_over: AtomicU64,
    /// From the request leaving to its answer (or failure).
    pub duration: Histogram,
}

impl HttpMetrics {
    /// Counts one call's end.
    pub fn count(&self, response: &Result<crate::outbound::caller::Response, CallError>) {
        let counter = match response {
            Ok(r) if (200..300).contains(&r.status) => &self.succeeded,
            Ok(_) => &self.status,
            Err(CallError::Denied(_)) => &self.denied,
            Err(_) => &self.socket,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

pub fn render(ctx: &crate::node::NodeContext, page: &mut Page) {
    let m = &ctx.metrics.http;
    let outcomes = [
        ("succeeded", &m.succeeded),
        ("status", &m.status),
        ("socket", &m.socket),
        ("denied", &m.denied),
        ("cut_at_timeout", &m.cut),
        ("taken_over", &m.taken_over),
    ];
    page.counters(
        "raftflow_http_calls_total",
        "HTTP Task calls this node made as leader, by outcome.",
        outcomes.map(|(outcome, n)| (labels(&[("outcome", outcome)]), n.load(Ordering::Relaxed))),
    );
    page.histogram(
        "raftflow_http_call_duration_seconds",
        "From an HTTP Task's request leaving to its answer or failure.",
        m.duration.values(),
    );
}
