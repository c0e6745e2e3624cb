//! The single writer. It batches queued requests (group commit), assigns sequence numbers
//! and recorded-at, extends the tree, writes everything as one sled batch, makes it durable
//! and only then answers. After a failed write it refuses every later request: what sled
//! holds in memory can no longer be trusted to match what is on disk.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Instant;

use careledger_log::envelope::{Envelope, FORMAT_VERSION};
use careledger_log::merkle::{Blake3Hasher, CompactRange, TreeHasher};
use careledger_log::{Checkpoint, NoteSigner};

use crate::barrier::Barrier;
use crate::keys::{self, Head};
use crate::{now_us, AppendError, Prepared, Receipt, Request, SledNodes, StoreConfig, StoreError};

pub(crate) struct Appender {
    db: sled::Db,
    barrier: Barrier,
    signer: NoteSigner,
    range: CompactRange<Blake3Hasher>,
    last_recorded_at_us: i64,
    last_checkpoint_size: Option<u64>,
    last_checkpoint_at: Instant,
    config: StoreConfig,
    size: Arc<AtomicU64>,
    failed: Option<String>,
}

type AppendReply = tokio::sync::oneshot::Sender<Result<Vec<Receipt>, AppendError>>;

impl Appender {
    pub(crate) fn new(
        db: sled::Db,
        barrier: Barrier,
        signer: NoteSigner,
        head: Head,
        last_checkpoint_size: Option<u64>,
        config: StoreConfig,
        size: Arc<AtomicU64>,
    ) -> Result<Self, StoreError> {
        let range = CompactRange::from_source(&SledNodes(&db), head.size)?;
        assert_eq!(
            range.root(),
            head.root,
            "start-up check passed, so the edge agrees"
        );
        Ok(Self {
            db,
            barrier,
            signer,
            range,
            last_recorded_at_us: head.last_recorded_at_us,
            last_checkpoint_size,
            last_checkpoint_at: Instant::now(),
            config,
            size,
            failed: None,
        })
    }

    pub(crate) fn run(mut self, queue: Receiver<Request>) {
        loop {
            let wait = self
                .config
                .checkpoint_every
                .saturating_sub(self.last_checkpoint_at.elapsed());
            let first = match queue.recv_timeout(wait) {
                Ok(request) => request,
                Err(RecvTimeoutError::Timeout) => {
                    self.timed_checkpoint();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let mut appends: Vec<(Vec<Prepared>, AppendReply)> = Vec::new();
            let mut events = 0usize;
            let mut next = Some(first);
            while let Some(request) = next.take() {
                match request {
                    Request::Append { events: e, reply } => {
                        events += e.len();
                        appends.push((e, reply));
                    }
                    Request::Checkpoint { reply } => {
                        // Write what is queued before it, so the checkpoint covers it.
                        self.write_batch(std::mem::take(&mut appends));
                        events = 0;
                        let _ = reply.send(self.checkpoint_on_demand());
                    }
                    Request::Pause { parked, release } => {
                        self.write_batch(std::mem::take(&mut appends));
                        events = 0;
                        let _ = parked.send(());
                        // Either a release or the guard's drop ends the pause.
                        let _ = release.blocking_recv();
                    }
                }
                // Group commit: take whatever else is already waiting, up to the batch limit.
                if events < self.config.batch_events_max {
                    next = queue.try_recv().ok();
                }
            }
            self.write_batch(appends);
        }
        // The queue is closed: make sure the last batch's checkpoint state is on disk.
        let _ = self.db.flush();
    }

    fn write_batch(&mut self, appends: Vec<(Vec<Prepared>, AppendReply)>) {
        if appends.is_empty() {
            return;
        }
        if let Some(reason) = &self.failed {
            for (_, reply) in appends {
                let _ = reply.send(Err(AppendError::WriteFailed(reason.clone())));
            }
            return;
        }
        let before = self.range.clone();
        let before_recorded_at = self.last_recorded_at_us;
        let mut batch = sled::Batch::default();
        let mut receipts: Vec<Vec<Receipt>> = Vec::with_capacity(appends.len());
        let mut replies = Vec::with_capacity(appends.len());
        let mut outcome = Ok(());
        'requests: for (events, reply) in appends {
            replies.push(reply);
            let mut these = Vec::with_capacity(events.len());
            for event in events {
                match self.stage(&mut batch, event) {
                    Ok(receipt) => these.push(receipt),
                    Err(e) => {
                        outcome = Err(e);
                        break 'requests;
                    }
                }
            }
            receipts.push(these);
        }
        let outcome = outcome.and_then(|()| self.commit(batch));
        match outcome {
            Ok(()) => {
                self.size.store(self.range.size(), Ordering::Release);
                for (reply, receipts) in replies.into_iter().zip(receipts) {
                    let _ = reply.send(Ok(receipts));
                }
            }
            Err(reason) => {
                self.range = before;
                self.last_recorded_at_us = before_recorded_at;
                self.failed = Some(reason.clone());
                for reply in replies {
                    let _ = reply.send(Err(AppendError::WriteFailed(reason.clone())));
                }
            }
        }
    }

    /// Adds one event to the batch: envelope, tree nodes, subject index.
    fn stage(&mut self, batch: &mut sled::Batch, event: Prepared) -> Result<Receipt, String> {
        let seq = self.range.size();
        // Recorded-at never decreases, even if the wall clock steps back.
        let recorded_at_us = now_us().max(self.last_recorded_at_us);
        self.last_recorded_at_us = recorded_at_us;
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
        batch.insert(
            &keys::event(seq),
            keys::encode_record(&bytes, &event.salt, &event.payload),
        );
        if let Some(subject) = &envelope.subject {
            batch.insert(keys::subject(subject, seq), &[]);
        }
        self.range
            .push(Blake3Hasher::hash_leaf(&bytes), |level, index, hash| {
                batch.insert(&keys::node(level, index), hash);
            });
        Ok(Receipt {
            seq,
            recorded_at_us,
        })
    }

    /// Head record, checkpoint if due, one atomic sled batch, flush, barrier.
    fn commit(&mut self, mut batch: sled::Batch) -> Result<(), String> {
        let size = self.range.size();
        let head = Head {
            size,
            root: self.range.root(),
            last_recorded_at_us: self.last_recorded_at_us,
        };
        batch.insert(keys::HEAD, &head.encode()[..]);
        let since = size - self.last_checkpoint_size.unwrap_or(0);
        let signed = if since >= self.config.checkpoint_every_events {
            Some(self.stage_checkpoint(&mut batch, head)?)
        } else {
            None
        };
        self.db.apply_batch(batch).map_err(|e| e.to_string())?;
        self.db.flush().map_err(|e| e.to_string())?;
        self.barrier.sync().map_err(|e| e.to_string())?;
        if signed.is_some() {
            self.last_checkpoint_size = Some(size);
            self.last_checkpoint_at = Instant::now();
        }
        Ok(())
    }

    fn stage_checkpoint(&self, batch: &mut sled::Batch, head: Head) -> Result<String, String> {
        // One tree, one signer, sizes only growing: no two checkpoints can disagree.
        if let Some(last) = self.last_checkpoint_size {
            assert!(
                head.size > last,
                "checkpoints are only signed for a grown tree"
            );
        }
        let note = Checkpoint {
            origin: self.signer.name().to_string(),
            size: head.size,
            root: head.root,
        }
        .sign(&self.signer)
        .map_err(|e| e.to_string())?;
        batch.insert(&keys::checkpoint(head.size), note.as_bytes());
        Ok(note)
    }

    fn write_checkpoint(&mut self) -> Result<String, String> {
        let head = Head {
            size: self.range.size(),
            root: self.range.root(),
            last_recorded_at_us: self.last_recorded_at_us,
        };
        let mut batch = sled::Batch::default();
        let note = self.stage_checkpoint(&mut batch, head)?;
        self.db.apply_batch(batch).map_err(|e| e.to_string())?;
        self.db.flush().map_err(|e| e.to_string())?;
        self.barrier.sync().map_err(|e| e.to_string())?;
        self.last_checkpoint_size = Some(head.size);
        self.last_checkpoint_at = Instant::now();
        Ok(note)
    }

    fn checkpoint_on_demand(&mut self) -> Result<String, AppendError> {
        if let Some(reason) = &self.failed {
            return Err(AppendError::WriteFailed(reason.clone()));
        }
        if self.last_checkpoint_size == Some(self.range.size()) {
            let stored = self
                .db
                .get(keys::checkpoint(self.range.size()))
                .map_err(|e| AppendError::WriteFailed(e.to_string()))?
                .ok_or_else(|| AppendError::WriteFailed("latest checkpoint is missing".into()))?;
            return String::from_utf8(stored.to_vec())
                .map_err(|_| AppendError::WriteFailed("latest checkpoint is not UTF-8".into()));
        }
        self.write_checkpoint().map_err(|reason| {
            self.failed = Some(reason.clone());
            AppendError::WriteFailed(reason)
        })
    }

    fn timed_checkpoint(&mut self) {
        self.last_checkpoint_at = Instant::now();
        if self.failed.is_some() || self.last_checkpoint_size == Some(self.range.size()) {
            return;
        }
        if let Err(reason) = self.write_checkpoint() {
            self.failed = Some(reason);
        }
    }
}
