//! Secrets, accessor ids and their hashes. Secrets come from the operating
//! system's generator on the node that takes the request; only their
//! SHA-256 enters the log.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// Every secret raftflow makes starts so, which lets secret scanners find
/// a leaked one.
pub const SECRET_PREFIX: &str = "rfs_";
/// A presented secret longer than this is refused before it is hashed.
pub const MAX_SECRET_BYTES: usize = 256;

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new bearer secret: 256 random bits.
pub fn new_secret() -> String {
    format!("{SECRET_PREFIX}{}", random_hex(32))
}

/// A new accessor id: 128 random bits.
pub fn new_accessor() -> String {
    random_hex(16)
}

/// A new key for signing console sessions.
pub fn new_session_key() -> Vec<u8> {
    let mut key = vec![0u8; raftflow_store::acl::SESSION_KEY_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut key);
    key
}

pub fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Reads a token file: the secret on its first line.
pub fn read_file(path: &std::path::Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let secret = text.lines().next().unwrap_or("").trim().to_string();
    if secret.is_empty() {
        return Err(format!("{} holds no token", path.display()));
    }
    if secret.len() > MAX_SECRET_BYTES {
        return Err(format!(
            "{} holds more than {MAX_SECRET_BYTES} bytes on its first line: not a token",
            path.display()
        ));
    }
    Ok(secret)
}

/// Writes a token file readable by its owner only.
pub fn write_file(path: &std::path::Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    writeln!(file, "{secret}")?;
    file.sync_all()
}
