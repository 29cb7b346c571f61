//! Connections: named credentials an HTTP Task sends (a bearer token, a
//! user and password, an API-key header, or a client certificate),
//! referenced from a definition by `Authentication.ConnectionArn`.
//!
//! ```text
//!  API node: secret ──seal (cluster key, nonce)──▶ PutConnection{sealed bytes} ──▶ log
//!  every replica: stores those bytes as they are      leader's caller: open ──▶ headers / TLS identity
//! ```
//! The secret is sealed on the node that takes the request, with the one
//! cluster-wide key every node's configuration holds, and the nonce rides
//! in the command: every replica stores the same bytes (the state digest
//! agrees) and no replica, snapshot or backup holds the secret in clear.
//! Apply never opens them; it checks only their shape and sizes. Applied
//! from apply version 17 (`CONNECTIONS_FROM`); the apply is in
//! workflow/connections.rs.

use serde::{Deserialize, Serialize};

use crate::codec::decode;
use crate::db::{Db, CF_SM};
use crate::error::StoreError;

/// The apply version from which connections are applied.
pub const CONNECTIONS_FROM: u32 = 17;
/// A connection's name, at most.
pub const MAX_CONNECTION_NAME_CHARS: usize = 64;
/// Connections in the cluster, at most.
pub const MAX_CONNECTIONS: usize = 1_000;
/// The sealed secret, at most (a client certificate chain and its key fit).
pub const MAX_SEALED_BYTES: usize = 32 * 1024;
/// The authentication tag every sealed secret ends with.
pub const TAG_BYTES: usize = 16;
/// A key id: hex of the first 8 bytes of a digest of the key.
pub const KEY_ID_CHARS: usize = 16;
/// An API-key header's name, at most.
pub const MAX_HEADER_NAME_CHARS: usize = 128;

pub(crate) const CONNECTION_PREFIX: &[u8] = b"\0connection/";

/// What kind of credential a connection holds: the part shown back.
/// Variants are only appended: bincode stores their position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// `Authorization: Basic <user:password>`.
    Basic,
    /// `<header>: <value>`.
    ApiKey { header: String },
    /// A client certificate and key presented in the TLS handshake.
    ClientCert,
}

impl Kind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Bearer => "bearer",
            Kind::Basic => "basic",
            Kind::ApiKey { .. } => "api-key",
            Kind::ClientCert => "client-cert",
        }
    }
}

/// A secret sealed with one cluster key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// Which key sealed it (`KEY_ID_CHARS` hex digits).
    pub key_id: String,
    pub nonce: [u8; 12],
    /// The ciphertext and its tag.
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionDef {
    pub name: String,
    pub description: String,
    pub kind: Kind,
    pub sealed: Sealed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub def: ConnectionDef,
    pub revision: u64,
    pub created_ms: u64,
    pub updated_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Stored {
    V1(Connection),
}

pub(crate) fn key(name: &str) -> Vec<u8> {
    let mut key = CONNECTION_PREFIX.to_vec();
    key.extend_from_slice(name.as_bytes());
    key
}

pub(crate) fn decode_stored(bytes: &[u8]) -> Result<Connection, StoreError> {
    match decode::<Stored>(bytes)? {
        Stored::V1(connection) => Ok(connection),
    }
}

/// One connection as applied here.
pub fn read(db: &Db, name: &str) -> Result<Option<Connection>, StoreError> {
    db.get(CF_SM, &key(name))?
        .map(|b| decode_stored(&b))
        .transpose()
}

/// Up to `limit` connections by name, from after `after` (paging).
pub fn list(db: &Db, after: &str, limit: usize) -> Result<Vec<Connection>, StoreError> {
    crate::db::page_by_prefix(db, CONNECTION_PREFIX, after, limit, decode_stored)
}

/// What is wrong with a definition's shape, if anything: apply refuses it
/// (the API checks the same before proposing, with its own words).
pub fn def_problem(def: &ConnectionDef) -> Option<String> {
    let ok_name = !def.name.is_empty()
        && def.name.len() <= MAX_CONNECTION_NAME_CHARS
        && def
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok_name {
        return Some(format!(
            "a connection name has 1 to {MAX_CONNECTION_NAME_CHARS} letters, digits, `-`, `_` or `.`"
        ));
    }
    if def.description.len() > crate::schedules::MAX_TEXT_BYTES {
        return Some("the description is too long".into());
    }
    if let Kind::ApiKey { header } = &def.kind {
        let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if header.is_empty() || header.len() > MAX_HEADER_NAME_CHARS || !header.chars().all(token) {
            return Some(format!(
                "an API-key header name has 1 to {MAX_HEADER_NAME_CHARS} characters of an HTTP token"
            ));
        }
    }
    let s = &def.sealed;
    let hex = s.key_id.len() == KEY_ID_CHARS && s.key_id.chars().all(|c| c.is_ascii_hexdigit());
    if !hex {
        return Some(format!("a key id has {KEY_ID_CHARS} hex digits"));
    }
    if s.bytes.len() <= TAG_BYTES || s.bytes.len() > MAX_SEALED_BYTES {
        return Some(format!(
            "a sealed secret has {} to {MAX_SEALED_BYTES} bytes, not {}",
            TAG_BYTES + 1,
            s.bytes.len()
        ));
    }
    None
}

#[cfg(test)]
#[path = "connections_tests.rs"]
mod tests;
