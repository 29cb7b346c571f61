//! The console's JSON API. Reads come from this node's applied state, so the
//! console keeps working on a follower (it may lag the leader by a few
//! entries); stopping an execution goes to the leader over gRPC.

use crate::raft_service::WatchReceiver as _;
use std::time::Duration;

use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use raftflow_proto::v1::cluster_service_client::ClusterServiceClient;
use raftflow_proto::v1::workflow_service_client::WorkflowServiceClient;
use raftflow_proto::v1::{StatusRequest, StopExecutionRequest};
use raftflow_store::workflow::reads;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::{Caller, Permission};
use crate::node::NodeContext;

/// Largest history the execution page loads at once.
const HISTORY_LIMIT: usize = 5_000;

pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

pub(crate) fn internal(e: impl std::fmt::Display) -> Response {
    error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// Every member's status, asked over gRPC with a short deadline (a member
/// that does not answer is listed with its error, never left out).
pub async fn cluster(State(ctx): State<NodeContext>) -> Response {
    let metrics = ctx.raft.metrics().borrow_watched().clone();
    let members = ctx.members();
    let security = &ctx.security;
    let asks = members.iter().map(|(id, addr)| async move {
        let ask = async {
            let channel =
                crate::tls::peer_channel(security, *id, addr, Duration::from_millis(800)).await?;
            let mut client = ClusterServiceClient::new(channel);
            client
                .status(StatusRequest { digest: false })
                .await
                .map(|r| r.into_inner())
                .map_err(|s| s.message().to_string())
        };
        let status = tokio::time::timeout(Duration::from_millis(800), ask)
            .await
            .unwrap_or_else(|_| Err("did not answer within 800 ms".into()));
        (*id, addr.clone(), status)
    });
    let answers = futures::future::join_all(asks).await;
    let leader_last = answers.iter().find_map(|(_, _, s)| {
        s.as_ref()
            .ok()
            .filter(|s| s.role == "leader")
            .map(|s| s.last_log_index)
    });
    let nodes: Vec<Value> = answers
        .into_iter()
        .map(|(id, addr, status)| match status {
            Ok(s) => json!({"id": id, "api_addr": addr, "role": s.role, "term": s.term, "leader_id": s.leader_id,
                "last_log_index": s.last_log_index, "applied_index": s.applied_index,
                "lag": leader_last.map(|l| l.saturating_sub(s.applied_index)),
                "disk_free_mb": s.disk_free_bytes >> 20, "short_of_space": s.short_of_space}),
            Err(e) => json!({"id": id, "api_addr": addr, "role": "unreachable", "error": e}),
        })
        .collect();
    Json(json!({
        "node": ctx.id,
        "role": crate::cluster_service::role(metrics.state),
        "leader_id": metrics.current_leader,
        "epoch": ctx.reader.epoch(),
        "running_executions": ctx.reader.running_executions(),
        "insecure": !ctx.security.is_tls(),
        "nodes": nodes,
        "alarms": ctx.reader.alarms().unwrap_or_default().into_iter()
            .map(|a| json!({"node": a.node, "kind": a.kind.as_str(), "detail": a.detail, "since_ms": a.since_ms}))
            .collect::<Vec<_>>(),
    }))
    .into_response()
}

pub async fn state_machines(
    State(ctx): State<NodeContext>,
    Extension(caller): Extension<Caller>,
) -> Response {
    match reads::state_machines(ctx.reader.db()) {
        Ok(list) => Json(
            list.into_iter()
                .filter(|(meta, _)| caller.sees_state_machine(&meta.name))
                .map(|(meta, v)| json!({"name": meta.name, "latest": meta.latest, "description": v.description, "created_ms": v.created_ms}))
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
pub struct VersionQuery {
    #[serde(default)]
    version: u32,
}

/// A definition with its versions and its layout for drawing.
pub async fn state_machine(
    State(ctx): State<NodeContext>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(q): Query<VersionQuery>,
) -> Response {
    if let Err(status) = caller.check_state_machine(&name) {
        return super::status_response(&status);
    }
    match definition(&ctx, &name, q.version) {
        Ok(value) => Json(value).into_response(),
        Err((status, message)) => error(status, message),
    }
}

/// One version of a state machine with its layout, or the error (status and message).
fn definition(ctx: &NodeContext, name: &str, version: u32) -> Result<Value, (StatusCode, String)> {
    let (meta, record) = match reads::state_machine(ctx.reader.db(), name, version) {
        Ok(Some(pair)) => pair,
        Ok(None) => {
            return Err((
                StatusCode::NOT_FOUND,
                format!("state machine `{name}` version {version} does not exist"),
            ))
        }
        Err(e) => return Err((StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
    };
    let layout = match raftflow_core::parse_definition(&record.definition) {
        Ok(def) => serde_json::to_value(raftflow_core::layout::layout(&def)).unwrap_or(Value::Null),
        Err(e) => {
            return Err((
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("stored definition does not parse: {e:?}"),
            ))
        }
    };
    Ok(
        json!({"name": meta.name, "latest": meta.latest, "version": record.version, "description": record.description,
        "definition": record.definition, "created_ms": record.created_ms, "layout": layout}),
    )
}

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    state_machine: String,
    #[serde(default)]
    status: String,
    /// Part of the execution name.
    #[serde(default)]
    name: String,
    #[serde(default)]
    page_token: Option<String>,
    #[serde(default)]
    page_size: Option<usize>,
    /// Started at or after this time (ms since the epoch).
    #[serde(default)]
    from_ms: Option<u64>,
    /// Started before this time.
    #[serde(default)]
    to_ms: Option<u64>,
}

impl ListQuery {
    fn started_within(&self, start_ms: u64) -> bool {
        self.from_ms.is_none_or(|from| start_ms >= from)
            && self.to_ms.is_none_or(|to| start_ms < to)
    }
}

/// Newest first. A name or time filter scans at most 20 store pages per
/// request and hands back a token to continue from.
pub async fn executions(
    State(ctx): State<NodeContext>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ListQuery>,
) -> Response {
    let page_size = q.page_size.unwrap_or(50).clamp(1, 500);
    let mut token = q.page_token.clone().filter(|t| !t.is_empty());
    let mut items = Vec::new();
    let status = match crate::limits::status_filter(&q.status) {
        Ok(status) => status,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    for _ in 0..20 {
        let page = match reads::executions(
            ctx.reader.db(),
            &q.state_machine,
            status,
            page_size,
            token.as_deref(),
        ) {
            Ok(page) => page,
            Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
        };
        items.extend(
            page.items
                .into_iter()
                .filter(|r| q.name.is_empty() || r.name.contains(&q.name))
                .filter(|r| q.started_within(r.start_ms))
                .filter(|r| caller.sees_state_machine(&r.state_machine)),
        );
        token = page.next;
        if items.len() >= page_size || token.is_none() {
            break;
        }
    }
    items.truncate(page_size);
    Json(json!({"executions": items, "next_page_token": token})).into_response()
}

/// One execution: its record, its history and its state machine's layout.
pub async fn execution(
    State(ctx): State<NodeContext>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    if let Err(status) = caller.check_execution(&id) {
        return super::status_response(&status);
    }
    let record = match reads::execution(ctx.reader.db(), &id) {
        Ok(Some(r)) => r,
        Ok(None) => {
            return error(
                StatusCode::NOT_FOUND,
                format!("execution `{id}` does not exist (or was purged)"),
            )
        }
        Err(e) => return internal(e),
    };
    let history = match reads::history(ctx.reader.db(), &id, None, HISTORY_LIMIT, false) {
        Ok(page) => page,
        Err(e) => return internal(e),
    };
    let events: Vec<Value> = history
        .items
        .iter()
        .map(|e| {
            let details: Value = serde_json::from_str(&e.details).unwrap_or(Value::Null);
            json!({"id": e.id, "previous_id": e.previous_id, "timestamp_ms": e.timestamp_ms, "type": e.kind, "details": details})
        })
        .collect();
    // A deleted state machine leaves its executions without a graph.
    let definition = definition(&ctx, &record.state_machine, record.version).unwrap_or(Value::Null);
    Json(json!({"execution": record, "events": events, "history_truncated": history.next.is_some(), "state_machine": definition}))
        .into_response()
}

/// Stops a running execution through the leader. The caller's credential
/// (bearer token or session) goes with the call: the leader checks the
/// caller, not this node.
pub async fn stop(
    State(ctx): State<NodeContext>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    let request = StopExecutionRequest {
        execution_id: id,
        error: "Console.Stopped".into(),
        cause: format!("stopped from the console of node {}", ctx.id),
    };
    let call = |channel, request| async move {
        WorkflowServiceClient::new(channel)
            .stop_execution(request)
            .await
            .map(|_| ())
    };
    match on_leader(&ctx, &headers, Permission::StopExecutions, request, call).await {
        Ok(()) => Json(json!({"stopped": true})).into_response(),
        Err(refused) => *refused,
    }
}

/// Makes a change on the leader over gRPC for a console caller who holds
/// `permission`, with the page's CSRF token checked; the caller's bearer
/// token or session goes with the call, so the leader checks the caller.
pub(crate) async fn on_leader<T, R, F, Fut>(
    ctx: &NodeContext,
    headers: &axum::http::HeaderMap,
    permission: Permission,
    message: T,
    call: F,
) -> Result<R, Box<Response>>
where
    F: FnOnce(tonic::transport::Channel, tonic::Request<T>) -> Fut,
    Fut: std::future::Future<Output = Result<R, tonic::Status>>,
{
    let access = super::session::access(ctx, headers, permission)?;
    super::session::check_csrf(ctx, headers, &access)?;
    let unavailable = |m: String| Box::new(error(StatusCode::SERVICE_UNAVAILABLE, m));
    let Some((leader, addr)) = ctx.leader() else {
        return Err(unavailable(
            "the cluster has no leader right now; try again in a moment".into(),
        ));
    };
    let addr = addr.ok_or_else(|| unavailable(format!("leader {leader} has no known address")))?;
    let mut request = tonic::Request::new(message);
    let authorization = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| tonic::metadata::MetadataValue::try_from(v.as_bytes()).ok());
    if let Some(value) = authorization {
        request.metadata_mut().insert("authorization", value);
    } else if let Some(value) = access
        .session
        .as_deref()
        .and_then(|s| tonic::metadata::MetadataValue::try_from(s).ok())
    {
        request
            .metadata_mut()
            .insert(crate::auth::session::METADATA, value);
    }
    let made = async {
        let channel =
            crate::tls::peer_channel(&ctx.security, leader, &addr, Duration::from_secs(10))
                .await
                .map_err(tonic::Status::unavailable)?;
        call(channel, request).await
    };
    match tokio::time::timeout(Duration::from_secs(10), made).await {
        Ok(Ok(reply)) => Ok(reply),
        Ok(Err(status)) => Err(Box::new(super::status_response(&status))),
        Err(_) => Err(Box::new(error(
            StatusCode::GATEWAY_TIMEOUT,
            "the leader did not answer within 10 s",
        ))),
    }
}
