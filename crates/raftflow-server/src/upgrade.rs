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
        CommandResult::ApplyVersion { version, log_index } => Ok(UpgradeApplyVersionReply {
            previous,
            active: version,
            log_index,
        }),
        CommandResult::Rejected { message, .. } => Err(ApiError::FailedPrecondition(message)),
        other => Err(ApiError::Internal(format!("an upgrade answered {other:?}"))),
    }
}

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
    let members: Vec<(u64, String)> = {
        let metrics = ctx.raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership().clone();
        membership
            .nodes()
            .map(|(id, node)| (*id, node.api_addr.clone()))
            .collect()
    };
    let calls = members.into_iter().map(|(id, addr)| async move {
        let max = if id == ctx.id {
            Ok(ctx.reader.apply_versions().1.max)
        } else {
            remote_max(&addr).await
        };
        MemberRange { id, addr, max }
    });
    futures::future::join_all(calls).await
}

async fn remote_max(addr: &str) -> Result<u32, String> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| e.to_string())?
        .connect_timeout(STATUS_TIMEOUT)
        .timeout(STATUS_TIMEOUT);
    let channel = endpoint.connect().await.map_err(|e| e.to_string())?;
    let status = ClusterServiceClient::new(channel)
        .status(StatusRequest { digest: false })
        .await
        .map_err(|e| e.message().to_string())?
        .into_inner();
    // A binary from before versions leaves the field 0: it follows version 1.
    Ok(status.apply_version_max.max(APPLY_VERSION_MIN))
}
