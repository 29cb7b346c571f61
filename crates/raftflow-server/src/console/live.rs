//! Live execution pages: an execution's history as server-sent events, so
//! the page follows its graph as states start and end instead of reloading.
//!
//! The same stream as gRPC's `WatchExecution` (watch.rs): it wakes when an
//! apply touched the execution, takes one of the node's watch slots
//! (`scheduler.max_watch_streams`, shared with gRPC watches) and gives it
//! back when the page goes; it sends `history` events from `after` on,
//! then `end` once the execution has finished and every event went out.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::error;
use crate::auth::Caller;
use crate::node::NodeContext;

#[derive(Deserialize)]
pub struct LiveQuery {
    /// The last event the page has; the stream starts after it.
    #[serde(default)]
    after: u64,
}

pub async fn history(
    State(ctx): State<NodeContext>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<LiveQuery>,
) -> Response {
    if let Err(status) = caller.check_execution(&id) {
        return super::status_response(&status);
    }
    match raftflow_store::workflow::reads::execution(ctx.reader.db(), &id) {
        Ok(Some(_)) => {}
        Ok(None) => {
            return error(
                StatusCode::NOT_FOUND,
                format!("execution `{id}` does not exist"),
            )
        }
        Err(e) => return super::api::internal(e),
    }
    let Ok(slot) = ctx.watch_slots.clone().try_acquire_owned() else {
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "{} watch streams are open on this node (scheduler.max_watch_streams); the page falls back to reloading",
                ctx.config.scheduler.max_watch_streams
            ),
        );
    };
    let watch = crate::watch::stream(ctx.reader.clone(), ctx.stopping.clone(), id, q.after, slot);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Event, Infallible>>(64);
    tokio::spawn(async move {
        let mut watch = std::pin::pin!(watch);
        loop {
            // A page that went away frees its slot at once, events or not.
            let item = tokio::select! {
                item = watch.next() => item,
                () = tx.closed() => return,
            };
            let Some(item) = item else { break };
            let event = match item {
                Ok(e) => history_event(e),
                Err(status) => {
                    // Not `end`: the page reconnects (or reloads) and goes on.
                    let _ = tx
                        .send(Ok(Event::default().event("failed").data(status.message())))
                        .await;
                    return;
                }
            };
            if tx.send(Ok(event)).await.is_err() {
                return;
            }
        }
        let _ = tx.send(Ok(Event::default().event("end").data(""))).await;
    });
    let events = tokio_stream::wrappers::ReceiverStream::new(rx);
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

fn history_event(e: raftflow_proto::v1::HistoryEvent) -> Event {
    let details: Value = serde_json::from_str(&e.details).unwrap_or(Value::Null);
    let body = json!({"id": e.id, "previous_id": e.previous_event_id,
        "timestamp_ms": e.timestamp_ms, "type": e.r#type, "details": details});
    Event::default().event("history").data(body.to_string())
}
