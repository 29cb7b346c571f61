//! `raftflow-chaos run --scenario all --duration 10m --seed N`
//!
//! Exit codes: 0 passed, 1 the run was invalid (proved nothing), 2 a check
//! failed. Ctrl-C stops the run and still cleans up processes and namespaces.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use raftflow_chaos::{run, Options};

#[derive(Parser)]
#[command(
    name = "raftflow-chaos",
    about = "Fault injection against a three-node raftflow cluster"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start a cluster, load it, inject faults, check the history.
    Run {
        /// all, smoke, none, or a comma list of: kill-leader, pause-leader,
        /// isolate-leader, isolate-follower, kill-follower, kill-all, kill-worker.
        #[arg(long, default_value = "all")]
        scenario: String,
        /// How long faults are injected: 90s, 10m, or seconds.
        #[arg(long, default_value = "60s", value_parser = parse_duration_s)]
        duration: u64,
        /// Seed of the fault schedule and the workers' choices (random when absent).
        #[arg(long)]
        seed: Option<u64>,
        /// Executions started per second.
        #[arg(long, default_value_t = 20)]
        rate: u32,
        #[arg(long, default_value_t = 8)]
        pollers: usize,
        #[arg(long, default_value = "target/chaos")]
        out: PathBuf,
        /// The node binary (default: `raftflow` beside this one or $RAFTFLOW_BIN;
        /// with --defect, `examples/raftflow-fault-node` or $RAFTFLOW_FAULT_BIN).
        #[arg(long)]
        bin: Option<PathBuf>,
        /// Switch on the server's deliberate defect: the run must fail. Needs
        /// the test build's node (cargo build -p raftflow-cli --example raftflow-fault-node).
        #[arg(long)]
        defect: bool,
        /// Run every node on 127.0.0.1 even as root (no network faults).
        #[arg(long)]
        no_netns: bool,
        /// Raft heartbeat interval of the nodes.
        #[arg(long, default_value_t = 100)]
        heartbeat_ms: u64,
        /// Silence before a follower stands for election, MIN-MAX.
        #[arg(long, default_value = "1200-1800")]
        election_ms: String,
        /// Leader lease of the nodes: a crashed leader is replaced after it.
        #[arg(long, default_value_t = 300)]
        lease_ms: u64,
        /// Task states without TimeoutSeconds: a hand-out stranded by a fault
        /// would wait the 300-second default lease (excludes kill-worker).
        #[arg(long)]
        no_timeouts: bool,
        /// Workers poll without poll ids, as older clients do.
        #[arg(long)]
        no_poll_ids: bool,
        /// The nodes export OpenTelemetry spans (OTLP/gRPC) to a collector
        /// listening on this port on every interface of this machine.
        #[arg(long)]
        collector_port: Option<u16>,
    },
}

fn parse_duration_s(text: &str) -> Result<u64, String> {
    let (number, unit) = match text.strip_suffix('m') {
        Some(n) => (n, 60),
        None => (text.strip_suffix('s').unwrap_or(text), 1),
    };
    let value: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration: use 90s, 10m or seconds"))?;
    if value == 0 {
        return Err("the duration must be positive".into());
    }
    Ok(value * unit)
}

#[tokio::main]
async fn main() -> ExitCode {
    let Cmd::Run {
        scenario,
        duration,
        seed,
        rate,
        pollers,
        out,
        bin,
        defect,
        no_netns,
        heartbeat_ms,
        election_ms,
        lease_ms,
        no_timeouts,
        no_poll_ids,
        collector_port,
    } = Cli::parse().command;
    let Some((election_min_ms, election_max_ms)) = election_ms
        .split_once('-')
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .filter(|(a, b): &(u64, u64)| a < b && *a > 2 * heartbeat_ms)
    else {
        eprintln!("error: --election-ms `{election_ms}` must be MIN-MAX with MIN > 2 × heartbeat and MIN < MAX");
        return ExitCode::from(2);
    };
    let seed = seed.unwrap_or_else(|| rand::random::<u32>() as u64);
    let opts = Options {
        scenario,
        duration_s: duration,
        seed,
        rate_per_s: rate.max(1),
        pollers: pollers.max(1),
        out,
        bin,
        defect,
        netns: !no_netns,
        timing: raftflow_chaos::RaftTiming {
            heartbeat_ms,
            election_min_ms,
            election_max_ms,
            lease_ms,
        },
        no_timeouts,
        poll_ids: !no_poll_ids,
        collector_port,
    };
    // Dropping the run's future kills the nodes and removes the namespaces.
    tokio::select! {
        result = run(&opts) => match result {
            Ok(verdict) => ExitCode::from(verdict.exit_code()),
            Err(e) => {
                eprintln!("error: {e:#}\nseed {seed}; replay: {}", opts.replay_command());
                ExitCode::from(1)
            }
        },
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted; seed {seed}; replay: {}", opts.replay_command());
            ExitCode::from(130)
        }
    }
}
