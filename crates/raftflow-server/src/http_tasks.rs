//! HTTP Tasks, the leader's side: an in-process worker that takes the
//! attempts queued under the activity `:http` exactly as a pulled task is
//! taken (the hand-out is committed, with this epoch, before the call is
//! made), calls the endpoint through the outbound caller, and reports the
//! result with the same fenced commands a worker uses.
//!
//! ```text
//!  takeover ──▶ attempts handed out under older epochs ──▶ TaskFailed(States.Http.Socket) at once
//!  loop: poll `:http` ──▶ TaskDispatched(epoch) ──▶ host queue, pool ──▶ call (≤ 60 s) ──▶ TaskCompleted / TaskFailed
//! ```
//! A new leader cannot know whether a call in flight under the old one
//! reached the endpoint: it ends those attempts at once as "may have run"
//! (a `States.Http.Socket` failure that counts as an attempt) and the
//! state's Retry decides. Each request carries `Idempotency-Key:
//! <execution>/<state>@<entered time>`, the same for every retry of one
//! state entry, so an endpoint can tell a repeated call.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use raftflow_core::eval::Failure;
use raftflow_core::http_task;
use raftflow_store::workflow::records::TaskEntry;
use raftflow_store::Command;
use serde_json::Value;

use crate::connections::attach;
use crate::node::NodeContext;
use crate::outbound::caller::{CallError, Request};
use crate::outbound::pool::Pool;

/// Attempts taken and not yet reported, at most, per call the pool makes
/// at once: the queues behind busy hosts.
const TAKEN_PER_CALL: usize = 16;
/// Poll loops taking attempts at once, at most.
const MAX_TAKERS: usize = 16;
/// The worker name hand-outs record.
const WORKER: &str = "raftflow-http";

/// Takes and calls HTTP Tasks while this node leads under `epoch`.
pub async fn run(ctx: NodeContext, epoch: u64) {
    end_older_attempts(&ctx, epoch).await;
    let limits = &ctx.config.outbound;
    let pool = Arc::new(Pool::new(limits.max_calls, limits.max_calls_per_host));
    let slots = Arc::new(tokio::sync::Semaphore::new(
        limits.max_calls.saturating_mul(TAKEN_PER_CALL),
    ));
    // Hand-outs are commits: several polls at once share log entries, as
    // many workers' polls do, where one loop would wait a commit per task.
    let takers: Vec<_> = (0..limits.max_calls.min(MAX_TAKERS))
        .map(|_| tokio::spawn(take(ctx.clone(), epoch, pool.clone(), slots.clone())))
        .collect();
    for taker in takers {
        let _ = taker.await;
    }
}

/// One poll loop: takes an attempt when the queue behind the pool has room.
async fn take(ctx: NodeContext, epoch: u64, pool: Arc<Pool>, slots: Arc<Semaphore>) {
    let activities = [http_task::ACTIVITY.to_string()];
    while ctx.scheduler.epoch() == Some(epoch) && !*ctx.stopping.borrow() {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let polled = ctx
            .scheduler
            .poll(&ctx, (&activities, WORKER, None), Duration::from_secs(1))
            .await;
        match polled {
            Ok(Some(d)) => {
                let ctx = ctx.clone();
                let pool = pool.clone();
                tokio::spawn(async move {
                    call_and_report(&ctx, &pool, d.task, d.epoch).await;
                    drop(slot);
                });
            }
            Ok(None) => {}
            Err(e) => {
                tracing::debug!("HTTP Task poll: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// The takeover rule: attempts an older leader handed to its caller end now.
async fn end_older_attempts(ctx: &NodeContext, epoch: u64) {
    let reader = ctx.reader.clone();
    let open = tokio::task::spawn_blocking(move || {
        raftflow_store::workflow::reads::open_tasks(reader.db())
    })
    .await;
    let Ok(Ok(open)) = open else {
        tracing::error!("cannot read the open HTTP Tasks at takeover");
        return;
    };
    for task in open {
        let older = task.dispatched.as_ref().is_some_and(|d| d.epoch < epoch);
        // A callback's endpoint may hold its token: its timeout decides.
        if task.activity == http_task::ACTIVITY && older && !task.wait_for_token {
            let failure = http_task::socket(
                "the leader that made this call changed before it answered; the call may have run",
            );
            let dispatched = task.dispatched.as_ref().map(|d| d.epoch);
            let taken_over = &ctx.metrics.http.taken_over;
            taken_over.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            report(ctx, &task.token, dispatched, Err(failure)).await;
        }
    }
}

/// One attempt to its report; dropped when the node stops (the next
/// leader ends the attempt as "may have run"). A callback's 2xx answer
/// reports nothing: the endpoint reports with the token it was sent.
async fn call_and_report(ctx: &NodeContext, pool: &Pool, task: TaskEntry, epoch: u64) {
    let mut stopping = ctx.stopping.clone();
    tokio::select! {
        outcome = call(ctx, pool, &task) => match outcome {
            Ok(_) if task.wait_for_token => {}
            Err(Cut::PastTimeout) => {} // the state's own timer says States.Timeout
            Ok(result) => report(ctx, &task.token, Some(epoch), Ok(result)).await,
            Err(Cut::Failed(f)) => report(ctx, &task.token, Some(epoch), Err(f)).await,
        },
        _ = async move { stopping.wait_for(|s| *s).await.map(|_| ()) } => {}
    }
}

/// Why a call brought back no result.
enum Cut {
    /// The attempt fails with this.
    Failed(Failure),
    /// The state's TimeoutSeconds passed: its timer ends the attempt with
    /// States.Timeout, as Step Functions does; the call only stops here.
    PastTimeout,
}

impl From<Failure> for Cut {
    fn from(f: Failure) -> Self {
        Cut::Failed(f)
    }
}

/// One attempt: the request the parameters describe, made and answered.
async fn call(ctx: &NodeContext, pool: &Pool, task: &TaskEntry) -> Result<Value, Cut> {
    let input: Value = serde_json::from_str(&task.input)
        .map_err(|e| Failure::new("States.Runtime", format!("the HTTP Task's input: {e}")))?;
    let attempt = Attempt {
        execution_id: &task.execution_id,
        number: task.attempt,
        callback_token: task.wait_for_token.then_some(task.token.as_str()),
        max_response_bytes: ctx.config.scheduler.max_payload_bytes,
    };
    let (mut request, connection) = request_for(&input, &attempt)?;
    // The endpoint is the task's worker: it runs in the execution's trace,
    // unless the state's own headers name one.
    let trace = crate::telemetry::hand_outs::hand_out(ctx, task);
    let named = request
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("traceparent"));
    if !trace.is_empty() && !named {
        request.headers.push(("traceparent".into(), trace));
    }
    if let Some(name) = &connection {
        let (kind, secret) = attach::credentials(ctx, name).await?;
        request.client_auth = attach::attach(&kind, &secret, &mut request.headers)?;
    }
    let host = request.url.host().unwrap_or_default().to_ascii_lowercase();
    let _permits = pool.acquire(&host).await;
    let own_timeout = http_task::cut_at_own_timeout(&input);
    let started = std::time::Instant::now();
    let response = ctx.outbound.call(&request).await;
    let metrics = &ctx.metrics.http;
    metrics.duration.observe_s(started.elapsed().as_secs_f64());
    match response {
        Err(CallError::Timeout(_)) if own_timeout => {
            metrics
                .cut
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Err(Cut::PastTimeout)
        }
        response => {
            metrics.count(&response);
            Ok(answer(response)?)
        }
    }
}

/// What an attempt's request carries besides its parameters.
pub struct Attempt<'a> {
    pub execution_id: &'a str,
    /// Its number within the state entry (1 for the first).
    pub number: u32,
    /// A callback's token, sent along.
    pub callback_token: Option<&'a str>,
    pub max_response_bytes: usize,
}

/// The request an HTTP Task's input (`{Parameters, Entry}`) describes, and
/// the connection its credentials are to come from (not added here).
pub fn request_for(
    input: &Value,
    attempt: &Attempt<'_>,
) -> Result<(Request, Option<String>), Failure> {
    let runtime = |cause: String| Failure::new("States.Runtime", cause);
    let invoke = http_task::request(&input["Parameters"])?;
    let url = invoke
        .url
        .parse::<http::Uri>()
        .map_err(|e| runtime(format!("ApiEndpoint `{}`: {e}", invoke.url)))?;
    let method =
        http::Method::from_bytes(invoke.method.as_bytes()).map_err(|e| runtime(e.to_string()))?;
    let entry = input["Entry"].as_str().unwrap_or_default();
    let mut headers = invoke.headers;
    let key = format!("{}/{entry}", attempt.execution_id);
    headers.push(("Idempotency-Key".into(), key));
    headers.push(("X-Raftflow-Attempt".into(), attempt.number.to_string()));
    if let Some(token) = attempt.callback_token {
        headers.push((http_task::TASK_TOKEN_HEADER.into(), token.to_string()));
    }
    let request = Request {
        method,
        url,
        headers,
        body: invoke.body.unwrap_or_default(),
        timeout_ms: http_task::call_timeout_ms(input),
        max_response_bytes: attempt.max_response_bytes,
        client_auth: None,
    };
    Ok((request, invoke.connection))
}

/// The task's result or error for what the call brought back.
pub fn answer(
    response: Result<crate::outbound::caller::Response, CallError>,
) -> Result<Value, Failure> {
    match response {
        Ok(r) => http_task::outcome(r.status, &r.reason, &r.headers, &r.body),
        Err(e) => Err(http_task::socket(e.to_string())),
    }
}

/// Reports an attempt's end as a worker would; a refused report (the
/// attempt already ended: timed out, stopped) changes nothing.
async fn report(
    ctx: &NodeContext,
    token: &str,
    epoch: Option<u64>,
    outcome: Result<Value, Failure>,
) {
    let now_ms = ctx.stamp_ms();
    let command = match outcome {
        Ok(output) => Command::TaskCompleted {
            token: token.to_string(),
            epoch,
            output: output.to_string(),
            now_ms,
            seed: rand::random(),
        },
        Err(f) => Command::TaskFailed {
            token: token.to_string(),
            epoch,
            error: f.error,
            cause: cut(f.cause),
            now_ms,
            seed: rand::random(),
        },
    };
    if let Err(e) = ctx.proposer.propose(command).await {
        tracing::debug!("HTTP Task report not applied: {e}");
    }
}

/// A cause within the bound the API holds workers' causes to.
fn cut(mut cause: String) -> String {
    let max = crate::limits::MAX_CAUSE_CHARS;
    if cause.chars().count() > max {
        cause = cause.chars().take(max).collect();
    }
    cause
}
