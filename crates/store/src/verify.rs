//! Full verification of a stored ledger: every envelope decoded and hashed, every payload
//! checked against its commitment, every stored tree node and the head recomputed, every
//! stored checkpoint's signature and root checked.
//!
//! Scanner threads decode, check and hash chunks of events (chunk i goes to scanner
//! i mod SCANNERS); the calling thread takes the chunks back in order, rebuilds the tree and
//! compares it with the stored nodes and checkpoints.

use std::collections::BTreeMap;
use std::sync::mpsc::sync_channel;

use careledger_log::envelope::EnvelopeRef;
use careledger_log::merkle::{Blake3Hasher, CompactRange, Hash, TreeHasher};
use careledger_log::{Checkpoint, NoteVerifier};

use crate::keys::{self, Head};
use crate::{hex, read_checkpoints, Events, EventsError, StoreError};

/// Events per chunk handed from a scanner to the tree builder.
const CHUNK_EVENTS: u64 = 8192;
/// Chunks in flight from each scanner.
const CHUNKS_IN_FLIGHT: usize = 4;
/// Scanner threads: decoding and hashing is most of the work, and this machine class has
/// two cores.
const SCANNERS: u64 = 2;
/// How often progress is reported, in events.
const PROGRESS_EVERY: u64 = 1 << 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub events: u64,
    pub root: Hash,
    pub checkpoints: usize,
    pub payloads_checked: u64,
    pub payloads_erased: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyFailure {
    #[error("event {seq}: {reason}")]
    Event { seq: u64, reason: String },
    #[error("tree node at level {level}, index {index} (events {first} to {last}): {reason}")]
    Node {
        level: u8,
        index: u64,
        first: u64,
        last: u64,
        reason: String,
    },
    #[error("checkpoint for {size} events: {reason}")]
    Checkpoint { size: u64, reason: String },
    #[error("head record: {0}")]
    Head(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sled::Error> for VerifyFailure {
    fn from(e: sled::Error) -> Self {
        VerifyFailure::Store(StoreError::Sled(e))
    }
}

/// One chunk of consecutive events, checked and hashed by a scanner.
struct Scanned {
    leaves: Vec<Hash>,
    /// The tree nodes stored with each event, flattened; `counts` says how many each.
    stored_nodes: Vec<Hash>,
    counts: Vec<u8>,
    first_recorded_at_us: i64,
    last_recorded_at_us: i64,
    payloads_checked: u64,
    payloads_erased: u64,
}

/// Checks and hashes events `[start, end)`.
fn scan_chunk(db: &sled::Db, start: u64, end: u64) -> Result<Scanned, VerifyFailure> {
    let events = (end - start) as usize;
    let mut chunk = Scanned {
        leaves: Vec::with_capacity(events),
        stored_nodes: Vec::with_capacity(2 * events),
        counts: Vec::with_capacity(events),
        first_recorded_at_us: i64::MIN,
        last_recorded_at_us: i64::MIN,
        payloads_checked: 0,
        payloads_erased: 0,
    };
    let fail = |seq: u64, reason: &str| VerifyFailure::Event {
        seq,
        reason: reason.to_string(),
    };
    let mut expected = start;
    let events = Events::new(db, start, end).map_err(|e| VerifyFailure::Store(e.into()))?;
    for item in events {
        let (seq, chunk_value, at) = item.map_err(|e| match e {
            EventsError::Malformed(first) => fail(
                first,
                "the stored chunk of events starting here is malformed",
            ),
            EventsError::Sled(e) => VerifyFailure::Store(e.into()),
        })?;
        if seq != expected {
            return Err(fail(expected, "is missing"));
        }
        let record = keys::split_record(&chunk_value[at])
            .ok_or_else(|| fail(seq, "stored record is truncated"))?;
        let envelope = EnvelopeRef::decode(record.envelope).map_err(|e| VerifyFailure::Event {
            seq,
            reason: format!("envelope does not decode: {e}"),
        })?;
        if envelope.seq != seq {
            return Err(VerifyFailure::Event {
                seq,
                reason: format!("envelope says sequence {}", envelope.seq),
            });
        }
        if envelope.recorded_at_us < chunk.last_recorded_at_us {
            return Err(fail(
                seq,
                "recorded-at is earlier than the previous event's",
            ));
        }
        if seq == start {
            chunk.first_recorded_at_us = envelope.recorded_at_us;
        }
        chunk.last_recorded_at_us = envelope.recorded_at_us;
        match record.payload {
            Some((salt, payload)) => {
                envelope
                    .check_payload(salt, payload)
                    .map_err(|_| fail(seq, "payload does not match the envelope's commitment"))?;
                chunk.payloads_checked += 1;
            }
            None => chunk.payloads_erased += 1,
        }
        chunk.leaves.push(Blake3Hasher::hash_leaf(record.envelope));
        chunk.stored_nodes.extend_from_slice(record.nodes);
        chunk.counts.push(record.nodes.len() as u8);
        expected += 1;
    }
    if expected != end {
        return Err(fail(expected, "is missing"));
    }
    Ok(chunk)
}

/// Scanner `part` of `parts`: chunks `part`, `part + parts`, ... in order.
fn scan_events(
    db: &sled::Db,
    size: u64,
    part: u64,
    parts: u64,
    out: std::sync::mpsc::SyncSender<Result<Scanned, VerifyFailure>>,
) {
    let chunks = size.div_ceil(CHUNK_EVENTS);
    for chunk in (part..chunks).step_by(parts as usize) {
        let start = chunk * CHUNK_EVENTS;
        let scanned = scan_chunk(db, start, (start + CHUNK_EVENTS).min(size));
        let failed = scanned.is_err();
        if out.send(scanned).is_err() || failed {
            return;
        }
    }
}

/// Compares a recomputed tree node with the one stored in the record of the event that
/// completed it.
fn check_node(
    level: u8,
    index: u64,
    hash: &Hash,
    stored: Option<&Hash>,
) -> Result<(), VerifyFailure> {
    let first = index << level;
    let last = ((index + 1) << level) - 1;
    let Some(stored) = stored else {
        return Err(VerifyFailure::Node {
            level,
            index,
            first,
            last,
            reason: format!("is missing from the record of event {last}"),
        });
    };
    if stored == hash {
        return Ok(());
    }
    Err(if level == 0 {
        VerifyFailure::Event {
            seq: index,
            reason: format!(
                "envelope hashes to {} but the stored leaf hash is {}: the envelope or its leaf was altered",
                hex(hash),
                hex(stored)
            ),
        }
    } else {
        VerifyFailure::Node {
            level,
            index,
            first,
            last,
            reason: format!(
                "stored hash {} differs from the recomputed {}",
                hex(stored),
                hex(hash)
            ),
        }
    })
}

pub(crate) fn verify(
    db: &sled::Db,
    verifier: &NoteVerifier,
    size: u64,
    mut progress: impl FnMut(u64, u64),
) -> Result<crate::VerifyReport, VerifyFailure> {
    // Checkpoints first, then the head: a checkpoint is written in the same batch as the
    // head it signs, so a checkpoint beyond the head read after it is beyond the log. One
    // beyond `size` but not the head was signed while we started: it is left for next time.
    let stored_checkpoints = read_checkpoints(db)?;
    let head = db
        .get(keys::HEAD)?
        .map(|v| Head::decode(&v).ok_or_else(|| VerifyFailure::Head("is malformed".into())))
        .transpose()?;
    let head_size = head.map_or(0, |h| h.size);
    let mut due: BTreeMap<u64, Hash> = BTreeMap::new();
    let mut checkpoints_checked = 0;
    for (key_size, note) in &stored_checkpoints {
        let checkpoint =
            Checkpoint::open(note, verifier).map_err(|e| VerifyFailure::Checkpoint {
                size: *key_size,
                reason: e.to_string(),
            })?;
        if checkpoint.size != *key_size {
            return Err(VerifyFailure::Checkpoint {
                size: *key_size,
                reason: format!(
                    "is stored under size {key_size} but signs size {}",
                    checkpoint.size
                ),
            });
        }
        if checkpoint.size > head_size.max(size) {
            return Err(VerifyFailure::Checkpoint {
                size: checkpoint.size,
                reason: format!(
                    "is beyond the end of the log ({} events)",
                    head_size.max(size)
                ),
            });
        }
        if checkpoint.size <= size {
            due.insert(checkpoint.size, checkpoint.root);
            checkpoints_checked += 1;
        }
    }

    let mut range = CompactRange::<Blake3Hasher>::new();
    let check_due = |range: &CompactRange<Blake3Hasher>| -> Result<(), VerifyFailure> {
        if let Some(root) = due.get(&range.size()) {
            if *root != range.root() {
                return Err(VerifyFailure::Checkpoint {
                    size: range.size(),
                    reason: format!(
                        "signed root {} differs from the recomputed root {}",
                        hex(root),
                        hex(&range.root())
                    ),
                });
            }
        }
        Ok(())
    };
    let (mut payloads_checked, mut payloads_erased) = (0u64, 0u64);
    std::thread::scope(|scope| -> Result<(), VerifyFailure> {
        let receivers: Vec<_> = (0..SCANNERS)
            .map(|part| {
                let (tx, rx) = sync_channel(CHUNKS_IN_FLIGHT);
                scope.spawn(move || scan_events(db, size, part, SCANNERS, tx));
                rx
            })
            .collect();
        check_due(&range)?;
        let mut next_progress = 0u64;
        let mut last_recorded_at_us = i64::MIN;
        for index in 0..size.div_ceil(CHUNK_EVENTS) {
            let chunk = receivers[(index % SCANNERS) as usize]
                .recv()
                .map_err(|_| {
                    VerifyFailure::Store(StoreError::Corrupt(
                        "a verification thread stopped".into(),
                    ))
                })??;
            if chunk.first_recorded_at_us < last_recorded_at_us {
                return Err(VerifyFailure::Event {
                    seq: index * CHUNK_EVENTS,
                    reason: "recorded-at is earlier than the previous event's".into(),
                });
            }
            last_recorded_at_us = chunk.last_recorded_at_us;
            payloads_checked += chunk.payloads_checked;
            payloads_erased += chunk.payloads_erased;
            let mut stored = chunk.stored_nodes.as_slice();
            for (leaf, &count) in chunk.leaves.into_iter().zip(&chunk.counts) {
                let (these, rest) = stored.split_at(count as usize);
                stored = rest;
                let seq = range.size();
                let mut result = Ok(());
                let mut completed = 0usize;
                range.push(leaf, |level, index, hash| {
                    completed += 1;
                    if result.is_ok() {
                        result = check_node(level, index, hash, these.get(level as usize));
                    }
                });
                result?;
                if completed != these.len() {
                    return Err(VerifyFailure::Event {
                        seq,
                        reason: format!(
                            "record holds {} tree nodes; its append completed {completed}",
                            these.len()
                        ),
                    });
                }
                check_due(&range)?;
            }
            if range.size() >= next_progress {
                progress(range.size(), size);
                next_progress = range.size() + PROGRESS_EVERY;
            }
        }
        Ok(())
    })?;
    progress(range.size(), size);
    let root = range.root();
    match head {
        // A head beyond `size` means appends went on during verification: nothing to compare.
        Some(head) if head.size < size || (head.size == size && head.root != root) => {
            return Err(VerifyFailure::Head(format!(
                "says {} events with root {}, recomputed {} events with root {}",
                head.size,
                hex(&head.root),
                size,
                hex(&root)
            )))
        }
        None if size != 0 => return Err(VerifyFailure::Head("is missing".into())),
        _ => {}
    }
    Ok(VerifyReport {
        events: size,
        root,
        checkpoints: checkpoints_checked,
        payloads_checked,
        payloads_erased,
    })
}
