//! The event envelope and its canonical encoding.
//!
//! An envelope is what the Merkle tree commits to. Its canonical bytes are bincode 1.3.3
//! with fixed-width little-endian integers; the first byte is the format version. The
//! payload itself is not in the envelope: the envelope carries
//! `BLAKE3(salt || payload)`, so destroying salt and payload erases the data while every
//! proof still verifies.

use bincode::Options;
use serde::{Deserialize, Serialize};

use crate::merkle::{Blake3Hasher, Hash, TreeHasher};

/// The only envelope format version this code writes and reads.
pub const FORMAT_VERSION: u8 = 1;
/// Upper bound on an encoded envelope; decoding refuses anything longer.
pub const ENVELOPE_BYTES_MAX: usize = 2048;
/// Bounds on the text fields, in bytes of UTF-8.
pub const ACTOR_BYTES_MAX: usize = 200;
pub const SUBJECT_BYTES_MAX: usize = 200;
pub const KIND_BYTES_MAX: usize = 100;
/// Length of the random salt stored beside each payload.
pub const SALT_LEN: usize = 32;

/// One event of the log, as hashed into the tree.
///
/// Field order is the encoding order; do not reorder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Always [`FORMAT_VERSION`]; first so that a reader can dispatch on it.
    pub version: u8,
    /// Position in the log, from 0; equals the leaf index.
    pub seq: u64,
    /// When the appender recorded the event: UTC microseconds since the Unix epoch,
    /// never decreasing along the log.
    pub recorded_at_us: i64,
    /// When the writer says it happened: UTC microseconds since the Unix epoch.
    pub occurred_at_us: i64,
    /// Who did it (a staff, person or system identifier).
    pub actor: String,
    /// The person the event is about, if any.
    pub subject: Option<String>,
    /// The stable kind name of the event.
    pub kind: String,
    /// `BLAKE3(salt || payload bytes)`.
    pub payload_commitment: Hash,
}

/// Why an envelope or its payload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("envelope is empty")]
    Empty,
    #[error(
        "envelope format version {0} is not supported (this build reads version {FORMAT_VERSION})"
    )]
    UnsupportedVersion(u8),
    #[error("envelope is {len} bytes; the limit is {ENVELOPE_BYTES_MAX}")]
    TooLong { len: usize },
    #[error("envelope bytes do not decode: {0}")]
    Malformed(String),
    #[error("{field} is empty")]
    EmptyField { field: &'static str },
    #[error("{field} is {len} bytes; the limit is {max}")]
    FieldTooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{field} contains a control character")]
    ControlCharacter { field: &'static str },
    #[error("payload does not match the envelope's payload commitment")]
    CommitmentMismatch,
}

fn codec() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .with_limit(ENVELOPE_BYTES_MAX as u64)
        .reject_trailing_bytes()
}

fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), EnvelopeError> {
    if value.is_empty() {
        return Err(EnvelopeError::EmptyField { field });
    }
    if value.len() > max {
        return Err(EnvelopeError::FieldTooLong {
            field,
            len: value.len(),
            max,
        });
    }
    if value.chars().any(char::is_control) {
        return Err(EnvelopeError::ControlCharacter { field });
    }
    Ok(())
}

/// Checks the writer-supplied text fields of an event before it is given a sequence number.
pub fn check_fields(actor: &str, subject: Option<&str>, kind: &str) -> Result<(), EnvelopeError> {
    check_text("actor", actor, ACTOR_BYTES_MAX)?;
    if let Some(subject) = subject {
        check_text("subject", subject, SUBJECT_BYTES_MAX)?;
    }
    check_text("kind", kind, KIND_BYTES_MAX)
}

impl Envelope {
    /// Canonical bytes: what is stored and what the leaf hash covers.
    pub fn encode(&self) -> Result<Vec<u8>, EnvelopeError> {
        if self.version != FORMAT_VERSION {
            return Err(EnvelopeError::UnsupportedVersion(self.version));
        }
        check_fields(&self.actor, self.subject.as_deref(), &self.kind)?;
        codec()
            .serialize(self)
            .map_err(|e| EnvelopeError::Malformed(e.to_string()))
    }

    /// Decodes stored bytes, refusing unknown versions, oversize input and trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        EnvelopeRef::decode(bytes).map(|e| e.to_envelope())
    }

    /// Leaf hash of these canonical bytes. Always hash the stored bytes, never a re-encoding.
    pub fn leaf_hash(bytes: &[u8]) -> Hash {
        Blake3Hasher::hash_leaf(bytes)
    }

    /// Checks a payload and its salt against this envelope's commitment.
    pub fn check_payload(
        &self,
        salt: &[u8; SALT_LEN],
        payload: &[u8],
    ) -> Result<(), EnvelopeError> {
        check_commitment(&self.payload_commitment, salt, payload)
    }
}

/// An envelope decoded in place: the text fields borrow from the stored bytes. What
/// verification uses, since it reads every envelope and keeps none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct EnvelopeRef<'a> {
    pub version: u8,
    pub seq: u64,
    pub recorded_at_us: i64,
    pub occurred_at_us: i64,
    pub actor: &'a str,
    #[serde(borrow)]
    pub subject: Option<&'a str>,
    pub kind: &'a str,
    pub payload_commitment: Hash,
}

impl<'a> EnvelopeRef<'a> {
    /// Decodes stored bytes, refusing unknown versions, oversize input and trailing bytes.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, EnvelopeError> {
        match bytes.first() {
            None => return Err(EnvelopeError::Empty),
            Some(&FORMAT_VERSION) => {}
            Some(&other) => return Err(EnvelopeError::UnsupportedVersion(other)),
        }
        if bytes.len() > ENVELOPE_BYTES_MAX {
            return Err(EnvelopeError::TooLong { len: bytes.len() });
        }
        let envelope: EnvelopeRef<'a> = codec()
            .deserialize(bytes)
            .map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
        check_fields(envelope.actor, envelope.subject, envelope.kind)?;
        Ok(envelope)
    }

    pub fn to_envelope(&self) -> Envelope {
        Envelope {
            version: self.version,
            seq: self.seq,
            recorded_at_us: self.recorded_at_us,
            occurred_at_us: self.occurred_at_us,
            actor: self.actor.to_string(),
            subject: self.subject.map(str::to_string),
            kind: self.kind.to_string(),
            payload_commitment: self.payload_commitment,
        }
    }

    /// Checks a payload and its salt against this envelope's commitment.
    pub fn check_payload(
        &self,
        salt: &[u8; SALT_LEN],
        payload: &[u8],
    ) -> Result<(), EnvelopeError> {
        check_commitment(&self.payload_commitment, salt, payload)
    }
}

fn check_commitment(
    commitment: &Hash,
    salt: &[u8; SALT_LEN],
    payload: &[u8],
) -> Result<(), EnvelopeError> {
    if payload_commitment(salt, payload) != *commitment {
        return Err(EnvelopeError::CommitmentMismatch);
    }
    Ok(())
}

/// `BLAKE3(salt || payload)`.
pub fn payload_commitment(salt: &[u8; SALT_LEN], payload: &[u8]) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(salt);
    h.update(payload);
    *h.finalize().as_bytes()
}

/// A fresh random salt from the operating system.
pub fn random_salt() -> Result<[u8; SALT_LEN], getrandom::Error> {
    let mut salt = [0u8; SALT_LEN];
    getrandom::getrandom(&mut salt)?;
    Ok(salt)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Envelope {
        Envelope {
            version: FORMAT_VERSION,
            seq: 7,
            recorded_at_us: 1_700_000_000_000_001,
            occurred_at_us: 1_700_000_000_000_000,
            actor: "staff:s1".into(),
            subject: Some("person:p1".into()),
            kind: "visit.started".into(),
            payload_commitment: [9u8; 32],
        }
    }

    #[test]
    fn encoding_is_byte_exact() {
        let bytes = sample().encode().unwrap();
        let mut want = vec![1u8];
        want.extend_from_slice(&7u64.to_le_bytes());
        want.extend_from_slice(&1_700_000_000_000_001i64.to_le_bytes());
        want.extend_from_slice(&1_700_000_000_000_000i64.to_le_bytes());
        want.extend_from_slice(&8u64.to_le_bytes());
        want.extend_from_slice(b"staff:s1");
        want.push(1);
        want.extend_from_slice(&9u64.to_le_bytes());
        want.extend_from_slice(b"person:p1");
        want.extend_from_slice(&13u64.to_le_bytes());
        want.extend_from_slice(b"visit.started");
        want.extend_from_slice(&[9u8; 32]);
        assert_eq!(bytes, want);
        assert_eq!(Envelope::decode(&bytes).unwrap(), sample());
    }

    #[test]
    fn decode_refuses_bad_input() {
        let bytes = sample().encode().unwrap();
        let mut other_version = bytes.clone();
        other_version[0] = 2;
        assert_eq!(
            Envelope::decode(&other_version),
            Err(EnvelopeError::UnsupportedVersion(2))
        );
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(matches!(
            Envelope::decode(&trailing),
            Err(EnvelopeError::Malformed(_))
        ));
        assert!(matches!(
            Envelope::decode(&bytes[..bytes.len() - 1]),
            Err(EnvelopeError::Malformed(_))
        ));
        assert_eq!(Envelope::decode(&[]), Err(EnvelopeError::Empty));
        let mut huge_len = bytes.clone();
        huge_len[25..33].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            Envelope::decode(&huge_len),
            Err(EnvelopeError::Malformed(_))
        ));
        let mut bad_option = bytes;
        bad_option[41] = 2;
        assert!(matches!(
            Envelope::decode(&bad_option),
            Err(EnvelopeError::Malformed(_))
        ));
    }

    #[test]
    fn fields_are_checked() {
        let mut e = sample();
        e.actor = String::new();
        assert_eq!(
            e.encode(),
            Err(EnvelopeError::EmptyField { field: "actor" })
        );
        let mut e = sample();
        e.kind = "a\nb".into();
        assert_eq!(
            e.encode(),
            Err(EnvelopeError::ControlCharacter { field: "kind" })
        );
        let mut e = sample();
        e.subject = Some("x".repeat(SUBJECT_BYTES_MAX + 1));
        assert!(matches!(
            e.encode(),
            Err(EnvelopeError::FieldTooLong {
                field: "subject",
                ..
            })
        ));
    }

    #[test]
    fn commitment_binds_salt_and_payload() {
        let salt = [3u8; SALT_LEN];
        let mut e = sample();
        e.payload_commitment = payload_commitment(&salt, b"{\"x\":1}");
        assert!(e.check_payload(&salt, b"{\"x\":1}").is_ok());
        assert_eq!(
            e.check_payload(&salt, b"{\"x\":2}"),
            Err(EnvelopeError::CommitmentMismatch)
        );
        assert_eq!(
            e.check_payload(&[4u8; SALT_LEN], b"{\"x\":1}"),
            Err(EnvelopeError::CommitmentMismatch)
        );
    }
}
