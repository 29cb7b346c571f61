//! The node's HTTP endpoints, for load balancers and Prometheus:
//!
//! ```text
//!  GET /healthz   200 while the process runs (never fails because quorum is lost)
//!  GET /readyz    200 when this node knows a leader, has applied its log
//!                 (within 1,000 entries) and its clock agrees with a
//!                 majority of the voters; 503 otherwise, with the reason
//!  GET /metrics   Prometheus text format, `raftflow_` prefix, base units;
//!                 needs a reader token (or the scrape token) unless insecure
//! ```

use crate::raft_service::WatchReceiver as _;
use std::fmt::Write;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use openraft::ServerState;
use tokio::net::TcpListener;

use crate::node::NodeContext;

/// Where liveness and readiness are served (health.rs, deploy/).
pub const HEALTHZ_PATH: &str = "/healthz";
pub const READYZ_PATH: &str = "/readyz";

/// How far behind its own log a node may apply and still be ready.
const READY_MAX_LAG: u64 = 1_000;

pub fn router(ctx: NodeContext) -> Router {
    Router::new()
        .route(HEALTHZ_PATH, get(|| async { "ok\n" }))
        .route(READYZ_PATH, get(readyz))
        .route("/metrics", get(metrics))
        .merge(crate::console::router(ctx.clone()))
        .with_state(ctx)
}

pub async fn serve(
    ctx: NodeContext,
    listener: TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    match &ctx.security {
        crate::tls::Security::Insecure => {
            axum::serve(listener, router(ctx))
                .with_graceful_shutdown(stop)
                .await
        }
        crate::tls::Security::Tls(tls) => {
            let listener = crate::tls::TlsListener::new(listener, tls.clone())?;
            let app = router(ctx.clone());
            axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
        }
    }
}

async fn readyz(State(ctx): State<NodeContext>) -> impl IntoResponse {
    let m = ctx.raft.metrics().borrow_watched().clone();
    let applied = m.last_applied.map_or(0, |l| l.index);
    let last = m.last_log_index.unwrap_or(0);
    let voters: Vec<u64> = m.membership_config.membership().voter_ids().collect();
    let max_offset_ms = ctx.config.raft.max_clock_offset_ms;
    let offsets = ctx.peer_clocks.fresh();
    // The leader's clock was judged by a majority when it was elected: a
    // follower that disagrees with it (all a follower hears) is off.
    let off_leader = m
        .current_leader
        .and_then(|l| offsets.get(&l))
        .is_some_and(|o| o.unsigned_abs() > max_offset_ms);
    let clock_agrees = ctx
        .peer_clocks
        .agrees_with_majority(&voters, ctx.id, max_offset_ms);
    match m.current_leader {
        _ if off_leader || clock_agrees == Some(false) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "not ready: this node's clock is more than raft.max_clock_offset_ms = {max_offset_ms} ms off the leader's or a majority's (peer offsets in ms: {offsets:?}); fix its clock (NTP)\n"
            ),
        ),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: no leader is known\n".to_string(),
        ),
        Some(_) if last.saturating_sub(applied) > READY_MAX_LAG => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: applied {applied} of {last} log entries\n"),
        ),
        Some(leader) => (
            StatusCode::OK,
            format!("ready: leader is node {leader}, applied {applied}\n"),
        ),
    }
}

/// Needs a token that may read the cluster, or `[auth] scrape_token_file`'s.
async fn metrics(
    State(ctx): State<NodeContext>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    let authorization = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
    if !ctx.auth.is_scrape_token(authorization) {
        let rule = crate::auth::methods::Rule::Needs(&[crate::auth::Permission::ReadCluster]);
        if let Err(status) = ctx.auth.check(authorization, None, None, rule) {
            return crate::console::status_response(&status);
        }
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        render(&ctx),
    )
        .into_response()
}

pub(crate) fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A counter family with its one unlabelled sample.
pub(crate) fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    family(out, name, "counter", help);
    let _ = writeln!(out, "{name} {value}");
}

/// The metrics page. Every family is present on every node, leader or not.
pub fn render(ctx: &NodeContext) -> String {
    let m = ctx.raft.metrics().borrow_watched().clone();
    let mut out = String::new();
    family(
        &mut out,
        "raftflow_raft_role",
        "gauge",
        "1 for this node's current Raft role.",
    );
    for (role, state) in [
        ("leader", ServerState::Leader),
        ("follower", ServerState::Follower),
        ("candidate", ServerState::Candidate),
        ("learner", ServerState::Learner),
    ] {
        let _ = writeln!(
            out,
            "raftflow_raft_role{{role=\"{role}\"}} {}",
            u8::from(m.state == state)
        );
    }
    let gauges = [
        (
            "raftflow_raft_term",
            "The current Raft term.",
            m.current_term,
        ),
        (
            "raftflow_raft_leader_id",
            "The leader's node id; 0 when none is known.",
            m.current_leader.unwrap_or(0),
        ),
        (
            "raftflow_raft_last_log_index",
            "Index of the last entry in this node's log.",
            m.last_log_index.unwrap_or(0),
        ),
        (
            "raftflow_raft_applied_index",
            "Index of the last entry applied to the state machine.",
            m.last_applied.map_or(0, |l| l.index),
        ),
        (
            "raftflow_raft_snapshot_index",
            "Last index covered by the current snapshot.",
            m.snapshot.map_or(0, |l| l.index),
        ),
        (
            "raftflow_raft_purged_index",
            "Last log index purged behind the snapshot.",
            m.purged.map_or(0, |l| l.index),
        ),
        (
            "raftflow_leader_epoch",
            "The leader epoch that fences task tokens.",
            ctx.reader.epoch(),
        ),
        (
            "raftflow_executions_running",
            "Executions running, as applied here.",
            ctx.reader.running_executions() as u64,
        ),
    ];
    for (name, help, value) in gauges {
        family(&mut out, name, "gauge", help);
        let _ = writeln!(out, "{name} {value}");
    }
    family(
        &mut out,
        "raftflow_raft_replication_lag_entries",
        "gauge",
        "Entries a follower is behind the leader's log (leader only).",
    );
    if let Some(replication) = &m.replication {
        let last = m.last_log_index.unwrap_or(0);
        for (id, matched) in replication.iter().filter(|(id, _)| **id != ctx.id) {
            let _ = writeln!(
                out,
                "raftflow_raft_replication_lag_entries{{follower=\"{id}\"}} {}",
                last.saturating_sub(matched.map_or(0, |l| l.index))
            );
        }
    }
    let counters = ctx.reader.counters();
    family(
        &mut out,
        "raftflow_executions_started_total",
        "counter",
        "Executions started, as applied on this node since it started.",
    );
    let _ = writeln!(
        out,
        "raftflow_executions_started_total {}",
        counters.executions_started
    );
    family(
        &mut out,
        "raftflow_executions_finished_total",
        "counter",
        "Executions finished, by status, as applied on this node since it started.",
    );
    for (status, n) in &counters.executions_finished {
        let _ = writeln!(
            out,
            "raftflow_executions_finished_total{{status=\"{status}\"}} {n}"
        );
    }
    family(
        &mut out,
        "raftflow_tasks_waiting",
        "gauge",
        "Tasks ready for a worker, by activity (leader only).",
    );
    for (activity, n) in ctx.scheduler.waiting() {
        let _ = writeln!(out, "raftflow_tasks_waiting{{activity=\"{activity}\"}} {n}");
    }
    let entries = ctx
        .batch_stats
        .entries
        .load(std::sync::atomic::Ordering::Relaxed);
    let commands = ctx
        .batch_stats
        .commands
        .load(std::sync::atomic::Ordering::Relaxed);
    family(
        &mut out,
        "raftflow_proposer_entries_total",
        "counter",
        "Log entries this node proposed (each a batch of commands).",
    );
    let _ = writeln!(out, "raftflow_proposer_entries_total {entries}");
    family(
        &mut out,
        "raftflow_proposer_commands_total",
        "counter",
        "Commands this node proposed.",
    );
    let _ = writeln!(out, "raftflow_proposer_commands_total {commands}");
    crate::metrics::render(ctx, &mut out);
    crate::stats_metrics::render(ctx.reader.db(), &ctx.config.metrics, &mut out);
    let now_s = crate::clock::now_ms() as i64 / 1000;
    crate::tls::expiry::render(&ctx.security, now_s, &mut out);
    out
}
