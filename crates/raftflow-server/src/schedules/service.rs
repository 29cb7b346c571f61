//! `ScheduleService`: create, update, describe, list, pause, trigger and
//! delete schedules. Writes go through the proposer; an operator's scopes
//! apply to the schedule's target state machine.

use raftflow_proto::v1::schedule_service_server::ScheduleService;
use raftflow_proto::v1::*;
use raftflow_store::schedules::{self, Schedule, ScheduleDef};
use raftflow_store::{Command, CommandResult};
use tonic::{Request, Response, Status};

use super::{door, messages};
use crate::auth::{Caller, Target};
use crate::cluster_service::linearizable_barrier;
use crate::error::ApiError;
use crate::node::NodeContext;

pub struct ScheduleServiceImpl {
    ctx: NodeContext,
}

impl ScheduleServiceImpl {
    pub fn new(ctx: NodeContext) -> Self {
        Self { ctx }
    }

    async fn write(&self, command: Command) -> Result<CommandResult, ApiError> {
        match self.ctx.proposer.propose(command).await? {
            CommandResult::Rejected { code, message } => Err(ApiError::rejected(code, message)),
            other => Ok(other),
        }
    }

    /// The schedule as applied here, or NotFound; checked against the
    /// caller's scopes by its target.
    async fn existing(&self, caller: &Caller, name: &str) -> Result<Schedule, Status> {
        door::name(name)?;
        let reader = self.ctx.reader.clone();
        let key = name.to_string();
        let found = tokio::task::spawn_blocking(move || schedules::read(reader.db(), &key))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::NotFound(format!("schedule `{name}` does not exist")))?;
        self.ctx
            .auth
            .scoped(caller.check_state_machine(&found.def.state_machine))?;
        Ok(found)
    }

    async fn save(
        &self,
        request: Request<ScheduleDefinition>,
        create: bool,
    ) -> Result<SaveScheduleReply, Status> {
        let caller = Caller::of(&request);
        Target::set(&request, &request.get_ref().name);
        let max_input_bytes = self.ctx.config.scheduler.max_payload_bytes;
        let def = door::checked(request.into_inner(), max_input_bytes)?;
        self.ctx
            .auth
            .scoped(caller.check_state_machine(&def.state_machine))?;
        if !create {
            self.existing(&caller, &def.name).await?;
        }
        self.ctx.disk.admit_growth(self.ctx.id)?;
        let name = def.name.clone();
        let command = self.put_command(def, create)?;
        let CommandResult::ScheduleSaved { revision, created } = self.write(command).await? else {
            return Err(ApiError::Internal("unexpected result of a schedule save".into()).into());
        };
        let saved = self.existing(&caller, &name).await?;
        Ok(SaveScheduleReply {
            revision,
            created,
            next_fire_ms: messages::upcoming(&saved, door::UPCOMING).0,
        })
    }

    /// The create or update in the layout of the active apply version:
    /// what version 14 added is refused while the cluster is at 13.
    fn put_command(&self, def: ScheduleDef, create: bool) -> Result<Command, ApiError> {
        let now_ms = self.ctx.stamp_ms();
        let active = self.ctx.reader.active_apply_version();
        if active >= schedules::TIMETABLES_FROM {
            return Ok(Command::PutScheduleV3 {
                def,
                create,
                now_ms,
            });
        }
        if def.specs.len() > 1 || !def.exclude_days.is_empty() || def.jitter_ms > 0 {
            return Err(ApiError::FailedPrecondition(format!(
                "more specs, excluded dates and jitter need apply version {} (the cluster is at {active}; it is raised once every member runs a release that has it)",
                schedules::TIMETABLES_FROM
            )));
        }
        Ok(Command::PutScheduleV2 {
            def: (&def).into(),
            create,
            now_ms,
        })
    }

    async fn read_barrier(&self, consistency: i32) -> Result<(), ApiError> {
        crate::named_page::barrier(&self.ctx, consistency).await
    }
}

fn definition<T>(
    request: Request<T>,
    get: impl FnOnce(T) -> Option<ScheduleDefinition>,
) -> Result<Request<ScheduleDefinition>, Status> {
    let (metadata, extensions, message) = request.into_parts();
    let def = get(message)
        .ok_or_else(|| ApiError::InvalidArgument("the request has no schedule".into()))?;
    Ok(Request::from_parts(metadata, extensions, def))
}

#[tonic::async_trait]
impl ScheduleService for ScheduleServiceImpl {
    async fn create_schedule(
        &self,
        request: Request<CreateScheduleRequest>,
    ) -> Result<Response<SaveScheduleReply>, Status> {
        let request = definition(request, |r| r.schedule)?;
        Ok(Response::new(self.save(request, true).await?))
    }

    async fn update_schedule(
        &self,
        request: Request<UpdateScheduleRequest>,
    ) -> Result<Response<SaveScheduleReply>, Status> {
        let request = definition(request, |r| r.schedule)?;
        Ok(Response::new(self.save(request, false).await?))
    }

    async fn describe_schedule(
        &self,
        request: Request<DescribeScheduleRequest>,
    ) -> Result<Response<ScheduleInfo>, Status> {
        let caller = Caller::of(&request);
        let req = request.into_inner();
        self.read_barrier(req.consistency).await?;
        let schedule = self.existing(&caller, &req.name).await?;
        Ok(Response::new(messages::info(schedule)))
    }

    async fn list_schedules(
        &self,
        request: Request<ListSchedulesRequest>,
    ) -> Result<Response<ListSchedulesReply>, Status> {
        let caller = Caller::of(&request);
        let req = request.into_inner();
        if !req.after.is_empty() {
            door::name(&req.after)?;
        }
        self.read_barrier(req.consistency).await?;
        let (page, next_after) =
            crate::named_page::read(&self.ctx, &req.after, req.limit, schedules::list, |s| {
                &s.def.name
            })
            .await?;
        // A scoped operator's page may come out shorter than asked.
        let schedules = page
            .into_iter()
            .filter(|s| caller.sees_state_machine(&s.def.state_machine))
            .map(messages::info)
            .collect();
        Ok(Response::new(ListSchedulesReply {
            schedules,
            next_after,
        }))
    }

    async fn pause_schedule(
        &self,
        request: Request<PauseScheduleRequest>,
    ) -> Result<Response<PauseScheduleReply>, Status> {
        let caller = Caller::of(&request);
        Target::set(&request, &request.get_ref().name);
        let req = request.into_inner();
        door::bytes("the note", &req.note, schedules::MAX_TEXT_BYTES)?;
        self.existing(&caller, &req.name).await?;
        let command = Command::PauseSchedule {
            name: req.name,
            paused: req.paused,
            note: req.note,
            now_ms: self.ctx.stamp_ms(),
        };
        self.write(command).await?;
        Ok(Response::new(PauseScheduleReply {}))
    }

    async fn trigger_schedule(
        &self,
        request: Request<TriggerScheduleRequest>,
    ) -> Result<Response<TriggerScheduleReply>, Status> {
        let caller = Caller::of(&request);
        Target::set(&request, &request.get_ref().name);
        let req = request.into_inner();
        self.existing(&caller, &req.name).await?;
        self.ctx.disk.admit_growth(self.ctx.id)?;
        let now_ms = self.ctx.stamp_ms();
        let command = Command::FireSchedule {
            name: req.name,
            scheduled_ms: now_ms,
            revision: None,
            now_ms,
            seed: rand::random(),
            default_task_timeout_s: self.ctx.config.scheduler.task_lease_s,
        };
        let CommandResult::ScheduleActed(action) = self.write(command).await? else {
            return Err(ApiError::Internal("unexpected result of a trigger".into()).into());
        };
        Ok(Response::new(TriggerScheduleReply {
            action: Some(messages::action(action)),
        }))
    }

    async fn backfill_schedule(
        &self,
        request: Request<BackfillScheduleRequest>,
    ) -> Result<Response<BackfillScheduleReply>, Status> {
        let caller = Caller::of(&request);
        Target::set(&request, &request.get_ref().name);
        let req = request.into_inner();
        // The revision the entries carry is the latest one.
        linearizable_barrier(&self.ctx).await?;
        let schedule = self.existing(&caller, &req.name).await?;
        self.ctx.disk.admit_growth(self.ctx.id)?;
        Ok(Response::new(
            super::backfill::run(&self.ctx, &schedule, &req).await?,
        ))
    }

    async fn delete_schedule(
        &self,
        request: Request<DeleteScheduleRequest>,
    ) -> Result<Response<DeleteScheduleReply>, Status> {
        let caller = Caller::of(&request);
        Target::set(&request, &request.get_ref().name);
        let req = request.into_inner();
        self.existing(&caller, &req.name).await?;
        let command = Command::DeleteSchedule {
            name: req.name,
            now_ms: self.ctx.stamp_ms(),
        };
        self.write(command).await?;
        Ok(Response::new(DeleteScheduleReply {}))
    }
}
