//! Full verification of a ledger from its events file alone (no sled, no lock, nothing
//! written): every frame's check, every envelope decoded and hashed, every payload checked
//! against its commitment, every stored tree node recomputed, every checkpoint's signature
//! and root checked at its place in the file.
//!
//! A reader thread reads the file front to back and hands runs of about 8,192 events to
//! the scanner threads in turn, which decode, check and hash them; the calling thread
//! takes the runs back in file order, rebuilds the tree and compares it with the stored
//! nodes and checkpoints.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use careledger_log::envelope::EnvelopeRef;
use careledger_log::merkle::{Blake3Hasher, CompactRange, Hash, TreeHasher};
use careledger_log::{Checkpoint, NoteVerifier};

use crate::events_log::{self, EventsLog, Frame, FrameError, FrameKind, EVENTS_FILE};
use crate::keys;
use crate::{hex, Opened, Payloads, StoreError};

/// Events per run handed from the reader to a scanner.
const CHUNK_EVENTS: u64 = 8192;
/// Runs in flight to each scanner.
const CHUNKS_IN_FLIGHT: usize = 4;
/// Scanner threads: decoding and hashing is most of the work, and this machine class has
/// two cores.
const SCANNERS: usize = 2;
/// How often progress is reported, in events.
const PROGRESS_EVERY: u64 = 1 << 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub events: u64,
    pub root: Hash,
    pub checkpoints: usize,
    pub payloads_checked: u64,
    /// Sealed payloads not opened: the ledger was verified without its master key, so
    /// their commitments were not checked (everything else was).
    pub payloads_unread: u64,
    /// Bytes of a torn last frame after the last whole one (an interrupted write, which
    /// the next open removes); 0 for a ledger closed cleanly.
    pub torn_bytes: u64,
    /// The verifier key the ledger's events file names (and every checkpoint verified
    /// under).
    pub verifier: String,
    /// The root at each size asked for that the ledger reaches, ascending.
    pub roots: Vec<(u64, Hash)>,
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
    /// The ledger as a whole: its header, its size against what was durable before.
    #[error("{0}")]
    Ledger(String),
    /// What sled holds differs from what the events file says (`verify --derived`).
    #[error("derived state: {0}")]
    Derived(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One run of consecutive events, checked and hashed by a scanner.
pub(crate) struct Scanned {
    first: u64,
    leaves: Vec<Hash>,
    /// The tree nodes stored with each event, flattened; `counts` says how many each.
    stored_nodes: Vec<Hash>,
    counts: Vec<u8>,
    pub(crate) first_recorded_at_us: i64,
    last_recorded_at_us: i64,
    payloads_checked: u64,
    payloads_unread: u64,
}

/// Checks and hashes the events of consecutive chunk frames, the first starting at
/// event `first`.
pub(crate) fn scan_frames(
    first: u64,
    frames: &[Frame],
    payloads: &Payloads,
) -> Result<Scanned, VerifyFailure> {
    let mut chunk = Scanned {
        first,
        leaves: Vec::new(),
        stored_nodes: Vec::new(),
        counts: Vec::new(),
        first_recorded_at_us: i64::MIN,
        last_recorded_at_us: i64::MIN,
        payloads_checked: 0,
        payloads_unread: 0,
    };
    let fail = |seq: u64, reason: &str| VerifyFailure::Event {
        seq,
        reason: reason.to_string(),
    };
    for frame in frames {
        let parsed = keys::Chunk::parse(frame.first, &frame.body).ok_or_else(|| {
            fail(
                frame.first,
                "the stored chunk of events starting here is malformed",
            )
        })?;
        for seq in parsed.first..parsed.end() {
            let record = parsed
                .record(seq)
                .and_then(keys::split_record)
                .ok_or_else(|| fail(seq, "stored record is truncated"))?;
            let envelope =
                EnvelopeRef::decode(record.envelope).map_err(|e| VerifyFailure::Event {
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
            if seq == first {
                chunk.first_recorded_at_us = envelope.recorded_at_us;
            }
            chunk.last_recorded_at_us = envelope.recorded_at_us;
            let opened = payloads
                .open_for_ref(&envelope, record.tail)
                .map_err(|reason| fail(seq, &reason))?;
            match opened {
                Opened::Payload(salt, payload) => {
                    envelope.check_payload(&salt, &payload).map_err(|_| {
                        fail(seq, "payload does not match the envelope's commitment")
                    })?;
                    chunk.payloads_checked += 1;
                }
                Opened::Unread => chunk.payloads_unread += 1,
                // The format lets a payload be erased, keeping its envelope; careledger
                // has no erasure event yet, so nothing can have authorised one.
                Opened::Erased => {
                    return Err(fail(
                        seq,
                        "its payload and salt are missing, and no erasure event authorises that",
                    ))
                }
            }
            chunk.leaves.push(Blake3Hasher::hash_leaf(record.envelope));
            chunk.stored_nodes.extend_from_slice(record.nodes);
            chunk.counts.push(record.nodes.len() as u8);
        }
    }
    Ok(chunk)
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

/// What the reader hands the tree builder, in file order.
enum Item {
    /// A run of events, being scanned.
    Events(Receiver<Result<Scanned, VerifyFailure>>),
    /// A signed checkpoint, after the events it covers.
    Checkpoint {
        size: u64,
        note: Vec<u8>,
    },
    /// Reading stopped: the file ended here, with this many bytes of a torn last frame.
    End {
        torn_bytes: u64,
    },
    Failed(VerifyFailure),
}

type Work = (u64, Vec<Frame>, SyncSender<Result<Scanned, VerifyFailure>>);

/// The verifier key string the events file's header names.
pub(crate) fn verifier_of(log: &EventsLog) -> Result<NoteVerifier, VerifyFailure> {
    let header = log
        .read_at(0, None)
        .map_err(|e| VerifyFailure::Ledger(format!("{EVENTS_FILE} has no readable header: {e}")))?;
    let (named, _) = events_log::header_verifier(&header)
        .map_err(|reason| VerifyFailure::Ledger(format!("{EVENTS_FILE}: {reason}")))?;
    NoteVerifier::parse(&named).map_err(|e| {
        VerifyFailure::Ledger(format!(
            "{EVENTS_FILE} names a verifier key that does not parse: {e}"
        ))
    })
}

/// Hands runs of events to the scanners in turn, and their answers to the tree builder.
struct Dispatch<'a> {
    scanners: &'a [SyncSender<Work>],
    items: SyncSender<Item>,
    next: usize,
    run: Vec<Frame>,
    run_first: u64,
    run_events: u64,
}

impl Dispatch<'_> {
    /// Sends the run gathered so far; false once nobody listens.
    fn send_run(&mut self) -> bool {
        if self.run.is_empty() {
            return true;
        }
        let (tx, rx) = sync_channel(1);
        let work = (self.run_first, std::mem::take(&mut self.run), tx);
        self.run_events = 0;
        if self.scanners[self.next % self.scanners.len()]
            .send(work)
            .is_err()
        {
            return false;
        }
        self.next += 1;
        self.items.send(Item::Events(rx)).is_ok()
    }
}

/// The reader: frames in file order. Stops at `upto` events when given (what an open
/// store has made durable), else at the end of the file.
fn read_frames(
    log: &EventsLog,
    upto: Option<u64>,
    scanners: &[SyncSender<Work>],
    items: SyncSender<Item>,
) {
    let failed = |reason: String| Item::Failed(VerifyFailure::Store(StoreError::Corrupt(reason)));
    let mut out = Dispatch {
        scanners,
        items,
        next: 0,
        run: Vec::new(),
        run_first: 0,
        run_events: 0,
    };
    let mut frames = match log.frames_from(0) {
        Ok(frames) => frames,
        Err(e) => {
            let _ = out
                .items
                .send(failed(format!("{EVENTS_FILE} cannot be read: {e}")));
            return;
        }
    };
    let file_len = log.len().unwrap_or(0);
    let mut size = 0u64;
    // With `upto`, frames after the store's durable size may be being written right now:
    // a torn end there is a write in flight.
    let torn = |offset: u64| match upto {
        Some(_) => 0,
        None => file_len.saturating_sub(offset),
    };
    let end = loop {
        let frame = match frames.next_frame() {
            Ok(frame) => frame,
            Err(FrameError::End) => break Item::End { torn_bytes: 0 },
            Err(FrameError::Truncated) => {
                break Item::End {
                    torn_bytes: torn(frames.offset()),
                }
            }
            Err(FrameError::Bad(_)) if upto.is_some_and(|upto| size >= upto) => {
                break Item::End { torn_bytes: 0 }
            }
            Err(FrameError::Io(e)) => break failed(format!("{EVENTS_FILE} cannot be read: {e}")),
            // What opening takes for a torn end (only zeros after it) is one here too.
            Err(FrameError::Bad(_))
                if crate::recover::zeros_to_end(log, frames.offset(), file_len).unwrap_or(false) =>
            {
                break Item::End {
                    torn_bytes: torn(frames.offset()),
                }
            }
            Err(FrameError::Bad(reason)) => {
                break Item::Failed(VerifyFailure::Event {
                    seq: size,
                    reason: format!(
                        "{EVENTS_FILE} is damaged at byte {}, where the frames after event {} start: {reason}",
                        frames.offset(),
                        size as i128 - 1
                    ),
                })
            }
        };
        match frame.kind {
            FrameKind::Header if frame.offset == 0 => {}
            FrameKind::Header => {
                break failed(format!(
                    "{EVENTS_FILE} has a second header at byte {}",
                    frame.offset
                ))
            }
            FrameKind::Events if upto.is_some_and(|upto| frame.first >= upto) => {
                break Item::End { torn_bytes: 0 };
            }
            FrameKind::Events => {
                if frame.first != size {
                    break Item::Failed(VerifyFailure::Event {
                        seq: size,
                        reason: if frame.first > size {
                            "is missing".to_string()
                        } else {
                            format!("is stored again, in a chunk from event {}", frame.first)
                        },
                    });
                }
                let Some(chunk) = keys::Chunk::parse(frame.first, &frame.body) else {
                    break Item::Failed(VerifyFailure::Event {
                        seq: frame.first,
                        reason: "the stored chunk of events starting here is malformed".into(),
                    });
                };
                if out.run.is_empty() {
                    out.run_first = frame.first;
                }
                out.run_events += chunk.end() - frame.first;
                size = chunk.end();
                out.run.push(frame);
                if out.run_events >= CHUNK_EVENTS && !out.send_run() {
                    return;
                }
            }
            FrameKind::Checkpoint => {
                if !out.send_run() {
                    return;
                }
                let item = Item::Checkpoint {
                    size: frame.first,
                    note: frame.body,
                };
                if out.items.send(item).is_err() {
                    return;
                }
            }
            FrameKind::RequestKey => {
                if events_log::split_request_key(&frame.body).is_none() {
                    break failed(format!(
                        "{EVENTS_FILE}: a malformed request key at byte {}",
                        frame.offset
                    ));
                }
            }
        }
    };
    if out.send_run() {
        let _ = out.items.send(end);
    }
}

/// Verifies the events file: every frame's check, every envelope decoded and hashed,
/// every payload against its commitment, every stored tree node recomputed, every
/// checkpoint's signature and root at its place in the file. With `upto`, only the first
/// `upto` events (an open store's durable size) and the checkpoints among them.
pub(crate) fn verify(
    log: &EventsLog,
    verifier: &NoteVerifier,
    (upto, roots_at): (Option<u64>, &[u64]),
    payloads: &Payloads,
    mut progress: impl FnMut(u64, u64),
) -> Result<VerifyReport, VerifyFailure> {
    let mut wanted: Vec<u64> = roots_at.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    let mut roots = Vec::new();
    let named = verifier_of(log)?;
    if named != *verifier {
        return Err(VerifyFailure::Ledger(format!(
            "{EVENTS_FILE} belongs to another ledger (its verifier key is {named})"
        )));
    }
    let total_hint = upto.unwrap_or(0);
    let mut range = CompactRange::<Blake3Hasher>::new();
    let mut checkpoints_checked = 0usize;
    let mut payloads_checked = 0u64;
    let mut payloads_unread = 0u64;
    let mut torn_bytes = 0u64;
    std::thread::scope(|scope| -> Result<(), VerifyFailure> {
        let mut scanners = Vec::new();
        for _ in 0..SCANNERS {
            let (tx, rx) = sync_channel::<Work>(CHUNKS_IN_FLIGHT);
            scope.spawn(move || {
                while let Ok((first, frames, reply)) = rx.recv() {
                    if reply.send(scan_frames(first, &frames, payloads)).is_err() {
                        return;
                    }
                }
            });
            scanners.push(tx);
        }
        let (items_tx, items) = sync_channel(CHUNKS_IN_FLIGHT * SCANNERS);
        scope.spawn(move || read_frames(log, upto, &scanners, items_tx));
        let stopped =
            || VerifyFailure::Store(StoreError::Corrupt("a verification thread stopped".into()));
        let mut next_progress = 0u64;
        let mut last_recorded_at_us = i64::MIN;
        loop {
            match items.recv().map_err(|_| stopped())? {
                Item::Failed(failure) => return Err(failure),
                Item::End { torn_bytes: torn } => {
                    torn_bytes = torn;
                    return Ok(());
                }
                Item::Checkpoint { size, note } => {
                    // One beyond `upto` was signed after the store's size was read.
                    if upto.is_none_or(|upto| size <= upto) {
                        check_checkpoint(verifier, size, &note, &range)?;
                        checkpoints_checked += 1;
                    }
                }
                Item::Events(rx) => {
                    let chunk = rx.recv().map_err(|_| stopped())??;
                    if chunk.first_recorded_at_us < last_recorded_at_us {
                        return Err(VerifyFailure::Event {
                            seq: chunk.first,
                            reason: "recorded-at is earlier than the previous event's".into(),
                        });
                    }
                    last_recorded_at_us = chunk.last_recorded_at_us;
                    payloads_checked += chunk.payloads_checked;
                    payloads_unread += chunk.payloads_unread;
                    add_leaves(&mut range, chunk, upto, (&wanted, &mut roots))?;
                    if range.size() >= next_progress {
                        progress(range.size(), total_hint.max(range.size()));
                        next_progress = range.size() + PROGRESS_EVERY;
                    }
                }
            }
        }
    })?;
    if let Some(upto) = upto {
        if range.size() < upto {
            return Err(VerifyFailure::Event {
                seq: range.size(),
                reason: "is missing".into(),
            });
        }
    }
    progress(range.size(), range.size());
    if wanted.first() == Some(&0) {
        roots.insert(0, (0, Blake3Hasher::empty_root()));
    }
    Ok(VerifyReport {
        events: range.size(),
        root: range.root(),
        checkpoints: checkpoints_checked,
        payloads_checked,
        payloads_unread,
        torn_bytes,
        verifier: verifier.to_string(),
        roots,
    })
}

/// Extends the tree by a scanned run (up to `upto` events), comparing every node its
/// appends complete with the one stored.
pub(crate) fn add_leaves(
    range: &mut CompactRange<Blake3Hasher>,
    chunk: Scanned,
    upto: Option<u64>,
    (wanted, roots): (&[u64], &mut Vec<(u64, Hash)>),
) -> Result<(), VerifyFailure> {
    let first = range.size();
    let last = first + chunk.leaves.len() as u64;
    // The sizes asked for that this run reaches, in order.
    let mut due = wanted
        .iter()
        .copied()
        .filter(|&s| s > first && s <= last)
        .peekable();
    let mut stored = chunk.stored_nodes.as_slice();
    for (leaf, &count) in chunk.leaves.into_iter().zip(&chunk.counts) {
        let seq = range.size();
        if upto.is_some_and(|upto| seq >= upto) {
            break;
        }
        let (these, rest) = stored.split_at(count as usize);
        stored = rest;
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
        if due.peek() == Some(&range.size()) {
            due.next();
            roots.push((range.size(), range.root()));
        }
    }
    Ok(())
}

/// A checkpoint frame: its signature, the size it is stored under, and its root against
/// the tree of the events before it in the file.
pub(crate) fn check_checkpoint(
    verifier: &NoteVerifier,
    size: u64,
    note: &[u8],
    range: &CompactRange<Blake3Hasher>,
) -> Result<(), VerifyFailure> {
    let fail = |reason: String| VerifyFailure::Checkpoint { size, reason };
    let note = std::str::from_utf8(note).map_err(|_| fail("is not UTF-8".into()))?;
    let checkpoint = Checkpoint::open(note, verifier).map_err(|e| fail(e.to_string()))?;
    if checkpoint.size != size {
        return Err(fail(format!(
            "is stored for size {size} but signs size {}",
            checkpoint.size
        )));
    }
    if size != range.size() {
        return Err(fail(format!(
            "is stored after event {} but signs {size} events",
            range.size() as i128 - 1
        )));
    }
    if checkpoint.root != range.root() {
        return Err(fail(format!(
            "signed root {} differs from the recomputed root {}",
            hex(&checkpoint.root),
            hex(&range.root())
        )));
    }
    Ok(())
}
