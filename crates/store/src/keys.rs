//! Key layout of the sled tree beside the events file, and the chunks of event records.
//!
//! The events file ([`crate::events_log`]) is the record of truth; everything in sled is
//! derived from it and rebuilt from it when sled is behind, ahead or damaged. Everything
//! lives in sled's default tree so that one `apply_batch` is atomic across chunk
//! locations, indexes, checkpoints and marks. Integers in keys are big-endian so that byte
//! order is numeric order.
//!
//! | key                                   | value                                            |
//! |---------------------------------------|--------------------------------------------------|
//! | `o` first seq:u64                     | where the chunk of events from `first` lies in the events file: offset:u64 LE, length:u32 LE |
//! | `s` subject 0x00 first:u64            | posting chunk: up to 64 ascending seqs of the subject, as LEB128 varints: the first, then each one's distance from the one before less one ([`posting_value`]) |
//! | `c` size:u64                          | signed checkpoint note (UTF-8)                   |
//! | `mlogged`                             | what sled reflects of the events file: its length:u64 LE, events:u64 LE |
//! | `morigin`                             | the log's origin (UTF-8)                         |
//! | `mverifier`                           | the verifier key string (UTF-8)                  |
//! | `mformat`                             | store layout version:u8                          |
//! | `mindexed`                            | events covered by the subject index: u64 LE      |
//! | `p` projection key                    | the projection's value for that key (opaque)     |
//! | `mprojected`                          | events the stored projection reflects: u64 LE    |
//! | `k` request key, `t` expiry, `mkeys`  | request keys (see [`crate::request_keys`])       |
//!
//! The first byte of a key says what it is, and no two kinds share one: `o`, `s`, `c`,
//! `m`, `p`, `k`, `t`. The projection's keys are its own (see [`crate::projection`]); they are
//! written with the events in the same batches, and only the `p` prefix is the store's.

pub const CHUNK_AT: u8 = b'o';
pub const SUBJECT: u8 = b's';
pub const CHECKPOINT: u8 = b'c';
pub const LOGGED: &[u8] = b"mlogged";
pub const ORIGIN: &[u8] = b"morigin";
pub const VERIFIER: &[u8] = b"mverifier";
pub const FORMAT: &[u8] = b"mformat";
pub const INDEXED: &[u8] = b"mindexed";
pub const PROJECTION: u8 = b'p';
pub const PROJECTED: &[u8] = b"mprojected";
pub const REQUEST_KEY: u8 = b'k';
pub const REQUEST_KEY_EXPIRY: u8 = b't';
pub const REQUEST_KEYS: &[u8] = b"mkeys";
/// Version of this layout: 2 keeps the records in the events file (1 kept them in sled);
/// 3 writes posting chunks as varints (2 wrote eight bytes a seq, which made the index
/// most of what sled holds, and sled's memory grows with what it holds). A sled of layout
/// 2 is rebuilt from the events file at the next open, like any sled that is not this
/// one's.
pub const STORE_FORMAT: u8 = 3;

/// A chunk closes at this many events...
pub const CHUNK_EVENTS_MAX: usize = 64;
/// ...or once its records reach this many bytes.
pub const CHUNK_BYTES_TARGET: usize = 32 * 1024;

/// Key of the location of the chunk whose first event is `seq`.
pub fn chunk_at(seq: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = CHUNK_AT;
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// Where a chunk's frame lies in the events file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkAt {
    pub offset: u64,
    pub len: u32,
}

impl ChunkAt {
    pub fn encode(&self) -> [u8; 12] {
        let mut v = [0u8; 12];
        v[..8].copy_from_slice(&self.offset.to_le_bytes());
        v[8..].copy_from_slice(&self.len.to_le_bytes());
        v
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        Some(Self {
            offset: u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?),
            len: u32::from_le_bytes(bytes.get(8..12)?.try_into().ok()?),
        })
        .filter(|_| bytes.len() == 12)
    }
}

/// The `mlogged` mark: sled reflects the events file up to `offset` bytes, which hold
/// `size` events; the frames of the last batch it reflects start at `batch_start`
/// (opening reads them back: a sled that describes frames the file lost is ahead of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Logged {
    pub offset: u64,
    pub size: u64,
    pub batch_start: u64,
}

impl Logged {
    pub fn encode(&self) -> [u8; 24] {
        let mut v = [0u8; 24];
        v[..8].copy_from_slice(&self.offset.to_le_bytes());
        v[8..16].copy_from_slice(&self.size.to_le_bytes());
        v[16..].copy_from_slice(&self.batch_start.to_le_bytes());
        v
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        Some(Self {
            offset: u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?),
            size: u64::from_le_bytes(bytes.get(8..16)?.try_into().ok()?),
            batch_start: u64::from_le_bytes(bytes.get(16..24)?.try_into().ok()?),
        })
        .filter(|l| bytes.len() == 24 && l.batch_start <= l.offset)
    }
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

/// A posting chunk's value: ascending `seqs` as LEB128 varints, the first as it is and
/// each later one as its distance from the one before less one (a person's events are
/// usually a few thousand apart: two bytes each instead of eight).
pub fn posting_value(seqs: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(seqs.len() * 3);
    let mut next = 0u64;
    for &seq in seqs {
        push_posting(&mut out, &mut next, seq);
    }
    out
}

/// Appends `seq` to a posting value being built, `next` being the least seq it may hold
/// (0 at first; moved past `seq`).
pub fn push_posting(out: &mut Vec<u8>, next: &mut u64, seq: u64) {
    debug_assert!(seq >= *next, "posting seqs ascend");
    let mut delta = seq.saturating_sub(*next);
    *next = seq + 1;
    loop {
        let low = (delta & 0x7f) as u8;
        delta >>= 7;
        if delta == 0 {
            out.push(low);
            return;
        }
        out.push(low | 0x80);
    }
}

/// The seqs of a posting chunk's value ([`posting_value`]); a malformed value (a varint
/// cut short or too long) ends with `Err`.
pub fn posting_seqs(value: &[u8]) -> PostingSeqs<'_> {
    PostingSeqs {
        bytes: value,
        next: 0,
    }
}

/// The iterator of [`posting_seqs`].
pub struct PostingSeqs<'a> {
    bytes: &'a [u8],
    next: u64,
}

impl Iterator for PostingSeqs<'_> {
    type Item = Result<u64, String>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.bytes.is_empty() {
            return None;
        }
        let mut delta = 0u64;
        for (i, &byte) in self.bytes.iter().enumerate().take(10) {
            delta |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                self.bytes = &self.bytes[i + 1..];
                let seq = self.next.checked_add(delta);
                return Some(match seq {
                    Some(seq) => {
                        self.next = seq.saturating_add(1);
                        Ok(seq)
                    }
                    None => {
                        self.bytes = &[];
                        Err("a posting chunk's number overflows".into())
                    }
                });
            }
        }
        self.bytes = &[];
        Some(Err("a posting chunk ends inside a number".into()))
    }
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

/// The head of the log: tree size, root and the last recorded-at. Derived from the events
/// file at open and kept by the appender in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub size: u64,
    pub root: [u8; 32],
    pub last_recorded_at_us: i64,
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

    /// Appends the record of the next event (see [`Record`]), its tail given in parts.
    pub fn push(&mut self, envelope: &[u8], nodes: &[[u8; 32]], tail: &[&[u8]]) {
        encode_record_into(&mut self.records, envelope, nodes, tail);
        self.ends.push(self.records.len() as u32);
    }

    /// The chunk's first event and its bytes.
    pub fn finish(self) -> (u64, Vec<u8>) {
        let mut value = Vec::with_capacity(2 + 4 * self.ends.len() + self.records.len());
        value.extend_from_slice(&(self.ends.len() as u16).to_le_bytes());
        for end in &self.ends {
            value.extend_from_slice(&end.to_le_bytes());
        }
        value.extend_from_slice(&self.records);
        (self.first, value)
    }
}

/// A chunk's bytes holding these records, in order.
pub fn chunk_bytes(records: &[Vec<u8>]) -> Vec<u8> {
    let mut value = Vec::new();
    value.extend_from_slice(&(records.len() as u16).to_le_bytes());
    let mut end = 0u32;
    for r in records {
        end += r.len() as u32;
        value.extend_from_slice(&end.to_le_bytes());
    }
    for r in records {
        value.extend_from_slice(r);
    }
    value
}

/// A stored chunk, parsed in place.
#[derive(Debug, Clone, Copy)]
pub struct Chunk<'a> {
    pub first: u64,
    count: usize,
    value: &'a [u8],
}

impl<'a> Chunk<'a> {
    /// Parses a chunk whose first event is `first`; `None` if it is malformed.
    pub fn parse(first: u64, value: &'a [u8]) -> Option<Self> {
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

/// A chunk's first event, its bytes, and where one record lies in them.
pub type FoundRecord = (u64, std::sync::Arc<[u8]>, std::ops::Range<usize>);

/// What [`locate`] found for a sequence number.
pub enum Located {
    /// The chunk's first event and bytes, and the record's place in them.
    Found(u64, std::sync::Arc<[u8]>, std::ops::Range<usize>),
    /// No stored chunk holds it.
    Missing,
    /// The chunk that should hold it, starting at this event, does not parse.
    Malformed(u64),
}

impl Located {
    /// The found record, or an error naming the event.
    pub fn found(self, seq: u64) -> Result<FoundRecord, crate::StoreError> {
        match self {
            Located::Found(first, value, at) => Ok((first, value, at)),
            Located::Missing => Err(crate::StoreError::Corrupt(format!(
                "event {seq} is missing"
            ))),
            Located::Malformed(first) => Err(crate::StoreError::Corrupt(format!(
                "event {seq}: the stored chunk of events from {first} is malformed"
            ))),
        }
    }
}

/// The location of the chunk holding event `seq`: the last chunk starting at or before it.
pub fn chunk_location(
    db: &sled::Db,
    seq: u64,
) -> Result<Option<(u64, ChunkAt)>, crate::StoreError> {
    let Some((key, value)) = db
        .range(chunk_at(0)..=chunk_at(seq))
        .next_back()
        .transpose()?
    else {
        return Ok(None);
    };
    let first = trailing_u64(&key).unwrap_or(0);
    let at = ChunkAt::decode(&value).ok_or_else(|| {
        crate::StoreError::Corrupt(format!(
            "the location of the chunk from event {first} is malformed"
        ))
    })?;
    Ok(Some((first, at)))
}

/// The stored chunk holding event `seq`, read from the events file.
pub fn locate(
    db: &sled::Db,
    log: &crate::events_log::EventsLog,
    seq: u64,
) -> Result<Located, crate::StoreError> {
    let Some((first, at)) = chunk_location(db, seq)? else {
        return Ok(Located::Missing);
    };
    let value = log.read_chunk(first, at.offset, at.len)?;
    Ok(match Chunk::parse(first, &value) {
        None => Located::Malformed(first),
        Some(chunk) => match chunk.record_range(seq) {
            Some(range) => Located::Found(first, value.clone(), range),
            None => Located::Missing,
        },
    })
}

/// An event record:
/// `u32 LE envelope length || envelope || u8 node count || node hashes || tail`.
///
/// The node hashes are those of the perfect subtrees this event's append completed, level 0
/// (its leaf hash) upwards, so that the event and its tree nodes are read together.
/// The tail is the payload as stored ([`crate::payloads`]): in a sealed ledger, the owner's
/// tag, a nonce and the sealed salt and payload; in a plain one, salt and payload. An
/// erased payload leaves an empty tail.
pub struct Record<'a> {
    pub envelope: &'a [u8],
    pub nodes: &'a [[u8; 32]],
    pub tail: &'a [u8],
}

impl<'a> Record<'a> {
    /// Salt and payload of a plain ledger's record (`None` if erased or too short).
    pub fn plain_payload(&self) -> Option<(&'a [u8; 32], &'a [u8])> {
        let salt: &[u8; 32] = self.tail.get(..32)?.try_into().ok()?;
        Some((salt, &self.tail[32..]))
    }
}

fn encode_record_into(v: &mut Vec<u8>, envelope: &[u8], nodes: &[[u8; 32]], tail: &[&[u8]]) {
    v.extend_from_slice(&(envelope.len() as u32).to_le_bytes());
    v.extend_from_slice(envelope);
    v.push(nodes.len() as u8);
    for node in nodes {
        v.extend_from_slice(node);
    }
    for part in tail {
        v.extend_from_slice(part);
    }
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
    let tail = &record[nodes_start + 32 * count..];
    Some(Record {
        envelope,
        nodes,
        tail,
    })
}

/// Offset of node `level`'s hash inside a record, for tests that alter it.
pub fn node_offset(record: &[u8], level: u8) -> Option<usize> {
    let len = u32::from_le_bytes(record.get(..4)?.try_into().ok()?) as usize;
    let count = *record.get(4 + len)?;
    (level < count).then_some(4 + len + 1 + 32 * level as usize)
}

#[cfg(test)]
mod tests {
    use super::{posting_seqs, posting_value};

    #[test]
    fn posting_values_round_trip_and_damage_is_an_error() {
        let seqs = [3u64, 4, 200, 20_000, 20_001, 1 << 40, u64::MAX - 1];
        let value = posting_value(&seqs);
        let back: Vec<u64> = posting_seqs(&value).map(Result::unwrap).collect();
        assert_eq!(back, seqs);
        // Cut inside a number: an error, then nothing.
        let cut = &value[..value.len() - 1];
        let mut it = posting_seqs(cut);
        assert!(it.by_ref().take(6).all(|s| s.is_ok()));
        assert!(matches!(it.next(), Some(Err(_))));
        assert!(it.next().is_none());
        assert!(posting_seqs(&[0xff; 11]).next().unwrap().is_err());
    }
}
