//! Tests of snapshots.rs: build, install, crash recovery and refusals.

use super::*;
use crate::version::Supported;

fn pairs(db: &Db) -> Vec<(Vec<u8>, Vec<u8>)> {
    db.raw()
        .iterator_cf(db.cf(CF_SM), IteratorMode::Start)
        .map(|item| {
            let (k, v) = item.unwrap();
            (k.to_vec(), v.to_vec())
        })
        .collect()
}

fn put(db: &Db, key: &[u8], value: &[u8]) {
    let mut batch = WriteBatch::default();
    batch.put_cf(db.cf(CF_SM), key, value);
    db.write_synced(batch).unwrap();
}

/// A store whose tables hold `n` pairs and whose position is index `n`.
fn source(dir: &Path, n: u64) -> Db {
    let db = Db::open(dir).unwrap();
    let mut batch = WriteBatch::default();
    for i in 0..n {
        batch.put_cf(db.cf(CF_SM), format!("x/{i:05}"), [i as u8; 100]);
    }
    db.write_synced(batch).unwrap();
    let applied = Some(crate::types::log_id(2, 1, n));
    put(&db, KEY_APPLIED, &encode(&applied).unwrap());
    let membership = StoredMembership::default();
    put(&db, KEY_MEMBERSHIP, &encode(&membership).unwrap());
    db
}

#[test]
fn an_installed_snapshot_replaces_the_tables_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let a = source(&dir.path().join("a"), 20_000);
    let (meta, file) = Snapshots::open(&a).unwrap().build(&a).unwrap();
    assert_eq!(snapshot_id(&meta), "2-1-20000");

    let b = Db::open(&dir.path().join("b")).unwrap();
    put(&b, b"zz/not-in-the-snapshot", b"1");
    let snapshots = Snapshots::open(&b).unwrap();
    let machine = RwLock::new(Machine::load(&b, Supported::BINARY).unwrap());
    snapshots
        .install(&b, &machine, meta.clone(), file.path())
        .unwrap();
    assert_eq!(pairs(&a), pairs(&b));
    assert_eq!(machine.read().unwrap().applied, meta.last_log_id);
    let (current, _) = snapshots.current(&b).unwrap().unwrap();
    assert_eq!(snapshot_id(&current), snapshot_id(&meta));
}

#[test]
fn an_install_cut_short_by_a_crash_is_finished_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let a = source(&dir.path().join("a"), 5_000);
    let (meta, file) = Snapshots::open(&a).unwrap().build(&a).unwrap();
    let b_path = dir.path().join("b");
    {
        let b = Db::open(&b_path).unwrap();
        let snapshots = Snapshots::open(&b).unwrap();
        let machine = RwLock::new(Machine::load(&b, Supported::BINARY).unwrap());
        snapshots
            .install(&b, &machine, meta.clone(), file.path())
            .unwrap();
        // Put the store back to the middle of an install: marker set,
        // tables half replaced.
        let stored = read::<StoredSnapshot>(&b, KEY_CURRENT).unwrap().unwrap();
        let mut batch = WriteBatch::default();
        batch.put_cf(b.cf(CF_META), KEY_INSTALLING, encode(&stored).unwrap());
        batch.delete_range_cf(b.cf(CF_SM), b"x/01000".as_slice(), b"x/04000".as_slice());
        batch.put_cf(b.cf(CF_SM), b"zz/left-over", b"1");
        b.write_synced(batch).unwrap();
        assert_ne!(pairs(&a), pairs(&b));
    }
    let b = Db::open(&b_path).unwrap();
    let snapshots = Snapshots::open(&b).unwrap();
    assert_eq!(pairs(&a), pairs(&b));
    assert!(b.get(CF_META, KEY_INSTALLING).unwrap().is_none());
    assert!(snapshots.current(&b).unwrap().is_some());
}

#[test]
fn a_store_from_before_file_snapshots_opens_and_drops_its_inline_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let db = source(dir.path(), 10);
    let before = pairs(&db);
    let mut batch = WriteBatch::default();
    batch.put_cf(
        db.cf(CF_META),
        crate::version::KEY_LEGACY_INLINE,
        vec![7u8; 1000],
    );
    db.write_synced(batch).unwrap();
    crate::version::open_format(&db).unwrap();
    let snapshots = Snapshots::open(&db).unwrap();
    assert!(db
        .get(CF_META, crate::version::KEY_LEGACY_INLINE)
        .unwrap()
        .is_none());
    assert!(snapshots.current(&db).unwrap().is_none());
    assert_eq!(before, pairs(&db), "the tables are untouched");
    let (meta, _) = snapshots.build(&db).unwrap();
    assert_eq!(snapshot_id(&meta), "2-1-10");
}

#[test]
fn a_snapshot_under_newer_rules_is_refused_before_the_tables_change() {
    let dir = tempfile::tempdir().unwrap();
    let a = source(&dir.path().join("a"), 100);
    put(
        &a,
        crate::version::KEY_APPLY_VERSION,
        &encode(&3u32).unwrap(),
    );
    let (meta, file) = Snapshots::open(&a).unwrap().build(&a).unwrap();

    let b = source(&dir.path().join("b"), 10);
    let before = pairs(&b);
    let snapshots = Snapshots::open(&b).unwrap();
    let machine = RwLock::new(Machine::load(&b, Supported::capped(1)).unwrap());
    let err = snapshots
        .install(&b, &machine, meta, file.path())
        .unwrap_err();
    assert!(err.to_string().contains("apply version 3"), "{err}");
    assert_eq!(before, pairs(&b));
    assert!(snapshots.current(&b).unwrap().is_none());
}

#[test]
fn a_damaged_snapshot_is_refused_before_the_tables_change() {
    let dir = tempfile::tempdir().unwrap();
    let a = source(&dir.path().join("a"), 100);
    let (meta, file) = Snapshots::open(&a).unwrap().build(&a).unwrap();
    let damaged = dir.path().join("damaged.snap");
    let bytes = std::fs::read(file.path()).unwrap();
    std::fs::write(&damaged, &bytes[..bytes.len() / 2]).unwrap();

    let b = source(&dir.path().join("b"), 10);
    let before = pairs(&b);
    let snapshots = Snapshots::open(&b).unwrap();
    let machine = RwLock::new(Machine::load(&b, Supported::BINARY).unwrap());
    let err = snapshots.install(&b, &machine, meta, &damaged).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
    assert_eq!(before, pairs(&b));
    assert!(snapshots.current(&b).unwrap().is_none());
}
