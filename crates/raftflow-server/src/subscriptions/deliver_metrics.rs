//! What this node's event delivery did as leader, for /metrics: events by
//! outcome, and the lag from the change's apply to its delivery.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::metrics::Histogram;

#[derive(Default)]
pub struct EventMetrics {
    /// Answered 2xx.
    pub delivered: AtomicU64,
    /// Not answered 2xx (tried again later, or a dead letter).
    pub failed: AtomicU64,
    /// Delivery rounds reported: one `EventsDelivered` entry each.
    pub rounds: AtomicU64,
    /// From the change's time (the command's) to a 2xx answer.
    pub lag: Histogram,
}

impl EventMetrics {
    pub fn count(&self, delivered: usize, failed: usize) {
        self.delivered
            .fetch_add(delivered as u64, Ordering::Relaxed);
        self.failed.fetch_add(failed as u64, Ordering::Relaxed);
        self.rounds.fetch_add(1, Ordering::Relaxed);
    }
}

pub fn render(ctx: &crate::node::NodeContext, out: &mut String) {
    let m = &ctx.metrics.events;
    crate::http::family(
        out,
        "raftflow_subscription_events_total",
        "counter",
        "Subscription event deliveries this node made as leader, by outcome.",
    );
    for (outcome, counter) in [("delivered", &m.delivered), ("failed", &m.failed)] {
        let n = counter.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "raftflow_subscription_events_total{{outcome=\"{outcome}\"}} {n}"
        );
    }
    crate::http::family(
        out,
        "raftflow_subscription_rounds_total",
        "counter",
        "Delivery rounds this node reported as leader: one EventsDelivered log entry each.",
    );
    let rounds = m.rounds.load(Ordering::Relaxed);
    let _ = writeln!(out, "raftflow_subscription_rounds_total {rounds}");
    crate::http::family(
        out,
        "raftflow_subscription_delivery_lag_seconds",
        "histogram",
        "From an execution's change to its event answered 2xx by the receiver.",
    );
    m.lag
        .render(out, "raftflow_subscription_delivery_lag_seconds", "");
}
