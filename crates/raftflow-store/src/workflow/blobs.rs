//! History events without repeated data (apply version 9).
//!
//! A state's exit event and the next state's entry event usually carry the
//! same JSON, and a chain of Pass states carries one value through every
//! event: before version 9 each event stored its own copy (a 200 KB input
//! through 20 Pass states wrote 41 copies, ~8 MB). From version 9 a value
//! of `BLOB_MIN_BYTES` or more in an event's details is stored once per
//! execution, under its SHA-256, and the event keeps the details text with
//! that value cut out and a note of where it goes back:
//!
//! ```text
//!  e/<execution>/<event:020>   0xFF ++ bincode(StoredEvent)   details with cuts
//!  d/<execution>/<sha256 hex>  the value's JSON text          once per execution
//! ```
//! The leading 0xFF tells the two layouts apart: a version-1 `EventRecord`
//! starts with its id as a bincode varint, whose first byte is never 0xFF.
//! Reads put the values back, so the history API returns the same text as
//! before, byte for byte. Blobs go with their execution when it is purged.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::records::EventRecord;
use crate::codec::{decode, encode};
use crate::error::StoreError;

/// The apply version from which events store large values once.
pub const BLOBS_FROM: u32 = 9;
/// Values shorter than this stay inline: a cut costs ~40 bytes in the event
/// and a ~100-byte key, which only pays for itself on larger values.
pub const BLOB_MIN_BYTES: usize = 1024;
/// The first byte of a version-9 event record.
const TAG_CUT: u8 = 0xFF;

/// Where one large value was cut out of an event's details text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Cut {
    /// Byte offset in the cut text where the value goes back.
    at: u64,
    hash: [u8; 32],
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StoredEvent {
    id: u64,
    previous_id: u64,
    timestamp_ms: u64,
    kind: String,
    /// The details' JSON text without the cut values.
    details: String,
    cuts: Vec<Cut>,
}

pub fn blob_prefix(execution_id: &str) -> Vec<u8> {
    format!("d/{execution_id}/").into_bytes()
}

pub fn blob_key(execution_id: &str, hash: &[u8; 32]) -> Vec<u8> {
    let mut key = blob_prefix(execution_id);
    key.extend(hash.iter().flat_map(|b| {
        let hex = b"0123456789abcdef";
        [hex[usize::from(b >> 4)], hex[usize::from(b & 15)]]
    }));
    key
}

/// An event split for storage: the record's bytes and the values it refers to.
pub struct SplitEvent {
    pub record: Vec<u8>,
    pub blobs: Vec<([u8; 32], String)>,
}

/// Splits an event's details: each top-level value whose JSON text is at
/// least `BLOB_MIN_BYTES` long becomes a blob. The text put back together
/// is exactly `details.to_string()` (the compact writer, in map order).
pub fn split(
    id: u64,
    previous_id: u64,
    timestamp_ms: u64,
    kind: String,
    details: &Value,
) -> Result<SplitEvent, StoreError> {
    let mut text = String::new();
    let mut cuts = Vec::new();
    let mut blobs = Vec::new();
    match details {
        Value::Object(map) => {
            text.push('{');
            for (n, (key, value)) in map.iter().enumerate() {
                if n > 0 {
                    text.push(',');
                }
                text.push_str(&Value::String(key.clone()).to_string());
                text.push(':');
                let value_text = value.to_string();
                if value_text.len() >= BLOB_MIN_BYTES {
                    let hash: [u8; 32] = Sha256::digest(value_text.as_bytes()).into();
                    cuts.push(Cut {
                        at: text.len() as u64,
                        hash,
                    });
                    blobs.push((hash, value_text));
                } else {
                    text.push_str(&value_text);
                }
            }
            text.push('}');
        }
        other => text = other.to_string(),
    }
    let stored = StoredEvent {
        id,
        previous_id,
        timestamp_ms,
        kind,
        details: text,
        cuts,
    };
    let mut record = vec![TAG_CUT];
    record.extend(encode(&stored)?);
    Ok(SplitEvent { record, blobs })
}

/// Reads an event record of either layout; `blob` fetches a cut value.
pub fn read_event(
    bytes: &[u8],
    mut blob: impl FnMut(&[u8; 32]) -> Result<Option<Vec<u8>>, StoreError>,
) -> Result<EventRecord, StoreError> {
    let Some((&TAG_CUT, rest)) = bytes.split_first() else {
        return decode(bytes);
    };
    let stored: StoredEvent = decode(rest)?;
    let mut details = String::with_capacity(stored.details.len());
    let mut from = 0usize;
    for cut in &stored.cuts {
        let at = usize::try_from(cut.at)
            .ok()
            .filter(|&at| at >= from && at <= stored.details.len())
            .ok_or_else(|| corrupt(stored.id, "a cut outside its details"))?;
        let piece = stored
            .details
            .get(from..at)
            .ok_or_else(|| corrupt(stored.id, "a cut inside a character"))?;
        details.push_str(piece);
        let value = blob(&cut.hash)?.ok_or_else(|| corrupt(stored.id, "a missing value"))?;
        let value =
            String::from_utf8(value).map_err(|_| corrupt(stored.id, "a value not UTF-8"))?;
        details.push_str(&value);
        from = at;
    }
    details.push_str(&stored.details[from..]);
    Ok(EventRecord {
        id: stored.id,
        previous_id: stored.previous_id,
        timestamp_ms: stored.timestamp_ms,
        kind: stored.kind,
        details,
    })
}

fn corrupt(event: u64, what: &str) -> StoreError {
    StoreError::Corrupt(format!("history event {event} has {what}"))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::json;

    use super::*;

    fn round_trip(details: Value) -> (EventRecord, usize) {
        let split = split(7, 6, 1_000, "PassStateEntered".into(), &details).unwrap();
        let blobs: HashMap<[u8; 32], String> = split.blobs.iter().cloned().collect();
        let back = read_event(&split.record, |h| {
            Ok(blobs.get(h).map(|s| s.clone().into_bytes()))
        })
        .unwrap();
        (back, split.blobs.len())
    }

    #[test]
    fn large_values_are_cut_and_put_back_byte_for_byte() {
        let big = "x".repeat(5_000);
        let details = json!({"name": "S \"1\"", "input": {"a": big, "n": 1.5}, "output": [big]});
        let (back, cut) = round_trip(details.clone());
        assert_eq!(cut, 2);
        assert_eq!(back.details, details.to_string());
        assert_eq!(
            (back.id, back.previous_id, back.timestamp_ms),
            (7, 6, 1_000)
        );
        assert_eq!(back.kind, "PassStateEntered");
    }

    #[test]
    fn small_and_non_object_details_stay_inline() {
        for details in [
            json!({"name": "S", "input": {"a": 1}}),
            json!([1, 2]),
            json!({}),
        ] {
            let (back, cut) = round_trip(details.clone());
            assert_eq!(cut, 0);
            assert_eq!(back.details, details.to_string());
        }
        let edge = json!({"input": "y".repeat(BLOB_MIN_BYTES - 2)});
        assert_eq!(
            round_trip(edge).1,
            1,
            "a value of exactly the minimum is cut"
        );
    }

    #[test]
    fn equal_values_share_one_blob_key() {
        let big = json!({"v": "z".repeat(2_000)});
        let a = split(1, 0, 0, "A".into(), &json!({"input": big})).unwrap();
        let b = split(2, 1, 0, "B".into(), &json!({"output": big, "name": "x"})).unwrap();
        assert_eq!(a.blobs[0].0, b.blobs[0].0);
        assert_eq!(blob_key("sm:e", &a.blobs[0].0).len(), "d/sm:e/".len() + 64);
    }

    #[test]
    fn records_of_release_one_still_read() {
        let old = EventRecord {
            id: 300,
            previous_id: 299,
            timestamp_ms: 5,
            kind: "TaskSucceeded".into(),
            details: "{\"output\":1}".into(),
        };
        let bytes = encode(&old).unwrap();
        assert_ne!(bytes[0], TAG_CUT);
        assert_eq!(read_event(&bytes, |_| Ok(None)).unwrap(), old);
    }

    #[test]
    fn a_missing_value_is_a_clear_error() {
        let split = split(3, 2, 0, "K".into(), &json!({"input": "q".repeat(4_000)})).unwrap();
        let err = read_event(&split.record, |_| Ok(None)).unwrap_err();
        assert!(
            err.to_string()
                .contains("history event 3 has a missing value"),
            "{err}"
        );
    }
}
