//! `raftflow workflow stats`: a state machine's executions over a window,
//! and each state's visits.

use raftflow_client::proto::{StateStatistics, StatisticsReply, StatisticsSummary};
use serde_json::{json, Value};

use crate::output::{table, Format};

fn rate(s: &StatisticsSummary) -> String {
    s.success_rate.map_or("—".into(), |r| format!("{r:.1}%"))
}

fn ms(v: Option<u64>) -> String {
    v.map_or("—".into(), |v| format!("{v} ms"))
}

fn summary_json(s: &StatisticsSummary) -> Value {
    json!({
        "started": s.started, "succeeded": s.succeeded, "failed": s.failed,
        "timed_out": s.timed_out, "aborted": s.aborted, "success_rate": s.success_rate,
        "p50_ms": s.p50_ms, "p95_ms": s.p95_ms, "p99_ms": s.p99_ms,
    })
}

fn state_json(s: &StateStatistics) -> Value {
    json!({
        "name": s.name, "succeeded": s.succeeded, "caught": s.caught, "failed": s.failed,
        "retries": s.retries, "p50_ms": s.p50_ms, "p95_ms": s.p95_ms, "p99_ms": s.p99_ms,
        "total_ms": s.total_ms,
    })
}

/// Each state's row: where the time went first (the reply's order).
fn print_states(states: &[StateStatistics]) {
    if states.is_empty() {
        return;
    }
    println!();
    let rows: Vec<Vec<String>> = states
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                (s.succeeded + s.caught + s.failed).to_string(),
                s.caught.to_string(),
                s.failed.to_string(),
                s.retries.to_string(),
                ms(s.p50_ms),
                ms(s.p95_ms),
                ms(s.p99_ms),
            ]
        })
        .collect();
    table(
        &[
            "STATE", "VISITS", "CAUGHT", "FAILED", "RETRIES", "P50", "P95", "P99",
        ],
        &rows,
    );
}

fn when(at_ms: u64) -> String {
    raftflow_core::schedule_spec::wall_clock(at_ms, "UTC").unwrap_or_else(|| at_ms.to_string())
}

/// Text: the window's totals, then every bucket in which something
/// happened. JSON: the whole reply, every bucket.
pub fn print(reply: &StatisticsReply, format: Format) {
    let total = reply.summary.unwrap_or_default();
    if !matches!(format, Format::Text) {
        let buckets: Vec<Value> = reply
            .buckets
            .iter()
            .map(|b| {
                let mut v = summary_json(&b.summary.unwrap_or_default());
                v["start_ms"] = json!(b.start_ms);
                v
            })
            .collect();
        println!(
            "{}",
            json!({"state_machine": reply.state_machine, "window": reply.window,
                "grain_ms": reply.grain_ms, "from_ms": reply.from_ms, "to_ms": reply.to_ms,
                "summary": summary_json(&total), "buckets": buckets,
                "states": reply.states.iter().map(state_json).collect::<Vec<_>>()})
        );
        return;
    }
    println!(
        "{} over the last {} (from {}): {} started, {} succeeded, {} failed, {} timed out, {} aborted; success {}; p50 {}, p95 {}, p99 {}",
        reply.state_machine, reply.window, when(reply.from_ms), total.started, total.succeeded,
        total.failed, total.timed_out, total.aborted, rate(&total), ms(total.p50_ms),
        ms(total.p95_ms), ms(total.p99_ms)
    );
    let rows: Vec<Vec<String>> = reply
        .buckets
        .iter()
        .filter_map(|b| Some((b.start_ms, b.summary?)))
        .filter(|(_, s)| s.started > 0 || s.success_rate.is_some())
        .map(|(at, s)| {
            vec![
                when(at),
                s.started.to_string(),
                s.succeeded.to_string(),
                (s.failed + s.timed_out + s.aborted).to_string(),
                rate(&s),
                ms(s.p95_ms),
            ]
        })
        .collect();
    table(
        &["BUCKET", "STARTED", "SUCCEEDED", "NOT OK", "SUCCESS", "P95"],
        &rows,
    );
    print_states(&reply.states);
}
