//! The checker on hand-made histories: each rule must fire on the fault it
//! names, and a clean history must pass.

use std::collections::BTreeMap;

use raftflow_chaos::check::{check, Figures, Observed};
use raftflow_chaos::faults::{plan, FaultKind, ALL};
use raftflow_chaos::history::{Outcome, Record};

const SM: &str = "chaos-order";

fn start(name: &str) -> Record {
    Record::Start {
        t_ms: 1,
        name: name.into(),
        outcome: Outcome::Ok,
        execution_id: Some(format!("{SM}:{name}")),
        error: None,
    }
}

fn delivered(token: &str, poller: usize, epoch: u64, t_ms: u64) -> Record {
    let poll_id = format!("poll-{poller}-{t_ms}");
    delivered_to(token, (poller, Some(poll_id.as_str())), epoch, t_ms)
}

fn delivered_to(
    token: &str,
    (poller, poll_id): (usize, Option<&str>),
    epoch: u64,
    t_ms: u64,
) -> Record {
    Record::Delivered {
        t_ms,
        poller,
        token: format!("{token}@{epoch}"),
        execution_id: token.split('#').next().unwrap().into(),
        activity: "chaos-pack".into(),
        epoch,
        poll_id: poll_id.map(str::to_string),
    }
}

fn reported(token: &str, duplicate: bool, outcome: Outcome) -> Record {
    Record::Report {
        t_ms: 5,
        sent_ms: 4,
        token: token.into(),
        kind: "success".into(),
        duplicate,
        outcome,
        already_applied: false,
        next_recovered: false,
        error: None,
    }
}

fn already_applied(mut record: Record) -> Record {
    if let Record::Report {
        already_applied, ..
    } = &mut record
    {
        *already_applied = true;
    }
    record
}

fn observed(executions: &[(&str, &str)], completed: &[(&str, &[&str])]) -> Observed {
    Observed {
        listed: true,
        unread: Default::default(),
        executions: executions
            .iter()
            .map(|(n, s)| (format!("{SM}:{n}"), s.to_string()))
            .collect(),
        succeeded_attempts: completed
            .iter()
            .map(|(n, a)| {
                (
                    format!("{SM}:{n}"),
                    a.iter().map(|t| t.to_string()).collect(),
                )
            })
            .collect::<BTreeMap<_, _>>(),
    }
}

fn violations(records: &[Record], seen: &Observed) -> Vec<String> {
    check(records, seen, "r1", &mut Figures::default())
}

#[test]
fn a_clean_history_passes() {
    let t = "chaos-order:r1-0#1";
    let records = [
        start("r1-0"),
        delivered(t, 0, 2, 2),
        reported(&format!("{t}@2"), false, Outcome::Ok),
        reported(&format!("{t}@2"), true, Outcome::Refused),
        // From apply version 4 a repeat is acknowledged as already applied.
        already_applied(reported(&format!("{t}@2"), true, Outcome::Ok)),
    ];
    let seen = observed(&[("r1-0", "SUCCEEDED")], &[("r1-0", &[t])]);
    assert_eq!(violations(&records, &seen), Vec::<String>::new());
}

/// A poll retried after its reply was lost gets the same attempt back,
/// even from the next leader: one poll, so no violation.
#[test]
fn an_attempt_given_again_to_the_same_poll_passes() {
    let t = "chaos-order:r1-0#1";
    let records = [
        start("r1-0"),
        delivered_to(t, (0, Some("p-1")), 2, 2),
        delivered_to(t, (0, Some("p-1")), 2, 3),
        reported(&format!("{t}@2"), false, Outcome::Ok),
    ];
    let seen = observed(&[("r1-0", "SUCCEEDED")], &[("r1-0", &[t])]);
    let mut figures = Figures::default();
    assert_eq!(
        check(&records, &seen, "r1", &mut figures),
        Vec::<String>::new()
    );
    assert_eq!(figures.lost_hand_outs_recovered, 1);
    assert_eq!(figures.redeliveries, 0);
}

#[test]
fn each_rule_fires() {
    let t = "chaos-order:r1-0#1";
    let cases: Vec<(&str, Vec<Record>, Observed)> = vec![
        ("missing", vec![start("r1-0")], observed(&[], &[])),
        (
            "ended FAILED",
            vec![start("r1-0")],
            observed(&[("r1-0", "FAILED")], &[]),
        ),
        (
            "never submitted",
            vec![],
            observed(&[("r1-9", "SUCCEEDED")], &[]),
        ),
        (
            "completed 2 times",
            vec![start("r1-0")],
            observed(&[("r1-0", "SUCCEEDED")], &[("r1-0", &[t, t])]),
        ),
        (
            "repeated report",
            vec![start("r1-0"), reported(t, true, Outcome::Ok)],
            observed(&[("r1-0", "SUCCEEDED")], &[("r1-0", &[t])]),
        ),
        (
            "not in its history",
            vec![start("r1-0"), reported(t, false, Outcome::Ok)],
            observed(&[("r1-0", "SUCCEEDED")], &[]),
        ),
        (
            "handed out 2 times",
            vec![start("r1-0"), delivered(t, 0, 2, 2), delivered(t, 1, 3, 3)],
            observed(&[("r1-0", "SUCCEEDED")], &[]),
        ),
        (
            "to 1 polls",
            vec![
                start("r1-0"),
                delivered_to(t, (0, None), 2, 2),
                delivered_to(t, (0, None), 2, 3),
            ],
            observed(&[("r1-0", "SUCCEEDED")], &[]),
        ),
        (
            "after epoch 3",
            vec![
                start("r1-0"),
                delivered(t, 0, 3, 2),
                delivered("chaos-order:r1-0#2", 0, 2, 3),
            ],
            observed(&[("r1-0", "SUCCEEDED")], &[]),
        ),
    ];
    for (expected, records, seen) in cases {
        let found = violations(&records, &seen);
        assert!(
            found.iter().any(|v| v.contains(expected)),
            "expected a violation containing `{expected}`, got {found:?}"
        );
    }
}

#[test]
fn the_schedule_is_a_function_of_the_seed() {
    let a = plan(7, &ALL, 120_000);
    let b = plan(7, &ALL, 120_000);
    let c = plan(8, &ALL, 120_000);
    let kinds = |p: &[raftflow_chaos::faults::Planned]| {
        p.iter()
            .map(|f| (f.kind, f.gap_ms, f.hold_ms, f.clock_ms))
            .collect::<Vec<_>>()
    };
    assert_eq!(kinds(&a), kinds(&b));
    assert_ne!(kinds(&a), kinds(&c));
    assert!(a.len() >= ALL.len(), "two minutes hold every kind of fault");
    assert!(
        plan(1, &[FaultKind::KillLeader], 1).len() == 1,
        "a schedule holds at least one fault"
    );
}
