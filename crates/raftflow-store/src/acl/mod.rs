//! The replicated access-control tables: API tokens and the bootstrap record.
//!
//! ```text
//!  cf sm  "\0acl_bootstrap"  Bootstrap   when, by which token, the console's session key
//!         "a/<accessor>"     TokenRecord a token's hash, name, role, scopes, expiry
//! ```
//! A token's secret never enters the log: the node that takes the request
//! draws it, hashes it (SHA-256 of 256 random bits needs no slow hash) and
//! proposes only the hash. Every node checks a caller against the table it
//! applied, so a revocation holds everywhere as soon as it is applied there.
//! From apply version 7 (`ACL_FROM`); before it the commands are refused.

pub(crate) mod apply;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::codec::decode;
use crate::db::{Db, CF_SM};
use crate::error::StoreError;

/// The first apply version with tokens.
pub const ACL_FROM: u32 = 7;
/// Live tokens at most: every node keeps them all in memory.
pub const MAX_TOKENS: usize = 10_000;
pub const MAX_NAME_CHARS: usize = 128;
pub const MAX_SCOPES: usize = 32;
pub const MAX_SCOPE_CHARS: usize = 256;
/// An accessor id: 16 random bytes in lowercase hex.
pub const ACCESSOR_CHARS: usize = 32;
pub const SECRET_HASH_BYTES: usize = 32;
pub const SESSION_KEY_BYTES: usize = 32;

pub const KEY_BOOTSTRAP: &[u8] = b"\0acl_bootstrap";
const TOKEN_PREFIX: &str = "a/";

pub fn token_key(accessor: &str) -> Vec<u8> {
    format!("{TOKEN_PREFIX}{accessor}").into_bytes()
}

/// What a token may do: a fixed set of permissions each (raftflow-server's
/// `auth` module holds the table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    Admin,
    Operator,
    Worker,
    Reader,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Operator, Role::Worker, Role::Reader];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Worker => "worker",
            Role::Reader => "reader",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// Whether tokens of this role carry scopes (state-machine patterns for
    /// operators, activity patterns for workers).
    pub fn takes_scopes(self) -> bool {
        matches!(self, Role::Operator | Role::Worker)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token as a command carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSpec {
    pub accessor: String,
    pub secret_hash: Vec<u8>,
    pub name: String,
    pub role: Role,
    pub scopes: Vec<String>,
    pub expires_at_ms: Option<u64>,
}

/// A token as the table keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub spec: TokenSpec,
    pub created_ms: u64,
    /// When its secret was last replaced (`TokenRotated`).
    pub rotated_ms: Option<u64>,
}

impl TokenRecord {
    /// Whether the token is past its expiry at `now_ms`.
    pub fn expired_at(&self, now_ms: u64) -> bool {
        self.spec.expires_at_ms.is_some_and(|at| now_ms >= at)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bootstrap {
    pub at_ms: u64,
    /// The first admin token's accessor.
    pub accessor: String,
    /// Signs console sessions on every node (made with the bootstrap).
    pub session_key: Vec<u8>,
}

impl Bootstrap {
    /// The key task tokens are sealed with (apply version 8), derived from
    /// the session key: apply seals with it, the door checks with it.
    pub fn task_key(&self) -> raftflow_core::task_token::TaskKey {
        raftflow_core::task_token::TaskKey::derive(&self.session_key)
    }
}

/// Every live token, indexed by accessor and by secret hash.
#[derive(Debug, Clone, Default)]
pub struct AclTable {
    bootstrap: Option<Bootstrap>,
    by_accessor: BTreeMap<String, TokenRecord>,
    by_hash: HashMap<Vec<u8>, String>,
}

impl AclTable {
    pub fn load(db: &Db) -> Result<Self, StoreError> {
        let mut table = AclTable {
            bootstrap: db
                .get(CF_SM, KEY_BOOTSTRAP)?
                .map(|b| decode(&b))
                .transpose()?,
            ..Default::default()
        };
        for (_, value) in crate::workflow::scan(db, TOKEN_PREFIX.as_bytes())? {
            let record: TokenRecord = decode(&value)?;
            table.insert(record);
        }
        Ok(table)
    }

    pub fn bootstrap(&self) -> Option<&Bootstrap> {
        self.bootstrap.as_ref()
    }

    pub fn by_secret_hash(&self, hash: &[u8]) -> Option<&TokenRecord> {
        self.by_hash.get(hash).and_then(|a| self.by_accessor.get(a))
    }

    pub fn get(&self, accessor: &str) -> Option<&TokenRecord> {
        self.by_accessor.get(accessor)
    }

    /// A token by its accessor or, failing that, its name.
    pub fn find(&self, accessor_or_name: &str) -> Option<&TokenRecord> {
        self.get(accessor_or_name).or_else(|| {
            self.by_accessor
                .values()
                .find(|r| r.spec.name == accessor_or_name)
        })
    }

    pub fn tokens(&self) -> impl Iterator<Item = &TokenRecord> {
        self.by_accessor.values()
    }

    pub fn len(&self) -> usize {
        self.by_accessor.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_accessor.is_empty()
    }

    fn insert(&mut self, record: TokenRecord) {
        self.by_hash.insert(
            record.spec.secret_hash.clone(),
            record.spec.accessor.clone(),
        );
        self.by_accessor
            .insert(record.spec.accessor.clone(), record);
    }

    fn remove(&mut self, accessor: &str) -> Option<TokenRecord> {
        let record = self.by_accessor.remove(accessor)?;
        self.by_hash.remove(&record.spec.secret_hash);
        Some(record)
    }
}

/// The applied table as the door reads it: swapped whole after each apply
/// that changed it, so a check never waits for an apply in progress.
pub type SharedAcl = Arc<AclTable>;

/// Why a token spec is refused; the same checks run at the door and in apply.
pub fn validate(spec: &TokenSpec) -> Result<(), String> {
    let hex = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
    if spec.accessor.len() != ACCESSOR_CHARS || !spec.accessor.chars().all(hex) {
        return Err(format!(
            "an accessor id is {ACCESSOR_CHARS} lowercase hex digits"
        ));
    }
    if spec.secret_hash.len() != SECRET_HASH_BYTES {
        return Err(format!("a secret hash is {SECRET_HASH_BYTES} bytes"));
    }
    validate_name(&spec.name)?;
    if !spec.role.takes_scopes() && !spec.scopes.is_empty() {
        return Err(format!(
            "a {} token takes no scopes (scopes narrow operator and worker tokens)",
            spec.role
        ));
    }
    if spec.scopes.len() > MAX_SCOPES {
        return Err(format!("at most {MAX_SCOPES} scopes per token"));
    }
    for scope in &spec.scopes {
        validate_scope(scope)?;
    }
    Ok(())
}

pub fn validate_name(name: &str) -> Result<(), String> {
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(format!("a token name is 1 to {MAX_NAME_CHARS} characters"));
    }
    if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("a token name has no spaces or control characters".into());
    }
    Ok(())
}

/// A scope is a pattern: `*` matches any run of characters, so `payments.*`
/// names every activity under `payments.` and `orders-*` every state
/// machine whose name starts with `orders-`.
pub fn validate_scope(scope: &str) -> Result<(), String> {
    let chars = scope.chars().count();
    if chars == 0 || chars > MAX_SCOPE_CHARS {
        return Err(format!("a scope is 1 to {MAX_SCOPE_CHARS} characters"));
    }
    if scope.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!("scope `{scope}` has spaces or control characters"));
    }
    Ok(())
}
