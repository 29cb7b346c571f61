//! `TriggerService`: create, update, describe, list and delete triggers.
//! Writes go through the proposer; an operator's scopes apply to both the
//! watched and the started state machine.

use raftflow_proto::v1::trigger_service_server::TriggerService;
use raftflow_proto::v1::*;
use raftflow_store::triggers::{self, Target, Trigger, TriggerDef, TRIGGERS_FROM};
use raftflow_store::{Command, CommandResult};
use tonic::{Request, Response, Status};

use super::{door, messages};
use crate::auth::{Caller, Target as AuditTarget};
use crate::error::ApiError;
use crate::node::NodeContext;

pub struct TriggerServiceImpl {
    ctx: NodeContext,
}

/// Whether the caller's scopes cover both ends of a trigger.
fn scoped(caller: &Caller, def: &TriggerDef) -> Result<(), Status> {
    let Target::StartExecution { state_machine, .. } = &def.target;
    caller.check_state_machine(&def.source)?;
    caller.check_state_machine(state_machine)
}

/// Names the trigger in the audit line.
fn audit_name<T>(request: &Request<T>, def: Option<&TriggerDefinition>) {
    AuditTarget::set(request, def.map_or("", |d| d.name.as_str()));
}

impl TriggerServiceImpl {
    pub fn new(ctx: NodeContext) -> Self {
        Self { ctx }
    }

    async fn existing(&self, caller: &Caller, name: &str) -> Result<Trigger, Status> {
        door::name(name)?;
        let reader = self.ctx.reader.clone();
        let key = name.to_string();
        let found = tokio::task::spawn_blocking(move || triggers::read(reader.db(), &key))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::NotFound(format!("trigger `{name}` does not exist")))?;
        self.ctx.auth.scoped(scoped(caller, &found.def))?;
        Ok(found)
    }

    async fn write(&self, command: Command) -> Result<CommandResult, ApiError> {
        let active = self.ctx.reader.active_apply_version();
        if active < TRIGGERS_FROM {
            return Err(ApiError::FailedPrecondition(format!(
                "triggers need apply version {TRIGGERS_FROM} (the cluster is at {active}; it is raised once every member runs a release that has it)"
            )));
        }
        match self.ctx.proposer.propose(command).await? {
            CommandResult::Rejected { code, message } => Err(ApiError::rejected(code, message)),
            other => Ok(other),
        }
    }

    async fn save(
        &self,
        caller: Caller,
        def: Option<TriggerDefinition>,
        create: bool,
    ) -> Result<SaveTriggerReply, Status> {
        let def =
            def.ok_or_else(|| ApiError::InvalidArgument("the request has no trigger".into()))?;
        let def = door::checked(def)?;
        self.ctx.auth.scoped(scoped(&caller, &def))?;
        if !create {
            self.existing(&caller, &def.name).await?;
        }
        self.ctx.disk.admit_growth(self.ctx.id)?;
        let command = Command::PutTrigger {
            def,
            create,
            lease_s: self.ctx.config.scheduler.task_lease_s,
            now_ms: self.ctx.stamp_ms(),
        };
        let CommandResult::TriggerSaved { revision, created } = self.write(command).await? else {
            return Err(ApiError::Internal("unexpected result of a trigger save".into()).into());
        };
        Ok(SaveTriggerReply { revision, created })
    }

    async fn read_barrier(&self, consistency: i32) -> Result<(), ApiError> {
        crate::named_page::barrier(&self.ctx, consistency).await
    }
}

#[tonic::async_trait]
impl TriggerService for TriggerServiceImpl {
    async fn create_trigger(
        &self,
        request: Request<CreateTriggerRequest>,
    ) -> Result<Response<SaveTriggerReply>, Status> {
        let caller = Caller::of(&request);
        audit_name(&request, request.get_ref().trigger.as_ref());
        let req = request.into_inner();
        Ok(Response::new(self.save(caller, req.trigger, true).await?))
    }

    async fn update_trigger(
        &self,
        request: Request<UpdateTriggerRequest>,
    ) -> Result<Response<SaveTriggerReply>, Status> {
        let caller = Caller::of(&request);
        audit_name(&request, request.get_ref().trigger.as_ref());
        let req = request.into_inner();
        Ok(Response::new(self.save(caller, req.trigger, false).await?))
    }

    async fn describe_trigger(
        &self,
        request: Request<DescribeTriggerRequest>,
    ) -> Result<Response<TriggerInfo>, Status> {
        let caller = Caller::of(&request);
        let req = request.into_inner();
        self.read_barrier(req.consistency).await?;
        let trigger = self.existing(&caller, &req.name).await?;
        Ok(Response::new(messages::info(trigger)))
    }

    async fn list_triggers(
        &self,
        request: Request<ListTriggersRequest>,
    ) -> Result<Response<ListTriggersReply>, Status> {
        let caller = Caller::of(&request);
        let req = request.into_inner();
        if !req.after.is_empty() {
            door::name(&req.after)?;
        }
        self.read_barrier(req.consistency).await?;
        let (page, next_after) =
            crate::named_page::read(&self.ctx, &req.after, req.limit, triggers::list, |t| {
                &t.def.name
            })
            .await?;
        let triggers = page
            .into_iter()
            .filter(|t| scoped(&caller, &t.def).is_ok())
            .map(messages::info)
            .collect();
        Ok(Response::new(ListTriggersReply {
            triggers,
            next_after,
        }))
    }

    async fn delete_trigger(
        &self,
        request: Request<DeleteTriggerRequest>,
    ) -> Result<Response<DeleteTriggerReply>, Status> {
        let caller = Caller::of(&request);
        AuditTarget::set(&request, &request.get_ref().name);
        let req = request.into_inner();
        self.existing(&caller, &req.name).await?;
        let command = Command::DeleteTrigger {
            name: req.name,
            now_ms: self.ctx.stamp_ms(),
        };
        self.write(command).await?;
        Ok(Response::new(DeleteTriggerReply {}))
    }
}
