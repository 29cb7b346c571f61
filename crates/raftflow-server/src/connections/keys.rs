//! The cluster's connection keys, from `[connections]` in each node's
//! config: the current key seals, it and the previous ones open. Every node
//! must hold the same current key (a connection saved through one node is
//! opened by whichever leads); rotation is in docs/connections.md.

use std::path::{Path, PathBuf};

use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// `[connections]` in a node's config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionsConfig {
    /// A file holding the cluster key (64 hex digits, made by `raftflow
    /// connection keygen`): it seals new secrets and opens the ones it sealed.
    pub key_file: Option<PathBuf>,
    /// Files of earlier keys, still opened (during a rotation).
    pub previous_key_files: Vec<PathBuf>,
}

impl ConnectionsConfig {
    /// Makes relative paths relative to the config file's folder.
    pub fn resolve(&mut self, base: &Path) {
        let files = self.key_file.iter_mut().chain(&mut self.previous_key_files);
        for path in files {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
    }

    /// Reads the keys the files name; an error names the file.
    pub fn load(&self) -> Result<Keys, String> {
        let current = self.key_file.as_deref().map(read_key).transpose()?;
        let mut all: Vec<Key> = current.iter().cloned().collect();
        for path in &self.previous_key_files {
            all.push(read_key(path)?);
        }
        Ok(Keys { current, all })
    }
}

/// One 256-bit key and its id.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    id: String,
    bytes: [u8; 32],
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({})", self.id)
    }
}

impl Key {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let digest = Sha256::new()
            .chain_update(b"raftflow connection key id\0")
            .chain_update(bytes)
            .finalize();
        let id = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Self { id, bytes }
    }

    /// Its id: 16 hex digits, the same on every node that holds it.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// The keys a node holds.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    pub current: Option<Key>,
    /// The current key first, then the previous ones.
    pub all: Vec<Key>,
}

/// A new random key as a key file holds it.
pub fn new_key_text() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a key file: 64 hex digits on its first line.
pub fn read_key(path: &Path) -> Result<Key, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the connection key {}: {e}", path.display()))?;
    parse_key(text.lines().next().unwrap_or("").trim())
        .map_err(|e| format!("the connection key {}: {e}", path.display()))
}

fn parse_key(text: &str) -> Result<Key, String> {
    if text.len() != 64 || !text.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(
            "a key is 64 hex digits on the first line (raftflow connection keygen makes one)"
                .into(),
        );
    }
    let mut bytes = [0u8; 32];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[i * 2..i * 2 + 2], 16).expect("checked hex");
    }
    Ok(Key::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_and_ids_are_stable() {
        let text = new_key_text();
        let a = parse_key(&text).unwrap();
        assert_eq!(a, parse_key(&text.to_uppercase()).unwrap());
        assert_eq!(a.id().len(), 16);
        assert_ne!(a.id(), parse_key(&new_key_text()).unwrap().id());
        assert!(parse_key("abc").unwrap_err().contains("64 hex digits"));
        assert!(parse_key(&"g".repeat(64)).is_err());
    }
}
