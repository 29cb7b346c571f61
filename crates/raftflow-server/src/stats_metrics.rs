//! Metrics per state machine, from the replicated all-time totals (so every
//! node exposes the same counters and they never go back after a leader
//! change): executions started, ended by status, and a histogram of their
//! durations. Label cardinality is capped: the `[metrics]
//! state_machine_labels` busiest state machines (by executions started)
//! get their own label, the rest are added up under `other`.

use std::fmt::Write as _;

use raftflow_store::db::Db;
use raftflow_store::error::StoreError;
use raftflow_store::stats::{self, Counts, DURATION_BOUNDS_MS};
use raftflow_store::workflow::reads;
use serde::Deserialize;

use crate::http::family;

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

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub fn render(db: &Db, config: &MetricsConfig, out: &mut String) {
    let rows = labelled(db, config.state_machine_labels).unwrap_or_default();
    family(
        out,
        "raftflow_state_machine_executions_started_total",
        "counter",
        "Executions started per state machine (replicated: the same on every node).",
    );
    for (name, c) in &rows {
        let _ = writeln!(
            out,
            "raftflow_state_machine_executions_started_total{{state_machine=\"{}\"}} {}",
            escape(name),
            c.started
        );
    }
    family(
        out,
        "raftflow_state_machine_executions_ended_total",
        "counter",
        "Executions ended per state machine and status (replicated).",
    );
    for (name, c) in &rows {
        for (status, n) in [
            ("SUCCEEDED", c.succeeded),
            ("FAILED", c.failed),
            ("TIMED_OUT", c.timed_out),
            ("ABORTED", c.aborted),
        ] {
            let _ = writeln!(out, "raftflow_state_machine_executions_ended_total{{state_machine=\"{}\",status=\"{status}\"}} {n}", escape(name));
        }
    }
    let name = "raftflow_state_machine_execution_duration_seconds";
    family(
        out,
        name,
        "histogram",
        "Whole executions' durations per state machine (replicated).",
    );
    for (sm, c) in &rows {
        let sm = escape(sm);
        let mut cumulative = 0u64;
        for (i, bound) in DURATION_BOUNDS_MS.iter().enumerate() {
            cumulative = cumulative.saturating_add(c.durations[i]);
            let le = *bound as f64 / 1000.0;
            let _ = writeln!(
                out,
                "{name}_bucket{{state_machine=\"{sm}\",le=\"{le}\"}} {cumulative}"
            );
        }
        let count = cumulative.saturating_add(c.durations[DURATION_BOUNDS_MS.len()]);
        let _ = writeln!(
            out,
            "{name}_bucket{{state_machine=\"{sm}\",le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "{name}_sum{{state_machine=\"{sm}\"}} {}",
            c.duration_ms_sum as f64 / 1000.0
        );
        let _ = writeln!(out, "{name}_count{{state_machine=\"{sm}\"}} {count}");
    }
}
