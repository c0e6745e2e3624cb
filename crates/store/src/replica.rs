//! Replicas: a ledger folder that follows a primary, byte for byte.
//!
//! A replica's events file is a copy of a prefix of its primary's: the primary serves the
//! frames of its events file up to what is durable ([`Store::log_slice`]), and the replica
//! hands them to its own appender ([`Store::replicate`]), which checks every one before
//! anything is written: each chunk must continue the replica's own tree (its first event
//! is the next one, every stored tree node is recomputed, every payload matches its
//! commitment, recorded-at never decreases), and each checkpoint must be signed by the
//! ledger's key and have the root the replica computed for that size. Frames that are
//! whole and signed but do not continue the replica's history are a fork
//! ([`ReplicateError::Fork`]); nothing of them is written. Checked frames are written as
//! they came, synced, and applied to sled as the primary's appender applied them (chunk
//! locations, subject index, checkpoints, request keys, projections), so a replica is a
//! ledger like any other: it opens, verifies, backs up and restores the same way, and
//! its events file is byte for byte its primary's.
//!
//! A replica holds no signing key: it signs nothing, and takes no appends of its own
//! ([`crate::AppendError::Replica`]). The folder says whose replica it is in a small file,
//! `replica` (the primary's address and the ledger's verifier key). [`Store::promote`]
//! turns it into a primary, given the ledger's signing key from wherever it is kept
//! (docs/OPERATIONS.md, key custody): the key must be the one whose verifier the ledger's
//! header names, so every checkpoint before and after the promotion verifies with the
//! same key.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;

use careledger_log::{NoteSigner, NoteVerifier};

use crate::events_log::{self, FrameKind, EVENTS_FILE};
use crate::{io_err, lock_dir, AppendError, Store, StoreConfig, StoreError, KEY_FILE, SLED_DIR};

/// Name of the file that makes a ledger folder a replica.
pub const REPLICA_FILE: &str = "replica";
const HEADER: &str = "careledger replica v1";
/// Longest replica file read.
const REPLICA_BYTES_MAX: u64 = 4096;
/// Most bytes of frames one [`Store::log_slice`] returns (at least one whole frame).
pub const SLICE_BYTES_MAX: usize = 8 * 1024 * 1024;

/// Who a ledger folder is: its verifier key, and either its signing key (a primary) or
/// the primary it follows (a replica).
pub(crate) struct Identity {
    pub(crate) verifier: NoteVerifier,
    pub(crate) signer: Option<NoteSigner>,
    pub(crate) primary: Option<String>,
}

impl Identity {
    pub(crate) fn read(dir: &Path) -> Result<Self, StoreError> {
        let key_path = dir.join(KEY_FILE);
        let replica = read_replica_file(dir)?;
        match (replica, key_path.exists()) {
            (Some(replica), false) => Ok(Self {
                verifier: replica.verifier,
                signer: None,
                primary: Some(replica.primary),
            }),
            // A promotion that stopped after the key was written: the key decides.
            (replica, _) => {
                let key_text = fs::read_to_string(&key_path).map_err(io_err(&key_path))?;
                let signer = NoteSigner::parse(&key_text)?;
                if let Some(replica) = replica {
                    if replica.verifier != signer.verifier() {
                        return Err(StoreError::Corrupt(format!(
                            "{KEY_FILE} signs as {}, but the {REPLICA_FILE} file names {}",
                            signer.verifier(),
                            replica.verifier
                        )));
                    }
                }
                Ok(Self {
                    verifier: signer.verifier(),
                    signer: Some(signer),
                    primary: None,
                })
            }
        }
    }
}

struct ReplicaFile {
    primary: String,
    verifier: NoteVerifier,
}

fn read_replica_file(dir: &Path) -> Result<Option<ReplicaFile>, StoreError> {
    let path = dir.join(REPLICA_FILE);
    let file = match fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(&path)(e)),
    };
    let mut text = String::new();
    file.take(REPLICA_BYTES_MAX)
        .read_to_string(&mut text)
        .map_err(io_err(&path))?;
    let bad = || StoreError::Corrupt(format!("{REPLICA_FILE} is damaged"));
    let mut lines = text.lines();
    if lines.next() != Some(HEADER) {
        return Err(bad());
    }
    let primary = lines
        .next()
        .and_then(|l| l.strip_prefix("primary "))
        .ok_or_else(bad)?;
    let verifier = lines
        .next()
        .and_then(|l| l.strip_prefix("verifier "))
        .and_then(|v| NoteVerifier::parse(v).ok())
        .ok_or_else(bad)?;
    Ok(Some(ReplicaFile {
        primary: primary.to_string(),
        verifier,
    }))
}

/// Records that the replica at `dir` now follows `primary` (a replica may follow another
/// copy of the same ledger: the checks are the same whoever serves the frames).
pub fn set_primary(dir: &Path, primary: &str) -> Result<(), StoreError> {
    let Some(replica) = read_replica_file(dir)? else {
        return Err(StoreError::InvalidArgument(format!(
            "the ledger at {} is not a replica",
            dir.display()
        )));
    };
    if replica.primary == primary {
        return Ok(());
    }
    if primary.contains('\n') || primary.is_empty() {
        return Err(StoreError::InvalidArgument(format!(
            "{primary:?} is not a primary's address"
        )));
    }
    let text = format!(
        "{HEADER}\nprimary {primary}\nverifier {}\n",
        replica.verifier
    );
    write_atomic(dir, REPLICA_FILE, text.as_bytes(), false)
}

/// Writes `bytes` to `dir/name` whole or not at all: a new file, fsync, rename, fsync of
/// the folder.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8], private: bool) -> Result<(), StoreError> {
    let tmp = dir.join(format!("{name}.new"));
    let path = dir.join(name);
    let _ = fs::remove_file(&tmp);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(io_err(&tmp))?;
    file.write_all(bytes).map_err(io_err(&tmp))?;
    file.sync_all().map_err(io_err(&tmp))?;
    drop(file);
    fs::rename(&tmp, &path).map_err(io_err(&path))?;
    crate::barrier::sync_dir(dir).map_err(io_err(dir))
}

/// What [`Store::replicate`] did: the replica's size and events file length once the
/// frames are durable, and the size of the last checkpoint among them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replicated {
    pub size: u64,
    pub log_end: u64,
    pub checkpoint: Option<u64>,
}

/// Why frames from a primary were not taken. Nothing of them was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplicateError {
    /// Whole frames, signed by the ledger's key or continuing its numbering, that do not
    /// continue the history this replica holds: the primary's history is not the one it
    /// had. The replica must not follow it.
    #[error("the primary's history differs from this replica's: {0}")]
    Fork(String),
    /// Bytes that are not frames of this ledger (damaged in transit, or another ledger's).
    #[error("the primary sent frames this replica cannot take: {0}")]
    Invalid(String),
    /// The replica's projection could not apply an event its primary took: the two run
    /// different careledger versions. The replica takes nothing more until restarted.
    #[error("{0}")]
    Projection(String),
    #[error(transparent)]
    Append(#[from] AppendError),
}

/// Frames of a primary's events file, as [`Store::log_slice`] reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSlice {
    /// Whole frames, from `from` to `end`.
    pub bytes: Vec<u8>,
    pub from: u64,
    pub end: u64,
    /// The events file's durable length, and the number of durable events, when read.
    pub durable_bytes: u64,
    pub size: u64,
    /// A checkpoint signed for the tree at the slice's end (`None` from a replica, which
    /// has no key).
    pub checkpoint: Option<String>,
    /// In a sealed ledger, the data keys the slice's payloads are sealed with, wrapped
    /// under the master key (which primary and replica share) as `data.keys` holds them:
    /// for [`Store::take_data_keys`]. At most about [`DATA_KEYS_BYTES_MAX`].
    pub data_keys: Vec<u8>,
}

/// A slice stops taking frames once the data keys its payloads need are this many bytes
/// (it holds at least one frame; the last frame may add up to 64 keys of at most 311 bytes
/// each, so a slice's keys are at most about 68 KiB, 91 KiB in base64).
pub const DATA_KEYS_BYTES_MAX: usize = 48 * 1024;

impl Store {
    /// Makes `dir` a replica of the ledger whose events file starts with `header` (its
    /// header frame, as the primary serves it), following `primary`. With `expected`, the
    /// header must name that verifier key (trust given, not taken from the primary).
    pub fn init_replica(
        dir: &Path,
        primary: &str,
        header: &[u8],
        expected: Option<&NoteVerifier>,
        master: Option<&crate::MasterKey>,
    ) -> Result<NoteVerifier, StoreError> {
        if dir.join(SLED_DIR).exists()
            || dir.join(KEY_FILE).exists()
            || dir.join(EVENTS_FILE).exists()
        {
            return Err(StoreError::AlreadyInitialised(dir.to_path_buf()));
        }
        if primary.contains('\n') || primary.is_empty() {
            return Err(StoreError::InvalidArgument(format!(
                "{primary:?} is not a primary's address"
            )));
        }
        let frames = events_log::parse_frames(header, 0).map_err(StoreError::InvalidArgument)?;
        let [frame] = frames.as_slice() else {
            return Err(StoreError::InvalidArgument(format!(
                "a replica starts from the primary's header frame alone, not {} frames",
                frames.len()
            )));
        };
        if frame.kind != FrameKind::Header {
            return Err(StoreError::InvalidArgument(
                "the primary's events file does not start with a header".into(),
            ));
        }
        let (named, sealed) =
            events_log::header_verifier(frame).map_err(StoreError::InvalidArgument)?;
        if sealed && master.is_none() {
            return Err(StoreError::MasterKey(
                "the primary's ledger is encrypted at rest: a replica needs its master key \
                 (--master-key FILE), which primary and replica share"
                    .into(),
            ));
        }
        let verifier = NoteVerifier::parse(&named)?;
        if let Some(expected) = expected {
            if *expected != verifier {
                return Err(StoreError::InvalidArgument(format!(
                    "the primary's ledger is signed by {verifier}, not by the key given \
                     ({expected})"
                )));
            }
        }
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let _lock = lock_dir(dir)?;
        let replica = format!("{HEADER}\nprimary {primary}\nverifier {verifier}\n");
        write_atomic(dir, REPLICA_FILE, replica.as_bytes(), false)?;
        if let Some(master) = master.filter(|_| sealed) {
            // Only a key for its own derived state: the organisation's and each person's
            // come from the primary with the frames they seal.
            crate::keyring::Keyring::create(dir, master, false)?;
        }
        let events = dir.join(EVENTS_FILE);
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&events)
            .map_err(io_err(&events))?;
        file.write_all(header).map_err(io_err(&events))?;
        file.sync_all().map_err(io_err(&events))?;
        crate::barrier::sync_dir(dir).map_err(io_err(dir))?;
        let db = crate::open_db(dir, &StoreConfig::default())?;
        crate::derived_identity(&db, &verifier)?;
        db.flush()?;
        Ok(verifier)
    }

    /// Turns the replica at `dir` (which must not be open) into a primary that signs with
    /// `key` (a signing key file's text): the ledger's own key, whose verifier its header
    /// names. Returns the verifier.
    pub fn promote(dir: &Path, key: &str) -> Result<NoteVerifier, StoreError> {
        if !dir.join(EVENTS_FILE).exists() {
            return Err(StoreError::NotInitialised(dir.to_path_buf()));
        }
        let _lock = lock_dir(dir)?;
        let Some(replica) = read_replica_file(dir)? else {
            return Err(StoreError::InvalidArgument(format!(
                "the ledger at {} is not a replica: it is a primary already",
                dir.display()
            )));
        };
        let signer = NoteSigner::parse(key.trim()).map_err(|e| {
            StoreError::InvalidArgument(format!("the signing key does not parse: {e}"))
        })?;
        if signer.verifier() != replica.verifier {
            return Err(StoreError::InvalidArgument(format!(
                "the signing key signs as {}, but this ledger's checkpoints are signed by {}: \
                 a primary must sign with the ledger's own key",
                signer.verifier(),
                replica.verifier
            )));
        }
        // The key first: a promotion cut short leaves both files, and the key decides.
        let mut text = signer.private_key_string();
        text.push('\n');
        write_atomic(dir, KEY_FILE, text.as_bytes(), true)?;
        let path = dir.join(REPLICA_FILE);
        fs::remove_file(&path).map_err(io_err(&path))?;
        crate::barrier::sync_dir(dir).map_err(io_err(dir))?;
        Ok(replica.verifier)
    }

    /// Whole frames of the events file from byte `from` (a frame's start: the end of a
    /// replica's own file, whose log then has `size_at_from` events), up to what is
    /// durable and about `max_bytes` (at least one frame, at most [`SLICE_BYTES_MAX`]).
    /// Every frame is read back through its check. With them, a checkpoint signed for the
    /// tree at the slice's end (its root from the stored nodes: the one tree the appender
    /// built), so that a replica takes nothing the ledger's key has not signed.
    pub fn log_slice(
        &self,
        from: u64,
        size_at_from: u64,
        max_bytes: usize,
    ) -> Result<LogSlice, StoreError> {
        let durable_bytes = self
            .inner
            .durable_bytes
            .load(std::sync::atomic::Ordering::Acquire);
        let size = self.size();
        if from > durable_bytes {
            return Err(StoreError::InvalidArgument(format!(
                "byte {from} is beyond the events file's durable end ({durable_bytes} bytes)"
            )));
        }
        let max_bytes = max_bytes.clamp(1, SLICE_BYTES_MAX) as u64;
        let mut bytes = Vec::new();
        let mut at = from;
        let mut end_size = size_at_from;
        let mut owners = std::collections::HashSet::new();
        // The wrapped keys' bytes so far: a frame adds at most 64 owners of at most 295
        // bytes each beyond the bound.
        let mut keys_bytes = 0usize;
        while at < durable_bytes
            && (at == from || at - from < max_bytes)
            && (at == from || keys_bytes < DATA_KEYS_BYTES_MAX)
        {
            let frame = self.inner.log.read_at(at, None).map_err(|e| {
                StoreError::InvalidArgument(format!(
                    "no frame of the events file starts at byte {at}: {e}"
                ))
            })?;
            if at + u64::from(frame.len) > durable_bytes {
                break;
            }
            if at - from + u64::from(frame.len) > max_bytes && at > from {
                break;
            }
            if frame.kind == FrameKind::Events {
                let chunk =
                    crate::keys::Chunk::parse(frame.first, &frame.body).ok_or_else(|| {
                        StoreError::Corrupt(format!("the chunk at byte {at} is malformed"))
                    })?;
                end_size = chunk.end();
                if self.inner.payloads.is_sealed() {
                    for seq in chunk.first..chunk.end() {
                        let record = chunk
                            .record(seq)
                            .and_then(crate::keys::split_record)
                            .ok_or_else(|| {
                                StoreError::Corrupt(format!("event {seq}: record is truncated"))
                            })?;
                        let envelope =
                            careledger_log::envelope::EnvelopeRef::decode(record.envelope)
                                .map_err(|e| StoreError::Corrupt(format!("event {seq}: {e}")))?;
                        if let Some(owner) = self
                            .inner
                            .payloads
                            .tail_owner(envelope.subject, record.tail)
                        {
                            let name = envelope.subject.map_or(0, str::len);
                            if owners.insert(owner) {
                                keys_bytes += 4 + 3 + name + 24 + 48 + 16 + 16;
                            }
                        }
                    }
                }
            }
            events_log::encode_frame(&mut bytes, frame.kind, frame.first, &frame.body);
            at += u64::from(frame.len);
        }
        if end_size > size {
            return Err(StoreError::InvalidArgument(format!(
                "a replica at byte {from} cannot hold {size_at_from} events: this ledger \
                 has {size} durable"
            )));
        }
        let checkpoint = match &self.inner.signer {
            Some(signer) => Some(
                careledger_log::Checkpoint {
                    origin: self.inner.origin.clone(),
                    size: end_size,
                    root: self.root_at(end_size)?,
                }
                .sign(signer)?,
            ),
            None => None,
        };
        let data_keys = match self.inner.payloads.keyring() {
            Some(keyring) => keyring
                .wrapped(&owners.into_iter().collect::<Vec<_>>())
                .map_err(StoreError::Corrupt)?,
            None => Vec::new(),
        };
        Ok(LogSlice {
            bytes,
            from,
            end: at,
            durable_bytes,
            size,
            checkpoint,
            data_keys,
        })
    }

    /// Takes the data keys a primary sent with a slice ([`LogSlice::data_keys`]) that this
    /// replica lacks: in memory at once, and in its `data.keys` before the frames they
    /// seal are written. Each must unwrap under this ledger's master key.
    pub fn take_data_keys(&self, records: &[u8]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        match self.inner.payloads.keyring() {
            Some(keyring) => keyring
                .take_wrapped(records)
                .map_err(|e| StoreError::InvalidArgument(format!("the primary's data keys: {e}"))),
            None => Err(StoreError::InvalidArgument(
                "the primary sent data keys, but this ledger is not sealed".into(),
            )),
        }
    }

    /// The events file's durable length, changed each time more of it is durable: what a
    /// primary waits on before telling a replica there is nothing new.
    pub fn durable_watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.durable_watch.subscribe()
    }

    /// The events file's durable length.
    pub fn durable_bytes(&self) -> u64 {
        self.inner
            .durable_bytes
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Queues frames from the primary (whole frames, starting at this replica's events
    /// file's end) for the appender, with the checkpoint the primary signed for the tree
    /// at their end ([`Store::log_slice`]). The appender checks them all and the
    /// checkpoint against the tree they make, writes them, and answers once they are
    /// durable. Only a replica takes frames.
    pub fn submit_frames(
        &self,
        bytes: Vec<u8>,
        checkpoint: String,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<Replicated, ReplicateError>>, ReplicateError>
    {
        if self.primary().is_none() {
            return Err(ReplicateError::Invalid(
                "this ledger is a primary: it takes frames only as a replica".into(),
            ));
        }
        let (reply, receiver) = tokio::sync::oneshot::channel();
        self.send(crate::Request::Replicate {
            bytes,
            checkpoint,
            reply,
        })?;
        Ok(receiver)
    }

    /// [`Store::submit_frames`] and wait until they are durable. Not for use inside an
    /// async runtime; use [`Store::replicate_async`] there.
    pub fn replicate(
        &self,
        bytes: Vec<u8>,
        checkpoint: String,
    ) -> Result<Replicated, ReplicateError> {
        self.submit_frames(bytes, checkpoint)?
            .blocking_recv()
            .map_err(|_| ReplicateError::Append(AppendError::Closed))?
    }

    pub async fn replicate_async(
        &self,
        bytes: Vec<u8>,
        checkpoint: String,
    ) -> Result<Replicated, ReplicateError> {
        self.submit_frames(bytes, checkpoint)?
            .await
            .map_err(|_| ReplicateError::Append(AppendError::Closed))?
    }
}
