//! Key layout of the one sled tree that holds a ledger.
//!
//! Everything lives in sled's default tree so that one `apply_batch` is atomic across
//! events, tree nodes, indexes, checkpoints and the head record. Integers in keys are
//! big-endian so that byte order is numeric order.
//!
//! | key                                   | value                                            |
//! |---------------------------------------|--------------------------------------------------|
//! | `e` seq:u64                           | u32 LE envelope length, envelope, salt, payload  |
//! | `n` level:u8 index:u64                | 32-byte hash of a perfect subtree (level 0 = leaf) |
//! | `s` subject 0x00 seq:u64              | empty (events about a subject, in order)         |
//! | `c` size:u64                          | signed checkpoint note (UTF-8)                   |
//! | `mhead`                               | size:u64 LE, root:32, last recorded_at:i64 LE    |
//! | `morigin`                             | the log's origin (UTF-8)                         |
//! | `mverifier`                           | the verifier key string (UTF-8)                  |
//! | `mformat`                             | store layout version:u8                          |

pub const EVENT: u8 = b'e';
pub const NODE: u8 = b'n';
pub const SUBJECT: u8 = b's';
pub const CHECKPOINT: u8 = b'c';
pub const HEAD: &[u8] = b"mhead";
pub const ORIGIN: &[u8] = b"morigin";
pub const VERIFIER: &[u8] = b"mverifier";
pub const FORMAT: &[u8] = b"mformat";
/// Version of this key layout.
pub const STORE_FORMAT: u8 = 1;

pub fn event(seq: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = EVENT;
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

pub fn node(level: u8, index: u64) -> [u8; 10] {
    let mut k = [0u8; 10];
    k[0] = NODE;
    k[1] = level;
    k[2..].copy_from_slice(&index.to_be_bytes());
    k
}

pub fn node_level_prefix(level: u8) -> [u8; 2] {
    [NODE, level]
}

pub fn checkpoint(size: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = CHECKPOINT;
    k[1..].copy_from_slice(&size.to_be_bytes());
    k
}

/// Prefix of all index keys of one subject. Subjects never contain control characters,
/// so the 0x00 terminator makes prefixes of different subjects disjoint.
pub fn subject_prefix(subject: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(subject.len() + 2);
    k.push(SUBJECT);
    k.extend_from_slice(subject.as_bytes());
    k.push(0);
    k
}

pub fn subject(subject: &str, seq: u64) -> Vec<u8> {
    let mut k = subject_prefix(subject);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The sequence number at the end of an event, checkpoint or subject key.
pub fn trailing_u64(key: &[u8]) -> Option<u64> {
    let tail: [u8; 8] = key.get(key.len().checked_sub(8)?..)?.try_into().ok()?;
    Some(u64::from_be_bytes(tail))
}

/// The head record: tree size, root and the last recorded-at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub size: u64,
    pub root: [u8; 32],
    pub last_recorded_at_us: i64,
}

impl Head {
    pub const LEN: usize = 8 + 32 + 8;

    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut v = [0u8; Self::LEN];
        v[..8].copy_from_slice(&self.size.to_le_bytes());
        v[8..40].copy_from_slice(&self.root);
        v[40..].copy_from_slice(&self.last_recorded_at_us.to_le_bytes());
        v
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != Self::LEN {
            return None;
        }
        Some(Self {
            size: u64::from_le_bytes(bytes[..8].try_into().ok()?),
            root: bytes[8..40].try_into().ok()?,
            last_recorded_at_us: i64::from_le_bytes(bytes[40..].try_into().ok()?),
        })
    }
}

/// An event record: `u32 LE envelope length || envelope || salt || payload`.
/// An erased payload leaves only the envelope (no salt, no payload).
pub fn encode_record(envelope: &[u8], salt: &[u8; 32], payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(4 + envelope.len() + 32 + payload.len());
    v.extend_from_slice(&(envelope.len() as u32).to_le_bytes());
    v.extend_from_slice(envelope);
    v.extend_from_slice(salt);
    v.extend_from_slice(payload);
    v
}

/// Splits a record into envelope bytes and, unless erased, salt and payload.
pub fn split_record(record: &[u8]) -> Option<(&[u8], Option<(&[u8; 32], &[u8])>)> {
    let len = u32::from_le_bytes(record.get(..4)?.try_into().ok()?) as usize;
    let envelope = record.get(4..4 + len)?;
    let rest = &record[4 + len..];
    if rest.is_empty() {
        return Some((envelope, None));
    }
    let salt: &[u8; 32] = rest.get(..32)?.try_into().ok()?;
    Some((envelope, Some((salt, &rest[32..]))))
}
