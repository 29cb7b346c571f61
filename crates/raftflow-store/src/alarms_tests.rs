//! `SetAlarm` under apply: gated by the apply version, bounded, and what it
//! leaves in the tables (and so in the digest).

use super::*;
use crate::command::Command;
use crate::test_util::apply;

use crate::test_util::machine_at as at_version;

fn set(node: u64, raised: bool, detail: &str, now_ms: u64) -> Command {
    Command::SetAlarm {
        node,
        kind: AlarmKind::NoSpace,
        raised,
        detail: detail.into(),
        now_ms,
    }
}

fn rejected_code(result: &CommandResult) -> Option<Reject> {
    match result {
        CommandResult::Rejected { code, .. } => Some(*code),
        _ => None,
    }
}

#[test]
fn before_version_10_an_alarm_changes_nothing() {
    let (_dir, db, mut m) = at_version(ALARMS_FROM - 1);
    let result = apply(&mut m, &db, 2, set(2, true, "low", 5)).unwrap();
    assert_eq!(rejected_code(&result), Some(Reject::FailedPrecondition));
    assert!(read_all(&db).unwrap().is_empty());
}

#[test]
fn an_alarm_keeps_its_first_time_until_cleared() {
    let (_dir, db, mut m) = at_version(ALARMS_FROM);
    let first = apply(&mut m, &db, 2, set(3, true, "free 10 MB", 100)).unwrap();
    assert_eq!(first, CommandResult::Accepted);
    apply(&mut m, &db, 3, set(1, true, "free 9 MB", 150)).unwrap();
    apply(&mut m, &db, 4, set(3, true, "free 8 MB", 200)).unwrap();
    let alarms = read_all(&db).unwrap();
    let seen: Vec<(u64, &str, u64)> = alarms
        .iter()
        .map(|a| (a.node, a.detail.as_str(), a.since_ms))
        .collect();
    assert_eq!(seen, vec![(1, "free 9 MB", 150), (3, "free 8 MB", 100)]);
    apply(&mut m, &db, 5, set(3, false, "", 300)).unwrap();
    // Clearing one that is not raised is accepted and changes nothing.
    apply(&mut m, &db, 6, set(7, false, "", 300)).unwrap();
    let left: Vec<u64> = read_all(&db).unwrap().iter().map(|a| a.node).collect();
    assert_eq!(left, vec![1]);
}

#[test]
fn an_overlong_detail_is_refused_and_the_digest_covers_alarms() {
    let (_dir, db, mut m) = at_version(ALARMS_FROM);
    let long = "x".repeat(MAX_ALARM_DETAIL_BYTES + 1);
    let result = apply(&mut m, &db, 2, set(1, true, &long, 5)).unwrap();
    assert_eq!(rejected_code(&result), Some(Reject::InvalidArgument));
    assert!(read_all(&db).unwrap().is_empty());
    let digest = crate::test_util::digest;
    let before = digest(&db);
    apply(&mut m, &db, 3, set(1, true, "low", 5)).unwrap();
    let after = digest(&db);
    assert_ne!(before, after, "a raised alarm is replicated state");
}
