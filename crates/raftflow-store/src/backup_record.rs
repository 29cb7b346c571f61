//! The last scheduled backup, in the replicated state: its age is a metric
//! every node shows, and it survives leader changes, so a new leader goes
//! on from the schedule instead of taking one at once (apply version 11,
//! `BACKUPS_FROM`; before it the command is refused).

use rocksdb::WriteBatch;
use serde::{Deserialize, Serialize};

use crate::codec::{decode, encode};
use crate::command::{CommandResult, Reject};
use crate::db::{Db, CF_SM};
use crate::error::StoreError;

/// The apply version from which `BackupRecorded` is applied.
pub const BACKUPS_FROM: u32 = 11;
/// The longest destination name kept (bytes).
pub const MAX_DESTINATION_BYTES: usize = 512;
const KEY_LAST_BACKUP: &[u8] = b"\0backup/last";

/// What a scheduled backup was: where, of which index, when, how large.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupRecord {
    /// The node that took it (the leader then).
    pub node: u64,
    pub index: u64,
    pub term: u64,
    /// The backup's own time (the leader's clock when it was taken).
    pub taken_ms: u64,
    /// The file's size.
    pub bytes: u64,
    /// Hex SHA-256 of the content, as in the file's header.
    pub content_sha256: String,
    /// The file's name in the destination folder, or the command's.
    pub destination: String,
}

/// Applies `BackupRecorded`: the record replaces the last one, unless it
/// is older (a late retry of an earlier backup's record).
pub(crate) fn apply(
    db: &Db,
    batch: &mut WriteBatch,
    apply_version: u32,
    record: &BackupRecord,
) -> Result<CommandResult, StoreError> {
    if apply_version < BACKUPS_FROM {
        return Ok(CommandResult::Rejected {
            code: Reject::FailedPrecondition,
            message: format!(
                "backup records need apply version {BACKUPS_FROM} (the cluster is at {apply_version})"
            ),
        });
    }
    if record.destination.len() > MAX_DESTINATION_BYTES || record.content_sha256.len() > 64 {
        return Ok(CommandResult::Rejected {
            code: Reject::InvalidArgument,
            message: format!(
                "a backup record's destination is at most {MAX_DESTINATION_BYTES} bytes and its checksum 64 hex digits"
            ),
        });
    }
    if read_last(db)?.is_some_and(|last| last.taken_ms > record.taken_ms) {
        return Ok(CommandResult::Accepted);
    }
    batch.put_cf(db.cf(CF_SM), KEY_LAST_BACKUP, encode(record)?);
    Ok(CommandResult::Accepted)
}

/// The last backup recorded, if any.
pub fn read_last(db: &Db) -> Result<Option<BackupRecord>, StoreError> {
    db.get(CF_SM, KEY_LAST_BACKUP)?
        .map(|bytes| decode(&bytes))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Command;
    use crate::machine::Machine;
    use crate::test_util::apply as apply_one;
    use crate::version::Supported;

    fn record(taken_ms: u64) -> BackupRecord {
        BackupRecord {
            node: 1,
            index: taken_ms / 10,
            term: 2,
            taken_ms,
            bytes: 4096,
            content_sha256: "ab".repeat(32),
            destination: format!("raftflow-{taken_ms}.backup"),
        }
    }

    fn recorded(taken_ms: u64) -> Command {
        Command::BackupRecorded {
            record: record(taken_ms),
            now_ms: taken_ms,
        }
    }

    #[test]
    fn the_newest_record_stays_and_older_versions_refuse_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let mut m = Machine::load(&db, Supported::BINARY).unwrap();
        apply_one(
            &mut m,
            &db,
            1,
            Command::SetApplyVersion {
                version: BACKUPS_FROM - 1,
            },
        )
        .unwrap();
        let refused = apply_one(&mut m, &db, 2, recorded(1_000)).unwrap();
        assert!(matches!(
            refused,
            CommandResult::Rejected {
                code: Reject::FailedPrecondition,
                ..
            }
        ));
        assert_eq!(read_last(&db).unwrap(), None);
        apply_one(
            &mut m,
            &db,
            3,
            Command::SetApplyVersion {
                version: BACKUPS_FROM,
            },
        )
        .unwrap();
        apply_one(&mut m, &db, 4, recorded(2_000)).unwrap();
        apply_one(&mut m, &db, 5, recorded(1_500)).unwrap();
        assert_eq!(
            read_last(&db).unwrap(),
            Some(record(2_000)),
            "an older record does not replace a newer one"
        );
        let mut long = record(3_000);
        long.destination = "x".repeat(MAX_DESTINATION_BYTES + 1);
        let refused = apply_one(
            &mut m,
            &db,
            6,
            Command::BackupRecorded {
                record: long,
                now_ms: 3_000,
            },
        )
        .unwrap();
        assert!(matches!(
            refused,
            CommandResult::Rejected {
                code: Reject::InvalidArgument,
                ..
            }
        ));
        assert_eq!(read_last(&db).unwrap(), Some(record(2_000)));
    }
}
