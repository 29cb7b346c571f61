//! `WorkerService`: long-polling workers, and task reports from anyone
//! holding a token (workers, or callback handlers for `.waitForTaskToken`).
//!
//! A worker's token is `<attempt token>@<epoch>`: the attempt, fenced by the
//! leader epoch that handed it out. A callback token (`$$.Task.Token`) is the
//! attempt token alone.

use std::time::Duration;

use raftflow_proto::v1::worker_service_server::WorkerService;
use raftflow_proto::v1::*;
use raftflow_store::records::{Report, TaskEntry};
use raftflow_store::{Command, CommandResult, Reject};
use tonic::{Request, Response, Status};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::limits;
use crate::node::NodeContext;

pub struct WorkerServiceImpl {
    ctx: NodeContext,
}

impl WorkerServiceImpl {
    pub fn new(ctx: NodeContext) -> Self {
        Self { ctx }
    }

    /// Commits a report and, when the worker asks for its `next` task and
    /// this node drives, a `DispatchNext` in the same entry: the worker's
    /// next task comes back with the reply, after one commit.
    async fn report(
        &self,
        command: Command,
        next: Option<PollTaskRequest>,
    ) -> Result<Reported, ApiError> {
        let next = next.filter(|n| !n.activities.is_empty());
        let next_poll_id = match &next {
            Some(n) => crate::poll_id::checked(&self.ctx, &n.poll_id)?,
            None => None,
        };
        // What a repeated report's first try may have taken, readable even
        // while this node does not drive yet (a takeover in progress).
        let held_next = next_poll_id
            .clone()
            .zip(next.as_ref().map(|n| n.activities.clone()));
        let next = next.and_then(|n| Some((n, self.ctx.scheduler.epoch()?)));
        let report_ms = match &command {
            Command::TaskCompleted { now_ms, .. } | Command::TaskFailed { now_ms, .. } => *now_ms,
            _ => 0,
        };
        let refused_as = stale_as(&command);
        let mut commands = vec![command];
        if let Some((n, epoch)) = &next {
            commands.push(crate::poll_id::dispatch_next(
                (*epoch, &worker_name(&n.worker), self.ctx.stamp_ms()),
                &n.activities,
                next_poll_id.as_deref(),
            ));
        }
        let applied = self.ctx.proposer.propose_together(commands).await?;
        let mut results = applied.results.into_iter();
        match results.next() {
            Some(CommandResult::Accepted) => {}
            Some(CommandResult::Rejected {
                code: Reject::StaleToken,
                message,
            }) => {
                let (token, report) = refused_as;
                crate::stale_report::classify(
                    &self.ctx,
                    &token,
                    report.as_ref().map(StaleReport::as_report),
                    message,
                )
                .await?;
                tracing::debug!("a repeated report was acknowledged as already applied");
                // Its next task is the one its first try took, if that try
                // named the same poll id (apply gave it back).
                let next = match (results.next(), next) {
                    (Some(CommandResult::Dispatched { task }), Some((_, epoch))) => {
                        crate::scheduler::count_recovered(&self.ctx);
                        let ready_at_us = task.scheduled_ms.saturating_mul(1000);
                        Some(self.handed_out(task, epoch, ready_at_us))
                    }
                    // No hand-out was proposed (this node does not drive
                    // yet): the first try's, from the applied state.
                    (None, None) => self.held_next(held_next)?,
                    _ => None,
                };
                return Ok(Reported {
                    next,
                    already_applied: true,
                });
            }
            Some(CommandResult::Rejected { code, message }) => {
                tracing::debug!(?code, "task report refused: {message}");
                return Err(ApiError::rejected(code, message));
            }
            other => return Err(ApiError::Internal(format!("unexpected result {other:?}"))),
        }
        match (results.next(), next) {
            (Some(CommandResult::Dispatched { task }), Some((_, epoch))) => {
                let ready_at_us =
                    self.ctx
                        .scheduler
                        .ready_at_us(&task, report_ms, applied.applied_at_us);
                Ok(Reported::next(Some(self.handed_out(
                    task,
                    epoch,
                    ready_at_us,
                ))))
            }
            // Nothing ready, or the epoch ended meanwhile: the worker polls.
            (None | Some(CommandResult::NothingReady | CommandResult::Rejected { .. }), _) => {
                Ok(Reported::next(None))
            }
            (other, _) => Err(ApiError::Internal(format!("unexpected result {other:?}"))),
        }
    }

    /// The reply for a task whose hand-out is committed.
    /// The token carries the epoch the attempt was handed out in: the
    /// current one, or an earlier one for a poll retried after a failover.
    fn handed_out(&self, task: TaskEntry, epoch: u64, ready_at_us: u64) -> PollTaskReply {
        let epoch = task.dispatched.as_ref().map_or(epoch, |d| d.epoch);
        let waited_us = crate::clock::now_us().saturating_sub(ready_at_us);
        self.ctx
            .metrics
            .dispatch_latency
            .observe_s(waited_us as f64 / 1e6);
        let traceparent = crate::telemetry::hand_outs::hand_out(&self.ctx, &task);
        PollTaskReply {
            traceparent,
            token: format!("{}@{}", task.token, epoch),
            activity: task.activity,
            input: task.input,
            execution_id: task.execution_id,
            attempt: task.attempt,
            epoch,
            heartbeat_ms: task.heartbeat_ms.unwrap_or(0),
            callback: task.wait_for_token,
            ready_at_us,
        }
    }

    /// The task poll `poll_id` holds, as a hand-out reply (in the epoch that
    /// handed it out).
    fn held_next(
        &self,
        wanted: Option<(String, Vec<String>)>,
    ) -> Result<Option<PollTaskReply>, ApiError> {
        let Some((poll_id, activities)) = wanted else {
            return Ok(None);
        };
        let Some(task) = crate::poll_id::held(&self.ctx, &poll_id, &activities)? else {
            return Ok(None);
        };
        crate::scheduler::count_recovered(&self.ctx);
        let epoch = task.dispatched.as_ref().map_or(0, |d| d.epoch);
        let ready_at_us = task.scheduled_ms.saturating_mul(1000);
        Ok(Some(self.handed_out(task, epoch, ready_at_us)))
    }

    /// The deliberate defect `fault_injection.accept_any_attempt`: a report
    /// for an attempt that is no longer open goes to the execution's open
    /// attempt. Off by default; only the chaos checker's test turns it on.
    fn fault_retarget(&self, (token, epoch): (String, Option<u64>)) -> (String, Option<u64>) {
        if !self.ctx.config.fault_injection.accept_any_attempt() {
            return (token, epoch);
        }
        let Ok(open) = raftflow_store::workflow::reads::open_tasks(self.ctx.reader.db()) else {
            return (token, epoch);
        };
        if open.iter().any(|t| t.token == token) {
            return (token, epoch);
        }
        let execution = token.rsplit_once('#').map_or(token.as_str(), |(e, _)| e);
        match open.into_iter().find(|t| t.execution_id == execution) {
            Some(t) => (t.token, t.dispatched.map(|d| d.epoch).or(epoch)),
            None => (token, epoch),
        }
    }

    /// When the attempt was handed out, for the task duration histogram.
    /// Checks that `caller` may report the attempt `token` names, and
    /// returns when it was handed out (for the task duration metric).
    fn check_report(&self, caller: &Caller, token: &str) -> Result<Option<u64>, Status> {
        let task = raftflow_store::workflow::reads::task(self.ctx.reader.db(), token)
            .map_err(ApiError::from)?;
        self.ctx
            .auth
            .scoped(crate::auth::tasks::check_report(caller, task.as_ref()))?;
        Ok(task.and_then(|t| t.dispatched).map(|d| d.at_ms))
    }

    /// Checks a poll's activities (or a report's `next` poll) against the
    /// caller's scopes.
    fn check_poll_scope(
        &self,
        caller: &Caller,
        poll: Option<&PollTaskRequest>,
    ) -> Result<(), Status> {
        let Some(poll) = poll else {
            return Ok(());
        };
        self.ctx
            .auth
            .scoped(crate::auth::tasks::check_poll(caller, &poll.activities))
    }

    fn observe_duration(&self, handed_out_ms: Option<u64>) {
        if let Some(at) = handed_out_ms {
            // `at` is a log-time stamp: measure on the same clock.
            let ms = self.ctx.log_now_ms().saturating_sub(at);
            self.ctx.metrics.task_duration.observe_s(ms as f64 / 1000.0);
        }
    }

    fn check_payload(&self, what: &str, json: &str) -> Result<(), ApiError> {
        limits::json(what, json, self.ctx.config.scheduler.max_payload_bytes)
    }
}

/// A report's outcome: the next task, if asked for and ready.
struct Reported {
    next: Option<PollTaskReply>,
    already_applied: bool,
}

impl Reported {
    fn next(next: Option<PollTaskReply>) -> Self {
        Self {
            next,
            already_applied: false,
        }
    }
}

/// A report's content, kept to classify it if apply finds it stale.
enum StaleReport {
    Completed(String),
    Failed(String, String),
}

impl StaleReport {
    fn as_report(&self) -> Report<'_> {
        match self {
            StaleReport::Completed(output) => Report::Completed { output },
            StaleReport::Failed(error, cause) => Report::Failed { error, cause },
        }
    }
}

/// The attempt a report names, and what it reports (none for a heartbeat).
fn stale_as(command: &Command) -> (String, Option<StaleReport>) {
    match command {
        Command::TaskCompleted { token, output, .. } => {
            (token.clone(), Some(StaleReport::Completed(output.clone())))
        }
        Command::TaskFailed {
            token,
            error,
            cause,
            ..
        } => (
            token.clone(),
            Some(StaleReport::Failed(error.clone(), cause.clone())),
        ),
        Command::TaskHeartbeat { token, .. } => (token.clone(), None),
        _ => (String::new(), None),
    }
}

/// A poll, or the poll a report carries as `next`.
fn check_poll(req: &PollTaskRequest) -> Result<(), ApiError> {
    limits::activities(&req.activities)?;
    limits::text("the worker name", &req.worker, limits::MAX_NAME_CHARS)
}

fn worker_name(worker: &str) -> String {
    if worker.is_empty() {
        "anonymous".to_string()
    } else {
        worker.to_string()
    }
}

#[tonic::async_trait]
impl WorkerService for WorkerServiceImpl {
    async fn poll_task(
        &self,
        request: Request<PollTaskRequest>,
    ) -> Result<Response<PollTaskReply>, Status> {
        let caller = Caller::of(&request);
        let req = request.into_inner();
        check_poll(&req)?;
        self.check_poll_scope(&caller, Some(&req))?;
        let timeout_ms = if req.timeout_ms == 0 {
            self.ctx.config.scheduler.poll_timeout_ms
        } else {
            u64::from(req.timeout_ms)
        };
        let worker = worker_name(&req.worker);
        let poll_id = crate::poll_id::checked(&self.ctx, &req.poll_id)?;
        let polled = self
            .ctx
            .scheduler
            .poll(
                &self.ctx,
                (&req.activities, &worker, poll_id.as_deref()),
                Duration::from_millis(timeout_ms),
            )
            .await?;
        let Some(d) = polled else {
            return Ok(Response::new(PollTaskReply::default()));
        };
        if self.ctx.countdowns.drop_hand_out_reply() {
            return Err(Status::unavailable(
                "fault injection: the reply of this committed hand-out was dropped",
            ));
        }
        Ok(Response::new(self.handed_out(
            d.task,
            d.epoch,
            d.ready_at_us,
        )))
    }

    async fn complete_task(
        &self,
        request: Request<CompleteTaskRequest>,
    ) -> Result<Response<CompleteTaskReply>, Status> {
        let caller = Caller::of(&request);
        let req = request.into_inner();
        let (token, epoch) = self.fault_retarget(crate::task_tokens::parse(&self.ctx, &req.token)?);
        let output = if req.output.trim().is_empty() {
            "{}".to_string()
        } else {
            req.output
        };
        self.check_payload("output", &output)?;
        req.next.as_ref().map(check_poll).transpose()?;
        self.check_poll_scope(&caller, req.next.as_ref())?;
        let handed_out_ms = self.check_report(&caller, &token)?;
        let command = Command::TaskCompleted {
            token,
            epoch,
            output,
            now_ms: self.ctx.stamp_ms(),
            seed: rand::random(),
        };
        let reported = self.report(command, req.next).await?;
        self.observe_duration(handed_out_ms);
        if self.ctx.countdowns.drop_report_reply() {
            return Err(Status::unavailable(
                "fault injection: the reply of this committed report was dropped",
            ));
        }
        Ok(Response::new(CompleteTaskReply {
            next: reported.next,
            already_applied: reported.already_applied,
        }))
    }

    async fn fail_task(
        &self,
        request: Request<FailTaskRequest>,
    ) -> Result<Response<FailTaskReply>, Status> {
        let caller = Caller::of(&request);
        let req = request.into_inner();
        let (token, epoch) = self.fault_retarget(crate::task_tokens::parse(&self.ctx, &req.token)?);
        limits::text("the error", &req.error, limits::MAX_ERROR_CHARS)?;
        limits::text("the cause", &req.cause, limits::MAX_CAUSE_CHARS)?;
        req.next.as_ref().map(check_poll).transpose()?;
        self.check_poll_scope(&caller, req.next.as_ref())?;
        let handed_out_ms = self.check_report(&caller, &token)?;
        let command = Command::TaskFailed {
            token,
            epoch,
            error: req.error,
            cause: req.cause,
            now_ms: self.ctx.stamp_ms(),
            seed: rand::random(),
        };
        let reported = self.report(command, req.next).await?;
        self.observe_duration(handed_out_ms);
        Ok(Response::new(FailTaskReply {
            next: reported.next,
            already_applied: reported.already_applied,
        }))
    }

    async fn withdraw_poll(
        &self,
        request: Request<WithdrawPollRequest>,
    ) -> Result<Response<WithdrawPollReply>, Status> {
        let returned = crate::poll_id::withdraw(&self.ctx, &request.into_inner().poll_id).await?;
        Ok(Response::new(WithdrawPollReply { returned }))
    }

    async fn heartbeat_task(
        &self,
        request: Request<HeartbeatTaskRequest>,
    ) -> Result<Response<HeartbeatTaskReply>, Status> {
        let caller = Caller::of(&request);
        let (token, epoch) = crate::task_tokens::parse(&self.ctx, &request.into_inner().token)?;
        self.check_report(&caller, &token)?;
        let command = Command::TaskHeartbeat {
            token,
            epoch,
            now_ms: self.ctx.stamp_ms(),
        };
        self.report(command, None).await?;
        Ok(Response::new(HeartbeatTaskReply {}))
    }
}
