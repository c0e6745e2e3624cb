//! The subject index, kept off the append path.
//!
//! For each subject the index holds posting chunks: key `s` subject 0x00 first-seq, value
//! up to [`POSTING_CHUNK_MAX`] sequence numbers (u64 LE each, ascending). One key per event
//! would cost a sled insert per event on pages scattered over every person, the most
//! expensive part of an append; a chunk costs one rewrite per person per index batch. The
//! appender only hands `(subject, seq)` pairs to the indexer thread, which groups them by
//! person and writes them in large batches together with the `mindexed` mark (how many
//! events the index covers). Readers combine the index, below the
//! mark, with a scan of the few events above it, so a read right after an acknowledged
//! append still sees it. The index is derived: after a crash, `catch_up` rebuilds the part
//! the mark does not cover from the event records.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;

use careledger_log::envelope::EnvelopeRef;

use crate::keys;
use crate::{Events, EventsError, StoreError};

/// Most sequence numbers in one posting chunk (so a rewrite is at most 512 bytes).
pub(crate) const POSTING_CHUNK_MAX: usize = 64;
/// Most index entries written in one sled batch.
pub(crate) const INDEX_BATCH_ENTRIES_MAX: usize = 8192;
/// Batches of index work that may wait for the indexer; the appender waits when it is full,
/// which bounds how far the index can fall behind the log.
pub(crate) const INDEX_QUEUE_BATCHES_MAX: usize = 64;

/// One appended batch's contribution to the index.
pub(crate) struct IndexWork {
    pub(crate) entries: Vec<(String, u64)>,
    /// The log size after this batch.
    pub(crate) upto: u64,
}

fn write(db: &sled::Db, mut entries: Vec<(String, u64)>, upto: u64) -> Result<(), sled::Error> {
    entries.sort_unstable();
    let mut batch = sled::Batch::default();
    let mut rest = entries.as_slice();
    while let Some((subject, _)) = rest.first() {
        let count = rest.iter().take_while(|(s, _)| s == subject).count();
        let (group, tail) = rest.split_at(count);
        rest = tail;
        let mut seqs = group.iter().map(|(_, seq)| *seq).peekable();
        // Fill the subject's last chunk first, then open new ones.
        if let Some(kv) = db.scan_prefix(keys::subject_prefix(subject)).next_back() {
            let (key, value) = kv?;
            if value.len() < POSTING_CHUNK_MAX * 8 {
                let mut chunk = value.to_vec();
                while chunk.len() < POSTING_CHUNK_MAX * 8 {
                    let Some(seq) = seqs.next() else { break };
                    chunk.extend_from_slice(&seq.to_le_bytes());
                }
                batch.insert(key, chunk);
            }
        }
        while let Some(&first) = seqs.peek() {
            let mut chunk = Vec::with_capacity(POSTING_CHUNK_MAX * 8);
            while chunk.len() < POSTING_CHUNK_MAX * 8 {
                let Some(seq) = seqs.next() else { break };
                chunk.extend_from_slice(&seq.to_le_bytes());
            }
            batch.insert(keys::subject(subject, first), chunk);
        }
    }
    batch.insert(keys::INDEXED, &upto.to_le_bytes());
    db.apply_batch(batch)
}

/// Sequence numbers of `subject`'s events in `[from, below)`, ascending, at most `limit`.
pub(crate) fn lookup(
    db: &sled::Db,
    subject: &str,
    from: u64,
    below: u64,
    limit: usize,
) -> Result<Vec<u64>, StoreError> {
    let prefix = keys::subject_prefix(subject);
    // Start at the chunk that may hold `from`: the last one starting at or before it.
    let start = match db
        .range(prefix.clone()..=keys::subject(subject, from))
        .next_back()
        .transpose()?
    {
        Some((key, _)) if key.starts_with(&prefix) => key.to_vec(),
        _ => prefix.clone(),
    };
    let mut out = Vec::new();
    for kv in db.range(start..) {
        let (key, value) = kv?;
        if !key.starts_with(&prefix) {
            break;
        }
        for seq in value.chunks_exact(8) {
            let seq = u64::from_le_bytes(seq.try_into().expect("chunks of 8"));
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

/// How many events the stored index covers.
pub(crate) fn indexed_upto(db: &sled::Db) -> Result<u64, StoreError> {
    match db.get(keys::INDEXED)? {
        None => Ok(0),
        Some(v) => Ok(u64::from_le_bytes(v.as_ref().try_into().map_err(|_| {
            StoreError::Corrupt("the index mark is malformed".into())
        })?)),
    }
}

/// Indexes the events in `[indexed_upto, size)` from their records; returns `size`.
pub(crate) fn catch_up(db: &sled::Db, size: u64) -> Result<u64, StoreError> {
    let mut from = indexed_upto(db)?.min(size);
    while from < size {
        let mut entries = Vec::new();
        let mut upto = from;
        for item in Events::new(db, from, size)? {
            let (seq, chunk, at) = item.map_err(EventsError::into_store)?;
            if seq != upto {
                return Err(StoreError::Corrupt(format!("event {upto} is missing")));
            }
            let envelope = keys::split_record(&chunk[at])
                .map(|r| EnvelopeRef::decode(r.envelope))
                .ok_or_else(|| StoreError::Corrupt(format!("event {seq}: record is truncated")))?
                .map_err(|e| StoreError::Corrupt(format!("event {seq}: {e}")))?;
            if let Some(subject) = envelope.subject {
                entries.push((subject.to_string(), seq));
            }
            upto += 1;
            if entries.len() == INDEX_BATCH_ENTRIES_MAX {
                break;
            }
        }
        write(db, entries, upto)?;
        from = upto;
    }
    Ok(size)
}

/// The indexer thread: drains queued work, writes it in sorted batches, advances the mark.
pub(crate) fn index_loop(db: sled::Db, work: Receiver<IndexWork>, indexed: Arc<AtomicU64>) {
    while let Ok(first) = work.recv() {
        let mut entries = first.entries;
        let mut upto = first.upto;
        while entries.len() < INDEX_BATCH_ENTRIES_MAX {
            match work.try_recv() {
                Ok(more) => {
                    entries.extend(more.entries);
                    upto = upto.max(more.upto);
                }
                Err(_) => break,
            }
        }
        if write(&db, entries, upto).is_err() {
            // Readers fall back to scanning above the mark; the next start-up rebuilds
            // the index from the records. Stop rather than skip entries.
            return;
        }
        indexed.fetch_max(upto, Ordering::Release);
    }
}
