//! Node configuration: one typed struct with defaults, loaded from TOML and
//! checked before anything starts.
//!
//! A wrong or missing field is an error that names the file and the field.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config_addr::{check_addr, check_host_port};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: field `{field}`: {message}")]
    Invalid {
        path: PathBuf,
        field: &'static str,
        message: String,
    },
}

/// A member of the initial cluster.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    pub id: u64,
    pub raft_addr: String,
    pub api_addr: String,
}

/// Raft timing. Defaults suit three nodes, workers and tests sharing two cores:
/// an idle cluster must never see a spurious election.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RaftTiming {
    pub heartbeat_interval_ms: u64,
    /// A follower that heard nothing from a leader for a random time in
    /// [min, max] calls an election (a paused, cut-off or lost leader).
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    /// After a leader's last contact, how long followers refuse to vote for
    /// another node. A crashed leader is replaced soon after it lapses.
    pub leader_lease_ms: u64,
    pub install_snapshot_timeout_ms: u64,
    /// Build a snapshot after this many entries were applied since the last one.
    pub snapshot_after_entries: u64,
    /// Entries kept behind a snapshot, so that a slow follower can catch up from the log.
    pub keep_entries_after_snapshot: u64,
    /// A snapshot goes to a follower in chunks of at most this many bytes
    /// (each one InstallSnapshot call): memory on both sides stays at one chunk.
    pub snapshot_chunk_bytes: u64,
    /// A node refuses its vote (and pre-vote) to a candidate whose clock
    /// differs from its own by more than this: a node with a wrong clock
    /// would stamp wrong times on every timer it arms.
    pub max_clock_offset_ms: u64,
}

/// Bounds of `raft.snapshot_chunk_bytes`: a chunk and its envelope must fit
/// one gRPC message (`network::MAX_MESSAGE_BYTES`, 64 MiB).
pub const MIN_SNAPSHOT_CHUNK_BYTES: u64 = 1 << 10;
pub const MAX_SNAPSHOT_CHUNK_BYTES: u64 = 32 << 20;

impl Default for RaftTiming {
    fn default() -> Self {
        Self {
            // Also each heartbeat's deadline (and, with openraft 0.9, every
            // AppendEntries': at 100 ms, large entries on a saturated machine
            // timed out and followers called elections; docs/benchmarks.md,
            // "Large payloads"). Entries now stream (network_stream.rs).
            heartbeat_interval_ms: 150,
            election_timeout_min_ms: 1200,
            election_timeout_max_ms: 1800,
            leader_lease_ms: 300,
            install_snapshot_timeout_ms: 10_000,
            snapshot_after_entries: 20_000,
            keep_entries_after_snapshot: 5_000,
            snapshot_chunk_bytes: 4 << 20,
            max_clock_offset_ms: 500,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    pub id: u64,
    /// Plaintext on every port, no certificates: anyone who reaches a port
    /// can join, vote, read and change everything. Only for a laptop or a
    /// sealed network; a node without `[tls]` refuses to start otherwise.
    #[serde(default)]
    pub insecure: bool,
    /// Certificates for TLS on every port and mutual TLS between nodes.
    #[serde(default)]
    pub tls: Option<crate::tls::TlsConfig>,
    /// API tokens (checked unless `insecure = true`).
    #[serde(default)]
    pub auth: crate::auth::AuthConfig,
    /// Address of the internal Raft service (other nodes dial it).
    pub raft_addr: String,
    /// Address of the client API (gRPC: cluster, workflows, workers).
    pub api_addr: String,
    /// The Raft address peers dial, when not `raft_addr` (etcd's advertise
    /// vs listen URLs): a node in a container binds `0.0.0.0:7101` and
    /// advertises `node1:7101`. host:port; a DNS name is resolved again at
    /// each connect.
    #[serde(default)]
    pub advertise_raft_addr: Option<String>,
    /// The client API address peers and clients are told, when not `api_addr`.
    #[serde(default)]
    pub advertise_api_addr: Option<String>,
    /// HTTP address for /healthz, /readyz and /metrics; none when absent.
    #[serde(default)]
    pub http_addr: Option<String>,
    /// RocksDB directory. A relative path is taken from the config file's folder.
    pub data_dir: PathBuf,
    /// The cluster bootstrapped on first start. Empty for a node that will be
    /// added later as a learner.
    #[serde(default)]
    pub initial_members: Vec<PeerConfig>,
    #[serde(default)]
    pub raft: RaftTiming,
    /// Deadline of one replicated write, after which the caller gets UNAVAILABLE.
    #[serde(default = "default_write_timeout_ms")]
    pub write_timeout_ms: u64,
    /// Largest number of commands the proposer gathers into one log entry.
    #[serde(default = "default_max_batch")]
    pub max_batch_commands: usize,
    #[serde(default)]
    pub scheduler: SchedulerConfig,
    /// The free-space floor and the quota (disk_guard.rs).
    #[serde(default)]
    pub storage: crate::disk_guard::StorageConfig,
    /// Scheduled backups (backup_schedule.rs); none by default.
    #[serde(default)]
    pub backup: crate::backup_schedule::BackupConfig,
    /// Where HTTP Tasks may call (outbound/policy.rs): public https
    /// destinations only, unless allowed here.
    #[serde(default)]
    pub outbound: crate::outbound::policy::OutboundConfig,
    /// The cluster key that seals connections' secrets (connections/keys.rs).
    #[serde(default)]
    pub connections: crate::connections::keys::ConnectionsConfig,
    /// Metrics per state machine (stats_metrics.rs).
    #[serde(default)]
    pub metrics: crate::stats_metrics::MetricsConfig,
    /// OpenTelemetry spans (telemetry/); off by default.
    #[serde(default)]
    pub telemetry: crate::telemetry::TelemetryConfig,
    /// Deliberate defects, for tests only (see `fault`): refused unless the
    /// binary was built for tests and permits them.
    #[serde(default)]
    pub fault_injection: crate::fault::FaultInjection,
}

/// How the leader runs workflows.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerConfig {
    /// Lease of a task whose state sets neither TimeoutSeconds nor
    /// HeartbeatSeconds: after it, the attempt times out (States.Timeout) and
    /// the state's Retry decides. Callback tasks have no lease.
    pub task_lease_s: u64,
    /// How long PollTask waits for a task by default.
    pub poll_timeout_ms: u64,
    /// Largest execution input, task output or definition, in bytes.
    pub max_payload_bytes: usize,
    /// Finished executions are removed after this many hours.
    pub retention_hours: u64,
    /// WatchExecution streams one node serves at once; one more is refused
    /// with RESOURCE_EXHAUSTED until one ends.
    pub max_watch_streams: usize,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            task_lease_s: 300,
            poll_timeout_ms: 60_000,
            max_payload_bytes: 256 * 1024,
            retention_hours: 24 * 7,
            max_watch_streams: crate::limits::DEFAULT_MAX_WATCH_STREAMS,
        }
    }
}

fn default_write_timeout_ms() -> u64 {
    5_000
}

fn default_max_batch() -> usize {
    1_024
}

impl NodeConfig {
    /// `initial_members` as a Raft membership: what a pristine node
    /// bootstraps with, and what a restore from a backup writes.
    pub fn initial_membership(&self) -> std::collections::BTreeMap<u64, raftflow_store::NodeInfo> {
        self.initial_members
            .iter()
            .map(|p| {
                let raft_addr = p.raft_addr.clone();
                let api_addr = p.api_addr.clone();
                (
                    p.id,
                    raftflow_store::NodeInfo {
                        raft_addr,
                        api_addr,
                    },
                )
            })
            .collect()
    }

    /// The Raft address this node is known by in the membership.
    pub fn advertised_raft_addr(&self) -> &str {
        self.advertise_raft_addr
            .as_deref()
            .unwrap_or(&self.raft_addr)
    }

    /// The API address this node is known by in the membership.
    pub fn advertised_api_addr(&self) -> &str {
        self.advertise_api_addr.as_deref().unwrap_or(&self.api_addr)
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config: NodeConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        config.resolve_paths(path.parent().unwrap_or(Path::new(".")));
        config.checked(path)
    }

    /// The file at `path` (or nothing) with the `RAFTFLOW_*` variables of
    /// `env` over it (config_env.rs): what `raftflow server` runs.
    pub fn load_with_env(
        path: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        crate::config_env::load(path, env)
    }

    /// Takes relative paths from `base` (the config file's folder).
    pub(crate) fn resolve_paths(&mut self, base: &Path) {
        if self.data_dir.is_relative() {
            self.data_dir = base.join(&self.data_dir);
        }
        if let Some(tls) = &mut self.tls {
            tls.resolve(base);
        }
        self.auth.resolve(base);
        self.backup.resolve(base);
        self.connections.resolve(base);
        self.outbound.resolve(base);
    }

    /// `validate`, with the error naming `source`.
    pub(crate) fn checked(self, source: &Path) -> Result<Self, ConfigError> {
        self.validate()
            .map_err(|(field, message)| ConfigError::Invalid {
                path: source.to_path_buf(),
                field,
                message,
            })?;
        Ok(self)
    }

    /// Checks what serde cannot: ranges, addresses and cross-field rules.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.id == 0 {
            return Err((
                "id",
                "must be at least 1 (0 means \"no leader\" in status)".into(),
            ));
        }
        check_addr("raft_addr", &self.raft_addr)?;
        check_addr("api_addr", &self.api_addr)?;
        if let Some(http) = &self.http_addr {
            check_addr("http_addr", http)?;
        }
        if self.raft_addr == self.api_addr {
            return Err(("api_addr", "must differ from raft_addr".into()));
        }
        let mut ids = std::collections::BTreeSet::new();
        if let Some(addr) = &self.advertise_raft_addr {
            check_host_port("advertise_raft_addr", addr)?;
        }
        if let Some(addr) = &self.advertise_api_addr {
            check_host_port("advertise_api_addr", addr)?;
        }
        for peer in &self.initial_members {
            check_host_port("initial_members.raft_addr", &peer.raft_addr)?;
            check_host_port("initial_members.api_addr", &peer.api_addr)?;
            if !ids.insert(peer.id) {
                return Err((
                    "initial_members",
                    format!("node id {} appears twice", peer.id),
                ));
            }
        }
        if !self.initial_members.is_empty() {
            let me = self
                .initial_members
                .iter()
                .find(|p| p.id == self.id)
                .ok_or((
                    "initial_members",
                    format!("does not list this node's own id {}", self.id),
                ))?;
            if me.raft_addr != self.advertised_raft_addr()
                || me.api_addr != self.advertised_api_addr()
            {
                return Err((
                    "initial_members",
                    format!(
                        "entry for id {} ({} / {}) disagrees with this node's addresses ({} / {}; advertise_raft_addr and advertise_api_addr set them apart from the bound ones)",
                        self.id,
                        me.raft_addr,
                        me.api_addr,
                        self.advertised_raft_addr(),
                        self.advertised_api_addr()
                    ),
                ));
            }
        }
        self.metrics.validate()?;
        self.telemetry.validate()?;
        let t = &self.raft;
        if t.heartbeat_interval_ms == 0 {
            return Err(("raft.heartbeat_interval_ms", "must be positive".into()));
        }
        if t.election_timeout_min_ms <= t.heartbeat_interval_ms * 2 {
            return Err((
                "raft.election_timeout_min_ms",
                "must exceed twice the heartbeat interval".into(),
            ));
        }
        if t.election_timeout_max_ms <= t.election_timeout_min_ms {
            return Err((
                "raft.election_timeout_max_ms",
                "must exceed election_timeout_min_ms".into(),
            ));
        }
        if t.leader_lease_ms < t.heartbeat_interval_ms * 2 {
            return Err((
                "raft.leader_lease_ms",
                "must be at least twice the heartbeat interval".into(),
            ));
        }
        if t.election_timeout_min_ms <= t.leader_lease_ms {
            return Err((
                "raft.election_timeout_min_ms",
                "must exceed leader_lease_ms (followers refuse votes during the lease)".into(),
            ));
        }
        if !(MIN_SNAPSHOT_CHUNK_BYTES..=MAX_SNAPSHOT_CHUNK_BYTES).contains(&t.snapshot_chunk_bytes)
        {
            return Err((
                "raft.snapshot_chunk_bytes",
                format!(
                    "must be between {MIN_SNAPSHOT_CHUNK_BYTES} and {MAX_SNAPSHOT_CHUNK_BYTES} (a chunk travels in one gRPC message)"
                ),
            ));
        }
        if t.max_clock_offset_ms == 0 {
            return Err((
                "raft.max_clock_offset_ms",
                "must be positive (it bounds how far apart the clocks of a leader and its voters may be)"
                    .into(),
            ));
        }
        if self.write_timeout_ms == 0 {
            return Err(("write_timeout_ms", "must be positive".into()));
        }
        self.fault_injection
            .check()
            .map_err(|message| ("fault_injection", message))?;
        if self.scheduler.task_lease_s == 0 {
            return Err(("scheduler.task_lease_s", "must be positive".into()));
        }
        if self.scheduler.max_watch_streams == 0 {
            return Err(("scheduler.max_watch_streams", "must be positive".into()));
        }
        if self.scheduler.max_payload_bytes < 1024 {
            return Err((
                "scheduler.max_payload_bytes",
                "must be at least 1024".into(),
            ));
        }
        let append = crate::network::append_bytes_bound(self.scheduler.max_payload_bytes);
        if append > crate::network::MAX_MESSAGE_BYTES {
            return Err((
                "scheduler.max_payload_bytes",
                format!(
                    "is too large: {} entries of such payloads per AppendEntries ({append} bytes) would pass the {}-byte transport limit; at most about 1 MiB",
                    crate::network::MAX_ENTRIES_PER_APPEND,
                    crate::network::MAX_MESSAGE_BYTES
                ),
            ));
        }
        self.storage.validate()?;
        self.backup.validate(&self.data_dir)?;
        crate::outbound::policy::Destinations::new(&self.outbound, Vec::new())
            .map_err(|e| ("outbound", e))?;
        self.outbound.roots().map_err(|e| ("outbound", e))?;
        if self.max_batch_commands == 0 {
            return Err(("max_batch_commands", "must be positive".into()));
        }
        self.check_security()
    }

    /// Secure by default: TLS, unless the config says `insecure = true`.
    pub fn check_security(&self) -> Result<(), (&'static str, String)> {
        match (&self.tls, self.insecure) {
            (None, false) => Err((
                "tls",
                "missing: a node runs TLS on every port unless told otherwise. Add a [tls] section with ca_file, cert_file and key_file (make them with `raftflow cert create-ca` and `raftflow cert create-node`), or set `insecure = true` to run in plaintext, where anyone who reaches a port can join, vote and read everything".into(),
            )),
            (Some(_), true) => Err((
                "insecure",
                "is true but a [tls] section is set too: remove one of them".into(),
            )),
            (Some(tls), false) if tls.handshake_timeout_ms == 0 => Err((
                "tls.handshake_timeout_ms",
                "must be positive".into(),
            )),
            _ => Ok(()),
        }
    }

    pub fn openraft_config(&self) -> openraft::Config {
        let t = &self.raft;
        openraft::Config {
            cluster_name: "raftflow".into(),
            heartbeat_interval: t.heartbeat_interval_ms,
            // openraft uses its election timeout as the leader lease and
            // (min) as the vote RPC deadline; its own election timer is off
            // and elector.rs calls elections.
            election_timeout_min: (t.leader_lease_ms + t.heartbeat_interval_ms) / 2 + 1,
            election_timeout_max: t.leader_lease_ms,
            enable_elect: false,
            install_snapshot_timeout: t.install_snapshot_timeout_ms,
            // snapshot_policy.rs decides (entries and log size against snapshot size).
            snapshot_policy: openraft::SnapshotPolicy::Never,
            max_in_snapshot_log_to_keep: t.keep_entries_after_snapshot,
            purge_batch_size: t.snapshot_after_entries.clamp(1, 1024),
            max_payload_entries: crate::network::MAX_ENTRIES_PER_APPEND,
            snapshot_max_chunk_size: t.snapshot_chunk_bytes,
            // Replicate an entry as soon as the leader's append returns,
            // before its own fsync ends (log_store.rs, wal_sync.rs): the
            // leader's fsync then overlaps its followers'.
            broadcast_submitted_on_append: Some(true),
            ..Default::default()
        }
    }
}
