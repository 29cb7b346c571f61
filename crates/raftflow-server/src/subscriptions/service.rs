//! `SubscriptionService`: save, describe, list and delete subscriptions,
//! list their pending events and dead letters, and redrive dead letters.
//! A save seals the signing secret here, on the node that takes it.

use raftflow_proto::v1::subscription_service_server::SubscriptionService;
use raftflow_proto::v1::*;
use raftflow_store::subscriptions::{
    self, OutboxEvent, Subscription, SubscriptionDef, MAX_EVENTS_PER_COMMAND, SUBSCRIPTIONS_FROM,
};
use raftflow_store::{Command, CommandResult};
use tonic::{Request, Response, Status};

use super::door;
use crate::auth::Target as AuditTarget;
use crate::connections::{seal, seal::Secret};
use crate::error::ApiError;
use crate::node::NodeContext;

pub struct SubscriptionServiceImpl {
    ctx: NodeContext,
}

/// A subscription as the API shows it: never its secret.
pub fn info(s: Subscription) -> SubscriptionInfo {
    let on = s.def.on.iter().map(|c| door::proto_change(*c) as i32);
    SubscriptionInfo {
        on: on.collect(),
        name: s.def.name,
        description: s.def.description,
        state_machine: s.def.source,
        url: s.def.url,
        connection: s.def.connection,
        enabled: s.def.enabled,
        max_attempts: s.def.max_attempts,
        max_age_s: s.def.max_age_s,
        key_id: s.def.secret.key_id,
        revision: s.revision,
        created_ms: s.created_ms,
        updated_ms: s.updated_ms,
        pending: s.pending,
        delivered: s.delivered,
        dead_letters: s.dead,
        discarded: s.discarded,
    }
}

fn event(e: OutboxEvent) -> SubscriptionEvent {
    SubscriptionEvent {
        seq: e.seq,
        execution_id: e.execution_id,
        change: door::proto_change(e.change) as i32,
        at_ms: e.at_ms,
        attempts: e.attempts,
        next_at_ms: e.next_at_ms,
        last_error: e.last_error,
    }
}

impl SubscriptionServiceImpl {
    pub fn new(ctx: NodeContext) -> Self {
        Self { ctx }
    }

    async fn read(&self, name: &str) -> Result<Subscription, ApiError> {
        door::name(name)?;
        let reader = self.ctx.reader.clone();
        let key = name.to_string();
        tokio::task::spawn_blocking(move || subscriptions::read(reader.db(), &key))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::NotFound(format!("subscription `{name}` does not exist")))
    }

    async fn write(&self, command: Command) -> Result<CommandResult, ApiError> {
        let active = self.ctx.reader.active_apply_version();
        if active < SUBSCRIPTIONS_FROM {
            return Err(ApiError::FailedPrecondition(format!(
                "subscriptions need apply version {SUBSCRIPTIONS_FROM} (the cluster is at {active}; it is raised once every member runs a release that has it)"
            )));
        }
        match self.ctx.proposer.propose(command).await? {
            CommandResult::Rejected { code, message } => Err(ApiError::rejected(code, message)),
            other => Ok(other),
        }
    }

    async fn save(
        &self,
        request: SaveSubscriptionRequest,
        create: bool,
    ) -> Result<SaveSubscriptionReply, ApiError> {
        let (on, max_attempts, max_age_s) =
            door::checked(&request, self.ctx.outbound.destinations())?;
        let key = self.ctx.connection_keys.current.as_ref().ok_or_else(|| {
            ApiError::FailedPrecondition(
                "this node holds no cluster key to seal the signing secret with: set [connections] key_file, the same on every node".into(),
            )
        })?;
        let (sealed_name, kind) = super::seal_as(&request.name);
        let secret = Secret::Bearer {
            token: request.signing_secret,
        };
        self.ctx.disk.admit_growth(self.ctx.id)?;
        let def = SubscriptionDef {
            secret: seal::seal(key, &sealed_name, &kind, &secret),
            name: request.name,
            description: request.description,
            source: request.state_machine,
            on,
            url: request.url,
            connection: request.connection,
            enabled: !request.disabled,
            max_attempts,
            max_age_s,
        };
        let command = Command::PutSubscription {
            def,
            create,
            expect_revision: 0,
            now_ms: self.ctx.stamp_ms(),
        };
        let CommandResult::SubscriptionSaved { revision, created } = self.write(command).await?
        else {
            return Err(ApiError::Internal(
                "unexpected result of a subscription save".into(),
            ));
        };
        Ok(SaveSubscriptionReply { revision, created })
    }

    /// The sequence numbers of every dead letter, oldest first.
    async fn all_dead(&self, name: &str) -> Result<Vec<u64>, ApiError> {
        let reader = self.ctx.reader.clone();
        let name = name.to_string();
        let dead = tokio::task::spawn_blocking(move || {
            subscriptions::dead_letters(reader.db(), &name, 0, usize::MAX)
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
        Ok(dead.into_iter().map(|e| e.seq).collect())
    }
}

/// Seals every subscription's signing secret sealed with an older key
/// again with `key`, each at the revision read (`connection rekey` does
/// this after the connections): counts in a `RekeyConnectionsReply`.
pub async fn rekey_all(
    ctx: &NodeContext,
    key: &crate::connections::keys::Key,
) -> Result<RekeyConnectionsReply, ApiError> {
    let mut reply = RekeyConnectionsReply::default();
    let limit = subscriptions::MAX_SUBSCRIPTIONS as u32;
    let (all, _) =
        crate::named_page::read(ctx, "", limit, subscriptions::list, |s| &s.def.name).await?;
    for sub in all {
        if sub.def.secret.key_id == key.id() {
            reply.current += 1;
            continue;
        }
        let name = sub.def.name.clone();
        match rekey_one(ctx, key, sub).await {
            Ok(()) => reply.rekeyed += 1,
            Err(e) => reply.failed.push(format!("subscription {name}: {e}")),
        }
    }
    Ok(reply)
}

async fn rekey_one(
    ctx: &NodeContext,
    key: &crate::connections::keys::Key,
    sub: Subscription,
) -> Result<(), ApiError> {
    let (sealed_name, kind) = super::seal_as(&sub.def.name);
    let secret = seal::open(
        &ctx.connection_keys.all,
        &sealed_name,
        &kind,
        &sub.def.secret,
    )
    .map_err(|e| ApiError::FailedPrecondition(e.to_string()))?;
    let mut def = sub.def;
    def.secret = seal::seal(key, &sealed_name, &kind, &secret);
    let command = Command::PutSubscription {
        def,
        create: false,
        expect_revision: sub.revision,
        now_ms: ctx.stamp_ms(),
    };
    match ctx.proposer.propose(command).await? {
        CommandResult::Rejected { code, message } => Err(ApiError::rejected(code, message)),
        _ => Ok(()),
    }
}

#[tonic::async_trait]
impl SubscriptionService for SubscriptionServiceImpl {
    async fn create_subscription(
        &self,
        request: Request<SaveSubscriptionRequest>,
    ) -> Result<Response<SaveSubscriptionReply>, Status> {
        AuditTarget::set(&request, &request.get_ref().name);
        Ok(Response::new(self.save(request.into_inner(), true).await?))
    }

    async fn update_subscription(
        &self,
        request: Request<SaveSubscriptionRequest>,
    ) -> Result<Response<SaveSubscriptionReply>, Status> {
        AuditTarget::set(&request, &request.get_ref().name);
        let request = request.into_inner();
        self.read(&request.name).await?;
        Ok(Response::new(self.save(request, false).await?))
    }

    async fn describe_subscription(
        &self,
        request: Request<DescribeSubscriptionRequest>,
    ) -> Result<Response<SubscriptionInfo>, Status> {
        let req = request.into_inner();
        crate::named_page::barrier(&self.ctx, req.consistency).await?;
        Ok(Response::new(info(self.read(&req.name).await?)))
    }

    async fn list_subscriptions(
        &self,
        request: Request<ListSubscriptionsRequest>,
    ) -> Result<Response<ListSubscriptionsReply>, Status> {
        let req = request.into_inner();
        if !req.after.is_empty() {
            door::name(&req.after)?;
        }
        crate::named_page::barrier(&self.ctx, req.consistency).await?;
        let (page, next_after) =
            crate::named_page::read(&self.ctx, &req.after, req.limit, subscriptions::list, |s| {
                &s.def.name
            })
            .await?;
        Ok(Response::new(ListSubscriptionsReply {
            subscriptions: page.into_iter().map(info).collect(),
            next_after,
        }))
    }

    async fn delete_subscription(
        &self,
        request: Request<DeleteSubscriptionRequest>,
    ) -> Result<Response<DeleteSubscriptionReply>, Status> {
        AuditTarget::set(&request, &request.get_ref().name);
        let req = request.into_inner();
        self.read(&req.name).await?;
        let command = Command::DeleteSubscription {
            name: req.name,
            now_ms: self.ctx.stamp_ms(),
        };
        self.write(command).await?;
        Ok(Response::new(DeleteSubscriptionReply {}))
    }

    async fn list_subscription_events(
        &self,
        request: Request<ListSubscriptionEventsRequest>,
    ) -> Result<Response<ListSubscriptionEventsReply>, Status> {
        let req = request.into_inner();
        crate::named_page::barrier(&self.ctx, req.consistency).await?;
        self.read(&req.name).await?;
        let limit = match req.limit {
            0 => 100,
            n => n.min(1000),
        } as usize;
        let reader = self.ctx.reader.clone();
        let list = if req.dead_letters {
            subscriptions::dead_letters
        } else {
            subscriptions::pending
        };
        let page = tokio::task::spawn_blocking(move || {
            list(reader.db(), &req.name, req.after, limit.saturating_add(1))
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(ApiError::from)?;
        let more = page.len() > limit;
        let events: Vec<_> = page.into_iter().take(limit).map(event).collect();
        let next_after = if more {
            events.last().map_or(0, |e| e.seq)
        } else {
            0
        };
        Ok(Response::new(ListSubscriptionEventsReply {
            events,
            next_after,
        }))
    }

    async fn redrive_dead_letters(
        &self,
        request: Request<RedriveDeadLettersRequest>,
    ) -> Result<Response<RedriveDeadLettersReply>, Status> {
        AuditTarget::set(&request, &request.get_ref().name);
        let req = request.into_inner();
        self.read(&req.name).await?;
        let most = subscriptions::MAX_DEAD as usize;
        if req.seqs.len() > most {
            return Err(ApiError::InvalidArgument(format!(
                "name at most {most} dead letters (a subscription keeps no more)"
            ))
            .into());
        }
        let seqs = if req.seqs.is_empty() {
            crate::named_page::barrier(&self.ctx, ReadConsistency::Linearizable as i32).await?;
            self.all_dead(&req.name).await?
        } else {
            req.seqs
        };
        let mut reply = RedriveDeadLettersReply::default();
        for chunk in seqs.chunks(MAX_EVENTS_PER_COMMAND) {
            let command = Command::RedriveEvents {
                subscription: req.name.clone(),
                seqs: chunk.to_vec(),
                now_ms: self.ctx.stamp_ms(),
            };
            let CommandResult::Redriven { count } = self.write(command).await? else {
                return Err(ApiError::Internal("unexpected result of a redrive".into()).into());
            };
            reply.redriven += count;
            reply.left += (chunk.len() as u32).saturating_sub(count);
        }
        Ok(Response::new(reply))
    }
}
