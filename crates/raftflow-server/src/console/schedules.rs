//! The console's schedules page: each schedule with its state, its next
//! times and its recent runs linked to their executions (read from this
//! node's applied state); pause and unpause go to the leader.

use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use raftflow_proto::v1::schedule_service_client::ScheduleServiceClient;
use raftflow_proto::v1::PauseScheduleRequest;
use raftflow_store::schedules::{self, Outcome, Schedule};
use serde_json::{json, Value};

use super::api::{internal, on_leader};
use crate::auth::{Caller, Permission};
use crate::node::NodeContext;

/// Schedules the page lists, at most.
const PAGE: usize = 1000;
/// Next times shown per schedule.
const NEXT: usize = 3;

fn action(a: &schedules::Action) -> Value {
    let (outcome, execution_id, detail) = match &a.outcome {
        Outcome::Started { execution_id } => ("started", execution_id.as_str(), String::new()),
        Outcome::AlreadyStarted { execution_id } => {
            ("already started", execution_id.as_str(), String::new())
        }
        Outcome::SkippedOverlap { running } => {
            ("skipped (overlap)", running.as_str(), String::new())
        }
        Outcome::SkippedMissed { through_ms } => {
            ("skipped (missed)", "", format!("up to {through_ms}"))
        }
        Outcome::StartFailed { message } => ("start failed", "", message.clone()),
        Outcome::Buffered { running } => ("buffered", running.as_str(), String::new()),
    };
    json!({"scheduled_ms": a.scheduled_ms, "at_ms": a.at_ms, "trigger": a.trigger,
        "outcome": outcome, "execution_id": execution_id, "detail": detail})
}

fn row(s: &Schedule) -> Value {
    let (next, problem) = crate::schedules::messages::upcoming(s, NEXT);
    json!({"name": s.def.name, "state_machine": s.def.state_machine, "spec": s.def.specs.join("; "),
        "zone": s.def.zone, "overlap": s.def.overlap.as_str(), "paused": s.paused, "note": s.note,
        "next_ms": next, "problem": problem, "fired": s.fired, "skipped": s.skipped,
        "recent": s.recent.iter().rev().map(action).collect::<Vec<_>>()})
}

pub async fn list(
    State(ctx): State<NodeContext>,
    Extension(caller): Extension<Caller>,
) -> Response {
    match schedules::list(ctx.reader.db(), "", PAGE) {
        Ok(all) => Json(
            all.iter()
                .filter(|s| caller.sees_state_machine(&s.def.state_machine))
                .map(row)
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => internal(e),
    }
}

async fn set_paused(
    ctx: &NodeContext,
    name: String,
    headers: &axum::http::HeaderMap,
    paused: bool,
) -> Response {
    let request = PauseScheduleRequest {
        name,
        paused,
        note: format!("from the console of node {}", ctx.id),
    };
    let call = |channel, request| async move {
        ScheduleServiceClient::new(channel)
            .pause_schedule(request)
            .await
            .map(|_| ())
    };
    match on_leader(ctx, headers, Permission::WriteSchedules, request, call).await {
        Ok(()) => Json(json!({"paused": paused})).into_response(),
        Err(refused) => *refused,
    }
}

pub async fn pause(
    State(ctx): State<NodeContext>,
    Path(name): Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    set_paused(&ctx, name, &headers, true).await
}

pub async fn unpause(
    State(ctx): State<NodeContext>,
    Path(name): Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    set_paused(&ctx, name, &headers, false).await
}
