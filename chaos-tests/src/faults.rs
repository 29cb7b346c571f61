//! The seeded fault schedule, and applying it to the cluster.
//!
//! The schedule is a pure function of the seed, the scenario and the
//! duration, so `--seed N` replays the same faults in the same order with the
//! same gaps and hold times (the leader they hit depends on the elections).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use raftflow_client::Client;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::cluster::{Cluster, NODES};
use crate::history::{Record, Recorder};
use crate::workload::WorkerFaults;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    KillLeader,
    PauseLeader,
    IsolateLeader,
    IsolateFollower,
    KillFollower,
    KillAll,
    KillWorker,
    ClockStep,
    SkewedRestart,
}

pub const ALL: [FaultKind; 9] = [
    FaultKind::KillLeader,
    FaultKind::PauseLeader,
    FaultKind::IsolateLeader,
    FaultKind::IsolateFollower,
    FaultKind::KillFollower,
    FaultKind::KillAll,
    FaultKind::KillWorker,
    FaultKind::ClockStep,
    FaultKind::SkewedRestart,
];

impl FaultKind {
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::KillLeader => "kill-leader",
            FaultKind::PauseLeader => "pause-leader",
            FaultKind::IsolateLeader => "isolate-leader",
            FaultKind::IsolateFollower => "isolate-follower",
            FaultKind::KillFollower => "kill-follower",
            FaultKind::KillAll => "kill-all",
            FaultKind::KillWorker => "kill-worker",
            FaultKind::ClockStep => "clock-step",
            FaultKind::SkewedRestart => "skewed-restart",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        ALL.into_iter().find(|k| k.name() == name)
    }

    pub fn needs_network(self) -> bool {
        matches!(self, FaultKind::IsolateLeader | FaultKind::IsolateFollower)
    }

    /// Faults that shift a node's clock, a switch only the test node
    /// (`raftflow-fault-node`) accepts.
    pub fn needs_fault_node(self) -> bool {
        matches!(self, FaultKind::ClockStep | FaultKind::SkewedRestart)
    }

    /// Faults that may delay what the cluster does (an election, a lost
    /// node): a timer may fire late across them, never early.
    pub fn delays_timers(self) -> bool {
        !matches!(self, FaultKind::KillWorker | FaultKind::ClockStep)
    }

    /// Faults after which the cluster needs a new leader (failover is timed).
    pub fn takes_leader(self) -> bool {
        matches!(
            self,
            FaultKind::KillLeader
                | FaultKind::PauseLeader
                | FaultKind::IsolateLeader
                | FaultKind::KillAll
                | FaultKind::SkewedRestart
        )
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Planned {
    pub kind: FaultKind,
    /// Quiet time before the fault.
    pub gap_ms: u64,
    /// How long the fault lasts before it is healed (or the node restarted).
    pub hold_ms: u64,
    /// For the clock faults: the offset given to the node's clock (one
    /// hour, ahead or behind); 0 for the others.
    pub clock_ms: i64,
}

/// How far the clock faults move a node's clock.
pub const CLOCK_FAULT_MS: i64 = 3_600_000;

/// Plans faults of `kinds` (cycled in a seeded order) to fill `duration_ms`.
pub fn plan(seed: u64, kinds: &[FaultKind], duration_ms: u64) -> Vec<Planned> {
    assert!(
        !kinds.is_empty(),
        "a schedule needs at least one fault kind"
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut order = kinds.to_vec();
    let mut plan = Vec::new();
    let mut used_ms = 0;
    loop {
        order.shuffle(&mut rng);
        for &kind in &order {
            let gap_ms = rng.gen_range(2_000..5_000);
            let hold_ms = match kind {
                FaultKind::KillLeader | FaultKind::KillAll => rng.gen_range(500..2_000),
                FaultKind::PauseLeader => rng.gen_range(2_000..4_000),
                FaultKind::IsolateLeader | FaultKind::IsolateFollower => {
                    rng.gen_range(2_000..5_000)
                }
                FaultKind::KillFollower => rng.gen_range(1_000..3_000),
                FaultKind::KillWorker => rng.gen_range(1..4),
                FaultKind::ClockStep | FaultKind::SkewedRestart => rng.gen_range(3_000..6_000),
            };
            let clock_ms = match kind.needs_fault_node() {
                true if rng.gen_bool(0.5) => CLOCK_FAULT_MS,
                true => -CLOCK_FAULT_MS,
                false => 0,
            };
            let cost = gap_ms
                + if kind == FaultKind::KillWorker {
                    0
                } else {
                    hold_ms
                };
            if used_ms + cost > duration_ms && !plan.is_empty() {
                return plan;
            }
            used_ms += cost;
            plan.push(Planned {
                kind,
                gap_ms,
                hold_ms,
                clock_ms,
            });
        }
    }
}

/// The single node that all reachable nodes call leader, if any.
pub async fn find_leader(client: &Client, timeout: Duration) -> Option<u64> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let leaders: Vec<u64> = client
            .status_all(false)
            .await
            .into_iter()
            .filter_map(|(_, s)| s.ok())
            .filter(|s| s.role == "leader")
            .map(|s| s.id)
            .collect();
        if let [leader] = leaders.as_slice() {
            return Some(*leader);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Applies one fault, holds it, heals it; records both ends. Returns false
/// when the fault could not be applied (the run is then invalid).
pub async fn inject(
    planned: Planned,
    cluster: &mut Cluster,
    client: &Arc<Client>,
    recorder: &Recorder,
    workers: &WorkerFaults,
) -> bool {
    let kind = planned.kind;
    let hold = Duration::from_millis(planned.hold_ms);
    let leader = find_leader(client, Duration::from_secs(20)).await;
    let follower = leader.map(|l| (l % NODES as u64) + 1);
    let node = match kind {
        FaultKind::IsolateFollower | FaultKind::KillFollower => follower,
        FaultKind::KillWorker | FaultKind::KillAll => None,
        FaultKind::ClockStep | FaultKind::SkewedRestart => leader,
        _ => leader,
    };
    let began_ms = recorder.now_ms();
    let note = |phase: &str, applied: bool, detail: String| {
        recorder.record(Record::Fault {
            t_ms: recorder.now_ms(),
            kind: kind.name().into(),
            node,
            phase: phase.into(),
            applied,
            detail,
        })
    };
    if leader.is_none() && kind != FaultKind::KillWorker {
        note("begin", false, "no single leader within 20 s".into());
        return false;
    }
    let target = node.unwrap_or(0);
    let applied = match kind {
        FaultKind::KillLeader | FaultKind::KillFollower => cluster.kill(target),
        FaultKind::PauseLeader => cluster.pause(target),
        FaultKind::IsolateLeader | FaultKind::IsolateFollower => cluster.isolate(target).is_ok(),
        FaultKind::KillAll => (1..=NODES as u64).all(|id| cluster.kill(id)),
        FaultKind::KillWorker => {
            workers
                .abandon
                .fetch_add(planned.hold_ms as usize, Ordering::SeqCst);
            true
        }
        FaultKind::ClockStep => cluster.set_clock(target, planned.clock_ms),
        FaultKind::SkewedRestart => {
            cluster.kill(target)
                && cluster.set_clock(target, planned.clock_ms)
                && cluster.spawn(target).is_ok()
        }
    };
    let detail = match planned.clock_ms {
        0 => format!("hold {} ms", planned.hold_ms),
        clock_ms => format!("hold {} ms, clock {clock_ms:+} ms", planned.hold_ms),
    };
    note("begin", applied, detail);
    // Probes start once the fault is in place: a write sent while the last
    // nodes of a kill-all were still dying would prove nothing.
    let probe = kind
        .takes_leader()
        .then(|| spawn_failover_probe(client.clone(), recorder.clone(), kind, began_ms));
    if kind == FaultKind::SkewedRestart {
        crate::skew::watch_skewed(client, recorder, target, planned.clock_ms, hold).await;
    } else if kind != FaultKind::KillWorker {
        tokio::time::sleep(hold).await;
    }
    let healed = match kind {
        FaultKind::KillLeader | FaultKind::KillFollower => cluster.spawn(target).is_ok(),
        FaultKind::PauseLeader => cluster.resume(target),
        FaultKind::IsolateLeader | FaultKind::IsolateFollower => cluster.heal(target).is_ok(),
        FaultKind::KillAll => (1..=NODES as u64).all(|id| cluster.spawn(id).is_ok()),
        FaultKind::KillWorker => true,
        FaultKind::ClockStep => cluster.set_clock(target, 0),
        FaultKind::SkewedRestart => {
            cluster.kill(target) && cluster.set_clock(target, 0) && cluster.spawn(target).is_ok()
        }
    };
    note("end", healed, String::new());
    if let Some(probe) = probe {
        // The probe ends at the first committed write (or gives up after 30 s).
        let _ = tokio::time::timeout(Duration::from_secs(30), probe).await;
    }
    applied && healed
}

/// Writes through the cluster every 20 ms from the fault on; the first
/// write that commits marks the end of the failover.
fn spawn_failover_probe(
    client: Arc<Client>,
    recorder: Recorder,
    kind: FaultKind,
    fault_t_ms: u64,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for attempt in 0u64.. {
            let key = format!("failover-{fault_t_ms}-{attempt}");
            let ok = tokio::time::timeout(Duration::from_secs(2), client.probe(&key, b"x"))
                .await
                .is_ok_and(|r| r.is_ok());
            if ok {
                let write_ms = recorder.now_ms() - fault_t_ms;
                recorder.record(Record::Failover {
                    fault_t_ms,
                    kind: kind.name().into(),
                    write_ms,
                });
                return;
            }
            if recorder.now_ms() - fault_t_ms > 30_000 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
}
