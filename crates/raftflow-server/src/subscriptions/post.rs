//! One event POSTed: rendered from the execution's record, signed, sent
//! with the subscription's connection credentials under the leader's
//! `[outbound]` rules. A 2xx answer delivers it; anything else is a
//! failure whose text is kept with the event.

use std::sync::Arc;

use raftflow_store::subscriptions::{cloud_event, OutboxEvent, Subscription};

use super::sign;
use crate::node::NodeContext;
use crate::outbound::caller::{ClientAuth, Request};
use crate::outbound::pool::Pool;

/// A receiver's answer is given this long.
pub const DELIVERY_TIMEOUT_MS: u64 = 10_000;
/// A receiver's answer body is read up to this (and dropped).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// What every POST of one delivery round shares.
pub struct Round {
    pub sub: Subscription,
    pub secret: Vec<u8>,
    pub headers: Vec<(String, String)>,
    pub client_auth: Option<Arc<ClientAuth>>,
}

/// POSTs `event`; `Err` says why it was not delivered.
pub async fn post(
    ctx: &NodeContext,
    pool: &Pool,
    round: &Round,
    event: &OutboxEvent,
) -> Result<(), String> {
    let record = read_record(ctx, &event.execution_id).await?;
    let body = cloud_event(&round.sub.def.source, event, record.as_ref()).into_bytes();
    let url: http::Uri = round
        .sub
        .def
        .url
        .parse()
        .map_err(|e| format!("the URL: {e}"))?;
    let unix_s = ctx.clock.now_ms() / 1000;
    let mut headers = round.headers.clone();
    headers.extend([
        ("Content-Type".into(), "application/cloudevents+json".into()),
        (
            sign::SIGNATURE_HEADER.into(),
            sign::signature(&round.secret, unix_s, &body),
        ),
        (
            "Idempotency-Key".into(),
            format!("{}/{}", event.execution_id, event.change.as_str()),
        ),
        (
            "X-Raftflow-Attempt".into(),
            event.attempts.saturating_add(1).to_string(),
        ),
    ]);
    let request = Request {
        method: http::Method::POST,
        url,
        headers,
        body,
        timeout_ms: DELIVERY_TIMEOUT_MS,
        max_response_bytes: MAX_ANSWER_BYTES,
        client_auth: round.client_auth.clone(),
    };
    let host = request.url.host().unwrap_or_default().to_ascii_lowercase();
    let _permits = pool.acquire(&host).await;
    match ctx.outbound.call(&request).await {
        Ok(r) if (200..300).contains(&r.status) => Ok(()),
        Ok(r) => Err(format!("answered {} {}", r.status, r.reason)),
        Err(e) => Err(e.to_string()),
    }
}

async fn read_record(
    ctx: &NodeContext,
    id: &str,
) -> Result<Option<raftflow_store::workflow::records::ExecutionRecord>, String> {
    let reader = ctx.reader.clone();
    let id = id.to_string();
    tokio::task::spawn_blocking(move || {
        raftflow_store::workflow::reads::execution(reader.db(), &id)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("reading the execution: {e}"))
}
