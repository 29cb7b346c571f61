//! `AclService`: bootstrap, and the token commands (auth/ checks them).
//!
//! Secrets are drawn here, on the node that takes the request; the log
//! carries only their hashes (raftflow_store::acl).

use raftflow_proto::v1::acl_service_server::AclService;
use raftflow_proto::v1::*;
use raftflow_store::acl::{self, TokenRecord, TokenSpec};
use raftflow_store::{Command, CommandResult};
use tonic::{Request, Response, Status};

use crate::auth::{secret, Caller, Target};
use crate::cluster_service::linearizable_barrier;
use crate::error::ApiError;
use crate::node::NodeContext;

/// The longest lifetime a token may be given: ten years.
pub const MAX_TTL_S: u64 = 10 * 365 * 24 * 3600;
/// The name of the first admin token.
pub const BOOTSTRAP_NAME: &str = "bootstrap";

pub struct AclServiceImpl {
    ctx: NodeContext,
}

impl AclServiceImpl {
    pub fn new(ctx: NodeContext) -> Self {
        Self { ctx }
    }

    async fn write(&self, command: Command) -> Result<(), ApiError> {
        match self.ctx.proposer.propose(command).await? {
            CommandResult::Rejected { code, message } => Err(ApiError::rejected(code, message)),
            _ => Ok(()),
        }
    }

    /// The token `accessor_or_name` names, as applied after a barrier.
    async fn find(&self, accessor_or_name: &str) -> Result<TokenRecord, ApiError> {
        linearizable_barrier(&self.ctx).await?;
        self.ctx
            .reader
            .acl()
            .find(accessor_or_name)
            .cloned()
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "no token has accessor or name `{accessor_or_name}`"
                ))
            })
    }

    fn check_enforcing(&self) -> Result<(), ApiError> {
        if self.ctx.auth.enforcing() {
            return Ok(());
        }
        Err(ApiError::FailedPrecondition(
            "this node runs with insecure = true: it checks no tokens".into(),
        ))
    }
}

#[tonic::async_trait]
impl AclService for AclServiceImpl {
    async fn bootstrap(
        &self,
        _request: Request<BootstrapRequest>,
    ) -> Result<Response<TokenSecret>, Status> {
        self.check_enforcing()?;
        // A new cluster raises its apply version to one with tokens first.
        self.ctx.new_cluster.wait(&self.ctx).await;
        let secret = secret::new_secret();
        let spec = admin_spec(secret::hash(&secret));
        let now_ms = self.ctx.stamp_ms();
        self.write(Command::AclBootstrap {
            token: spec.clone(),
            session_key: secret::new_session_key(),
            now_ms,
        })
        .await?;
        tracing::info!(accessor = %spec.accessor, "the ACL system was bootstrapped");
        Ok(Response::new(TokenSecret {
            token: Some(info(&spec, now_ms, None)),
            secret,
        }))
    }

    async fn create_token(
        &self,
        request: Request<CreateTokenRequest>,
    ) -> Result<Response<TokenSecret>, Status> {
        self.check_enforcing()?;
        Target::set(&request, &request.get_ref().name);
        let req = request.into_inner();
        let role = role_of(req.role)?;
        if req.ttl_s > MAX_TTL_S {
            return Err(ApiError::InvalidArgument(format!(
                "ttl_s is at most {MAX_TTL_S} (ten years)"
            ))
            .into());
        }
        // The configured first admin may create tokens before the leader's
        // own bootstrap with it committed: it commits it first.
        if !ensure_configured_bootstrap(&self.ctx).await? {
            self.ctx.new_cluster.wait(&self.ctx).await;
        }
        let now_ms = self.ctx.stamp_ms();
        let secret = secret::new_secret();
        let spec = TokenSpec {
            accessor: secret::new_accessor(),
            secret_hash: secret::hash(&secret),
            name: req.name,
            role,
            scopes: req.scopes,
            expires_at_ms: (req.ttl_s > 0).then(|| now_ms.saturating_add(req.ttl_s * 1000)),
        };
        acl::validate(&spec).map_err(ApiError::InvalidArgument)?;
        self.write(Command::TokenCreated {
            token: spec.clone(),
            now_ms,
        })
        .await?;
        Ok(Response::new(TokenSecret {
            token: Some(info(&spec, now_ms, None)),
            secret,
        }))
    }

    async fn list_tokens(
        &self,
        _request: Request<ListTokensRequest>,
    ) -> Result<Response<ListTokensReply>, Status> {
        linearizable_barrier(&self.ctx).await?;
        let tokens = self.ctx.reader.acl().tokens().map(record_info).collect();
        Ok(Response::new(ListTokensReply { tokens }))
    }

    async fn revoke_token(
        &self,
        request: Request<RevokeTokenRequest>,
    ) -> Result<Response<RevokeTokenReply>, Status> {
        Target::set(&request, &request.get_ref().token);
        let record = self.find(&request.into_inner().token).await?;
        let accessor = record.spec.accessor.clone();
        self.write(Command::TokenRevoked {
            accessor: accessor.clone(),
            now_ms: self.ctx.stamp_ms(),
        })
        .await?;
        tracing::info!(%accessor, name = %record.spec.name, "token revoked");
        Ok(Response::new(RevokeTokenReply {}))
    }

    async fn rotate_token(
        &self,
        request: Request<RotateTokenRequest>,
    ) -> Result<Response<TokenSecret>, Status> {
        Target::set(&request, &request.get_ref().token);
        let mut record = self.find(&request.into_inner().token).await?;
        let secret = secret::new_secret();
        let now_ms = self.ctx.stamp_ms();
        self.write(Command::TokenRotated {
            accessor: record.spec.accessor.clone(),
            secret_hash: secret::hash(&secret),
            now_ms,
        })
        .await?;
        record.rotated_ms = Some(now_ms);
        Ok(Response::new(TokenSecret {
            token: Some(record_info(&record)),
            secret,
        }))
    }

    async fn who_am_i(
        &self,
        request: Request<WhoAmIRequest>,
    ) -> Result<Response<TokenInfo>, Status> {
        let info = match Caller::of(&request) {
            Caller::Token { accessor, .. } => self
                .ctx
                .reader
                .acl()
                .get(&accessor)
                .map(record_info)
                .ok_or_else(|| Status::unauthenticated("the token was revoked"))?,
            Caller::BootstrapPending => TokenInfo {
                name: format!("{BOOTSTRAP_NAME} (configured; not yet applied)"),
                role: Role::Admin as i32,
                ..Default::default()
            },
            Caller::Recovery => TokenInfo {
                name: "recovery (this node's [auth] recovery_token_file)".into(),
                role: Role::Admin as i32,
                ..Default::default()
            },
            Caller::Insecure => TokenInfo {
                name: "insecure (no tokens are checked)".into(),
                role: Role::Admin as i32,
                ..Default::default()
            },
            other => {
                return Err(Status::unauthenticated(format!(
                    "{} holds no token",
                    other.label()
                )))
            }
        };
        Ok(Response::new(info))
    }
}

/// The first admin token, with the secret whose hash is `secret_hash`.
pub fn admin_spec(secret_hash: Vec<u8>) -> TokenSpec {
    TokenSpec {
        accessor: secret::new_accessor(),
        secret_hash,
        name: BOOTSTRAP_NAME.into(),
        role: acl::Role::Admin,
        scopes: Vec::new(),
        expires_at_ms: None,
    }
}

fn role_of(value: i32) -> Result<acl::Role, ApiError> {
    match Role::try_from(value) {
        Ok(Role::Admin) => Ok(acl::Role::Admin),
        Ok(Role::Operator) => Ok(acl::Role::Operator),
        Ok(Role::Worker) => Ok(acl::Role::Worker),
        Ok(Role::Reader) => Ok(acl::Role::Reader),
        Ok(Role::Unspecified) | Err(_) => Err(ApiError::InvalidArgument(
            "role: one of admin, operator, worker, reader".into(),
        )),
    }
}

pub fn role_to_proto(role: acl::Role) -> Role {
    match role {
        acl::Role::Admin => Role::Admin,
        acl::Role::Operator => Role::Operator,
        acl::Role::Worker => Role::Worker,
        acl::Role::Reader => Role::Reader,
    }
}

fn info(spec: &TokenSpec, created_ms: u64, rotated_ms: Option<u64>) -> TokenInfo {
    TokenInfo {
        accessor: spec.accessor.clone(),
        name: spec.name.clone(),
        role: role_to_proto(spec.role) as i32,
        scopes: spec.scopes.clone(),
        expires_at_ms: spec.expires_at_ms.unwrap_or(0),
        created_ms,
        rotated_ms: rotated_ms.unwrap_or(0),
    }
}

fn record_info(record: &TokenRecord) -> TokenInfo {
    info(&record.spec, record.created_ms, record.rotated_ms)
}

/// Commits the bootstrap with `[auth] bootstrap_token_file`'s secret when
/// the cluster has none yet; true when this node has such a file. Racing
/// the leader's own (`bootstrap_from_config`) is harmless: one commits, the
/// other is refused as already done.
async fn ensure_configured_bootstrap(ctx: &NodeContext) -> Result<bool, ApiError> {
    let Some(hash) = ctx.auth.bootstrap_hash().map(<[u8]>::to_vec) else {
        return Ok(false);
    };
    if ctx.reader.acl().bootstrap().is_some() {
        return Ok(true);
    }
    ctx.new_cluster.wait(ctx).await;
    let command = Command::AclBootstrap {
        token: admin_spec(hash),
        session_key: secret::new_session_key(),
        now_ms: ctx.stamp_ms(),
    };
    match ctx.proposer.propose(command).await? {
        CommandResult::Accepted => {
            tracing::info!(
                node = ctx.id,
                "bootstrapped the ACL system with [auth] bootstrap_token_file"
            );
            Ok(true)
        }
        CommandResult::Rejected {
            code: raftflow_store::Reject::AlreadyExists,
            ..
        } => Ok(true),
        CommandResult::Rejected { code, message } => Err(ApiError::rejected(code, message)),
        other => Err(ApiError::Internal(format!(
            "a bootstrap answered {other:?}"
        ))),
    }
}

/// A new leader whose config names a bootstrap token bootstraps a cluster
/// that has none, as soon as its apply version has tokens (a new cluster
/// raises it at once; an upgraded one when the operator does).
pub async fn bootstrap_from_config(ctx: NodeContext, epoch: u64) {
    if ctx.auth.bootstrap_hash().is_none() || !ctx.auth.enforcing() {
        return;
    }
    let mut applied = ctx.reader.watch_applied();
    let mut stopping = ctx.stopping.clone();
    loop {
        if ctx.scheduler.epoch() != Some(epoch)
            || ctx.reader.acl().bootstrap().is_some()
            || *stopping.borrow()
        {
            return;
        }
        if ctx.reader.active_apply_version() >= acl::ACL_FROM {
            if let Err(e) = ensure_configured_bootstrap(&ctx).await {
                tracing::warn!("the configured bootstrap failed: {e}; the next leader tries again");
            }
            return;
        }
        // This task holds the node's context (and its database): it ends
        // when the node stops, not only when the log moves.
        tokio::select! {
            changed = applied.changed() => if changed.is_err() { return },
            _ = stopping.changed() => return,
        }
    }
}
