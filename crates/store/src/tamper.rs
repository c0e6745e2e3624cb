//! Reaching under a closed ledger, for tests that play an attacker or a failing disk:
//! reading and rewriting the events file frame by frame. An attacker who rewrites a
//! frame can recompute its check (it is a checksum against torn writes, not a signature),
//! so [`write_frames`] does; what must catch them is verification, the start-up check and
//! checkpoints kept elsewhere. Not for use on a ledger that is open.

use std::io;
use std::path::Path;

use crate::events_log::{encode_frame, EventsLog, FrameError, FrameKind, EVENTS_FILE};
use crate::keys;

/// One frame of the events file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFrame {
    pub kind: FrameKind,
    pub first: u64,
    pub body: Vec<u8>,
}

/// Every whole frame of the events file at `dir`, in order.
pub fn read_frames(dir: &Path) -> io::Result<Vec<RawFrame>> {
    let log = EventsLog::open_read(dir)?;
    let mut frames = log.frames_from(0)?;
    let mut out = Vec::new();
    loop {
        match frames.next_frame() {
            Ok(f) => out.push(RawFrame {
                kind: f.kind,
                first: f.first,
                body: f.body,
            }),
            Err(FrameError::End) | Err(FrameError::Truncated) => return Ok(out),
            Err(FrameError::Io(e)) => return Err(e),
            Err(e) => return Err(io::Error::other(e.to_string())),
        }
    }
}

/// Rewrites the events file at `dir` as `frames`, each with a fresh check, and removes
/// sled's folder, which is derived from the file (the next open rebuilds it).
pub fn write_frames(dir: &Path, frames: &[RawFrame]) -> io::Result<()> {
    let mut bytes = Vec::new();
    for f in frames {
        encode_frame(&mut bytes, f.kind, f.first, &f.body);
    }
    std::fs::write(dir.join(EVENTS_FILE), bytes)?;
    match std::fs::remove_dir_all(dir.join(crate::SLED_DIR)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The frame holding event `seq`'s record, and where the record lies in its body.
pub fn record_of(frames: &[RawFrame], seq: u64) -> Option<(usize, std::ops::Range<usize>)> {
    frames.iter().enumerate().find_map(|(i, f)| {
        if f.kind != FrameKind::Events {
            return None;
        }
        let range = keys::Chunk::parse(f.first, &f.body)?.record_range(seq)?;
        Some((i, range))
    })
}

/// Changes event `seq`'s stored record in the closed ledger at `dir` with `alter`
/// (which may change its length), keeping every frame's check valid.
pub fn alter_record(dir: &Path, seq: u64, alter: impl FnOnce(&mut Vec<u8>)) -> io::Result<()> {
    let mut frames = read_frames(dir)?;
    let (i, _) = record_of(&frames, seq)
        .ok_or_else(|| io::Error::other(format!("event {seq} is not in {EVENTS_FILE}")))?;
    let chunk = keys::Chunk::parse(frames[i].first, &frames[i].body).expect("parsed above");
    let mut records: Vec<Vec<u8>> = (chunk.first..chunk.end())
        .map(|s| chunk.record(s).expect("in the chunk").to_vec())
        .collect();
    alter(&mut records[(seq - chunk.first) as usize]);
    frames[i].body = keys::chunk_bytes(&records);
    write_frames(dir, &frames)
}

/// Changes event `seq`'s stored record in place, under a running store, as a bug or a
/// stray writer would: same length, and the frame's check recomputed so that the change
/// reaches whatever reads the record.
pub fn alter_record_live(
    store: &crate::Store,
    seq: u64,
    alter: impl FnOnce(&mut [u8]),
) -> Result<(), crate::StoreError> {
    use std::os::unix::fs::FileExt;
    let (first, at) = keys::chunk_location(store.raw_db(), seq)?.ok_or_else(|| {
        crate::StoreError::NoSuchEvent {
            seq,
            size: store.size(),
        }
    })?;
    let log = EventsLog::open_write(store.dir()).map_err(|source| crate::StoreError::Io {
        path: store.dir().join(EVENTS_FILE),
        source,
    })?;
    let body = log.read_chunk(first, at.offset, at.len)?.to_vec();
    let mut body = body;
    let range = keys::Chunk::parse(first, &body)
        .and_then(|c| c.record_range(seq))
        .ok_or_else(|| crate::StoreError::Corrupt(format!("event {seq} is not in its chunk")))?;
    alter(&mut body[range]);
    let mut frame = Vec::new();
    encode_frame(&mut frame, FrameKind::Events, first, &body);
    log.file()
        .write_all_at(&frame, at.offset)
        .map_err(|source| crate::StoreError::Io {
            path: store.dir().join(EVENTS_FILE),
            source,
        })
}

/// Changes event `seq`'s stored payload in place, under a running store, with `alter`
/// (same length): in a sealed ledger the payload is opened, changed and sealed again under
/// its key, as a bug that wrote bad bytes through the write path would leave it. The
/// commitment is not changed.
pub fn alter_payload_live(
    store: &crate::Store,
    seq: u64,
    alter: impl FnOnce(&mut [u8]),
) -> Result<(), crate::StoreError> {
    let payloads = store.payloads().clone();
    let mut failed = None;
    alter_record_live(store, seq, |record| {
        let (envelope_len, tail_at) = {
            let parts = keys::split_record(record).expect("a stored record");
            (parts.envelope.len(), record.len() - parts.tail.len())
        };
        let envelope = careledger_log::envelope::Envelope::decode(&record[4..4 + envelope_len])
            .expect("a stored envelope");
        let tail = record[tail_at..].to_vec();
        let Some(keyring) = payloads.keyring() else {
            alter(&mut record[tail_at + 32..]);
            return;
        };
        let opened = payloads.open(
            (
                &envelope.payload_commitment,
                &envelope.kind,
                envelope.subject.as_deref(),
            ),
            &tail,
        );
        let Ok(crate::Opened::Payload(salt, mut payload)) = opened else {
            failed = Some(format!("event {seq}'s payload does not open"));
            return;
        };
        alter(&mut payload);
        let owner = payloads
            .tail_owner(envelope.subject.as_deref(), &tail)
            .expect("opened");
        let nonce: [u8; crate::seal::NONCE_LEN] = tail[1..25].try_into().expect("24 bytes");
        let key = keyring.key(&owner).expect("opened with it");
        let sealed = crate::payloads::seal_tail(
            (owner.tag(), &key),
            (&envelope.payload_commitment, &envelope.kind),
            &nonce,
            &salt,
            &payload,
        );
        record[tail_at..].copy_from_slice(&sealed);
    })?;
    match failed {
        Some(reason) => Err(crate::StoreError::Corrupt(reason)),
        None => Ok(()),
    }
}

/// Copies the folder `from` to `to`, recursively (as `verify --derived` copies sled's).
pub fn copy_dir(from: &Path, to: &Path) -> io::Result<()> {
    crate::verify_derived::copy_dir(from, to)
}
