//! Key layout of the one sled tree that holds a ledger.
//!
//! Everything lives in sled's default tree so that one `apply_batch` is atomic across
//! events, tree nodes, indexes, checkpoints and the head record. Integers in keys are
//! big-endian so that byte order is numeric order.
//!
//! | key                                   | value                                            |
//! |---------------------------------------|--------------------------------------------------|
//! | `e` first seq:u64                     | a chunk of consecutive event records (below)     |
//! | `s` subject 0x00 first:u64            | posting chunk: up to 64 seqs of the subject, u64 LE |
//! | `c` size:u64                          | signed checkpoint note (UTF-8)                   |
//! | `mhead`                               | size:u64 LE, root:32, last recorded_at:i64 LE    |
//! | `morigin`                             | the log's origin (UTF-8)                         |
//! | `mverifier`                           | the verifier key string (UTF-8)                  |
//! | `mformat`                             | store layout version:u8                          |
//! | `mindexed`                            | events covered by the subject index: u64 LE      |
//! | `p` projection key                    | the projection's value for that key (opaque)     |
//! | `mprojected`                          | events the stored projection reflects: u64 LE    |
//! | `k` request key, `t` expiry, `mkeys`  | request keys (see [`crate::request_keys`])       |
//!
//! The first byte of a key says what it is, and no two kinds share one: `e`, `s`, `c`,
//! `m`, `p`, `k`, `t`. The projection's keys are its own (see [`crate::projection`]); they are
//! written with the events in the same batches, and only the `p` prefix is the store's.

pub const EVENT: u8 = b'e';
pub const SUBJECT: u8 = b's';
pub const CHECKPOINT: u8 = b'c';
pub const HEAD: &[u8] = b"mhead";
pub const ORIGIN: &[u8] = b"morigin";
pub const VERIFIER: &[u8] = b"mverifier";
pub const FORMAT: &[u8] = b"mformat";
pub const INDEXED: &[u8] = b"mindexed";
pub const PROJECTION: u8 = b'p';
pub const PROJECTED: &[u8] = b"mprojected";
pub const REQUEST_KEY: u8 = b'k';
pub const REQUEST_KEY_EXPIRY: u8 = b't';
pub const REQUEST_KEYS: &[u8] = b"mkeys";
/// Version of this key layout.
pub const STORE_FORMAT: u8 = 1;

/// A chunk closes at this many events...
pub const CHUNK_EVENTS_MAX: usize = 64;
/// ...or once its records reach this many bytes, well below the size at which sled moves
/// a value to a separate blob file.
pub const CHUNK_BYTES_TARGET: usize = 32 * 1024;

/// Key of the chunk whose first event is `seq`.
pub fn event(seq: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = EVENT;
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// The leaf whose append completed the perfect node at (`level`, `index`): the last leaf
/// under it. That leaf's record holds the node's hash at position `level`.
pub fn completing_leaf(level: u8, index: u64) -> u64 {
    ((index + 1) << level) - 1
}

/// How many perfect nodes the append of leaf `seq` completes (levels 0 ..= trailing ones).
pub fn nodes_completed_by(seq: u64) -> usize {
    seq.trailing_ones() as usize + 1
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

/// Sled key of the projection's `key`.
pub fn projection(key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 1);
    k.push(PROJECTION);
    k.extend_from_slice(key);
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

/// Builds one chunk: `u16 LE count || count x u32 LE record end offset || records`.
///
/// The appender packs the events of a batch into chunks so that one sled insert carries
/// up to [`CHUNK_EVENTS_MAX`] events: per-insert work is most of sled's cost.
pub struct ChunkBuilder {
    first: u64,
    ends: Vec<u32>,
    records: Vec<u8>,
}

impl ChunkBuilder {
    pub fn new(first: u64) -> Self {
        Self {
            first,
            ends: Vec::with_capacity(CHUNK_EVENTS_MAX),
            records: Vec::with_capacity(CHUNK_BYTES_TARGET),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.ends.len() >= CHUNK_EVENTS_MAX || self.records.len() >= CHUNK_BYTES_TARGET
    }

    /// Appends the record of the next event (see [`Record`]).
    pub fn push(&mut self, envelope: &[u8], nodes: &[[u8; 32]], salt: &[u8; 32], payload: &[u8]) {
        encode_record_into(&mut self.records, envelope, nodes, salt, payload);
        self.ends.push(self.records.len() as u32);
    }

    /// The chunk's key and value.
    pub fn finish(self) -> ([u8; 9], Vec<u8>) {
        let mut value = Vec::with_capacity(2 + 4 * self.ends.len() + self.records.len());
        value.extend_from_slice(&(self.ends.len() as u16).to_le_bytes());
        for end in &self.ends {
            value.extend_from_slice(&end.to_le_bytes());
        }
        value.extend_from_slice(&self.records);
        (event(self.first), value)
    }
}

/// A stored chunk, parsed in place.
#[derive(Debug, Clone, Copy)]
pub struct Chunk<'a> {
    pub first: u64,
    count: usize,
    value: &'a [u8],
}

impl<'a> Chunk<'a> {
    /// Parses a chunk stored under `key`; `None` if it is malformed.
    pub fn parse(key: &[u8], value: &'a [u8]) -> Option<Self> {
        let first = trailing_u64(key)?;
        let count = u16::from_le_bytes(value.get(..2)?.try_into().ok()?) as usize;
        let records = value.len().checked_sub(2 + 4 * count)?;
        if count == 0 || count > CHUNK_EVENTS_MAX {
            return None;
        }
        let chunk = Self {
            first,
            count,
            value,
        };
        // Ends must rise and the last must close the value exactly.
        let mut previous = 0;
        for i in 0..count {
            let end = chunk.end_offset(i);
            if end < previous {
                return None;
            }
            previous = end;
        }
        (previous == records).then_some(chunk)
    }

    fn end_offset(&self, i: usize) -> usize {
        let at = 2 + 4 * i;
        u32::from_le_bytes(self.value[at..at + 4].try_into().expect("4 bytes")) as usize
    }

    /// One past the last sequence number in the chunk.
    pub fn end(&self) -> u64 {
        self.first + self.count as u64
    }

    /// Where the record of event `seq` lies in the chunk's value.
    pub fn record_range(&self, seq: u64) -> Option<std::ops::Range<usize>> {
        if seq < self.first || seq >= self.end() {
            return None;
        }
        let i = (seq - self.first) as usize;
        let base = 2 + 4 * self.count;
        let start = if i == 0 { 0 } else { self.end_offset(i - 1) };
        Some(base + start..base + self.end_offset(i))
    }

    pub fn record(&self, seq: u64) -> Option<&'a [u8]> {
        self.record_range(seq).map(|r| &self.value[r])
    }
}

/// What [`locate`] found for a sequence number.
pub enum Located {
    /// The chunk's key and value, and the record's place in the value.
    Found(sled::IVec, sled::IVec, std::ops::Range<usize>),
    /// No stored chunk holds it.
    Missing,
    /// The chunk that should hold it, starting at this event, does not parse.
    Malformed(u64),
}

impl Located {
    /// The found record, or an error naming the event.
    pub fn found(
        self,
        seq: u64,
    ) -> Result<(sled::IVec, sled::IVec, std::ops::Range<usize>), crate::StoreError> {
        match self {
            Located::Found(key, value, at) => Ok((key, value, at)),
            Located::Missing => Err(crate::StoreError::Corrupt(format!(
                "event {seq} is missing"
            ))),
            Located::Malformed(first) => Err(crate::StoreError::Corrupt(format!(
                "event {seq}: the stored chunk of events from {first} is malformed"
            ))),
        }
    }
}

/// The stored chunk holding event `seq`: the last chunk starting at or before it.
pub fn locate(db: &sled::Db, seq: u64) -> Result<Located, sled::Error> {
    let Some((key, value)) = db.range(event(0)..=event(seq)).next_back().transpose()? else {
        return Ok(Located::Missing);
    };
    Ok(match Chunk::parse(&key, &value) {
        None => Located::Malformed(trailing_u64(&key).unwrap_or(0)),
        Some(chunk) => match chunk.record_range(seq) {
            Some(at) => Located::Found(key, value, at),
            None => Located::Missing,
        },
    })
}

/// An event record:
/// `u32 LE envelope length || envelope || u8 node count || node hashes || salt || payload`.
///
/// The node hashes are those of the perfect subtrees this event's append completed, level 0
/// (its leaf hash) upwards, so that the event and its tree nodes are read together.
/// An erased payload leaves no salt and no payload.
pub struct Record<'a> {
    pub envelope: &'a [u8],
    pub nodes: &'a [[u8; 32]],
    pub payload: Option<(&'a [u8; 32], &'a [u8])>,
}

fn encode_record_into(
    v: &mut Vec<u8>,
    envelope: &[u8],
    nodes: &[[u8; 32]],
    salt: &[u8; 32],
    payload: &[u8],
) {
    v.extend_from_slice(&(envelope.len() as u32).to_le_bytes());
    v.extend_from_slice(envelope);
    v.push(nodes.len() as u8);
    for node in nodes {
        v.extend_from_slice(node);
    }
    v.extend_from_slice(salt);
    v.extend_from_slice(payload);
}

/// Splits a record into its parts; `None` if it is truncated.
pub fn split_record(record: &[u8]) -> Option<Record<'_>> {
    let len = u32::from_le_bytes(record.get(..4)?.try_into().ok()?) as usize;
    let envelope = record.get(4..4 + len)?;
    let count = *record.get(4 + len)? as usize;
    let nodes_start = 4 + len + 1;
    let nodes_bytes = record.get(nodes_start..nodes_start + 32 * count)?;
    let (nodes, rest) = nodes_bytes.as_chunks::<32>();
    debug_assert!(rest.is_empty());
    let rest = &record[nodes_start + 32 * count..];
    let payload = if rest.is_empty() {
        None
    } else {
        let salt: &[u8; 32] = rest.get(..32)?.try_into().ok()?;
        Some((salt, &rest[32..]))
    };
    Some(Record {
        envelope,
        nodes,
        payload,
    })
}

/// Offset of node `level`'s hash inside a record, for tests that alter it.
pub fn node_offset(record: &[u8], level: u8) -> Option<usize> {
    let len = u32::from_le_bytes(record.get(..4)?.try_into().ok()?) as usize;
    let count = *record.get(4 + len)?;
    (level < count).then_some(4 + len + 1 + 32 * level as usize)
}
