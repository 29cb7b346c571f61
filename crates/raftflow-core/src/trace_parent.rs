//! The W3C Trace Context `traceparent` header (<https://www.w3.org/TR/trace-context/>):
//! `00-<trace id: 32 hex>-<parent id: 16 hex>-<flags: 2 hex>`.
//!
//! Parsed here, in the core, because both the door (a client's gRPC
//! metadata) and apply (a stored execution's trace) must read it the same
//! way, on every replica and release.

use std::fmt;

/// The length of a version-00 `traceparent`.
pub const TRACE_PARENT_LEN: usize = 55;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: [u8; 16],
    pub parent_id: [u8; 8],
    /// Bit 0: the caller records (samples) this trace.
    pub flags: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceParentError {
    #[error("a traceparent is `00-<32 hex>-<16 hex>-<2 hex>` (55 characters), not {0} characters")]
    Length(usize),
    #[error("a traceparent's {0} is not lowercase hexadecimal")]
    NotHex(&'static str),
    #[error("a traceparent's fields are separated by `-`")]
    Separator,
    #[error("traceparent version ff is invalid")]
    Version,
    #[error("a traceparent's {0} is all zeros")]
    Zero(&'static str),
}

impl TraceParent {
    /// Whether the caller samples this trace (flags bit 0).
    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// The same trace, with `parent_id` as the parent.
    pub fn child(&self, parent_id: [u8; 8]) -> TraceParent {
        TraceParent { parent_id, ..*self }
    }

    /// Reads a header. A version above 00 may append fields after the
    /// first 55 characters; they are ignored, as the specification asks.
    pub fn parse(text: &str) -> Result<TraceParent, TraceParentError> {
        let b = text.as_bytes();
        let exact = b.len() == TRACE_PARENT_LEN;
        let extended = !text.starts_with("00") && b.get(TRACE_PARENT_LEN) == Some(&b'-');
        if !exact && !extended {
            return Err(TraceParentError::Length(text.len()));
        }
        if b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
            return Err(TraceParentError::Separator);
        }
        let version: [u8; 1] = hex(&b[0..2], "version")?;
        if version[0] == 0xff {
            return Err(TraceParentError::Version);
        }
        let trace_id: [u8; 16] = hex(&b[3..35], "trace id")?;
        let parent_id: [u8; 8] = hex(&b[36..52], "parent id")?;
        let flags: [u8; 1] = hex(&b[53..55], "flags")?;
        if trace_id == [0; 16] {
            return Err(TraceParentError::Zero("trace id"));
        }
        if parent_id == [0; 8] {
            return Err(TraceParentError::Zero("parent id"));
        }
        Ok(TraceParent {
            trace_id,
            parent_id,
            flags: flags[0],
        })
    }
}

/// Version 00, whatever version it was read from.
impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("00-")?;
        self.trace_id
            .iter()
            .try_for_each(|b| write!(f, "{b:02x}"))?;
        f.write_str("-")?;
        self.parent_id
            .iter()
            .try_for_each(|b| write!(f, "{b:02x}"))?;
        write!(f, "-{:02x}", self.flags)
    }
}

fn hex<const N: usize>(text: &[u8], what: &'static str) -> Result<[u8; N], TraceParentError> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        _ => Err(TraceParentError::NotHex(what)),
    };
    let mut out = [0u8; N];
    for (i, pair) in text.chunks_exact(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_specification_example_reads_and_writes_back() {
        let t = TraceParent::parse(EXAMPLE).unwrap();
        assert_eq!(t.trace_id[0], 0x4b);
        assert_eq!(t.parent_id[7], 0xb7);
        assert!(t.sampled());
        assert_eq!(t.to_string(), EXAMPLE);
        let child = t.child([1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(
            child.to_string(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0102030405060708-01"
        );
    }

    #[test]
    fn malformed_headers_are_named() {
        use TraceParentError::*;
        let cases = [
            ("", Length(0)),
            (&EXAMPLE[..54], Length(54)),
            (
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                NotHex("trace id"),
            ),
            (
                "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                Separator,
            ),
            (
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                Version,
            ),
            (
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                Zero("trace id"),
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                Zero("parent id"),
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
                Length(61),
            ),
        ];
        for (text, error) in cases {
            assert_eq!(TraceParent::parse(text), Err(error), "{text}");
        }
    }

    #[test]
    fn a_later_version_may_carry_more_fields() {
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future";
        let t = TraceParent::parse(later).unwrap();
        assert_eq!(t.to_string(), EXAMPLE);
    }
}
