//! Metrics per state machine, from the replicated all-time totals (so every
//! node exposes the same counters and they never go back after a leader
//! change): executions started, ended by status, and a histogram of their
//! durations. Label cardinality is capped: the `[metrics]
//! state_machine_labels` busiest state machines (by executions started)
//! get their own label, the rest are added up under `other`.

use raftflow_store::db::Db;
use raftflow_store::error::StoreError;
use raftflow_store::stats::{self, Counts, DURATION_BOUNDS_MS};
use raftflow_store::workflow::reads;
use serde::Deserialize;

use crate::exposition::{labels, HistogramValues, Page};

/// The most state machines a scrape labels, at most (the setting's bound).
pub const MAX_STATE_MACHINE_LABELS: usize = 1_000;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// State machines with a label of their own; the rest are `other`.
    pub state_machine_labels: usize,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            state_machine_labels: 50,
        }
    }
}

impl MetricsConfig {
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.state_machine_labels > MAX_STATE_MACHINE_LABELS {
            return Err((
                "metrics.state_machine_labels",
                format!("must be at most {MAX_STATE_MACHINE_LABELS}"),
            ));
        }
        Ok(())
    }
}

/// Every state machine's totals (versions added up), the `labels` busiest
/// by name and the rest folded into `other`.
fn labelled(db: &Db, labels: usize) -> Result<Vec<(String, Counts)>, StoreError> {
    let mut all = Vec::new();
    for name in reads::state_machine_names(db)? {
        let mut sum = Counts::default();
        for (_, c) in stats::totals(db, &name)? {
            sum.add(&c);
        }
        all.push((name, sum));
    }
    all.sort_by(|a, b| b.1.started.cmp(&a.1.started).then(a.0.cmp(&b.0)));
    let rest = all.split_off(labels.min(all.len()));
    if !rest.is_empty() {
        let mut other = Counts::default();
        rest.iter().for_each(|(_, c)| other.add(c));
        all.push(("other".to_string(), other));
    }
    Ok(all)
}

pub fn render(db: &Db, config: &MetricsConfig, page: &mut Page) {
    let rows = labelled(db, config.state_machine_labels).unwrap_or_default();
    let machine = |name: &str| labels(&[("state_machine", name)]);
    page.counters(
        "raftflow_state_machine_executions_started_total",
        "Executions started per state machine (replicated: the same on every node).",
        rows.iter().map(|(name, c)| (machine(name), c.started)),
    );
    let ended = rows.iter().flat_map(|(name, c)| {
        [
            ("SUCCEEDED", c.succeeded),
            ("FAILED", c.failed),
            ("TIMED_OUT", c.timed_out),
            ("ABORTED", c.aborted),
        ]
        .map(|(status, n)| (labels(&[("state_machine", name), ("status", status)]), n))
    });
    page.counters(
        "raftflow_state_machine_executions_ended_total",
        "Executions ended per state machine and status (replicated).",
        ended,
    );
    page.histograms(
        "raftflow_state_machine_execution_duration_seconds",
        "Whole executions' durations per state machine (replicated).",
        rows.iter().map(|(name, c)| (machine(name), durations(c))),
    );
}

/// The replicated duration buckets (integer milliseconds) in seconds.
fn durations(c: &Counts) -> HistogramValues {
    let mut buckets: Vec<(f64, u64)> = DURATION_BOUNDS_MS
        .iter()
        .zip(c.durations)
        .map(|(bound, n)| (*bound as f64 / 1000.0, n))
        .collect();
    buckets.push((f64::INFINITY, c.durations[DURATION_BOUNDS_MS.len()]));
    HistogramValues {
        sum: c.duration_ms_sum as f64 / 1000.0,
        count: buckets.iter().fold(0, |a, (_, n)| a.saturating_add(*n)),
        buckets,
    }
}
