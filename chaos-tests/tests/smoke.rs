//! The chaos smoke run of the test suite: a few leader faults under load
//! must pass, and the checker must catch the server's deliberate defect.
//!
//! The seed is fixed so that a failure replays; set CHAOS_SEED to explore.

use std::sync::Mutex;

use raftflow_chaos::{run, Options, Verdict};

/// The runs start three nodes each; on two cores they take turns.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn options(scenario: &str, duration_s: u64, defect: bool) -> Options {
    let seed = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_127);
    Options {
        scenario: scenario.into(),
        duration_s,
        seed,
        rate_per_s: 20,
        pollers: 8,
        out: std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("chaos-{scenario}")),
        bin: None,
        defect,
        netns: true,
        timing: Default::default(),
        no_timeouts: false,
        poll_ids: true,
        collector_port: None,
    }
}

fn run_blocking(opts: &Options) -> Verdict {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(run(opts)).unwrap_or_else(|e| {
        panic!(
            "chaos run failed to run: {e:#}\nreplay: {}",
            opts.replay_command()
        )
    })
}

fn expect_passed(opts: &Options) {
    match run_blocking(opts) {
        Verdict::Passed => {}
        other => panic!(
            "seed {}: {other:?}\nreplay: {}",
            opts.seed,
            opts.replay_command()
        ),
    }
}

/// With every piece on: the nodes also export their spans to the harness,
/// which checks that executions, states, hand-outs and calls were traced.
#[test]
fn leader_faults_under_load_lose_nothing() {
    let opts = Options {
        collector_port: Some(0),
        ..options("smoke", 30, false)
    };
    expect_passed(&opts);
}

/// Task states without timeouts: a hand-out whose reply a leader fault
/// lost would wait the 300-second default lease and outlast the settle
/// grace; with poll ids the worker's retry gets it back at once.
#[test]
fn leader_faults_strand_no_task_without_timeouts() {
    let opts = Options {
        no_timeouts: true,
        ..options("kill-leader,pause-leader", 20, false)
    };
    expect_passed(&opts);
}

/// The leader's clock steps an hour while it leads, and a leader comes
/// back after a restart with its clock an hour off: no timer fires early
/// or late (timers.rs), and the skewed node never leads.
#[test]
fn clock_faults_fire_no_timer_early_or_late() {
    let opts = options("clock-step,skewed-restart", 20, false);
    expect_passed(&opts);
}

#[test]
fn checker_catches_a_server_that_applies_repeated_reports() {
    let opts = options("none", 8, true);
    match run_blocking(&opts) {
        Verdict::Failed(violations) => assert!(
            violations
                .iter()
                .any(|v| v.contains("repeated report") && v.contains("acknowledged")),
            "the checker failed the run, but not for the defect: {violations:?}"
        ),
        other => panic!(
            "the checker missed the deliberate defect (seed {}): {other:?}",
            opts.seed
        ),
    }
}
