//! `raftflow-fault-node server --config F`: one node, as `raftflow server`
//! runs it, that may switch the deliberate defects of its `[fault_injection]`
//! section on. The chaos checker's self-test (`raftflow-chaos run --defect`)
//! starts three of these and must then report a violation.
//!
//! It exists only in the test build (`cargo test --workspace`, or
//! `cargo build -p raftflow-cli --example raftflow-fault-node`): the
//! `fault-injection` feature comes from a dev-dependency, and the `raftflow`
//! binary, even when built alongside, never permits defects.
//!
//! SIGUSR1 re-reads the config's `clock_offset_ms` and steps the running
//! node's clock to it (the harness's `clock-step` fault).

use std::path::PathBuf;
use std::process::ExitCode;

use raftflow_server::{NodeConfig, NodeHandle};

fn config_path() -> Result<PathBuf, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [server, flag, path] if server == "server" && flag == "--config" => Ok(path.into()),
        _ => Err("usage: raftflow-fault-node server --config <node.toml>".into()),
    }
}

async fn run(path: PathBuf) -> Result<(), String> {
    let config = NodeConfig::load(&path).map_err(|e| e.to_string())?;
    let id = config.id;
    let node = NodeHandle::start(config).await.map_err(|e| e.to_string())?;
    tracing::warn!(node = id, api = %node.api_addr, "fault node started (tests only)");
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| format!("cannot install a SIGTERM handler: {e}"))?;
    let mut step = signal(SignalKind::user_defined1())
        .map_err(|e| format!("cannot install a SIGUSR1 handler: {e}"))?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            _ = step.recv() => step_clock(&node, &path),
        }
    }
    node.shutdown().await;
    Ok(())
}

/// SIGUSR1: sets this node's clock offset to the config file's
/// `fault_injection.clock_offset_ms` now, while it runs: the chaos
/// harness's `clock-step` fault, as an NTP step on a live host.
fn step_clock(node: &NodeHandle, path: &std::path::Path) {
    match NodeConfig::load(path) {
        Ok(config) => {
            let offset_ms = config.fault_injection.clock_offset_ms();
            node.context.clock.set_offset_ms(offset_ms);
            tracing::warn!(node = config.id, offset_ms, "clock stepped (tests only)");
        }
        Err(e) => tracing::error!("SIGUSR1: cannot re-read {}: {e}", path.display()),
    }
}

fn main() -> ExitCode {
    let path = match config_path() {
        Ok(path) => path,
        Err(usage) => {
            eprintln!("{usage}");
            return ExitCode::from(2);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .init();
    raftflow_server::fault::permit();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(path)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
