//! Payloads at rest: how a record's tail holds an event's salt and payload.
//!
//! A **sealed** ledger (events file `careledger events v2`, every ledger careledger makes)
//! keeps `u8 owner tag || 24-byte nonce || XChaCha20-Poly1305(data key of the owner, nonce,
//! "careledger payload v1\0" || seq (u64 LE) || kind, salt || payload)`: the salt is inside
//! the ciphertext, so once the key is destroyed the envelope's commitment can no longer be
//! tested against guesses either. The owner is the event's subject, unless the event is
//! about no one or of a kind the ledger names as the organisation's
//! ([`crate::StoreConfig::organisation_key_kinds`]: its access log, which must outlive a
//! person's erasure). A **plain** ledger (`careledger events v1`, from before encryption,
//! and the append benchmark's baseline) keeps `salt || payload`. Either way an erased
//! payload is an empty tail.

use std::sync::Arc;

use careledger_log::envelope::SALT_LEN;
use zeroize::Zeroizing;

use crate::keyring::{Keyring, Owner};
use crate::seal::{self, NONCE_LEN, TAG_LEN};

const AAD_PREFIX: &[u8] = b"careledger payload v1\0";

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

fn aad(seq: u64, kind: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_PREFIX.len() + 8 + kind.len());
    aad.extend_from_slice(AAD_PREFIX);
    aad.extend_from_slice(&seq.to_le_bytes());
    aad.extend_from_slice(kind.as_bytes());
    aad
}

/// Whose key seals an event's payload.
pub(crate) fn owner_of(subject: Option<&str>, kind: &str, organisation_kinds: &[String]) -> Owner {
    match subject {
        Some(s) if !organisation_kinds.iter().any(|k| k == kind) => Owner::Subject(s.into()),
        _ => Owner::Organisation,
    }
}

/// Seals an event's salt and payload into a record tail.
pub(crate) fn seal_tail(
    keyring: &Keyring,
    owner: &Owner,
    (seq, kind): (u64, &str),
    nonce: &[u8; NONCE_LEN],
    salt: &[u8; SALT_LEN],
    payload: &[u8],
) -> Result<Vec<u8>, String> {
    let key = keyring.key_or_new(owner)?;
    let mut plain = Zeroizing::new(Vec::with_capacity(SALT_LEN + payload.len()));
    plain.extend_from_slice(salt);
    plain.extend_from_slice(payload);
    let mut tail = Vec::with_capacity(1 + NONCE_LEN + plain.len() + TAG_LEN);
    tail.push(owner.tag());
    tail.extend_from_slice(nonce);
    seal::seal_into(&key, nonce, &aad(seq, kind), &plain, &mut tail);
    Ok(tail)
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
        match (tail.first()?, subject) {
            (1, _) => Some(Owner::Organisation),
            (2, Some(s)) => Some(Owner::Subject(s.to_string())),
            _ => None,
        }
    }

    /// Reads the tail of event `seq` of `kind` about `subject`.
    pub fn open(
        &self,
        (seq, kind, subject): (u64, &str, Option<&str>),
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
        let owner = self.tail_owner(subject, tail).ok_or(
            "its payload names no known key (or a person's key for an event about no one)",
        )?;
        if tail.len() < 1 + NONCE_LEN + SALT_LEN + TAG_LEN {
            return Err("its sealed payload is cut short".into());
        }
        let key = keyring
            .key(&owner)
            .ok_or_else(|| format!("the data key of {owner} is not in the ledger's data keys"))?;
        let nonce: [u8; NONCE_LEN] = tail[1..1 + NONCE_LEN].try_into().expect("24 bytes");
        let plain = seal::open(&key, &nonce, &aad(seq, kind), &tail[1 + NONCE_LEN..])
            .ok_or("its sealed payload does not open under its key: it was altered")?;
        let salt: [u8; SALT_LEN] = plain[..SALT_LEN].try_into().expect("checked length");
        Ok(Opened::Payload(salt, plain[SALT_LEN..].to_vec()))
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
