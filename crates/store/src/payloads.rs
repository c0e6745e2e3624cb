//! Payloads at rest: how a record's tail holds an event's salt and payload.
//!
//! A **sealed** ledger (events file `careledger events v2`, every ledger careledger makes)
//! keeps `u8 owner tag || 24-byte nonce || XChaCha20-Poly1305(data key of the owner, nonce,
//! "careledger payload v1\0" || payload commitment || kind, salt || payload)`: the salt is
//! inside the ciphertext, so once the key is destroyed the envelope's commitment can no
//! longer be tested against guesses either.
//!
//! **Decision: the commitment, not the sequence number, as associated data.** The
//! commitment is in the envelope, which the tree commits to with its sequence number, and
//! it is unique to the event (its salt is random): a payload sealed for one event opens
//! for no other, as with the sequence number. Unlike the sequence number, it is known
//! before the appender numbers the event, so each payload is sealed on its writer's
//! thread ([`crate::Store::submit`]), in parallel, and the single appender thread does no
//! more work for a sealed ledger than for a plain one (docs/BENCHMARKS.md). The owner is the event's subject, unless the event is
//! about no one or of a kind the ledger names as the organisation's
//! ([`crate::StoreConfig::organisation_key_kinds`]: its access log, which must outlive a
//! person's erasure). A **plain** ledger (`careledger events v1`, from before encryption,
//! and the append benchmark's baseline) keeps `salt || payload`. Either way an erased
//! payload is an empty tail.

use std::sync::Arc;

use careledger_log::envelope::{Envelope, EnvelopeRef, SALT_LEN};
use zeroize::Zeroizing;

use crate::keyring::{Keyring, Owner};
use crate::seal::{self, NONCE_LEN, TAG_LEN};

const AAD_PREFIX: &[u8] = b"careledger payload v1\0";
/// The owner tags a record's tail starts with ([`Owner::tag`]).
const ORGANISATION_TAG: u8 = 1;
const SUBJECT_TAG: u8 = 2;

/// How this ledger's payloads are kept, and the keys to read them.
#[derive(Clone, Debug)]
pub enum Payloads {
    Plain,
    Sealed(Arc<Keyring>),
    /// Sealed, read without the master key (verification of the envelopes, the tree and
    /// the signatures only).
    Unread,
}

/// A record's payload, as read.
#[derive(Debug, PartialEq, Eq)]
pub enum Opened {
    Payload([u8; SALT_LEN], Vec<u8>),
    /// The tail is empty: the payload and its salt were destroyed.
    Erased,
    /// Sealed, and read without the keys.
    Unread,
}

impl Opened {
    pub fn into_option(self) -> Option<([u8; SALT_LEN], Vec<u8>)> {
        match self {
            Opened::Payload(salt, payload) => Some((salt, payload)),
            _ => None,
        }
    }
}

/// The associated data of an event's payload, on the stack (a kind is at most 100 bytes).
fn aad<'b>(commitment: &[u8; 32], kind: &str, buf: &'b mut [u8; 160]) -> &'b [u8] {
    let kind = &kind.as_bytes()[..kind.len().min(160 - AAD_PREFIX.len() - 32)];
    let end = AAD_PREFIX.len() + 32 + kind.len();
    buf[..AAD_PREFIX.len()].copy_from_slice(AAD_PREFIX);
    buf[AAD_PREFIX.len()..AAD_PREFIX.len() + 32].copy_from_slice(commitment);
    buf[AAD_PREFIX.len() + 32..end].copy_from_slice(kind);
    &buf[..end]
}

/// The subject whose key seals an event's payload, or `None` for the organisation's.
fn sealing_subject<'a>(
    subject: Option<&'a str>,
    kind: &str,
    organisation_kinds: &[String],
) -> Option<&'a str> {
    subject.filter(|_| !organisation_kinds.iter().any(|k| k == kind))
}

/// The tag and key that seal an event about `subject` of `kind`: the subject's, or the
/// organisation's (for events about no one and for `organisation_kinds`), made now if it
/// has none. Looks a subject up by its
/// name: no allocation for a key that exists.
pub(crate) fn key_for_writing(
    keyring: &Keyring,
    subject: Option<&str>,
    kind: &str,
    organisation_kinds: &[String],
) -> Result<(u8, std::sync::Arc<seal::Key>), String> {
    let owner = match sealing_subject(subject, kind, organisation_kinds) {
        Some(s) => match keyring.subject_key(s) {
            Some(key) => return Ok((SUBJECT_TAG, key)),
            None => Owner::Subject(s.to_string()),
        },
        None => Owner::Organisation,
    };
    Ok((owner.tag(), keyring.key_or_new(&owner)?))
}

/// Seals an event's salt and payload into a record tail, in place: the plaintext is
/// overwritten by the ciphertext in the one buffer.
pub(crate) fn seal_tail(
    (tag, key): (u8, &seal::Key),
    (commitment, kind): (&[u8; 32], &str),
    nonce: &[u8; NONCE_LEN],
    salt: &[u8; SALT_LEN],
    payload: &[u8],
) -> Vec<u8> {
    let mut tail = Vec::with_capacity(1 + NONCE_LEN + SALT_LEN + payload.len() + TAG_LEN);
    tail.push(tag);
    tail.extend_from_slice(nonce);
    tail.extend_from_slice(salt);
    tail.extend_from_slice(payload);
    let mut buf = [0u8; 160];
    let mac = seal::seal_in_place(
        key,
        nonce,
        aad(commitment, kind, &mut buf),
        &mut tail[1 + NONCE_LEN..],
    );
    tail.extend_from_slice(&mac);
    tail
}

impl Payloads {
    pub fn is_sealed(&self) -> bool {
        !matches!(self, Payloads::Plain)
    }

    pub fn keyring(&self) -> Option<&Arc<Keyring>> {
        match self {
            Payloads::Sealed(k) => Some(k),
            _ => None,
        }
    }

    /// The owner a sealed tail names (`None` for a plain or erased one, or a tag of no
    /// known owner).
    pub(crate) fn tail_owner(&self, subject: Option<&str>, tail: &[u8]) -> Option<Owner> {
        if matches!(self, Payloads::Plain) {
            return None;
        }
        match (*tail.first()?, subject) {
            (ORGANISATION_TAG, _) => Some(Owner::Organisation),
            (SUBJECT_TAG, Some(s)) => Some(Owner::Subject(s.to_string())),
            _ => None,
        }
    }

    /// [`Payloads::open`] for the event whose envelope is `envelope`.
    pub fn open_for(&self, envelope: &Envelope, tail: &[u8]) -> Result<Opened, String> {
        self.open(
            (
                &envelope.payload_commitment,
                &envelope.kind,
                envelope.subject.as_deref(),
            ),
            tail,
        )
    }

    /// [`Payloads::open`] for the event whose borrowed envelope is `envelope`.
    pub fn open_for_ref(&self, envelope: &EnvelopeRef<'_>, tail: &[u8]) -> Result<Opened, String> {
        self.open(
            (
                &envelope.payload_commitment,
                envelope.kind,
                envelope.subject,
            ),
            tail,
        )
    }

    /// Reads the tail of the event whose envelope has this commitment, kind and subject.
    pub fn open(
        &self,
        (commitment, kind, subject): (&[u8; 32], &str, Option<&str>),
        tail: &[u8],
    ) -> Result<Opened, String> {
        if tail.is_empty() {
            return Ok(Opened::Erased);
        }
        let keyring = match self {
            Payloads::Plain => {
                let salt: [u8; SALT_LEN] = tail
                    .get(..SALT_LEN)
                    .and_then(|s| s.try_into().ok())
                    .ok_or("its payload is shorter than a salt")?;
                return Ok(Opened::Payload(salt, tail[SALT_LEN..].to_vec()));
            }
            Payloads::Unread => return Ok(Opened::Unread),
            Payloads::Sealed(keyring) => keyring,
        };
        let key = match (tail[0], subject) {
            (ORGANISATION_TAG, _) => keyring.key(&Owner::Organisation),
            (SUBJECT_TAG, Some(subject)) => keyring.subject_key(subject),
            _ => {
                return Err(
                    "its payload names no known key (or a person's key for an event \
                            about no one)"
                        .into(),
                )
            }
        };
        if tail.len() < 1 + NONCE_LEN + SALT_LEN + TAG_LEN {
            return Err("its sealed payload is cut short".into());
        }
        let key = key.ok_or_else(|| {
            format!(
                "the data key of {} is not in the ledger's data keys",
                subject
                    .filter(|_| tail[0] == SUBJECT_TAG)
                    .unwrap_or("the organisation")
            )
        })?;
        let nonce: [u8; NONCE_LEN] = tail[1..1 + NONCE_LEN].try_into().expect("24 bytes");
        let mut buf = [0u8; 160];
        let mut payload = seal::open_vec(
            &key,
            &nonce,
            aad(commitment, kind, &mut buf),
            &tail[1 + NONCE_LEN..],
        )
        .ok_or("its sealed payload does not open under its key: it was altered")?;
        let salt: [u8; SALT_LEN] = payload[..SALT_LEN].try_into().expect("checked length");
        payload.drain(..SALT_LEN);
        Ok(Opened::Payload(salt, payload))
    }
}

const PAIR_AAD_PREFIX: &[u8] = b"careledger pair v1\0";

fn pair_aad(key: &[u8]) -> Vec<u8> {
    let mut aad = PAIR_AAD_PREFIX.to_vec();
    aad.extend_from_slice(key);
    aad
}

impl Payloads {
    /// A projection pair's value as sled keeps it: in a sealed ledger, a nonce and the
    /// value sealed under the derived state's key with the pair's key as associated data.
    pub(crate) fn seal_pair(&self, key: &[u8], value: Vec<u8>) -> Result<Vec<u8>, String> {
        let keyring = match self {
            Payloads::Sealed(keyring) => keyring,
            Payloads::Plain => return Ok(value),
            Payloads::Unread => return Err("the ledger's keys are not open".into()),
        };
        let data_key = keyring.key_or_new(&Owner::Derived)?;
        let nonce = seal::nonce().map_err(|e| format!("no random nonce: {e}"))?;
        let mut out = Vec::with_capacity(NONCE_LEN + value.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        seal::seal_into(&data_key, &nonce, &pair_aad(key), &value, &mut out);
        let _ = Zeroizing::new(value);
        Ok(out)
    }

    /// A stored projection pair's value, opened.
    pub(crate) fn open_pair(&self, key: &[u8], stored: &[u8]) -> Result<Vec<u8>, String> {
        let keyring = match self {
            Payloads::Sealed(keyring) => keyring,
            Payloads::Plain => return Ok(stored.to_vec()),
            Payloads::Unread => return Err("the ledger's keys are not open".into()),
        };
        let data_key = keyring
            .key(&Owner::Derived)
            .ok_or("the derived state's data key is missing")?;
        if stored.len() < NONCE_LEN + TAG_LEN {
            return Err("a sealed value cut short".into());
        }
        let nonce: [u8; NONCE_LEN] = stored[..NONCE_LEN].try_into().expect("24 bytes");
        seal::open(&data_key, &nonce, &pair_aad(key), &stored[NONCE_LEN..])
            .map(|plain| plain.to_vec())
            .ok_or_else(|| "it does not open under the derived state's key".into())
    }
}
