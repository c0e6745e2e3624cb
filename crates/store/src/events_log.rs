//! The events file, `events.log`: the ledger's record of truth.
//!
//! Every event record, every signed checkpoint and every request key is appended here by
//! the appender, as a checksummed frame, and an append is acknowledged once this file is
//! synced (`fdatasync`). sled holds only what can be rebuilt from this file: where each
//! chunk of events lies in it (`o` keys), the subject index, the projections, the request
//! keys and the checkpoints by size. So a fault inside sled (a full disk at the wrong
//! moment, a damaged segment, a hang) can cost at most a rebuild, never an acknowledged
//! event; and a file careledger writes itself, front to back, is one whose failures we
//! can reason about: a crash or a failed write leaves at most a torn last frame, which
//! opening removes.
//!
//! ```text
//! frame := length:u32 LE (of body) | kind:u8 | first:u64 LE | body | check:16
//! check := the first 16 bytes of BLAKE3(length | kind | first | body)
//! ```
//!
//! The first frame is the header (kind 0, first 0), whose body is `HEADER_TEXT`, a
//! newline and the ledger's verifier key string. Then, in the order the appender wrote
//! them: chunks of events (kind 1, first = the first event's sequence number, body = a
//! chunk as in [`crate::keys::ChunkBuilder`]), checkpoints (kind 2, first = tree size,
//! body = the signed note) and request keys (kind 3, body = key length:u16 LE, key, record
//! as in [`crate::request_keys::KeyRecord`]).

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::StoreError;

/// Name of the events file inside a ledger's data directory.
pub const EVENTS_FILE: &str = "events.log";
/// First line of the header frame's body in a plain ledger (payloads in clear, from before
/// encryption at rest).
pub const HEADER_TEXT: &str = "careledger events v1";
/// First line of the header frame's body in a sealed ledger ([`crate::payloads`]).
pub const HEADER_SEALED: &str = "careledger events v2";
/// Bytes before a frame's body.
pub const FRAME_HEAD: usize = 4 + 1 + 8;
/// Bytes after a frame's body.
pub const FRAME_CHECK: usize = 16;
/// Longest body a reader accepts: a chunk is at most 64 events, or 32 KiB of records
/// plus one event of at most 64 KiB of payload; anything near this is damage.
pub const FRAME_BODY_MAX: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    Header = 0,
    Events = 1,
    Checkpoint = 2,
    RequestKey = 3,
}

impl FrameKind {
    fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            0 => Self::Header,
            1 => Self::Events,
            2 => Self::Checkpoint,
            3 => Self::RequestKey,
            _ => return None,
        })
    }
}

fn check(head_and_body: &[u8]) -> [u8; FRAME_CHECK] {
    let hash = blake3::hash(head_and_body);
    hash.as_bytes()[..FRAME_CHECK]
        .try_into()
        .expect("16 of 32 bytes")
}

/// Appends one frame to `out`; returns its length.
pub fn encode_frame(out: &mut Vec<u8>, kind: FrameKind, first: u64, body: &[u8]) -> usize {
    let start = out.len();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.push(kind as u8);
    out.extend_from_slice(&first.to_le_bytes());
    out.extend_from_slice(body);
    let sum = check(&out[start..]);
    out.extend_from_slice(&sum);
    out.len() - start
}

/// One frame read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub kind: FrameKind,
    pub first: u64,
    pub body: Vec<u8>,
    /// Where it starts in the file, and its whole length.
    pub offset: u64,
    pub len: u32,
}

/// Why a frame could not be read at some offset.
#[derive(Debug)]
pub enum FrameError {
    /// The file ends inside the frame (or right at its start, for a sequential reader:
    /// [`FrameError::End`]).
    Truncated,
    /// A clean end: no bytes at all at this offset.
    End,
    /// The frame is whole but wrong: its check, kind or length.
    Bad(String),
    Io(io::Error),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Truncated => write!(f, "the file ends inside a frame"),
            FrameError::End => write!(f, "the file ends"),
            FrameError::Bad(reason) => write!(f, "{reason}"),
            FrameError::Io(e) => write!(f, "{e}"),
        }
    }
}

fn parse_head(head: &[u8; FRAME_HEAD]) -> Result<(usize, FrameKind, u64), FrameError> {
    let len = u32::from_le_bytes(head[..4].try_into().expect("4 bytes")) as usize;
    let kind = FrameKind::from_u8(head[4])
        .ok_or_else(|| FrameError::Bad(format!("unknown frame kind {}", head[4])))?;
    let first = u64::from_le_bytes(head[5..13].try_into().expect("8 bytes"));
    if len > FRAME_BODY_MAX {
        return Err(FrameError::Bad(format!(
            "a frame says its body is {len} bytes (at most {FRAME_BODY_MAX})"
        )));
    }
    Ok((len, kind, first))
}

/// Checks a whole frame's bytes (head, body, check) and splits it.
fn finish_frame(bytes: Vec<u8>, offset: u64) -> Result<Frame, FrameError> {
    let head: &[u8; FRAME_HEAD] = bytes[..FRAME_HEAD].try_into().expect("head");
    let (len, kind, first) = parse_head(head)?;
    debug_assert_eq!(bytes.len(), FRAME_HEAD + len + FRAME_CHECK);
    let (covered, sum) = bytes.split_at(FRAME_HEAD + len);
    if check(covered) != sum {
        return Err(FrameError::Bad(format!(
            "the frame at byte {offset} fails its check"
        )));
    }
    let total = bytes.len() as u32;
    let mut body = bytes;
    body.truncate(FRAME_HEAD + len);
    body.drain(..FRAME_HEAD);
    Ok(Frame {
        kind,
        first,
        body,
        offset,
        len: total,
    })
}

/// The events file as the store reads it: positional reads, safe from many threads. It
/// may also be a window of another file (a backup holds an events file inside it).
pub struct EventsLog {
    file: File,
    path: PathBuf,
    /// Where the events file starts in `file`, and its length if it is a window.
    base: u64,
    window: Option<u64>,
}

impl EventsLog {
    pub fn open_read(dir: &Path) -> io::Result<Self> {
        let path = dir.join(EVENTS_FILE);
        Ok(Self {
            file: File::open(&path)?,
            path,
            base: 0,
            window: None,
        })
    }

    pub(crate) fn open_write(dir: &Path) -> io::Result<Self> {
        let path = dir.join(EVENTS_FILE);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)?;
        Ok(Self {
            file,
            path,
            base: 0,
            window: None,
        })
    }

    /// The `len` bytes of `path` from `base` on, read as an events file.
    pub(crate) fn window(path: &Path, base: u64, len: u64) -> io::Result<Self> {
        Ok(Self {
            file: File::open(path)?,
            path: path.to_path_buf(),
            base,
            window: Some(len),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// The file's length in bytes (a ledger's file always holds its header).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> io::Result<u64> {
        match self.window {
            Some(len) => Ok(len),
            None => Ok(self.file.metadata()?.len()),
        }
    }

    /// Reads `buf` at `offset` of the events file (within the window, if one).
    pub(crate) fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<(), FrameError> {
        if let Some(len) = self.window {
            if offset.saturating_add(buf.len() as u64) > len {
                return Err(FrameError::Truncated);
            }
        }
        read_exact_at(&self.file, buf, self.base + offset)
    }

    /// The frame at `offset`, whose whole length is `len` when known.
    pub fn read_at(&self, offset: u64, len: Option<u32>) -> Result<Frame, FrameError> {
        let total = match len {
            Some(len) => len as usize,
            None => {
                let mut head = [0u8; FRAME_HEAD];
                self.read_exact_at(&mut head, offset)?;
                FRAME_HEAD + parse_head(&head)?.0 + FRAME_CHECK
            }
        };
        let whole = FRAME_HEAD + FRAME_CHECK..=FRAME_HEAD + FRAME_BODY_MAX + FRAME_CHECK;
        if !whole.contains(&total) {
            return Err(FrameError::Bad(format!(
                "a frame of {total} bytes is recorded at byte {offset}"
            )));
        }
        let mut bytes = vec![0u8; total];
        self.read_exact_at(&mut bytes, offset)?;
        let head: &[u8; FRAME_HEAD] = bytes[..FRAME_HEAD].try_into().expect("head");
        let (body_len, _, _) = parse_head(head)?;
        if FRAME_HEAD + body_len + FRAME_CHECK != total {
            return Err(FrameError::Bad(format!(
                "the frame at byte {offset} is not the {total} bytes recorded for it"
            )));
        }
        finish_frame(bytes, offset)
    }

    /// The chunk of events stored in the frame at `offset`, checked to be a chunk starting
    /// at `first`.
    pub(crate) fn read_chunk(
        &self,
        first: u64,
        offset: u64,
        len: u32,
    ) -> Result<Arc<[u8]>, StoreError> {
        let frame = self.read_at(offset, Some(len)).map_err(|e| {
            StoreError::Corrupt(format!(
                "event {first}: the chunk of events starting here cannot be read from {}: {e}",
                EVENTS_FILE
            ))
        })?;
        if frame.kind != FrameKind::Events || frame.first != first {
            return Err(StoreError::Corrupt(format!(
                "event {first}: {} holds another frame where its chunk should be",
                EVENTS_FILE
            )));
        }
        Ok(Arc::from(frame.body))
    }

    /// Frames in order from `offset`, read through a buffer (bounded memory).
    pub fn frames_from(&self, offset: u64) -> io::Result<Frames> {
        let mut file = self.file.try_clone()?;
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(self.base + offset))?;
        let limit = match self.window {
            Some(len) => len.saturating_sub(offset),
            None => u64::MAX,
        };
        Ok(Frames {
            reader: io::BufReader::with_capacity(1 << 20, file.take(limit)),
            offset,
        })
    }
}

fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> Result<(), FrameError> {
    file.read_exact_at(buf, offset).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            FrameError::Truncated
        } else {
            FrameError::Io(e)
        }
    })
}

/// Frames read one after another. Each item is the frame or why reading stopped at
/// [`Frames::offset`]; after an error the iterator is not to be used again.
pub struct Frames {
    reader: io::BufReader<io::Take<File>>,
    offset: u64,
}

impl Frames {
    /// Where the next frame starts (after an error: where the bad one starts).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn next_frame(&mut self) -> Result<Frame, FrameError> {
        let mut head = [0u8; FRAME_HEAD];
        let got = read_full(&mut self.reader, &mut head)?;
        if got == 0 {
            return Err(FrameError::End);
        }
        if got < FRAME_HEAD {
            return Err(FrameError::Truncated);
        }
        let (len, _, _) = parse_head(&head)?;
        let mut bytes = vec![0u8; FRAME_HEAD + len + FRAME_CHECK];
        bytes[..FRAME_HEAD].copy_from_slice(&head);
        let got = read_full(&mut self.reader, &mut bytes[FRAME_HEAD..])?;
        if got < len + FRAME_CHECK {
            return Err(FrameError::Truncated);
        }
        let frame = finish_frame(bytes, self.offset)?;
        self.offset += u64::from(frame.len);
        Ok(frame)
    }
}

/// Reads until `buf` is full or the file ends; the count read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> Result<usize, FrameError> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(FrameError::Io(e)),
        }
    }
    Ok(got)
}

/// Splits `bytes`, which must be whole frames one after another, into frames; `base` is
/// where the first of them lies in the events file (the offsets the frames get). Bytes
/// that end inside a frame, or a frame that fails its check, are an error naming the
/// offset.
pub fn parse_frames(bytes: &[u8], base: u64) -> Result<Vec<Frame>, String> {
    let mut frames = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        let offset = base + at as u64;
        let head: &[u8; FRAME_HEAD] = bytes
            .get(at..at + FRAME_HEAD)
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| format!("the bytes end inside the frame at byte {offset}"))?;
        let (len, _, _) =
            parse_head(head).map_err(|e| format!("the frame at byte {offset}: {e}"))?;
        let whole = FRAME_HEAD + len + FRAME_CHECK;
        let frame_bytes = bytes
            .get(at..at + whole)
            .ok_or_else(|| format!("the bytes end inside the frame at byte {offset}"))?;
        frames.push(finish_frame(frame_bytes.to_vec(), offset).map_err(|e| e.to_string())?);
        at += whole;
    }
    Ok(frames)
}

/// The header frame's body for a ledger with this verifier key.
pub fn header_body(verifier: &str, sealed: bool) -> Vec<u8> {
    let first = if sealed { HEADER_SEALED } else { HEADER_TEXT };
    format!("{first}\n{verifier}").into_bytes()
}

/// The verifier key string a header frame names and whether the ledger is sealed, or what
/// is wrong with it.
pub fn header_verifier(frame: &Frame) -> Result<(String, bool), String> {
    if frame.kind != FrameKind::Header || frame.offset != 0 {
        return Err("it does not start with a careledger header".into());
    }
    let text = std::str::from_utf8(&frame.body).map_err(|_| "its header is not UTF-8")?;
    let (first, verifier) = text
        .split_once('\n')
        .ok_or("its header names no verifier key")?;
    let sealed = match first {
        HEADER_TEXT => false,
        HEADER_SEALED => true,
        _ => {
            return Err(format!(
                "its header says {first:?}, not {HEADER_SEALED:?} (or {HEADER_TEXT:?})"
            ))
        }
    };
    Ok((verifier.to_string(), sealed))
}

/// A request key frame's body.
pub fn request_key_body(key: &[u8], record: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(2 + key.len() + record.len());
    body.extend_from_slice(&(key.len() as u16).to_le_bytes());
    body.extend_from_slice(key);
    body.extend_from_slice(record);
    body
}

/// A request key frame's key and record.
pub fn split_request_key(body: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u16::from_le_bytes(body.get(..2)?.try_into().ok()?) as usize;
    let key = body.get(2..2 + len)?;
    Some((key, &body[2 + len..]))
}

/// Creates the events file of a new ledger, holding only its header, durably.
pub(crate) fn create(dir: &Path, verifier: &str, sealed: bool) -> io::Result<()> {
    use std::io::Write;
    let path = dir.join(EVENTS_FILE);
    let mut bytes = Vec::new();
    encode_frame(
        &mut bytes,
        FrameKind::Header,
        0,
        &header_body(verifier, sealed),
    );
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    file.write_all(&bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_any_flipped_bit_fails_the_check() {
        let mut bytes = Vec::new();
        let a = encode_frame(&mut bytes, FrameKind::Events, 7, b"chunk bytes");
        encode_frame(&mut bytes, FrameKind::Checkpoint, 9, b"note");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(EVENTS_FILE), &bytes).unwrap();
        let log = EventsLog::open_read(dir.path()).unwrap();
        let first = log.read_at(0, None).unwrap();
        assert_eq!((first.kind, first.first), (FrameKind::Events, 7));
        assert_eq!(first.body, b"chunk bytes");
        let mut frames = log.frames_from(0).unwrap();
        assert_eq!(frames.next_frame().unwrap(), first);
        let second = frames.next_frame().unwrap();
        assert_eq!(
            (second.offset, second.body.as_slice()),
            (a as u64, &b"note"[..])
        );
        assert!(matches!(frames.next_frame(), Err(FrameError::End)));
        for bit in 0..(a * 8) {
            let mut bad = bytes.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            std::fs::write(dir.path().join(EVENTS_FILE), &bad).unwrap();
            let log = EventsLog::open_read(dir.path()).unwrap();
            assert!(
                log.read_at(0, Some(a as u32)).is_err(),
                "bit {bit} flipped went unnoticed"
            );
        }
        // Cut anywhere inside the second frame: the reader says truncated, not bad.
        for cut in a + 1..bytes.len() {
            std::fs::write(dir.path().join(EVENTS_FILE), &bytes[..cut]).unwrap();
            let log = EventsLog::open_read(dir.path()).unwrap();
            let mut frames = log.frames_from(0).unwrap();
            frames.next_frame().unwrap();
            assert!(
                matches!(frames.next_frame(), Err(FrameError::Truncated)),
                "cut {cut}"
            );
        }
    }
}
