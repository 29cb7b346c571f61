//! `raftflow health [--ready]`: a container's health check. Reads the
//! node's configuration as `raftflow server` does (the file, the
//! `RAFTFLOW_*` variables) and asks its own `/healthz` (the process runs)
//! or `/readyz` (it knows a leader, has applied its log, its clock agrees).
//! Exit status 0 when it answers 200, 1 otherwise.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    /// Ask /readyz instead of /healthz.
    #[arg(long)]
    ready: bool,
    /// The node's TOML config; the RAFTFLOW_* variables apply over it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// How long to wait for the answer.
    #[arg(long, default_value_t = 3_000)]
    timeout_ms: u64,
}

pub async fn run(args: Args, insecure: bool) -> anyhow::Result<ExitCode> {
    let config = match super::server::load_config(args.config.as_deref(), insecure) {
        Ok(config) => config,
        Err(e) => return Ok(super::usage_error(e)),
    };
    let timeout = Duration::from_millis(args.timeout_ms);
    match raftflow_server::health::probe(&config, args.ready, timeout).await {
        Ok(body) => {
            println!("{body}");
            Ok(ExitCode::SUCCESS)
        }
        Err(why) => {
            eprintln!("node {}: {why}", config.id);
            Ok(ExitCode::from(1))
        }
    }
}
