//! Proofs over the stored tree: roots at any size, leaf hashes, inclusion and consistency
//! proofs, read from the node hashes stored with the events, the upper levels cached in
//! memory.

use std::sync::Arc;

use careledger_log::merkle::{self, Blake3Hasher, Hash, NodeSource, ProofError};

use crate::events_log::EventsLog;
use crate::{keys, Store, StoreError};

impl Store {
    fn nodes(&self) -> StoredNodes<'_> {
        StoredNodes::new(
            &self.inner.db,
            &self.inner.log,
            Some(&self.inner.node_cache),
        )
    }

    fn check_size(&self, size: u64) -> Result<(), StoreError> {
        let current = self.size();
        if size > current {
            return Err(StoreError::SizeBeyondLog { size, current });
        }
        Ok(())
    }

    /// Root of the tree of the first `size` events.
    pub fn root_at(&self, size: u64) -> Result<Hash, StoreError> {
        self.check_size(size)?;
        merkle::root::<Blake3Hasher, _>(&self.nodes(), size)
    }

    /// Leaf hash of event `seq`, as stored.
    pub fn leaf_hash(&self, seq: u64) -> Result<Hash, StoreError> {
        let size = self.size();
        if seq >= size {
            return Err(StoreError::NoSuchEvent { seq, size });
        }
        self.nodes().perfect_node(0, seq)
    }

    /// Inclusion proof of event `seq` in the tree of `size` events; O(log n) reads.
    pub fn inclusion_proof(&self, seq: u64, size: u64) -> Result<Vec<Hash>, StoreError> {
        self.check_size(size)?;
        merkle::inclusion_proof::<Blake3Hasher, _>(&self.nodes(), seq, size).map_err(proof_err)
    }

    /// Consistency proof between the trees of `size1` and `size2` events.
    pub fn consistency_proof(&self, size1: u64, size2: u64) -> Result<Vec<Hash>, StoreError> {
        self.check_size(size2)?;
        merkle::consistency_proof::<Blake3Hasher, _>(&self.nodes(), size1, size2).map_err(proof_err)
    }
}

fn proof_err(e: ProofError<StoreError>) -> StoreError {
    match e {
        ProofError::Source(e) => e,
        other => StoreError::Proof(other.to_string()),
    }
}

/// Perfect-subtree hashes never change once written, so the upper levels, which every
/// proof reads, are kept in memory after their first read.
pub(crate) struct NodeCache(std::sync::RwLock<std::collections::HashMap<(u8, u64), Hash>>);

impl NodeCache {
    /// Only nodes at this level or above are cached (each covers 64 events or more)...
    const LEVEL_MIN: u8 = 6;
    /// ...and at most this many (about 12 MiB); past it, reads go to sled.
    const ENTRIES_MAX: usize = 262_144;

    pub(crate) fn new() -> Self {
        Self(std::sync::RwLock::new(std::collections::HashMap::new()))
    }

    fn get(&self, level: u8, index: u64) -> Option<Hash> {
        if level < Self::LEVEL_MIN {
            return None;
        }
        self.0.read().ok()?.get(&(level, index)).copied()
    }

    fn put(&self, level: u8, index: u64, hash: Hash) {
        if level < Self::LEVEL_MIN {
            return;
        }
        if let Ok(mut map) = self.0.write() {
            if map.len() < Self::ENTRIES_MAX {
                map.insert((level, index), hash);
            }
        }
    }
}

/// Reads stored perfect-subtree hashes: each lives in the record of the leaf whose append
/// completed it, in the events file, found through sled's chunk locations.
pub(crate) struct StoredNodes<'a> {
    db: &'a sled::Db,
    log: &'a EventsLog,
    cache: Option<&'a NodeCache>,
    /// The chunk read last (its first event and bytes): the low nodes of one proof sit in
    /// the records of neighbouring events, mostly in one chunk.
    last_chunk: std::cell::RefCell<Option<(u64, Arc<[u8]>)>>,
}

impl<'a> StoredNodes<'a> {
    pub(crate) fn new(db: &'a sled::Db, log: &'a EventsLog, cache: Option<&'a NodeCache>) -> Self {
        Self {
            db,
            log,
            cache,
            last_chunk: std::cell::RefCell::new(None),
        }
    }
}

impl NodeSource for StoredNodes<'_> {
    type Error = StoreError;
    fn perfect_node(&self, level: u8, index: u64) -> Result<Hash, StoreError> {
        if let Some(hash) = self.cache.and_then(|c| c.get(level, index)) {
            return Ok(hash);
        }
        let hash = self.read_node(level, index)?;
        if let Some(cache) = self.cache {
            cache.put(level, index, hash);
        }
        Ok(hash)
    }
}

impl StoredNodes<'_> {
    fn read_node(&self, level: u8, index: u64) -> Result<Hash, StoreError> {
        let missing = |what: &str| {
            StoreError::Corrupt(format!("tree node at level {level}, index {index} {what}"))
        };
        let leaf = keys::completing_leaf(level, index);
        let mut last = self.last_chunk.borrow_mut();
        let cached = last.as_ref().and_then(|(first, value)| {
            let at = keys::Chunk::parse(*first, value)?.record_range(leaf)?;
            Some((value.clone(), at))
        });
        let (chunk, at) = match cached {
            Some(found) => found,
            None => {
                let (first, value, at) = keys::locate(self.db, self.log, leaf)?.found(leaf)?;
                *last = Some((first, value.clone()));
                (value, at)
            }
        };
        let record = keys::split_record(&chunk[at])
            .ok_or_else(|| missing(&format!("is unreadable (event {leaf} is truncated)")))?;
        record
            .nodes
            .get(level as usize)
            .copied()
            .ok_or_else(|| missing(&format!("is missing from event {leaf}")))
    }
}
