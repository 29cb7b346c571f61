//! Task tokens that cannot be guessed (apply version 8).
//!
//! An attempt is named `<execution>#<n>`: anyone who knows an execution's
//! name can write that. From version 8 the token an attempt is opened with
//! carries a secret as well, `<execution>#<n>~<32 hex>`, and the whole
//! token is the attempt's key, so a report must show the token exactly as
//! it was handed out (a worker's poll reply, or `$$.Task.Token`).
//!
//! The secret is `HMAC-SHA256(key, "<execution>#<n>")`, cut to 128 bits.
//! Why not draw it from the command's seed: the seed also drives
//! `States.UUID()` and retry jitter, which the workflow can see, so one
//! UUID would reveal every secret of that step. The key is derived from
//! the cluster's ACL session key (acl bootstrap, replicated and never
//! shown), so every replica computes the same token and no new state or
//! command is needed; a cluster without a bootstrap (insecure) has no key
//! and its tokens carry no secret.
//!
//! The door (worker_service) checks a token's secret in constant time
//! before it looks the attempt up, so lookup timing says nothing about it.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The first apply version whose attempts carry a secret.
pub const TASK_SECRETS_FROM: u32 = 8;
/// Hex characters of a token's secret (128 bits).
pub const SECRET_HEX_CHARS: usize = 32;
/// What separates an attempt's name from its secret.
pub const SECRET_SEPARATOR: char = '~';
const KEY_LABEL: &[u8] = b"raftflow task tokens v1";

/// The key task secrets are computed with. Its Debug shows nothing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TaskKey([u8; 32]);

impl std::fmt::Debug for TaskKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TaskKey(…)")
    }
}

impl TaskKey {
    /// The task key of a cluster whose ACL session key is `cluster_secret`
    /// (a separate key by its label: a session cookie is never a secret).
    pub fn derive(cluster_secret: &[u8]) -> Self {
        let mut mac = mac(cluster_secret);
        mac.update(KEY_LABEL);
        Self(mac.finalize().into_bytes().into())
    }

    /// `attempt` with its secret: the token to hand out.
    pub fn seal(&self, attempt: &str) -> String {
        let tag = self.tag(attempt);
        let mut token = String::with_capacity(attempt.len() + 1 + SECRET_HEX_CHARS);
        token.push_str(attempt);
        token.push(SECRET_SEPARATOR);
        for byte in &tag[..SECRET_HEX_CHARS / 2] {
            token.push_str(&format!("{byte:02x}"));
        }
        token
    }

    /// Whether `secret` (hex) is `attempt`'s, compared in constant time.
    pub fn verify(&self, attempt: &str, secret: &str) -> bool {
        let Some(bytes) = unhex(secret) else {
            return false;
        };
        let mut mac = mac(&self.0);
        mac.update(attempt.as_bytes());
        mac.verify_truncated_left(&bytes).is_ok()
    }

    fn tag(&self, attempt: &str) -> [u8; 32] {
        let mut mac = mac(&self.0);
        mac.update(attempt.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length")
}

/// Splits a token (without its `@<epoch>`) into the attempt and its
/// secret, if it carries one. Execution names may hold `~`: only a
/// separator after the last `#` counts.
pub fn split(token: &str) -> (&str, Option<&str>) {
    let Some(hash) = token.rfind('#') else {
        return (token, None);
    };
    match token[hash..].find(SECRET_SEPARATOR) {
        Some(at) => (&token[..hash + at], Some(&token[hash + at + 1..])),
        None => (token, None),
    }
}

/// The token as logs may show it: the attempt, without its secret.
pub fn redact(token: &str) -> &str {
    split(token).0
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() != SECRET_HEX_CHARS || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_token_verifies_and_nothing_else_does() {
        let key = TaskKey::derive(&[7; 32]);
        let token = key.seal("orders:o-1#3");
        let (attempt, secret) = split(&token);
        assert_eq!(attempt, "orders:o-1#3");
        let secret = secret.expect("a secret");
        assert_eq!(secret.len(), SECRET_HEX_CHARS);
        assert!(key.verify(attempt, secret));
        assert!(!key.verify("orders:o-1#4", secret), "another attempt");
        assert!(
            !TaskKey::derive(&[8; 32]).verify(attempt, secret),
            "another key"
        );
        let mut flipped = secret.to_string();
        flipped.replace_range(0..1, if secret.starts_with('0') { "1" } else { "0" });
        assert!(!key.verify(attempt, &flipped), "one digit changed");
        assert!(!key.verify(attempt, &secret[..30]), "shortened");
        assert!(!key.verify(attempt, ""), "empty");
        assert!(!key.verify(attempt, "é".repeat(16).as_str()), "not hex");
    }

    #[test]
    fn only_a_separator_after_the_last_hash_splits() {
        assert_eq!(split("a~b:c#2"), ("a~b:c#2", None));
        assert_eq!(split("a~b:c#2~ff"), ("a~b:c#2", Some("ff")));
        assert_eq!(split("no-hash~x"), ("no-hash~x", None));
        assert_eq!(redact("e#1~00ff"), "e#1");
        assert_eq!(format!("{:?}", TaskKey::derive(b"k")), "TaskKey(…)");
    }
}
