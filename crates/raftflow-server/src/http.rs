//! The node's HTTP endpoints, for load balancers and Prometheus:
//!
//! ```text
//!  GET /healthz   200 while the process runs (never fails because quorum is lost)
//!  GET /readyz    200 when this node knows a leader, has applied its log
//!                 (within 1,000 entries) and its clock agrees with a
//!                 majority of the voters; 503 otherwise, with the reason
//!  GET /metrics   OpenMetrics text (exposition.rs), `raftflow_` prefix, base units;
//!                 needs a reader token (or the scrape token) unless insecure
//! ```

use crate::exposition::{labels, Page};
use crate::raft_service::WatchReceiver as _;

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
        [(header::CONTENT_TYPE, crate::exposition::CONTENT_TYPE)],
        render(&ctx),
    )
        .into_response()
}

/// The metrics page. Every family is present on every node, leader or not.
pub fn render(ctx: &NodeContext) -> String {
    let m = ctx.raft.metrics().borrow_watched().clone();
    let mut page = Page::default();
    page.gauges(
        "raftflow_raft_role",
        "1 for this node's current Raft role.",
        [
            ("leader", ServerState::Leader),
            ("follower", ServerState::Follower),
            ("candidate", ServerState::Candidate),
            ("learner", ServerState::Learner),
        ]
        .map(|(role, state)| (labels(&[("role", role)]), i64::from(m.state == state))),
    );
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
        page.gauge(name, help, value as i64);
    }
    let last = m.last_log_index.unwrap_or(0);
    let lags = m
        .replication
        .iter()
        .flatten()
        .filter(|(id, _)| **id != ctx.id);
    page.gauges(
        "raftflow_raft_replication_lag_entries",
        "Entries a follower is behind the leader's log (leader only).",
        lags.map(|(id, matched)| {
            let lag = last.saturating_sub(matched.map_or(0, |l| l.index));
            (labels(&[("follower", &id.to_string())]), lag as i64)
        }),
    );
    render_workload(ctx, &mut page);
    crate::metrics::render(ctx, &mut page);
    crate::stats_metrics::render(ctx.reader.db(), &ctx.config.metrics, &mut page);
    let now_s = crate::clock::now_ms() as i64 / 1000;
    crate::tls::expiry::render(&ctx.security, now_s, &mut page);
    page.encode()
}

/// Executions, waiting tasks and the proposer's batches.
fn render_workload(ctx: &NodeContext, page: &mut Page) {
    let counters = ctx.reader.counters();
    page.counter(
        "raftflow_executions_started_total",
        "Executions started, as applied on this node since it started.",
        counters.executions_started,
    );
    page.counters(
        "raftflow_executions_finished_total",
        "Executions finished, by status, as applied on this node since it started.",
        counters
            .executions_finished
            .iter()
            .map(|(status, n)| (labels(&[("status", &status.to_string())]), *n)),
    );
    page.gauges(
        "raftflow_tasks_waiting",
        "Tasks ready for a worker, by activity (leader only).",
        ctx.scheduler
            .waiting()
            .into_iter()
            .map(|(activity, n)| (labels(&[("activity", &activity)]), n as i64)),
    );
    let batches = &ctx.batch_stats;
    page.counter(
        "raftflow_proposer_entries_total",
        "Log entries this node proposed (each a batch of commands).",
        batches.entries.load(std::sync::atomic::Ordering::Relaxed),
    );
    page.counter(
        "raftflow_proposer_commands_total",
        "Commands this node proposed.",
        batches.commands.load(std::sync::atomic::Ordering::Relaxed),
    );
}
