//! The cluster id: 128 random bits the first leader under apply version 12
//! chooses (`Command::SetClusterId`, the first one wins), carried in every
//! backup's header. A cluster restored from a backup gets a new one,
//! derived from the backup and the new membership, so that the nodes
//! restored one by one agree on it without talking.

use rocksdb::WriteBatch;
use sha2::{Digest, Sha256};

use crate::codec::{decode, encode};
use crate::command::{CommandResult, Reject};
use crate::db::{Db, CF_SM};
use crate::error::StoreError;

/// The apply version from which `SetClusterId` is applied.
pub const CLUSTER_ID_FROM: u32 = 12;
/// A cluster id: 32 lowercase hex digits.
pub const CLUSTER_ID_CHARS: usize = 32;
pub(crate) const KEY_CLUSTER_ID: &[u8] = b"\0cluster_id";

/// A new id from 16 random bytes (chosen by the proposing leader).
pub fn from_random(bytes: [u8; 16]) -> String {
    crate::backup::hex(&bytes)
}

/// Whether `id` is 32 lowercase hex digits.
pub fn is_valid(id: &str) -> bool {
    id.len() == CLUSTER_ID_CHARS && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The id of a cluster restored from the backup whose content hashes to
/// `content_sha256`, for `members` (sorted ids and addresses).
pub(crate) fn for_restore(content_sha256: &str, members: &[(u64, String, String)]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"raftflow restored cluster\0");
    hasher.update(content_sha256.as_bytes());
    for (id, raft, api) in members {
        hasher.update(id.to_be_bytes());
        hasher.update(raft.as_bytes());
        hasher.update([0]);
        hasher.update(api.as_bytes());
        hasher.update([0]);
    }
    crate::backup::hex(&hasher.finalize()[..16])
}

pub(crate) fn apply(
    db: &Db,
    batch: &mut WriteBatch,
    apply_version: u32,
    id: &str,
) -> Result<CommandResult, StoreError> {
    if apply_version < CLUSTER_ID_FROM {
        return Ok(CommandResult::Rejected {
            code: Reject::FailedPrecondition,
            message: format!(
                "a cluster id needs apply version {CLUSTER_ID_FROM} (the cluster is at {apply_version})"
            ),
        });
    }
    if !is_valid(id) {
        return Ok(CommandResult::Rejected {
            code: Reject::InvalidArgument,
            message: format!("a cluster id is {CLUSTER_ID_CHARS} lowercase hex digits"),
        });
    }
    if read(db)?.is_none() {
        batch.put_cf(db.cf(CF_SM), KEY_CLUSTER_ID, encode(&id.to_string())?);
    }
    Ok(CommandResult::Accepted)
}

/// The cluster's id, once set.
pub fn read(db: &Db) -> Result<Option<String>, StoreError> {
    db.get(CF_SM, KEY_CLUSTER_ID)?
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

    #[test]
    fn the_first_id_wins_and_only_from_version_12() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let mut m = Machine::load(&db, Supported::BINARY).unwrap();
        let set = |id: &str| Command::SetClusterId { id: id.into() };
        let a = from_random([0xab; 16]);
        apply_one(
            &mut m,
            &db,
            1,
            Command::SetApplyVersion {
                version: CLUSTER_ID_FROM - 1,
            },
        )
        .unwrap();
        let refused = apply_one(&mut m, &db, 2, set(&a)).unwrap();
        assert!(matches!(
            refused,
            CommandResult::Rejected {
                code: Reject::FailedPrecondition,
                ..
            }
        ));
        apply_one(
            &mut m,
            &db,
            3,
            Command::SetApplyVersion {
                version: CLUSTER_ID_FROM,
            },
        )
        .unwrap();
        let bad = apply_one(&mut m, &db, 4, set("not-hex")).unwrap();
        assert!(matches!(
            bad,
            CommandResult::Rejected {
                code: Reject::InvalidArgument,
                ..
            }
        ));
        apply_one(&mut m, &db, 5, set(&a)).unwrap();
        apply_one(&mut m, &db, 6, set(&from_random([1; 16]))).unwrap();
        assert_eq!(read(&db).unwrap(), Some(a));
    }

    #[test]
    fn a_restored_id_depends_on_the_backup_and_the_members() {
        let members = vec![(1, "a:1".to_string(), "a:2".to_string())];
        let one = for_restore("00ff", &members);
        assert!(is_valid(&one));
        assert_eq!(one, for_restore("00ff", &members));
        assert_ne!(one, for_restore("00fe", &members));
        assert_ne!(one, for_restore("00ff", &[(2, "a:1".into(), "a:2".into())]));
    }
}
