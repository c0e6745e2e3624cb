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
//! same chunks again. Entries above the in-memory mark (`Store::by_subject`) are found by
//! scanning the few newest events.
//!
//! The index lock is never held across a sled write: the indexer moves the entries it is
//! about to write from a person's list to `writing` (still in memory, still seen by
//! readers), writes them without the lock, and only then forgets them. A reader copies the
//! subject's entries from memory under the lock, then reads sled without it: every entry
//! is in memory or on disk (or both) whenever it looks, and entries seen in both are
//! merged. So a persist point, which writes every list, no longer blocks history reads.

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
    /// Entries being written to sled by the indexer right now, by subject, ascending: all
    /// older than the subject's `lists` entries. Kept until the write has returned, so
    /// that a reader finds them here or on disk.
    writing: HashMap<String, Vec<u64>>,
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
    keys::posting_value(seqs)
}

impl Index {
    /// Loads the mark and rebuilds the in-memory part from the events above it.
    pub(crate) fn open(
        db: &sled::Db,
        log: &crate::events_log::EventsLog,
        size: u64,
    ) -> Result<Arc<Self>, StoreError> {
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
                writing: HashMap::new(),
                next_persist: mark + PERSIST_EVERY,
            }),
            indexed: AtomicU64::new(mark),
            works_applied: AtomicU64::new(0),
            broken: std::sync::atomic::AtomicBool::new(false),
        });
        let mut entries = Vec::new();
        let mut reached = mark;
        for (expected, item) in (mark..).zip(Events::new(db, log, mark, size)?) {
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
            // In slices, as the appender hands them over: a rebuild of millions of events
            // holds one slice in memory, not all of them.
            if entries.len() >= INDEX_BATCH_ENTRIES_MAX {
                index.apply(IndexWork {
                    entries: std::mem::take(&mut entries),
                    upto: reached,
                })?;
            }
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
        let upto = work.upto;
        let writes = self.prepare(work);
        self.write(&writes)?;
        self.written(upto);
        Ok(())
    }

    /// Under the lock, in memory only: adds the entries to the lists and moves what is to
    /// be written (full chunks; at a persist point every list) to `writing`. Returns the
    /// sled writes, in order.
    fn prepare(&self, work: IndexWork) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut memory = self.memory.lock().expect("index lock poisoned");
        assert!(
            memory.writing.is_empty(),
            "the index has one writer, and a failed write stops it"
        );
        let mut writes = Vec::new();
        for (subject, seq) in work.entries {
            while seq >= memory.next_persist {
                let mark = memory.next_persist;
                persist_all(&mut memory, &mut writes, mark);
            }
            let Memory { lists, writing, .. } = &mut *memory;
            match lists.get_mut(subject.as_str()) {
                Some(list) => {
                    list.push(seq);
                    if list.len() == POSTING_CHUNK_MAX {
                        writes.push((keys::subject(&subject, list[0]), chunk_value(list)));
                        writing.entry(subject).or_default().append(list);
                    }
                }
                None => {
                    lists.insert(subject, vec![seq]);
                }
            }
        }
        while work.upto >= memory.next_persist {
            let mark = memory.next_persist;
            persist_all(&mut memory, &mut writes, mark);
        }
        writes
    }

    /// Without the lock: readers go on while sled writes.
    fn write(&self, writes: &[(Vec<u8>, Vec<u8>)]) -> Result<(), sled::Error> {
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
        Ok(())
    }

    /// The writes of [`Index::prepare`] are in sled: forget them in memory, and cover `upto`.
    fn written(&self, upto: u64) {
        self.memory
            .lock()
            .expect("index lock poisoned")
            .writing
            .clear();
        self.indexed.fetch_max(upto, Ordering::Release);
    }

    /// Sequence numbers of `subject`'s events in `[from, below)`, ascending, at most `limit`.
    /// Every entry below [`Index::indexed`] as it was before the call is found.
    pub(crate) fn lookup(
        &self,
        subject: &str,
        from: u64,
        below: u64,
        limit: usize,
    ) -> Result<Vec<u64>, StoreError> {
        // Memory first, under the lock: an entry that is not there now was written to
        // sled before, so the sled read that follows finds it.
        let in_memory: Vec<u64> = {
            let memory = self.memory.lock().expect("index lock poisoned");
            if self.is_broken() {
                return Err(StoreError::Corrupt(
                    "the subject index could not be written and may be incomplete; restart to rebuild it"
                        .into(),
                ));
            }
            let writing = memory.writing.get(subject).into_iter().flatten();
            let newest = memory.lists.get(subject).into_iter().flatten();
            writing
                .chain(newest)
                .copied()
                .filter(|seq| (from..below).contains(seq))
                .collect()
        };
        let mut out = self.lookup_sled(subject, from, below, limit)?;
        // Entries written while we read are in both: merge, then keep the first `limit`.
        // The sled part holds the `limit` smallest entries sled had, and memory the rest.
        if !in_memory.is_empty() {
            out.extend(in_memory);
            out.sort_unstable();
            out.dedup();
            out.truncate(limit);
        }
        Ok(out)
    }

    /// The posting chunks' part of [`Index::lookup`].
    fn lookup_sled(
        &self,
        subject: &str,
        from: u64,
        below: u64,
        limit: usize,
    ) -> Result<Vec<u64>, StoreError> {
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
        for kv in self.db.range(start..) {
            let (key, value) = kv?;
            if !key.starts_with(&prefix) || key.len() != prefix.len() + 8 {
                break;
            }
            for seq in keys::posting_seqs(&value) {
                let seq = seq.map_err(|e| {
                    StoreError::Corrupt(format!("the subject index of {subject:?}: {e}"))
                })?;
                // After a crash, a chunk may be written again under another key: skip repeats.
                if last.is_some_and(|l| seq <= l) {
                    continue;
                }
                last = Some(seq);
                if seq >= below || out.len() >= limit {
                    return Ok(out);
                }
                if seq >= from {
                    out.push(seq);
                }
            }
        }
        Ok(out)
    }
}

/// Writes every in-memory list as a chunk and moves the mark to `mark`; the lists go to
/// `writing` until they are written.
fn persist_all(memory: &mut Memory, writes: &mut Vec<(Vec<u8>, Vec<u8>)>, mark: u64) {
    let Memory { lists, writing, .. } = memory;
    for (subject, mut list) in lists.drain() {
        if let Some(&first) = list.first() {
            writes.push((keys::subject(&subject, first), chunk_value(&list)));
            writing.entry(subject).or_default().append(&mut list);
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

#[cfg(test)]
mod tests {
    use super::*;

    const SUBJECTS: u64 = 61;

    fn subject_of(seq: u64) -> String {
        format!("person-{}", seq % SUBJECTS)
    }

    fn work(from: u64, to: u64) -> IndexWork {
        IndexWork {
            entries: (from..to).map(|seq| (subject_of(seq), seq)).collect(),
            upto: to,
        }
    }

    fn expected(subject: u64, below: u64) -> Vec<u64> {
        (subject..below).step_by(SUBJECTS as usize).collect()
    }

    fn temporary() -> sled::Db {
        sled::Config::new().temporary(true).open().unwrap()
    }

    /// An events file holding only its header: an index opened at size 0 reads nothing.
    fn empty_log() -> (tempfile::TempDir, crate::events_log::EventsLog) {
        let dir = tempfile::tempdir().unwrap();
        crate::events_log::create(dir.path(), "test", false).unwrap();
        let log = crate::events_log::EventsLog::open_read(dir.path()).unwrap();
        (dir, log)
    }

    /// Every entry, exactly once, for every subject.
    #[track_caller]
    fn all_found(index: &Index, below: u64) {
        for subject in 0..SUBJECTS {
            let got = index
                .lookup(&format!("person-{subject}"), 0, below, usize::MAX)
                .unwrap();
            assert_eq!(got, expected(subject, below), "person-{subject}");
        }
    }

    /// A persist point taken apart: before, while and after its sled writes, a reader
    /// finds every entry once, and the lock is free while sled writes.
    #[test]
    fn reads_during_a_persist_see_every_entry_once() {
        let db = temporary();
        let (_dir, log) = empty_log();
        let index = Index::open(&db, &log, 0).unwrap();
        let end = PERSIST_EVERY + 1000;
        let writes = index.prepare(work(0, end));
        assert!(
            writes.iter().any(|(k, _)| k.as_slice() == keys::INDEXED),
            "the work crosses a persist point"
        );
        // Nothing in sled yet: everything is found in memory.
        all_found(&index, end);
        // Half written: the first half is in sled and in memory.
        let half = writes.len() / 2;
        index.write(&writes[..half]).unwrap();
        assert!(
            index.memory.try_lock().is_ok(),
            "the lock is free between writes"
        );
        all_found(&index, end);
        index.write(&writes[half..]).unwrap();
        all_found(&index, end);
        index.written(end);
        assert_eq!(index.indexed(), end);
        all_found(&index, end);
        // And from a cursor, with a limit, across the sled and memory parts.
        let got = index.lookup("person-5", 600, end, 3).unwrap();
        assert_eq!(
            got,
            expected(5, end)
                .into_iter()
                .filter(|s| *s >= 600)
                .take(3)
                .collect::<Vec<_>>()
        );
    }

    /// The indexer thread across several persist points while a reader runs: every lookup
    /// finds exactly the entries below the mark it read first.
    #[test]
    fn a_concurrent_reader_sees_every_covered_entry() {
        let db = temporary();
        let (_dir, log) = empty_log();
        let index = Index::open(&db, &log, 0).unwrap();
        let end = 3 * PERSIST_EVERY + 77;
        let (tx, rx) = std::sync::mpsc::sync_channel(INDEX_QUEUE_BATCHES_MAX);
        let indexer = {
            let index = index.clone();
            std::thread::spawn(move || index_loop(index, rx))
        };
        let reader = {
            let index = index.clone();
            std::thread::spawn(move || {
                let mut lookups = 0u64;
                loop {
                    let covered = index.indexed();
                    for subject in [0, 17, SUBJECTS - 1] {
                        let got = index
                            .lookup(&format!("person-{subject}"), 0, covered, usize::MAX)
                            .unwrap();
                        assert_eq!(got, expected(subject, covered), "below {covered}");
                        lookups += 1;
                    }
                    if covered == end {
                        return lookups;
                    }
                }
            })
        };
        let mut from = 0;
        while from < end {
            let to = (from + 1500).min(end);
            tx.send(work(from, to)).unwrap();
            from = to;
        }
        drop(tx);
        indexer.join().unwrap();
        assert!(reader.join().unwrap() > 0);
        assert!(!index.is_broken());
        all_found(&index, end);
        // What the persist points wrote is what a restart finds.
        let mark = u64::from_le_bytes(
            db.get(keys::INDEXED)
                .unwrap()
                .unwrap()
                .as_ref()
                .try_into()
                .unwrap(),
        );
        assert_eq!(mark, 3 * PERSIST_EVERY);
    }
}
