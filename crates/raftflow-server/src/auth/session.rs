//! Console sessions: a signed cookie any node can check, with no commit per
//! login. The value is `<accessor>.<expires_ms>.<mac>`, the MAC an
//! HMAC-SHA256 under the cluster's session key (made with the bootstrap, in
//! the replicated state). A session lives while its token does: revoking
//! the token ends every session of it on each node that applied it.

use hmac::{Hmac, Mac};
use raftflow_store::workflow::reads::unhex;
use sha2::Sha256;

/// The cookie's name.
pub const COOKIE: &str = "rf_session";
/// The metadata key a console forwards a session in (the leader checks it).
pub const METADATA: &str = "x-raftflow-session";
/// The header the page sends its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a session lasts at most (less when its token expires sooner).
pub const TTL_MS: u64 = 12 * 3600 * 1000;
/// A cookie value longer than this is not a session.
const MAX_VALUE_BYTES: usize = 256;

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8], purpose: &str, text: &str) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(purpose.as_bytes());
    mac.update(b"|");
    mac.update(text.as_bytes());
    mac
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A session value for `accessor` until `expires_ms`.
pub fn issue(key: &[u8], accessor: &str, expires_ms: u64) -> String {
    let body = format!("{accessor}.{expires_ms}");
    let tag = mac(key, "session", &body).finalize().into_bytes();
    format!("{body}.{}", hex(&tag))
}

/// The accessor a session value names, when its MAC is right (compared in
/// constant time) and it has not expired at `now_ms`.
pub fn verify(key: &[u8], value: &str, now_ms: u64) -> Option<String> {
    if value.len() > MAX_VALUE_BYTES {
        return None;
    }
    let (body, tag) = value.rsplit_once('.')?;
    let (accessor, expires_ms) = body.split_once('.')?;
    mac(key, "session", body).verify_slice(&unhex(tag)?).ok()?;
    let expires_ms: u64 = expires_ms.parse().ok()?;
    (now_ms < expires_ms).then(|| accessor.to_string())
}

/// The CSRF token of a session: the page sends it in `x-csrf-token` with
/// every change; a form another site posts cannot know it.
pub fn csrf(key: &[u8], value: &str) -> String {
    hex(&mac(key, "csrf", value).finalize().into_bytes())
}

/// Whether `presented` is the session's CSRF token (constant time).
pub fn check_csrf(key: &[u8], value: &str, presented: &str) -> bool {
    unhex(presented).is_some_and(|tag| mac(key, "csrf", value).verify_slice(&tag).is_ok())
}

/// The session cookie's value among a `Cookie` header's pairs.
pub fn from_cookie_header(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_verifies_until_it_expires_and_not_when_changed() {
        let key = [7u8; 32];
        let value = issue(&key, "ab12", 1_000);
        assert_eq!(verify(&key, &value, 999).as_deref(), Some("ab12"));
        assert_eq!(verify(&key, &value, 1_000), None, "expired");
        assert_eq!(verify(&[8u8; 32], &value, 0), None, "another cluster's key");
        let stretched = value.replace(".1000.", ".9999999.");
        assert_eq!(verify(&key, &stretched, 0), None, "a changed expiry");
        let other = value.replace("ab12", "ab13");
        assert_eq!(verify(&key, &other, 0), None, "a changed accessor");
        assert_eq!(verify(&key, "garbage", 0), None);
        assert_eq!(
            verify(&key, "a.1.a\u{e9}b", 0),
            None,
            "a multi-byte character in the tag"
        );
        assert!(!check_csrf(&key, &value, "a\u{e9}b"));
    }

    #[test]
    fn the_csrf_token_belongs_to_its_session() {
        let key = [7u8; 32];
        let (a, b) = (issue(&key, "a", 10), issue(&key, "b", 10));
        assert!(check_csrf(&key, &a, &csrf(&key, &a)));
        assert!(!check_csrf(&key, &a, &csrf(&key, &b)));
        assert!(!check_csrf(&key, &a, ""));
        assert!(!check_csrf(&key, &a, "zz"));
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        assert_eq!(
            from_cookie_header("a=1; rf_session=x.2.ff; b=3"),
            Some("x.2.ff")
        );
        assert_eq!(from_cookie_header("a=1"), None);
    }
}
