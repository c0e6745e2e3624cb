//! Reading stored events: by sequence number, in ranges, by subject, and the signed
//! checkpoints; the `Events` cursor over stored chunks that every reader (and the start-up
//! replay, verification and export) walks.

use std::sync::Arc;

use careledger_log::envelope::{self, Envelope};

use crate::events_log::EventsLog;
use crate::{keys, Store, StoreError, StoredEvent, READ_PAGE_MAX};

impl Store {
    /// The latest durable signed checkpoint, if any.
    pub fn latest_checkpoint(&self) -> Result<Option<String>, StoreError> {
        // From the newest backwards: O(1) reads in the usual case, not one per checkpoint
        // ever signed (the HTTP service answers this on every request for it).
        let size = self.size();
        for kv in self.inner.db.scan_prefix([keys::CHECKPOINT]).rev() {
            let (k, v) = kv?;
            let checkpoint_size = keys::trailing_u64(&k)
                .ok_or_else(|| StoreError::Corrupt("a checkpoint key is malformed".into()))?;
            if checkpoint_size <= size {
                let note = String::from_utf8(v.to_vec()).map_err(|_| {
                    StoreError::Corrupt(format!(
                        "checkpoint at size {checkpoint_size} is not UTF-8"
                    ))
                })?;
                return Ok(Some(note));
            }
        }
        Ok(None)
    }

    /// Every durable signed checkpoint, oldest first, as (tree size, signed note). A
    /// checkpoint the appender has written but the syncer not yet made durable is left
    /// out: handing it out could publish a root that a crash then takes back.
    pub fn checkpoints(&self) -> Result<Vec<(u64, String)>, StoreError> {
        let size = self.size();
        let mut all = read_checkpoints(&self.inner.db)?;
        all.retain(|(checkpoint_size, _)| *checkpoint_size <= size);
        Ok(all)
    }

    fn decode_event(&self, seq: u64, record: &[u8]) -> Result<StoredEvent, StoreError> {
        let (record, envelope) = checked_record(seq, record)?;
        let payload = self
            .inner
            .payloads
            .open_for(&envelope, record.tail)
            .map_err(|reason| StoreError::Corrupt(format!("event {seq}: {reason}")))?
            .into_option();
        Ok(StoredEvent {
            envelope,
            envelope_bytes: record.envelope.to_vec(),
            payload,
        })
    }

    /// The event at `seq`.
    pub fn get(&self, seq: u64) -> Result<StoredEvent, StoreError> {
        let size = self.size();
        if seq >= size {
            return Err(StoreError::NoSuchEvent { seq, size });
        }
        let (_, chunk, at) = keys::locate(&self.inner.db, &self.inner.log, seq)?.found(seq)?;
        self.decode_event(seq, &chunk[at])
    }

    /// Up to `limit` (at most [`READ_PAGE_MAX`]) events from `from` on.
    pub fn range(&self, from: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let size = self.size();
        let end = size.min(from.saturating_add(limit.min(READ_PAGE_MAX) as u64));
        if from >= end {
            return Ok(Vec::new());
        }
        let mut out = Vec::with_capacity((end - from) as usize);
        for item in Events::new(&self.inner.db, &self.inner.log, from, end)? {
            let (seq, chunk, at) = item.map_err(EventsError::into_store)?;
            let expected = from + out.len() as u64;
            if seq != expected {
                return Err(StoreError::Corrupt(format!("event {expected} is missing")));
            }
            out.push(self.decode_event(seq, &chunk[at])?);
        }
        let reached = from + out.len() as u64;
        if reached != end {
            return Err(StoreError::Corrupt(format!("event {reached} is missing")));
        }
        Ok(out)
    }

    /// Up to `limit` (at most [`READ_PAGE_MAX`]) events about `subject` with sequence
    /// number `from` or above, in log order.
    pub fn by_subject(
        &self,
        subject: &str,
        from: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        // Index keys end the subject with 0x00: a subject holding a control character could
        // otherwise reach into another person's keys.
        envelope::check_fields("x", Some(subject), "x")
            .map_err(|e| StoreError::InvalidArgument(e.to_string()))?;
        let size = self.size();
        let indexed = self.inner.index.indexed().min(size);
        let limit = limit.min(READ_PAGE_MAX);
        // Below the index mark, the index; above it, the few events not yet indexed.
        let mut out = Vec::new();
        for seq in self.inner.index.lookup(subject, from, indexed, limit)? {
            out.push(self.get(seq)?);
        }
        let mut next = from.max(indexed);
        while out.len() < limit && next < size {
            let page = self.range(next, READ_PAGE_MAX)?;
            let Some(last) = page.last() else { break };
            next = last.envelope.seq + 1;
            out.extend(
                page.into_iter()
                    .filter(|e| e.envelope.subject.as_deref() == Some(subject))
                    .take(limit - out.len()),
            );
        }
        Ok(out)
    }
}

impl Store {
    /// Calls `each` with every event record of the ledger at `dir`, in order (sequence
    /// number, stored envelope bytes, salt and payload), read from the events file
    /// without the writer's lock: safe while the service runs. The file is synced first,
    /// so nothing handed out can be lost to a crash afterwards. Stops at a torn
    /// last frame (one being written); a damaged frame with whole ones after it is an
    /// error. Returns the number of events read. A sealed ledger's payloads are opened
    /// with its data keys, unwrapped with `master`, which it needs.
    pub fn each_record_in(
        dir: &std::path::Path,
        master: Option<&crate::MasterKey>,
        mut each: impl FnMut(u64, &[u8], Option<(&[u8; 32], &[u8])>) -> std::io::Result<()>,
    ) -> Result<u64, StoreError> {
        use crate::events_log::{FrameKind, EVENTS_FILE};
        let path = dir.join(EVENTS_FILE);
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        if !path.exists() {
            return Err(StoreError::NotInitialised(dir.to_path_buf()));
        }
        // Only what the sync covers: the file's length is read before it, and nothing
        // written after it is read.
        let file_len = std::fs::metadata(&path).map_err(io)?.len();
        std::fs::File::open(&path)
            .and_then(|f| f.sync_data())
            .map_err(io)?;
        let log = EventsLog::window(&path, 0, file_len).map_err(io)?;
        let payloads = crate::payloads_of(dir, &log, master, false)?;
        if matches!(payloads, crate::Payloads::Unread) {
            return Err(StoreError::MasterKey(format!(
                "the ledger at {} is encrypted at rest: its payloads can be read only with \
                 its master key",
                dir.display()
            )));
        }
        let mut frames = log.frames_from(0).map_err(io)?;
        let mut size = 0u64;
        loop {
            let frame = match frames.next_frame() {
                Ok(frame) => frame,
                // The end, a frame being written right now, or damage (an error).
                Err(stop) => {
                    crate::recover::end_of_frames(&log, frames.offset(), stop, file_len)?;
                    return Ok(size);
                }
            };
            if frame.kind != FrameKind::Events {
                continue;
            }
            if frame.first != size {
                return Err(StoreError::Corrupt(format!("event {size} is missing")));
            }
            let chunk = keys::Chunk::parse(frame.first, &frame.body).ok_or_else(|| {
                StoreError::Corrupt(format!("event {}: a malformed chunk", frame.first))
            })?;
            for seq in chunk.first..chunk.end() {
                let record = chunk
                    .record(seq)
                    .and_then(keys::split_record)
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!("event {seq}: record is truncated"))
                    })?;
                let envelope = careledger_log::envelope::EnvelopeRef::decode(record.envelope)
                    .map_err(|e| StoreError::Corrupt(format!("event {seq}: {e}")))?;
                let opened = payloads
                    .open_for_ref(&envelope, record.tail)
                    .map_err(|reason| StoreError::Corrupt(format!("event {seq}: {reason}")))?;
                let payload = match &opened {
                    crate::Opened::Payload(salt, payload) => Some((salt, payload.as_slice())),
                    _ => None,
                };
                each(seq, record.envelope, payload).map_err(io)?;
            }
            size = chunk.end();
        }
    }
}

/// Why reading stored events stopped.
pub(crate) enum EventsError {
    Store(StoreError),
    /// The chunk whose first event is this one does not parse.
    Malformed(u64),
}

impl EventsError {
    pub(crate) fn into_store(self) -> StoreError {
        match self {
            EventsError::Store(e) => e,
            EventsError::Malformed(first) => StoreError::Corrupt(format!(
                "event {first}: the stored chunk of events starting here is malformed"
            )),
        }
    }
}

/// Stored events from `from` up to `end`, in order, as (seq, chunk bytes, record range):
/// the chunk locations from sled, the chunks from the events file. A gap in what is stored
/// shows as a jump in `seq`: callers check continuity.
pub(crate) struct Events<'a> {
    log: &'a EventsLog,
    locations: sled::Iter,
    chunk: Option<(u64, Arc<[u8]>)>,
    next: u64,
    end: u64,
}

impl<'a> Events<'a> {
    pub(crate) fn new(
        db: &sled::Db,
        log: &'a EventsLog,
        from: u64,
        end: u64,
    ) -> Result<Self, StoreError> {
        // Start at the chunk holding `from`: the last one starting at or before it.
        let start = match keys::chunk_location(db, from)? {
            Some((first, _)) => keys::chunk_at(first),
            None => keys::chunk_at(0),
        };
        Ok(Self {
            log,
            locations: db.range(start..keys::chunk_at(end.max(from))),
            chunk: None,
            next: from,
            end,
        })
    }
}

impl Iterator for Events<'_> {
    type Item = Result<(u64, Arc<[u8]>, std::ops::Range<usize>), EventsError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.next >= self.end {
                return None;
            }
            if let Some((first, value)) = self.chunk.take() {
                let Some(chunk) = keys::Chunk::parse(first, &value) else {
                    self.next = self.end;
                    return Some(Err(EventsError::Malformed(first)));
                };
                self.next = self.next.max(chunk.first);
                if let Some(at) = chunk.record_range(self.next) {
                    let seq = self.next;
                    self.next += 1;
                    self.chunk = Some((first, value.clone()));
                    return Some(Ok((seq, value, at)));
                }
            }
            let read = match self.locations.next()? {
                Ok((key, location)) => {
                    let first = keys::trailing_u64(&key).unwrap_or(0);
                    match keys::ChunkAt::decode(&location) {
                        None => Err(EventsError::Malformed(first)),
                        Some(at) => self
                            .log
                            .read_chunk(first, at.offset, at.len)
                            .map(|value| (first, value))
                            .map_err(EventsError::Store),
                    }
                }
                Err(e) => Err(EventsError::Store(e.into())),
            };
            match read {
                Ok(chunk) => self.chunk = Some(chunk),
                Err(e) => {
                    self.next = self.end;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// The stored record of event `seq`, split, with its envelope decoded and checked to be
/// event `seq`'s: what every reader of stored events starts from.
pub(crate) fn checked_record(
    seq: u64,
    record: &[u8],
) -> Result<(keys::Record<'_>, Envelope), StoreError> {
    let record = keys::split_record(record)
        .ok_or_else(|| StoreError::Corrupt(format!("event {seq}: record is truncated")))?;
    let envelope = Envelope::decode(record.envelope)
        .map_err(|e| StoreError::Corrupt(format!("event {seq}: {e}")))?;
    if envelope.seq != seq {
        return Err(StoreError::Corrupt(format!(
            "event {seq}: envelope says sequence {}",
            envelope.seq
        )));
    }
    Ok((record, envelope))
}

pub(crate) fn read_checkpoints(db: &sled::Db) -> Result<Vec<(u64, String)>, StoreError> {
    let mut out = Vec::new();
    for kv in db.scan_prefix([keys::CHECKPOINT]) {
        let (k, v) = kv?;
        let size = keys::trailing_u64(&k)
            .ok_or_else(|| StoreError::Corrupt("a checkpoint key is malformed".into()))?;
        let note = String::from_utf8(v.to_vec())
            .map_err(|_| StoreError::Corrupt(format!("checkpoint at size {size} is not UTF-8")))?;
        out.push((size, note));
    }
    Ok(out)
}
