//! Traced starts: refused before version 22; the trace kept for a new
//! execution only, read back, purged with it; a malformed one refused
//! before anything starts.

use super::reads::execution;
use super::traces::{read, TRACES_FROM};
use crate::command::{Command, CommandResult, Reject};
use crate::test_util::Replica;

const PASS: &str = r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#;
const CALLER: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const OTHER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const T0_MS: u64 = 1_796_349_600_000;

fn traced(name: &str, trace_parent: &str) -> Command {
    Command::StartExecutionTraced {
        state_machine: "orders".into(),
        version: 0,
        name: name.into(),
        input: "{}".into(),
        now_ms: T0_MS,
        seed: 1,
        default_task_timeout_s: 0,
        trace_parent: trace_parent.into(),
    }
}

fn refused(result: CommandResult) -> Reject {
    match result {
        CommandResult::Rejected { code, .. } => code,
        other => panic!("not refused: {other:?}"),
    }
}

#[test]
fn a_traced_start_is_refused_before_version_22() {
    let mut n = Replica::new(TRACES_FROM - 1, &[("orders", PASS)], T0_MS);
    assert_eq!(
        refused(n.apply(traced("a", CALLER))),
        Reject::FailedPrecondition
    );
    assert_eq!(
        execution(&n.db, "orders:a").unwrap(),
        None,
        "nothing started"
    );
    assert_eq!(read(&n.db, "orders:a").unwrap(), None);
}

#[test]
fn the_first_start_keeps_its_trace_until_the_execution_is_purged() {
    let mut n = Replica::new(TRACES_FROM, &[("orders", PASS)], T0_MS);
    let started = n.apply(traced("a", CALLER));
    assert!(matches!(
        started,
        CommandResult::ExecutionStarted { created: true, .. }
    ));
    let kept = read(&n.db, "orders:a").unwrap().expect("kept");
    assert_eq!(kept.to_string(), CALLER);
    // A repeated start (same name and input) is the same execution, in the
    // first start's trace.
    let again = n.apply(traced("a", OTHER));
    assert!(matches!(
        again,
        CommandResult::ExecutionStarted { created: false, .. }
    ));
    assert_eq!(
        read(&n.db, "orders:a").unwrap().unwrap().to_string(),
        CALLER
    );
    n.apply(Command::PurgeFinished {
        before_ms: T0_MS + 1,
        limit: 10,
    });
    assert_eq!(read(&n.db, "orders:a").unwrap(), None, "purged with it");
}

#[test]
fn a_malformed_trace_is_refused_and_starts_nothing() {
    let mut n = Replica::new(TRACES_FROM, &[("orders", PASS)], T0_MS);
    let bad = "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01";
    assert_eq!(refused(n.apply(traced("a", bad))), Reject::InvalidArgument);
    assert_eq!(
        execution(&n.db, "orders:a").unwrap(),
        None,
        "nothing started"
    );
}
