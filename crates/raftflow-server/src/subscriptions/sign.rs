//! The signature a receiver checks: `X-Raftflow-Signature: t=<unix
//! seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` — the timestamp is
//! signed with the body so that a receiver can refuse an old message
//! replayed (Stripe and Svix sign webhooks the same way).

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Raftflow-Signature";

/// The header value for `body` sent at `unix_s`.
pub fn signature(secret: &[u8], unix_s: u64, body: &[u8]) -> String {
    format!("t={unix_s},v1={}", hex(&mac(secret, unix_s, body)))
}

fn mac(secret: &[u8], unix_s: u64, body: &[u8]) -> Vec<u8> {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let mut context = ring::hmac::Context::with_key(&key);
    context.update(unix_s.to_string().as_bytes());
    context.update(b".");
    context.update(body);
    context.sign().as_ref().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `header` is a valid signature of `body` under `secret`, at most
/// `tolerance_s` from `now_s` — what a receiver does (the tests use it,
/// and docs/subscriptions.md shows it).
pub fn verify(secret: &[u8], header: &str, body: &[u8], now_s: u64, tolerance_s: u64) -> bool {
    let mut unix_s = None;
    let mut given = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", t)) => unix_s = t.parse::<u64>().ok(),
            Some(("v1", v)) => given = Some(v),
            _ => {}
        }
    }
    let (Some(unix_s), Some(given)) = (unix_s, given) else {
        return false;
    };
    if now_s.abs_diff(unix_s) > tolerance_s {
        return false;
    }
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let mut signed = unix_s.to_string().into_bytes();
    signed.push(b'.');
    signed.extend_from_slice(body);
    let Some(tag) = raftflow_store::workflow::reads::unhex(given) else {
        return false;
    };
    ring::hmac::verify(&key, &signed, &tag).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies_within_the_tolerance_only() {
        let header = signature(b"whsec-0123456789abcdef", 1_800_000_000, b"{\"a\":1}");
        assert!(header.starts_with("t=1800000000,v1="));
        assert_eq!(header.len(), "t=1800000000,v1=".len() + 64);
        let ok = |h: &str, body: &[u8], now| verify(b"whsec-0123456789abcdef", h, body, now, 300);
        assert!(ok(&header, b"{\"a\":1}", 1_800_000_100));
        assert!(!ok(&header, b"{\"a\":2}", 1_800_000_100), "another body");
        assert!(!ok(&header, b"{\"a\":1}", 1_800_000_400), "too old");
        let other = header.replace("t=1800000000", "t=1800000001");
        assert!(
            !ok(&other, b"{\"a\":1}", 1_800_000_000),
            "time not the signed one"
        );
        assert!(!verify(
            b"another-secret-000",
            &header,
            b"{\"a\":1}",
            1_800_000_000,
            300
        ));
        assert!(!ok("v1=zz", b"", 0));
    }
}
