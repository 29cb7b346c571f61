//! Apply version 9: history events that store a large value once per
//! execution, and the data directory's move to compressed tables.

use super::*;
use crate::command::{Command, CommandResult};
use crate::machine::Machine;
use crate::test_util::apply;
use crate::workflow::reads;

/// Ten Pass states that carry their input on unchanged.
fn chain() -> String {
    let states: Vec<String> = (0..10)
        .map(|i| match i {
            9 => r#""S9": {"Type": "Pass", "End": true}"#.to_string(),
            _ => format!(r#""S{i}": {{"Type": "Pass", "Next": "S{}"}}"#, i + 1),
        })
        .collect();
    format!(r#"{{"StartAt": "S0", "States": {{{}}}}}"#, states.join(","))
}

fn start(name: &str, input: &str) -> Command {
    Command::StartExecution {
        state_machine: "chain".into(),
        version: 0,
        name: name.into(),
        input: input.into(),
        now_ms: 5,
        seed: 1,
        default_task_timeout_s: 60,
    }
}

/// Bytes stored under `prefix` in cf sm.
fn bytes_under(db: &Db, prefix: &str) -> usize {
    crate::workflow::scan(db, prefix.as_bytes())
        .unwrap()
        .iter()
        .map(|(k, v)| k.len() + v.len())
        .sum()
}

fn details(db: &Db, id: &str) -> Vec<(String, String)> {
    let page = reads::history(db, id, None, 1_000, false).unwrap();
    assert!(page.next.is_none());
    page.items
        .into_iter()
        .map(|e| (e.kind, e.details))
        .collect()
}

#[test]
fn from_version_9_a_large_value_is_stored_once_and_read_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    let mut m = Machine::load(&db, Supported::BINARY).unwrap();
    let create = Command::CreateStateMachine {
        name: "chain".into(),
        definition: chain(),
        description: String::new(),
        now_ms: 1,
    };
    apply(&mut m, &db, 1, create).unwrap();
    apply(&mut m, &db, 2, Command::SetApplyVersion { version: 8 }).unwrap();
    let input = serde_json::json!({"pad": "x".repeat(20_000)}).to_string();
    apply(&mut m, &db, 3, start("v8", &input)).unwrap();
    apply(&mut m, &db, 4, Command::SetApplyVersion { version: 9 }).unwrap();
    apply(&mut m, &db, 5, start("v9", &input)).unwrap();

    // 21 events carry the value (started, 10 × entered and exited) and
    // one more the output: whole before, once after.
    let (v8, v9) = (
        bytes_under(&db, "e/chain:v8/"),
        bytes_under(&db, "e/chain:v9/"),
    );
    assert!(v8 > 21 * 20_000, "{v8}");
    assert!(v9 < 5_000, "{v9}");
    assert_eq!(bytes_under(&db, "d/chain:v8/"), 0);
    let blobs = bytes_under(&db, "d/chain:v9/");
    assert!((20_000..21_000).contains(&blobs), "one copy: {blobs}");
    assert_eq!(details(&db, "chain:v8"), details(&db, "chain:v9"));
    assert_eq!(details(&db, "chain:v9").len(), 22);
    let newest_first = reads::history(&db, "chain:v9", None, 2, true).unwrap();
    let ids: Vec<u64> = newest_first.items.iter().map(|e| e.id).collect();
    assert_eq!(ids, [22, 21]);
    assert!(newest_first.items[0].details.contains(&"x".repeat(20_000)));

    let purge = Command::PurgeFinished {
        before_ms: u64::MAX,
        limit: 10,
    };
    let purged = apply(&mut m, &db, 6, purge).unwrap();
    assert_eq!(purged, CommandResult::Purged { count: 2 });
    assert_eq!(bytes_under(&db, "d/"), 0, "values go with their execution");
    assert_eq!(bytes_under(&db, "e/"), 0);
}

#[test]
fn format_3_follows_apply_version_9_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::open(dir.path()).unwrap();
        assert_eq!(open_format(&db).unwrap(), 1);
        follow_apply_version(&db, 8).unwrap();
        assert!(
            !db.is_compressed(),
            "an older node must still read the tables"
        );
        follow_apply_version(&db, 9).unwrap();
        assert!(db.is_compressed());
        let marker = db.get(CF_META, KEY_FORMAT).unwrap().unwrap();
        assert_eq!(decode::<u32>(&marker).unwrap(), 3);
    }
    let db = Db::open(dir.path()).unwrap();
    assert!(!db.is_compressed());
    assert_eq!(open_format(&db).unwrap(), 3);
    assert!(db.is_compressed(), "format 3 turns compression on at open");
}

/// Writes ~3.9 MB of repetitive JSON to cf sm and flushes it: the table's size.
fn table_bytes(db: &Db) -> u64 {
    let mut batch = WriteBatch::default();
    for i in 0..400 {
        let value = format!(
            r#"{{"order": {i}, "lines": "{}"}}"#,
            "sku-1234 x 2; ".repeat(700)
        );
        batch.put_cf(db.cf(CF_SM), format!("x/{i:05}"), value);
    }
    db.write_synced(batch).unwrap();
    db.raw().flush_cf(db.cf(CF_SM)).unwrap();
    db.raw()
        .property_int_value_cf(db.cf(CF_SM), "rocksdb.total-sst-files-size")
        .unwrap()
        .unwrap()
}

#[test]
fn compressed_tables_are_several_times_smaller() {
    let (plain_dir, packed_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let plain = table_bytes(&Db::open(plain_dir.path()).unwrap());
    let packed_db = Db::open(packed_dir.path()).unwrap();
    follow_apply_version(&packed_db, 9).unwrap();
    let packed = table_bytes(&packed_db);
    assert!(plain > 3_500_000, "uncompressed: {plain}");
    assert!(packed * 4 < plain, "lz4: {packed} of {plain} bytes");
}
