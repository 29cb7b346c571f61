//! The leader's delivery: one loop per subscription with pending events,
//! each round POSTing the oldest pending event of up to `MAX_PER_ROUND`
//! executions at once, then committing what happened in one
//! `EventsDelivered` (acknowledgements in batches, not one commit each).
//!
//! ```text
//!  apply: EventQueued{sub} ──▶ Outbox::absorb ──▶ wake sub's loop (spawn it if none)
//!  loop: read ≤ 256 pending ──▶ oldest per execution, due ──▶ POST all ──▶ EventsDelivered
//! ```
//! Order per execution: a round sends at most one event of an execution,
//! the oldest still pending, and the next round reads the outbox after the
//! report applied; an event waiting out its back-off holds back the later
//! events of its execution. A new leader starts a loop for every
//! subscription with pending events: what the old one sent and did not
//! report is sent again (at least once; the event's id is the same).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use raftflow_store::subscriptions::{self, OutboxEvent};
use raftflow_store::workflow::Effect;
use raftflow_store::Command;
use tokio::sync::Notify;

use super::post::{post, Round};
use crate::connections::{attach, seal};
use crate::node::NodeContext;
use crate::outbound::pool::Pool;

/// Pending events read per round, at most.
const READ_PER_ROUND: usize = 1024;
/// Events POSTed per round, at most.
const MAX_PER_ROUND: usize = 256;
/// The longest a loop sleeps without looking again (leadership, back-off).
const IDLE_CHECK_MS: u64 = 1_000;

/// Which subscriptions' outboxes the applies since the last look filled.
#[derive(Default)]
pub struct Outbox {
    queued: Mutex<BTreeSet<String>>,
    wake: Notify,
}

impl Outbox {
    pub fn absorb(&self, effects: &[Effect]) {
        let mut queued = self.queued.lock().expect("outbox lock");
        let before = queued.len();
        for effect in effects {
            if let Effect::EventQueued { subscription } = effect {
                queued.insert(subscription.clone());
            }
        }
        if queued.len() != before {
            self.wake.notify_one();
        }
    }

    fn take(&self) -> BTreeSet<String> {
        std::mem::take(&mut *self.queued.lock().expect("outbox lock"))
    }
}

/// Delivers every subscription's events while this node leads under `epoch`.
pub async fn run(ctx: NodeContext, epoch: u64) {
    let limits = &ctx.config.outbound;
    let pool = Arc::new(Pool::new(limits.max_calls, limits.max_calls_per_host));
    let mut loops: BTreeMap<String, (Arc<Notify>, tokio::task::JoinHandle<()>)> = BTreeMap::new();
    let mut names = with_pending(&ctx).await;
    while leading(&ctx, epoch) {
        for name in std::mem::take(&mut names) {
            match loops.get(&name) {
                Some((wake, handle)) if !handle.is_finished() => wake.notify_one(),
                _ => {
                    let wake = Arc::new(Notify::new());
                    let job =
                        deliver_loop(ctx.clone(), epoch, name.clone(), pool.clone(), wake.clone());
                    loops.insert(name, (wake, tokio::spawn(job)));
                }
            }
        }
        let idle = tokio::time::sleep(Duration::from_millis(IDLE_CHECK_MS));
        tokio::select! {
            () = ctx.outbox.wake.notified() => {}
            () = idle => {}
        }
        names = ctx.outbox.take();
    }
    loops.values().for_each(|(_, handle)| handle.abort());
}

fn leading(ctx: &NodeContext, epoch: u64) -> bool {
    ctx.scheduler.epoch() == Some(epoch) && !*ctx.stopping.borrow()
}

/// The subscriptions whose outbox holds events (a new leader's start).
async fn with_pending(ctx: &NodeContext) -> BTreeSet<String> {
    let reader = ctx.reader.clone();
    let all = tokio::task::spawn_blocking(move || {
        subscriptions::list(reader.db(), "", subscriptions::MAX_SUBSCRIPTIONS)
    })
    .await;
    match all {
        Ok(Ok(all)) => all
            .into_iter()
            .filter(|s| s.pending > 0)
            .map(|s| s.def.name)
            .collect(),
        _ => {
            tracing::error!("cannot read the subscriptions at takeover");
            BTreeSet::new()
        }
    }
}

/// Rounds for one subscription until it is deleted or disabled, or this
/// node no longer leads; idle, it waits for `wake` or its next back-off.
async fn deliver_loop(
    ctx: NodeContext,
    epoch: u64,
    name: String,
    pool: Arc<Pool>,
    wake: Arc<Notify>,
) {
    while leading(&ctx, epoch) {
        let Some((sub, pending)) = read(&ctx, &name).await else {
            return;
        };
        if !sub.def.enabled {
            return;
        }
        let now_ms = ctx.log_now_ms();
        let (due, next_at_ms) = choose(&pending, now_ms);
        if due.is_empty() {
            // Nothing pending: only a new event wakes it (`run` ends the
            // loop when this node stops leading); else the next back-off.
            let Some(at_ms) = next_at_ms else {
                wake.notified().await;
                continue;
            };
            let wait_ms = at_ms.saturating_sub(now_ms).clamp(1, IDLE_CHECK_MS);
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(Duration::from_millis(wait_ms)) => {}
            }
            continue;
        }
        let round = match prepare(&ctx, sub).await {
            Ok(round) => round,
            Err(why) => {
                let failed = due.iter().map(|e| (e.seq, why.clone())).collect();
                report(&ctx, &name, Vec::new(), failed).await;
                continue;
            }
        };
        let sends = due.iter().map(|e| post(&ctx, &pool, &round, e));
        let outcomes = futures::future::join_all(sends).await;
        let mut delivered = Vec::new();
        let mut failed = Vec::new();
        let lag_ms = ctx.log_now_ms();
        for (event, outcome) in due.iter().zip(outcomes) {
            match outcome {
                Ok(()) => {
                    let lag_s = lag_ms.saturating_sub(event.at_ms) as f64 / 1000.0;
                    ctx.metrics.events.lag.observe_s(lag_s);
                    delivered.push(event.seq);
                }
                Err(why) => failed.push((event.seq, why)),
            }
        }
        ctx.metrics.events.count(delivered.len(), failed.len());
        if !report(&ctx, &name, delivered, failed).await {
            return;
        }
    }
}

/// The events to send now: of each execution, its oldest pending event,
/// when due; and the earliest time a held-back one falls due.
pub fn choose(pending: &[OutboxEvent], now_ms: u64) -> (Vec<OutboxEvent>, Option<u64>) {
    let mut seen = BTreeSet::new();
    let mut due = Vec::new();
    let mut next_at_ms: Option<u64> = None;
    for event in pending {
        if !seen.insert(event.execution_id.as_str()) {
            continue; // an older event of this execution is still pending
        }
        if event.next_at_ms > now_ms {
            next_at_ms = Some(next_at_ms.map_or(event.next_at_ms, |n| n.min(event.next_at_ms)));
        } else if due.len() < MAX_PER_ROUND {
            due.push(event.clone());
        }
    }
    (due, next_at_ms)
}

async fn read(
    ctx: &NodeContext,
    name: &str,
) -> Option<(subscriptions::Subscription, Vec<OutboxEvent>)> {
    let reader = ctx.reader.clone();
    let key = name.to_string();
    let read = tokio::task::spawn_blocking(move || {
        let Some(sub) = subscriptions::read(reader.db(), &key)? else {
            return Ok(None);
        };
        let pending = subscriptions::pending(reader.db(), &key, 0, READ_PER_ROUND)?;
        Ok::<_, raftflow_store::StoreError>(Some((sub, pending)))
    })
    .await;
    match read {
        Ok(Ok(found)) => found,
        other => {
            tracing::error!("reading subscription {name}: {other:?}");
            None
        }
    }
}

/// Opens the signing secret and the connection's credentials once a round.
async fn prepare(ctx: &NodeContext, sub: subscriptions::Subscription) -> Result<Round, String> {
    let (sealed_name, kind) = super::seal_as(&sub.def.name);
    let secret = match seal::open(
        &ctx.connection_keys.all,
        &sealed_name,
        &kind,
        &sub.def.secret,
    ) {
        Ok(seal::Secret::Bearer { token }) => token.into_bytes(),
        Ok(_) => return Err("the signing secret is not one".into()),
        Err(e) => return Err(format!("the signing secret: {e}")),
    };
    let mut headers = Vec::new();
    let mut client_auth = None;
    if !sub.def.connection.is_empty() {
        let (kind, credentials) = attach::credentials(ctx, &sub.def.connection)
            .await
            .map_err(|f| f.cause)?;
        client_auth = attach::attach(&kind, &credentials, &mut headers).map_err(|f| f.cause)?;
    }
    Ok(Round {
        sub,
        secret,
        headers,
        client_auth,
    })
}

/// Commits a round's outcome; false when it could not (no longer leader).
async fn report(
    ctx: &NodeContext,
    name: &str,
    delivered: Vec<u64>,
    failed: Vec<(u64, String)>,
) -> bool {
    let command = Command::EventsDelivered {
        subscription: name.to_string(),
        delivered,
        failed,
        now_ms: ctx.stamp_ms(),
    };
    match ctx.proposer.propose(command).await {
        Ok(_) => true,
        Err(e) => {
            tracing::debug!("delivery report of {name} not applied: {e}");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raftflow_store::subscriptions::Change;

    fn event(seq: u64, execution: &str, next_at_ms: u64) -> OutboxEvent {
        OutboxEvent {
            seq,
            execution_id: execution.into(),
            change: Change::Started,
            at_ms: 0,
            attempts: 0,
            next_at_ms,
            last_error: String::new(),
        }
    }

    #[test]
    fn one_event_per_execution_the_oldest_and_only_when_due() {
        let pending = [
            event(1, "a", 0),
            event(2, "a", 0),
            event(3, "b", 500),
            event(4, "b", 0),
            event(5, "c", 0),
        ];
        let (due, next) = choose(&pending, 100);
        let seqs: Vec<u64> = due.iter().map(|e| e.seq).collect();
        assert_eq!(
            seqs,
            vec![1, 5],
            "b's oldest waits out its back-off; 2 and 4 wait behind"
        );
        assert_eq!(next, Some(500));
        let over = MAX_PER_ROUND as u64 + 10;
        let many: Vec<_> = (0..over).map(|i| event(i, &format!("x{i}"), 0)).collect();
        assert_eq!(choose(&many, 0).0.len(), MAX_PER_ROUND);
    }
}
