//! The web console, served by every node from its HTTP address.
//!
//! ```text
//!  browser ── GET /              index.html, app.js, app.css (embedded in the binary)
//!          ── GET /api/cluster   every member's role, term, indexes and lag (gRPC Status)
//!          ── GET /api/state-machines[/{name}?version=N]   definitions + layout for the graph
//!          ── GET /api/executions?state_machine=&status=&name=&page_token=
//!          ── GET /api/executions/{id}        record + history + layout
//!          ── POST /api/executions/{id}/stop  forwarded to the leader with the caller's credential
//!          ── /api/session                   sign in with a token, sign out (session.rs)
//! ```
//! Every `/api` route but the session's needs a session cookie or a bearer
//! token that may read workflows; the stop, one that may stop executions,
//! and the page's CSRF token when the cookie is the credential.
//!
//! The page polls while it shows something that can change, so it updates
//! live without a push channel; it says when the cluster has no leader.

mod api;
mod live;
mod schedules;
mod session;
mod stats;
mod subscriptions;
mod triggers;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;

use crate::node::NodeContext;

const INDEX_HTML: &str = include_str!("../../console/index.html");
const APP_JS: &str = include_str!("../../console/app.js");
const GRAPH_JS: &str = include_str!("../../console/graph.js");
const HISTORY_JS: &str = include_str!("../../console/history.js");
const STATS_JS: &str = include_str!("../../console/stats.js");
const EXECUTION_JS: &str = include_str!("../../console/execution.js");
const APP_CSS: &str = include_str!("../../console/app.css");

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

/// A gRPC refusal as the console's JSON error, with the HTTP status that
/// means the same.
pub(crate) fn status_response(status: &tonic::Status) -> axum::response::Response {
    use axum::http::StatusCode;
    let code = match status.code() {
        tonic::Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        tonic::Code::PermissionDenied => StatusCode::FORBIDDEN,
        tonic::Code::NotFound => StatusCode::NOT_FOUND,
        tonic::Code::FailedPrecondition => StatusCode::CONFLICT,
        tonic::Code::InvalidArgument => StatusCode::BAD_REQUEST,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    // `login` tells the page to show its sign-in form.
    let login = code == StatusCode::UNAUTHORIZED;
    (
        code,
        axum::Json(serde_json::json!({ "error": status.message(), "login": login })),
    )
        .into_response()
}

/// Lets a read route through for a caller that may read workflows (a
/// session cookie or a bearer token), with the caller for its scopes.
async fn require_reader(
    axum::extract::State(ctx): axum::extract::State<NodeContext>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    match session::access(
        &ctx,
        request.headers(),
        crate::auth::Permission::ReadWorkflows,
    ) {
        Ok(access) => {
            request.extensions_mut().insert(access.caller);
            next.run(request).await
        }
        Err(refused) => *refused,
    }
}

pub fn router(ctx: NodeContext) -> Router<NodeContext> {
    let reads = Router::new()
        .route("/api/cluster", get(api::cluster))
        .route("/api/state-machines", get(api::state_machines))
        .route("/api/state-machines/{name}", get(api::state_machine))
        .route("/api/executions", get(api::executions))
        .route("/api/executions/{id}", get(api::execution))
        .route("/api/executions/{id}/live", get(live::history))
        .route("/api/statistics", get(stats::one))
        .route("/api/statistics/busiest", get(stats::busiest))
        .route("/api/schedules", get(schedules::list))
        .route("/api/triggers", get(triggers::list))
        .route("/api/subscriptions", get(subscriptions::list))
        .route_layer(axum::middleware::from_fn_with_state(ctx, require_reader));
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/console/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/console/graph.js",
            get(|| async { asset("text/javascript; charset=utf-8", GRAPH_JS) }),
        )
        .route(
            "/console/history.js",
            get(|| async { asset("text/javascript; charset=utf-8", HISTORY_JS) }),
        )
        .route(
            "/console/stats.js",
            get(|| async { asset("text/javascript; charset=utf-8", STATS_JS) }),
        )
        .route(
            "/console/execution.js",
            get(|| async { asset("text/javascript; charset=utf-8", EXECUTION_JS) }),
        )
        .route(
            "/console/app.css",
            get(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        )
        .route("/api/executions/{id}/stop", post(api::stop))
        .route("/api/schedules/{name}/pause", post(schedules::pause))
        .route("/api/schedules/{name}/unpause", post(schedules::unpause))
        .route(
            "/api/subscriptions/{name}/redrive",
            post(subscriptions::redrive),
        )
        .route("/api/session", get(session::current).post(session::login))
        .route("/api/session/logout", post(session::logout))
        .merge(reads)
}
