//! In-process cluster tests: real nodes, real RocksDB, real gRPC on loopback
//! ports bound by the test. One test binary keeps link time down.

mod harness;
mod replication;
mod availability;
mod config;
mod workflows;
mod failover;
