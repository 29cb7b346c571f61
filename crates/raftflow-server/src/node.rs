//! One scheduler node: storage, Raft, the proposer and the gRPC servers.
//!
//! ```text
//!            raft_addr                        api_addr
//!  peers ──▶ RaftService ──▶ Raft ◀── ClusterService, health, reflection ◀── clients
//!                             │  ▲                 │
//!                  LogStore ◀─┘  └── Proposer ◀────┘ (writes, batched)
//!              StateMachineStore ──▶ StateReader ──▶ (reads)
//! ```

use crate::raft_service::WatchReceiver as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{InitializeError, RaftError};
use openraft::storage::{RaftLogReader, RaftLogStorage};
use raftflow_store::StateReader;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::NodeConfig;
use crate::network::Network;
use crate::proposer::{BatchStats, Proposer};
use crate::raft_service::Raft;
use crate::scheduler::Scheduler;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot open the data directory {path}: {message}")]
    Store { path: String, message: String },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("invalid raft configuration: {0}")]
    RaftConfig(String),
    #[error("raft failed to start: {0}")]
    Raft(String),
    #[error("{0}")]
    Tls(#[from] crate::tls::TlsError),
}

/// Everything the API layer needs to serve one node.
#[derive(Clone)]
pub struct NodeContext {
    pub id: u64,
    pub config: Arc<NodeConfig>,
    pub raft: Raft,
    pub reader: StateReader,
    pub proposer: Proposer,
    pub batch_stats: Arc<BatchStats>,
    pub scheduler: Arc<Scheduler>,
    /// Whether a new cluster's apply version is settled (upgrade.rs).
    pub new_cluster: Arc<crate::upgrade::NewCluster>,
    /// Turns true when the node begins to shut down: streams that would
    /// otherwise hold the graceful shutdown open (watches) end then.
    pub stopping: watch::Receiver<bool>,
    /// One permit per WatchExecution stream this node may serve at once.
    pub watch_slots: Arc<tokio::sync::Semaphore>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// When this node last heard from a leader; the elector reads it.
    pub contact: Arc<crate::elector::Contact>,
    /// Test-only switches that act a number of times (fault.rs).
    pub countdowns: Arc<crate::fault::Countdowns>,
    /// This node's wall clock (clock.rs).
    pub clock: Arc<crate::clock::Clock>,
    /// The time stamped on the commands this node proposes (log_clock.rs).
    pub log_clock: Arc<crate::log_clock::LogClock>,
    /// How far the peers' clocks are from this node's (peer_clocks.rs).
    pub peer_clocks: Arc<crate::peer_clocks::PeerClocks>,
    /// Whether this node's clock lets it propose (clock_guard.rs).
    pub clock_gate: Arc<crate::clock_guard::ClockGate>,
    /// TLS material, or plaintext (`insecure = true`); peers are called with it.
    pub security: crate::tls::Security,
    /// Checks every call's token against the applied table (auth/).
    pub auth: Arc<crate::auth::Gate>,
    /// This node's disk and the members' (disk_guard.rs).
    pub disk: Arc<crate::disk_guard::DiskGuard>,
    /// The leader's schedule timetable (schedules/).
    pub schedules: Arc<crate::schedules::Schedules>,
    /// Makes HTTP Tasks' requests under `[outbound]` (outbound/).
    pub outbound: crate::outbound::caller::Caller,
    /// The cluster keys of `[connections]`: seal at the door, open in the caller.
    pub connection_keys: Arc<crate::connections::keys::Keys>,
    /// Which subscriptions' outboxes filled: the leader's delivery wakes.
    pub outbox: Arc<crate::subscriptions::deliver::Outbox>,
    /// OpenTelemetry spans, or nothing (telemetry/).
    pub telemetry: Arc<crate::telemetry::Telemetry>,
}

impl NodeContext {
    /// The time to stamp on a command this node proposes now.
    pub fn stamp_ms(&self) -> u64 {
        self.log_clock.stamp_ms(self.reader.log_time_ms())
    }

    /// Log time now, without stamping: what timers are due against.
    pub fn log_now_ms(&self) -> u64 {
        self.log_clock.now_ms(self.reader.log_time_ms())
    }

    /// Every member (voters and learners) with its client API address, as
    /// this node's membership says.
    pub fn members(&self) -> std::collections::BTreeMap<u64, String> {
        let metrics = self.raft.metrics().borrow_watched().clone();
        let membership = metrics.membership_config.membership().clone();
        membership
            .nodes()
            .map(|(id, node)| (*id, node.api_addr.clone()))
            .collect()
    }

    /// The leader this node knows, with its client API address (from the
    /// membership); `None` while no leader is known.
    pub fn leader(&self) -> Option<(u64, Option<String>)> {
        leader_of(&self.raft)
    }
}

/// The leader `raft` knows, with its client API address (from the
/// membership); `None` while no leader is known.
pub fn leader_of(raft: &Raft) -> Option<(u64, Option<String>)> {
    let metrics = raft.metrics().borrow_watched().clone();
    let id = metrics.current_leader?;
    let addr = metrics
        .membership_config
        .membership()
        .get_node(&id)
        .map(|n| n.api_addr.clone());
    Some((id, addr))
}

pub struct NodeHandle {
    pub context: NodeContext,
    pub raft_addr: SocketAddr,
    pub api_addr: SocketAddr,
    /// Where /healthz, /readyz and /metrics are served, when configured.
    pub http_addr: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    servers: Vec<JoinHandle<Result<(), tonic::transport::Error>>>,
    http: Option<JoinHandle<std::io::Result<()>>>,
}

impl NodeHandle {
    /// Binds the configured addresses and starts the node.
    pub async fn start(config: NodeConfig) -> Result<Self, NodeError> {
        let raft_listener = bind(&config.raft_addr).await?;
        let api_listener = bind(&config.api_addr).await?;
        Self::start_with_listeners(config, raft_listener, api_listener).await
    }

    /// Starts the node on listeners the caller bound (tests bind port 0).
    pub async fn start_with_listeners(
        config: NodeConfig,
        raft_listener: TcpListener,
        api_listener: TcpListener,
    ) -> Result<Self, NodeError> {
        let raft_config = Arc::new(
            config
                .openraft_config()
                .validate()
                .map_err(|e| NodeError::RaftConfig(e.to_string()))?,
        );
        let path = config.data_dir.clone();
        std::fs::create_dir_all(&path).map_err(|e| NodeError::Store {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        config.fault_injection.check().map_err(NodeError::Config)?;
        let security = security(&config)?;
        let connection_keys = Arc::new(config.connections.load().map_err(NodeError::Config)?);
        let supported = match config.fault_injection.max_apply_version() {
            None => raftflow_store::version::Supported::BINARY,
            Some(max) => raftflow_store::version::Supported::capped(max),
        };
        let opened =
            tokio::task::spawn_blocking(move || raftflow_store::open_supporting(&path, supported))
                .await
                .map_err(|e| NodeError::Raft(e.to_string()))?;
        let (mut log_store, state_machine) = opened.map_err(|e| NodeError::Store {
            path: config.data_dir.display().to_string(),
            message: e.to_string(),
        })?;
        let fresh = is_pristine(&mut log_store).await?;
        let reader = state_machine.reader();
        let auth = Arc::new(
            crate::auth::Gate::new(!config.insecure, &config.auth, reader.clone())
                .map_err(NodeError::Config)?,
        );
        let holds_workflows = raftflow_store::workflow::reads::holds_workflows(reader.db())
            .map_err(|e| NodeError::Store {
                path: config.data_dir.display().to_string(),
                message: e.to_string(),
            })?;
        let clock = Arc::new(crate::clock::Clock::with_offset(
            config.fault_injection.clock_offset_ms(),
        ));
        let peer_clocks = Arc::new(crate::peer_clocks::PeerClocks::default());
        let network = Network {
            clock: clock.clone(),
            peer_clocks: peer_clocks.clone(),
            security: security.clone(),
            stream_reply_timeout: std::time::Duration::from_millis(
                config.raft.election_timeout_max_ms,
            ),
        };
        let raft = Raft::new(config.id, raft_config, network, log_store, state_machine)
            .await
            .map_err(|e| NodeError::Raft(e.to_string()))?;

        let batch_stats = Arc::new(BatchStats::default());
        let clock_gate = Arc::new(crate::clock_guard::ClockGate::default());
        let proposer = Proposer::spawn(
            raft.clone(),
            (
                config.max_batch_commands,
                Duration::from_millis(config.write_timeout_ms),
            ),
            batch_stats.clone(),
            clock_gate.clone(),
        );
        let (telemetry, finished) =
            crate::telemetry::Telemetry::start(&config.telemetry, config.id)
                .map_err(|e| NodeError::Config(e.to_string()))?;
        let (stop, stopped) = watch::channel(false);
        let context = NodeContext {
            stopping: stopped.clone(),
            id: config.id,
            config: Arc::new(config.clone()),
            raft: raft.clone(),
            reader,
            proposer,
            batch_stats,
            scheduler: Scheduler::new(),
            schedules: crate::schedules::Schedules::new(),
            new_cluster: crate::upgrade::NewCluster::new(holds_workflows),
            watch_slots: Arc::new(tokio::sync::Semaphore::new(
                config.scheduler.max_watch_streams,
            )),
            metrics: Arc::default(),
            contact: crate::elector::Contact::new(config.raft.leader_lease_ms),
            countdowns: Arc::new(config.fault_injection.countdowns()),
            log_clock: Arc::new(crate::log_clock::LogClock::new(
                clock.clone(),
                config.raft.max_clock_offset_ms,
            )),
            clock,
            peer_clocks,
            clock_gate,
            security,
            auth,
            disk: Arc::new(crate::disk_guard::DiskGuard::new(
                config.storage.clone(),
                config.data_dir.clone(),
            )),
            outbound: outbound_caller(&config),
            connection_keys,
            outbox: Arc::default(),
            telemetry: Arc::new(telemetry),
        };
        if let Some(finished) = finished {
            tokio::spawn(crate::telemetry::executions::run(context.clone(), finished));
        }
        tokio::spawn(crate::clock_guard::run(context.clone()));
        tokio::spawn(crate::alarm_keeper::run(context.clone()));
        tokio::spawn(crate::backup_schedule::run(context.clone()));
        if let (crate::tls::Security::Tls(tls), Some(files)) = (&context.security, &config.tls) {
            let interval = Duration::from_millis(files.reload_interval_ms.max(100));
            tokio::spawn(crate::tls::reload::run(
                tls.clone(),
                interval,
                stopped.clone(),
            ));
        }
        crate::elector::spawn(
            raft.clone(),
            config.id,
            config.raft.clone(),
            context.contact.clone(),
            context.clock.clone(),
            context.security.clone(),
        );
        tokio::spawn(crate::metrics::watch_leader(
            raft.clone(),
            context.metrics.clone(),
        ));
        config.fault_injection.warn(config.id);
        tokio::spawn(crate::scheduler::run(context.clone()));
        tokio::spawn(crate::snapshot_policy::run(
            raft.clone(),
            context.reader.clone(),
            config.raft.snapshot_after_entries,
        ));
        let raft_addr = raft_listener
            .local_addr()
            .map_err(|e| NodeError::Raft(e.to_string()))?;
        let api_addr = api_listener
            .local_addr()
            .map_err(|e| NodeError::Raft(e.to_string()))?;
        let (http, http_addr) = match &config.http_addr {
            Some(addr) => {
                let listener = bind(addr).await?;
                let bound = listener
                    .local_addr()
                    .map_err(|e| NodeError::Raft(e.to_string()))?;
                let task = tokio::spawn(crate::http::serve(
                    context.clone(),
                    listener,
                    wait_stop(stopped.clone()),
                ));
                (Some(task), Some(bound))
            }
            None => (None, None),
        };
        let servers = vec![
            tokio::spawn(crate::serve::raft(
                context.clone(),
                raft_listener,
                stopped.clone(),
            )),
            tokio::spawn(crate::serve::api(context.clone(), api_listener, stopped)),
        ];

        // Bootstrap only a pristine node. Every initial member may do it at
        // once: openraft writes the same membership entry on each, which is
        // safe. A restarted node has state and never re-initialises.
        if fresh && !config.initial_members.is_empty() {
            let members = config.initial_membership();
            match raft.initialize(members).await {
                Ok(()) => tracing::info!(node = config.id, "bootstrapped the initial membership"),
                // A peer's bootstrap reached this node first.
                Err(RaftError::APIError(InitializeError::NotAllowed(_))) => tracing::info!(
                    node = config.id,
                    "the initial membership was already bootstrapped by a peer"
                ),
                Err(e) => return Err(NodeError::Raft(format!("initialize: {e}"))),
            }
        }
        Ok(Self {
            context,
            raft_addr,
            api_addr,
            http_addr,
            stop,
            servers,
            http,
        })
    }

    pub fn raft(&self) -> &Raft {
        &self.context.raft
    }

    /// Hands leadership over first when this node leads (a planned stop:
    /// the cluster elects nobody, its clients wait no silence timeout),
    /// then stops as `shutdown` does. A follower just stops. A hand-over
    /// takes milliseconds; one that has not happened within the longest
    /// silence timeout (every node stopping at once) is given up.
    pub async fn shutdown_gracefully(self) {
        let timeout = Duration::from_millis(self.context.config.raft.election_timeout_max_ms);
        let raft = &self.context.raft;
        match crate::handover::hand_over(raft, self.context.id, None, timeout).await {
            Ok(leader) => tracing::info!(node = self.context.id, leader, "handed leadership over"),
            Err(crate::error::ApiError::Write(crate::error::WriteError::NotLeader { .. })) => {}
            Err(e) => tracing::warn!(node = self.context.id, "stopping without a hand-over: {e}"),
        }
        self.shutdown().await;
    }

    /// Stops serving, shuts Raft down and waits until the store is released.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for server in self.servers {
            let _ = server.await;
        }
        if let Some(http) = self.http {
            let _ = http.await;
        }
        let _ = self.context.raft.shutdown().await;
        let telemetry = self.context.telemetry.clone();
        let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    }
}

async fn bind(addr: &str) -> Result<TcpListener, NodeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| NodeError::Bind {
            addr: addr.to_string(),
            source,
        })
}

/// The node's transport security, checked before anything is served.
fn security(config: &NodeConfig) -> Result<crate::tls::Security, NodeError> {
    config
        .check_security()
        .map_err(|(field, message)| NodeError::Config(format!("{field}: {message}")))?;
    let Some(tls) = &config.tls else {
        tracing::warn!(
            node = config.id,
            "INSECURE: `insecure = true`: every port is plaintext and unauthenticated; anyone who reaches them can join the cluster, vote, read every execution and change anything"
        );
        return Ok(crate::tls::Security::Insecure);
    };
    let tls = crate::tls::Reloadable::load(tls, config.id)?;
    Ok(crate::tls::Security::Tls(Arc::new(tls)))
}

async fn is_pristine(log_store: &mut raftflow_store::LogStore) -> Result<bool, NodeError> {
    let state = log_store
        .get_log_state()
        .await
        .map_err(|e| NodeError::Raft(e.to_string()))?;
    let vote = log_store
        .read_vote()
        .await
        .map_err(|e| NodeError::Raft(e.to_string()))?;
    Ok(state.last_log_id.is_none() && vote.is_none())
}

pub(crate) async fn wait_stop(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}

/// The HTTP Tasks' caller: the node's own ports are never a destination.
fn outbound_caller(config: &NodeConfig) -> crate::outbound::caller::Caller {
    let own = [
        Some(&config.raft_addr),
        Some(&config.api_addr),
        config.http_addr.as_ref(),
    ]
    .into_iter()
    .flatten()
    .filter_map(|addr| addr.parse().ok())
    .collect();
    let destinations = crate::outbound::policy::Destinations::new(&config.outbound, own)
        .expect("checked by NodeConfig::validate");
    let roots = config
        .outbound
        .roots()
        .expect("checked by NodeConfig::validate");
    crate::outbound::caller::Caller::with_roots(destinations, roots)
}
