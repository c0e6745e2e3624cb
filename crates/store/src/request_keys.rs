//! Request keys: a writer that does not know whether its append landed (its answer was
//! lost, or it timed out while the append went on) sends it again with the same key, and
//! is answered with the first append's receipts instead of having it written twice.
//!
//! The appender checks a request's key before building it and stages the key's record in
//! the same atomic sled batch as the events, so a key is exactly as durable as what it
//! answers: after a crash either both are there or neither is. Two requests with one key
//! in one batch, or in batches not yet durable, are told apart in memory; a replayed
//! answer goes to the syncer with the batch it arrived in, so it is sent only once the
//! first append is durable too.
//!
//! Records are kept at least [`crate::StoreConfig::request_keys_keep`] (by the ledger's
//! recorded-at clock) and at most [`crate::StoreConfig::request_keys_max`] at once; older
//! ones are pruned a few at a time with each batch. A new key when the store holds the
//! most it may is refused ([`crate::AppendError::KeysFull`]): keys are never dropped early,
//! since a dropped key would let a retry write twice.
//!
//! | key                                   | value                                           |
//! |---------------------------------------|-------------------------------------------------|
//! | `k` request key                       | digest:32, recorded_at:i64 LE, n:u32 LE, n × (seq:u64 LE, recorded_at:i64 LE) |
//! | `t` recorded_at:u64 BE, request key   | empty: the records in the order they expire     |
//! | `mkeys`                               | how many `k` records there are: u64 LE          |

use std::collections::HashMap;

use crate::keys;
use crate::Receipt;

/// Expired records removed with one batch, so that pruning never makes a batch long.
pub const PRUNE_PER_BATCH: usize = 256;

/// Longest request key, in bytes (the HTTP layer adds who sent it).
pub const KEY_BYTES_MAX: usize = 512;

/// A writer's key for one append request, and a digest of what the request asked, so a
/// retry with another request under the same key is told apart from a true retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestKey {
    pub key: Vec<u8>,
    pub digest: [u8; 32],
}

/// What a key answered the first time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub digest: [u8; 32],
    pub recorded_at_us: i64,
    pub receipts: Vec<Receipt>,
}

impl KeyRecord {
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(44 + 16 * self.receipts.len());
        v.extend_from_slice(&self.digest);
        v.extend_from_slice(&self.recorded_at_us.to_le_bytes());
        v.extend_from_slice(&(self.receipts.len() as u32).to_le_bytes());
        for r in &self.receipts {
            v.extend_from_slice(&r.seq.to_le_bytes());
            v.extend_from_slice(&r.recorded_at_us.to_le_bytes());
        }
        v
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let bad = || format!("a request key record of {} bytes is damaged", bytes.len());
        let take = |at: usize, n: usize| bytes.get(at..at + n).ok_or_else(bad);
        let digest: [u8; 32] = take(0, 32)?.try_into().map_err(|_| bad())?;
        let recorded_at_us = i64::from_le_bytes(take(32, 8)?.try_into().map_err(|_| bad())?);
        let n = u32::from_le_bytes(take(40, 4)?.try_into().map_err(|_| bad())?) as usize;
        if bytes.len() != 44 + 16 * n {
            return Err(bad());
        }
        let receipts = (0..n)
            .map(|i| {
                let at = 44 + 16 * i;
                Ok(Receipt {
                    seq: u64::from_le_bytes(take(at, 8)?.try_into().map_err(|_| bad())?),
                    recorded_at_us: i64::from_le_bytes(
                        take(at + 8, 8)?.try_into().map_err(|_| bad())?,
                    ),
                    replayed: true,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Self {
            digest,
            recorded_at_us,
            receipts,
        })
    }
}

pub fn record_key(key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + key.len());
    k.push(keys::REQUEST_KEY);
    k.extend_from_slice(key);
    k
}

/// Recorded-at before 1970 sorts as 1970: such records expire first, which is harmless.
fn expiry_key(recorded_at_us: i64, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + key.len());
    k.push(keys::REQUEST_KEY_EXPIRY);
    k.extend_from_slice(&(recorded_at_us.max(0) as u64).to_be_bytes());
    k.extend_from_slice(key);
    k
}

/// The appender's side: how many records there are, and those staged in the batch being
/// built (not yet in sled).
pub(crate) struct Keys {
    pub(crate) count: u64,
    staged: HashMap<Vec<u8>, KeyRecord>,
    /// Records staged or pruned in the batch being built: the count once it is written.
    pending_count: u64,
}

/// What the appender does with a keyed request.
pub(crate) enum Found {
    /// Never seen: append it, then [`Keys::stage`] the record.
    New,
    /// Seen with the same request: answer these receipts again.
    Same(Vec<Receipt>),
    /// Seen with another request: refuse it, naming the first append's first event.
    Other { first_seq: Option<u64> },
}

impl Keys {
    pub(crate) fn load(db: &sled::Db) -> Result<Self, String> {
        let count = match db.get(keys::REQUEST_KEYS).map_err(|e| e.to_string())? {
            None => 0,
            Some(v) => u64::from_le_bytes(
                v.as_ref()
                    .try_into()
                    .map_err(|_| "the request key count is damaged".to_string())?,
            ),
        };
        Ok(Self {
            count,
            staged: HashMap::new(),
            pending_count: count,
        })
    }

    /// Whether `key` was seen, in this batch or in sled (which holds every earlier batch,
    /// durable or not).
    pub(crate) fn find(&self, db: &sled::Db, key: &RequestKey) -> Result<Found, String> {
        let record = match self.staged.get(&key.key) {
            Some(r) => Some(r.clone()),
            None => match db.get(record_key(&key.key)).map_err(|e| e.to_string())? {
                Some(v) => Some(KeyRecord::decode(&v)?),
                None => None,
            },
        };
        Ok(match record {
            None => Found::New,
            Some(r) if r.digest == key.digest => Found::Same(
                r.receipts
                    .into_iter()
                    .map(|r| Receipt {
                        replayed: true,
                        ..r
                    })
                    .collect(),
            ),
            Some(r) => Found::Other {
                first_seq: r.receipts.first().map(|r| r.seq),
            },
        })
    }

    /// Whether a new key fits under `max`.
    pub(crate) fn room(&self, max: u64) -> bool {
        self.pending_count < max
    }

    /// Stages a new key's record: its frame in the events file (`frames`, the record of
    /// truth) and its keys in sled.
    pub(crate) fn stage(
        &mut self,
        (batch, frames): (&mut sled::Batch, &mut Vec<u8>),
        key: RequestKey,
        recorded_at_us: i64,
        receipts: &[Receipt],
    ) {
        let record = KeyRecord {
            digest: key.digest,
            recorded_at_us,
            receipts: receipts.to_vec(),
        };
        let encoded = record.encode();
        crate::events_log::encode_frame(
            frames,
            crate::events_log::FrameKind::RequestKey,
            0,
            &crate::events_log::request_key_body(&key.key, &encoded),
        );
        batch.insert(record_key(&key.key), encoded);
        batch.insert(expiry_key(recorded_at_us, &key.key), &[][..]);
        self.pending_count += 1;
        self.staged.insert(key.key, record);
    }

    /// Stages the removal of up to [`PRUNE_PER_BATCH`] records recorded before
    /// `before_us`, oldest first.
    pub(crate) fn prune(
        &mut self,
        db: &sled::Db,
        batch: &mut sled::Batch,
        before_us: i64,
    ) -> Result<(), String> {
        if self.pending_count == 0 {
            return Ok(());
        }
        let end = expiry_key(before_us, &[]);
        for kv in db
            .range(vec![keys::REQUEST_KEY_EXPIRY]..end)
            .take(PRUNE_PER_BATCH)
        {
            let (k, _) = kv.map_err(|e| e.to_string())?;
            let key = &k[9..];
            // A key staged again in this batch (expired, then reused) keeps its new record.
            if self.staged.contains_key(key) {
                continue;
            }
            batch.remove(k.as_ref());
            batch.remove(record_key(key));
            self.pending_count = self.pending_count.saturating_sub(1);
        }
        Ok(())
    }

    /// Puts a key's record (as stored, and its recorded-at) from the events file back
    /// into sled (opening, when sled is behind the file); `Ok(true)` if it was not there,
    /// so the count grows by one.
    pub(crate) fn restore(
        db: &sled::Db,
        batch: &mut sled::Batch,
        key: &[u8],
        (record, recorded_at_us): (&[u8], i64),
    ) -> Result<bool, sled::Error> {
        let new = db.get(record_key(key))?.is_none();
        batch.insert(record_key(key), record);
        batch.insert(expiry_key(recorded_at_us, key), &[][..]);
        Ok(new)
    }

    /// Stages a record a replica takes from its primary's request key frame (`record`
    /// is the frame's encoded record, `decoded` the same decoded).
    pub(crate) fn stage_replicated(
        &mut self,
        db: &sled::Db,
        batch: &mut sled::Batch,
        key: &[u8],
        (record, decoded): (&[u8], KeyRecord),
    ) -> Result<(), String> {
        let new = !self.staged.contains_key(key)
            && db
                .get(record_key(key))
                .map_err(|e| e.to_string())?
                .is_none();
        batch.insert(record_key(key), record);
        batch.insert(expiry_key(decoded.recorded_at_us, key), &[][..]);
        if new {
            self.pending_count += 1;
        }
        self.staged.insert(key.to_vec(), decoded);
        Ok(())
    }

    /// The count to write with the batch, if it changed.
    pub(crate) fn staged_count(&self) -> Option<u64> {
        (self.pending_count != self.count).then_some(self.pending_count)
    }

    /// The batch was written: its records are in sled now.
    pub(crate) fn written(&mut self) {
        self.count = self.pending_count;
        self.staged.clear();
    }

    /// The batch was not written: forget what it staged.
    pub(crate) fn discarded(&mut self) {
        self.pending_count = self.count;
        self.staged.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_refuse_damage() {
        let r = KeyRecord {
            digest: [7; 32],
            recorded_at_us: 1_700_000_000_000_000,
            receipts: vec![
                Receipt {
                    seq: 41,
                    recorded_at_us: 5,
                    replayed: true,
                },
                Receipt {
                    seq: 42,
                    recorded_at_us: 6,
                    replayed: true,
                },
            ],
        };
        let bytes = r.encode();
        assert_eq!(KeyRecord::decode(&bytes), Ok(r));
        assert!(KeyRecord::decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(KeyRecord::decode(&bytes[..20]).is_err());
    }

    #[test]
    fn expiry_keys_sort_by_time() {
        let a = expiry_key(5, b"zzz");
        let b = expiry_key(6, b"aaa");
        assert!(a < b);
        assert!(expiry_key(-3, b"x") < a);
    }
}
