//! A leader whose clock disagrees with a majority of the voters stops
//! leading.
//!
//! Votes are refused to a candidate whose clock is off (raft_service.rs),
//! but that is not enough: a leader restarted with a wrong clock takes its
//! leadership back from its committed vote without an election (openraft
//! 0.9), and a leader's clock may step while it leads. So the leader judges
//! its own clock every 20 ms, from the offsets its Raft round trips measure
//! (peer_clocks.rs):
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

use crate::raft_service::WatchReceiver as _;
use std::time::Duration;

use openraft::ServerState;
use tokio::sync::watch;

use crate::error::WriteError;
use crate::node::NodeContext;
use crate::raft_service::Raft;

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
    /// Lets a proposal or a read through, or says why this node must not
    /// serve it. A leader not judged yet (it just took over, or restarted
    /// and took its leadership back) holds it until its first judgement,
    /// at most `wait`: a client's write then waits a round trip instead of
    /// failing. Raft is asked whether this node leads only while the gate
    /// says follower.
    pub async fn admit(&self, raft: &Raft, wait: Duration) -> Result<(), WriteError> {
        if *self.state.borrow() == OPEN {
            return Ok(()); // the leader's every write
        }
        let mut state = self.state.subscribe();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let now = *state.borrow_and_update();
            let pending = match now {
                OPEN => return Ok(()),
                SKEWED => return Err(WriteError::ClockNotAgreed(why(now))),
                FOLLOWER => raft.metrics().borrow_watched().state == ServerState::Leader,
                _ => true,
            };
            if !pending {
                return Ok(());
            }
            match tokio::time::timeout_at(deadline, state.changed()).await {
                Ok(Ok(())) => {}
                _ => return Err(WriteError::ClockNotAgreed(why(now))),
            }
        }
    }

    fn set(&self, state: u8) -> u8 {
        self.state.send_replace(state)
    }

    /// Waits until the clock is agreed (a new leader's first judgement),
    /// at most `timeout`.
    pub async fn opened(&self, timeout: Duration) -> Result<(), WriteError> {
        let mut state = self.state.subscribe();
        let opened = tokio::time::timeout(timeout, state.wait_for(|s| *s == OPEN))
            .await
            .is_ok_and(|r| r.is_ok());
        if opened {
            Ok(())
        } else {
            Err(WriteError::ClockNotAgreed(why(*self.state.borrow())))
        }
    }
}

fn why(state: u8) -> &'static str {
    match state {
        SKEWED => "this leader's clock is more than raft.max_clock_offset_ms off a majority of the voters; it is stepping down",
        _ => "this leader has not yet measured its clock against a majority of the voters",
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
    let (leading, voters) = {
        let m = ctx.raft.metrics();
        let m = m.borrow_watched();
        let voters: Vec<u64> = m.membership_config.membership().voter_ids().collect();
        (m.state == ServerState::Leader, voters)
    };
    let state = if !leading {
        FOLLOWER
    } else {
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
        OPEN if leading => {
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
