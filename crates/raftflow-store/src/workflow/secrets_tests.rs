//! Task tokens with a secret (apply version 8): which attempts carry one,
//! that only the sealed token reports, and that the key outlives a restart.

use raftflow_core::task_token::{self, TaskKey};

use crate::acl::{Role, TokenSpec, ACCESSOR_CHARS, SECRET_HASH_BYTES, SESSION_KEY_BYTES};
use crate::command::{Command, CommandResult, Reject};
use crate::db::Db;
use crate::machine::Machine;
use crate::test_util::apply;
use crate::version::Supported;
use crate::workflow::reads;

const CALLBACK: &str = r#"{"StartAt": "T", "States": {"T": {"Type": "Task",
  "Resource": "activity:x.waitForTaskToken", "End": true}}}"#;
const SESSION_KEY: [u8; SESSION_KEY_BYTES] = [9; SESSION_KEY_BYTES];

struct Node {
    dir: tempfile::TempDir,
    db: Db,
    m: Machine,
    index: u64,
}

impl Node {
    fn new(version: u32, bootstrapped: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let m = Machine::load(&db, Supported::BINARY).unwrap();
        let mut node = Node {
            dir,
            db,
            m,
            index: 0,
        };
        node.one(Command::SetApplyVersion { version });
        node.one(Command::CreateStateMachine {
            name: "cb".into(),
            definition: CALLBACK.into(),
            description: String::new(),
            now_ms: 1,
        });
        if bootstrapped {
            node.bootstrap();
        }
        node
    }

    fn bootstrap(&mut self) {
        let token = TokenSpec {
            accessor: "a".repeat(ACCESSOR_CHARS),
            secret_hash: vec![1; SECRET_HASH_BYTES],
            name: "bootstrap".into(),
            role: Role::Admin,
            scopes: Vec::new(),
            expires_at_ms: None,
        };
        let done = self.one(Command::AclBootstrap {
            token,
            session_key: SESSION_KEY.to_vec(),
            now_ms: 2,
        });
        assert_eq!(done, CommandResult::Accepted);
    }

    fn one(&mut self, command: Command) -> CommandResult {
        self.index += 1;
        apply(&mut self.m, &self.db, self.index, command).unwrap()
    }

    /// Starts `name`; the token of its open attempt.
    fn start(&mut self, name: &str) -> String {
        let started = self.one(Command::StartExecution {
            state_machine: "cb".into(),
            version: 0,
            name: name.into(),
            input: "{}".into(),
            now_ms: 10,
            seed: 3,
            default_task_timeout_s: 60,
        });
        assert!(
            matches!(started, CommandResult::ExecutionStarted { .. }),
            "{started:?}"
        );
        let open = reads::open_tasks(&self.db).unwrap();
        let id = format!("cb:{name}");
        let task = open.iter().find(|t| t.execution_id == id).expect("open");
        task.token.clone()
    }

    fn complete(&mut self, token: &str) -> CommandResult {
        self.one(Command::TaskCompleted {
            token: token.into(),
            epoch: None,
            output: "{}".into(),
            now_ms: 20,
            seed: 4,
        })
    }
}

fn events(node: &Node) -> usize {
    let page = reads::history(&node.db, "cb:e1", None, 1000, false).unwrap();
    page.items.len()
}

fn code(result: &CommandResult) -> Option<Reject> {
    match result {
        CommandResult::Rejected { code, .. } => Some(*code),
        _ => None,
    }
}

#[test]
fn from_version_8_only_the_sealed_token_reports() {
    let mut node = Node::new(8, true);
    let token = node.start("e1");
    let (attempt, secret) = task_token::split(&token);
    assert_eq!(attempt, "cb:e1#1");
    assert_eq!(token, TaskKey::derive(&SESSION_KEY).seal(attempt));
    assert!(secret.is_some());
    let history = events(&node);
    assert_eq!(code(&node.complete(attempt)), Some(Reject::StaleToken));
    let forged = format!("{attempt}~{}", "0".repeat(task_token::SECRET_HEX_CHARS));
    assert_eq!(code(&node.complete(&forged)), Some(Reject::StaleToken));
    assert_eq!(events(&node), history, "refused reports write nothing");
    assert_eq!(node.complete(&token), CommandResult::Accepted);
}

#[test]
fn before_version_8_or_before_a_bootstrap_tokens_carry_no_secret() {
    let mut older = Node::new(7, true);
    assert_eq!(older.start("e1"), "cb:e1#1");
    let mut unbooted = Node::new(8, false);
    assert_eq!(unbooted.start("e1"), "cb:e1#1");
    // The attempt opened before the bootstrap keeps its plain token; the
    // next one is sealed.
    unbooted.bootstrap();
    let sealed = unbooted.start("e2");
    assert_eq!(task_token::split(&sealed).0, "cb:e2#1");
    assert_ne!(sealed, "cb:e2#1");
    assert_eq!(unbooted.complete("cb:e1#1"), CommandResult::Accepted);
}

#[test]
fn the_key_is_the_same_after_a_restart() {
    let mut node = Node::new(8, true);
    let before = node.start("e1");
    node.m = Machine::load(&node.db, Supported::BINARY).unwrap();
    let after = node.start("e2");
    let key = TaskKey::derive(&SESSION_KEY);
    assert_eq!(before, key.seal("cb:e1#1"));
    assert_eq!(after, key.seal("cb:e2#1"));
    assert_eq!(node.complete(&before), CommandResult::Accepted);
    let _ = node.dir.path();
}
