//! What this node's event delivery did as leader, for /metrics: events by
//! outcome, and the lag from the change's apply to its delivery.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::exposition::{labels, Page};
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

pub fn render(ctx: &crate::node::NodeContext, page: &mut Page) {
    let m = &ctx.metrics.events;
    page.counters(
        "raftflow_subscription_events_total",
        "Subscription event deliveries this node made as leader, by outcome.",
        [("delivered", &m.delivered), ("failed", &m.failed)]
            .map(|(outcome, n)| (labels(&[("outcome", outcome)]), n.load(Ordering::Relaxed))),
    );
    page.counter(
        "raftflow_subscription_rounds_total",
        "Delivery rounds this node reported as leader: one EventsDelivered log entry each.",
        m.rounds.load(Ordering::Relaxed),
    );
    page.histogram(
        "raftflow_subscription_delivery_lag_seconds",
        "From an execution's change to its event answered 2xx by the receiver.",
        m.lag.values(),
    );
}
