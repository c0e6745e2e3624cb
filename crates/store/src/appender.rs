//! The single writer, in three threads.
//!
//! The appender batches queued requests (group commit), assigns sequence numbers and
//! recorded-at, extends the tree, writes the batch's frames (chunks of event records,
//! request keys, a checkpoint) to the end of the events file in one write, and applies
//! what is derived from them (chunk locations, keys, checkpoints, the projection's changes,
//! the `mlogged` mark) as one atomic sled batch. It then hands the batch's answers to the
//! syncer and goes on with the next batch: its own work is CPU and one `write`. The syncer
//! syncs the events file (`fdatasync`, which covers every batch written so far), once for
//! all the batches waiting, and only then answers their callers, in order. The flusher
//! writes sled's state out once a second, off the acknowledgement path: sled is derived,
//! so its flush is only what keeps a restart's catching up short.
//!
//! Before a batch is built, free space is checked against the floor: below it the batch's
//! requests are refused ([`AppendError::DiskFull`]) and nothing of them is written.
//!
//! After a failed write, sync or sled write every later request is refused: what the
//! appender holds in memory can no longer be trusted to match what is on disk. The next
//! open recovers from the events file.
//!
//! With a projection, the appender holds its write lock while it builds a batch, checks
//! and applies each request's events (all or nothing per request, see
//! [`crate::projection`]) and, when due, stages the projection's changes into the same sled
//! batch. On stop it writes the remaining changes and has the syncer make them durable.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use careledger_log::envelope::{Envelope, FORMAT_VERSION, SALT_LEN};
use careledger_log::merkle::{Blake3Hasher, CompactRange, Hash, TreeHasher};
use careledger_log::{Checkpoint, NoteSigner};

use crate::events_log::{encode_frame, EventsLog, FrameKind};
use crate::fault::{self, Faults, Step};
use crate::index::{index_loop, IndexWork, INDEX_QUEUE_BATCHES_MAX};
use crate::keys::{self, ChunkAt, Head, Logged};
use crate::projection::{self, ProjectionHandle};
use crate::request_keys::{Found, Keys, RequestKey};
use crate::Payloads;
use crate::{
    now_us, AppendError, Prepared, Receipt, Request, StoreConfig, StoreError, StoredNodes,
};

type AppendReply = tokio::sync::oneshot::Sender<Result<Vec<Receipt>, AppendError>>;
type CheckpointReply = tokio::sync::oneshot::Sender<Result<String, AppendError>>;
type ReplicateReply = tokio::sync::oneshot::Sender<
    Result<crate::replica::Replicated, crate::replica::ReplicateError>,
>;

mod replicate;

/// Applied batches waiting for flush and barrier; the appender blocks when this many wait.
const APPLIED_BATCHES_MAX: usize = 64;

/// How often a gathering appender looks again whether the disk is free.
const DISK_POLL: std::time::Duration = std::time::Duration::from_micros(50);

/// Longest an appender lingers for writers of the previous batch to come back.
const LINGER_MAX: std::time::Duration = std::time::Duration::from_micros(500);

/// How often the flusher writes sled's state out.
const SLED_FLUSH_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// An applied batch: who to answer once it is durable.
struct Applied {
    size: u64,
    /// The events file's length once this batch's frames are in it.
    log_end: u64,
    appends: Vec<(AppendReply, Vec<Receipt>)>,
    checkpoint: Option<(CheckpointReply, String)>,
    /// A replica's frames, answered once durable.
    replicated: Option<(ReplicateReply, crate::replica::Replicated)>,
    /// A checkpoint was signed with this batch (this is its root): once the batch is
    /// durable, the syncer moves the durable mark up to it.
    mark: Option<careledger_log::merkle::Hash>,
}

/// An event with its envelope built (sequence number and recorded-at tentatively
/// assigned), ready to be checked by a projection and staged.
struct Built {
    envelope: Envelope,
    bytes: Vec<u8>,
    salt: [u8; SALT_LEN],
    /// In a sealed ledger, the payload's tail as sealed by the writer ([`crate::payloads`]).
    tail: Option<Vec<u8>>,
    payload: Vec<u8>,
}

/// The first write-path failure; once set, nothing more is written or acknowledged.
#[derive(Clone, Default)]
struct Failure(Arc<Mutex<Option<String>>>);

impl Failure {
    fn get(&self) -> Option<String> {
        self.0
            .lock()
            .map_or_else(|_| Some("a writer thread panicked".into()), |f| f.clone())
    }
    fn set(&self, reason: String) {
        if let Ok(mut f) = self.0.lock() {
            f.get_or_insert(reason);
        }
    }
}

pub(crate) struct Appender {
    db: sled::Db,
    log: Arc<EventsLog>,
    /// Where the next frame goes in the events file.
    log_end: u64,
    /// The ledger's folder, whose file system's free space is checked.
    dir: std::path::PathBuf,
    /// `None` in a replica, which signs nothing.
    signer: Option<Arc<NoteSigner>>,
    verifier: careledger_log::NoteVerifier,
    range: CompactRange<Blake3Hasher>,
    last_recorded_at_us: i64,
    last_checkpoint_size: Option<u64>,
    last_checkpoint_at: Instant,
    config: StoreConfig,
    failure: Failure,
    to_syncer: Option<SyncSender<Applied>>,
    syncer: Option<std::thread::JoinHandle<()>>,
    /// Dropping it stops the flusher, after a last flush.
    to_flusher: Option<SyncSender<()>>,
    flusher: Option<std::thread::JoinHandle<()>>,
    to_indexer: Option<SyncSender<IndexWork>>,
    indexer: Option<std::thread::JoinHandle<()>>,
    /// Batches handed to the syncer, and how many of them it has finished.
    applied_batches: u64,
    synced_batches: Arc<AtomicU64>,
    last_batch_events: usize,
    index: Arc<crate::index::Index>,
    index_works_sent: u64,
    projection: Option<ProjectionHandle>,
    /// Events the stored projection reflects (the `mprojected` mark).
    projected: u64,
    request_keys: Keys,
    payloads: Payloads,
}

/// The events file's durable length, and the same for those who wait for it to grow.
pub(crate) type Durable = (Arc<AtomicU64>, Arc<tokio::sync::watch::Sender<u64>>);

/// One queued append request.
type Append = (Vec<Prepared>, Option<RequestKey>, AppendReply);

impl Appender {
    pub(crate) fn new(
        (db, log, dir): (sled::Db, Arc<EventsLog>, std::path::PathBuf),
        (signer, verifier): (Option<Arc<NoteSigner>>, careledger_log::NoteVerifier),
        (head, log_end): (Head, u64),
        last_checkpoint_size: Option<u64>,
        config: StoreConfig,
        (size, durable, index): (Arc<AtomicU64>, Durable, Arc<crate::index::Index>),
        payloads: Payloads,
    ) -> Result<Self, StoreError> {
        let range = CompactRange::from_source(&StoredNodes::new(&db, &log, None), head.size)?;
        let request_keys = Keys::load(&db).map_err(StoreError::Corrupt)?;
        assert_eq!(
            range.root(),
            head.root,
            "start-up check passed, so the edge agrees"
        );
        let failure = Failure::default();
        let (to_syncer, from_appender) = sync_channel(APPLIED_BATCHES_MAX);
        let synced_batches = Arc::new(AtomicU64::new(0));
        let syncer = {
            let (log, failure, synced) = (log.clone(), failure.clone(), synced_batches.clone());
            let faults = config.faults.clone();
            let dir_for_marks = dir.clone();
            std::thread::Builder::new()
                .name("careledger-syncer".into())
                .spawn(move || {
                    sync_loop(
                        (log, faults, dir_for_marks),
                        from_appender,
                        (size, durable),
                        synced,
                        failure,
                    )
                })
                .map_err(|source| StoreError::Io {
                    path: "careledger-syncer thread".into(),
                    source,
                })?
        };
        let (to_flusher, flusher_stop) = sync_channel(1);
        let flusher = {
            let (db, failure, faults) = (db.clone(), failure.clone(), config.faults.clone());
            let log = log.clone();
            std::thread::Builder::new()
                .name("careledger-flusher".into())
                .spawn(move || flush_loop((db, log, faults), flusher_stop, failure))
                .map_err(|source| StoreError::Io {
                    path: "careledger-flusher thread".into(),
                    source,
                })?
        };
        let (to_indexer, indexer_work) = sync_channel(INDEX_QUEUE_BATCHES_MAX);
        let index_for_pause = index.clone();
        let indexer = {
            std::thread::Builder::new()
                .name("careledger-indexer".into())
                .spawn(move || index_loop(index, indexer_work))
                .map_err(|source| StoreError::Io {
                    path: "careledger-indexer thread".into(),
                    source,
                })?
        };
        Ok(Self {
            db,
            log,
            log_end,
            dir,
            signer,
            verifier,
            range,
            last_recorded_at_us: head.last_recorded_at_us,
            last_checkpoint_size,
            last_checkpoint_at: Instant::now(),
            config,
            failure,
            to_syncer: Some(to_syncer),
            syncer: Some(syncer),
            to_flusher: Some(to_flusher),
            flusher: Some(flusher),
            to_indexer: Some(to_indexer),
            indexer: Some(indexer),
            applied_batches: 0,
            synced_batches,
            last_batch_events: 0,
            index: index_for_pause,
            index_works_sent: 0,
            projection: None,
            projected: 0,
            request_keys,
            payloads,
        })
    }

    /// Keeps `projection`, whose stored state reflects `projected` events, with the log.
    pub(crate) fn with_projection(mut self, projection: Option<(ProjectionHandle, u64)>) -> Self {
        if let Some((handle, projected)) = projection {
            self.projection = Some(handle);
            self.projected = projected;
        }
        self
    }

    pub(crate) fn run(mut self, queue: Receiver<Request>) {
        loop {
            // A replica signs nothing: its checkpoints come from its primary.
            let every = match self.signer {
                Some(_) => self.config.checkpoint_every,
                None => std::time::Duration::from_secs(3600),
            };
            let wait = every.saturating_sub(self.last_checkpoint_at.elapsed());
            // Under a steady stream a zero timeout would always find a request waiting.
            if wait.is_zero() {
                self.timed_checkpoint();
                continue;
            }
            let first = match queue.recv_timeout(wait) {
                Ok(request) => request,
                Err(RecvTimeoutError::Timeout) => {
                    self.timed_checkpoint();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let mut appends: Vec<Append> = Vec::new();
            let mut events = 0usize;
            let mut next = Some(first);
            while let Some(request) = next.take() {
                match request {
                    Request::Append {
                        events: e,
                        key,
                        reply,
                    } => {
                        events += e.len();
                        appends.push((e, key, reply));
                    }
                    Request::Replicate {
                        bytes,
                        checkpoint,
                        reply,
                    } => {
                        self.write_batch(std::mem::take(&mut appends), None);
                        events = 0;
                        self.replicate(bytes, &checkpoint, reply);
                    }
                    Request::Checkpoint { reply } => {
                        // The checkpoint covers everything queued before it.
                        self.write_batch(std::mem::take(&mut appends), Some(reply));
                        events = 0;
                    }
                    Request::Pause { parked, release } => {
                        self.write_batch(std::mem::take(&mut appends), None);
                        events = 0;
                        // Parked means nothing is being written: wait for the syncer and
                        // the indexer to finish what they hold.
                        while self.disk_busy()
                            || (self.index.works_applied() < self.index_works_sent
                                && !self.index.is_broken())
                        {
                            std::thread::sleep(DISK_POLL);
                        }
                        let _ = parked.send(());
                        // Either a release or the guard's drop ends the pause.
                        let _ = release.blocking_recv();
                    }
                }
                // Group commit: take whatever else is already waiting, up to the batch limit.
                if events < self.config.batch_events_max {
                    next = queue.try_recv().ok();
                    // While the disk is still busy with earlier batches, a small batch would
                    // only queue behind them: keep gathering until the disk is free.
                    while next.is_none() && self.disk_busy() {
                        match queue.recv_timeout(DISK_POLL) {
                            Ok(request) => next = Some(request),
                            Err(RecvTimeoutError::Timeout) => {}
                            Err(RecvTimeoutError::Disconnected) => break,
                        }
                    }
                    // Under steady load the writers answered by the last batch come back
                    // together; linger briefly for them rather than splitting them in two.
                    if next.is_none() && events < self.last_batch_events {
                        let until = Instant::now() + LINGER_MAX;
                        while next.is_none() {
                            let left = until.saturating_duration_since(Instant::now());
                            if left.is_zero() {
                                break;
                            }
                            next = queue.recv_timeout(left.min(DISK_POLL)).ok();
                        }
                    }
                }
            }
            self.last_batch_events = events;
            self.write_batch(appends, None);
        }
        // The queue is closed: write what the projection has not yet written, let the
        // syncer answer what is in flight and make it durable, then stop.
        self.final_projection_batch();
        self.to_syncer.take();
        self.to_indexer.take();
        if let Some(indexer) = self.indexer.take() {
            let _ = indexer.join();
        }
        if let Some(syncer) = self.syncer.take() {
            let _ = syncer.join();
        }
        // The flusher writes sled out a last time and stops.
        self.to_flusher.take();
        if let Some(flusher) = self.flusher.take() {
            let _ = flusher.join();
        }
    }

    /// Applies one batch (and a checkpoint, if due or asked for), then hands the answers to
    /// the syncer.
    fn write_batch(&mut self, appends: Vec<Append>, checkpoint: Option<CheckpointReply>) {
        if appends.is_empty() && checkpoint.is_none() {
            return;
        }
        if let Some(reason) = self.failure.get() {
            for (_, _, reply) in appends {
                let _ = reply.send(Err(AppendError::WriteFailed(reason.clone())));
            }
            if let Some(reply) = checkpoint {
                let _ = reply.send(Err(AppendError::WriteFailed(reason)));
            }
            return;
        }
        // Below the free-space floor nothing is built: the requests are refused as they
        // are, and the next batch looks again. A checkpoint alone is a few hundred bytes.
        let appends = self.refuse_below_floor(appends);
        if appends.is_empty() && checkpoint.is_none() {
            return;
        }
        // One write lock for the whole batch: every check runs serialised with the append.
        let handle = self.projection.clone().filter(|_| !appends.is_empty());
        let mut projection = match handle.as_ref().map(|h| h.write()) {
            None => None,
            Some(Ok(guard)) => Some(guard),
            Some(Err(_)) => {
                let reason = "the projection's lock is poisoned (a thread panicked while \
                              changing it)"
                    .to_string();
                self.failure.set(reason.clone());
                for (_, _, reply) in appends {
                    let _ = reply.send(Err(AppendError::WriteFailed(reason.clone())));
                }
                if let Some(reply) = checkpoint {
                    let _ = reply.send(Err(AppendError::WriteFailed(reason)));
                }
                return;
            }
        };
        let mut batch = sled::Batch::default();
        let mut frames = Vec::new();
        // Request keys' frames go after every chunk of the batch: a key is in the file only
        // if the events it answers are (a write cut short keeps a prefix).
        let mut key_frames = Vec::new();
        let mut chunk = keys::ChunkBuilder::new(self.range.size());
        let mut index = Vec::new();
        let mut answers = Vec::with_capacity(appends.len());
        let mut staged = Ok(());
        'requests: for (events, key, reply) in appends {
            // After a failure the rest are not staged, only answered (with the failure).
            if staged.is_err() {
                answers.push((reply, Vec::new()));
                continue;
            }
            // A key seen before is answered with its first receipts, through the syncer
            // with this batch: by then the first append is durable too.
            if let Some(k) = &key {
                match self.request_keys.find(&self.db, k) {
                    Ok(Found::New) if self.request_keys.room(self.config.request_keys_max) => {}
                    Ok(Found::New) => {
                        let _ = reply.send(Err(AppendError::KeysFull {
                            max: self.config.request_keys_max,
                        }));
                        continue;
                    }
                    Ok(Found::Same(receipts)) => {
                        answers.push((reply, receipts));
                        continue;
                    }
                    Ok(Found::Other { first_seq }) => {
                        let _ = reply.send(Err(AppendError::KeyReused { first_seq }));
                        continue;
                    }
                    Err(reason) => {
                        let _ = reply.send(Err(AppendError::KeyLookup(reason)));
                        continue;
                    }
                }
            }
            let built = match self.build(events) {
                Ok(built) => built,
                Err(e) => {
                    staged = Err(e);
                    answers.push((reply, Vec::new()));
                    continue;
                }
            };
            if let Some(projection) = projection.as_mut() {
                projection.begin();
                for (i, event) in built.iter().enumerate() {
                    if let Err(reason) = projection.apply(&event.envelope, &event.payload) {
                        // Nothing of the request is staged and no sequence number is used.
                        projection.rollback();
                        let _ = reply.send(Err(AppendError::Refused { index: i, reason }));
                        continue 'requests;
                    }
                }
                projection.commit();
            }
            let receipts: Result<Vec<Receipt>, String> = built
                .into_iter()
                .map(|event| self.stage((&mut batch, &mut frames), &mut chunk, &mut index, event))
                .collect();
            let receipts = match receipts {
                Ok(receipts) => receipts,
                Err(e) => {
                    staged = Err(e);
                    answers.push((reply, Vec::new()));
                    continue;
                }
            };
            if let Some(k) = key {
                self.request_keys.stage(
                    (&mut batch, &mut key_frames),
                    k,
                    self.last_recorded_at_us,
                    &receipts,
                );
            }
            answers.push((reply, receipts));
        }
        if answers.is_empty() && checkpoint.is_none() {
            // Every request was refused: nothing to write.
            return;
        }
        if !chunk.is_empty() {
            self.close_chunk((&mut batch, &mut frames), chunk);
        }
        frames.extend_from_slice(&key_frames);
        // The projection's changes go with the batch that takes the log far enough past
        // the last time they were written.
        let mut projected = None;
        if let (Some(projection), Ok(())) = (projection.as_mut(), &staged) {
            projected = self.persist_if_due(&mut **projection, &mut batch, self.range.size());
        }
        drop(projection);
        if staged.is_ok() && !answers.is_empty() {
            staged = self.prune_keys(&mut batch, self.last_recorded_at_us);
        }
        let mut note = None;
        let result = staged.and_then(|()| {
            let size = self.range.size();
            let head = Head {
                size,
                root: self.range.root(),
                last_recorded_at_us: self.last_recorded_at_us,
            };
            let grown = self.last_checkpoint_size != Some(size);
            let due = size - self.last_checkpoint_size.unwrap_or(0)
                >= self.config.checkpoint_every_events;
            if grown && (checkpoint.is_some() || due) {
                note = Some(self.stage_checkpoint((&mut batch, &mut frames), head)?);
            } else if checkpoint.is_some() {
                note = Some(self.stored_checkpoint(size)?);
            }
            let check = (!answers.is_empty()).then(|| self.range.root());
            // Keys made for this batch are durable before anything sealed with them is
            // written.
            if let Some(keyring) = self.payloads.keyring() {
                keyring.write_pending(self.config.faults.as_deref())?;
            }
            self.write_then_apply(&frames, batch, size, check)?;
            Ok(size)
        });
        match result {
            Ok(size) => {
                self.request_keys.written();
                if let Some(projected) = projected {
                    self.projected = projected;
                }
                let signed = note.is_some() && self.last_checkpoint_size != Some(size);
                if signed {
                    self.last_checkpoint_size = Some(size);
                    self.last_checkpoint_at = Instant::now();
                }
                let applied = Applied {
                    size,
                    log_end: self.log_end,
                    appends: answers,
                    checkpoint: checkpoint.zip(note),
                    replicated: None,
                    mark: signed.then(|| self.range.root()),
                };
                self.hand_over(index, applied);
            }
            Err(reason) => {
                self.request_keys.discarded();
                self.failure.set(reason.clone());
                for (reply, _) in answers {
                    let _ = reply.send(Err(AppendError::WriteFailed(reason.clone())));
                }
                if let Some(reply) = checkpoint {
                    let _ = reply.send(Err(AppendError::WriteFailed(reason)));
                }
            }
        }
    }

    /// With the projection's changes and the `mprojected` mark staged into `batch` if the
    /// log (now `size` events) is far enough past the last time they were written: the
    /// size they reflect.
    fn persist_if_due(
        &self,
        projection: &mut dyn projection::Projection,
        batch: &mut sled::Batch,
        size: u64,
    ) -> Option<u64> {
        if size < self.projected + self.config.projection_persist_every_events {
            return None;
        }
        if let Err(e) = projection::stage_changes(batch, projection.take_changes(), &self.payloads)
        {
            // Changes taken and not written: nothing later may move the mark past them.
            // The events of this batch still go out; every later append is refused and
            // the next start replays from the mark.
            self.failure
                .set(format!("the projection's changes could not be sealed: {e}"));
            return None;
        }
        batch.insert(keys::PROJECTED, &size.to_le_bytes()[..]);
        Some(size)
    }

    /// Stages the removal of request keys older than the keep time before
    /// `last_recorded_at_us`, and the count of those left.
    fn prune_keys(
        &mut self,
        batch: &mut sled::Batch,
        last_recorded_at_us: i64,
    ) -> Result<(), String> {
        let keep = i64::try_from(self.config.request_keys_keep.as_micros()).unwrap_or(i64::MAX);
        let before = last_recorded_at_us.saturating_sub(keep);
        self.request_keys.prune(&self.db, batch, before)?;
        if let Some(count) = self.request_keys.staged_count() {
            batch.insert(keys::REQUEST_KEYS, &count.to_le_bytes()[..]);
        }
        Ok(())
    }

    /// Hands a written batch on: its subjects to the indexer, its answers to the syncer.
    fn hand_over(&mut self, index: Vec<(String, u64)>, applied: Applied) {
        if !index.is_empty() {
            if let Some(to_indexer) = &self.to_indexer {
                // Blocks while the indexer is INDEX_QUEUE_BATCHES_MAX batches behind.
                if to_indexer
                    .send(IndexWork {
                        entries: index,
                        upto: applied.size,
                    })
                    .is_ok()
                {
                    self.index_works_sent += 1;
                }
            }
        }
        if let Some(to_syncer) = &self.to_syncer {
            // Blocks only while APPLIED_BATCHES_MAX batches wait for the disk.
            if to_syncer.send(applied).is_ok() {
                self.applied_batches += 1;
            }
        }
    }

    /// The record of truth first: `frames`, in one write at the end of the events file. A
    /// failure here, or a crash, leaves at most a torn last frame, which the next open
    /// removes; nothing derived from them is in sled yet. Then `batch`, with the `mlogged`
    /// mark of the new end, as one atomic sled batch; and, with `root`, a check that the
    /// tree the stored nodes make is the one in memory (O(log n) reads, mostly from the
    /// page cache), before anything of the batch is answered.
    fn write_then_apply(
        &mut self,
        frames: &[u8],
        mut batch: sled::Batch,
        size: u64,
        root: Option<Hash>,
    ) -> Result<(), String> {
        let batch_start = self.log_end;
        if !frames.is_empty() {
            let end = self.log_end + frames.len() as u64;
            fault::write_at(
                self.config.faults.as_deref(),
                Step::LogWrite,
                self.log.file(),
                frames,
                self.log_end,
            )
            .map_err(|e| format!("writing the events file failed: {e}"))?;
            self.log_end = end;
        }
        batch.insert(
            keys::LOGGED,
            &Logged {
                offset: self.log_end,
                size,
                batch_start,
            }
            .encode()[..],
        );
        fault::check(self.config.faults.as_deref(), Step::SledApply)
            .map_err(|e| format!("writing the derived state failed: {e}"))?;
        self.db
            .apply_batch(batch)
            .map_err(|e| format!("writing the derived state failed: {e}"))?;
        if let Some(root) = root {
            let stored = CompactRange::<Blake3Hasher>::from_source(
                &StoredNodes::new(&self.db, &self.log, None),
                size,
            )
            .map_err(|e| format!("the stored tree of {size} cannot be read: {e}"))?;
            if stored.root() != root {
                return Err(format!(
                    "the stored tree of {size} events does not have the root the appender built"
                ));
            }
        }
        Ok(())
    }

    /// Builds the envelopes of one request with the sequence numbers and recorded-at they
    /// will have if it is staged; nothing is assigned yet.
    fn build(&self, events: Vec<Prepared>) -> Result<Vec<Built>, String> {
        let first = self.range.size();
        let mut last_recorded_at_us = self.last_recorded_at_us;
        let mut built = Vec::with_capacity(events.len());
        for (seq, event) in (first..).zip(events) {
            // Recorded-at never decreases, even if the wall clock steps back.
            let clock_us = match self.config.clock {
                crate::Clock::Wall => now_us(),
                crate::Clock::Simulated => event.occurred_at_us,
            };
            let recorded_at_us = clock_us.max(last_recorded_at_us);
            last_recorded_at_us = recorded_at_us;
            let envelope = Envelope {
                version: FORMAT_VERSION,
                seq,
                recorded_at_us,
                occurred_at_us: event.occurred_at_us,
                actor: event.actor,
                subject: event.subject,
                kind: event.kind,
                payload_commitment: event.commitment,
            };
            let bytes = envelope
                .encode()
                .map_err(|e| format!("event {seq} does not encode: {e}"))?;
            // Assertion: what is hashed and stored reads back as what was meant.
            match Envelope::decode(&bytes) {
                Ok(back) if back == envelope => {}
                Ok(_) => return Err(format!("event {seq}'s envelope does not decode to itself")),
                Err(e) => return Err(format!("event {seq}'s envelope does not decode: {e}")),
            }
            built.push(Built {
                envelope,
                bytes,
                salt: event.salt,
                tail: event.tail,
                payload: event.payload,
            });
        }
        Ok(built)
    }

    /// Adds one built event's record (envelope, completed tree nodes, salt and payload) to
    /// the current chunk, closing it into the batch when full, and its subject to the
    /// index work. Events must come in the order [`Appender::build`] numbered them.
    fn stage(
        &mut self,
        (batch, frames): (&mut sled::Batch, &mut Vec<u8>),
        chunk: &mut keys::ChunkBuilder,
        index: &mut Vec<(String, u64)>,
        event: Built,
    ) -> Result<Receipt, String> {
        let Built {
            envelope,
            bytes,
            salt,
            tail,
            payload,
        } = event;
        let seq = envelope.seq;
        debug_assert_eq!(seq, self.range.size());
        self.last_recorded_at_us = envelope.recorded_at_us;
        let mut nodes: Vec<Hash> = Vec::with_capacity(keys::nodes_completed_by(seq));
        self.range
            .push(Blake3Hasher::hash_leaf(&bytes), |level, index, hash| {
                debug_assert_eq!(keys::completing_leaf(level, index), seq);
                nodes.push(*hash);
            });
        match (&self.payloads, &tail) {
            // Sealed on the writer's thread, its key made then (and written with the
            // batch's other new keys before the frames).
            (Payloads::Sealed(_), Some(tail)) => chunk.push(&bytes, &nodes, &[tail]),
            (Payloads::Plain, None) => chunk.push(&bytes, &nodes, &[&salt, &payload]),
            _ => {
                return Err(format!(
                    "event {seq} was not sealed as this ledger keeps payloads"
                ))
            }
        }
        if chunk.is_full() {
            let full = std::mem::replace(chunk, keys::ChunkBuilder::new(seq + 1));
            self.close_chunk((batch, frames), full);
        }
        if let Some(subject) = envelope.subject {
            index.push((subject, seq));
        }
        Ok(Receipt {
            seq,
            recorded_at_us: envelope.recorded_at_us,
            replayed: false,
        })
    }

    /// Adds a chunk's frame to the batch's frames and its location to sled's batch.
    fn close_chunk(
        &self,
        (batch, frames): (&mut sled::Batch, &mut Vec<u8>),
        chunk: keys::ChunkBuilder,
    ) {
        let (first, value) = chunk.finish();
        let offset = self.log_end + frames.len() as u64;
        let len = encode_frame(frames, FrameKind::Events, first, &value) as u32;
        batch.insert(
            &keys::chunk_at(first),
            &ChunkAt { offset, len }.encode()[..],
        );
    }

    /// Answers the requests that free space does not allow (below the floor, or for
    /// reserve kinds below the reserve) with [`AppendError::DiskFull`]; returns the rest.
    fn refuse_below_floor(&self, appends: Vec<Append>) -> Vec<Append> {
        if appends.is_empty() {
            return appends;
        }
        let floor = self.config.free_bytes_min;
        let free = match fault::free_bytes(self.config.faults.as_deref(), &self.dir) {
            Ok(free) if free < floor => free,
            Ok(_) => return appends,
            // A file system that cannot say: the write itself will tell.
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "free space could not be read");
                return appends;
            }
        };
        let reserve = self.config.free_bytes_reserve;
        let mut kept = Vec::with_capacity(appends.len());
        for (events, key, reply) in appends {
            let reserved = !self.config.reserve_kinds.is_empty()
                && events
                    .iter()
                    .all(|e| self.config.reserve_kinds.contains(&e.kind));
            if reserved && free >= reserve {
                kept.push((events, key, reply));
            } else {
                let floor = if reserved { reserve } else { floor };
                let _ = reply.send(Err(AppendError::DiskFull { free, floor }));
            }
        }
        kept
    }

    /// On stop: writes the projection's remaining changes and the mark for the whole log,
    /// and hands the batch to the syncer for flush and barrier, so that a clean close
    /// leaves nothing to replay.
    fn final_projection_batch(&mut self) {
        let Some(handle) = self.projection.clone() else {
            return;
        };
        if self.failure.get().is_some() {
            return;
        }
        let Ok(mut projection) = handle.write() else {
            return;
        };
        let size = self.range.size();
        let changes = projection.take_changes();
        drop(projection);
        if changes.is_empty() && size == self.projected {
            return;
        }
        let mut batch = sled::Batch::default();
        let sealed = projection::stage_changes(&mut batch, changes, &self.payloads).and_then(
            |()| match self.payloads.keyring() {
                Some(keyring) => keyring
                    .write_pending(self.config.faults.as_deref())
                    .map(|_| ()),
                None => Ok(()),
            },
        );
        if let Err(e) = sealed {
            self.failure.set(e);
            return;
        }
        batch.insert(keys::PROJECTED, &size.to_le_bytes()[..]);
        if let Err(e) = self.db.apply_batch(batch) {
            self.failure.set(e.to_string());
            return;
        }
        self.projected = size;
        if let Some(to_syncer) = &self.to_syncer {
            if to_syncer
                .send(Applied {
                    size,
                    log_end: self.log_end,
                    appends: Vec::new(),
                    checkpoint: None,
                    replicated: None,
                    mark: None,
                })
                .is_ok()
            {
                self.applied_batches += 1;
            }
        }
    }

    fn disk_busy(&self) -> bool {
        self.synced_batches.load(Ordering::Acquire) < self.applied_batches
    }

    fn stage_checkpoint(
        &self,
        (batch, frames): (&mut sled::Batch, &mut Vec<u8>),
        head: Head,
    ) -> Result<String, String> {
        // One tree, one signer, sizes only growing: no two checkpoints can disagree.
        if let Some(last) = self.last_checkpoint_size {
            assert!(
                head.size > last,
                "checkpoints are only signed for a grown tree"
            );
        }
        let signer = self
            .signer
            .as_ref()
            .ok_or("a replica signs no checkpoints of its own")?;
        let note = Checkpoint {
            origin: signer.name().to_string(),
            size: head.size,
            root: head.root,
        }
        .sign(signer)
        .map_err(|e| e.to_string())?;
        encode_frame(frames, FrameKind::Checkpoint, head.size, note.as_bytes());
        batch.insert(&keys::checkpoint(head.size), note.as_bytes());
        Ok(note)
    }

    fn stored_checkpoint(&self, size: u64) -> Result<String, String> {
        let stored = self
            .db
            .get(keys::checkpoint(size))
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("the checkpoint for {size} events is missing"))?;
        String::from_utf8(stored.to_vec()).map_err(|_| "a stored checkpoint is not UTF-8".into())
    }

    fn timed_checkpoint(&mut self) {
        self.last_checkpoint_at = Instant::now();
        if self.signer.is_none() || self.last_checkpoint_size == Some(self.range.size()) {
            return;
        }
        let (reply, _) = tokio::sync::oneshot::channel();
        self.write_batch(Vec::new(), Some(reply));
    }
}

/// The syncer: one sync of the events file for every applied batch waiting, then the
/// answers, in order.
fn sync_loop(
    (log, faults, dir): (Arc<EventsLog>, Option<Arc<Faults>>, std::path::PathBuf),
    applied: Receiver<Applied>,
    (size, (durable_bytes, durable_watch)): (Arc<AtomicU64>, Durable),
    synced_batches: Arc<AtomicU64>,
    failure: Failure,
) {
    while let Ok(first) = applied.recv() {
        let mut batches = vec![first];
        while let Ok(more) = applied.try_recv() {
            batches.push(more);
        }
        let outcome = match failure.get() {
            Some(reason) => Err(reason),
            // One fdatasync covers every frame written so far.
            None => fault::sync_data(faults.as_deref(), Step::LogSync, log.file())
                .map_err(|e| format!("syncing the events file failed: {e}")),
        };
        if let Err(reason) = &outcome {
            failure.set(reason.clone());
        }
        let count = batches.len() as u64;
        let mut mark = None;
        for batch in batches {
            match &outcome {
                Ok(()) => {
                    if let Some(root) = batch.mark {
                        mark = Some((batch.size, root, batch.log_end));
                    }
                    durable_bytes.fetch_max(batch.log_end, Ordering::Release);
                    size.fetch_max(batch.size, Ordering::Release);
                    for (reply, receipts) in batch.appends {
                        let _ = reply.send(Ok(receipts));
                    }
                    if let Some((reply, note)) = batch.checkpoint {
                        let _ = reply.send(Ok(note));
                    }
                    if let Some((reply, replicated)) = batch.replicated {
                        let _ = reply.send(Ok(replicated));
                    }
                }
                Err(reason) => {
                    for (reply, _) in batch.appends {
                        let _ = reply.send(Err(AppendError::WriteFailed(reason.clone())));
                    }
                    if let Some((reply, _)) = batch.checkpoint {
                        let _ = reply.send(Err(AppendError::WriteFailed(reason.clone())));
                    }
                    if let Some((reply, _)) = batch.replicated {
                        let _ = reply.send(Err(AppendError::WriteFailed(reason.clone()).into()));
                    }
                }
            }
        }
        // At each signed checkpoint, the durable mark moves up to it (it is otherwise
        // written at close), so that a ledger cut short is caught after a crash too.
        if let Some((size, root, bytes)) = mark {
            if let Err(e) = crate::mark::write(&dir, size, &root, bytes) {
                tracing::warn!(dir = %dir.display(), error = %e, "the durable mark could not be written");
            }
        }
        if outcome.is_ok() {
            durable_watch.send_replace(durable_bytes.load(Ordering::Acquire));
        }
        synced_batches.fetch_add(count, Ordering::Release);
    }
}

/// The flusher: sled's state written out once a second, and a last time on stop. A
/// failure refuses later appends, like any failed write.
fn flush_loop(
    (db, log, faults): (sled::Db, Arc<EventsLog>, Option<Arc<Faults>>),
    stop: Receiver<()>,
    failure: Failure,
) {
    loop {
        let stopping = !matches!(
            stop.recv_timeout(SLED_FLUSH_EVERY),
            Err(RecvTimeoutError::Timeout)
        );
        if failure.get().is_none() {
            // The events file first, so that what sled writes out describes frames that
            // are durable (but for the batches applied while it flushes, which opening
            // reads back: `Logged::batch_start`).
            let flushed = fault::check(faults.as_deref(), Step::SledFlush)
                .and_then(|()| log.file().sync_data())
                .map_err(|e| e.to_string())
                .and_then(|()| db.flush().map(|_| ()).map_err(|e| e.to_string()));
            if let Err(e) = flushed {
                failure.set(format!("writing the derived state failed: {e}"));
            }
        }
        if stopping {
            return;
        }
    }
}
