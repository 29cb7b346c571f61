//! What this node's HTTP Task caller did as leader, for /metrics: calls by
//! outcome and how long they took.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

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

pub fn render(ctx: &crate::node::NodeContext, out: &mut String) {
    let m = &ctx.metrics.http;
    crate::http::family(
        out,
        "raftflow_http_calls_total",
        "counter",
        "HTTP Task calls this node made as leader, by outcome.",
    );
    for (outcome, counter) in [
        ("succeeded", &m.succeeded),
        ("status", &m.status),
        ("socket", &m.socket),
        ("denied", &m.denied),
        ("cut_at_timeout", &m.cut),
        ("taken_over", &m.taken_over),
    ] {
        let n = counter.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "raftflow_http_calls_total{{outcome=\"{outcome}\"}} {n}"
        );
    }
    crate::http::family(
        out,
        "raftflow_http_call_duration_seconds",
        "histogram",
        "From an HTTP Task's request leaving to its answer or failure.",
    );
    m.duration
        .render(out, "raftflow_http_call_duration_seconds", "");
}
