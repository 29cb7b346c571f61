//! How the token commands change the table. Every refusal is a result
//! (`Rejected`), never an error: apply is total.

use rocksdb::WriteBatch;

use super::*;
use crate::codec::encode;
use crate::command::{CommandResult, Reject};

fn reject(code: Reject, message: impl Into<String>) -> CommandResult {
    CommandResult::Rejected {
        code,
        message: message.into(),
    }
}

/// Refuses token commands under an apply version without tokens.
pub(crate) fn gate(apply_version: u32) -> Option<CommandResult> {
    (apply_version < ACL_FROM).then(|| {
        reject(
            Reject::FailedPrecondition,
            format!(
                "tokens need apply version {ACL_FROM} (the cluster is at {apply_version}): raise it with `raftflow cluster upgrade-version`"
            ),
        )
    })
}

impl AclTable {
    pub(crate) fn apply_bootstrap(
        &mut self,
        db: &Db,
        batch: &mut WriteBatch,
        token: &TokenSpec,
        session_key: &[u8],
        now_ms: u64,
    ) -> Result<CommandResult, StoreError> {
        if let Some(done) = &self.bootstrap {
            return Ok(reject(
                Reject::AlreadyExists,
                format!(
                    "the ACL system was already bootstrapped (at {} ms, first admin token {}); a lost admin token is reset from a node's data directory (docs/security.md)",
                    done.at_ms, done.accessor
                ),
            ));
        }
        if token.role != Role::Admin {
            return Ok(reject(
                Reject::InvalidArgument,
                "the bootstrap token is an admin token",
            ));
        }
        if session_key.len() != SESSION_KEY_BYTES {
            return Ok(reject(
                Reject::InvalidArgument,
                format!("a session key is {SESSION_KEY_BYTES} bytes"),
            ));
        }
        if let Some(refused) = self.check_new(token) {
            return Ok(refused);
        }
        let bootstrap = Bootstrap {
            at_ms: now_ms,
            accessor: token.accessor.clone(),
            session_key: session_key.to_vec(),
        };
        batch.put_cf(db.cf(CF_SM), KEY_BOOTSTRAP, encode(&bootstrap)?);
        self.bootstrap = Some(bootstrap);
        self.put(db, batch, new_record(token, now_ms))?;
        Ok(CommandResult::Accepted)
    }

    pub(crate) fn apply_create(
        &mut self,
        db: &Db,
        batch: &mut WriteBatch,
        token: &TokenSpec,
        now_ms: u64,
    ) -> Result<CommandResult, StoreError> {
        if self.bootstrap.is_none() {
            return Ok(reject(
                Reject::FailedPrecondition,
                "the ACL system is not bootstrapped: run `raftflow acl bootstrap` first",
            ));
        }
        if let Some(refused) = self.check_new(token) {
            return Ok(refused);
        }
        self.put(db, batch, new_record(token, now_ms))?;
        Ok(CommandResult::Accepted)
    }

    pub(crate) fn apply_revoke(
        &mut self,
        db: &Db,
        batch: &mut WriteBatch,
        accessor: &str,
    ) -> Result<CommandResult, StoreError> {
        let Some(record) = self.get(accessor) else {
            return Ok(reject(
                Reject::NotFound,
                format!("no token has accessor {accessor}"),
            ));
        };
        let admins = self.tokens().filter(|r| r.spec.role == Role::Admin).count();
        if record.spec.role == Role::Admin && admins == 1 {
            return Ok(reject(
                Reject::FailedPrecondition,
                format!(
                    "token {accessor} is the last admin token: create another admin token before revoking it"
                ),
            ));
        }
        self.remove(accessor);
        batch.delete_cf(db.cf(CF_SM), token_key(accessor));
        Ok(CommandResult::Accepted)
    }

    pub(crate) fn apply_rotate(
        &mut self,
        db: &Db,
        batch: &mut WriteBatch,
        accessor: &str,
        secret_hash: &[u8],
        now_ms: u64,
    ) -> Result<CommandResult, StoreError> {
        let Some(record) = self.get(accessor) else {
            return Ok(reject(
                Reject::NotFound,
                format!("no token has accessor {accessor}"),
            ));
        };
        if secret_hash.len() != SECRET_HASH_BYTES {
            return Ok(reject(
                Reject::InvalidArgument,
                format!("a secret hash is {SECRET_HASH_BYTES} bytes"),
            ));
        }
        if self.by_secret_hash(secret_hash).is_some() {
            return Ok(reject(
                Reject::AlreadyExists,
                "that secret is already in use",
            ));
        }
        let mut record = record.clone();
        self.remove(accessor);
        record.spec.secret_hash = secret_hash.to_vec();
        record.rotated_ms = Some(now_ms);
        self.put(db, batch, record)?;
        Ok(CommandResult::Accepted)
    }

    /// Why a new token cannot join the table, if it cannot.
    fn check_new(&self, token: &TokenSpec) -> Option<CommandResult> {
        if let Err(why) = validate(token) {
            return Some(reject(Reject::InvalidArgument, why));
        }
        if self.len() >= MAX_TOKENS {
            return Some(reject(
                Reject::FailedPrecondition,
                format!(
                    "the cluster holds {MAX_TOKENS} tokens, the most it keeps: revoke some first"
                ),
            ));
        }
        if self.get(&token.accessor).is_some() {
            return Some(reject(
                Reject::AlreadyExists,
                format!("a token has accessor {}", token.accessor),
            ));
        }
        if self.tokens().any(|r| r.spec.name == token.name) {
            return Some(reject(
                Reject::AlreadyExists,
                format!("a token is named `{}`", token.name),
            ));
        }
        if self.by_secret_hash(&token.secret_hash).is_some() {
            return Some(reject(
                Reject::AlreadyExists,
                "that secret is already in use",
            ));
        }
        None
    }

    fn put(
        &mut self,
        db: &Db,
        batch: &mut WriteBatch,
        record: TokenRecord,
    ) -> Result<(), StoreError> {
        batch.put_cf(
            db.cf(CF_SM),
            token_key(&record.spec.accessor),
            encode(&record)?,
        );
        self.insert(record);
        Ok(())
    }
}

fn new_record(token: &TokenSpec, now_ms: u64) -> TokenRecord {
    TokenRecord {
        spec: token.clone(),
        created_ms: now_ms,
        rotated_ms: None,
    }
}
