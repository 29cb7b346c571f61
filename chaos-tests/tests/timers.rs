//! The timer rules on hand-made histories: a Wait or a Retry that fires
//! early, or late with no fault between, is caught; one on time passes.

use std::collections::BTreeMap;

use raftflow_chaos::check::{check, Figures, Observed};
use raftflow_chaos::history::{Outcome, Record};
use raftflow_chaos::timers;

const E: &str = "chaos-order:r1-0";

fn handed_out(n: u64, activity: &str, t_ms: u64) -> Record {
    Record::Delivered {
        t_ms,
        poller: 0,
        token: format!("{E}#{n}@1"),
        execution_id: E.into(),
        activity: format!("chaos-{activity}"),
        epoch: 1,
        poll_id: Some(format!("p{n}")),
    }
}

fn report(n: u64, kind: &str, sent_ms: u64, t_ms: u64) -> Record {
    Record::Report {
        t_ms,
        sent_ms,
        token: format!("{E}#{n}@1"),
        kind: kind.into(),
        duplicate: false,
        outcome: Outcome::Ok,
        already_applied: false,
        next_recovered: false,
        error: None,
    }
}

fn fault(kind: &str, phase: &str, t_ms: u64) -> Record {
    Record::Fault {
        t_ms,
        kind: kind.into(),
        node: Some(1),
        phase: phase.into(),
        applied: true,
        detail: String::new(),
    }
}

/// Pack (#2) and Notify (#3) report at 100 and 200 ms (sent 90 and 190),
/// then Approve (#4) is handed out at `approve_ms`.
fn wait_history(approve_ms: u64) -> Vec<Record> {
    vec![
        handed_out(2, "pack", 10),
        handed_out(3, "notify", 20),
        report(2, "success", 90, 100),
        report(3, "success", 190, 200),
        handed_out(4, "approve", approve_ms),
    ]
}

fn succeeded() -> BTreeMap<String, Vec<String>> {
    // As the workers' outputs name them: the completing token.
    let attempts = ["#2@1", "#3@1"].map(|n| format!("{E}{n}")).to_vec();
    BTreeMap::from([(E.to_string(), attempts)])
}

fn violations(records: &[Record]) -> Vec<String> {
    timers::check(records, &succeeded(), &mut Vec::new())
}

#[test]
fn a_wait_on_time_passes_and_its_lateness_is_measured() {
    let mut lateness = Vec::new();
    let found = timers::check(&wait_history(1_250), &succeeded(), &mut lateness);
    assert_eq!(found, Vec::<String>::new());
    // Due at the last report's send (190) + 1 s.
    assert_eq!(lateness, vec![60]);
}

#[test]
fn a_wait_that_fires_early_is_caught() {
    // An hour-behind leader would fire the 1 s Wait at once.
    let found = violations(&wait_history(230));
    assert!(found.iter().any(|v| v.contains("fired early")), "{found:?}");
    // Early by less than the clock bound is within the contract.
    assert_eq!(
        violations(&wait_history(190 + 1_000 - 400)),
        Vec::<String>::new()
    );
}

#[test]
fn a_wait_that_fires_late_is_caught_unless_a_fault_delayed_it() {
    let late = wait_history(200 + 1_000 + 500 + 5_000 + 1);
    let found = violations(&late);
    assert!(found.iter().any(|v| v.contains("fired late")), "{found:?}");

    let mut killed = late.clone();
    killed.push(fault("kill-leader", "begin", 300));
    killed.push(fault("kill-leader", "end", 1_500));
    assert_eq!(violations(&killed), Vec::<String>::new());

    // A clock step is no excuse: log time must not follow the wall clock.
    let mut stepped = late;
    stepped.push(fault("clock-step", "begin", 300));
    stepped.push(fault("clock-step", "end", 4_000));
    let found = violations(&stepped);
    assert!(found.iter().any(|v| v.contains("fired late")), "{found:?}");
}

#[test]
fn a_retry_that_fires_early_is_caught() {
    let history = |next_ms| {
        vec![
            handed_out(1, "charge", 10),
            report(1, "failure", 50, 60),
            handed_out(2, "charge", next_ms),
        ]
    };
    let found = violations(&history(120));
    assert!(
        found.iter().any(|v| v.contains("Retry fired early")),
        "{found:?}"
    );
    assert_eq!(violations(&history(1_080)), Vec::<String>::new());
}

#[test]
fn a_node_that_leads_with_a_skewed_clock_fails_the_run() {
    let records = [Record::SkewedLeader {
        t_ms: 900,
        node: 2,
        clock_ms: -3_600_000,
    }];
    let seen = Observed {
        listed: true,
        executions: BTreeMap::new(),
        succeeded_attempts: BTreeMap::new(),
        unread: Default::default(),
    };
    let found = check(&records, &seen, "r1", &mut Figures::default());
    assert!(
        found.iter().any(|v| v.contains("node 2 drove an epoch")),
        "{found:?}"
    );
}
