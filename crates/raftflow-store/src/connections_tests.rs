//! Connections under apply: refused before version 17, stored as sealed,
//! create repeated, updates fenced by revision, shapes refused.

use super::*;
use crate::command::{Command, CommandResult, Reject};
use crate::test_util::{apply, digest, machine_at};

fn def(name: &str, bytes: &[u8]) -> ConnectionDef {
    ConnectionDef {
        name: name.into(),
        description: "payments API".into(),
        kind: Kind::ApiKey {
            header: "X-Api-Key".into(),
        },
        sealed: Sealed {
            key_id: "0123456789abcdef".into(),
            nonce: [7; 12],
            bytes: bytes.to_vec(),
        },
    }
}

fn put(def: ConnectionDef, create: bool, expect_revision: u64) -> Command {
    Command::PutConnection {
        def,
        create,
        expect_revision,
        now_ms: 1_000,
    }
}

fn rejected(result: CommandResult) -> (Reject, String) {
    match result {
        CommandResult::Rejected { code, message } => (code, message),
        other => panic!("not refused: {other:?}"),
    }
}

#[test]
fn refused_before_version_17() {
    let (_dir, db, mut m) = machine_at(16);
    let result = apply(&mut m, &db, 2, put(def("pay", &[1; 40]), true, 0)).unwrap();
    let (code, message) = rejected(result);
    assert_eq!(code, Reject::FailedPrecondition);
    assert!(message.contains("apply version 17"), "{message}");
    assert!(read(&db, "pay").unwrap().is_none());
}

#[test]
fn create_repeat_update_delete() {
    let (_dir, db, mut m) = machine_at(17);
    let saved = |revision, created| CommandResult::ConnectionSaved { revision, created };
    let mut at = 1;
    let mut run = |m: &mut crate::Machine, c| {
        at += 1;
        apply(m, &db, at, c).unwrap()
    };
    assert_eq!(
        run(&mut m, put(def("pay", &[1; 40]), true, 0)),
        saved(1, true)
    );
    assert_eq!(
        run(&mut m, put(def("pay", &[1; 40]), true, 0)),
        saved(1, false)
    );
    let (code, _) = rejected(run(&mut m, put(def("pay", &[2; 40]), true, 0)));
    assert_eq!(code, Reject::AlreadyExists);
    assert_eq!(
        run(&mut m, put(def("pay", &[3; 40]), false, 1)),
        saved(2, false)
    );
    let (code, message) = rejected(run(&mut m, put(def("pay", &[4; 40]), false, 1)));
    assert_eq!(code, Reject::FailedPrecondition);
    assert!(message.contains("revision 2, not 1"), "{message}");
    let stored = read(&db, "pay").unwrap().unwrap();
    assert_eq!(stored.def.sealed.bytes, vec![3; 40]);
    assert_eq!(stored.revision, 2);
    let (code, _) = rejected(run(&mut m, put(def("other", &[1; 40]), false, 0)));
    assert_eq!(code, Reject::NotFound);
    let delete = |name: &str| Command::DeleteConnection {
        name: name.into(),
        now_ms: 2_000,
    };
    assert_eq!(run(&mut m, delete("pay")), CommandResult::Deleted);
    assert_eq!(rejected(run(&mut m, delete("pay"))).0, Reject::NotFound);
    assert!(list(&db, "", 10).unwrap().is_empty());
}

#[test]
fn shapes_refused_with_the_field_named() {
    let (_dir, db, mut m) = machine_at(17);
    let mut bad_name = def("pay", &[1; 40]);
    bad_name.name = "pay/ments".into();
    let mut bad_key = def("pay", &[1; 40]);
    bad_key.sealed.key_id = "xyz".into();
    let mut bad_header = def("pay", &[1; 40]);
    bad_header.kind = Kind::ApiKey {
        header: "X Api".into(),
    };
    let cases = [
        (bad_name, "connection name"),
        (bad_key, "key id"),
        (bad_header, "header name"),
        (def("pay", &[1; TAG_BYTES]), "sealed secret"),
        (def("pay", &vec![1; MAX_SEALED_BYTES + 1]), "sealed secret"),
    ];
    for (at, (bad, field)) in cases.into_iter().enumerate() {
        let result = apply(&mut m, &db, 2 + at as u64, put(bad, true, 0)).unwrap();
        let (code, message) = rejected(result);
        assert_eq!(code, Reject::InvalidArgument);
        assert!(message.contains(field), "{message} should name {field}");
    }
    assert!(list(&db, "", 10).unwrap().is_empty());
}

#[test]
fn replicas_store_the_same_bytes_and_count_on_load() {
    let commands = [
        put(def("a", &[1; 40]), true, 0),
        put(def("b", &[2; 40]), true, 0),
        put(def("a", &[5; 40]), false, 0),
    ];
    let mut digests = Vec::new();
    for _ in 0..2 {
        let (dir, db, mut m) = machine_at(17);
        for (at, command) in commands.iter().enumerate() {
            apply(&mut m, &db, 2 + at as u64, command.clone()).unwrap();
        }
        digests.push(digest(&db));
        let loaded = crate::workflow::Workflows::load(&db).unwrap();
        assert_eq!(loaded.connection_count, 2);
        drop(dir);
    }
    assert_eq!(digests[0], digests[1]);
}
