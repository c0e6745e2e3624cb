//! Opening: bringing sled in line with the events file.
//!
//! sled reflects the events file up to its `mlogged` mark. Opening reads the frames after
//! it, puts what they say back into sled (chunk locations, checkpoints, request keys),
//! removes a torn last frame (what a crash in the middle of a write leaves), and makes
//! the file durable before anything is served. When sled cannot reflect the file (it is
//! ahead of it, after a machine crash, or its own files are damaged), the caller starts
//! sled afresh and this runs from the first frame: sled is derived, so nothing is lost.

use std::collections::HashSet;

use careledger_log::envelope::EnvelopeRef;
use careledger_log::merkle::{self, Blake3Hasher, CompactRange, TreeHasher};
use careledger_log::{Checkpoint, NoteVerifier};

use crate::events_log::{self, EventsLog, Frame, FrameError, FrameKind, EVENTS_FILE};
use crate::keys::{self, ChunkAt, Head, Logged};
use crate::mark::Mark;
use crate::request_keys::Keys;
use crate::{hex, StoreError, StoredNodes};

/// Frames put back into sled per batch. Small: sled keeps every node version a batch
/// makes until the batch ends, so a rebuild's memory grows with the batch (at 4,096 frames
/// a rebuild of 2.5 million events peaked at 146 MB, at 256 at 75 MB).
const FRAMES_PER_BATCH: usize = 256;

/// What opening found.
pub(crate) struct Recovered {
    pub(crate) head: Head,
    /// Where the whole frames end: where the next frame goes.
    pub(crate) log_end: u64,
    /// Bytes of a torn end after them (an interrupted write), still in the file: the
    /// caller removes them once every check has passed.
    pub(crate) torn_bytes: u64,
}

/// Why sled must start afresh.
pub(crate) enum Recovery {
    Done(Recovered),
    /// sled says it reflects more of the file than the file holds, or what it says does
    /// not read back: it is ahead of the file, or damaged, so it is rebuilt. Nothing has
    /// been changed.
    SledAhead(String),
}

fn damaged(reason: String) -> StoreError {
    StoreError::Corrupt(reason)
}

/// Where the whole frames of the events file end.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tail {
    pub(crate) end: u64,
    /// Events up to `end`.
    pub(crate) size: u64,
    pub(crate) torn_bytes: u64,
}

/// Whether the file holds nothing but zero bytes from `at` to `file_len`: blocks a power
/// cut left unwritten after the file grew.
pub(crate) fn zeros_to_end(log: &EventsLog, at: u64, file_len: u64) -> Result<bool, StoreError> {
    let mut buf = vec![0u8; 1 << 16];
    let mut offset = at;
    while offset < file_len {
        let n = buf.len().min((file_len - offset) as usize);
        match log.read_exact_at(&mut buf[..n], offset) {
            Ok(()) => {}
            Err(FrameError::Io(e)) => return Err(io(log, e)),
            Err(_) => return Ok(false),
        }
        if buf[..n].iter().any(|b| *b != 0) {
            return Ok(false);
        }
        offset += n as u64;
    }
    Ok(true)
}

/// How a frame that does not read ends the file: `Ok(torn bytes)` for a torn end (the
/// file ends inside the frame, as a crash or a full disk in the middle of a write leaves
/// it, or only zero bytes follow, as a power cut can leave it), `Err` for damage (a whole
/// frame that fails its check, with something other than zeros after it).
pub(crate) fn end_of_frames(
    log: &EventsLog,
    at: u64,
    stop: FrameError,
    file_len: u64,
) -> Result<u64, StoreError> {
    match stop {
        FrameError::End => Ok(0),
        FrameError::Truncated => Ok(file_len.saturating_sub(at)),
        FrameError::Io(e) => Err(io(log, e)),
        FrameError::Bad(reason) => {
            if zeros_to_end(log, at, file_len)? {
                Ok(file_len - at)
            } else {
                Err(damaged(format!(
                    "{EVENTS_FILE}: {reason}, and it is not an interrupted write at the end of the file"
                )))
            }
        }
    }
}

/// Reads the frames from `offset` (event `size` next) to the end, checking each, without
/// changing anything: where the whole frames end, and whether a torn end follows.
pub(crate) fn scan_tail(log: &EventsLog, offset: u64, size: u64) -> Result<Tail, StoreError> {
    let file_len = log.len().map_err(|e| io(log, e))?;
    let mut frames = log.frames_from(offset).map_err(|e| io(log, e))?;
    let mut size = size;
    loop {
        let frame = match frames.next_frame() {
            Ok(frame) => frame,
            Err(stop) => {
                let end = frames.offset();
                let torn_bytes = end_of_frames(log, end, stop, file_len)?;
                return Ok(Tail {
                    end,
                    size,
                    torn_bytes,
                });
            }
        };
        let at = |what: &str| {
            damaged(format!(
                "{EVENTS_FILE}, frame at byte {}: {what}",
                frame.offset
            ))
        };
        match frame.kind {
            FrameKind::Header => return Err(at("a second header")),
            FrameKind::Events => {
                if frame.first != size {
                    return Err(at(&format!(
                        "a chunk from event {} where event {size} comes next",
                        frame.first
                    )));
                }
                size = keys::Chunk::parse(frame.first, &frame.body)
                    .ok_or_else(|| at("a malformed chunk of events"))?
                    .end();
            }
            FrameKind::Checkpoint if frame.first > size => {
                return Err(at(&format!(
                    "a checkpoint for {} events after only {size}",
                    frame.first
                )))
            }
            FrameKind::Checkpoint => {}
            FrameKind::RequestKey => {
                events_log::split_request_key(&frame.body)
                    .ok_or_else(|| at("a malformed request key"))?;
            }
        }
    }
}

/// An events file that ends before what was durable at the last clean close is damaged.
pub(crate) fn check_tail_against_mark(tail: &Tail, mark: Option<&Mark>) -> Result<(), StoreError> {
    let Some(mark) = mark else { return Ok(()) };
    if let Some(bytes) = mark.bytes {
        if tail.end < bytes {
            return Err(damaged(format!(
                "its whole frames end at byte {} of {EVENTS_FILE}, but {bytes} bytes were durable when it was last closed",
                tail.end
            )));
        }
    }
    if tail.size < mark.size {
        return Err(damaged(format!(
            "it holds {} events, but {} were durable when it was last closed",
            tail.size, mark.size
        )));
    }
    Ok(())
}

/// Checks the header, reads the frames after sled's mark (checking them against the
/// durable mark before anything is changed), puts what they say back into sled, and
/// returns the head of the log. A torn end is left for the caller to remove.
pub(crate) fn recover(
    db: &sled::Db,
    log: &EventsLog,
    verifier: &NoteVerifier,
    (mark, keys_keep_us): (Option<&Mark>, i64),
) -> Result<Recovery, StoreError> {
    let file_len = log.len().map_err(|e| io(log, e))?;
    let header_end = check_header(log, verifier)?;
    let logged = match db.get(keys::LOGGED)? {
        None => Logged {
            offset: header_end,
            size: 0,
            batch_start: header_end,
        },
        Some(v) => match Logged::decode(&v) {
            Some(l) => l,
            None => return Ok(Recovery::SledAhead("its mark is malformed".into())),
        },
    };
    if logged.offset > file_len || logged.offset < header_end {
        return Ok(Recovery::SledAhead(format!(
            "it reflects {} bytes of {EVENTS_FILE}, which holds {file_len}",
            logged.offset
        )));
    }
    // What sled says it holds must read back: its last chunk, whole and in place.
    if logged.size > 0 {
        let readable = keys::locate(db, log, logged.size - 1)
            .ok()
            .and_then(|l| l.found(logged.size - 1).ok())
            .is_some();
        if !readable {
            return Ok(Recovery::SledAhead(format!(
                "its last chunk (event {}) does not read back from {EVENTS_FILE}",
                logged.size - 1
            )));
        }
    }
    // The frames of the last batch sled reflects must read back whole, ending where it
    // says: after a machine crash, sled may describe frames that never reached the disk.
    if logged.batch_start < logged.offset {
        let mut frames = log
            .frames_from(logged.batch_start)
            .map_err(|e| io(log, e))?;
        while frames.offset() < logged.offset {
            if frames.next_frame().is_err() {
                return Ok(Recovery::SledAhead(format!(
                    "the frames it reflects at byte {} do not read back from {EVENTS_FILE}",
                    frames.offset()
                )));
            }
        }
        if frames.offset() != logged.offset {
            return Ok(Recovery::SledAhead(format!(
                "its last batch does not end at byte {} of {EVENTS_FILE}",
                logged.offset
            )));
        }
    }
    let tail = scan_tail(log, logged.offset, logged.size)?;
    check_tail_against_mark(&tail, mark)?;
    let mut frames = log.frames_from(logged.offset).map_err(|e| io(log, e))?;
    let mut size = logged.size;
    let mut batch = sled::Batch::default();
    let mut in_batch = 0usize;
    let mut batch_start = frames.offset();
    let mut key_count = Keys::load(db).map_err(StoreError::Corrupt)?.count;
    let mut keys = KeysPutBack {
        seen: HashSet::new(),
        latest_us: i64::MIN,
        keep_us: keys_keep_us,
    };
    while frames.offset() < tail.end {
        let frame = frames.next_frame().map_err(|e| {
            damaged(format!(
                "{EVENTS_FILE} changed while it was read, at byte {}: {e}",
                frames.offset()
            ))
        })?;
        size = put_back(db, &mut batch, &frame, size, &mut key_count, &mut keys)?;
        in_batch += 1;
        if in_batch == FRAMES_PER_BATCH {
            let logged = Logged {
                offset: frames.offset(),
                size,
                batch_start,
            };
            finish_batch(db, &mut batch, logged, key_count)?;
            batch_start = frames.offset();
            in_batch = 0;
        }
    }
    if in_batch > 0 {
        let logged = Logged {
            offset: tail.end,
            size,
            batch_start,
        };
        finish_batch(db, &mut batch, logged, key_count)?;
    }
    let head = head_of(db, log, size)?;
    check_latest_checkpoint(db, log, verifier, &head)?;
    Ok(Recovery::Done(Recovered {
        head,
        log_end: tail.end,
        torn_bytes: tail.torn_bytes,
    }))
}

/// The header must name this ledger's verifier key; returns where the first frame after
/// it starts.
pub(crate) fn check_header(log: &EventsLog, verifier: &NoteVerifier) -> Result<u64, StoreError> {
    let header = log.read_at(0, None).map_err(|e| match e {
        FrameError::Io(e) => io(log, e),
        other => damaged(format!("{EVENTS_FILE} has no readable header: {other}")),
    })?;
    let (named, _) = events_log::header_verifier(&header)
        .map_err(|reason| damaged(format!("{EVENTS_FILE}: {reason}")))?;
    if named != verifier.to_string() {
        return Err(damaged(format!(
            "{EVENTS_FILE} belongs to another ledger (its verifier key is {named})"
        )));
    }
    Ok(u64::from(header.len))
}

/// Removes a torn end and makes the file durable before anything of it is served (after a
/// crash it may hold frames that were written but never synced).
pub(crate) fn settle(log: &EventsLog, recovered: &Recovered) -> Result<(), StoreError> {
    if recovered.torn_bytes > 0 {
        tracing::warn!(
            file = %log.path().display(),
            bytes = recovered.torn_bytes,
            events = recovered.head.size,
            "removed a torn end (an interrupted write) from the events file"
        );
        log.file()
            .set_len(recovered.log_end)
            .map_err(|e| io(log, e))?;
    }
    log.file().sync_data().map_err(|e| io(log, e))
}

fn io(log: &EventsLog, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: log.path().to_path_buf(),
        source,
    }
}

/// What putting request keys back needs to know: the keys put back so far, the latest
/// recorded-at of the events read so far, and how long keys are kept. A key's frame
/// follows the events it answers, and recorded-at never decreases, so a key older than
/// the latest recorded-at by more than the keep time has expired: it is not put back (a
/// rebuild of a long history would otherwise bring back every key it ever held).
struct KeysPutBack {
    seen: HashSet<Vec<u8>>,
    latest_us: i64,
    keep_us: i64,
}

/// Puts one frame's content back into sled's batch; returns the log's size after it.
fn put_back(
    db: &sled::Db,
    batch: &mut sled::Batch,
    frame: &Frame,
    size: u64,
    key_count: &mut u64,
    keys: &mut KeysPutBack,
) -> Result<u64, StoreError> {
    let at = |what: &str| {
        damaged(format!(
            "{EVENTS_FILE}, frame at byte {}: {what}",
            frame.offset
        ))
    };
    match frame.kind {
        FrameKind::Header => Err(at("a second header")),
        FrameKind::Events => {
            if frame.first != size {
                return Err(at(&format!(
                    "a chunk from event {} where event {size} comes next",
                    frame.first
                )));
            }
            let chunk = keys::Chunk::parse(frame.first, &frame.body)
                .ok_or_else(|| at("a malformed chunk of events"))?;
            // The chunk's last recorded-at, for the request keys that follow it.
            if let Some(envelope) = chunk
                .record(chunk.end() - 1)
                .and_then(keys::split_record)
                .and_then(|r| EnvelopeRef::decode(r.envelope).ok())
            {
                keys.latest_us = keys.latest_us.max(envelope.recorded_at_us);
            }
            batch.insert(
                &keys::chunk_at(frame.first),
                &ChunkAt {
                    offset: frame.offset,
                    len: frame.len,
                }
                .encode()[..],
            );
            Ok(chunk.end())
        }
        FrameKind::Checkpoint => {
            if frame.first > size {
                return Err(at(&format!(
                    "a checkpoint for {} events after only {size}",
                    frame.first
                )));
            }
            batch.insert(&keys::checkpoint(frame.first), frame.body.as_slice());
            Ok(size)
        }
        FrameKind::RequestKey => {
            let (key, record) = events_log::split_request_key(&frame.body)
                .ok_or_else(|| at("a malformed request key"))?;
            let decoded = crate::request_keys::KeyRecord::decode(record).map_err(|e| at(&e))?;
            if decoded.recorded_at_us < keys.latest_us.saturating_sub(keys.keep_us) {
                return Ok(size);
            }
            // A key answers events before it in the file; one naming events the file does
            // not hold answers nothing.
            if decoded.receipts.iter().any(|r| r.seq >= size) {
                return Ok(size);
            }
            let new = Keys::restore(db, batch, key, (record, decoded.recorded_at_us))?;
            if new && keys.seen.insert(key.to_vec()) {
                *key_count += 1;
            }
            Ok(size)
        }
    }
}

fn finish_batch(
    db: &sled::Db,
    batch: &mut sled::Batch,
    logged: Logged,
    key_count: u64,
) -> Result<(), StoreError> {
    let mut done = std::mem::take(batch);
    done.insert(keys::LOGGED, &logged.encode()[..]);
    done.insert(keys::REQUEST_KEYS, &key_count.to_le_bytes()[..]);
    db.apply_batch(done)?;
    Ok(())
}

/// The head of a log of `size` events: the root from the stored nodes, the last
/// recorded-at from the last event.
pub(crate) fn head_of(db: &sled::Db, log: &EventsLog, size: u64) -> Result<Head, StoreError> {
    if size == 0 {
        return Ok(Head {
            size,
            root: <Blake3Hasher as TreeHasher>::empty_root(),
            last_recorded_at_us: i64::MIN,
        });
    }
    let range = CompactRange::<Blake3Hasher>::from_source(&StoredNodes::new(db, log, None), size)?;
    let (_, chunk, at) = keys::locate(db, log, size - 1)?.found(size - 1)?;
    let record = keys::split_record(&chunk[at])
        .ok_or_else(|| damaged(format!("event {}: record is truncated", size - 1)))?;
    let envelope = EnvelopeRef::decode(record.envelope)
        .map_err(|e| damaged(format!("event {}: {e}", size - 1)))?;
    Ok(Head {
        size,
        root: range.root(),
        last_recorded_at_us: envelope.recorded_at_us,
    })
}

/// The latest signed checkpoint must verify and agree with the stored tree.
fn check_latest_checkpoint(
    db: &sled::Db,
    log: &EventsLog,
    verifier: &NoteVerifier,
    head: &Head,
) -> Result<(), StoreError> {
    let Some(kv) = db.scan_prefix([keys::CHECKPOINT]).next_back() else {
        return Ok(());
    };
    let (k, v) = kv?;
    let key_size = keys::trailing_u64(&k).unwrap_or(u64::MAX);
    let note = std::str::from_utf8(&v)
        .map_err(|_| damaged("the latest checkpoint is not UTF-8".into()))?;
    let checkpoint = Checkpoint::open(note, verifier).map_err(|e| {
        damaged(format!(
            "the latest checkpoint (size {key_size}) does not verify: {e}"
        ))
    })?;
    if checkpoint.size != key_size {
        return Err(damaged(format!(
            "the checkpoint stored under size {key_size} is for size {}",
            checkpoint.size
        )));
    }
    if checkpoint.size > head.size {
        return Err(damaged(format!(
            "the latest signed checkpoint is for {} events but the log holds only {}",
            checkpoint.size, head.size
        )));
    }
    let root = merkle::root::<Blake3Hasher, _>(&StoredNodes::new(db, log, None), checkpoint.size)?;
    if root != checkpoint.root {
        return Err(damaged(format!(
            "the stored tree's root for {} events ({}) differs from the signed checkpoint's root ({})",
            checkpoint.size,
            hex(&root),
            hex(&checkpoint.root)
        )));
    }
    Ok(())
}
