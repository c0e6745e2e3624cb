//! careledger-store: the durable sled store of the verifiable log.
//!
//! The only crate that opens sled. One appender thread owns the write path: callers hand
//! it events through a bounded queue and get their sequence numbers back only once the
//! batch holding them is durable (see [`barrier`]). Reads, proofs and checkpoints are
//! served from the same sled tree, whose key layout is in [`keys`]. A [`Projection`]
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
pub mod barrier;
pub mod baseline;
mod damage;
mod index;
pub mod keys;
mod mark;
pub mod projection;
mod proofs;
mod reads;
pub mod request_keys;
mod verify;

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
use careledger_log::{Checkpoint, CheckpointError, NoteError, NoteSigner, NoteVerifier};
use tokio::sync::oneshot;

pub use keys::Head;
pub use mark::MARK_FILE;
pub use projection::{Projection, ProjectionHandle, Refusal};
pub(crate) use proofs::{NodeCache, SledNodes};
pub(crate) use reads::{checked_record, read_checkpoints, Events, EventsError};
pub use request_keys::RequestKey;
pub use verify::{VerifyFailure, VerifyReport};

/// Name of the sled directory inside a ledger's data directory.
pub const SLED_DIR: &str = "sled";
/// Name of the signing key file inside a ledger's data directory.
pub const KEY_FILE: &str = "signing.key";
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
    /// what a start-up after a crash replays; a clean close writes them anyway.
    pub projection_persist_every_events: u64,
    /// Where recorded-at comes from.
    pub clock: Clock,
    /// Request keys ([`request_keys`]) kept at once; a new key beyond it is refused
    /// ([`AppendError::KeysFull`]) until older ones expire.
    pub request_keys_max: u64,
    /// How long a request key is kept, by the ledger's recorded-at clock: a retry within
    /// it is answered with the first append's receipts.
    pub request_keys_keep: Duration,
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
            projection_persist_every_events: 16_384,
            clock: Clock::Wall,
            request_keys_max: 1_000_000,
            request_keys_keep: Duration::from_secs(24 * 60 * 60),
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
    #[error("the ledger is closed")]
    Closed,
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
    dir: PathBuf,
    origin: String,
    verifier: NoteVerifier,
    config: StoreConfig,
    /// Events durable and visible to readers; only the syncer raises it.
    size: Arc<AtomicU64>,
    /// The subject index; only the indexer thread adds to it.
    index: Arc<index::Index>,
    node_cache: NodeCache,
    projection: Option<ProjectionHandle>,
    /// Events the projection replayed at open.
    projection_replayed: u64,
    sender: Mutex<Option<SyncSender<Request>>>,
    appender: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the queue lets the appender finish the requests it holds and stop.
        self.sender.lock().map(|mut s| s.take()).ok();
        if let Ok(mut handle) = self.appender.lock() {
            if let Some(handle) = handle.take() {
                let _ = handle.join();
            }
        }
        // The appender and syncer have stopped: every event up to the published size is
        // durable. Mark it, so that a later open can tell a store sled rolled back.
        let size = self.size.load(Ordering::Acquire);
        if size > 0 {
            if let Ok(range) = merkle::CompactRange::<Blake3Hasher>::from_source(
                &SledNodes::new(&self.db, None),
                size,
            ) {
                if let Err(e) = mark::write(&self.dir, size, &range.root()) {
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

fn open_db(dir: &Path, config: &StoreConfig) -> Result<sled::Db, StoreError> {
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
    /// Creates a new, empty ledger with a fresh signing key named `origin`.
    pub fn init(dir: &Path, origin: &str) -> Result<NoteVerifier, StoreError> {
        if dir.join(SLED_DIR).exists() || dir.join(KEY_FILE).exists() {
            return Err(StoreError::AlreadyInitialised(dir.to_path_buf()));
        }
        let signer = NoteSigner::generate(origin)?;
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let key_path = dir.join(KEY_FILE);
        write_private_file(&key_path, signer.private_key_string().as_bytes())?;
        let db = open_db(dir, &StoreConfig::default())?;
        let verifier = signer.verifier();
        let mut batch = sled::Batch::default();
        batch.insert(keys::ORIGIN, origin.as_bytes());
        batch.insert(keys::VERIFIER, verifier.to_string().as_bytes());
        batch.insert(keys::FORMAT, &[keys::STORE_FORMAT]);
        db.apply_batch(batch)?;
        db.flush()?;
        barrier::Barrier::new(&dir.join(SLED_DIR))
            .and_then(|mut b| b.sync())
            .map_err(io_err(dir))?;
        barrier::sync_dir(&dir.join(SLED_DIR)).map_err(io_err(dir))?;
        barrier::sync_dir(dir).map_err(io_err(dir))?;
        Ok(verifier)
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

    /// Opens the store's files behind the damage boundary (whatever the storage engine or
    /// the start-up check find wrong with them, a panic inside sled included, is one
    /// [`StoreError::Damaged`] naming the folder, never a panic), then catches the
    /// projection up.
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
        let opened = damage::quietly(|| Self::open_files(dir, &config));
        let (db, mut barrier, signer, head) = match opened {
            Ok(Ok(files)) => files,
            Err(panic) => {
                return Err(damaged(format!(
                    "the storage engine failed reading it: {panic}"
                )))
            }
            Ok(Err(StoreError::Corrupt(reason))) => return Err(damaged(reason)),
            Ok(Err(StoreError::Sled(e))) if damage::is_damage(&e) => {
                return Err(damaged(e.to_string()))
            }
            Ok(Err(StoreError::Key(e))) => return Err(damaged(format!("signing key: {e}"))),
            Ok(Err(StoreError::Checkpoint(e))) => return Err(damaged(format!("checkpoint: {e}"))),
            Ok(Err(other)) => return Err(other),
        };
        let verifier = signer.verifier();
        let origin = signer.name().to_string();
        let size = Arc::new(AtomicU64::new(head.size));
        let index = index::Index::open(&db, head.size)?;
        let mut projection_replayed = 0;
        let mut projected = 0;
        if let Some(handle) = &projection {
            projection_replayed =
                projection::catch_up(&db, &mut barrier, handle, head.size, progress)?;
            projected = projection::read_mark(&db)?.unwrap_or(0);
        }
        let (sender, receiver) = sync_channel(config.queue_requests_max);
        let last_checkpoint = last_checkpoint_size(&db)?;
        let appender = appender::Appender::new(
            db.clone(),
            barrier,
            signer,
            head,
            last_checkpoint,
            config.clone(),
            (size.clone(), index.clone()),
        )?
        .with_projection(projection.clone().map(|handle| (handle, projected)));
        let handle = std::thread::Builder::new()
            .name("careledger-appender".into())
            .spawn(move || appender.run(receiver))
            .map_err(io_err(dir))?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                dir: dir.to_path_buf(),
                origin,
                verifier,
                config,
                size,
                index,
                node_cache: NodeCache::new(),
                projection,
                projection_replayed,
                sender: Mutex::new(Some(sender)),
                appender: Mutex::new(Some(handle)),
            }),
        })
    }

    /// The store's files, opened and checked: sled's tree, the durability barrier, the
    /// signing key and the head record the start-up check agreed with.
    fn open_files(
        dir: &Path,
        config: &StoreConfig,
    ) -> Result<(sled::Db, barrier::Barrier, NoteSigner, Head), StoreError> {
        if !dir.join(SLED_DIR).exists() {
            return Err(StoreError::NotInitialised(dir.to_path_buf()));
        }
        config.check()?;
        let key_path = dir.join(KEY_FILE);
        let key_text = fs::read_to_string(&key_path).map_err(io_err(&key_path))?;
        let signer = NoteSigner::parse(&key_text)?;
        let db = open_db(dir, config)?;
        // After a crash sled recovers what reached the file, synced or not. Make it durable
        // before serving any of it: otherwise a later crash of the machine could take back
        // events or a checkpoint that this process has already shown or built on.
        db.flush()?;
        let mut barrier = barrier::Barrier::new(&dir.join(SLED_DIR)).map_err(io_err(dir))?;
        barrier.sync().map_err(io_err(dir))?;
        let text = |key: &[u8]| -> Result<String, StoreError> {
            let v = db.get(key)?.ok_or_else(|| {
                StoreError::Corrupt(format!("missing {}", String::from_utf8_lossy(key)))
            })?;
            String::from_utf8(v.to_vec()).map_err(|_| {
                StoreError::Corrupt(format!("{} is not UTF-8", String::from_utf8_lossy(key)))
            })
        };
        match db.get(keys::FORMAT)?.as_deref() {
            Some([keys::STORE_FORMAT]) => {}
            other => {
                return Err(StoreError::Corrupt(format!(
                    "store layout version {other:?} is not {}",
                    keys::STORE_FORMAT
                )))
            }
        }
        let origin = text(keys::ORIGIN)?;
        let verifier = NoteVerifier::parse(&text(keys::VERIFIER)?)?;
        if signer.verifier() != verifier || signer.name() != origin {
            return Err(StoreError::Corrupt(format!(
                "signing key {} does not belong to this ledger (its verifier key is {verifier})",
                signer.verifier()
            )));
        }
        let head = startup_check(&db, &verifier)?;
        // Fewer events than were durable when the store was last closed, or others: sled
        // recovered an older state from damaged files.
        if let Some((size, root)) = mark::read(dir).map_err(StoreError::Corrupt)? {
            if head.size < size {
                return Err(StoreError::Corrupt(format!(
                    "it holds {} events, but {size} were durable when it was last closed",
                    head.size
                )));
            }
            let stored = merkle::CompactRange::<Blake3Hasher>::from_source(
                &SledNodes::new(&db, None),
                size,
            )?;
            if stored.root() != root {
                return Err(StoreError::Corrupt(format!(
                    "its first {size} events are not the ones it held when it was last closed"
                )));
            }
        }
        Ok((db, barrier, signer, head))
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    pub fn origin(&self) -> &str {
        &self.inner.origin
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

    /// The stored projection pairs (key without the `p` prefix, value), in key order: what
    /// the projection had written by the last persist, not its newest state.
    #[doc(hidden)]
    pub fn projection_pairs(&self) -> Result<Vec<projection::Pair>, StoreError> {
        let mut out = Vec::new();
        for kv in self.inner.db.scan_prefix([keys::PROJECTION]) {
            let (key, value) = kv?;
            out.push((key[1..].to_vec(), value.to_vec()));
        }
        Ok(out)
    }

    /// Removes the stored projection (every `p` key and the `mprojected` mark) of the
    /// ledger at `dir`, which must not be open; the next open with a projection replays
    /// the whole log. Returns the number of keys removed.
    pub fn drop_projections(dir: &Path) -> Result<u64, StoreError> {
        if !dir.join(SLED_DIR).exists() {
            return Err(StoreError::NotInitialised(dir.to_path_buf()));
        }
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
        barrier::Barrier::new(&dir.join(SLED_DIR))
            .and_then(|mut b| b.sync())
            .map_err(io_err(dir))?;
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
            let salt = envelope::random_salt().map_err(|e| AppendError::Random(e.to_string()))?;
            let commitment = envelope::payload_commitment(&salt, &e.payload);
            out.push(Prepared {
                actor: e.actor,
                subject: e.subject,
                kind: e.kind,
                occurred_at_us: e.occurred_at_us,
                salt,
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
        verify::verify(&self.inner.db, &self.inner.verifier, self.size(), progress)
    }

    /// The sled database, for tests that must reach under the store (tampering).
    #[doc(hidden)]
    pub fn raw_db(&self) -> &sled::Db {
        &self.inner.db
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

/// The start-up check: the head record, the stored tree and the latest signed checkpoint
/// must agree. Costs O(log n) reads, so start-up does not replay the log.
fn startup_check(db: &sled::Db, verifier: &NoteVerifier) -> Result<Head, StoreError> {
    let head = match db.get(keys::HEAD)? {
        None => Head {
            size: 0,
            root: <Blake3Hasher as merkle::TreeHasher>::empty_root(),
            last_recorded_at_us: i64::MIN,
        },
        Some(v) => Head::decode(&v)
            .ok_or_else(|| StoreError::Corrupt("the head record is malformed".into()))?,
    };
    let nodes = SledNodes::new(db, None);
    let tree_root = merkle::root::<Blake3Hasher, _>(&nodes, head.size)?;
    if tree_root != head.root {
        return Err(StoreError::Corrupt(format!(
            "the stored tree's root for {} events ({}) differs from the head record's root ({})",
            head.size,
            hex(&tree_root),
            hex(&head.root)
        )));
    }
    let stored_events = match db.scan_prefix([keys::EVENT]).next_back().transpose()? {
        None => 0,
        Some((key, value)) => keys::Chunk::parse(&key, &value)
            .ok_or_else(|| StoreError::Corrupt("the last chunk of events is malformed".into()))?
            .end(),
    };
    if stored_events != head.size {
        return Err(StoreError::Corrupt(format!(
            "the head record says {} events but the last stored event is number {}",
            head.size,
            stored_events as i128 - 1
        )));
    }
    if let Some(kv) = db.scan_prefix([keys::CHECKPOINT]).next_back() {
        let (k, v) = kv?;
        let key_size = keys::trailing_u64(&k).unwrap_or(u64::MAX);
        let note = std::str::from_utf8(&v)
            .map_err(|_| StoreError::Corrupt("the latest checkpoint is not UTF-8".into()))?;
        let checkpoint = Checkpoint::open(note, verifier).map_err(|e| {
            StoreError::Corrupt(format!(
                "the latest checkpoint (size {key_size}) does not verify: {e}"
            ))
        })?;
        if checkpoint.size != key_size {
            return Err(StoreError::Corrupt(format!(
                "the checkpoint stored under size {key_size} is for size {}",
                checkpoint.size
            )));
        }
        if checkpoint.size > head.size {
            return Err(StoreError::Corrupt(format!(
                "the latest signed checkpoint is for {} events but the log holds only {}",
                checkpoint.size, head.size
            )));
        }
        let root = merkle::root::<Blake3Hasher, _>(&nodes, checkpoint.size)?;
        if root != checkpoint.root {
            return Err(StoreError::Corrupt(format!(
                "the stored tree's root for {} events ({}) differs from the signed checkpoint's root ({})",
                checkpoint.size,
                hex(&root),
                hex(&checkpoint.root)
            )));
        }
    }
    Ok(head)
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
