//! Who calls elections, and when.
//!
//! ```text
//!  RaftService ── AppendEntries, InstallSnapshot, granted Vote ──▶ Contact::touch
//!  follower ── Attach stream ──▶ leader: breaks, and a new connection is refused
//!                                        ⇒ the leader's process is gone
//!  Elector, every 20 ms, on a voter that does not lead:
//!    quiet ≥ random[election_timeout_min, max]                 ⇒ elect  (slow path: pause, partition, host loss)
//!    leader gone ∧ quiet ≥ lease + 30 ms + rank · (lease + 100 ms) ⇒ elect  (fast path: crash)
//!    both paths first ask the other voters (PreVote, prevote.rs) and stand only with a majority
//!    refused a candidate whose log is shorter ∧ no contact for a lease ⇒ elect  (the better log stands)
//!  quiet = time since the last contact or the last election this node called
//! ```
//! openraft's own election timer is off (`enable_elect = false`). Its
//! election timeout doubles as the leader lease, during which followers
//! refuse to vote; a timeout long enough to ride out CPU starvation on a busy
//! machine then makes every failover wait out the lease as well. Here the
//! lease is short (`leader_lease_ms`) and only the silence timeout, which
//! needs no evidence, is long. `rank` orders the surviving voters by id so
//! that after a crash one of them stands first instead of splitting the vote.
//!
//! Kept with openraft 0.10, which has the same single timer: the Attach
//! stream's crash evidence is what takes a SIGKILLed leader's successor to
//! its first task in ~370 ms (docs/benchmarks.md, "Failover"); openraft's
//! timer alone would wait out a full silence timeout. A planned stop needs
//! no election at all: the leader hands over first (handover.rs).

use crate::raft_service::WatchReceiver as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::ServerState;
use raftflow_proto::v1::raft_service_client::RaftServiceClient;
use raftflow_proto::v1::AttachRequest;
use raftflow_store::NodeId;
use tokio::sync::watch;

use crate::config::RaftTiming;
use crate::raft_service::Raft;

const TICK: Duration = Duration::from_millis(20);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);

/// When this node last heard from a leader (or granted a vote).
pub struct Contact {
    lease: Duration,
    origin: Instant,
    last_ms: AtomicU64,
    worse_candidate: AtomicBool,
    /// Silence timeouts after which a majority would not have voted.
    pub prevotes_lost: AtomicU64,
    /// Votes and pre-votes refused because the candidate's clock differed
    /// from this node's by more than `max_clock_offset_ms`.
    pub skewed_candidates_refused: AtomicU64,
}

impl Contact {
    pub fn new(lease_ms: u64) -> Arc<Self> {
        Arc::new(Self {
            lease: Duration::from_millis(lease_ms),
            origin: Instant::now(),
            last_ms: AtomicU64::new(0),
            worse_candidate: AtomicBool::new(false),
            prevotes_lost: AtomicU64::new(0),
            skewed_candidates_refused: AtomicU64::new(0),
        })
    }

    pub fn touch(&self) {
        let now_ms = self.origin.elapsed().as_millis() as u64;
        self.last_ms.fetch_max(now_ms, Ordering::Relaxed);
    }

    /// A candidate with a shorter log than this node's asked for its vote.
    pub fn saw_worse_candidate(&self) {
        self.worse_candidate.store(true, Ordering::Relaxed);
    }

    /// Whether this node would support an election now: it has heard from no
    /// leader for a lease. (The leader itself answers no before asking this.)
    pub fn supports_election(&self) -> (bool, Duration) {
        let silence = self.last().elapsed();
        (silence >= self.lease, silence)
    }

    fn last(&self) -> Instant {
        self.origin + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// Starts the elector and the watch on the leader's process.
pub fn spawn(
    raft: Raft,
    id: NodeId,
    timing: RaftTiming,
    contact: Arc<Contact>,
    clock: Arc<crate::clock::Clock>,
    security: crate::tls::Security,
) {
    let (gone_tx, gone_rx) = watch::channel(None);
    tokio::spawn(watch_leader_process(
        raft.clone(),
        id,
        security.clone(),
        gone_tx,
    ));
    tokio::spawn(elect_when_due(
        raft,
        id,
        timing,
        (contact, clock, security),
        gone_rx,
    ));
}

async fn elect_when_due(
    raft: Raft,
    id: NodeId,
    timing: RaftTiming,
    (contact, clock, security): (Arc<Contact>, Arc<crate::clock::Clock>, crate::tls::Security),
    gone: watch::Receiver<Option<NodeId>>,
) {
    let lease = Duration::from_millis(timing.leader_lease_ms);
    let draw = || {
        let (min, max) = (
            timing.election_timeout_min_ms,
            timing.election_timeout_max_ms,
        );
        Duration::from_millis(min + rand::random::<u64>() % (max - min).max(1))
    };
    let mut silence_timeout = draw();
    let mut last_attempt: Option<Instant> = None;
    let mut ticker = tokio::time::interval(TICK);
    loop {
        ticker.tick().await;
        let (leader, voters, leads) = {
            let m = raft.metrics();
            let m = m.borrow_watched();
            let voters: Vec<NodeId> = m.membership_config.membership().voter_ids().collect();
            (m.current_leader, voters, m.state == ServerState::Leader)
        };
        if stopped(&raft) {
            return;
        }
        if leads || !voters.contains(&id) {
            last_attempt = None;
            continue;
        }
        let since = last_attempt.map_or(contact.last(), |a| a.max(contact.last()));
        let quiet = since.elapsed();
        let fast_wait = (*gone.borrow())
            .filter(|dead| leader.is_none_or(|l| l == *dead))
            .map(|dead| {
                let rank = voters.iter().filter(|&&v| v != dead && v < id).count() as u32;
                lease + Duration::from_millis(30) + (lease + Duration::from_millis(100)) * rank
            });
        // A node whose log beats a candidate's stands at once (the candidate
        // can never win, and would keep raising the term), but only when it
        // has not heard from a leader for a lease itself.
        let better_log = contact.worse_candidate.swap(false, Ordering::Relaxed)
            && contact.last().elapsed() >= lease;
        let crashed = fast_wait.is_some_and(|w| quiet >= w);
        let silent = quiet >= silence_timeout;
        if !(silent || crashed || better_log) {
            continue;
        }
        // A candidate already runs when `better_log` is set; otherwise ask.
        if !better_log && !crate::prevote::majority_would_vote(&raft, id, &clock, &security).await {
            // Cut off, or the others still hear from a leader: standing now
            // would only raise the term and depose that leader later.
            contact.prevotes_lost.fetch_add(1, Ordering::Relaxed);
            last_attempt = Some(Instant::now());
            silence_timeout = draw();
            continue;
        }
        tracing::info!(
            quiet_ms = quiet.as_millis() as u64,
            leader_gone = crashed,
            "calling an election"
        );
        if let Err(e) = raft.trigger().elect(false).await {
            tracing::info!(error = %e, "Raft has stopped: no more elections");
            return;
        }
        last_attempt = Some(Instant::now());
        silence_timeout = draw();
    }
}

type Metrics = crate::raft_service::Metrics;

/// The leader this follower should watch, with its Raft address.
fn watch_target(metrics: &mut Metrics, id: NodeId) -> Option<(NodeId, String)> {
    let m = metrics.borrow_and_update();
    match m.current_leader {
        Some(l) if l != id && m.state != ServerState::Leader => m
            .membership_config
            .membership()
            .get_node(&l)
            .map(|n| (l, n.raft_addr.clone())),
        _ => None,
    }
}

/// Holds an Attach stream open to the current leader; reports its id on
/// `gone` once the stream broke and the leader's address refuses connections.
/// The stream is kept across metrics updates (one per applied entry) and
/// replaced only when the leader changes.
async fn watch_leader_process(
    raft: Raft,
    id: NodeId,
    security: crate::tls::Security,
    gone: watch::Sender<Option<NodeId>>,
) {
    let mut metrics = raft.metrics();
    loop {
        let target = watch_target(&mut metrics, id);
        gone.send_if_modified(|g| {
            let stale = g.is_some() && target.as_ref().is_some_and(|(l, _)| Some(*l) != *g);
            if stale {
                *g = None;
            }
            stale
        });
        let Some((leader, addr)) = target.clone() else {
            if metrics.changed().await.is_err() {
                return;
            }
            continue;
        };
        let attach = attach_until_gone(leader, id, &addr, &security);
        tokio::pin!(attach);
        let dead = loop {
            tokio::select! {
                dead = &mut attach => break Some(dead),
                changed = metrics.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    if watch_target(&mut metrics, id) != target {
                        break None;
                    }
                }
            }
        };
        match dead {
            Some(true) => {
                tracing::info!(leader, "the leader's process is gone");
                gone.send_replace(Some(leader));
                // Nothing more to learn until the leader changes.
                while watch_target(&mut metrics, id) == target {
                    if metrics.changed().await.is_err() {
                        return;
                    }
                }
            }
            Some(false) => tokio::time::sleep(Duration::from_millis(100)).await,
            None => {}
        }
    }
}

/// Returns true when the leader's process is known to be gone; false when
/// the stream could not be held for another reason (try again).
async fn attach_until_gone(
    leader: NodeId,
    id: NodeId,
    addr: &str,
    security: &crate::tls::Security,
) -> bool {
    let Some(dial) = crate::tls::peer_endpoint(security, leader, addr, CONNECT_TIMEOUT) else {
        return false;
    };
    if let Ok(channel) = dial.connect().await {
        let mut client = RaftServiceClient::new(channel);
        let request = AttachRequest {
            target: leader,
            caller: id,
        };
        if let Ok(stream) = client.attach(request).await {
            let mut stream = stream.into_inner();
            while let Ok(Some(_)) = stream.message().await {}
        }
    }
    refuses_connections(addr).await
}

fn stopped(raft: &Raft) -> bool {
    raft.metrics().borrow_watched().state == ServerState::Shutdown
}

async fn refuses_connections(addr: &str) -> bool {
    match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr)).await {
        Ok(Err(e)) => e.kind() == std::io::ErrorKind::ConnectionRefused,
        _ => false,
    }
}
