//! Payload encoding: one version byte, then the kind's payload struct in bincode 1.3.3 with
//! fixed-width little-endian integers (the same options as the envelope).
//!
//! How a payload evolves: a kind's struct is never changed in place. When it gains a field,
//! the old struct stays as `...V1`, the new one gets the next version byte, and decoding
//! turns a V1 payload into the current struct. The stored samples in `tests/samples` (one per
//! kind, written by earlier versions) must keep decoding.

use bincode::Options;
use serde::{de::DeserializeOwned, Serialize};

/// Largest payload we decode (the store's own limit is the same).
pub const PAYLOAD_BYTES_MAX: u64 = 64 * 1024;

fn options() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .with_limit(PAYLOAD_BYTES_MAX)
        .reject_trailing_bytes()
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown event kind {0:?}")]
    UnknownKind(String),
    #[error("{kind}: empty payload")]
    Empty { kind: String },
    #[error("{kind}: payload version {version} is not known (this build reads up to {known})")]
    UnknownVersion {
        kind: String,
        version: u8,
        known: u8,
    },
    #[error("{kind}: payload does not decode: {reason}")]
    Malformed { kind: String, reason: String },
    #[error("{kind}: payload is too large to encode: {reason}")]
    Encode { kind: String, reason: String },
}

pub(crate) fn encode<T: Serialize>(
    kind: &str,
    version: u8,
    value: &T,
) -> Result<Vec<u8>, DecodeError> {
    let mut out = vec![version];
    options()
        .serialize_into(&mut out, value)
        .map_err(|e| DecodeError::Encode {
            kind: kind.to_string(),
            reason: e.to_string(),
        })?;
    Ok(out)
}

pub(crate) fn decode<T: DeserializeOwned>(
    kind: &str,
    known: u8,
    bytes: &[u8],
) -> Result<T, DecodeError> {
    let (&version, body) = bytes.split_first().ok_or_else(|| DecodeError::Empty {
        kind: kind.to_string(),
    })?;
    if version != known {
        return Err(DecodeError::UnknownVersion {
            kind: kind.to_string(),
            version,
            known,
        });
    }
    options()
        .deserialize(body)
        .map_err(|e| DecodeError::Malformed {
            kind: kind.to_string(),
            reason: e.to_string(),
        })
}

/// Encodes projection values (not part of the ledger format, but deterministic so that a
/// rebuilt projection has the same bytes).
pub(crate) fn to_bytes<T: Serialize>(value: &T) -> Vec<u8> {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .serialize(value)
        .expect("projection values are plain data and always encode")
}

pub(crate) fn from_bytes<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .reject_trailing_bytes()
        .deserialize(bytes)
        .map_err(|e| e.to_string())
}
