//! Tests of backup.rs and backup_restore.rs at the store level: the file
//! checks out or is refused whole, and a restore moves the counters on.

use std::collections::BTreeMap;
use std::path::Path;

use crate::backup::{self, RestoreTarget, EPOCH_BUMP};
use crate::command::Command;
use crate::db::{Db, CF_SM};
use crate::machine::Machine;
use crate::test_util::apply;
use crate::types::NodeInfo;
use crate::version::Supported;
use crate::workflow::{reads, records};

const ONE_TASK: &str =
    r#"{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "activity:x", "End": true}}}"#;

/// A store with one running execution whose task is open, at epoch 3.
fn source(dir: &Path) -> Db {
    let db = Db::open(dir).unwrap();
    let mut m = Machine::load(&db, Supported::BINARY).unwrap();
    let create = Command::CreateStateMachine {
        name: "one".into(),
        definition: ONE_TASK.into(),
        description: String::new(),
        now_ms: 1,
    };
    apply(&mut m, &db, 1, create).unwrap();
    apply(
        &mut m,
        &db,
        2,
        Command::BeginEpoch {
            leader: 1,
            now_ms: 2,
        },
    )
    .unwrap();
    apply(
        &mut m,
        &db,
        3,
        Command::BeginEpoch {
            leader: 2,
            now_ms: 3,
        },
    )
    .unwrap();
    let start = Command::StartExecution {
        state_machine: "one".into(),
        version: 0,
        name: "a".into(),
        input: "{}".into(),
        now_ms: 4,
        seed: 1,
        default_task_timeout_s: 60,
    };
    apply(&mut m, &db, 4, start).unwrap();
    db
}

/// A backup of `db` written to `path`, as the CLI writes one.
fn save(db: &Db, path: &Path) {
    let saved = backup::save_content(db, 1, 99).unwrap();
    let mut out = std::fs::File::create(path).unwrap();
    backup::write_prefix(&mut out, &saved.header).unwrap();
    std::io::copy(&mut std::fs::File::open(&saved.path).unwrap(), &mut out).unwrap();
}

fn target(node_id: u64) -> RestoreTarget {
    let members: BTreeMap<u64, NodeInfo> = (1..=3)
        .map(|id| {
            let raft_addr = format!("10.0.0.{id}:7101");
            (
                id,
                NodeInfo {
                    raft_addr,
                    api_addr: format!("10.0.0.{id}:7201"),
                },
            )
        })
        .collect();
    RestoreTarget { node_id, members }
}

fn next_attempt(db: &Db, id: &str) -> u32 {
    let bytes = db.get(CF_SM, &records::runtime_key(id)).unwrap().unwrap();
    raftflow_core::execution::read_runtime(&bytes)
        .unwrap()
        .next_attempt
}

#[test]
fn a_restore_moves_the_epoch_and_attempt_counters_past_the_old_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let db = source(&dir.path().join("old"));
    let file = dir.path().join("b.backup");
    save(&db, &file);
    let inspection = backup::inspect(&file).unwrap();
    assert_eq!(inspection.header.index, 4);
    assert_eq!(inspection.executions.get("RUNNING"), Some(&1));
    assert_eq!(inspection.open_tasks, 1);

    let new_dir = dir.path().join("new");
    backup::restore(&file, &new_dir, &target(2)).unwrap();
    let restored = Db::open(&new_dir).unwrap();
    assert_eq!(reads::epoch(&restored).unwrap(), 2 + EPOCH_BUMP);
    let bump = raftflow_core::execution::MAX_HISTORY_EVENTS as u32;
    assert_eq!(
        next_attempt(&restored, "one:a"),
        next_attempt(&db, "one:a") + bump
    );
    let m = Machine::load(&restored, Supported::BINARY).unwrap();
    let members: Vec<u64> = m.membership.membership().voter_ids().collect();
    assert_eq!(members, [1, 2, 3]);
    assert_eq!(m.applied.map(|l| l.index), Some(4));
    assert!(
        reads::task(&restored, &reads::open_tasks(&restored).unwrap()[0].token)
            .unwrap()
            .is_some()
    );
}

#[test]
fn a_restore_refuses_a_used_directory_a_stranger_and_a_damaged_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = source(&dir.path().join("old"));
    let file = dir.path().join("b.backup");
    save(&db, &file);
    let err = backup::restore(&file, &dir.path().join("old"), &target(1)).unwrap_err();
    assert!(err.to_string().contains("is not empty"), "{err}");
    let err = backup::restore(&file, &dir.path().join("n4"), &target(4)).unwrap_err();
    assert!(
        err.to_string().contains("node 4 is not among the members"),
        "{err}"
    );

    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes.len() - 100;
    bytes[at] ^= 1;
    std::fs::write(&file, &bytes).unwrap();
    let fresh = dir.path().join("fresh");
    let err = backup::restore(&file, &fresh, &target(1)).unwrap_err();
    assert!(err.to_string().contains("checksum"), "{err}");
    assert!(
        !fresh.exists(),
        "nothing is written before the file checks out"
    );
}

#[test]
fn a_file_that_is_not_a_backup_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x");
    std::fs::write(&file, b"raftflow-backup-v2\nmore").unwrap();
    let err = backup::inspect(&file).unwrap_err().to_string();
    assert!(err.contains("newer backup format"), "{err}");
    std::fs::write(&file, b"hello world, not a backup at all").unwrap();
    let err = backup::inspect(&file).unwrap_err().to_string();
    assert!(err.contains("not a raftflow backup"), "{err}");
}
