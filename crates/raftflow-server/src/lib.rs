//! One raftflow scheduler node.
//!
//! ```text
//!  NodeConfig ──▶ NodeHandle::start
//!                   ├─ raftflow-store (RocksDB log + state machine)
//!                   ├─ openraft::Raft ◀──▶ network (gRPC to peers) / raft_service (gRPC from peers)
//!                   ├─ proposer (batches client commands into log entries)
//!                   ├─ elector + prevote (who stands for election, and when)
//!                   ├─ snapshot_policy (when a snapshot is worth building)
//!                   ├─ scheduler (the leader's driver: tasks and timers)
//!                   ├─ schedules (the API, and the leader's runner that fires them on time)
//!                   ├─ disk_guard + alarm_keeper (the free-space floor, NOSPACE alarms)
//!                   ├─ serve: the Raft and API ports, plaintext or TLS (tls/)
//!                   └─ API server: ClusterService, grpc.health.v1, reflection v1 + v1alpha
//! ```
//! Errors are mapped to gRPC status codes in one place: `error`.

pub mod acl_service;
mod alarm_keeper;
pub mod auth;
pub mod backup_schedule;
pub mod clock;
pub mod clock_guard;
pub mod cluster_service;
pub mod config;
mod config_addr;
pub mod config_env;
pub mod connections;
mod console;
pub mod disk_guard;
pub mod elector;
pub mod error;
pub mod exposition;
pub mod fault;
pub mod handover;
pub mod health;
pub mod http;
pub mod http_task_metrics;
pub mod http_tasks;
pub mod limits;
pub mod log_clock;
mod messages;
pub mod metrics;
pub mod named_page;
pub mod network;
mod network_snapshot;
mod network_stream;
pub mod node;
pub mod outbound;
mod parked;
pub mod peer_clocks;
mod poll_id;
mod prevote;
pub mod proposer;
pub mod raft_service;
mod raft_snapshot_recv;
mod raft_stream;
pub mod raft_wire;
mod remove_peer;
mod save_snapshot;
pub mod scheduler;
pub mod schedules;
mod serve;
mod snapshot_policy;
mod stale_report;
mod start_execution;
pub mod stats_metrics;
pub mod stats_view;
pub mod subscriptions;
pub mod task_tokens;
pub mod telemetry;
pub mod tls;
pub mod triggers;
pub mod upgrade;
pub mod watch;
pub mod worker_service;
pub mod workflow_service;

pub use config::{ConfigError, NodeConfig, PeerConfig, RaftTiming};
pub use node::{NodeContext, NodeError, NodeHandle};
