//! `verify --derived`: everything sled holds, rebuilt in memory from the events file and
//! compared with what sled holds, naming the first difference.
//!
//! Read-only like the rest of verification: sled writes to its files when it opens them,
//! so it is opened on a copy of its folder, made in the system's temporary folder and
//! removed afterwards. Compared: where each chunk lies (`o`), the checkpoints (`c`), the
//! request keys sled still holds (`k`, each must be the record its frame holds), the
//! subject index below its `mindexed` mark (`s`: the same events for every subject, and
//! nothing above the mark that is not that subject's), and the projection's pairs (`p`),
//! against a projection replayed from nothing up to the `mprojected` mark.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use careledger_log::envelope::Envelope;

use crate::events_log::{self, EventsLog, FrameError, FrameKind, EVENTS_FILE};
use crate::keys::{self, ChunkAt, Logged};
use crate::projection::ProjectionHandle;
use crate::{hex, StoreConfig, StoreError, VerifyFailure, SLED_DIR};

/// What the comparison covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedReport {
    /// Events sled reflects (`mlogged`), of the file's.
    pub logged: u64,
    pub events: u64,
    pub chunk_locations: u64,
    pub checkpoints: u64,
    pub request_keys: u64,
    /// Events the index covers (`mindexed`), and the subjects in it.
    pub indexed: u64,
    pub subjects: u64,
    /// Events the stored projection reflects (`mprojected`), and its pairs.
    pub projected: u64,
    pub projection_pairs: u64,
}

fn differs(what: String) -> VerifyFailure {
    VerifyFailure::Derived(what)
}

/// A copy of sled's folder, removed on drop.
struct Snapshot(PathBuf);

impl Drop for Snapshot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

fn u64_at(db: &sled::Db, key: &[u8]) -> Result<Option<u64>, VerifyFailure> {
    match db.get(key).map_err(StoreError::from)? {
        None => Ok(None),
        Some(v) => v
            .as_ref()
            .try_into()
            .map(|b| Some(u64::from_le_bytes(b)))
            .map_err(|_| differs(format!("{} is malformed", String::from_utf8_lossy(key)))),
    }
}

/// Compares sled's content in `dir` with what the events file says, `projection` being a
/// fresh projection of the kind the ledger keeps.
pub(crate) fn verify_derived(
    dir: &Path,
    master: Option<&crate::MasterKey>,
    projection: &ProjectionHandle,
) -> Result<DerivedReport, VerifyFailure> {
    let sled_dir = dir.join(SLED_DIR);
    if !sled_dir.exists() {
        return Err(differs(format!(
            "{SLED_DIR}/ is missing (the next open rebuilds it)"
        )));
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let snapshot = Snapshot(
        std::env::temp_dir().join(format!("careledger-verify-{}-{nanos}", std::process::id())),
    );
    copy_dir(&sled_dir, &snapshot.0.join(SLED_DIR)).map_err(|source| StoreError::Io {
        path: sled_dir.clone(),
        source,
    })?;
    let db = crate::open_db(&snapshot.0, &StoreConfig::default())?;
    let log = EventsLog::open_read(dir).map_err(|source| StoreError::Io {
        path: dir.join(EVENTS_FILE),
        source,
    })?;
    let payloads = crate::payloads_of(dir, &log, master, false)?;
    if matches!(payloads, crate::Payloads::Unread) {
        return Err(VerifyFailure::Store(StoreError::MasterKey(
            "comparing the derived state needs the ledger's master key".into(),
        )));
    }

    let logged = match db.get(keys::LOGGED).map_err(StoreError::from)? {
        None => Logged {
            offset: 0,
            size: 0,
            batch_start: 0,
        },
        Some(v) => Logged::decode(&v).ok_or_else(|| differs("mlogged is malformed".into()))?,
    };
    let indexed = u64_at(&db, keys::INDEXED)?.unwrap_or(0);
    let projected = u64_at(&db, keys::PROJECTED)?;

    // One pass over the file: what sled should hold.
    let mut locations: BTreeMap<u64, ChunkAt> = BTreeMap::new();
    let mut checkpoints: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut key_records: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    // Each subject's events below the index mark, as compact lists (about two bytes an
    // event instead of eight: ten million events fit in some 20 MB).
    let mut subjects: BTreeMap<String, SeqList> = BTreeMap::new();
    // Subjects of the events above the index mark (the few the index may already hold).
    let mut subject_of: BTreeMap<u64, String> = BTreeMap::new();
    let mut replay = projection
        .write()
        .map_err(|_| StoreError::InvalidArgument("the projection's lock is poisoned".into()))?;
    replay.clear();
    let mut frames = log.frames_from(0).map_err(|source| StoreError::Io {
        path: dir.join(EVENTS_FILE),
        source,
    })?;
    let mut size = 0u64;
    loop {
        let frame = match frames.next_frame() {
            Ok(frame) => frame,
            Err(FrameError::End) | Err(FrameError::Truncated) => break,
            Err(e) => {
                return Err(VerifyFailure::Ledger(format!(
                    "{EVENTS_FILE} cannot be read at byte {}: {e} (run verify without --derived)",
                    frames.offset()
                )))
            }
        };
        if frame.offset >= logged.offset && logged.offset > 0 {
            // Beyond what sled reflects: the next open puts it back.
            break;
        }
        match frame.kind {
            FrameKind::Header => {}
            FrameKind::Checkpoint => {
                checkpoints.insert(frame.first, frame.body);
            }
            FrameKind::RequestKey => {
                if let Some((key, record)) = events_log::split_request_key(&frame.body) {
                    key_records.insert(key.to_vec(), record.to_vec());
                }
            }
            FrameKind::Events => {
                let chunk = keys::Chunk::parse(frame.first, &frame.body).ok_or_else(|| {
                    VerifyFailure::Ledger(format!(
                        "event {}: a malformed chunk (run verify without --derived)",
                        frame.first
                    ))
                })?;
                locations.insert(
                    frame.first,
                    ChunkAt {
                        offset: frame.offset,
                        len: frame.len,
                    },
                );
                for seq in chunk.first..chunk.end() {
                    let record =
                        chunk
                            .record(seq)
                            .and_then(keys::split_record)
                            .ok_or_else(|| {
                                VerifyFailure::Ledger(format!("event {seq}: record is truncated"))
                            })?;
                    let envelope = Envelope::decode(record.envelope)
                        .map_err(|e| VerifyFailure::Ledger(format!("event {seq}: {e}")))?;
                    if let Some(subject) = &envelope.subject {
                        if seq < indexed {
                            subjects.entry(subject.clone()).or_default().push(seq);
                        } else {
                            subject_of.insert(seq, subject.clone());
                        }
                    }
                    if projected.is_some_and(|p| seq < p) {
                        let payload = payloads
                            .open_for(&envelope, record.tail)
                            .map_err(|e| VerifyFailure::Ledger(format!("event {seq}: {e}")))?
                            .into_option();
                        replay
                            .replay(&envelope, payload.as_ref().map(|(_, p)| p.as_slice()))
                            .map_err(|reason| {
                                differs(format!("the projection cannot read event {seq}: {reason}"))
                            })?;
                    }
                }
                size = chunk.end();
            }
        }
    }
    if size != logged.size {
        return Err(differs(format!(
            "mlogged says sled reflects {} events; the events file holds {size} up to the byte it names",
            logged.size
        )));
    }

    // Chunk locations.
    let mut stored_locations = 0u64;
    for kv in db.scan_prefix([keys::CHUNK_AT]) {
        let (k, v) = kv.map_err(StoreError::from)?;
        let first = keys::trailing_u64(&k).unwrap_or(u64::MAX);
        let at = ChunkAt::decode(&v);
        if locations.get(&first) != at.as_ref() {
            return Err(differs(format!(
                "the location of the chunk from event {first} is {at:?}; the events file has it at {:?}",
                locations.get(&first)
            )));
        }
        stored_locations += 1;
    }
    if stored_locations != locations.len() as u64 {
        let missing = locations
            .keys()
            .find(|first| {
                db.get(keys::chunk_at(**first))
                    .map_or(true, |v| v.is_none())
            })
            .copied();
        return Err(differs(format!(
            "sled has no location for the chunk from event {}",
            missing.unwrap_or(0)
        )));
    }
    // Checkpoints.
    let mut stored_checkpoints = BTreeMap::new();
    for kv in db.scan_prefix([keys::CHECKPOINT]) {
        let (k, v) = kv.map_err(StoreError::from)?;
        stored_checkpoints.insert(keys::trailing_u64(&k).unwrap_or(u64::MAX), v.to_vec());
    }
    if stored_checkpoints != checkpoints {
        let size = stored_checkpoints
            .iter()
            .find(|(s, note)| checkpoints.get(*s) != Some(*note))
            .map(|(s, _)| *s)
            .or_else(|| {
                checkpoints
                    .keys()
                    .find(|s| !stored_checkpoints.contains_key(*s))
                    .copied()
            })
            .unwrap_or(0);
        return Err(differs(format!(
            "the checkpoint for {size} events differs between sled and the events file"
        )));
    }
    // Request keys still held: each is the record its frame holds.
    let mut request_keys = 0u64;
    for kv in db.scan_prefix([keys::REQUEST_KEY]) {
        let (k, v) = kv.map_err(StoreError::from)?;
        if key_records.get(&k[1..]) != Some(&v.to_vec()) {
            return Err(differs(format!(
                "request key {} in sled is not the record the events file holds for it",
                hex(&k[1..])
            )));
        }
        request_keys += 1;
    }
    // The subject index: a subject's postings come in key order, so in event order; each
    // is merged with the list the file gave, one subject at a time.
    type Expected<'a> = Box<dyn Iterator<Item = u64> + 'a>;
    // The subject, what the file lists for it still to be seen, and the last seq seen.
    let mut current: Option<(String, Expected<'_>, Option<u64>)> = None;
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let missing = |subject: &str, seq: u64| {
        differs(format!(
            "the subject index is missing event {seq} about {subject:?}"
        ))
    };
    let not_about = |subject: &str, seq: u64| {
        differs(format!(
            "the subject index lists event {seq} under {subject:?}, which it is not about"
        ))
    };
    for kv in db.scan_prefix([keys::SUBJECT]) {
        let (k, v) = kv.map_err(StoreError::from)?;
        let subject = k
            .get(1..k.len().saturating_sub(9))
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .unwrap_or_default();
        if current.as_ref().map(|(s, _, _)| s) != Some(&subject) {
            if let Some((done, mut rest, _)) = current.take() {
                if let Some(seq) = rest.next() {
                    return Err(missing(&done, seq));
                }
            }
            let list: Expected<'_> = match subjects.get_key_value(&subject) {
                Some((name, list)) => {
                    seen.insert(name.as_str());
                    Box::new(list.iter())
                }
                None => Box::new(std::iter::empty()),
            };
            current = Some((subject, list, None));
        }
        let (subject, expected, last) = current.as_mut().expect("set above");
        for seq in keys::posting_seqs(&v) {
            let seq = seq.map_err(|e| differs(format!("the subject index of {subject:?}: {e}")))?;
            // After a crash a chunk may be written again under another key, as the
            // index's readers know: a repeat is skipped, as they skip it.
            if last.is_some_and(|l| seq <= l) {
                continue;
            }
            *last = Some(seq);
            if seq >= indexed {
                if subject_of.get(&seq) != Some(subject) {
                    return Err(not_about(subject, seq));
                }
                continue;
            }
            match expected.next() {
                Some(next) if next == seq => {}
                Some(next) if next < seq => return Err(missing(subject, next)),
                _ => return Err(not_about(subject, seq)),
            }
        }
    }
    if let Some((done, mut rest, _)) = current.take() {
        if let Some(seq) = rest.next() {
            return Err(missing(&done, seq));
        }
    }
    if let Some((subject, list)) = subjects
        .iter()
        .find(|(subject, _)| !seen.contains(subject.as_str()))
    {
        let first = list.iter().next().unwrap_or(0);
        return Err(missing(subject, first));
    }
    // The projection.
    let mut projection_pairs = 0u64;
    if let Some(projected) = projected {
        if projected > size {
            return Err(differs(format!(
                "the projection reflects {projected} events; the events file holds {size}"
            )));
        }
        let mut rebuilt: BTreeMap<Vec<u8>, Vec<u8>> = replay
            .take_changes()
            .into_iter()
            .filter_map(|(k, v)| Some((k, v?)))
            .collect();
        for kv in db.scan_prefix([keys::PROJECTION]) {
            let (k, v) = kv.map_err(StoreError::from)?;
            let stored = payloads.open_pair(&k[1..], &v).map_err(|e| {
                differs(format!(
                    "the stored projection's value for key {}: {e} (altered)",
                    hex(&k[1..])
                ))
            })?;
            match rebuilt.remove(&k[1..]) {
                Some(value) if value == stored => projection_pairs += 1,
                Some(_) => {
                    return Err(differs(format!(
                    "the stored projection's value for key {} differs from a rebuild from the log",
                    hex(&k[1..])
                )))
                }
                None => {
                    return Err(differs(format!(
                        "the stored projection holds key {}, which a rebuild from the log does not",
                        hex(&k[1..])
                    )))
                }
            }
        }
        if let Some((k, _)) = rebuilt.iter().next() {
            return Err(differs(format!(
                "the stored projection lacks key {}, which a rebuild from the log holds",
                hex(k)
            )));
        }
    }
    replay.clear();
    Ok(DerivedReport {
        logged: logged.size,
        events: size,
        chunk_locations: stored_locations,
        checkpoints: checkpoints.len() as u64,
        request_keys,
        indexed,
        subjects: subjects.len() as u64,
        projected: projected.unwrap_or(0),
        projection_pairs,
    })
}

/// Ascending event numbers, as a posting value ([`keys::posting_value`]) of any length.
#[derive(Default)]
struct SeqList {
    next: u64,
    bytes: Vec<u8>,
}

impl SeqList {
    fn push(&mut self, seq: u64) {
        keys::push_posting(&mut self.bytes, &mut self.next, seq);
    }

    fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        // Written by `push` alone: it always decodes.
        keys::posting_seqs(&self.bytes).map_while(Result::ok)
    }
}

#[cfg(test)]
mod tests {
    use super::SeqList;

    #[test]
    fn seq_lists_give_back_what_was_pushed() {
        let seqs = [0u64, 1, 2, 130, 131, 20_000, 1 << 40, (1 << 40) + 1];
        let mut list = SeqList::default();
        for s in seqs {
            list.push(s);
        }
        assert_eq!(list.iter().collect::<Vec<_>>(), seqs);
        assert!(list.bytes.len() < seqs.len() * 3);
        assert_eq!(SeqList::default().iter().next(), None);
    }
}
