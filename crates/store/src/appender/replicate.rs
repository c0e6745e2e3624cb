//! A replica's write path: frames from its primary, checked, written as they came, and
//! applied as the primary's appender applied them ([`crate::replica`]).

use careledger_log::envelope::Envelope;
use careledger_log::Checkpoint;

use super::{Appender, Applied, ReplicateReply};
use crate::events_log::{self, Frame, FrameKind};
use crate::keys::{self, ChunkAt};
use crate::replica::{ReplicateError, Replicated};
use crate::request_keys::KeyRecord;
use crate::{fault, verify, AppendError};

/// What checking a run of frames found, before anything of it is written.
struct Checked {
    range: careledger_log::merkle::CompactRange<careledger_log::merkle::Blake3Hasher>,
    last_recorded_at_us: i64,
    batch: sled::Batch,
    index: Vec<(String, u64)>,
    events: Vec<(Envelope, Vec<u8>)>,
    checkpoint: Option<u64>,
}

impl Appender {
    /// Checks every frame of `bytes` against the replica's own tree, then writes and
    /// applies them all, or nothing; the syncer answers once they are durable.
    pub(super) fn replicate(&mut self, bytes: Vec<u8>, checkpoint: &str, reply: ReplicateReply) {
        if let Some(reason) = self.failure.get() {
            let _ = reply.send(Err(AppendError::WriteFailed(reason).into()));
            return;
        }
        if bytes.is_empty() {
            let _ = reply.send(Err(ReplicateError::Invalid("no frames".into())));
            return;
        }
        // The floor holds for a replica too: it stops taking frames, and takes them again
        // once there is room (its primary keeps them).
        let floor = self.config.free_bytes_min;
        if let Ok(free) = fault::free_bytes(self.config.faults.as_deref(), &self.dir) {
            if free < floor {
                let _ = reply.send(Err(AppendError::DiskFull { free, floor }.into()));
                return;
            }
        }
        let frames = match events_log::parse_frames(&bytes, self.log_end) {
            Ok(frames) => frames,
            Err(reason) => {
                let _ = reply.send(Err(ReplicateError::Invalid(reason)));
                return;
            }
        };
        let mut checked = match self
            .check_frames(&frames)
            .and_then(|checked| self.check_signed(checkpoint, checked))
        {
            Ok(checked) => checked,
            Err(e) => {
                self.request_keys.discarded();
                let _ = reply.send(Err(e));
                return;
            }
        };
        let size = checked.range.size();
        // The projection takes the events as a restart would replay them: the primary's
        // rules took them already.
        let mut projected = None;
        if let Some(handle) = self.projection.clone() {
            let Ok(mut projection) = handle.write() else {
                let reason = "the projection's lock is poisoned".to_string();
                self.failure.set(reason.clone());
                let _ = reply.send(Err(AppendError::WriteFailed(reason).into()));
                return;
            };
            for (envelope, payload) in &checked.events {
                if let Err(reason) = projection.replay(envelope, Some(payload)) {
                    // The projection is part way through the frames: nothing more is taken
                    // until a restart reloads it from what is written.
                    let reason = format!(
                        "this replica's projection could not apply event {} ({}) that its \
                         primary took: {reason}; are the two running the same careledger \
                         version?",
                        envelope.seq, envelope.kind
                    );
                    self.failure.set(reason.clone());
                    self.request_keys.discarded();
                    let _ = reply.send(Err(ReplicateError::Projection(reason)));
                    return;
                }
            }
            projected = self.persist_if_due(&mut *projection, &mut checked.batch, size);
        }
        let staged = self
            .prune_keys(&mut checked.batch, checked.last_recorded_at_us)
            .and_then(|()| {
                // The data keys the frames were sealed with first ([`Store::take_data_keys`]).
                if let Some(keyring) = self.payloads.keyring() {
                    keyring.write_pending(self.config.faults.as_deref())?;
                }
                let root = checked.range.root();
                self.write_then_apply(&bytes, checked.batch, size, Some(root))
            });
        if let Err(reason) = staged {
            self.request_keys.discarded();
            self.failure.set(reason.clone());
            let _ = reply.send(Err(AppendError::WriteFailed(reason).into()));
            return;
        }
        self.request_keys.written();
        self.range = checked.range;
        self.last_recorded_at_us = checked.last_recorded_at_us;
        if let Some(projected) = projected {
            self.projected = projected;
        }
        if let Some(checkpoint) = checked.checkpoint {
            self.last_checkpoint_size = Some(checkpoint);
        }
        let applied = Applied {
            size,
            log_end: self.log_end,
            appends: Vec::new(),
            checkpoint: None,
            replicated: Some((
                reply,
                Replicated {
                    size,
                    log_end: self.log_end,
                    checkpoint: checked.checkpoint,
                },
            )),
            mark: checked.checkpoint.map(|_| self.range.root()),
        };
        self.hand_over(checked.index, applied);
    }

    /// The primary's checkpoint for the frames' end must be signed by the ledger's key for
    /// the tree the frames make: nothing the key has not signed is written.
    fn check_signed(&self, note: &str, checked: Checked) -> Result<Checked, ReplicateError> {
        let signed = Checkpoint::open(note, &self.verifier).map_err(|e| {
            ReplicateError::Invalid(format!(
                "the checkpoint sent with the frames does not verify with this ledger's key: {e}"
            ))
        })?;
        let size = checked.range.size();
        if signed.size != size {
            return Err(ReplicateError::Invalid(format!(
                "the checkpoint sent with the frames is for {} events; they end at {size}",
                signed.size
            )));
        }
        if signed.root != checked.range.root() {
            return Err(ReplicateError::Fork(format!(
                "the primary signed a tree of {size} events whose root is not the root of \
                 this replica's events and the frames sent"
            )));
        }
        Ok(checked)
    }

    /// Every check a frame from the primary must pass, on a copy of the tree's edge.
    fn check_frames(&mut self, frames: &[Frame]) -> Result<Checked, ReplicateError> {
        let mut checked = Checked {
            range: self.range.clone(),
            last_recorded_at_us: self.last_recorded_at_us,
            batch: sled::Batch::default(),
            index: Vec::new(),
            events: Vec::new(),
            checkpoint: None,
        };
        for frame in frames {
            let at = |what: String| format!("the frame at byte {}: {what}", frame.offset);
            match frame.kind {
                FrameKind::Header => {
                    return Err(ReplicateError::Invalid(at("a second header".into())))
                }
                FrameKind::Events => self.check_chunk(frame, &mut checked)?,
                FrameKind::Checkpoint => {
                    let note = std::str::from_utf8(&frame.body).map_err(|_| {
                        ReplicateError::Invalid(at("a checkpoint not in UTF-8".into()))
                    })?;
                    // Not signed by the ledger's key: not this ledger's.
                    let signed = Checkpoint::open(note, &self.verifier).map_err(|e| {
                        ReplicateError::Invalid(at(format!(
                            "a checkpoint that does not verify: {e}"
                        )))
                    })?;
                    // Signed by the ledger's key, for a tree this replica does not have.
                    verify::check_checkpoint(
                        &self.verifier,
                        frame.first,
                        &frame.body,
                        &checked.range,
                    )
                    .map_err(|e| {
                        ReplicateError::Fork(at(format!(
                            "the primary signed a checkpoint of {} events that this \
                                 replica's history does not have ({e})",
                            signed.size
                        )))
                    })?;
                    checked
                        .batch
                        .insert(&keys::checkpoint(frame.first), frame.body.as_slice());
                    checked.checkpoint = Some(frame.first);
                }
                FrameKind::RequestKey => {
                    let (key, record) =
                        events_log::split_request_key(&frame.body).ok_or_else(|| {
                            ReplicateError::Invalid(at("a malformed request key".into()))
                        })?;
                    let decoded = KeyRecord::decode(record)
                        .map_err(|e| ReplicateError::Invalid(at(format!("a request key: {e}"))))?;
                    if decoded
                        .receipts
                        .iter()
                        .any(|r| r.seq >= checked.range.size())
                    {
                        return Err(ReplicateError::Invalid(at(
                            "a request key naming events not yet sent".into(),
                        )));
                    }
                    self.request_keys
                        .stage_replicated(&self.db, &mut checked.batch, key, (record, decoded))
                        .map_err(|e| ReplicateError::Append(AppendError::KeyLookup(e)))?;
                }
            }
        }
        Ok(checked)
    }

    /// A chunk must continue the tree: the next event first, each record whole and its
    /// payload matching its commitment, recorded-at never decreasing, every stored tree
    /// node the one the replica computes.
    fn check_chunk(&self, frame: &Frame, checked: &mut Checked) -> Result<(), ReplicateError> {
        let next = checked.range.size();
        if frame.first != next {
            return Err(ReplicateError::Fork(format!(
                "the frame at byte {} holds events from {} on, where this replica's next \
                 event is {next}",
                frame.offset, frame.first
            )));
        }
        let scanned = verify::scan_frames(frame.first, std::slice::from_ref(frame), &self.payloads)
            .map_err(|e| ReplicateError::Invalid(e.to_string()))?;
        if scanned.first_recorded_at_us < checked.last_recorded_at_us {
            return Err(ReplicateError::Invalid(format!(
                "event {next} is recorded before the event ahead of it"
            )));
        }
        // Every node recomputed: a record whose tree differs from the replica's is a
        // history that differs.
        verify::add_leaves(&mut checked.range, scanned, None, (&[], &mut Vec::new()))
            .map_err(|e| ReplicateError::Fork(e.to_string()))?;
        let chunk = keys::Chunk::parse(frame.first, &frame.body)
            .ok_or_else(|| ReplicateError::Invalid("a malformed chunk".into()))?;
        for seq in chunk.first..chunk.end() {
            let record = chunk
                .record(seq)
                .and_then(keys::split_record)
                .ok_or_else(|| {
                    ReplicateError::Invalid(format!("event {seq}'s record is truncated"))
                })?;
            let envelope = Envelope::decode(record.envelope)
                .map_err(|e| ReplicateError::Invalid(format!("event {seq}: {e}")))?;
            checked.last_recorded_at_us = envelope.recorded_at_us;
            if let Some(subject) = &envelope.subject {
                checked.index.push((subject.clone(), seq));
            }
            // Opened by the scan above, which checked it against its commitment.
            let payload = self
                .payloads
                .open_for(&envelope, record.tail)
                .map_err(|e| ReplicateError::Invalid(format!("event {seq}: {e}")))?
                .into_option()
                .map(|(_, p)| p)
                .unwrap_or_default();
            checked.events.push((envelope, payload));
        }
        checked.batch.insert(
            &keys::chunk_at(frame.first),
            &ChunkAt {
                offset: frame.offset,
                len: frame.len,
            }
            .encode()[..],
        );
        Ok(())
    }
}
