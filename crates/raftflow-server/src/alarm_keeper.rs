//! The disk check on every node, and on the leader the members' reports and
//! the replicated alarms (disk_guard.rs, raftflow_store::alarms).
//!
//! ```text
//!  every check_interval_ms:  measure own disk
//!  leader only:              Status ──▶ each member ──▶ record its short_of_space
//!                            short and no alarm ──▶ SetAlarm raise    (apply version 10 on)
//!                            alarm and not short ──▶ SetAlarm clear   (a member that did not answer keeps its alarm)
//! ```
//! Only the leader proposes, from fresh reports, so one condition gives one
//! entry, not one per node. The door does not wait for the entry: it reads
//! the same reports (disk_guard.rs), under any apply version.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::raft_service::WatchReceiver as _;
use raftflow_proto::v1::cluster_service_client::ClusterServiceClient;
use raftflow_proto::v1::StatusRequest;
use raftflow_store::alarms::{AlarmKind, ALARMS_FROM, MAX_ALARM_DETAIL_BYTES};
use raftflow_store::{Command, NodeId};
use tonic::transport::Channel;

use crate::node::NodeContext;

/// A member's Status call gives up after this.
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);

/// Channels to the members' API ports, kept between rounds.
type Channels = BTreeMap<NodeId, (String, Channel)>;

pub async fn run(ctx: NodeContext) {
    let interval = Duration::from_millis(ctx.disk.config.check_interval_ms);
    let mut channels = Channels::new();
    let mut stopping = ctx.stopping.clone();
    loop {
        let (guard, id) = (ctx.disk.clone(), ctx.id);
        let _ = tokio::task::spawn_blocking(move || guard.check(id)).await;
        if ctx.raft.metrics().borrow_watched().current_leader == Some(ctx.id) {
            gather(&ctx, &mut channels).await;
            keep_alarms(&ctx).await;
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
    }
}

/// Asks every other member whether it is short of space.
async fn gather(ctx: &NodeContext, channels: &mut Channels) {
    let members = ctx.members();
    channels.retain(|id, (addr, _)| members.get(id) == Some(addr));
    for (id, addr) in members.iter().filter(|(id, _)| **id != ctx.id) {
        if !channels.contains_key(id) {
            match crate::tls::peer_channel(&ctx.security, *id, addr, STATUS_TIMEOUT).await {
                Ok(channel) => {
                    channels.insert(*id, (addr.clone(), channel));
                }
                Err(e) => {
                    tracing::debug!(member = id, "no channel for the disk check: {e}");
                    continue;
                }
            }
        }
        let channel = channels[id].1.clone();
        let mut client = ClusterServiceClient::new(channel);
        let call = client.status(StatusRequest { digest: false });
        match tokio::time::timeout(STATUS_TIMEOUT, call).await {
            Ok(Ok(status)) => {
                let short = status.into_inner().short_of_space;
                ctx.disk
                    .record_member(*id, (!short.is_empty()).then_some(short));
            }
            Ok(Err(e)) => tracing::debug!(member = id, "disk check: {}", e.message()),
            Err(_) => tracing::debug!(member = id, "disk check: no answer in time"),
        }
    }
}

/// Raises the alarm of each node short of space, clears the alarm of each
/// node that reported it is not (or left the membership).
async fn keep_alarms(ctx: &NodeContext) {
    if ctx.reader.active_apply_version() < ALARMS_FROM {
        return;
    }
    let raised: BTreeMap<NodeId, String> = match ctx.reader.alarms() {
        Ok(alarms) => alarms
            .into_iter()
            .filter(|a| a.kind == AlarmKind::NoSpace)
            .map(|a| (a.node, a.detail))
            .collect(),
        Err(e) => {
            tracing::warn!("cannot read the alarms: {e}");
            return;
        }
    };
    let members = ctx.members();
    let mut known = ctx.disk.fresh_members();
    known.insert(ctx.id, ctx.disk.own_short());
    for (node, short) in known.iter().filter(|(id, _)| members.contains_key(id)) {
        match (short, raised.contains_key(node)) {
            (Some(why), false) => propose(ctx, *node, Some(why)).await,
            (None, true) => propose(ctx, *node, None).await,
            _ => {}
        }
    }
    for node in raised.keys().filter(|id| !members.contains_key(id)) {
        propose(ctx, *node, None).await;
    }
}

async fn propose(ctx: &NodeContext, node: NodeId, short: Option<&String>) {
    let mut detail = short.cloned().unwrap_or_default();
    if detail.len() > MAX_ALARM_DETAIL_BYTES {
        let mut cut = MAX_ALARM_DETAIL_BYTES;
        while !detail.is_char_boundary(cut) {
            cut -= 1;
        }
        detail.truncate(cut);
    }
    let command = Command::SetAlarm {
        node,
        kind: AlarmKind::NoSpace,
        raised: short.is_some(),
        detail,
        now_ms: ctx.stamp_ms(),
    };
    match ctx.proposer.propose(command).await {
        Ok(_) => tracing::info!(
            node,
            raised = short.is_some(),
            "NOSPACE alarm {}",
            if short.is_some() { "raised" } else { "cleared" }
        ),
        Err(e) => tracing::debug!(node, "the alarm stays as it is for now: {e}"),
    }
}

/// The disk families of `/metrics`: this node's free space and state, and
/// the cluster's raised alarms as applied here.
pub fn render(ctx: &NodeContext, page: &mut crate::exposition::Page) {
    page.gauge(
        "raftflow_disk_free_bytes",
        "Free space on the filesystem of this node's data directory (last check).",
        ctx.disk.reading().free_bytes as i64,
    );
    page.gauge(
        "raftflow_disk_short_of_space",
        "1 while this node is below storage.min_free_mb or above storage.quota_mb.",
        i64::from(ctx.disk.own_short().is_some()),
    );
    let last_ms = ctx
        .reader
        .last_backup()
        .ok()
        .flatten()
        .map_or(0, |b| b.taken_ms);
    page.gauge_f64(
        "raftflow_backup_last_success_timestamp_seconds",
        "When the last scheduled backup was taken (replicated: the same on every node; 0: none).",
        last_ms as f64 / 1000.0,
    );
    page.counter(
        "raftflow_backup_failures_total",
        "Scheduled backups that failed on this node (each is logged).",
        ctx.metrics
            .backup_failures
            .load(std::sync::atomic::Ordering::Relaxed),
    );
    let alarms = ctx.reader.alarms().unwrap_or_default();
    page.gauges(
        "raftflow_alarms",
        "Raised alarms in the replicated state, by kind and node (new work is refused while NOSPACE is raised).",
        alarms.iter().map(|alarm| {
            let node = alarm.node.to_string();
            (crate::exposition::labels(&[("kind", alarm.kind.as_str()), ("node", &node)]), 1)
        }),
    );
}
