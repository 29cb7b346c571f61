//! The console's triggers page: each trigger with what it watches, what it
//! starts and its recent starts linked to both executions (read from this
//! node's applied state). Changes go through the CLI or the API.

use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use raftflow_store::schedules::Outcome;
use raftflow_store::triggers::{self, Fired, Target, Trigger};
use serde_json::{json, Value};

use super::api::internal;
use crate::auth::Caller;
use crate::node::NodeContext;

/// Triggers the page lists, at most.
const PAGE: usize = 1000;

fn fired(f: &Fired) -> Value {
    let (outcome, execution_id, detail) = match &f.outcome {
        Outcome::Started { execution_id } => ("started", execution_id.as_str(), ""),
        Outcome::AlreadyStarted { execution_id } => ("already started", execution_id.as_str(), ""),
        Outcome::StartFailed { message } => ("start failed", "", message.as_str()),
        _ => ("other", "", ""),
    };
    json!({"at_ms": f.at_ms, "source": f.source_execution, "when": f.when.as_str(),
        "outcome": outcome, "execution_id": execution_id, "detail": detail})
}

fn row(t: &Trigger) -> Value {
    let Target::StartExecution {
        state_machine,
        version,
    } = &t.def.target;
    json!({"name": t.def.name, "source": t.def.source,
        "when": t.def.on.iter().map(|w| w.as_str()).collect::<Vec<_>>(),
        "start": state_machine, "version": version, "enabled": t.def.enabled,
        "started": t.started, "failed": t.failed,
        "recent": t.recent.iter().rev().map(fired).collect::<Vec<_>>()})
}

/// Whether the caller may see both state machines of a trigger.
fn visible(caller: &Caller, t: &Trigger) -> bool {
    let Target::StartExecution { state_machine, .. } = &t.def.target;
    caller.sees_state_machine(&t.def.source) && caller.sees_state_machine(state_machine)
}

pub async fn list(
    State(ctx): State<NodeContext>,
    Extension(caller): Extension<Caller>,
) -> Response {
    match triggers::list(ctx.reader.db(), "", PAGE) {
        Ok(all) => Json(
            all.iter()
                .filter(|t| visible(&caller, t))
                .map(row)
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => internal(e),
    }
}
