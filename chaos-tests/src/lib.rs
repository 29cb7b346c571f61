//! raftflow-chaos: faults under load against a real three-node cluster, and
//! a checker that proves nothing acknowledged was lost or applied twice.
//!
//! ```text
//!  load generator ──StartExecution──┐            ┌── faults (seeded): kill, pause, isolate,
//!  pollers ──Poll/Complete/Fail────┤            │   kill follower, kill all, crash a worker,
//!                                  │            │   step a clock, restart with a skewed clock
//!                                  v            v
//!                    raftflow server ×3 (real binary, own netns when root)
//!                                  │
//!  every call's outcome ──> history.jsonl ──> check.rs <── executions, histories, digests read back
//!                                                  │
//!                                  exit 0 passed · 1 invalid run · 2 a check failed
//! ```

pub mod check;
pub mod cluster;
mod events;
pub mod faults;
pub mod history;
mod http;
pub mod netns;
mod report;
mod run;
mod schedule;
mod settle;
mod skew;
pub mod timers;
mod traces;
mod trigger;
pub mod workload;

use std::path::PathBuf;

pub use run::run;

#[derive(Debug, Clone)]
pub struct Options {
    /// `all`, `smoke`, `none`, or a comma list of fault kinds.
    pub scenario: String,
    pub duration_s: u64,
    pub seed: u64,
    /// Executions started per second.
    pub rate_per_s: u32,
    pub pollers: usize,
    /// Runs go to `<out>/seed-<seed>`.
    pub out: PathBuf,
    /// The node binary; found next to this one when not given (the
    /// `raftflow-fault-node` example with `defect`).
    pub bin: Option<PathBuf>,
    /// Switch on the server's deliberate defect (the checker must fail).
    pub defect: bool,
    /// Try network namespaces (needs root); loopback otherwise.
    pub netns: bool,
    pub timing: RaftTiming,
    /// The workload's task states set no `TimeoutSeconds` or
    /// `HeartbeatSeconds` (the default 300-second lease applies): a hand-out
    /// stranded by a fault then leaves its execution running past the
    /// settle grace, which the checker reports. Excludes `kill-worker`.
    pub no_timeouts: bool,
    /// Workers name their polls (the default): a poll retried after a lost
    /// reply gets the same task back. Off: as clients without poll ids.
    pub poll_ids: bool,
    /// The nodes export OpenTelemetry spans to a collector listening on
    /// this port of the harness's address (all interfaces: the nodes may
    /// run in network namespaces); `None`: telemetry off, as by default.
    pub collector_port: Option<u16>,
}

/// The nodes' Raft timing; the default is `cluster-config/`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaftTiming {
    pub heartbeat_ms: u64,
    pub election_min_ms: u64,
    pub election_max_ms: u64,
    pub lease_ms: u64,
}

impl Default for RaftTiming {
    fn default() -> Self {
        Self {
            heartbeat_ms: 100,
            election_min_ms: 1200,
            election_max_ms: 1800,
            lease_ms: 300,
        }
    }
}

impl Options {
    /// The command that replays this run.
    pub fn replay_command(&self) -> String {
        let mut cmd = format!(
            "cargo run -p raftflow-chaos -- run --scenario {} --duration {}s --seed {} --rate {}",
            self.scenario, self.duration_s, self.seed, self.rate_per_s
        );
        if self.defect {
            cmd.push_str(" --defect");
        }
        if self.no_timeouts {
            cmd.push_str(" --no-timeouts");
        }
        if !self.poll_ids {
            cmd.push_str(" --no-poll-ids");
        }
        if self.timing != RaftTiming::default() {
            let t = self.timing;
            cmd.push_str(&format!(
                " --heartbeat-ms {} --election-ms {}-{} --lease-ms {}",
                t.heartbeat_ms, t.election_min_ms, t.election_max_ms, t.lease_ms
            ));
        }
        cmd
    }
}

/// How a run ended.
#[derive(Debug)]
pub enum Verdict {
    Passed,
    /// The run proved nothing: too little load, a fault not applied, or the
    /// final write failed.
    Invalid(Vec<String>),
    Failed(Vec<String>),
}

impl Verdict {
    pub fn exit_code(&self) -> u8 {
        match self {
            Verdict::Passed => 0,
            Verdict::Invalid(_) => 1,
            Verdict::Failed(_) => 2,
        }
    }
}

/// The node binary: the given path, `$RAFTFLOW_BIN`, or the `raftflow` that
/// cargo built beside this executable (`target/<profile>/raftflow`).
pub fn find_binary(given: Option<PathBuf>) -> Result<PathBuf, String> {
    find(given, "RAFTFLOW_BIN", "raftflow", "cargo build --workspace")
}

/// The node binary for `--defect`: the test build's `raftflow-fault-node`
/// (the given path, `$RAFTFLOW_FAULT_BIN`, or `target/<profile>/examples/`).
/// The `raftflow` binary refuses deliberate defects, in every build.
pub fn find_fault_binary(given: Option<PathBuf>) -> Result<PathBuf, String> {
    find(
        given,
        "RAFTFLOW_FAULT_BIN",
        "examples/raftflow-fault-node",
        "cargo build -p raftflow-cli --example raftflow-fault-node",
    )
}

fn find(given: Option<PathBuf>, env: &str, name: &str, build: &str) -> Result<PathBuf, String> {
    if let Some(path) = given.or_else(|| std::env::var_os(env).map(PathBuf::from)) {
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("{} is not a file", path.display()))
        };
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    for dir in exe.ancestors().skip(1).take(2) {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(format!(
        "no `{name}` binary beside {}: build it ({build}) or pass --bin",
        exe.display()
    ))
}
