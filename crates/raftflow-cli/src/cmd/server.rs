//! `raftflow server`: runs one node until Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use raftflow_server::{NodeConfig, NodeHandle};
use tracing_subscriber::EnvFilter;

#[derive(clap::Args)]
pub struct Args {
    /// The node's TOML config, e.g. cluster-config/node1.toml. The
    /// RAFTFLOW_* variables (RAFTFLOW_ID, RAFTFLOW_API_ADDR, …; see
    /// docs/operations.md, "Deploy") override it, or stand in its place.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Log format.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

/// The node's configuration as `raftflow server` reads it: the file (if
/// any), the RAFTFLOW_* variables over it, and `--insecure`, which wins
/// over the file's [tls].
pub fn load_config(
    path: Option<&std::path::Path>,
    insecure: bool,
) -> Result<NodeConfig, raftflow_server::config::ConfigError> {
    let env = |name: &str| std::env::var(name).ok();
    let mut config = NodeConfig::load_with_env(path, &env)?;
    if insecure {
        config.tls = None;
        config.insecure = true;
    }
    Ok(config)
}

pub async fn run(args: Args, insecure: bool) -> anyhow::Result<ExitCode> {
    let config = match load_config(args.config.as_deref(), insecure) {
        Ok(config) => config,
        Err(e) => return Ok(super::usage_error(e)),
    };
    init_tracing(&args.log_format);
    let id = config.id;
    let node = match NodeHandle::start(config).await {
        Ok(node) => node,
        Err(e @ (raftflow_server::NodeError::Tls(_) | raftflow_server::NodeError::Config(_))) => {
            return Ok(super::usage_error(e))
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(node = id, raft = %node.raft_addr, api = %node.api_addr, "node started");
    super::shutdown_signal().await;
    tracing::info!(node = id, "shutting down");
    node.shutdown_gracefully().await;
    Ok(ExitCode::SUCCESS)
}

fn init_tracing(format: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,openraft=warn"));
    use std::io::IsTerminal;
    // Colours only on a terminal: log files and `raftflow dev` prefixes stay plain.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
