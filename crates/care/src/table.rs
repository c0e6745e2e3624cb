//! A keyed projection table that remembers what changed (to persist only that) and, inside a
//! request, what it held before (to roll the request back when one of its events is refused).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::{de::DeserializeOwned, Serialize};

use crate::codec;

#[derive(Debug, Clone)]
pub struct Table<V> {
    /// First byte of every persisted key of this table.
    tag: u8,
    map: BTreeMap<String, V>,
    dirty: HashSet<String>,
    /// Old values of the keys changed since `begin`, when a request is open.
    journal: Option<Vec<(String, Option<V>)>>,
    journaled: BTreeSet<String>,
}

impl<V: Clone + Serialize + DeserializeOwned + PartialEq> Table<V> {
    pub fn new(tag: u8) -> Self {
        Self {
            tag,
            map: BTreeMap::new(),
            dirty: HashSet::new(),
            journal: None,
            journaled: BTreeSet::new(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        self.map.get(key)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&String, &V)> {
        self.map.iter()
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.map.values()
    }

    fn touch(&mut self, key: &str) {
        if !self.dirty.contains(key) {
            self.dirty.insert(key.to_string());
        }
        if let Some(journal) = &mut self.journal {
            if !self.journaled.contains(key) {
                self.journaled.insert(key.to_string());
                journal.push((key.to_string(), self.map.get(key).cloned()));
            }
        }
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        if !self.map.contains_key(key) {
            return None;
        }
        self.touch(key);
        self.map.get_mut(key)
    }

    pub fn insert(&mut self, key: &str, value: V) {
        self.touch(key);
        self.map.insert(key.to_string(), value);
    }

    pub fn remove(&mut self, key: &str) -> Option<V> {
        if !self.map.contains_key(key) {
            return None;
        }
        self.touch(key);
        self.map.remove(key)
    }

    fn persisted_key(&self, key: &str) -> Vec<u8> {
        let mut k = Vec::with_capacity(1 + key.len());
        k.push(self.tag);
        k.extend_from_slice(key.as_bytes());
        k
    }
}

/// What the state does to each of its tables alike: requests, persistence and loading.
pub trait Tracked {
    /// First byte of every persisted key of this table.
    fn tag(&self) -> u8;
    fn begin(&mut self);
    fn commit(&mut self);
    /// Puts back what every key held at `begin`.
    fn rollback(&mut self);
    /// Appends the changed pairs (in key order, so output is deterministic) to `out`.
    fn take_changes(&mut self, out: &mut Vec<(Vec<u8>, Option<Vec<u8>>)>);
    /// Every pair as persisted, for comparisons.
    fn all_pairs(&self, out: &mut Vec<(Vec<u8>, Vec<u8>)>);
    /// Loads one persisted pair whose tag byte has already been matched.
    fn load(&mut self, key: &[u8], value: &[u8]) -> Result<(), String>;
}

impl<V: Clone + Serialize + DeserializeOwned + PartialEq> Tracked for Table<V> {
    fn tag(&self) -> u8 {
        self.tag
    }

    fn begin(&mut self) {
        self.journal = Some(Vec::new());
        self.journaled.clear();
    }

    fn commit(&mut self) {
        self.journal = None;
        self.journaled.clear();
    }

    /// Puts back what every key held at `begin`. Keys stay marked dirty: persisting their
    /// restored value is harmless.
    fn rollback(&mut self) {
        if let Some(journal) = self.journal.take() {
            for (key, old) in journal.into_iter().rev() {
                match old {
                    Some(value) => self.map.insert(key, value),
                    None => self.map.remove(&key),
                };
            }
        }
        self.journaled.clear();
    }

    /// Appends the changed pairs (in key order, so output is deterministic) to `out`.
    fn take_changes(&mut self, out: &mut Vec<(Vec<u8>, Option<Vec<u8>>)>) {
        let mut keys: Vec<String> = self.dirty.drain().collect();
        keys.sort_unstable();
        for key in keys {
            let value = self.map.get(&key).map(codec::to_bytes);
            out.push((self.persisted_key(&key), value));
        }
    }

    /// Every pair as persisted, for comparisons.
    fn all_pairs(&self, out: &mut Vec<(Vec<u8>, Vec<u8>)>) {
        for (key, value) in &self.map {
            out.push((self.persisted_key(key), codec::to_bytes(value)));
        }
    }

    /// Loads one persisted pair whose tag byte has already been matched.
    fn load(&mut self, key: &[u8], value: &[u8]) -> Result<(), String> {
        let name = std::str::from_utf8(key).map_err(|_| "a projection key is not UTF-8")?;
        let value: V = codec::from_bytes(value)
            .map_err(|e| format!("projection value for {name:?} does not decode: {e}"))?;
        self.map.insert(name.to_string(), value);
        Ok(())
    }
}
