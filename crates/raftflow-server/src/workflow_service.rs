//! `WorkflowService`: state machines and executions.
//!
//! Writes go through the proposer (so they reach the log only on the leader);
//! reads are linearizable by default and local on request.

use std::pin::Pin;

use futures::Stream;
use raftflow_proto::v1::workflow_service_server::WorkflowService;
use raftflow_proto::v1::*;
use raftflow_store::workflow::reads;
use raftflow_store::{Command, CommandResult};
use tonic::{Request, Response, Status};

use crate::auth::{Caller, Target};
use crate::cluster_service::linearizable_barrier;
use crate::error::ApiError;
use crate::limits;
use crate::messages::{execution_info, history_event};
use crate::node::NodeContext;

pub struct WorkflowServiceImpl {
    ctx: NodeContext,
}

impl WorkflowServiceImpl {
    pub fn new(ctx: NodeContext) -> Self {
        Self { ctx }
    }

    async fn read_barrier(&self, consistency: i32) -> Result<(), ApiError> {
        if consistency == ReadConsistency::Local as i32 {
            return Ok(());
        }
        linearizable_barrier(&self.ctx).await
    }

    async fn write(&self, command: Command) -> Result<CommandResult, ApiError> {
        match self.ctx.proposer.propose(command).await? {
            CommandResult::Rejected { code, message } => Err(ApiError::rejected(code, message)),
            other => Ok(other),
        }
    }

    /// Refuses a state machine outside an operator's scopes (counted).
    fn scope(&self, caller: &Caller, state_machine: &str) -> Result<(), Status> {
        self.ctx
            .auth
            .scoped(caller.check_state_machine(state_machine))
    }

    fn scope_execution(&self, caller: &Caller, execution_id: &str) -> Result<(), Status> {
        self.ctx.auth.scoped(caller.check_execution(execution_id))
    }

    fn check_json(&self, what: &str, text: &str) -> Result<(), ApiError> {
        limits::json(what, text, self.ctx.config.scheduler.max_payload_bytes)
    }

    /// Whether `execution_id` exists here. A follower learns that the start
    /// committed with the leader's next message, so a client that watches
    /// right after its start often arrives first: a follower waits a little
    /// for it rather than send the client elsewhere. The leader applied
    /// every start it acknowledged and answers at once.
    async fn wait_until_known(&self, execution_id: &str) -> Result<bool, ApiError> {
        let deadline = tokio::time::Instant::now() + FOLLOWER_CATCH_UP;
        let mut applied = self.ctx.reader.watch_applied();
        loop {
            let id = execution_id.to_string();
            if self
                .read(move |db| reads::execution(db, &id))
                .await?
                .is_some()
            {
                return Ok(true);
            }
            let driving = self.ctx.scheduler.epoch().is_some();
            if driving {
                return Ok(false);
            }
            let changed = tokio::time::timeout_at(deadline, applied.changed()).await;
            if !matches!(changed, Ok(Ok(()))) {
                return Ok(false);
            }
        }
    }

    /// Runs a blocking read of the tables off the executor.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&raftflow_store::Db) -> Result<T, raftflow_store::StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let reader = self.ctx.reader.clone();
        tokio::task::spawn_blocking(move || f(reader.db()))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .map_err(ApiError::from)
    }
}

/// How long a follower waits for an execution it has not applied yet.
const FOLLOWER_CATCH_UP: std::time::Duration = std::time::Duration::from_millis(500);

type WatchStream = Pin<Box<dyn Stream<Item = Result<HistoryEvent, Status>> + Send>>;

#[tonic::async_trait]
impl WorkflowService for WorkflowServiceImpl {
    async fn create_state_machine(
        &self,
        request: Request<CreateStateMachineRequest>,
    ) -> Result<Response<CreateStateMachineReply>, Status> {
        let caller = Caller::of(&request);
        Target::set(&request, &request.get_ref().name);
        let req = request.into_inner();
        limits::name("the state machine name", &req.name)?;
        self.scope(&caller, &req.name)?;
        limits::text(
            "the description",
            &req.description,
            limits::MAX_DESCRIPTION_CHARS,
        )?;
        self.check_json("definition", &req.definition)?;
        if let Err(diagnostics) = raftflow_core::bounds::parse_checked(&req.definition) {
            let text: Vec<String> = diagnostics.iter().map(|d| d.to_string()).collect();
            return Err(ApiError::InvalidArgument(format!(
                "the definition is not valid:\n{}",
                text.join("\n")
            ))
            .into());
        }
        self.ctx.disk.admit_growth(self.ctx.id)?;
        self.ctx.new_cluster.wait(&self.ctx).await;
        let command = Command::CreateStateMachine {
            name: req.name.clone(),
            definition: req.definition,
            description: req.description,
            now_ms: self.ctx.stamp_ms(),
        };
        match self.write(command).await? {
            CommandResult::StateMachineCreated { version, created } => {
                Ok(Response::new(CreateStateMachineReply {
                    name: req.name,
                    version,
                    created,
                }))
            }
            other => Err(ApiError::Internal(format!("unexpected result {other:?}")).into()),
        }
    }

    async fn validate_state_machine_definition(
        &self,
        request: Request<ValidateRequest>,
    ) -> Result<Response<ValidateReply>, Status> {
        let req = request.into_inner();
        let max = self.ctx.config.scheduler.max_payload_bytes;
        if req.definition.len() > max {
            return Err(ApiError::InvalidArgument(format!(
                "the definition is {} bytes; the limit is {max}",
                req.definition.len()
            ))
            .into());
        }
        let diagnostics = match raftflow_core::bounds::parse_checked(&req.definition) {
            Ok(_) => Vec::new(),
            Err(d) => d
                .into_iter()
                .map(|d| Diagnostic {
                    location: d.location,
                    code: d.code,
                    message: d.message,
                })
                .collect(),
        };
        Ok(Response::new(ValidateReply {
            valid: diagnostics.is_empty(),
            diagnostics,
        }))
    }

    async fn describe_state_machine(
        &self,
        request: Request<DescribeStateMachineRequest>,
    ) -> Result<Response<StateMachineInfo>, Status> {
        let caller = Caller::of(&request);
        let req = request.into_inner();
        self.scope(&caller, &req.name)?;
        self.read_barrier(req.consistency).await?;
        let name = req.name.clone();
        let found = self
            .read(move |db| reads::state_machine(db, &name, req.version))
            .await?;
        let (meta, v) = found.ok_or_else(|| {
            ApiError::NotFound(format!(
                "state machine `{}` (version {}) does not exist",
                req.name, req.version
            ))
        })?;
        Ok(Response::new(StateMachineInfo {
            name: v.name,
            version: v.version,
            definition: v.definition,
            description: v.description,
            created_ms: v.created_ms,
            latest_version: meta.latest,
        }))
    }

    async fn list_state_machines(
        &self,
        request: Request<ListStateMachinesRequest>,
    ) -> Result<Response<ListStateMachinesReply>, Status> {
        let caller = Caller::of(&request);
        self.read_barrier(request.into_inner().consistency).await?;
        let all = self.read(reads::state_machines).await?;
        let state_machines = all
            .into_iter()
            .filter(|(m, _)| caller.sees_state_machine(&m.name))
            .map(|(m, v)| StateMachineInfo {
                name: v.name,
                version: v.version,
                definition: v.definition,
                description: v.description,
                created_ms: v.created_ms,
                latest_version: m.latest,
            })
            .collect();
        Ok(Response::new(ListStateMachinesReply { state_machines }))
    }

    async fn delete_state_machine(
        &self,
        request: Request<DeleteStateMachineRequest>,
    ) -> Result<Response<DeleteStateMachineReply>, Status> {
        Target::set(&request, &request.get_ref().name);
        let req = request.into_inner();
        limits::name("the state machine name", &req.name)?;
        self.write(Command::DeleteStateMachine {
            name: req.name,
            force: req.force,
            now_ms: self.ctx.stamp_ms(),
        })
        .await?;
        Ok(Response::new(DeleteStateMachineReply {}))
    }

    async fn start_execution(
        &self,
        request: Request<StartExecutionRequest>,
    ) -> Result<Response<StartExecutionReply>, Status> {
        let caller = Caller::of(&request);
        let named = &request.get_ref();
        Target::set(&request, format!("{}:{}", named.state_machine, named.name));
        let trace = crate::telemetry::grpc::CallTrace::of(&request);
        let req = request.into_inner();
        self.scope(&caller, &req.state_machine)?;
        let reply = crate::start_execution::run(&self.ctx, req, trace).await?;
        Ok(Response::new(reply))
    }

    async fn describe_execution(
        &self,
        request: Request<DescribeExecutionRequest>,
    ) -> Result<Response<ExecutionInfo>, Status> {
        let caller = Caller::of(&request);
        let req = request.into_inner();
        limits::required(
            "the execution id",
            &req.execution_id,
            limits::MAX_EXECUTION_ID_CHARS,
        )?;
        self.scope_execution(&caller, &req.execution_id)?;
        self.read_barrier(req.consistency).await?;
        let id = req.execution_id.clone();
        let record = self.read(move |db| reads::execution(db, &id)).await?;
        let record = record.ok_or_else(|| {
            ApiError::NotFound(format!("execution `{}` does not exist", req.execution_id))
        })?;
        Ok(Response::new(execution_info(record)))
    }

    async fn list_executions(
        &self,
        request: Request<ListExecutionsRequest>,
    ) -> Result<Response<ListExecutionsReply>, Status> {
        let caller = Caller::of(&request);
        let req = request.into_inner();
        if !req.state_machine.is_empty() {
            self.scope(&caller, &req.state_machine)?;
        }
        self.read_barrier(req.consistency).await?;
        let size = if req.page_size == 0 {
            100
        } else {
            req.page_size.min(1000)
        } as usize;
        let token = (!req.page_token.is_empty()).then_some(req.page_token);
        if token.as_deref().is_some_and(|t| reads::unhex(t).is_none()) {
            return Err(ApiError::InvalidArgument("the page token is malformed".into()).into());
        }
        let status = limits::status_filter(&req.status)?;
        let page = self
            .read(move |db| {
                reads::executions(db, &req.state_machine, status, size, token.as_deref())
            })
            .await?;
        Ok(Response::new(ListExecutionsReply {
            // A scoped operator's page may come out shorter than asked.
            executions: page
                .items
                .into_iter()
                .filter(|x| caller.sees_state_machine(&x.state_machine))
                .map(execution_info)
                .collect(),
            next_page_token: page.next.unwrap_or_default(),
        }))
    }

    async fn get_execution_history(
        &self,
        request: Request<GetExecutionHistoryRequest>,
    ) -> Result<Response<GetExecutionHistoryReply>, Status> {
        let caller = Caller::of(&request);
        let req = request.into_inner();
        limits::required(
            "the execution id",
            &req.execution_id,
            limits::MAX_EXECUTION_ID_CHARS,
        )?;
        self.scope_execution(&caller, &req.execution_id)?;
        self.read_barrier(req.consistency).await?;
        let size = if req.page_size == 0 {
            1000
        } else {
            req.page_size.min(1000)
        } as usize;
        let after = match req.page_token.as_str() {
            "" => None,
            t => Some(
                t.parse::<u64>()
                    .map_err(|_| ApiError::InvalidArgument("the page token is malformed".into()))?,
            ),
        };
        let id = req.execution_id.clone();
        let exists = self
            .read(move |db| reads::execution(db, &id))
            .await?
            .is_some();
        if !exists {
            return Err(ApiError::NotFound(format!(
                "execution `{}` does not exist",
                req.execution_id
            ))
            .into());
        }
        let page = self
            .read(move |db| reads::history(db, &req.execution_id, after, size, req.reverse_order))
            .await?;
        Ok(Response::new(GetExecutionHistoryReply {
            events: page.items.into_iter().map(history_event).collect(),
            next_page_token: page.next.unwrap_or_default(),
        }))
    }

    async fn stop_execution(
        &self,
        request: Request<StopExecutionRequest>,
    ) -> Result<Response<StopExecutionReply>, Status> {
        let caller = Caller::of(&request);
        Target::set(&request, &request.get_ref().execution_id);
        let req = request.into_inner();
        limits::required(
            "the execution id",
            &req.execution_id,
            limits::MAX_EXECUTION_ID_CHARS,
        )?;
        self.scope_execution(&caller, &req.execution_id)?;
        limits::text("the error", &req.error, limits::MAX_ERROR_CHARS)?;
        limits::text("the cause", &req.cause, limits::MAX_CAUSE_CHARS)?;
        tracing::Span::current().record("execution", req.execution_id.as_str());
        let now = self.ctx.stamp_ms();
        let error = if req.error.is_empty() {
            "States.Aborted".to_string()
        } else {
            req.error
        };
        self.write(Command::StopExecution {
            execution_id: req.execution_id,
            error,
            cause: req.cause,
            now_ms: now,
        })
        .await?;
        tracing::info!("execution stopped");
        Ok(Response::new(StopExecutionReply { stop_ms: now }))
    }

    async fn get_statistics(
        &self,
        request: Request<GetStatisticsRequest>,
    ) -> Result<Response<StatisticsReply>, Status> {
        let caller = Caller::of(&request);
        let req = request.into_inner();
        self.scope(&caller, &req.state_machine)?;
        let window =
            crate::stats_view::Window::parse(&req.window).map_err(ApiError::InvalidArgument)?;
        let now_ms = self.ctx.clock.now_ms();
        let version = (req.version > 0).then_some(req.version);
        let name = req.state_machine.clone();
        let view = self
            .read(move |db| crate::stats_view::view_of_existing(db, &name, version, window, now_ms))
            .await?
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "state machine `{}` does not exist",
                    req.state_machine
                ))
            })?;
        Ok(Response::new(crate::stats_view::reply(view)))
    }

    type WatchExecutionStream = WatchStream;

    async fn watch_execution(
        &self,
        request: Request<WatchExecutionRequest>,
    ) -> Result<Response<WatchStream>, Status> {
        let caller = Caller::of(&request);
        let req = request.into_inner();
        limits::required(
            "the execution id",
            &req.execution_id,
            limits::MAX_EXECUTION_ID_CHARS,
        )?;
        self.scope_execution(&caller, &req.execution_id)?;
        let Ok(slot) = self.ctx.watch_slots.clone().try_acquire_owned() else {
            return Err(ApiError::ResourceExhausted(format!(
                "{} watch streams are open on this node (scheduler.max_watch_streams); retry later or watch on another node",
                self.ctx.config.scheduler.max_watch_streams
            ))
            .into());
        };
        let reader = self.ctx.reader.clone();
        if !self.wait_until_known(&req.execution_id).await? {
            return Err(ApiError::NotFound(format!(
                "execution `{}` does not exist on this node",
                req.execution_id
            ))
            .into());
        }
        Ok(Response::new(Box::pin(crate::watch::stream(
            reader,
            self.ctx.stopping.clone(),
            req.execution_id,
            req.after_event_id,
            slot,
        ))))
    }
}
