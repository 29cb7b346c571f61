//! In-process cluster tests: real nodes, real RocksDB, real gRPC on loopback
//! ports bound by the test. One test binary keeps link time down.

mod auth;
mod auth_table;
mod availability;
mod backup;
mod backup_schedule;
mod clocks;
mod config;
mod console;
mod console_auth;
mod disk_full;
mod edges;
mod failover;
mod fixture_writer;
mod hand_outs;
mod harness;
mod hostile;
mod http_callbacks;
mod http_connections;
mod http_tasks;
mod large;
mod leadership;
mod numbers;
mod observability;
mod release_fixture;
mod replace;
mod replication;
mod rotation;
mod schedules;
mod schedules_backfill;
mod task_tokens;
mod tls;
mod tls_clients;
mod triggers;
mod versions;
mod workflows;
