//! A leader whose clock disagrees with a majority of the voters stops
//! leading.
//!
//! Votes are refused to a candidate whose clock is off (raft_service.rs),
//! but that is not enough: a leader restarted with a wrong clock takes its
//! leadership back from its committed vote without an election (openraft
//! 0.9), and a leader's clock may step while it leads. So the leader judges
//! its own clock on every heartbeat, from the offsets its Raft round trips
//! measure (peer_clocks.rs):
//!
//! ```text
//!  agrees with a majority (itself included) ──▶ open: proposes, drives
//!  not measured yet (just took over)        ──▶ unconfirmed: proposes nothing, keeps heartbeats
//!  disagrees with a majority                ──▶ skewed: proposes nothing, stops heartbeats
//!                                               ⇒ the followers' silence timeout elects another
//!                                                 (which refuses this node's votes)
//! ```
//! Proposing nothing means stamping nothing: no command carries a time from
//! a clock the cluster has not agreed with, so no timer is armed from it.

use std::time::Duration;

use openraft::ServerState;
use tokio::sync::watch;

use crate::node::NodeContext;

/// Not leading: nothing to judge (a follower's writes go to the leader).
const FOLLOWER: u8 = 0;
const OPEN: u8 = 1;
const UNCONFIRMED: u8 = 2;
const SKEWED: u8 = 3;

/// How often the leader judges its clock: often enough that a new leader
/// waits about one round trip after its first measurement.
const JUDGE_EVERY: Duration = Duration::from_millis(20);

/// Whether this node may propose, as far as its clock goes.
#[derive(Debug)]
pub struct ClockGate {
    state: watch::Sender<u8>,
}

impl Default for ClockGate {
    fn default() -> Self {
        Self {
            state: watch::Sender::new(FOLLOWER),
        }
    }
}

impl ClockGate {
    /// Why a proposal must wait, or `None` when the clock is agreed.
    /// `leading`: whether Raft says this node leads now; a node that leads
    /// but was not judged as leader yet (it just took over, or restarted
    /// and took its leadership back) must not stamp either.
    pub fn refusal(&self, leading: bool) -> Option<&'static str> {
        match *self.state.borrow() {
            OPEN => None,
            FOLLOWER if !leading => None,
            UNCONFIRMED => Some(
                "this leader has not yet measured its clock against a majority of the voters",
            ),
            _ => Some(
                "this leader's clock is more than raft.max_clock_offset_ms off a majority of the voters; it is stepping down",
            ),
        }
    }

    fn set(&self, state: u8) -> u8 {
        self.state.send_replace(state)
    }

    /// Waits until the clock is agreed (a new leader's first judgement).
    pub async fn opened(&self) {
        let mut state = self.state.subscribe();
        let _ = state.wait_for(|s| *s == OPEN).await;
    }
}

/// Judges this node's clock while it leads, every [`JUDGE_EVERY`].
pub async fn run(ctx: NodeContext) {
    let mut stopping = ctx.stopping.clone();
    loop {
        judge(&ctx);
        tokio::select! {
            _ = tokio::time::sleep(JUDGE_EVERY) => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
    }
}

fn judge(ctx: &NodeContext) {
    let m = ctx.raft.metrics().borrow().clone();
    let state = if m.state != ServerState::Leader {
        FOLLOWER
    } else {
        let voters: Vec<u64> = m.membership_config.membership().voter_ids().collect();
        let max_offset_ms = ctx.config.raft.max_clock_offset_ms;
        match ctx
            .peer_clocks
            .agrees_with_majority(&voters, ctx.id, max_offset_ms)
        {
            Some(true) => OPEN,
            None => UNCONFIRMED,
            Some(false) => SKEWED,
        }
    };
    let was = ctx.clock_gate.set(state);
    if was == state {
        return;
    }
    // Heartbeats stop only while skewed: an unconfirmed leader needs its
    // round trips to measure.
    ctx.raft.runtime_config().heartbeat(state != SKEWED);
    match state {
        SKEWED => tracing::error!(
            node = ctx.id,
            offsets_ms = ?ctx.peer_clocks.fresh(),
            "this node's clock is more than raft.max_clock_offset_ms off a majority of the voters: it proposes nothing and stops its heartbeats so that another node is elected; fix its clock (NTP)"
        ),
        // The next stamp anchors on a clock the voters agreed with.
        OPEN if m.state == ServerState::Leader => {
            ctx.log_clock.reanchor();
            if was == SKEWED {
                tracing::warn!(
                    node = ctx.id,
                    "this leader's clock agrees with a majority again"
                );
            }
        }
        _ => {}
    }
}
