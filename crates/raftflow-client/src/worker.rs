//! The worker SDK: handlers per activity, bounded concurrency, automatic
//! heartbeats and a graceful shutdown that finishes the tasks in hand.
//!
//! ```text
//!  pollers (≤ concurrency) ──PollTask──▶ leader ──task──▶ handler(task)
//!                                                  │ heartbeat every heartbeat/3
//!                                                  └─▶ CompleteTask / FailTask (+ next)
//!                                                        └─ next task in the reply? run it, no poll
//! ```
//! A report asks for the slot's next task: the leader hands it out in the
//! same log entry as the report, so a busy worker needs one commit per task
//! instead of two (report, then poll's hand-out).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use raftflow_proto::v1::worker_service_client::WorkerServiceClient;
use raftflow_proto::v1::*;
use tokio::sync::{watch, Semaphore};

use crate::{Client, ClientError};

/// A task as a handler sees it.
#[derive(Debug, Clone)]
pub struct Task {
    pub token: String,
    pub activity: String,
    /// JSON text.
    pub input: String,
    pub execution_id: String,
    pub attempt: u32,
    pub heartbeat_ms: u64,
    /// A `.waitForTaskToken` task: the worker's success is not reported; the
    /// task ends when someone reports the callback token from its input.
    pub callback: bool,
    /// When the task became ready on the leader (µs since the Unix epoch,
    /// the leader's clock; see `PollTaskReply.ready_at_us`).
    pub ready_at_us: u64,
    /// The W3C traceparent the task runs in (`PollTaskReply.traceparent`);
    /// empty when its execution has none. The worker makes its reports, and
    /// the handler's own calls through this client, in it.
    pub trace_parent: String,
}

/// A handler's failure: reported as the task's error and cause, which the
/// state's Retry and Catch match on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskError {
    pub error: String,
    pub cause: String,
}

impl TaskError {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            cause: cause.into(),
        }
    }
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<String, TaskError>> + Send>>;
type Handler = Arc<dyn Fn(Task) -> BoxFuture + Send + Sync>;

pub struct Worker {
    client: Arc<Client>,
    identity: String,
    concurrency: usize,
    poll_timeout: Duration,
    handlers: BTreeMap<String, Handler>,
}

fn worker_client(channel: crate::Conn) -> WorkerServiceClient<crate::Conn> {
    WorkerServiceClient::new(channel)
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20)
}

/// A new poll id: a random UUID. A poll retried under the same id after
/// its reply was lost gets the same task back (apply version 5 on).
pub fn new_poll_id() -> String {
    raftflow_core::eval::Random::new(rand::random()).uuid()
}

impl Client {
    /// Long-polls under a new poll id (see `poll_task_with_id`).
    pub async fn poll_task(
        &self,
        activities: &[String],
        worker: &str,
        timeout_ms: u32,
    ) -> Result<Option<Task>, ClientError> {
        self.poll_task_with_id(&new_poll_id(), activities, worker, timeout_ms)
            .await
    }

    /// Long-polls for a task under `poll_id`. Retried here, after a lost
    /// reply or on the next leader in a failover, always under the same id:
    /// a try whose reply was lost may have taken a task, and the retry gets
    /// that very task back instead of leaving it to its lease. A caller that
    /// gets an error and polls again should pass the same id; after any
    /// answer, a new one.
    pub async fn poll_task_with_id(
        &self,
        poll_id: &str,
        activities: &[String],
        worker: &str,
        timeout_ms: u32,
    ) -> Result<Option<Task>, ClientError> {
        let req = PollTaskRequest {
            activities: activities.to_vec(),
            worker: worker.into(),
            timeout_ms,
            poll_id: poll_id.into(),
        };
        let reply = self
            .on_leader(true, |ch| {
                let req = req.clone();
                async move {
                    worker_client(ch)
                        .poll_task(req)
                        .await
                        .map(|r| r.into_inner())
                }
            })
            .await?;
        Ok(task_from(reply))
    }

    /// Withdraws the poll `poll_id`, whose call the caller abandoned (a
    /// worker that stops): a task already handed out to it goes back at
    /// once as a new attempt (not counted against MaxAttempts), and a
    /// hand-out still on its way is refused. Returns whether a task went
    /// back. Safe to retry. Needs apply version 5 (`FAILED_PRECONDITION`
    /// before: then the caller must let the poll end instead).
    pub async fn withdraw_poll(&self, poll_id: &str) -> Result<bool, ClientError> {
        let req = WithdrawPollRequest {
            poll_id: poll_id.into(),
        };
        self.on_leader(true, |ch| {
            let req = req.clone();
            async move {
                let reply = worker_client(ch).withdraw_poll(req).await?;
                Ok(reply.into_inner().returned)
            }
        })
        .await
    }

    /// Reports success. Safe to retry: a repeat of the same report (same
    /// token and output) whose reply was lost is acknowledged as already
    /// applied and changes nothing (apply version 4 on; before, it was
    /// refused as TaskTimedOut, also changing nothing).
    pub async fn complete_task(&self, token: &str, output: &str) -> Result<(), ClientError> {
        self.complete_task_and_take(token, output, None)
            .await
            .map(|_| ())
    }

    /// Reports success and, with `next`, takes the oldest ready task of
    /// those activities in the same commit (`None`: nothing was ready).
    /// The request names a new poll id for that task, kept across this
    /// call's retries: a retry after a lost reply gets the task its first
    /// try took (and `already_applied`).
    pub async fn complete_task_and_take(
        &self,
        token: &str,
        output: &str,
        next: Option<NextTask<'_>>,
    ) -> Result<Reported, ClientError> {
        let req = CompleteTaskRequest {
            token: token.into(),
            output: output.into(),
            next: next.map(NextTask::request),
        };
        let reply = self
            .on_leader(true, |ch| {
                let req = req.clone();
                async move {
                    let reply = worker_client(ch).complete_task(req).await?.into_inner();
                    Ok((reply.next, reply.already_applied))
                }
            })
            .await?;
        Ok(Reported {
            next: reply.0.and_then(task_from),
            already_applied: reply.1,
        })
    }

    pub async fn fail_task(
        &self,
        token: &str,
        error: &str,
        cause: &str,
    ) -> Result<(), ClientError> {
        self.fail_task_and_take(token, error, cause, None)
            .await
            .map(|_| ())
    }

    /// Reports failure and, with `next`, takes the next task (as
    /// `complete_task_and_take`).
    pub async fn fail_task_and_take(
        &self,
        token: &str,
        error: &str,
        cause: &str,
        next: Option<NextTask<'_>>,
    ) -> Result<Reported, ClientError> {
        let req = FailTaskRequest {
            token: token.into(),
            error: error.into(),
            cause: cause.into(),
            next: next.map(NextTask::request),
        };
        let reply = self
            .on_leader(true, |ch| {
                let req = req.clone();
                async move {
                    let reply = worker_client(ch).fail_task(req).await?.into_inner();
                    Ok((reply.next, reply.already_applied))
                }
            })
            .await?;
        Ok(Reported {
            next: reply.0.and_then(task_from),
            already_applied: reply.1,
        })
    }

    pub async fn heartbeat_task(&self, token: &str) -> Result<(), ClientError> {
        let req = HeartbeatTaskRequest {
            token: token.into(),
        };
        self.on_leader(true, |ch| {
            let req = req.clone();
            async move { worker_client(ch).heartbeat_task(req).await.map(|_| ()) }
        })
        .await
    }
}

/// What the cluster answered a report.
#[derive(Debug, Default)]
pub struct Reported {
    /// The next task, when the report asked for one and one was ready.
    pub next: Option<Task>,
    /// This very report had already ended the attempt and its earlier reply
    /// was lost: nothing changed now. Success, all the same.
    pub already_applied: bool,
}

/// What a report asks for besides itself: the worker's next task.
#[derive(Debug, Clone, Copy)]
pub struct NextTask<'a> {
    pub activities: &'a [String],
    pub worker: &'a str,
    /// The poll id for the next task; `None`: a new one for this call (kept
    /// across its retries). A caller that repeats the report after an error
    /// passes the same id, so the repeat gets the task the first try took.
    pub poll_id: Option<&'a str>,
}

impl NextTask<'_> {
    fn request(self) -> PollTaskRequest {
        PollTaskRequest {
            activities: self.activities.to_vec(),
            worker: self.worker.into(),
            timeout_ms: 0,
            poll_id: self.poll_id.map_or_else(new_poll_id, str::to_string),
        }
    }
}

/// An empty token means no task.
fn task_from(reply: PollTaskReply) -> Option<Task> {
    (!reply.token.is_empty()).then_some(Task {
        token: reply.token,
        activity: reply.activity,
        input: reply.input,
        execution_id: reply.execution_id,
        attempt: reply.attempt,
        heartbeat_ms: reply.heartbeat_ms,
        callback: reply.callback,
        ready_at_us: reply.ready_at_us,
        trace_parent: reply.traceparent,
    })
}

impl Worker {
    pub fn new(client: Arc<Client>, identity: impl Into<String>) -> Self {
        Self {
            client,
            identity: identity.into(),
            concurrency: 4,
            poll_timeout: Duration::from_secs(10),
            handlers: BTreeMap::new(),
        }
    }

    pub fn concurrency(mut self, n: usize) -> Self {
        assert!(n > 0, "concurrency must be positive");
        self.concurrency = n;
        self
    }

    pub fn poll_timeout(mut self, timeout: Duration) -> Self {
        self.poll_timeout = timeout;
        self
    }

    /// Registers the handler of one activity: it gets the task and returns
    /// its output as JSON text, or a `TaskError`.
    pub fn handle<F, Fut>(mut self, activity: impl Into<String>, handler: F) -> Self
    where
        F: Fn(Task) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, TaskError>> + Send + 'static,
    {
        self.handlers.insert(
            activity.into(),
            Arc::new(move |task| Box::pin(handler(task)) as BoxFuture),
        );
        self
    }

    /// Polls and runs tasks until `shutdown` resolves, then stops polling —
    /// withdrawing the polls in flight, so an idle worker returns at once —
    /// and waits for the tasks in hand to finish and be reported.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let activities: Vec<String> = self.handlers.keys().cloned().collect();
        let slots = Arc::new(Semaphore::new(self.concurrency));
        let (stop_tx, stop_rx) = watch::channel(false);
        let this = Arc::new(self);
        let mut pollers = Vec::new();
        for i in 0..this.concurrency {
            let (this, activities, slots, stop) = (
                this.clone(),
                activities.clone(),
                slots.clone(),
                stop_rx.clone(),
            );
            pollers.push(tokio::spawn(async move {
                let mut poll_id = new_poll_id();
                loop {
                    if *stop.borrow() {
                        return;
                    }
                    let Ok(permit) = slots.clone().acquire_owned().await else {
                        return;
                    };
                    let identity = format!("{}/{i}", this.identity);
                    let Some(polled) = this
                        .poll_until_stopped(&poll_id, &activities, &identity, stop.clone())
                        .await
                    else {
                        return; // withdrawn: nothing was left in our name
                    };
                    if polled.is_ok() {
                        // Answered: the next poll is a new one. After an
                        // error it is the same poll, retried.
                        poll_id = new_poll_id();
                    }
                    match polled {
                        Ok(Some(task)) => {
                            // Each report takes the next task while we run.
                            let mut task = Some(task);
                            while let Some(t) = task {
                                let want_next = !*stop.borrow();
                                let next = want_next.then_some(NextTask {
                                    activities: &activities,
                                    worker: &identity,
                                    poll_id: None,
                                });
                                task = this.execute(t, next).await;
                            }
                        }
                        Ok(None) => {}
                        // A refused token is not mended by retrying soon.
                        Err(e) if e.is_auth_refusal() => {
                            tracing::warn!(
                                "the cluster refused this worker's poll: {e}; retrying in 5 s"
                            );
                            tokio::time::sleep(Duration::from_secs(5)).await;
                        }
                        Err(e) => {
                            tracing::debug!("poll failed: {e}");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                    drop(permit);
                }
            }));
        }
        shutdown.await;
        let _ = stop_tx.send(true);
        for p in pollers {
            let _ = p.await;
        }
    }

    /// Polls under `poll_id` until answered, or until `stop` turns true:
    /// then the poll is withdrawn (`None`), so an idle worker leaves at once
    /// and no task is left handed out to it. Where the cluster cannot
    /// withdraw (before apply version 5), the poll is waited for, since the
    /// leader may already have recorded a task for it.
    async fn poll_until_stopped(
        &self,
        poll_id: &str,
        activities: &[String],
        identity: &str,
        mut stop: watch::Receiver<bool>,
    ) -> Option<Result<Option<Task>, ClientError>> {
        let timeout_ms = self.poll_timeout.as_millis() as u32;
        let poll = self
            .client
            .poll_task_with_id(poll_id, activities, identity, timeout_ms);
        tokio::pin!(poll);
        tokio::select! {
            polled = &mut poll => return Some(polled),
            _ = stop.wait_for(|stopped| *stopped) => {}
        }
        match self.client.withdraw_poll(poll_id).await {
            Ok(returned) => {
                tracing::debug!(returned, "poll withdrawn at shutdown");
                None
            }
            Err(e) => {
                tracing::debug!("the poll could not be withdrawn ({e}); waiting for it");
                Some(poll.await)
            }
        }
    }

    /// Runs `task` and reports it in the task's trace; returns the next
    /// task if the report took one.
    async fn execute(&self, task: Task, next: Option<NextTask<'_>>) -> Option<Task> {
        let trace = task.trace_parent.clone();
        crate::trace::in_trace(trace, self.execute_in_trace(task, next)).await
    }

    async fn execute_in_trace(&self, task: Task, next: Option<NextTask<'_>>) -> Option<Task> {
        let Some(handler) = self.handlers.get(&task.activity).cloned() else {
            let _ = self
                .client
                .fail_task(
                    &task.token,
                    "Worker.NoHandler",
                    &format!("no handler for {}", task.activity),
                )
                .await;
            return None;
        };
        let token = task.token.clone();
        let callback = task.callback;
        let beat_every =
            (task.heartbeat_ms > 0).then(|| Duration::from_millis((task.heartbeat_ms / 3).max(50)));
        let work = handler(task);
        tokio::pin!(work);
        let result = loop {
            match beat_every {
                Some(every) => tokio::select! {
                    r = &mut work => break r,
                    _ = tokio::time::sleep(every) => {
                        if let Err(e) = self.client.heartbeat_task(&token).await {
                            tracing::debug!("heartbeat failed: {e}");
                        }
                    }
                },
                None => break (&mut work).await,
            }
        };
        let report = match result {
            Ok(_) if callback => Ok(None),
            Ok(output) => self
                .client
                .complete_task_and_take(&token, &output, next)
                .await
                .map(|r| r.next),
            Err(e) => self
                .client
                .fail_task_and_take(&token, &e.error, &e.cause, next)
                .await
                .map(|r| r.next),
        };
        report.unwrap_or_else(|e| {
            tracing::warn!(
                "reporting task {} failed: {e}",
                raftflow_core::task_token::redact(&token)
            );
            None
        })
    }
}
