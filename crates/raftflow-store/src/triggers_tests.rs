//! Triggers under apply: B starts once per end of A, in the apply that
//! ends A; filters, disabled triggers, cycles bounded, the event's shape.

use super::*;
use crate::command::{Command, CommandResult, Reject};
use crate::test_util::Replica;
use crate::workflow::reads;

const PASS: &str =
    r#"{"StartAt":"P","States":{"P":{"Type":"Pass","Result":{"done":true},"End":true}}}"#;
const T0_MS: u64 = 1_796_349_600_000;

/// A replica with the state machines these tests use.
struct Cluster(Replica);

impl std::ops::Deref for Cluster {
    type Target = Replica;
    fn deref(&self) -> &Replica {
        &self.0
    }
}

impl std::ops::DerefMut for Cluster {
    fn deref_mut(&mut self) -> &mut Replica {
        &mut self.0
    }
}

impl Cluster {
    fn new(version: u32) -> Self {
        let machines = [("orders", PASS), ("shipping", PASS), ("loop", PASS)];
        Cluster(Replica::new(version, &machines, T0_MS))
    }

    fn start(&mut self, state_machine: &str, name: &str) -> CommandResult {
        self.apply(Command::StartExecution {
            state_machine: state_machine.into(),
            version: 0,
            name: name.into(),
            input: r#"{"order":7}"#.into(),
            now_ms: T0_MS + 1000,
            seed: 3,
            default_task_timeout_s: 0,
        })
    }

    fn count(&self, state_machine: &str) -> usize {
        reads::executions(&self.db, state_machine, None, 1000, None)
            .unwrap()
            .items
            .len()
    }
}

fn def(name: &str, source: &str, target: &str, on: Vec<When>) -> TriggerDef {
    TriggerDef {
        name: name.into(),
        source: source.into(),
        on,
        target: Target::StartExecution {
            state_machine: target.into(),
            version: 0,
        },
        description: String::new(),
        enabled: true,
    }
}

fn put(def: TriggerDef, create: bool) -> Command {
    Command::PutTrigger {
        def,
        create,
        lease_s: 0,
        now_ms: T0_MS,
    }
}

#[test]
fn before_version_15_a_trigger_is_refused() {
    let mut c = Cluster::new(TRIGGERS_FROM - 1);
    let result = c.apply(put(
        def("ship", "orders", "shipping", vec![When::Succeeded]),
        true,
    ));
    assert!(matches!(
        result,
        CommandResult::Rejected {
            code: Reject::FailedPrecondition,
            ..
        }
    ));
}

#[test]
fn b_starts_once_when_a_succeeds_with_the_event_as_input() {
    let mut c = Cluster::new(TRIGGERS_FROM);
    let saved = c.apply(put(
        def("ship", "orders", "shipping", vec![When::Succeeded]),
        true,
    ));
    assert_eq!(
        saved,
        CommandResult::TriggerSaved {
            revision: 1,
            created: true
        }
    );
    c.start("orders", "o-1");
    let b = reads::execution(&c.db, "shipping:ship-o-1")
        .unwrap()
        .expect("B started");
    let input: serde_json::Value = serde_json::from_str(&b.input).unwrap();
    assert_eq!(
        input["detail-type"],
        "Step Functions Execution Status Change"
    );
    assert_eq!(input["detail"]["status"], "SUCCEEDED");
    assert_eq!(input["detail"]["executionArn"], "orders:o-1");
    assert_eq!(input["detail"]["output"], r#"{"done":true}"#);
    assert_eq!(b.status, raftflow_core::Status::Succeeded);
    // The same start again is the same execution: A does not end twice.
    c.start("orders", "o-1");
    assert_eq!(c.count("shipping"), 1);
    let trigger = read(&c.db, "ship").unwrap().unwrap();
    assert_eq!((trigger.started, trigger.failed), (1, 0));
    assert_eq!(trigger.recent[0].source_execution, "orders:o-1");
}

#[test]
fn filters_disabled_triggers_delete_and_a_restart_agree() {
    let mut c = Cluster::new(TRIGGERS_FROM);
    c.apply(put(
        def("on-fail", "orders", "shipping", vec![When::Failed]),
        true,
    ));
    let mut off = def("off", "orders", "shipping", vec![When::Succeeded]);
    off.enabled = false;
    c.apply(put(off.clone(), true));
    c.start("orders", "o-1");
    assert_eq!(c.count("shipping"), 0);
    off.enabled = true;
    c.apply(put(off, false));
    // A node that starts from the tables has the same index.
    c.m = crate::machine::Machine::load(&c.db, crate::version::Supported::BINARY).unwrap();
    c.start("orders", "o-2");
    assert_eq!(c.count("shipping"), 1);
    let delete = Command::DeleteTrigger {
        name: "off".into(),
        now_ms: T0_MS,
    };
    assert_eq!(c.apply(delete), CommandResult::Deleted);
    c.start("orders", "o-3");
    assert_eq!(c.count("shipping"), 1);
}

#[test]
fn a_cycle_of_triggers_stops_within_one_entry() {
    let mut c = Cluster::new(TRIGGERS_FROM);
    c.apply(put(
        def("again", "loop", "loop", vec![When::Succeeded]),
        true,
    ));
    c.start("loop", "x");
    assert_eq!(c.count("loop"), 1 + MAX_STARTS_PER_ENTRY);
    let trigger = read(&c.db, "again").unwrap().unwrap();
    assert_eq!(trigger.started, MAX_STARTS_PER_ENTRY as u64);
    assert_eq!(trigger.failed, 1);
    assert!(matches!(
        &trigger.recent.last().unwrap().outcome,
        Outcome::StartFailed { message } if message.contains("cycle")
    ));
}

#[test]
fn names_stay_within_80_and_large_events_leave_out_input_then_output() {
    let long = "n".repeat(80);
    let name = execution_name(&"t".repeat(MAX_TRIGGER_NAME_CHARS), &long);
    assert_eq!(name.len(), 80);
    assert_ne!(name, execution_name(&"t".repeat(48), &"m".repeat(80)));
    assert_eq!(execution_name("ship", "o-1"), "ship-o-1");
    let mut record = crate::workflow::records::ExecutionRecord {
        id: "orders:o".into(),
        name: "o".into(),
        state_machine: "orders".into(),
        version: 1,
        status: raftflow_core::Status::Succeeded,
        input: format!("\"{}\"", "i".repeat(200 * 1024)),
        output: Some(format!("\"{}\"", "o".repeat(100 * 1024))),
        error: None,
        cause: None,
        start_ms: 1,
        stop_ms: Some(2),
        seq: 1,
    };
    let event: serde_json::Value =
        serde_json::from_str(&event(&record, When::Succeeded, 3)).unwrap();
    assert_eq!(event["detail"]["inputDetails"]["included"], false);
    assert_eq!(event["detail"]["outputDetails"]["included"], true);
    record.output = Some(format!("\"{}\"", "o".repeat(300 * 1024)));
    let event: serde_json::Value = serde_json::from_str(&event_text(&record)).unwrap();
    assert!(event["detail"]["output"].is_null());
}

fn event_text(record: &crate::workflow::records::ExecutionRecord) -> String {
    event(record, When::Succeeded, 3)
}
