//! Subscriptions under apply: the outbox written in the apply that starts
//! and ends an execution, in order; deliveries acknowledged in batches,
//! failures backed off and then dead-lettered; redrive; bounds; refused
//! before version 20; two replicas agree.

use super::*;
use crate::command::{Command, CommandResult, Reject};
use crate::connections::Sealed;
use crate::test_util::{digest, Replica};

const PASS: &str =
    r#"{"StartAt":"P","States":{"P":{"Type":"Pass","Result":{"done":true},"End":true}}}"#;
const WAIT: &str = r#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::activity:work","End":true}}}"#;
const T0_MS: u64 = 1_796_349_600_000;

/// A replica with the state machines these tests use.
struct Node(Replica);

impl std::ops::Deref for Node {
    type Target = Replica;
    fn deref(&self) -> &Replica {
        &self.0
    }
}

impl std::ops::DerefMut for Node {
    fn deref_mut(&mut self) -> &mut Replica {
        &mut self.0
    }
}

impl Node {
    fn new(version: u32) -> Self {
        let machines = [("orders", PASS), ("waits", WAIT), ("other", PASS)];
        Node(Replica::new(version, &machines, T0_MS))
    }

    fn start(&mut self, state_machine: &str, name: &str) {
        let started = self.apply(Command::StartExecution {
            state_machine: state_machine.into(),
            version: 0,
            name: name.into(),
            input: "{}".into(),
            now_ms: T0_MS + 1000,
            seed: 3,
            default_task_timeout_s: 0,
        });
        assert!(matches!(started, CommandResult::ExecutionStarted { .. }));
    }

    fn pending(&self, name: &str) -> Vec<OutboxEvent> {
        pending(&self.db, name, 0, 100_000).unwrap()
    }

    fn sub(&self, name: &str) -> Subscription {
        read(&self.db, name).unwrap().unwrap()
    }

    fn report(&mut self, delivered: Vec<u64>, failed: Vec<u64>, now_ms: u64) -> CommandResult {
        self.apply(Command::EventsDelivered {
            subscription: "hook".into(),
            delivered,
            failed: failed.into_iter().map(|s| (s, "503".to_string())).collect(),
            now_ms,
        })
    }
}

fn def(name: &str, source: &str, on: Vec<Change>) -> SubscriptionDef {
    SubscriptionDef {
        name: name.into(),
        description: String::new(),
        source: source.into(),
        on,
        url: "https://hooks.example.com/raftflow".into(),
        connection: String::new(),
        secret: Sealed {
            key_id: "00112233445566aa".into(),
            nonce: [7; 12],
            bytes: vec![9; 48],
        },
        enabled: true,
        max_attempts: 3,
        max_age_s: 3600,
    }
}

fn put(def: SubscriptionDef, create: bool) -> Command {
    Command::PutSubscription {
        def,
        create,
        expect_revision: 0,
        now_ms: T0_MS,
    }
}

const ALL: [Change; 5] = [
    Change::Started,
    Change::Succeeded,
    Change::Failed,
    Change::TimedOut,
    Change::Aborted,
];

#[test]
fn refused_before_version_20() {
    let mut n = Node::new(SUBSCRIPTIONS_FROM - 1);
    let refused = n.apply(put(def("hook", "orders", ALL.to_vec()), true));
    assert!(matches!(
        refused,
        CommandResult::Rejected { code: Reject::FailedPrecondition, ref message } if message.contains("apply version 20")
    ));
    n.start("orders", "a");
    assert!(read(&n.db, "hook").unwrap().is_none());
}

#[test]
fn start_and_end_in_one_apply_queue_two_events_in_order() {
    let mut n = Node::new(SUBSCRIPTIONS_FROM);
    let saved = n.apply(put(def("hook", "orders", ALL.to_vec()), true));
    assert_eq!(
        saved,
        CommandResult::SubscriptionSaved {
            revision: 1,
            created: true
        }
    );
    let again = n.apply(put(def("hook", "orders", ALL.to_vec()), true));
    assert_eq!(
        again,
        CommandResult::SubscriptionSaved {
            revision: 1,
            created: false
        }
    );
    n.start("orders", "a");
    n.start("other", "b"); // not watched
    n.start("orders", "c");
    let events: Vec<_> = n
        .pending("hook")
        .into_iter()
        .map(|e| (e.seq, e.execution_id, e.change))
        .collect();
    assert_eq!(
        events,
        vec![
            (1, "orders:a".to_string(), Change::Started),
            (2, "orders:a".to_string(), Change::Succeeded),
            (3, "orders:c".to_string(), Change::Started),
            (4, "orders:c".to_string(), Change::Succeeded),
        ]
    );
    assert_eq!(n.sub("hook").pending, 4);
}

#[test]
fn filters_and_disabled_subscriptions_queue_nothing_more() {
    let mut n = Node::new(SUBSCRIPTIONS_FROM);
    n.apply(put(def("hook", "orders", vec![Change::Failed]), true));
    n.start("orders", "a");
    assert!(n.pending("hook").is_empty());
    let mut started = def("hook", "waits", vec![Change::Started]);
    started.enabled = false;
    assert!(matches!(
        n.apply(put(started.clone(), false)),
        CommandResult::SubscriptionSaved { revision: 2, .. }
    ));
    n.start("waits", "w");
    assert!(n.pending("hook").is_empty());
    started.enabled = true;
    n.apply(put(started, false));
    n.start("waits", "x");
    assert_eq!(n.pending("hook").len(), 1);
}

#[test]
fn deliveries_acknowledged_failures_backed_off_then_dead() {
    let mut n = Node::new(SUBSCRIPTIONS_FROM);
    n.apply(put(def("hook", "orders", ALL.to_vec()), true));
    n.start("orders", "a");
    let t = T0_MS + 5_000;
    assert_eq!(n.report(vec![1], vec![2], t), CommandResult::Accepted);
    let left = n.pending("hook");
    assert_eq!(left.len(), 1);
    assert_eq!(
        (left[0].seq, left[0].attempts, left[0].next_at_ms),
        (2, 1, t + 1_000)
    );
    // Repeated acknowledgement (a new leader's) changes nothing.
    n.report(vec![1], vec![], t);
    assert_eq!(n.sub("hook").delivered, 1);
    n.report(vec![], vec![2], t + 1_000);
    assert_eq!(n.pending("hook")[0].next_at_ms, t + 1_000 + 2_000);
    n.report(vec![], vec![2], t + 3_000); // third attempt of three
    assert!(n.pending("hook").is_empty());
    let dead = dead_letters(&n.db, "hook", 0, 10).unwrap();
    assert_eq!(
        (dead[0].seq, dead[0].attempts, dead[0].last_error.as_str()),
        (2, 3, "503")
    );
    let s = n.sub("hook");
    assert_eq!((s.pending, s.delivered, s.dead), (0, 1, 1));
    assert_eq!(
        n.apply(Command::RedriveEvents {
            subscription: "hook".into(),
            seqs: vec![2, 99],
            now_ms: t
        }),
        CommandResult::Redriven { count: 1 }
    );
    let back = n.pending("hook");
    assert_eq!(
        (back[0].seq, back[0].attempts, back[0].next_at_ms),
        (2, 0, 0)
    );
    assert_eq!((n.sub("hook").pending, n.sub("hook").dead), (1, 0));
}

#[test]
fn an_event_past_its_age_is_dead_after_one_failure() {
    let mut n = Node::new(SUBSCRIPTIONS_FROM);
    let mut d = def("hook", "orders", vec![Change::Succeeded]);
    d.max_attempts = 100;
    n.apply(put(d, true));
    n.start("orders", "a");
    n.report(vec![], vec![1], T0_MS + 1000 + 3_600_000);
    assert_eq!(n.sub("hook").dead, 1);
}

/// A change made to a definition.
type Edit = fn(&mut SubscriptionDef);

#[test]
fn bounds_refuse_with_reasons_and_too_large_reports() {
    let mut n = Node::new(SUBSCRIPTIONS_FROM);
    let cases: [(Edit, &str); 5] = [
        (
            |d: &mut SubscriptionDef| d.url = "ftp://x".into(),
            "http:// or https://",
        ),
        (|d: &mut SubscriptionDef| d.on = vec![], "one to five"),
        (|d: &mut SubscriptionDef| d.max_attempts = 0, "max attempts"),
        (
            |d: &mut SubscriptionDef| d.name = "a b".into(),
            "subscription name",
        ),
        (
            |d: &mut SubscriptionDef| d.secret.bytes.clear(),
            "signing secret",
        ),
    ];
    for (change, words) in cases {
        let mut d = def("hook", "orders", ALL.to_vec());
        change(&mut d);
        let result = n.apply(put(d, true));
        assert!(
            matches!(&result, CommandResult::Rejected { code: Reject::InvalidArgument, message } if message.contains(words)),
            "{result:?}"
        );
    }
    n.apply(put(def("hook", "orders", ALL.to_vec()), true));
    let many: Vec<u64> = (0..=MAX_EVENTS_PER_COMMAND as u64).collect();
    assert!(matches!(
        n.report(many, vec![], T0_MS),
        CommandResult::Rejected {
            code: Reject::InvalidArgument,
            ..
        }
    ));
}

#[test]
fn delete_takes_the_outbox_and_dead_letters() {
    let mut n = Node::new(SUBSCRIPTIONS_FROM);
    n.apply(put(def("hook", "orders", ALL.to_vec()), true));
    n.start("orders", "a");
    n.report(vec![], vec![1, 1, 1], T0_MS + 2000);
    assert_eq!(n.sub("hook").dead, 1);
    let deleted = n.apply(Command::DeleteSubscription {
        name: "hook".into(),
        now_ms: T0_MS,
    });
    assert_eq!(deleted, CommandResult::Deleted);
    assert!(n.pending("hook").is_empty());
    assert!(dead_letters(&n.db, "hook", 0, 10).unwrap().is_empty());
    // A report for a deleted subscription is passed over.
    assert_eq!(n.report(vec![2], vec![], T0_MS), CommandResult::Accepted);
    n.start("orders", "b");
    assert!(read(&n.db, "hook").unwrap().is_none());
}

#[test]
fn replicas_agree_and_a_reload_keeps_the_index() {
    let mut a = Node::new(SUBSCRIPTIONS_FROM);
    let mut b = Node::new(SUBSCRIPTIONS_FROM);
    for n in [&mut a, &mut b] {
        n.apply(put(def("hook", "orders", ALL.to_vec()), true));
        n.start("orders", "a");
        n.report(vec![1], vec![2], T0_MS + 9000);
    }
    assert_eq!(digest(&a.db), digest(&b.db));
    a.reload();
    let started = a.apply(Command::StartExecution {
        state_machine: "orders".into(),
        version: 0,
        name: "z".into(),
        input: "{}".into(),
        now_ms: T0_MS,
        seed: 1,
        default_task_timeout_s: 0,
    });
    assert!(matches!(started, CommandResult::ExecutionStarted { .. }));
    assert_eq!(pending(&a.db, "hook", 0, 100).unwrap().len(), 3);
}

#[test]
fn backoff_doubles_to_its_cap() {
    assert_eq!(backoff_ms(1), 1_000);
    assert_eq!(backoff_ms(2), 2_000);
    assert_eq!(backoff_ms(5), 16_000);
    assert_eq!(backoff_ms(40), MAX_BACKOFF_MS);
    assert_eq!(Change::from_word("timed-out"), Some(Change::TimedOut));
}

#[test]
fn the_cloud_event_names_the_change_and_a_started_one_shows_no_end() {
    let mut n = Node::new(SUBSCRIPTIONS_FROM);
    n.apply(put(def("hook", "orders", ALL.to_vec()), true));
    n.start("orders", "a");
    let events = n.pending("hook");
    let record = crate::workflow::reads::execution(&n.db, "orders:a").unwrap();
    let started: serde_json::Value =
        serde_json::from_str(&cloud_event("orders", &events[0], record.as_ref())).unwrap();
    assert_eq!(started["specversion"], "1.0");
    assert_eq!(started["id"], "orders:a/RUNNING");
    assert_eq!(started["type"], "raftflow.execution.started");
    assert_eq!(started["subject"], "orders:a");
    assert_eq!(started["data"]["status"], "RUNNING");
    assert_eq!(started["data"]["output"], serde_json::Value::Null);
    assert_eq!(started["data"]["input"], "{}");
    let ended: serde_json::Value =
        serde_json::from_str(&cloud_event("orders", &events[1], record.as_ref())).unwrap();
    assert_eq!(ended["type"], "raftflow.execution.succeeded");
    assert_eq!(ended["data"]["output"], r#"{"done":true}"#);
    assert_eq!(ended["raftflowseq"], 2);
    let purged: serde_json::Value =
        serde_json::from_str(&cloud_event("orders", &events[1], None)).unwrap();
    assert_eq!(purged["data"]["executionArn"], "orders:a");
    assert_eq!(purged["data"]["inputDetails"]["included"], false);
}
