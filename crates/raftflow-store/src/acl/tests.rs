//! The token commands under apply: gated by the apply version, total, and
//! what they leave in the tables.

use super::*;
use crate::command::{Command, CommandResult, Reject};
use crate::test_util::apply;

fn spec(accessor_digit: char, name: &str, role: Role) -> TokenSpec {
    TokenSpec {
        accessor: accessor_digit.to_string().repeat(ACCESSOR_CHARS),
        secret_hash: vec![accessor_digit as u8; SECRET_HASH_BYTES],
        name: name.into(),
        role,
        scopes: Vec::new(),
        expires_at_ms: None,
    }
}

fn bootstrap(token: TokenSpec) -> Command {
    Command::AclBootstrap {
        token,
        session_key: vec![7; SESSION_KEY_BYTES],
        now_ms: 10,
    }
}

fn code(result: &CommandResult) -> Option<Reject> {
    match result {
        CommandResult::Rejected { code, .. } => Some(*code),
        _ => None,
    }
}

use crate::test_util::machine_at as at_version;

#[test]
fn before_version_7_token_commands_change_nothing() {
    let (_dir, db, mut m) = at_version(6);
    let before = m.acl.len();
    let refused = apply(&mut m, &db, 2, bootstrap(spec('a', "first", Role::Admin))).unwrap();
    assert_eq!(
        code(&refused),
        Some(Reject::FailedPrecondition),
        "{refused:?}"
    );
    assert!(m.acl.bootstrap().is_none() && m.acl.len() == before);
    assert!(db.get(CF_SM, KEY_BOOTSTRAP).unwrap().is_none());
}

#[test]
fn bootstrap_works_once_and_tokens_come_and_go() {
    let (_dir, db, mut m) = at_version(ACL_FROM);
    let create = |s| Command::TokenCreated {
        token: s,
        now_ms: 20,
    };
    assert_eq!(
        code(&apply(&mut m, &db, 2, create(spec('b', "early", Role::Reader))).unwrap()),
        Some(Reject::FailedPrecondition),
        "no token before the bootstrap"
    );
    assert_eq!(
        apply(&mut m, &db, 3, bootstrap(spec('a', "first", Role::Admin))).unwrap(),
        CommandResult::Accepted
    );
    let again = apply(&mut m, &db, 4, bootstrap(spec('c', "second", Role::Admin))).unwrap();
    assert_eq!(code(&again), Some(Reject::AlreadyExists), "{again:?}");

    assert_eq!(
        apply(&mut m, &db, 5, create(spec('b', "reader", Role::Reader))).unwrap(),
        CommandResult::Accepted
    );
    let same_name = apply(&mut m, &db, 6, create(spec('d', "reader", Role::Reader))).unwrap();
    assert_eq!(code(&same_name), Some(Reject::AlreadyExists));
    let mut scoped_reader = spec('e', "scoped", Role::Reader);
    scoped_reader.scopes = vec!["x*".into()];
    assert_eq!(
        code(&apply(&mut m, &db, 7, create(scoped_reader)).unwrap()),
        Some(Reject::InvalidArgument)
    );

    let last_admin = Command::TokenRevoked {
        accessor: "a".repeat(32),
        now_ms: 30,
    };
    assert_eq!(
        code(&apply(&mut m, &db, 8, last_admin).unwrap()),
        Some(Reject::FailedPrecondition)
    );
    let rotate = Command::TokenRotated {
        accessor: "b".repeat(32),
        secret_hash: vec![9; 32],
        now_ms: 40,
    };
    assert_eq!(
        apply(&mut m, &db, 9, rotate).unwrap(),
        CommandResult::Accepted
    );
    assert!(
        m.acl.by_secret_hash(&[b'b'; 32]).is_none(),
        "the old secret is gone"
    );
    assert_eq!(m.acl.by_secret_hash(&[9; 32]).unwrap().rotated_ms, Some(40));

    let revoke = Command::TokenRevoked {
        accessor: "b".repeat(32),
        now_ms: 50,
    };
    assert_eq!(
        apply(&mut m, &db, 10, revoke.clone()).unwrap(),
        CommandResult::Accepted
    );
    assert_eq!(
        code(&apply(&mut m, &db, 11, revoke).unwrap()),
        Some(Reject::NotFound)
    );

    // What apply left in memory is what the tables hold.
    let reloaded = AclTable::load(&db).unwrap();
    assert_eq!(reloaded.len(), 1);
    assert_eq!(reloaded.bootstrap(), m.acl.bootstrap());
    assert!(reloaded.by_secret_hash(&[b'a'; 32]).is_some());
}

#[test]
fn tokens_are_part_of_the_digest() {
    let (_dir, db, mut m) = at_version(ACL_FROM);
    let digest = crate::test_util::digest;
    let before = digest(&db);
    apply(&mut m, &db, 2, bootstrap(spec('a', "first", Role::Admin))).unwrap();
    assert_ne!(digest(&db), before);
}
