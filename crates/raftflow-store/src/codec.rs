//! bincode 2 with one fixed configuration, so every byte on disk and on the
//! wire is encoded the same way.
//!
//! bincode has no field tags: types encoded here must not use
//! `#[serde(untagged)]`, `#[serde(flatten)]`, `skip_serializing_if` or
//! `serde_json::Value`. JSON travels as `String`.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::StoreError;

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    bincode::serde::encode_to_vec(value, config()).map_err(|e| StoreError::Encode(e.to_string()))
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    let (value, read) = bincode::serde::decode_from_slice(bytes, config())
        .map_err(|e| StoreError::Decode(format!("{}: {e}", std::any::type_name::<T>())))?;
    if read != bytes.len() {
        return Err(StoreError::Decode(format!(
            "{}: {} trailing bytes after a {}-byte value",
            std::any::type_name::<T>(),
            bytes.len() - read,
            read
        )));
    }
    Ok(value)
}
