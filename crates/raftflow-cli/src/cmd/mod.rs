//! One module per top-level command.

pub mod bench;
mod bench_backup;
mod bench_events;
mod bench_failover;
mod bench_flood;
mod bench_http;
mod bench_own;
mod bench_payload;
mod bench_scale;
mod bench_schedules;
pub mod cert;
pub mod cluster;
pub mod conn;
pub mod connection;
pub mod demo;
mod demo_workers;
pub mod dev;
pub mod execution;
pub mod health;
pub mod local;
pub mod operator;
pub mod operator_raft;
pub mod run_local;
mod run_local_http;
pub mod schedule;
pub mod schedule_backfill;
pub mod server;
pub mod shell;
pub mod subscription;
pub mod task;
pub mod token;
pub mod trigger;
pub mod worker;
pub mod workflow;
mod workflow_stats;

use std::process::ExitCode;

/// Exit code for bad usage or configuration.
pub fn usage_error(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
