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
use crate::request_keys::Keys;
use crate::{hex, StoreError, StoredNodes};

/// Frames put back into sled per batch.
const FRAMES_PER_BATCH: usize = 4096;
/// How far past a bad frame opening looks for a whole one (which would make the bad frame
/// damage in the middle of the file, not a torn end).
const RESYNC_BYTES_MAX: u64 = 16 * 1024 * 1024;

/// What opening found.
pub(crate) struct Recovered {
    pub(crate) head: Head,
    /// Where the next frame goes.
    pub(crate) log_end: u64,
    /// Bytes of a torn last frame removed.
    pub(crate) torn_bytes: u64,
}

/// Why sled must start afresh.
pub(crate) enum Recovery {
    Done(Recovered),
    /// sled says it reflects more of the file than the file holds, or what it says does
    /// not read back: it is ahead of the file (a machine crash after sled wrote and before
    /// the file's frames reached the disk), so it is rebuilt.
    SledAhead(String),
}

fn damaged(reason: String) -> StoreError {
    StoreError::Corrupt(reason)
}

/// Checks the header, scans the frames after sled's mark into sled, removes a torn end
/// (with `truncate`), and returns the head of the log.
pub(crate) fn recover(
    db: &sled::Db,
    log: &EventsLog,
    verifier: &NoteVerifier,
    (truncate, keys_keep_us): (bool, i64),
) -> Result<Recovery, StoreError> {
    let file_len = log.len().map_err(|e| io(log, e))?;
    let header = log.read_at(0, None).map_err(|e| match e {
        FrameError::Io(e) => io(log, e),
        other => damaged(format!("{EVENTS_FILE} has no readable header: {other}")),
    })?;
    let named = events_log::header_verifier(&header)
        .map_err(|reason| damaged(format!("{EVENTS_FILE}: {reason}")))?;
    if named != verifier.to_string() {
        return Err(damaged(format!(
            "{EVENTS_FILE} belongs to another ledger (its verifier key is {named})"
        )));
    }
    let header_end = u64::from(header.len);
    let logged = match db.get(keys::LOGGED)? {
        None => Logged {
            offset: header_end,
            size: 0,
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
    let mut frames = log.frames_from(logged.offset).map_err(|e| io(log, e))?;
    let mut size = logged.size;
    let mut batch = sled::Batch::default();
    let mut in_batch = 0usize;
    let mut key_count = Keys::load(db).map_err(StoreError::Corrupt)?.count;
    let mut keys = KeysPutBack {
        seen: HashSet::new(),
        latest_us: i64::MIN,
        keep_us: keys_keep_us,
    };
    let end = loop {
        let frame = match frames.next_frame() {
            Ok(frame) => frame,
            Err(FrameError::End) => break frames.offset(),
            Err(FrameError::Io(e)) => return Err(io(log, e)),
            Err(FrameError::Truncated) => break frames.offset(),
            Err(FrameError::Bad(reason)) => {
                let at = frames.offset();
                if whole_frame_after(log, at, file_len) {
                    return Err(damaged(format!(
                        "{EVENTS_FILE}: {reason}, and whole frames follow it"
                    )));
                }
                break at;
            }
        };
        size = put_back(db, &mut batch, &frame, size, &mut key_count, &mut keys)?;
        in_batch += 1;
        if in_batch == FRAMES_PER_BATCH {
            finish_batch(db, &mut batch, frames.offset(), size, key_count)?;
            in_batch = 0;
        }
    };
    finish_batch(db, &mut batch, end, size, key_count)?;
    let torn_bytes = file_len - end;
    if torn_bytes > 0 && truncate {
        tracing::warn!(
            file = %log.path().display(),
            bytes = torn_bytes,
            events = size,
            "removed a torn last frame (an interrupted write) from the events file"
        );
        log.file().set_len(end).map_err(|e| io(log, e))?;
    }
    if truncate {
        // After a crash the file may hold frames that were written but never synced: make
        // them durable before serving any of them.
        log.file().sync_data().map_err(|e| io(log, e))?;
    }
    let head = head_of(db, log, size)?;
    check_latest_checkpoint(db, log, verifier, &head)?;
    Ok(Recovery::Done(Recovered {
        head,
        log_end: end,
        torn_bytes,
    }))
}

fn io(log: &EventsLog, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: log.path().to_path_buf(),
        source,
    }
}

/// Whether a whole frame starts anywhere in the `RESYNC_BYTES_MAX` bytes after a bad one
/// at `at` (a bad frame followed by good ones is damage, not an interrupted write).
pub(crate) fn whole_frame_after(log: &EventsLog, at: u64, file_len: u64) -> bool {
    let stop = file_len.min(at.saturating_add(RESYNC_BYTES_MAX));
    let mut window = vec![0u8; (stop - at) as usize];
    if std::os::unix::fs::FileExt::read_exact_at(log.file(), &mut window, at).is_err() {
        return false;
    }
    (1..window.len()).any(|start| events_log::is_whole_frame(&window[start..]))
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
            let recorded_at_us = crate::request_keys::KeyRecord::decode(record)
                .map_err(|e| at(&e))?
                .recorded_at_us;
            if recorded_at_us < keys.latest_us.saturating_sub(keys.keep_us) {
                return Ok(size);
            }
            let new = Keys::restore(db, batch, key, record).map_err(|e| at(&e))?;
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
    offset: u64,
    size: u64,
    key_count: u64,
) -> Result<(), StoreError> {
    let mut done = std::mem::take(batch);
    done.insert(keys::LOGGED, &Logged { offset, size }.encode()[..]);
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
