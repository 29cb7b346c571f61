//! Sealing a connection's secret with the cluster key, and opening it.
//!
//! ```text
//!  secret (JSON) ──ChaCha20-Poly1305(key, nonce, aad = name + kind)──▶ Sealed{key_id, nonce, bytes}
//! ```
//! The nonce is an HMAC of the name, kind and secret under the key (a
//! synthetic nonce, as AES-SIV makes one): the same secret saved twice
//! seals to the same bytes, so a repeated create is recognised as the same,
//! and two different secrets get different nonces. The name and kind are
//! bound in as associated data, so sealed bytes copied onto another
//! connection do not open.

use raftflow_store::connections::{Kind, Sealed, KEY_ID_CHARS};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
use serde::{Deserialize, Serialize};

use super::keys::Key;

/// What a connection holds in clear. Never logged, never shown back.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Secret {
    Bearer { token: String },
    Basic { username: String, password: String },
    ApiKey { value: String },
    ClientCert { cert_pem: String, key_pem: String },
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("sealed with key {0}, which this node's [connections] does not hold")]
    UnknownKey(String),
    #[error(
        "the sealed secret does not open with key {0}: altered, or moved from another connection"
    )]
    Altered(String),
}

/// What the seal binds the secret to.
fn aad(name: &str, kind: &Kind) -> Vec<u8> {
    let header = match kind {
        Kind::ApiKey { header } => header.as_str(),
        _ => "",
    };
    format!("raftflow connection\0{name}\0{}\0{header}", kind.as_str()).into_bytes()
}

fn aead_key(key: &Key) -> LessSafeKey {
    let unbound = UnboundKey::new(&CHACHA20_POLY1305, key.bytes())
        .expect("a 32-byte key fits ChaCha20-Poly1305");
    LessSafeKey::new(unbound)
}

/// Seals `secret` for the connection `name` of `kind` under `key`.
pub fn seal(key: &Key, name: &str, kind: &Kind, secret: &Secret) -> Sealed {
    let aad = aad(name, kind);
    let mut bytes = serde_json::to_vec(secret).expect("a secret serialises");
    let mac_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.bytes());
    let mut context = ring::hmac::Context::with_key(&mac_key);
    context.update(b"nonce\0");
    context.update(&aad);
    context.update(&bytes);
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&context.sign().as_ref()[..12]);
    aead_key(key)
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut bytes,
        )
        .expect("a secret within bounds seals");
    Sealed {
        key_id: key.id().to_string(),
        nonce,
        bytes,
    }
}

/// Opens what `seal` made, with whichever of `keys` sealed it.
pub fn open(keys: &[Key], name: &str, kind: &Kind, sealed: &Sealed) -> Result<Secret, SealError> {
    debug_assert!(keys.iter().all(|k| k.id().len() == KEY_ID_CHARS));
    let key = keys
        .iter()
        .find(|k| k.id() == sealed.key_id)
        .ok_or_else(|| SealError::UnknownKey(sealed.key_id.clone()))?;
    let altered = || SealError::Altered(sealed.key_id.clone());
    let mut bytes = sealed.bytes.clone();
    let clear = aead_key(key)
        .open_in_place(
            Nonce::assume_unique_for_key(sealed.nonce),
            Aad::from(aad(name, kind)),
            &mut bytes,
        )
        .map_err(|_| altered())?;
    serde_json::from_slice(clear).map_err(|_| altered())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> Key {
        Key::from_bytes([byte; 32])
    }

    #[test]
    fn round_trip_same_bytes_and_bound_to_the_name() {
        let secret = Secret::Basic {
            username: "ops".into(),
            password: "hunter2".into(),
        };
        let a = seal(&key(1), "pay", &Kind::Basic, &secret);
        assert_eq!(a, seal(&key(1), "pay", &Kind::Basic, &secret));
        assert!(!a.bytes.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(open(&[key(1)], "pay", &Kind::Basic, &a), Ok(secret.clone()));
        let other = Secret::Bearer { token: "t".into() };
        assert_ne!(seal(&key(1), "pay", &Kind::Basic, &other).nonce, a.nonce);
        let moved = open(&[key(1)], "ship", &Kind::Basic, &a);
        assert!(matches!(moved, Err(SealError::Altered(_))));
        let unknown = open(&[key(2)], "pay", &Kind::Basic, &a);
        assert_eq!(unknown, Err(SealError::UnknownKey(key(1).id().to_string())));
        let mut flipped = a.clone();
        flipped.bytes[0] ^= 1;
        assert!(open(&[key(2), key(1)], "pay", &Kind::Basic, &flipped).is_err());
        assert!(open(&[key(2), key(1)], "pay", &Kind::Basic, &a).is_ok());
    }
}
