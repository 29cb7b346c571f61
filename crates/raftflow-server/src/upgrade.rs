//! Raising the cluster's apply version (CockroachDB's "finalize upgrade").
//!
//! ```text
//!  operator ──UpgradeApplyVersion──▶ leader ──Status──▶ every member (voters and learners)
//!                                      │  each reports the apply versions its binary supports
//!                                      └─ all support v? ──▶ propose SetApplyVersion{v} ──▶ every replica
//! ```
//! Until the version is raised the cluster can be rolled back to the older
//! binary. A member that did not answer blocks the upgrade: it might run an
//! older binary, which would stop at the entry. (One that is swapped for an
//! older binary after the check stops at the entry with a clear line, and
//! the others go on: apply never guesses rules it does not know.)

use crate::raft_service::WatchReceiver as _;
use std::time::Duration;

use raftflow_proto::v1::cluster_service_client::ClusterServiceClient;
use raftflow_proto::v1::{StatusRequest, UpgradeApplyVersionReply};
use raftflow_store::version::APPLY_VERSION_MIN;
use raftflow_store::{Command, CommandResult};

use crate::cluster_service::linearizable_barrier;
use crate::error::ApiError;
use crate::node::NodeContext;

const STATUS_TIMEOUT: Duration = Duration::from_secs(3);

/// One member's supported range, or why it is unknown.
struct MemberRange {
    id: u64,
    addr: String,
    max: Result<u32, String>,
}

/// Raises the apply version to `requested` (0: the highest every member
/// supports). Runs on the leader.
pub async fn upgrade(
    ctx: &NodeContext,
    requested: u32,
) -> Result<UpgradeApplyVersionReply, ApiError> {
    linearizable_barrier(ctx).await?;
    let (previous, _) = ctx.reader.apply_versions();
    let ranges = member_ranges(ctx).await;
    let common = common_max(&ranges)?;
    let target = if requested == 0 { common } else { requested };
    if target > common {
        let short = ranges
            .iter()
            .find(|r| r.max.as_ref().is_ok_and(|m| *m < target))
            .map(|r| {
                format!(
                    "node {} ({}) supports apply versions up to {}",
                    r.id,
                    r.addr,
                    r.max.as_ref().map_or(0, |m| *m)
                )
            })
            .unwrap_or_default();
        return Err(ApiError::FailedPrecondition(format!(
            "cannot raise the apply version to {target}: {short}; upgrade its binary first"
        )));
    }
    if target < previous {
        return Err(ApiError::FailedPrecondition(format!(
            "the apply version is {previous} and never goes down (asked for {target})"
        )));
    }
    let result = ctx
        .proposer
        .propose(Command::SetApplyVersion { version: target })
        .await?;
    match result {
        CommandResult::ApplyVersion { version, log_index } => {
            ensure_cluster_id(ctx).await;
            Ok(UpgradeApplyVersionReply {
                previous,
                active: version,
                log_index,
            })
        }
        CommandResult::Rejected { message, .. } => Err(ApiError::FailedPrecondition(message)),
        other => Err(ApiError::Internal(format!("an upgrade answered {other:?}"))),
    }
}

/// Whether a new cluster's leader has settled its apply version. A node
/// that starts on tables holding no workflow begins unsettled; the first
/// state machine created on it waits (a little) for the raise, so that the
/// quick start's first workflow already runs under the newest rules.
pub struct NewCluster {
    settled: tokio::sync::watch::Sender<bool>,
}

impl NewCluster {
    pub fn new(holds_workflows: bool) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
            settled: tokio::sync::watch::channel(holds_workflows).0,
        })
    }

    fn settle(&self) {
        self.settled.send_replace(true);
    }

    /// On the leader of a cluster whose version is not settled yet, waits
    /// until it is, or the newest version is applied (at most
    /// `NEW_CLUSTER_WAIT`). Elsewhere returns at once.
    pub async fn wait(&self, ctx: &NodeContext) {
        // Mid-election, first learn who leads: a node that is about to win
        // would otherwise skip the wait here and then, its proposer waiting
        // out the vote, commit the write under version 1.
        let mut metrics = ctx.raft.metrics();
        let known = metrics.wait_until(|m| m.current_leader.is_some());
        let _ = tokio::time::timeout(crate::scheduler::TAKEOVER_WAIT, known).await;
        let leading = ctx.raft.metrics().borrow_watched().current_leader == Some(ctx.id);
        if !leading {
            return;
        }
        let mut settled = self.settled.subscribe();
        let mut applied = ctx.reader.watch_applied();
        let newest = ctx.reader.apply_versions().1.max;
        let raised = async {
            loop {
                if *settled.borrow_and_update() || ctx.reader.active_apply_version() >= newest {
                    return;
                }
                tokio::select! {
                    changed = settled.changed() => if changed.is_err() { return },
                    changed = applied.changed() => if changed.is_err() { return },
                }
            }
        };
        let _ = tokio::time::timeout(NEW_CLUSTER_WAIT, raised).await;
    }
}

/// Settles the new-cluster gate when the raise ends, unless it ended
/// because this node stopped leading: a leader that loses its term before
/// the raise commits must not open the gate for its next term, whose first
/// writes would then run under version 1 (one of the two ways a CI run's
/// first token write met version 1; the other was the wait's bound). Its
/// next takeover raises again.
struct SettleOnDrop {
    gate: std::sync::Arc<NewCluster>,
    deposed: bool,
}

impl Drop for SettleOnDrop {
    fn drop(&mut self) {
        if !self.deposed {
            self.gate.settle();
        }
    }
}

/// A cluster that holds no workflow yet starts on the newest apply version
/// all its members support: nothing stored needs an older binary, so there
/// is no rollback to keep open (CockroachDB and etcd finalize new clusters
/// the same way). Tried at each takeover while the tables stay empty; a
/// member that does not answer yet is asked again shortly.
pub async fn raise_on_new_cluster(ctx: NodeContext, epoch: u64) {
    let mut settle = SettleOnDrop {
        gate: ctx.new_cluster.clone(),
        deposed: false,
    };
    for _ in 0..NEW_CLUSTER_TRIES {
        if ctx.scheduler.epoch() != Some(epoch) {
            settle.deposed = true;
            return;
        }
        let (active, supported) = ctx.reader.apply_versions();
        let reader = ctx.reader.clone();
        let holds = tokio::task::spawn_blocking(move || {
            raftflow_store::workflow::reads::holds_workflows(reader.db())
        })
        .await;
        if active >= supported.max || !matches!(holds, Ok(Ok(false))) {
            return;
        }
        match upgrade(&ctx, 0).await {
            Ok(raised) => {
                if raised.active > raised.previous {
                    tracing::info!(
                        node = ctx.id,
                        version = raised.active,
                        "a new cluster: raised the apply version to the newest every member supports"
                    );
                }
                return;
            }
            Err(e) => tracing::debug!("the new cluster's apply version stays for now: {e}"),
        }
        tokio::time::sleep(NEW_CLUSTER_RETRY).await;
    }
}

const NEW_CLUSTER_TRIES: usize = 20;
const NEW_CLUSTER_RETRY: Duration = Duration::from_millis(500);
/// How long the first writes that need the newest rules wait for a new
/// cluster's raise. The raise itself settles the gate within its tries
/// (~10 s and the calls), so this bound only matters on a machine so slow
/// that the tries run long. (A CI run's first token write once ran under
/// version 1: past this bound, then 10 s, or after a deposed leader's raise
/// had opened the gate, which `SettleOnDrop` no longer does.)
const NEW_CLUSTER_WAIT: Duration = Duration::from_secs(30);

/// The highest version every member supports, or which member is unknown.
fn common_max(ranges: &[MemberRange]) -> Result<u32, ApiError> {
    let mut common = u32::MAX;
    for r in ranges {
        match &r.max {
            Ok(max) => common = common.min(*max),
            Err(why) => {
                return Err(ApiError::FailedPrecondition(format!(
                    "node {} ({}) did not report its apply versions ({why}); every member must answer before the version is raised",
                    r.id, r.addr
                )))
            }
        }
    }
    Ok(common)
}

/// Every member's supported maximum: this node's own, the others' by Status.
async fn member_ranges(ctx: &NodeContext) -> Vec<MemberRange> {
    let members = ctx.members();
    let calls = members.into_iter().map(|(id, addr)| async move {
        let max = if id == ctx.id {
            Ok(ctx.reader.apply_versions().1.max)
        } else {
            remote_max(&ctx.security, id, &addr).await
        };
        MemberRange { id, addr, max }
    });
    futures::future::join_all(calls).await
}

async fn remote_max(security: &crate::tls::Security, id: u64, addr: &str) -> Result<u32, String> {
    let channel = crate::tls::peer_channel(security, id, addr, STATUS_TIMEOUT).await?;
    let status = ClusterServiceClient::new(channel)
        .status(StatusRequest { digest: false })
        .await
        .map_err(|e| e.message().to_string())?
        .into_inner();
    // A binary from before versions leaves the field 0: it follows version 1.
    Ok(status.apply_version_max.max(APPLY_VERSION_MIN))
}

/// Names the cluster once its apply version allows it (cluster_id.rs):
/// after each raise, and at each takeover (a leader that raised the version
/// may have lost its term before it named the cluster).
pub async fn ensure_cluster_id(ctx: &NodeContext) {
    if ctx.reader.active_apply_version() < raftflow_store::cluster_id::CLUSTER_ID_FROM {
        return;
    }
    if !matches!(ctx.reader.cluster_id(), Ok(None)) {
        return;
    }
    let id = raftflow_store::cluster_id::from_random(rand::random());
    match ctx.proposer.propose(Command::SetClusterId { id }).await {
        Ok(_) => tracing::info!(node = ctx.id, "named the cluster"),
        Err(e) => tracing::debug!("the cluster stays unnamed for now: {e}"),
    }
}
