//! `ConnectionService`: save, describe, list, delete and re-key
//! connections. A save is sealed here, on the node that takes it, so the
//! log, every replica, snapshot and backup hold only sealed bytes.

use raftflow_proto::v1::connection_service_server::ConnectionService;
use raftflow_proto::v1::*;
use raftflow_store::connections::{self, Connection, ConnectionDef, Kind, CONNECTIONS_FROM};
use raftflow_store::{Command, CommandResult};
use tonic::{Request, Response, Status};

use super::keys::Key;
use super::{door, seal};
use crate::auth::Target as AuditTarget;
use crate::error::ApiError;
use crate::node::NodeContext;

pub struct ConnectionServiceImpl {
    ctx: NodeContext,
}

/// A connection as the API shows it: never its secret.
pub fn info(connection: Connection) -> ConnectionInfo {
    let (kind, header) = match connection.def.kind {
        Kind::Bearer => (ConnectionKind::Bearer, String::new()),
        Kind::Basic => (ConnectionKind::Basic, String::new()),
        Kind::ApiKey { header } => (ConnectionKind::ApiKey, header),
        Kind::ClientCert => (ConnectionKind::ClientCert, String::new()),
    };
    ConnectionInfo {
        name: connection.def.name,
        description: connection.def.description,
        kind: kind as i32,
        header,
        key_id: connection.def.sealed.key_id,
        revision: connection.revision,
        created_ms: connection.created_ms,
        updated_ms: connection.updated_ms,
    }
}

impl ConnectionServiceImpl {
    pub fn new(ctx: NodeContext) -> Self {
        Self { ctx }
    }

    fn current_key(&self) -> Result<&Key, ApiError> {
        self.ctx.connection_keys.current.as_ref().ok_or_else(|| {
            ApiError::FailedPrecondition(
                "this node holds no connection key: set [connections] key_file, the same on every node (raftflow connection keygen makes one)".into(),
            )
        })
    }

    async fn read(&self, name: &str) -> Result<Connection, ApiError> {
        door::name(name)?;
        let reader = self.ctx.reader.clone();
        let key = name.to_string();
        tokio::task::spawn_blocking(move || connections::read(reader.db(), &key))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::NotFound(format!("connection `{name}` does not exist")))
    }

    async fn write(&self, command: Command) -> Result<CommandResult, ApiError> {
        let active = self.ctx.reader.active_apply_version();
        if active < CONNECTIONS_FROM {
            return Err(ApiError::FailedPrecondition(format!(
                "connections need apply version {CONNECTIONS_FROM} (the cluster is at {active}; it is raised once every member runs a release that has it)"
            )));
        }
        match self.ctx.proposer.propose(command).await? {
            CommandResult::Rejected { code, message } => Err(ApiError::rejected(code, message)),
            other => Ok(other),
        }
    }

    async fn save(
        &self,
        request: SaveConnectionRequest,
        create: bool,
    ) -> Result<SaveConnectionReply, ApiError> {
        let (kind, secret) = door::checked(&request)?;
        let key = self.current_key()?;
        let sealed = seal::seal(key, &request.name, &kind, &secret);
        self.ctx.disk.admit_growth(self.ctx.id)?;
        let def = ConnectionDef {
            name: request.name,
            description: request.description,
            kind,
            sealed,
        };
        self.put(def, create, 0).await
    }

    async fn put(
        &self,
        def: ConnectionDef,
        create: bool,
        expect_revision: u64,
    ) -> Result<SaveConnectionReply, ApiError> {
        let command = Command::PutConnection {
            def,
            create,
            expect_revision,
            now_ms: self.ctx.stamp_ms(),
        };
        let CommandResult::ConnectionSaved { revision, created } = self.write(command).await?
        else {
            return Err(ApiError::Internal(
                "unexpected result of a connection save".into(),
            ));
        };
        Ok(SaveConnectionReply { revision, created })
    }

    /// Seals `connection` again with the current key, at its revision.
    async fn rekey_one(&self, key: &Key, connection: Connection) -> Result<(), ApiError> {
        let def = &connection.def;
        let secret = seal::open(
            &self.ctx.connection_keys.all,
            &def.name,
            &def.kind,
            &def.sealed,
        )
        .map_err(|e| ApiError::FailedPrecondition(e.to_string()))?;
        let mut def = connection.def.clone();
        def.sealed = seal::seal(key, &def.name, &def.kind, &secret);
        self.put(def, false, connection.revision).await.map(|_| ())
    }
}

#[tonic::async_trait]
impl ConnectionService for ConnectionServiceImpl {
    async fn create_connection(
        &self,
        request: Request<SaveConnectionRequest>,
    ) -> Result<Response<SaveConnectionReply>, Status> {
        AuditTarget::set(&request, &request.get_ref().name);
        Ok(Response::new(self.save(request.into_inner(), true).await?))
    }

    async fn update_connection(
        &self,
        request: Request<SaveConnectionRequest>,
    ) -> Result<Response<SaveConnectionReply>, Status> {
        AuditTarget::set(&request, &request.get_ref().name);
        let request = request.into_inner();
        self.read(&request.name).await?;
        Ok(Response::new(self.save(request, false).await?))
    }

    async fn describe_connection(
        &self,
        request: Request<DescribeConnectionRequest>,
    ) -> Result<Response<ConnectionInfo>, Status> {
        let req = request.into_inner();
        crate::named_page::barrier(&self.ctx, req.consistency).await?;
        Ok(Response::new(info(self.read(&req.name).await?)))
    }

    async fn list_connections(
        &self,
        request: Request<ListConnectionsRequest>,
    ) -> Result<Response<ListConnectionsReply>, Status> {
        let req = request.into_inner();
        if !req.after.is_empty() {
            door::name(&req.after)?;
        }
        crate::named_page::barrier(&self.ctx, req.consistency).await?;
        let (page, next_after) =
            crate::named_page::read(&self.ctx, &req.after, req.limit, connections::list, |c| {
                &c.def.name
            })
            .await?;
        let connections = page.into_iter().map(info).collect();
        Ok(Response::new(ListConnectionsReply {
            connections,
            next_after,
        }))
    }

    async fn delete_connection(
        &self,
        request: Request<DeleteConnectionRequest>,
    ) -> Result<Response<DeleteConnectionReply>, Status> {
        AuditTarget::set(&request, &request.get_ref().name);
        let req = request.into_inner();
        self.read(&req.name).await?;
        let command = Command::DeleteConnection {
            name: req.name,
            now_ms: self.ctx.stamp_ms(),
        };
        self.write(command).await?;
        Ok(Response::new(DeleteConnectionReply {}))
    }

    async fn rekey_connections(
        &self,
        _request: Request<RekeyConnectionsRequest>,
    ) -> Result<Response<RekeyConnectionsReply>, Status> {
        let key = self.current_key()?.clone();
        crate::named_page::barrier(&self.ctx, ReadConsistency::Linearizable as i32).await?;
        let mut reply = RekeyConnectionsReply {
            key_id: key.id().to_string(),
            ..Default::default()
        };
        let mut after = String::new();
        loop {
            let (page, next) =
                crate::named_page::read(&self.ctx, &after, 1000, connections::list, |c| {
                    &c.def.name
                })
                .await?;
            for connection in page {
                let name = connection.def.name.clone();
                if connection.def.sealed.key_id == key.id() {
                    reply.current += 1;
                    continue;
                }
                match self.rekey_one(&key, connection).await {
                    Ok(()) => reply.rekeyed += 1,
                    Err(e) => reply.failed.push(format!("{name}: {e}")),
                }
            }
            if next.is_empty() {
                break;
            }
            after = next;
        }
        let subscriptions = crate::subscriptions::service::rekey_all(&self.ctx, &key).await?;
        reply.rekeyed += subscriptions.rekeyed;
        reply.current += subscriptions.current;
        reply.failed.extend(subscriptions.failed);
        Ok(Response::new(reply))
    }
}
