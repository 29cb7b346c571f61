//! `ClusterService`: each node's view of the cluster, membership changes and
//! the diagnostic probe write.

use crate::raft_service::WatchReceiver as _;
use std::collections::BTreeSet;

use openraft::error::{ClientWriteError, LinearizableReadError, RaftError};
use openraft::ServerState;
use raftflow_proto::v1::cluster_service_server::ClusterService;
use raftflow_proto::v1::{
    AddLearnerRequest, ChangeMembershipRequest, Member, MembershipReply, NodeStatus, ProbeReply,
    ProbeRequest, ReadProbeReply, ReadProbeRequest, RemovePeerRequest, SaveSnapshotRequest,
    StatusRequest, TransferLeaderReply, TransferLeaderRequest, UpgradeApplyVersionReply,
    UpgradeApplyVersionRequest,
};
use raftflow_store::{Command, CommandResult, NodeInfo, TypeConfig};
use tonic::{Request, Response, Status};

use crate::auth::Target;
use crate::error::{ApiError, WriteError};
use crate::limits;
use crate::node::NodeContext;

pub struct ClusterServiceImpl {
    ctx: NodeContext,
}

impl ClusterServiceImpl {
    pub fn new(ctx: NodeContext) -> Self {
        Self { ctx }
    }

    fn members(&self) -> Vec<Member> {
        use openraft::Instant as _;
        let metrics = self.ctx.raft.metrics().borrow_watched().clone();
        let membership = metrics.membership_config.membership();
        let voters: BTreeSet<u64> = membership.voter_ids().collect();
        let own_last = metrics.last_log_index.unwrap_or(0);
        membership
            .nodes()
            .map(|(id, node)| {
                let mut member = Member {
                    id: *id,
                    raft_addr: node.raft_addr.clone(),
                    api_addr: node.api_addr.clone(),
                    voter: voters.contains(id),
                    last_ack_ms_ago: -1,
                    ..Default::default()
                };
                if let Some(replication) = &metrics.replication {
                    member.replicated = true;
                    member.matched_index = match *id == self.ctx.id {
                        true => own_last,
                        false => replication
                            .get(id)
                            .copied()
                            .flatten()
                            .map_or(0, |l| l.index),
                    };
                    let acked = metrics
                        .heartbeat
                        .as_ref()
                        .and_then(|h| h.get(id).copied().flatten());
                    member.last_ack_ms_ago = match (*id == self.ctx.id, acked) {
                        (true, _) => 0,
                        (false, Some(at)) => {
                            i64::try_from(at.elapsed().as_millis()).unwrap_or(i64::MAX)
                        }
                        (false, None) => -1,
                    };
                }
                member
            })
            .collect()
    }
}

/// Maps openraft's write errors onto the node's own.
pub fn client_write_error(error: RaftError<TypeConfig, ClientWriteError<TypeConfig>>) -> ApiError {
    match error {
        // A discarded entry may have committed: as after a timeout, the
        // caller's retry is deduplicated by the command itself.
        RaftError::APIError(
            ClientWriteError::ForwardToLeader(f) | ClientWriteError::LogEntryDiscarded(f),
        ) => ApiError::Write(WriteError::NotLeader {
            leader_id: f.leader_id,
            leader_api_addr: f.leader_node.map(|n| n.api_addr),
        }),
        RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
            ApiError::FailedPrecondition(e.to_string())
        }
        RaftError::APIError(ClientWriteError::PreconditionFailed(e)) => {
            ApiError::FailedPrecondition(e.to_string())
        }
        RaftError::Fatal(e) => ApiError::Write(WriteError::Raft(e.to_string())),
    }
}

/// Makes sure this node is the leader and has applied everything committed
/// before a read: the read then sees every acknowledged write.
pub async fn linearizable_barrier(ctx: &NodeContext) -> Result<(), ApiError> {
    // A leader whose clock is not agreed serves no reads either: the round
    // trips of a read would keep its followers from electing another.
    let timeout = std::time::Duration::from_millis(ctx.config.write_timeout_ms);
    ctx.clock_gate.admit(&ctx.raft, timeout).await?;
    match tokio::time::timeout(
        timeout,
        ctx.raft
            .ensure_linearizable(openraft::ReadPolicy::ReadIndex),
    )
    .await
    {
        Err(_) => Err(ApiError::Write(WriteError::Timeout {
            timeout_ms: ctx.config.write_timeout_ms,
        })),
        Ok(Ok(_)) => Ok(()),
        Ok(Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(f)))) => {
            Err(ApiError::Write(WriteError::NotLeader {
                leader_id: f.leader_id,
                leader_api_addr: f.leader_node.map(|n| n.api_addr),
            }))
        }
        Ok(Err(e)) => Err(ApiError::Write(WriteError::Raft(e.to_string()))),
    }
}

pub(crate) fn role(state: ServerState) -> &'static str {
    match state {
        ServerState::Leader => "leader",
        ServerState::Follower => "follower",
        ServerState::Candidate => "candidate",
        ServerState::Learner => "learner",
        ServerState::Shutdown => "shutdown",
    }
}

#[tonic::async_trait]
impl ClusterService for ClusterServiceImpl {
    async fn status(
        &self,
        request: Request<StatusRequest>,
    ) -> Result<Response<NodeStatus>, Status> {
        let metrics = self.ctx.raft.metrics().borrow_watched().clone();
        let (apply_version, supported) = self.ctx.reader.apply_versions();
        let leader = self.ctx.leader();
        let leader_id = leader.as_ref().map_or(0, |(id, _)| *id);
        let leader_api_addr = leader.and_then(|(_, addr)| addr).unwrap_or_default();
        let state_digest = if request.into_inner().digest {
            let reader = self.ctx.reader.clone();
            tokio::task::spawn_blocking(move || reader.digest())
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?
                .map_err(ApiError::from)?
                .1
        } else {
            String::new()
        };
        let disk = self.ctx.disk.reading();
        let backup = self.ctx.reader.last_backup().map_err(ApiError::from)?;
        Ok(Response::new(NodeStatus {
            id: self.ctx.id,
            raft_addr: self.ctx.config.advertised_raft_addr().to_string(),
            api_addr: self.ctx.config.advertised_api_addr().to_string(),
            role: role(metrics.state).to_string(),
            term: metrics.current_term,
            leader_id,
            leader_api_addr,
            last_log_index: metrics.last_log_index.unwrap_or(0),
            applied_index: metrics.last_applied.map_or(0, |l| l.index),
            members: self.members(),
            state_digest,
            snapshot_index: metrics.snapshot.map_or(0, |l| l.index),
            purged_index: metrics.purged.map_or(0, |l| l.index),
            apply_version,
            apply_version_min: supported.min,
            apply_version_max: supported.max,
            store_format: raftflow_store::version::STORE_FORMAT,
            clock_offsets_ms: self.ctx.peer_clocks.fresh().into_iter().collect(),
            driving_epoch: self.ctx.scheduler.epoch().unwrap_or(0),
            disk_free_bytes: disk.free_bytes,
            data_dir_bytes: disk.data_bytes,
            short_of_space: self.ctx.disk.own_short().unwrap_or_default(),
            alarms: alarms(&self.ctx)?,
            last_backup_ms: backup.as_ref().map_or(0, |b| b.taken_ms),
            last_backup_index: backup.as_ref().map_or(0, |b| b.index),
            last_backup_name: backup.map(|b| b.destination).unwrap_or_default(),
            cluster_id: self
                .ctx
                .reader
                .cluster_id()
                .map_err(ApiError::from)?
                .unwrap_or_default(),
        }))
    }

    async fn upgrade_apply_version(
        &self,
        request: Request<UpgradeApplyVersionRequest>,
    ) -> Result<Response<UpgradeApplyVersionReply>, Status> {
        Target::set(&request, format!("version {}", request.get_ref().version));
        let version = request.into_inner().version;
        Ok(Response::new(
            crate::upgrade::upgrade(&self.ctx, version).await?,
        ))
    }

    async fn transfer_leader(
        &self,
        request: Request<TransferLeaderRequest>,
    ) -> Result<Response<TransferLeaderReply>, Status> {
        let to = request.get_ref().to;
        Target::set(&request, format!("node {to}"));
        let timeout = std::time::Duration::from_millis(self.ctx.config.write_timeout_ms);
        let named = (to != 0).then_some(to);
        let leader =
            crate::handover::hand_over(&self.ctx.raft, self.ctx.id, named, timeout).await?;
        Ok(Response::new(TransferLeaderReply {
            leader,
            previous: self.ctx.id,
        }))
    }

    async fn remove_peer(
        &self,
        request: Request<RemovePeerRequest>,
    ) -> Result<Response<MembershipReply>, Status> {
        let id = request.get_ref().id;
        Target::set(&request, format!("node {id}"));
        let log_index = crate::remove_peer::remove(&self.ctx, id).await?;
        Ok(Response::new(MembershipReply {
            log_index,
            members: self.members(),
        }))
    }

    type SaveSnapshotStream = crate::save_snapshot::ChunkStream;

    async fn save_snapshot(
        &self,
        request: Request<SaveSnapshotRequest>,
    ) -> Result<Response<Self::SaveSnapshotStream>, Status> {
        let linearizable = request.get_ref().linearizable;
        let stream = crate::save_snapshot::save(&self.ctx, linearizable).await?;
        Ok(Response::new(stream))
    }

    async fn add_learner(
        &self,
        request: Request<AddLearnerRequest>,
    ) -> Result<Response<MembershipReply>, Status> {
        Target::set(&request, format!("node {}", request.get_ref().id));
        let req = request.into_inner();
        if req.id == 0 {
            return Err(ApiError::InvalidArgument("node id must be at least 1".into()).into());
        }
        limits::required("the raft address", &req.raft_addr, limits::MAX_ADDR_CHARS)?;
        limits::required("the api address", &req.api_addr, limits::MAX_ADDR_CHARS)?;
        let node = NodeInfo {
            raft_addr: req.raft_addr,
            api_addr: req.api_addr,
        };
        let response = self
            .ctx
            .raft
            .add_learner(req.id, node, true)
            .await
            .map_err(client_write_error)?;
        Ok(Response::new(MembershipReply {
            log_index: response.log_id.index,
            members: self.members(),
        }))
    }

    async fn change_membership(
        &self,
        request: Request<ChangeMembershipRequest>,
    ) -> Result<Response<MembershipReply>, Status> {
        Target::set(&request, format!("voters {:?}", request.get_ref().voters));
        let req = request.into_inner();
        let voters: BTreeSet<u64> = req.voters.into_iter().collect();
        if voters.is_empty() {
            return Err(ApiError::InvalidArgument(
                "the new membership needs at least one voter".into(),
            )
            .into());
        }
        let response = self
            .ctx
            .raft
            .change_membership(voters, req.retain)
            .await
            .map_err(client_write_error)?;
        Ok(Response::new(MembershipReply {
            log_index: response.log_id.index,
            members: self.members(),
        }))
    }

    async fn probe(&self, request: Request<ProbeRequest>) -> Result<Response<ProbeReply>, Status> {
        Target::set(&request, &request.get_ref().key);
        let req = request.into_inner();
        if req.key.is_empty() || req.key.len() > limits::MAX_PROBE_KEY_BYTES {
            return Err(ApiError::InvalidArgument(format!(
                "probe key must be 1 to {} bytes",
                limits::MAX_PROBE_KEY_BYTES
            ))
            .into());
        }
        if req.value.len() > limits::MAX_PROBE_VALUE_BYTES {
            return Err(ApiError::InvalidArgument(format!(
                "the probe value is {} bytes; the limit is {}",
                req.value.len(),
                limits::MAX_PROBE_VALUE_BYTES
            ))
            .into());
        }
        let result = self
            .ctx
            .proposer
            .propose(Command::Probe {
                key: req.key,
                value: req.value,
            })
            .await
            .map_err(ApiError::from)?;
        match result {
            CommandResult::Probe { log_index } => Ok(Response::new(ProbeReply { log_index })),
            other => Err(ApiError::Internal(format!("a probe answered {other:?}")).into()),
        }
    }

    async fn read_probe(
        &self,
        request: Request<ReadProbeRequest>,
    ) -> Result<Response<ReadProbeReply>, Status> {
        let req = request.into_inner();
        if !req.local {
            linearizable_barrier(&self.ctx).await?;
        }
        let record = self.ctx.reader.probe(&req.key).map_err(ApiError::from)?;
        Ok(Response::new(match record {
            Some(r) => ReadProbeReply {
                found: true,
                value: r.value,
                log_index: r.log_index,
            },
            None => ReadProbeReply {
                found: false,
                value: Vec::new(),
                log_index: 0,
            },
        }))
    }
}

/// The raised alarms as this node applied them, for `Status`.
fn alarms(ctx: &NodeContext) -> Result<Vec<raftflow_proto::v1::Alarm>, ApiError> {
    use raftflow_store::alarms::AlarmKind;
    let alarms = ctx.reader.alarms().map_err(ApiError::from)?;
    Ok(alarms
        .into_iter()
        .map(|a| raftflow_proto::v1::Alarm {
            node: a.node,
            kind: match a.kind {
                AlarmKind::NoSpace => raftflow_proto::v1::AlarmKind::Nospace as i32,
            },
            detail: a.detail,
            since_ms: a.since_ms,
        })
        .collect())
}
