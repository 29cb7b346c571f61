//! Statistics for the console: one state machine's window, and the
//! overview's busiest state machines (crate::stats_view).

use axum::extract::{Extension, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use raftflow_store::workflow::reads;
use serde::Deserialize;

use super::api::{error, internal};
use crate::auth::Caller;
use crate::node::NodeContext;
use crate::stats_view::{self, Window};

#[derive(Deserialize)]
pub struct StatsQuery {
    state_machine: String,
    #[serde(default)]
    window: String,
    #[serde(default)]
    version: Option<u32>,
}

pub async fn one(
    State(ctx): State<NodeContext>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<StatsQuery>,
) -> Response {
    let window = match Window::parse(&q.window) {
        Ok(w) => w,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let missing = || {
        error(
            StatusCode::NOT_FOUND,
            format!("state machine `{}` does not exist", q.state_machine),
        )
    };
    if !caller.sees_state_machine(&q.state_machine) {
        return missing();
    }
    let db = ctx.reader.db();
    let version = q.version.filter(|v| *v > 0);
    match stats_view::view_of_existing(db, &q.state_machine, version, window, ctx.clock.now_ms()) {
        Ok(Some(view)) => Json(view).into_response(),
        Ok(None) => missing(),
        Err(e) => internal(e),
    }
}

/// The five state machines that started the most in the last day.
pub async fn busiest(
    State(ctx): State<NodeContext>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let db = ctx.reader.db();
    let names: Vec<String> = match reads::state_machine_names(db) {
        Ok(list) => list
            .into_iter()
            .filter(|name| caller.sees_state_machine(name))
            .collect(),
        Err(e) => return internal(e),
    };
    match stats_view::busiest(db, &names, 5, ctx.clock.now_ms()) {
        Ok(views) => Json(views).into_response(),
        Err(e) => internal(e),
    }
}
