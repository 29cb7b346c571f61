//! The console's subscriptions page: each subscription with what it
//! watches, where it sends, its counts and its oldest dead letters linked to
//! their executions (read from this node's applied state); a redrive goes
//! to the leader.

use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use raftflow_proto::v1::subscription_service_client::SubscriptionServiceClient;
use raftflow_proto::v1::RedriveDeadLettersRequest;
use raftflow_store::subscriptions::{self, OutboxEvent, Subscription};
use raftflow_store::{Db, StoreError};
use serde_json::{json, Value};

use super::api::{internal, on_leader};
use crate::auth::{Caller, Permission};
use crate::node::NodeContext;

/// Dead letters (and pending events) shown per subscription, at most.
const SHOWN: usize = 10;

fn event(e: &OutboxEvent) -> Value {
    json!({"seq": e.seq, "execution_id": e.execution_id, "change": e.change.word(),
        "at_ms": e.at_ms, "attempts": e.attempts, "next_at_ms": e.next_at_ms,
        "last_error": e.last_error})
}

fn row(db: &Db, s: &Subscription) -> Result<Value, StoreError> {
    let name = &s.def.name;
    let dead = subscriptions::dead_letters(db, name, 0, SHOWN)?;
    let pending = subscriptions::pending(db, name, 0, SHOWN)?;
    Ok(json!({"name": name, "source": s.def.source,
        "on": s.def.on.iter().map(|c| c.word()).collect::<Vec<_>>(),
        "url": s.def.url, "enabled": s.def.enabled, "pending": s.pending,
        "delivered": s.delivered, "dead_letters": s.dead, "discarded": s.discarded,
        "oldest_pending": pending.iter().map(event).collect::<Vec<_>>(),
        "oldest_dead": dead.iter().map(event).collect::<Vec<_>>()}))
}

pub async fn list(
    State(ctx): State<NodeContext>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let db = ctx.reader.db();
    let rows = subscriptions::list(db, "", subscriptions::MAX_SUBSCRIPTIONS).and_then(|all| {
        all.iter()
            .filter(|s| caller.sees_state_machine(&s.def.source))
            .map(|s| row(db, s))
            .collect::<Result<Vec<_>, _>>()
    });
    match rows {
        Ok(rows) => Json(rows).into_response(),
        Err(e) => internal(e),
    }
}

/// Delivers every dead letter of `name` again.
pub async fn redrive(
    State(ctx): State<NodeContext>,
    Path(name): Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    let request = RedriveDeadLettersRequest {
        name,
        seqs: Vec::new(),
    };
    let call = |channel, request| async move {
        SubscriptionServiceClient::new(channel)
            .redrive_dead_letters(request)
            .await
            .map(|r| r.into_inner())
    };
    match on_leader(
        &ctx,
        &headers,
        Permission::WriteSubscriptions,
        request,
        call,
    )
    .await
    {
        Ok(reply) => Json(json!({"redriven": reply.redriven, "left": reply.left})).into_response(),
        Err(refused) => *refused,
    }
}
