//! The subject index, kept off the append path.
//!
//! For each subject the index holds posting chunks in sled (key `s` subject 0x00 first-seq,
//! value up to [`POSTING_CHUNK_MAX`] sequence numbers, u64 LE each, ascending) and, for
//! its newest events, a list in memory. One sled key per event would cost an insert per
//! event on pages scattered over every person, which was the most expensive part of an
//! append; this way a person's events cost one insert per 64.
//!
//! The appender hands `(subject, seq)` pairs to the indexer thread. A person's in-memory
//! list is written out as a chunk when it reaches 64; every [`PERSIST_EVERY`] events of
//! the log, all lists are written out and the `mindexed` mark records that the index in
//! sled covers every event below that boundary. The boundaries are fixed sequence
//! numbers, so after a crash, rebuilding from the mark (`Index::open`) forms exactly the
//! same chunks again. Readers hold the index lock while they read both parts, so an entry
//! moving from memory to sled is seen exactly once; entries above the in-memory mark
//! (`Store::by_subject`) are found by scanning the few newest events.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};

use careledger_log::envelope::EnvelopeRef;

use crate::keys;
use crate::{Events, EventsError, StoreError};

/// Most sequence numbers in one posting chunk (so a chunk is at most 512 bytes).
pub(crate) const POSTING_CHUNK_MAX: usize = 64;
/// Every this many events of the log, the whole index is written to sled; this bounds the
/// in-memory part and the work of rebuilding it at start-up.
pub(crate) const PERSIST_EVERY: u64 = 65_536;
/// Most keys in one sled batch of index writes.
pub(crate) const INDEX_WRITE_SLICE: usize = 256;
/// Most entries the indexer applies at once.
pub(crate) const INDEX_BATCH_ENTRIES_MAX: usize = 8192;
/// Batches of index work that may wait for the indexer; the appender waits when it is full,
/// which bounds how far the index can fall behind the log.
pub(crate) const INDEX_QUEUE_BATCHES_MAX: usize = 64;

/// One appended batch's contribution to the index, in sequence order.
pub(crate) struct IndexWork {
    pub(crate) entries: Vec<(String, u64)>,
    /// The log size after this batch.
    pub(crate) upto: u64,
}

struct Memory {
    /// Each subject's newest sequence numbers, not yet in sled.
    lists: HashMap<String, Vec<u64>>,
    /// The next sequence number at which everything is written out.
    next_persist: u64,
}

pub(crate) struct Index {
    db: sled::Db,
    memory: Mutex<Memory>,
    /// Events the index (sled and memory) covers.
    indexed: AtomicU64,
    /// Pieces of work applied, so that a pause can wait for the indexer to be idle.
    works_applied: AtomicU64,
    /// A sled write failed: the in-memory part may have lost entries below `indexed`.
    broken: std::sync::atomic::AtomicBool,
}

fn chunk_value(seqs: &[u64]) -> Vec<u8> {
    seqs.iter().flat_map(|s| s.to_le_bytes()).collect()
}

impl Index {
    /// Loads the mark and rebuilds the in-memory part from the events above it.
    pub(crate) fn open(db: &sled::Db, size: u64) -> Result<Arc<Self>, StoreError> {
        let mark = match db.get(keys::INDEXED)? {
            None => 0,
            Some(v) => u64::from_le_bytes(
                v.as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("the index mark is malformed".into()))?,
            ),
        };
        if mark > size {
            return Err(StoreError::Corrupt(format!(
                "the subject index covers {mark} events but the log holds {size}"
            )));
        }
        let index = Arc::new(Self {
            db: db.clone(),
            memory: Mutex::new(Memory {
                lists: HashMap::new(),
                next_persist: mark + PERSIST_EVERY,
            }),
            indexed: AtomicU64::new(mark),
            works_applied: AtomicU64::new(0),
            broken: std::sync::atomic::AtomicBool::new(false),
        });
        let mut entries = Vec::new();
        let mut reached = mark;
        for (expected, item) in (mark..).zip(Events::new(db, mark, size)?) {
            let (seq, chunk, at) = item.map_err(EventsError::into_store)?;
            if seq != expected {
                return Err(StoreError::Corrupt(format!("event {expected} is missing")));
            }
            let envelope = keys::split_record(&chunk[at])
                .map(|r| EnvelopeRef::decode(r.envelope))
                .ok_or_else(|| StoreError::Corrupt(format!("event {seq}: record is truncated")))?
                .map_err(|e| StoreError::Corrupt(format!("event {seq}: {e}")))?;
            if let Some(subject) = envelope.subject {
                entries.push((subject.to_string(), seq));
            }
            reached = seq + 1;
        }
        if reached != size {
            return Err(StoreError::Corrupt(format!("event {reached} is missing")));
        }
        index.apply(IndexWork {
            entries,
            upto: size,
        })?;
        Ok(index)
    }

    /// Events the index covers.
    pub(crate) fn indexed(&self) -> u64 {
        self.indexed.load(Ordering::Acquire)
    }

    pub(crate) fn works_applied(&self) -> u64 {
        self.works_applied.load(Ordering::Acquire)
    }

    pub(crate) fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Acquire)
    }

    /// Adds one batch's entries; writes full chunks, and everything at each persist point.
    fn apply(&self, work: IndexWork) -> Result<(), sled::Error> {
        let mut memory = self.memory.lock().expect("index lock poisoned");
        let mut writes = Vec::new();
        for (subject, seq) in work.entries {
            while seq >= memory.next_persist {
                let mark = memory.next_persist;
                persist_all(&mut memory, &mut writes, mark);
            }
            match memory.lists.get_mut(subject.as_str()) {
                Some(list) => {
                    list.push(seq);
                    if list.len() == POSTING_CHUNK_MAX {
                        writes.push((keys::subject(&subject, list[0]), chunk_value(list)));
                        list.clear();
                    }
                }
                None => {
                    memory.lists.insert(subject, vec![seq]);
                }
            }
        }
        while work.upto >= memory.next_persist {
            let mark = memory.next_persist;
            persist_all(&mut memory, &mut writes, mark);
        }
        // In order, in small sled batches: sled's batch takes a lock that stalls the
        // appender's own batches, and writing everything at a persist point in one batch
        // stalled appends for tens of milliseconds. Order is all that recovery needs: a
        // mark is written after the chunks below it, and chunks re-formed from an older
        // mark have the same keys and contents.
        for slice in writes.chunks(INDEX_WRITE_SLICE) {
            let mut batch = sled::Batch::default();
            for (key, value) in slice {
                batch.insert(key.as_slice(), value.as_slice());
            }
            self.db.apply_batch(batch)?;
        }
        self.indexed.fetch_max(work.upto, Ordering::Release);
        Ok(())
    }

    /// Sequence numbers of `subject`'s events in `[from, below)`, ascending, at most `limit`.
    pub(crate) fn lookup(
        &self,
        subject: &str,
        from: u64,
        below: u64,
        limit: usize,
    ) -> Result<Vec<u64>, StoreError> {
        // Held across both parts, so that no entry moves between them while we read.
        let memory = self.memory.lock().expect("index lock poisoned");
        if self.is_broken() {
            return Err(StoreError::Corrupt(
                "the subject index could not be written and may be incomplete; restart to rebuild it"
                    .into(),
            ));
        }
        let prefix = keys::subject_prefix(subject);
        // Start at the chunk that may hold `from`: the last one starting at or before it.
        let start = match self
            .db
            .range(prefix.clone()..=keys::subject(subject, from))
            .next_back()
            .transpose()?
        {
            Some((key, _)) if key.starts_with(&prefix) => key.to_vec(),
            _ => prefix.clone(),
        };
        let mut out = Vec::new();
        let mut last: Option<u64> = None;
        let mut take = |seq: u64, out: &mut Vec<u64>| -> bool {
            // After a crash, a chunk may be written again under another key: skip repeats.
            if last.is_some_and(|l| seq <= l) {
                return true;
            }
            last = Some(seq);
            if seq >= below || out.len() >= limit {
                return false;
            }
            if seq >= from {
                out.push(seq);
            }
            true
        };
        for kv in self.db.range(start..) {
            let (key, value) = kv?;
            if !key.starts_with(&prefix) || key.len() != prefix.len() + 8 {
                break;
            }
            for seq in value.chunks_exact(8) {
                if !take(
                    u64::from_le_bytes(seq.try_into().expect("8 bytes")),
                    &mut out,
                ) {
                    return Ok(out);
                }
            }
        }
        for &seq in memory.lists.get(subject).into_iter().flatten() {
            if !take(seq, &mut out) {
                break;
            }
        }
        Ok(out)
    }
}

/// Writes every in-memory list as a chunk and moves the mark to `mark`.
fn persist_all(memory: &mut Memory, writes: &mut Vec<(Vec<u8>, Vec<u8>)>, mark: u64) {
    for (subject, list) in memory.lists.drain() {
        if let Some(&first) = list.first() {
            writes.push((keys::subject(&subject, first), chunk_value(&list)));
        }
    }
    writes.push((keys::INDEXED.to_vec(), mark.to_le_bytes().to_vec()));
    memory.next_persist = mark + PERSIST_EVERY;
}

/// The indexer thread: applies queued work, several batches at a time when they wait.
pub(crate) fn index_loop(index: Arc<Index>, work: Receiver<IndexWork>) {
    while let Ok(first) = work.recv() {
        let mut entries = first.entries;
        let mut upto = first.upto;
        let mut works = 1;
        while let Ok(more) = work.try_recv() {
            works += 1;
            entries.extend(more.entries);
            upto = upto.max(more.upto);
            if entries.len() >= INDEX_BATCH_ENTRIES_MAX {
                break;
            }
        }
        if index.apply(IndexWork { entries, upto }).is_err() {
            // The lists may have lost entries that `indexed` says are covered: refuse
            // lookups until a restart rebuilds the index from the records.
            index.broken.store(true, Ordering::Release);
            return;
        }
        index.works_applied.fetch_add(works, Ordering::Release);
    }
}
