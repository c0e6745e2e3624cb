//! Full verification of a stored ledger: every envelope decoded and hashed, every payload
//! checked against its commitment, every stored tree node and the head recomputed, every
//! stored checkpoint's signature and root checked.
//!
//! Two threads share the work: one scans and hashes events, the other rebuilds the tree and
//! compares it with the stored nodes.

use std::collections::BTreeMap;
use std::sync::mpsc::sync_channel;

use careledger_log::envelope::Envelope;
use careledger_log::merkle::{Blake3Hasher, CompactRange, Hash, TreeHasher};
use careledger_log::{Checkpoint, NoteVerifier};

use crate::keys::{self, Head};
use crate::{hex, read_checkpoints, StoreError};

/// Events per message between the two verification threads.
const CHUNK_EVENTS: usize = 8192;
/// Chunks in flight between them.
const CHUNKS_IN_FLIGHT: usize = 8;
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

struct Scanned {
    leaves: Vec<Hash>,
    /// The tree nodes stored with each event, flattened; `counts` says how many each.
    stored_nodes: Vec<Hash>,
    counts: Vec<u8>,
    payloads_checked: u64,
    payloads_erased: u64,
}

/// Scans events in order, checking each one and hashing its leaf.
fn scan_events(
    db: &sled::Db,
    size: u64,
    out: std::sync::mpsc::SyncSender<Result<Scanned, VerifyFailure>>,
) {
    let mut expected = 0u64;
    let mut last_recorded_at_us = i64::MIN;
    let mut chunk = Scanned {
        leaves: Vec::with_capacity(CHUNK_EVENTS),
        stored_nodes: Vec::with_capacity(2 * CHUNK_EVENTS),
        counts: Vec::with_capacity(CHUNK_EVENTS),
        payloads_checked: 0,
        payloads_erased: 0,
    };
    let fail = |seq: u64, reason: String| Err(VerifyFailure::Event { seq, reason });
    for kv in db.range(keys::event(0)..keys::event(size)) {
        let result = (|| {
            let (k, v) = kv?;
            let seq = keys::trailing_u64(&k).unwrap_or(u64::MAX);
            if seq != expected {
                return fail(expected, "is missing".into());
            }
            let Some(record) = keys::split_record(&v) else {
                return fail(seq, "stored record is truncated".into());
            };
            let (bytes, payload) = (record.envelope, record.payload);
            let envelope = match Envelope::decode(bytes) {
                Ok(e) => e,
                Err(e) => return fail(seq, format!("envelope does not decode: {e}")),
            };
            if envelope.seq != seq {
                return fail(seq, format!("envelope says sequence {}", envelope.seq));
            }
            if envelope.recorded_at_us < last_recorded_at_us {
                return fail(
                    seq,
                    "recorded-at is earlier than the previous event's".into(),
                );
            }
            last_recorded_at_us = envelope.recorded_at_us;
            match payload {
                Some((salt, payload)) => {
                    if envelope.check_payload(salt, payload).is_err() {
                        return fail(
                            seq,
                            "payload does not match the envelope's commitment".into(),
                        );
                    }
                    chunk.payloads_checked += 1;
                }
                None => chunk.payloads_erased += 1,
            }
            chunk.leaves.push(Blake3Hasher::hash_leaf(bytes));
            chunk.stored_nodes.extend_from_slice(record.nodes);
            chunk.counts.push(record.nodes.len() as u8);
            Ok(())
        })();
        if let Err(e) = result {
            let _ = out.send(Err(e));
            return;
        }
        expected += 1;
        if chunk.leaves.len() == CHUNK_EVENTS {
            let full = std::mem::replace(
                &mut chunk,
                Scanned {
                    leaves: Vec::with_capacity(CHUNK_EVENTS),
                    stored_nodes: Vec::with_capacity(2 * CHUNK_EVENTS),
                    counts: Vec::with_capacity(CHUNK_EVENTS),
                    payloads_checked: 0,
                    payloads_erased: 0,
                },
            );
            if out.send(Ok(full)).is_err() {
                return;
            }
        }
    }
    if expected != size {
        let _ = out.send(Err(VerifyFailure::Event {
            seq: expected,
            reason: "is missing".into(),
        }));
        return;
    }
    let _ = out.send(Ok(chunk));
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
    // Every checkpoint must carry a good signature and be for a size the log has reached.
    let mut due: BTreeMap<u64, Hash> = BTreeMap::new();
    let stored_checkpoints = read_checkpoints(db)?;
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
        if checkpoint.size > size {
            return Err(VerifyFailure::Checkpoint {
                size: checkpoint.size,
                reason: format!("is beyond the end of the log ({size} events)"),
            });
        }
        due.insert(checkpoint.size, checkpoint.root);
    }
    let head = db
        .get(keys::HEAD)?
        .map(|v| Head::decode(&v).ok_or_else(|| VerifyFailure::Head("is malformed".into())))
        .transpose()?;

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
        let (tx, rx) = sync_channel(CHUNKS_IN_FLIGHT);
        scope.spawn(move || scan_events(db, size, tx));
        check_due(&range)?;
        let mut next_progress = 0u64;
        for chunk in rx {
            let chunk = chunk?;
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
        checkpoints: stored_checkpoints.len(),
        payloads_checked,
        payloads_erased,
    })
}
