//! careledger-store: the durable store of the verifiable log.
//!
//! The only crate that opens sled. One appender thread owns the write path: callers hand
//! it events through a bounded queue and get their sequence numbers back only once the
//! batch holding them is durable in the events file ([`events_log`], the record of truth).
//! sled holds what is derived from that file (where each chunk lies, the subject index,
//! checkpoints, request keys, projections; key layout in [`keys`]) and is rebuilt from it
//! whenever it is behind, ahead or damaged ([`recover`]). A [`Projection`]
//! (derived state that checks each event, such as the care domain's) can ride along with
//! the appender: [`Store::open_with_projection`] and the [`projection`] module.
//!
//! ```no_run
//! use careledger_store::{NewEvent, Store, StoreConfig};
//! let dir = std::path::Path::new("ledger");
//! Store::init(dir, "care.example/ledger").unwrap();
//! let store = Store::open(dir, StoreConfig::default()).unwrap();
//! let receipts = store
//!     .append(vec![NewEvent {
//!         actor: "staff:s1".into(),
//!         subject: Some("person:p1".into()),
//!         kind: "visit.started".into(),
//!         occurred_at_us: 1_700_000_000_000_000,
//!         payload: b"{}".to_vec(),
//!     }])
//!     .unwrap();
//! assert_eq!(receipts[0].seq, 0);
//! ```
#![forbid(unsafe_code)]

mod appender;
pub mod backup;
pub mod barrier;
pub mod baseline;
mod damage;
pub mod events_log;
pub mod fault;
mod index;
pub mod keyring;
pub mod keys;
mod mark;
pub mod payloads;
pub mod projection;
mod proofs;
mod reads;
mod recover;
pub mod replica;
pub mod request_keys;
pub mod seal;
pub mod tamper;
mod verify;
mod verify_derived;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use careledger_log::envelope::{self, Envelope, EnvelopeError, SALT_LEN};
use careledger_log::merkle::{self, Blake3Hasher, Hash};
use careledger_log::{CheckpointError, NoteError, NoteSigner, NoteVerifier};
use tokio::sync::oneshot;

pub use events_log::EVENTS_FILE;
pub use keyring::{default_master_key_path, MasterKey, Owner, DATA_KEYS_FILE};
pub use keys::Head;
pub use mark::MARK_FILE;
pub use payloads::{Opened, Payloads};
pub use projection::{Projection, ProjectionHandle, Refusal};
pub(crate) use proofs::{NodeCache, StoredNodes};
pub(crate) use reads::{checked_record, Events, EventsError};
pub use request_keys::RequestKey;
pub use verify::{VerifyFailure, VerifyReport};
pub use verify_derived::DerivedReport;

/// Name of the sled directory inside a ledger's data directory.
pub const SLED_DIR: &str = "sled";
/// Name of the signing key file inside a ledger's data directory.
pub const KEY_FILE: &str = "signing.key";
/// Name of the lock file a writer holds inside a ledger's data directory.
pub const LOCK_FILE: &str = "lock";
/// How long closing waits for the appender to finish what it holds; past it, the close
/// gives up (a write that hangs, on a disk that stopped answering, must not hang the
/// program too) and the next open recovers from the events file.
pub const CLOSE_WAIT: Duration = Duration::from_secs(10);
/// Most events a single read returns.
pub const READ_PAGE_MAX: usize = 10_000;

/// Explicit settings for sled and the appender; nothing is left to library defaults.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// sled's page cache, in bytes.
    pub cache_bytes: u64,
    /// Requests that may wait in the appender's queue before callers are told "busy".
    pub queue_requests_max: usize,
    /// The appender closes a batch once it holds this many events (a single larger
    /// request is still written whole, as one batch).
    pub batch_events_max: usize,
    /// Most events in one append request.
    pub request_events_max: usize,
    /// Most payload bytes in one event.
    pub payload_bytes_max: usize,
    /// Sign a checkpoint once this many events have been appended since the last one.
    pub checkpoint_every_events: u64,
    /// Sign a checkpoint once this much time has passed since the last one, if the log grew.
    pub checkpoint_every: Duration,
    /// With a projection, write its changes (and the `mprojected` mark) with the batch
    /// that brings the log this many events past the last time they were written. It bounds
    /// what a start-up after a crash replays (131,072 events: well under a second); a
    /// clean close writes them anyway. Each write rewrites every changed pair, which sled
    /// keeps on disk long after: at 16,384 the pairs of a year of 2,000 people were
    /// rewritten about 600 times, and sled grew as large as the events file.
    pub projection_persist_every_events: u64,
    /// Where recorded-at comes from.
    pub clock: Clock,
    /// Request keys ([`request_keys`]) kept at once; a new key beyond it is refused
    /// ([`AppendError::KeysFull`]) until older ones expire.
    pub request_keys_max: u64,
    /// How long a request key is kept, by the ledger's recorded-at clock: a retry within
    /// it is answered with the first append's receipts.
    pub request_keys_keep: Duration,
    /// The free-space floor: while the file system holding the ledger has less free
    /// space than this (for unprivileged writers), appends are refused
    /// ([`AppendError::DiskFull`]) before anything of them is written; reads go on.
    pub free_bytes_min: u64,
    /// Requests whose every event is of one of these kinds may go on below the floor,
    /// down to [`StoreConfig::free_bytes_reserve`]: the events that record a reading of
    /// the ledger (a care ledger names its access events here), so that records can
    /// still be read while nothing new can be written.
    pub reserve_kinds: Vec<String>,
    /// The reserve below the floor that only [`StoreConfig::reserve_kinds`] may use.
    pub free_bytes_reserve: u64,
    /// The key that wraps the ledger's data keys ([`keyring`]): needed to open a sealed
    /// ledger (every ledger [`Store::init_sealed`] makes); a plain one ignores it.
    pub master_key: Option<Arc<MasterKey>>,
    /// Kinds sealed with the organisation's key even when they are about someone: the
    /// records of who read a person's record, which must outlive that person's data key.
    pub organisation_key_kinds: Vec<String>,
    /// Faults to inject at the store's file boundary ([`fault`]); `None` in every real
    /// ledger.
    #[doc(hidden)]
    pub faults: Option<Arc<fault::Faults>>,
}

/// The default free-space floor: 256 MiB.
pub const FREE_BYTES_MIN_DEFAULT: u64 = 256 * 1024 * 1024;

/// The reserve for reads' own events, as a fraction of the floor: a quarter.
pub fn reserve_for(floor: u64) -> u64 {
    floor / 4
}

/// The clock the appender stamps recorded-at from. Recorded-at never decreases either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Clock {
    /// The system clock: what every real ledger uses.
    #[default]
    Wall,
    /// The event's own occurred-at: for simulated histories (`careledger simulate`, the
    /// demo), written in time order in one go, so that they are recorded as they would
    /// have been as they happened and queries by recorded-at (as-of answers, the audit
    /// query's time range) mean in them what they mean in a real ledger. A back-entry in
    /// such a history is recorded at the latest time recorded before it.
    Simulated,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            cache_bytes: 128 * 1024 * 1024,
            queue_requests_max: 4096,
            batch_events_max: 4096,
            request_events_max: 100_000,
            payload_bytes_max: 64 * 1024,
            checkpoint_every_events: 100_000,
            checkpoint_every: Duration::from_secs(60),
            projection_persist_every_events: 131_072,
            clock: Clock::Wall,
            request_keys_max: 1_000_000,
            request_keys_keep: Duration::from_secs(24 * 60 * 60),
            free_bytes_min: FREE_BYTES_MIN_DEFAULT,
            reserve_kinds: Vec::new(),
            free_bytes_reserve: reserve_for(FREE_BYTES_MIN_DEFAULT),
            master_key: None,
            organisation_key_kinds: Vec::new(),
            faults: None,
        }
    }
}

impl StoreConfig {
    /// Refuses settings that would stall or spin the write path.
    pub fn check(&self) -> Result<(), StoreError> {
        let bad = |what: &str| Err(StoreError::InvalidConfig(what.to_string()));
        if self.queue_requests_max == 0 {
            return bad("queue_requests_max must be at least 1");
        }
        if self.batch_events_max == 0 {
            return bad("batch_events_max must be at least 1");
        }
        if self.request_events_max == 0 {
            return bad("request_events_max must be at least 1");
        }
        if self.checkpoint_every_events == 0 {
            return bad("checkpoint_every_events must be at least 1");
        }
        if self.projection_persist_every_events == 0 {
            return bad("projection_persist_every_events must be at least 1");
        }
        if self.checkpoint_every < Duration::from_millis(10) {
            return bad("checkpoint_every must be at least 10 ms");
        }
        if self.request_keys_max == 0 {
            return bad("request_keys_max must be at least 1");
        }
        if self.request_keys_keep < Duration::from_secs(1) {
            return bad("request_keys_keep must be at least 1 s");
        }
        if self.free_bytes_reserve > self.free_bytes_min {
            return bad("free_bytes_reserve must be at most free_bytes_min");
        }
        if self.payload_bytes_max > PAYLOAD_BYTES_LIMIT {
            return bad("payload_bytes_max must be at most 65536 (docs/FORMAT.md)");
        }
        Ok(())
    }
}

/// The format's bound on a payload (docs/FORMAT.md 1.2).
pub const PAYLOAD_BYTES_LIMIT: usize = 64 * 1024;

/// An event as a writer hands it in; the appender adds sequence number and recorded-at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub actor: String,
    pub subject: Option<String>,
    pub kind: String,
    pub occurred_at_us: i64,
    pub payload: Vec<u8>,
}

/// What the appender answers for each durable event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    pub seq: u64,
    pub recorded_at_us: i64,
    /// The request's key was seen before: this is the first append's receipt, and
    /// nothing was written this time.
    pub replayed: bool,
}

/// One event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub envelope: Envelope,
    /// The canonical bytes the leaf hash covers.
    pub envelope_bytes: Vec<u8>,
    /// Salt and payload; `None` once the payload has been erased.
    pub payload: Option<([u8; SALT_LEN], Vec<u8>)>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no ledger at {0} (run `careledger init` first)")]
    NotInitialised(PathBuf),
    #[error("a ledger already exists at {0}")]
    AlreadyInitialised(PathBuf),
    #[error("the ledger at {0} is in use by another process")]
    Locked(PathBuf),
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    #[error("file error on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("signing key: {0}")]
    Key(#[from] NoteError),
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    #[error("ledger is inconsistent: {0}")]
    Corrupt(String),
    /// Opening found the store's files damaged (truncated, zeroed, deleted, another
    /// ledger's, or refused by the storage engine): nothing was served from them.
    #[error(
        "the ledger store in {} is damaged ({reason}): restore it from a backup, see \
         docs/OPERATIONS.md",
        dir.display()
    )]
    Damaged { dir: PathBuf, reason: String },
    #[error("event {seq} does not exist (the log has {size} events)")]
    NoSuchEvent { seq: u64, size: u64 },
    #[error("tree size {size} is larger than the log ({current} events)")]
    SizeBeyondLog { size: u64, current: u64 },
    #[error("proof: {0}")]
    Proof(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The master key is missing, unreadable or not this ledger's.
    #[error("master key: {0}")]
    MasterKey(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    #[error("the append queue is full ({0} requests waiting); retry shortly")]
    Busy(usize),
    #[error("event {index}: {source}")]
    Invalid {
        index: usize,
        #[source]
        source: EnvelopeError,
    },
    #[error("event {index}: payload is {len} bytes; the limit is {max}")]
    PayloadTooLarge {
        index: usize,
        len: usize,
        max: usize,
    },
    #[error("request holds {count} events; the limit is {max}")]
    TooManyEvents { count: usize, max: usize },
    #[error("request holds no events")]
    Empty,
    #[error("could not write to the ledger: {0}; it refuses further appends until restarted")]
    WriteFailed(String),
    /// Below the free-space floor: nothing was written, and appends are taken again once
    /// there is room.
    #[error(
        "the disk holding the ledger has {} free, below the floor of {}: appends are refused \
         until space is freed (reads go on)",
        bytes_text(*free),
        bytes_text(*floor)
    )]
    DiskFull { free: u64, floor: u64 },
    #[error("the ledger is closed")]
    Closed,
    /// The ledger is a replica: it takes events only from its primary.
    #[error(
        "this ledger is a replica of {primary}: it takes no writes of its own; write to the \
         primary, or promote this replica if the primary is gone (docs/OPERATIONS.md)"
    )]
    Replica { primary: String },
    /// A replica records each read at its primary ([`replica`]), which could not record
    /// this one: nothing was written, and nothing of the record may be sent.
    #[error(
        "this replica records each read of a record at its primary {primary}, which could \
         not record this one ({reason}); nothing was sent: read from the primary, or promote \
         this replica if the primary is gone (docs/OPERATIONS.md)"
    )]
    PrimaryUnreachable { primary: String, reason: String },
    #[error("random source failed: {0}")]
    Random(String),
    /// The projection refused event `index` of the request; nothing of the request was
    /// written. `reason` carries the projection's own error.
    #[error("event {index} refused: {reason}")]
    Refused { index: usize, reason: Refusal },
    /// The request's key was used before for a different request; nothing was written.
    #[error("{}", match first_seq {
        Some(seq) => format!("this request key was used for a different request (event {seq})"),
        None => "this request key was used for a different request".to_string(),
    })]
    KeyReused { first_seq: Option<u64> },
    /// The store holds as many request keys as it may; nothing was written.
    #[error(
        "the ledger holds {max} request keys, the most it keeps; retry later or without a key"
    )]
    KeysFull { max: u64 },
    #[error("request key {len} bytes long; the limit is {max}")]
    KeyTooLong { len: usize, max: usize },
    /// A request key's record could not be read; nothing was written.
    #[error("could not read the request key's record: {0}")]
    KeyLookup(String),
}

pub(crate) struct Prepared {
    pub(crate) actor: String,
    pub(crate) subject: Option<String>,
    pub(crate) kind: String,
    pub(crate) occurred_at_us: i64,
    pub(crate) salt: [u8; SALT_LEN],
    /// In a sealed ledger, the salt and payload sealed into a record's tail.
    pub(crate) tail: Option<Vec<u8>>,
    pub(crate) commitment: Hash,
    pub(crate) payload: Vec<u8>,
}

pub(crate) enum Request {
    Append {
        events: Vec<Prepared>,
        key: Option<RequestKey>,
        reply: oneshot::Sender<Result<Vec<Receipt>, AppendError>>,
    },
    Checkpoint {
        reply: oneshot::Sender<Result<String, AppendError>>,
    },
    /// A replica's frames from its primary ([`replica`]).
    Replicate {
        bytes: Vec<u8>,
        /// The primary's checkpoint of the tree at the frames' end.
        checkpoint: String,
        reply: oneshot::Sender<Result<replica::Replicated, replica::ReplicateError>>,
    },
    /// Park the appender until `release` fires or is dropped; `parked` confirms it.
    Pause {
        parked: oneshot::Sender<()>,
        release: oneshot::Receiver<()>,
    },
}

/// Holds the appender while it lives: appends queue up, and once the queue is full callers
/// are answered "busy". Dropping it lets the appender go on.
pub struct Paused {
    // Field order is drop order: release the appender first, then let go of the store,
    // whose drop waits for the appender.
    _release: oneshot::Sender<()>,
    _store: Arc<Inner>,
}

struct Inner {
    db: sled::Db,
    log: Arc<events_log::EventsLog>,
    /// Held while the store is open: one writer per folder.
    _lock: fs::File,
    dir: PathBuf,
    /// A replica's primary (the folder follows it and takes no appends of its own).
    primary: Option<String>,
    /// The ledger's signing key (a primary's; a replica has none). The appender signs the
    /// checkpoints it writes; [`Store::log_slice`] signs, for replicas, the root of the
    /// stored tree at a durable size.
    signer: Option<Arc<NoteSigner>>,
    origin: String,
    verifier: NoteVerifier,
    config: StoreConfig,
    /// Events durable and visible to readers; only the syncer raises it.
    size: Arc<AtomicU64>,
    /// The events file's length up to the end of the durable frames; only the syncer
    /// raises it. What the durable mark records.
    durable_bytes: Arc<AtomicU64>,
    /// `durable_bytes`, for those who wait for it to grow (a primary's replicas).
    durable_watch: Arc<tokio::sync::watch::Sender<u64>>,
    /// The subject index; only the indexer thread adds to it.
    index: Arc<index::Index>,
    node_cache: NodeCache,
    projection: Option<ProjectionHandle>,
    /// How payloads are kept, with the keys of a sealed ledger.
    payloads: Payloads,
    /// Events the projection replayed at open.
    projection_replayed: u64,
    /// Bytes of a torn last frame removed from the events file at open.
    torn_bytes_removed: u64,
    sender: Mutex<Option<SyncSender<Request>>>,
    appender: Mutex<Option<JoinHandle<()>>>,
    /// Answers once the appender has stopped (or is dropped if it panicked).
    appender_done: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the queue lets the appender finish the requests it holds and stop.
        self.sender.lock().map(|mut s| s.take()).ok();
        let done = self.appender_done.lock().ok().and_then(|mut d| d.take());
        if let Some(done) = done {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = done.recv_timeout(CLOSE_WAIT) {
                // A write that never returns (a disk that stopped answering): leave the
                // appender to it. Everything acknowledged is in the events file; the next
                // open recovers from there.
                tracing::error!(
                    dir = %self.dir.display(),
                    waited_s = CLOSE_WAIT.as_secs(),
                    "the ledger did not close in time: a write is hanging; closing without it"
                );
                return;
            }
        }
        if let Ok(mut handle) = self.appender.lock() {
            if let Some(handle) = handle.take() {
                let _ = handle.join();
            }
        }
        // The appender and syncer have stopped: every event up to the published size is
        // durable. Mark it, so that a later open can tell a store rolled back or cut short.
        let size = self.size.load(Ordering::Acquire);
        if size > 0 {
            let range = merkle::CompactRange::<Blake3Hasher>::from_source(
                &StoredNodes::new(&self.db, &self.log, None),
                size,
            );
            let bytes = self.durable_bytes.load(Ordering::Acquire);
            if let Ok(range) = range {
                if let Err(e) = mark::write(&self.dir, size, &range.root(), bytes) {
                    // The next open checks against the previous mark, which is never
                    // ahead of what is durable.
                    tracing::warn!(dir = %self.dir.display(), error = %e, "the durable mark could not be written");
                }
            }
        }
    }
}

/// An open ledger. Cheap to clone; the appender stops when the last clone is dropped.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn sled_config(dir: &Path, config: &StoreConfig) -> sled::Config {
    sled::Config::new()
        .path(dir.join(SLED_DIR))
        .cache_capacity(config.cache_bytes)
        // The appender flushes and syncs every batch itself; a background flusher would
        // only add writes that nobody waits for.
        .flush_every_ms(None)
        .mode(sled::Mode::HighThroughput)
        .use_compression(false)
}

/// How long opening waits for sled's file lock. sled releases the lock of a closed
/// database from its background threads a little after the last handle is dropped, so a
/// reopen in the same process can briefly find it held; another process holding it is
/// reported after this long.
const LOCK_WAIT_MAX: std::time::Duration = std::time::Duration::from_secs(3);

fn is_lock_error(e: &sled::Error) -> bool {
    match e {
        sled::Error::Io(io) => {
            io.kind() == std::io::ErrorKind::WouldBlock
                || io.raw_os_error() == Some(11)
                || io.to_string().contains("could not acquire lock")
        }
        _ => false,
    }
}

pub(crate) fn open_db(dir: &Path, config: &StoreConfig) -> Result<sled::Db, StoreError> {
    let started = std::time::Instant::now();
    loop {
        match sled_config(dir, config).open() {
            Ok(db) => return Ok(db),
            Err(e) if is_lock_error(&e) => {
                if started.elapsed() >= LOCK_WAIT_MAX {
                    return Err(StoreError::Locked(dir.to_path_buf()));
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => return Err(StoreError::Sled(e)),
        }
    }
}

impl Store {
    /// Creates a new, empty plain ledger (payloads in clear: for tests and the append
    /// benchmark's baseline; careledger's own ledgers are [`Store::init_sealed`]) with a
    /// fresh signing key named `origin`.
    pub fn init(dir: &Path, origin: &str) -> Result<NoteVerifier, StoreError> {
        Self::init_inner(dir, origin, None)
    }

    /// Creates a new, empty ledger whose payloads are sealed at rest with data keys
    /// wrapped under `master` ([`keyring`]), with a fresh signing key named `origin`.
    pub fn init_sealed(
        dir: &Path,
        origin: &str,
        master: &MasterKey,
    ) -> Result<NoteVerifier, StoreError> {
        Self::init_inner(dir, origin, Some(master))
    }

    fn init_inner(
        dir: &Path,
        origin: &str,
        master: Option<&MasterKey>,
    ) -> Result<NoteVerifier, StoreError> {
        if dir.join(SLED_DIR).exists()
            || dir.join(KEY_FILE).exists()
            || dir.join(EVENTS_FILE).exists()
        {
            return Err(StoreError::AlreadyInitialised(dir.to_path_buf()));
        }
        let signer = NoteSigner::generate(origin)?;
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let _lock = lock_dir(dir)?;
        let key_path = dir.join(KEY_FILE);
        write_private_file(&key_path, signer.private_key_string().as_bytes())?;
        let verifier = signer.verifier();
        if let Some(master) = master {
            keyring::Keyring::create(dir, master, true)?;
        }
        let events_path = dir.join(EVENTS_FILE);
        events_log::create(dir, &verifier.to_string(), master.is_some())
            .map_err(io_err(&events_path))?;
        barrier::sync_dir(dir).map_err(io_err(dir))?;
        let db = open_db(dir, &StoreConfig::default())?;
        derived_identity(&db, &verifier)?;
        db.flush()?;
        Ok(verifier)
    }

    /// Whether the ledger at `dir` is sealed at rest (its events file says so, whatever
    /// else is missing).
    pub fn is_sealed(dir: &Path) -> Result<bool, StoreError> {
        let path = dir.join(EVENTS_FILE);
        if !path.exists() {
            return Err(StoreError::NotInitialised(dir.to_path_buf()));
        }
        let log = events_log::EventsLog::open_read(dir).map_err(io_err(&path))?;
        let header = log.read_at(0, None).map_err(|e| StoreError::Damaged {
            dir: dir.to_path_buf(),
            reason: format!("{EVENTS_FILE} has no readable header: {e}"),
        })?;
        events_log::header_verifier(&header)
            .map(|(_, sealed)| sealed)
            .map_err(|reason| StoreError::Damaged {
                dir: dir.to_path_buf(),
                reason: format!("{EVENTS_FILE}: {reason}"),
            })
    }

    /// Rewraps every data key of the sealed ledger at `dir` (which must not be open) from
    /// the master key `old` to `new` ([`keyring`]): one new `data.keys`, renamed over the
    /// old one. Until the rename `old` opens the ledger, after it only `new`. Returns the
    /// number of data keys.
    pub fn rotate_master_key(
        dir: &Path,
        old: &MasterKey,
        new: &MasterKey,
    ) -> Result<usize, StoreError> {
        if !dir.join(EVENTS_FILE).exists() {
            return Err(StoreError::NotInitialised(dir.to_path_buf()));
        }
        let _lock = lock_dir(dir)?;
        if !Self::is_sealed(dir)? {
            return Err(StoreError::InvalidArgument(format!(
                "the ledger at {} is not encrypted at rest: it has no data keys to rewrap",
                dir.display()
            )));
        }
        keyring::Keyring::rewrap(dir, old, new)
    }

    /// Opens a ledger, checks that its stored tree agrees with its head record and its
    /// latest signed checkpoint, and starts the appender.
    pub fn open(dir: &Path, config: StoreConfig) -> Result<Self, StoreError> {
        Self::open_inner(dir, config, None, &mut |_, _| {})
    }

    /// Opens a ledger like [`Store::open`], with a projection the appender keeps in step
    /// with the log (see [`projection`]). Before the appender starts, the projection is
    /// loaded from its stored pairs and brought up to date by replaying the events above
    /// its `mprojected` mark, or, without a mark, the whole log.
    pub fn open_with_projection(
        dir: &Path,
        config: StoreConfig,
        projection: ProjectionHandle,
    ) -> Result<Self, StoreError> {
        Self::open_inner(dir, config, Some(projection), &mut |_, _| {})
    }

    /// [`Store::open_with_projection`], calling `progress` now and then with (events
    /// replayed, events to replay) while the projection catches up.
    pub fn open_with_projection_progress(
        dir: &Path,
        config: StoreConfig,
        projection: ProjectionHandle,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<Self, StoreError> {
        Self::open_inner(dir, config, Some(projection), &mut progress)
    }

    /// Opens the store's files behind the damage boundary (whatever is found wrong with
    /// them, a panic inside sled included, is one [`StoreError::Damaged`] naming the
    /// folder, never a panic), then catches the projection up.
    fn open_inner(
        dir: &Path,
        config: StoreConfig,
        projection: Option<ProjectionHandle>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Self, StoreError> {
        let damaged = |reason: String| StoreError::Damaged {
            dir: dir.to_path_buf(),
            reason,
        };
        // Whatever opening finds inconsistent is damage, named as such.
        Self::open_checked(dir, config, projection, progress).map_err(|e| match e {
            StoreError::Corrupt(reason) => damaged(reason),
            StoreError::Key(e) => damaged(format!("signing key: {e}")),
            StoreError::Checkpoint(e) => damaged(format!("checkpoint: {e}")),
            other => other,
        })
    }

    fn open_checked(
        dir: &Path,
        config: StoreConfig,
        projection: Option<ProjectionHandle>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Self, StoreError> {
        let (db, log, identity, recovered, lock, payloads) = Self::open_files(dir, &config)?;
        let head = recovered.head;
        let replica::Identity {
            verifier,
            signer,
            primary,
        } = identity;
        let signer = signer.map(Arc::new);
        let origin = verifier.name().to_string();
        let size = Arc::new(AtomicU64::new(head.size));
        let durable_bytes = Arc::new(AtomicU64::new(recovered.log_end));
        let durable_watch = Arc::new(tokio::sync::watch::Sender::new(recovered.log_end));
        let index = index::Index::open(&db, &log, head.size)?;
        let mut projection_replayed = 0;
        let mut projected = 0;
        if let Some(handle) = &projection {
            projection_replayed =
                projection::catch_up(&db, (&log, &payloads), handle, head.size, progress)?;
            projected = projection::read_mark(&db)?.unwrap_or(0);
        }
        let (sender, receiver) = sync_channel(config.queue_requests_max);
        let last_checkpoint = last_checkpoint_size(&db)?;
        let appender = appender::Appender::new(
            (db.clone(), log.clone(), dir.to_path_buf()),
            (signer.clone(), verifier.clone()),
            (head, recovered.log_end),
            last_checkpoint,
            config.clone(),
            (
                size.clone(),
                (durable_bytes.clone(), durable_watch.clone()),
                index.clone(),
            ),
            payloads.clone(),
        )?
        .with_projection(projection.clone().map(|handle| (handle, projected)));
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("careledger-appender".into())
            .spawn(move || {
                appender.run(receiver);
                let _ = done_tx.send(());
            })
            .map_err(io_err(dir))?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                log,
                _lock: lock,
                dir: dir.to_path_buf(),
                primary,
                signer,
                origin,
                verifier,
                config,
                size,
                durable_bytes,
                durable_watch,
                index,
                node_cache: NodeCache::new(),
                projection,
                payloads,
                projection_replayed,
                torn_bytes_removed: recovered.torn_bytes,
                sender: Mutex::new(Some(sender)),
                appender: Mutex::new(Some(handle)),
                appender_done: Mutex::new(Some(done_rx)),
            }),
        })
    }

    /// The store's files, opened and checked: the lock, the signing key, the events file,
    /// sled brought in line with it (or rebuilt from it), and the head of the log.
    #[allow(clippy::type_complexity)]
    fn open_files(
        dir: &Path,
        config: &StoreConfig,
    ) -> Result<
        (
            sled::Db,
            Arc<events_log::EventsLog>,
            replica::Identity,
            recover::Recovered,
            fs::File,
            Payloads,
        ),
        StoreError,
    > {
        let events_path = dir.join(EVENTS_FILE);
        if !events_path.exists() && !dir.join(SLED_DIR).exists() && !dir.join(KEY_FILE).exists() {
            return Err(StoreError::NotInitialised(dir.to_path_buf()));
        }
        config.check()?;
        let lock = lock_dir(dir)?;
        let identity = replica::Identity::read(dir)?;
        let verifier = identity.verifier.clone();
        if !events_path.exists() {
            return Err(StoreError::Corrupt(format!(
                "{EVENTS_FILE} is missing{}",
                if dir.join(SLED_DIR).exists() {
                    " (a ledger from before careledger kept its events in it holds them in \
                     sled/, a layout this version does not read)"
                } else {
                    ""
                }
            )));
        }
        let log = Arc::new(events_log::EventsLog::open_write(dir).map_err(io_err(&events_path))?);
        let payloads = payloads_of(dir, &log, config.master_key.as_deref(), true)?;
        // Cut short since its last clean close: said before anything is changed.
        let mark = mark::read(dir).map_err(StoreError::Corrupt)?;
        if let Some(bytes) = mark.and_then(|m| m.bytes) {
            let len = log.len().map_err(io_err(&events_path))?;
            if len < bytes {
                return Err(StoreError::Corrupt(format!(
                    "{EVENTS_FILE} is {len} bytes, but was {bytes} when the ledger was last closed"
                )));
            }
        }
        // sled damaged: before it is removed, the file must be one it can be rebuilt from
        // (a damaged file is refused with nothing changed).
        let keep_us = i64::try_from(config.request_keys_keep.as_micros()).unwrap_or(i64::MAX);
        let rebuildable = || -> Result<(), StoreError> {
            let header_end = recover::check_header(&log, &verifier)?;
            let tail = recover::scan_tail(&log, header_end, 0)?;
            recover::check_tail_against_mark(&tail, mark.as_ref())
        };
        let mut db = open_derived(dir, config, &verifier, &rebuildable)?;
        let recovered = loop {
            match recover::recover(&db, &log, &verifier, (mark.as_ref(), keep_us))? {
                recover::Recovery::Done(recovered) => break recovered,
                recover::Recovery::SledAhead(reason) => {
                    if db.get(keys::LOGGED)?.is_none() {
                        return Err(StoreError::Corrupt(format!(
                            "rebuilding from {EVENTS_FILE} failed: {reason}"
                        )));
                    }
                    rebuildable()?;
                    tracing::warn!(dir = %dir.display(), %reason, "sled is ahead of the events file; rebuilding it from the file");
                    drop(db);
                    db = fresh_derived(dir, config, &verifier)?;
                }
            }
        };
        // Other events than were durable when the store was last closed: the events file
        // was replaced or rewritten. (Fewer were refused before anything was changed.)
        if let Some(mark::Mark { size, root, .. }) = mark {
            let stored = merkle::CompactRange::<Blake3Hasher>::from_source(
                &StoredNodes::new(&db, &log, None),
                size,
            )?;
            if stored.root() != root {
                return Err(StoreError::Corrupt(format!(
                    "its first {size} events are not the ones it held when it was last closed"
                )));
            }
        }
        // Every check passed: only now is a torn end removed.
        recover::settle(&log, &recovered)?;
        Ok((db, log, identity, recovered, lock, payloads))
    }

    /// How this ledger keeps its payloads (sealed, with its keys, or plain).
    pub fn payloads(&self) -> &Payloads {
        &self.inner.payloads
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    pub fn origin(&self) -> &str {
        &self.inner.origin
    }

    /// The primary this ledger is a replica of ([`replica`]); `None` for a primary.
    pub fn primary(&self) -> Option<&str> {
        self.inner.primary.as_deref()
    }

    pub fn verifier(&self) -> &NoteVerifier {
        &self.inner.verifier
    }

    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    /// Number of durable events.
    pub fn size(&self) -> u64 {
        self.inner.size.load(Ordering::Acquire)
    }

    /// The projection the appender keeps, if opened with one.
    pub fn projection(&self) -> Option<&ProjectionHandle> {
        self.inner.projection.as_ref()
    }

    /// Events the projection replayed when the store was opened: 0 after a clean close.
    pub fn projection_replayed(&self) -> u64 {
        self.inner.projection_replayed
    }

    /// Bytes of a torn last frame (an interrupted write) removed from the events file
    /// when the store was opened: 0 after a clean close.
    pub fn torn_bytes_removed(&self) -> u64 {
        self.inner.torn_bytes_removed
    }

    /// The stored projection pairs (key without the `p` prefix, value), in key order: what
    /// the projection had written by the last persist, not its newest state.
    #[doc(hidden)]
    pub fn projection_pairs(&self) -> Result<Vec<projection::Pair>, StoreError> {
        let mut out = Vec::new();
        for kv in self.inner.db.scan_prefix([keys::PROJECTION]) {
            let (key, value) = kv?;
            let value = self
                .inner
                .payloads
                .open_pair(&key[1..], &value)
                .map_err(|reason| {
                    StoreError::Corrupt(format!(
                        "stored projection key {}: {reason}",
                        hex(&key[1..])
                    ))
                })?;
            out.push((key[1..].to_vec(), value));
        }
        Ok(out)
    }

    /// Removes sled's folder (everything derived from the events file: chunk locations,
    /// the subject index, checkpoints by size, request keys, projections) of the ledger at
    /// `dir`, which must not be open; the next open rebuilds all of it, compactly (sled
    /// keeps superseded pages long after they are rewritten). Returns the bytes removed.
    pub fn drop_derived(dir: &Path) -> Result<u64, StoreError> {
        let sled_dir = dir.join(SLED_DIR);
        if !dir.join(EVENTS_FILE).exists() {
            return Err(StoreError::NotInitialised(dir.to_path_buf()));
        }
        let _lock = lock_dir(dir)?;
        let bytes = dir_bytes(&sled_dir);
        match fs::remove_dir_all(&sled_dir) {
            Ok(()) => Ok(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(io_err(&sled_dir)(e)),
        }
    }

    /// Removes the stored projection (every `p` key and the `mprojected` mark) of the
    /// ledger at `dir`, which must not be open; the next open with a projection replays
    /// the whole log. Returns the number of keys removed.
    pub fn drop_projections(dir: &Path) -> Result<u64, StoreError> {
        if !dir.join(SLED_DIR).exists() {
            return Err(StoreError::NotInitialised(dir.to_path_buf()));
        }
        let _lock = lock_dir(dir)?;
        let db = open_db(dir, &StoreConfig::default())?;
        let mut removed = 0;
        // The mark first: once it is gone, pairs left by an interruption are removed by
        // the full replay of the next open.
        if db.remove(keys::PROJECTED)?.is_some() {
            removed += 1;
        }
        let mut batch = sled::Batch::default();
        let mut in_batch = 0;
        for kv in db.scan_prefix([keys::PROJECTION]) {
            let (key, _) = kv?;
            batch.remove(key);
            in_batch += 1;
            removed += 1;
            if in_batch == projection::PERSIST_SLICE {
                db.apply_batch(std::mem::take(&mut batch))?;
                in_batch = 0;
            }
        }
        db.apply_batch(batch)?;
        db.flush()?;
        Ok(removed)
    }

    fn prepare(&self, events: Vec<NewEvent>) -> Result<Vec<Prepared>, AppendError> {
        let config = &self.inner.config;
        if events.is_empty() {
            return Err(AppendError::Empty);
        }
        if events.len() > config.request_events_max {
            return Err(AppendError::TooManyEvents {
                count: events.len(),
                max: config.request_events_max,
            });
        }
        let mut out = Vec::with_capacity(events.len());
        for (index, e) in events.into_iter().enumerate() {
            envelope::check_fields(&e.actor, e.subject.as_deref(), &e.kind)
                .map_err(|source| AppendError::Invalid { index, source })?;
            if e.payload.len() > config.payload_bytes_max {
                return Err(AppendError::PayloadTooLarge {
                    index,
                    len: e.payload.len(),
                    max: config.payload_bytes_max,
                });
            }
            // Salt and commitment are computed here, on the caller's thread, to keep the
            // single appender thread short.
            // One draw for the salt and the nonce that seals it with the payload.
            let mut random = [0u8; SALT_LEN + seal::NONCE_LEN];
            getrandom::getrandom(&mut random).map_err(|e| AppendError::Random(e.to_string()))?;
            let salt: [u8; SALT_LEN] = random[..SALT_LEN].try_into().expect("32 bytes");
            let nonce: [u8; seal::NONCE_LEN] = random[SALT_LEN..].try_into().expect("24 bytes");
            let commitment = envelope::payload_commitment(&salt, &e.payload);
            // Sealed here too, in parallel with other writers: the appender only writes
            // it (its associated data is the commitment, known now; crate::payloads).
            let tail = match &self.inner.payloads {
                Payloads::Sealed(keyring) => {
                    let (tag, key) = payloads::key_for_writing(
                        keyring,
                        e.subject.as_deref(),
                        &e.kind,
                        &config.organisation_key_kinds,
                    )
                    .map_err(AppendError::Random)?;
                    Some(payloads::seal_tail(
                        (tag, &key),
                        (&commitment, &e.kind),
                        &nonce,
                        &salt,
                        &e.payload,
                    ))
                }
                _ => None,
            };
            out.push(Prepared {
                actor: e.actor,
                subject: e.subject,
                kind: e.kind,
                occurred_at_us: e.occurred_at_us,
                salt,
                tail,
                commitment,
                payload: e.payload,
            });
        }
        Ok(out)
    }

    fn send(&self, request: Request) -> Result<(), AppendError> {
        let guard = self.inner.sender.lock().map_err(|_| AppendError::Closed)?;
        let sender = guard.as_ref().ok_or(AppendError::Closed)?;
        sender.try_send(request).map_err(|e| match e {
            TrySendError::Full(_) => AppendError::Busy(self.inner.config.queue_requests_max),
            TrySendError::Disconnected(_) => AppendError::Closed,
        })
    }

    /// Queues events for the appender; the receiver answers once they are durable.
    /// All events of one call land in one batch: all of them or none.
    pub fn submit(
        &self,
        events: Vec<NewEvent>,
    ) -> Result<oneshot::Receiver<Result<Vec<Receipt>, AppendError>>, AppendError> {
        self.submit_keyed(events, None)
    }

    /// As [`Store::submit`], under a request key: if the key was seen with the same
    /// digest, the answer is the first append's receipts (marked `replayed`) and nothing is
    /// written; with another digest, [`AppendError::KeyReused`].
    pub fn submit_keyed(
        &self,
        events: Vec<NewEvent>,
        key: Option<RequestKey>,
    ) -> Result<oneshot::Receiver<Result<Vec<Receipt>, AppendError>>, AppendError> {
        if let Some(k) = &key {
            if k.key.len() > request_keys::KEY_BYTES_MAX {
                return Err(AppendError::KeyTooLong {
                    len: k.key.len(),
                    max: request_keys::KEY_BYTES_MAX,
                });
            }
        }
        if let Some(primary) = self.primary() {
            return Err(AppendError::Replica {
                primary: primary.to_string(),
            });
        }
        let events = self.prepare(events)?;
        let (reply, receiver) = oneshot::channel();
        self.send(Request::Append { events, key, reply })?;
        Ok(receiver)
    }

    /// Appends and waits until durable. Not for use inside an async runtime; use
    /// [`Store::append_async`] there.
    pub fn append(&self, events: Vec<NewEvent>) -> Result<Vec<Receipt>, AppendError> {
        self.submit(events)?
            .blocking_recv()
            .map_err(|_| AppendError::Closed)?
    }

    pub async fn append_async(&self, events: Vec<NewEvent>) -> Result<Vec<Receipt>, AppendError> {
        self.submit(events)?
            .await
            .map_err(|_| AppendError::Closed)?
    }

    /// Signs a checkpoint of the current tree now (or returns the latest one if the log has
    /// not grown since) and returns the signed note.
    pub fn checkpoint_now(&self) -> Result<String, AppendError> {
        if let Some(primary) = self.primary() {
            return Err(AppendError::Replica {
                primary: primary.to_string(),
            });
        }
        let (reply, receiver) = oneshot::channel();
        self.send(Request::Checkpoint { reply })?;
        receiver.blocking_recv().map_err(|_| AppendError::Closed)?
    }

    /// Parks the appender until the returned guard is dropped: the requests queued before
    /// this call are written, made durable and indexed first, and nothing is written while
    /// it is held. For consistent file-level copies, and for testing the bounded queue.
    pub fn pause(&self) -> Result<Paused, AppendError> {
        let (parked_tx, parked_rx) = oneshot::channel();
        let (release_tx, release_rx) = oneshot::channel();
        self.send(Request::Pause {
            parked: parked_tx,
            release: release_rx,
        })?;
        parked_rx.blocking_recv().map_err(|_| AppendError::Closed)?;
        Ok(Paused {
            _release: release_tx,
            _store: self.inner.clone(),
        })
    }

    /// Recomputes every leaf, node and root from the stored events and checks every stored
    /// checkpoint. `progress` is called now and then with (events done, events total).
    pub fn verify(&self, progress: impl FnMut(u64, u64)) -> Result<VerifyReport, VerifyFailure> {
        verify::verify(
            &self.inner.log,
            &self.inner.verifier,
            (Some(self.size()), &[]),
            &self.inner.payloads,
            progress,
        )
    }

    /// Verifies the ledger at `dir` from its events file alone, read-only: no lock is
    /// taken, sled is not opened and no file is written, so it can examine a ledger kept as
    /// evidence, or one a running service is appending to (it checks what was there when
    /// it started). The verifier key is the events file's own; compare it, or pass
    /// checkpoints kept outside the ledger, to know it is the ledger you expect.
    ///
    /// A sealed ledger's payloads are opened and checked against their commitments with
    /// the keys `master` unwraps ([`Store::verify_dir_at`]); this checks everything else
    /// and counts them in [`VerifyReport::payloads_unread`].
    pub fn verify_dir(
        dir: &Path,
        progress: impl FnMut(u64, u64),
    ) -> Result<VerifyReport, VerifyFailure> {
        Self::verify_dir_at(dir, None, &[], progress)
    }

    /// Compares everything sled holds for the ledger at `dir` (chunk locations,
    /// checkpoints, request keys, the subject index, and the projection's pairs against
    /// `projection`, a fresh projection of the kind the ledger keeps, replayed from the
    /// log) with what the events file says, naming the first difference. Read-only: sled
    /// is opened on a copy of its folder.
    pub fn verify_derived_dir(
        dir: &Path,
        master: Option<&MasterKey>,
        projection: &ProjectionHandle,
    ) -> Result<DerivedReport, VerifyFailure> {
        verify_derived::verify_derived(dir, master, projection)
    }

    /// [`Store::verify_dir`], opening a sealed ledger's payloads with the keys `master`
    /// unwraps, and also reporting the root at each of `sizes` the ledger reaches (to
    /// check checkpoints kept outside the ledger against it).
    pub fn verify_dir_at(
        dir: &Path,
        master: Option<&MasterKey>,
        sizes: &[u64],
        progress: impl FnMut(u64, u64),
    ) -> Result<VerifyReport, VerifyFailure> {
        let path = dir.join(EVENTS_FILE);
        if !path.exists() {
            return Err(VerifyFailure::Store(if dir.join(KEY_FILE).exists() {
                StoreError::Damaged {
                    dir: dir.to_path_buf(),
                    reason: format!("{EVENTS_FILE} is missing"),
                }
            } else {
                StoreError::NotInitialised(dir.to_path_buf())
            }));
        }
        let log = events_log::EventsLog::open_read(dir).map_err(|e| {
            VerifyFailure::Store(StoreError::Io {
                path: path.clone(),
                source: e,
            })
        })?;
        let damaged = |reason: String| {
            VerifyFailure::Store(StoreError::Damaged {
                dir: dir.to_path_buf(),
                reason,
            })
        };
        let verifier = match verify::verifier_of(&log) {
            Ok(verifier) => verifier,
            Err(VerifyFailure::Ledger(reason)) => return Err(damaged(reason)),
            Err(other) => return Err(other),
        };
        // The folder's own key, when it holds one, names the ledger it belongs to.
        if let Ok(text) = fs::read_to_string(dir.join(KEY_FILE)) {
            if let Ok(signer) = NoteSigner::parse(&text) {
                if signer.verifier() != verifier {
                    return Err(damaged(format!(
                        "{EVENTS_FILE} belongs to another ledger (its verifier key is {verifier})"
                    )));
                }
            }
        }
        let mark = mark::read(dir).map_err(damaged)?;
        if let Some(bytes) = mark.and_then(|m| m.bytes) {
            let len = log.len().unwrap_or(0);
            if len < bytes {
                return Err(damaged(format!(
                    "{EVENTS_FILE} is {len} bytes, but was {bytes} when the ledger was last closed"
                )));
            }
        }
        let mut sizes = sizes.to_vec();
        sizes.extend(mark.map(|m| m.size));
        let payloads = payloads_of(dir, &log, master, false).map_err(VerifyFailure::Store)?;
        let report = verify::verify(&log, &verifier, (None, &sizes), &payloads, progress)?;
        // Cut short or replaced after its last clean close.
        if let Some(mark::Mark { size, root, .. }) = mark {
            match report.roots.iter().find(|(s, _)| *s == size) {
                None => {
                    return Err(damaged(format!(
                        "it holds {} events, but {size} were durable when it was last closed",
                        report.events
                    )))
                }
                Some((_, r)) if *r != root => {
                    return Err(damaged(format!(
                        "its first {size} events are not the ones it held when it was last closed"
                    )))
                }
                Some(_) => {}
            }
        }
        Ok(report)
    }

    /// The sled database, for tests that must reach under the store (tampering).
    #[doc(hidden)]
    pub fn raw_db(&self) -> &sled::Db {
        &self.inner.db
    }
}

/// How the ledger whose events file is `log` keeps its payloads, with its data keys when
/// it is sealed and `master` is given (`write`: the keyring may add keys). A sealed ledger
/// without a master key can be read only by [`Payloads::Unread`] readers (verification of
/// everything but the payloads), so a writer without one is refused, saying how to give it.
pub(crate) fn payloads_of(
    dir: &Path,
    log: &events_log::EventsLog,
    master: Option<&MasterKey>,
    write: bool,
) -> Result<Payloads, StoreError> {
    let sealed = log
        .read_at(0, None)
        .ok()
        .and_then(|header| events_log::header_verifier(&header).ok())
        .is_some_and(|(_, sealed)| sealed);
    if !sealed {
        return Ok(Payloads::Plain);
    }
    match master {
        Some(master) => Ok(Payloads::Sealed(Arc::new(keyring::Keyring::open(
            dir, master, write,
        )?))),
        None if !write => Ok(Payloads::Unread),
        None => Err(StoreError::MasterKey(format!(
            "the ledger at {} is encrypted at rest and no master key was given (name its \
             file with --master-key FILE or CARELEDGER_MASTER_KEY_FILE; by default it is {})",
            dir.display(),
            default_master_key_path(dir).display()
        ))),
    }
}

/// Takes the folder's writer lock, waiting up to [`LOCK_WAIT_MAX`] for another process.
fn lock_dir(dir: &Path) -> Result<fs::File, StoreError> {
    let path = dir.join(LOCK_FILE);
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err(&path))?;
    let started = std::time::Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(fs::TryLockError::WouldBlock) => {
                if started.elapsed() >= LOCK_WAIT_MAX {
                    return Err(StoreError::Locked(dir.to_path_buf()));
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_err(&path)(e)),
        }
    }
}

/// Writes the ledger's identity into a new sled tree.
fn derived_identity(db: &sled::Db, verifier: &NoteVerifier) -> Result<(), StoreError> {
    let mut batch = sled::Batch::default();
    batch.insert(keys::ORIGIN, verifier.name().as_bytes());
    batch.insert(keys::VERIFIER, verifier.to_string().as_bytes());
    batch.insert(keys::FORMAT, &[keys::STORE_FORMAT]);
    db.apply_batch(batch)?;
    Ok(())
}

/// Opens sled, the derived state, behind the damage boundary. sled damaged (its own
/// files unreadable, a panic inside it), another ledger's, or missing: it is started
/// afresh and rebuilt from the events file.
fn open_derived(
    dir: &Path,
    config: &StoreConfig,
    verifier: &NoteVerifier,
    rebuildable: &dyn Fn() -> Result<(), StoreError>,
) -> Result<sled::Db, StoreError> {
    if !dir.join(SLED_DIR).exists() {
        // A restored ledger, or one whose derived state was removed on purpose.
        tracing::debug!(dir = %dir.display(), "building the derived state from the events file");
        return fresh_derived(dir, config, verifier);
    }
    let problem = match damage::quietly(|| open_db(dir, config)) {
        Ok(Ok(db)) => match identity_problem(&db, verifier) {
            Ok(None) => return Ok(db),
            Ok(Some(problem)) => {
                if problem.starts_with("layout 1") {
                    return Err(StoreError::Corrupt(format!(
                        "its sled/ is in {problem}, a layout this version does not read"
                    )));
                }
                drop(db);
                problem
            }
            Err(e) => {
                drop(db);
                format!("it cannot be read: {e}")
            }
        },
        Ok(Err(StoreError::Locked(dir))) => return Err(StoreError::Locked(dir)),
        Ok(Err(StoreError::Sled(e))) if !damage::is_damage(&e) => return Err(StoreError::Sled(e)),
        Ok(Err(e)) => format!("it cannot be opened: {e}"),
        Err(panic) => format!("the storage engine failed reading it: {panic}"),
    };
    rebuildable()?;
    tracing::warn!(dir = %dir.display(), %problem, "sled, the derived state, is rebuilt from the events file");
    fresh_derived(dir, config, verifier)
}

/// What is wrong with sled's record of whose ledger it is, if anything.
fn identity_problem(db: &sled::Db, verifier: &NoteVerifier) -> Result<Option<String>, StoreError> {
    match db.get(keys::FORMAT)?.as_deref() {
        Some([keys::STORE_FORMAT]) => {}
        Some([1]) => return Ok(Some("layout 1".into())),
        None => return Ok(Some("it holds no ledger".into())),
        Some(other) => return Ok(Some(format!("it is in layout {other:?}"))),
    }
    let stored = db.get(keys::VERIFIER)?;
    if stored.as_deref() != Some(verifier.to_string().as_bytes()) {
        return Ok(Some("it belongs to another ledger".into()));
    }
    Ok(None)
}

/// Removes sled's folder and starts an empty one with the ledger's identity.
fn fresh_derived(
    dir: &Path,
    config: &StoreConfig,
    verifier: &NoteVerifier,
) -> Result<sled::Db, StoreError> {
    let sled_dir = dir.join(SLED_DIR);
    match fs::remove_dir_all(&sled_dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(&sled_dir)(e)),
    }
    let db = open_db(dir, config)?;
    derived_identity(&db, verifier)?;
    Ok(db)
}

/// Bytes of every file under `path` (a file's own length, if it is one).
pub fn dir_bytes(path: &Path) -> u64 {
    let Ok(meta) = fs::metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| dir_bytes(&e.path()))
                .sum()
        })
        .unwrap_or(0)
}

/// Bytes as people read them: 512 KiB, 3.2 GiB.
pub fn bytes_text(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else if value >= 10.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn write_private_file(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io_err(path))?;
    file.write_all(bytes).map_err(io_err(path))?;
    file.write_all(b"\n").map_err(io_err(path))?;
    file.sync_all().map_err(io_err(path))
}

fn last_checkpoint_size(db: &sled::Db) -> Result<Option<u64>, StoreError> {
    match db.scan_prefix([keys::CHECKPOINT]).next_back() {
        None => Ok(None),
        Some(kv) => Ok(keys::trailing_u64(&kv?.0)),
    }
}

/// Whether a write failure's reason is a full disk (ENOSPC, from our write or sled's).
pub fn is_no_space(reason: &str) -> bool {
    // io::Error's Display, and its Debug inside sled's errors.
    reason.contains("os error 28") || reason.contains("code: 28,")
}

/// Lowercase hex, for messages.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Current time as UTC microseconds since the Unix epoch.
pub fn now_us() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_micros()).unwrap_or(i64::MAX)
}
