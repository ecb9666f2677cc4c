//! Local storage behind a synchronous trait (Dynamo §5: pluggable local persistence).
//!
//! The core never performs I/O itself: a `Node` reads and writes through [`Store`], and
//! the driver decides when writes become durable by calling [`Store::sync`] once per
//! batch of inputs (group commit), releasing the replies that depended on the batch only
//! afterwards. [`MemoryStore`] serves the simulator, the model and the browser; the
//! server implements the trait on a crash-safe embedded engine.
//!
//! Invariants:
//! - Replicas live apart from hints (Dynamo §4.6: "a separate local database"), and
//!   metadata apart from both.
//! - Replicas are grouped by partition, so a partition is scanned, moved and dropped
//!   as a unit (Dynamo §6.2, strategy 3).
//! - `MemoryStore::crash` loses exactly the writes made since the last `sync`, as a
//!   real crash loses unsynced data; nothing synced is ever lost.

use crate::types::{Key, NodeId, PartitionId};
use crate::version::Siblings;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::Bound;
use thiserror::Error;

/// A storage failure, reported by a durable implementation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Error, Serialize, Deserialize)]
#[error("storage failed: {message}")]
pub struct StoreError {
    pub message: String,
}

impl StoreError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// Where a hinted replica belongs: the home node it is meant for, and the key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct HintKey {
    pub target: NodeId,
    pub partition: PartitionId,
    #[serde(with = "serde_bytes")]
    pub key: Key,
}

/// Synchronous local storage. Writes are visible to reads at once; they are durable
/// only after [`Store::sync`] returns.
pub trait Store {
    fn get(&self, partition: PartitionId, key: &[u8]) -> Result<Option<Siblings>, StoreError>;
    fn put(
        &mut self,
        partition: PartitionId,
        key: &[u8],
        value: &Siblings,
    ) -> Result<(), StoreError>;
    /// Up to `limit` entries of `partition` in key order, strictly after `start_after`.
    fn scan(
        &self,
        partition: PartitionId,
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Key, Siblings)>, StoreError>;
    /// Partitions holding at least one replica, in order.
    fn partitions(&self) -> Result<Vec<PartitionId>, StoreError>;
    fn drop_partition(&mut self, partition: PartitionId) -> Result<(), StoreError>;

    fn hint(&self, hint: &HintKey) -> Result<Option<Siblings>, StoreError>;
    fn put_hint(&mut self, hint: &HintKey, value: &Siblings) -> Result<(), StoreError>;
    fn remove_hint(&mut self, hint: &HintKey) -> Result<(), StoreError>;
    /// Up to `limit` hints in `HintKey` order, strictly after `start_after`.
    fn hints(
        &self,
        start_after: Option<&HintKey>,
        limit: usize,
    ) -> Result<Vec<(HintKey, Siblings)>, StoreError>;
    fn hint_count(&self) -> Result<usize, StoreError>;

    fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
    fn put_meta(&mut self, name: &str, value: &[u8]) -> Result<(), StoreError>;

    /// Make every write so far durable (one call per batch: group commit).
    fn sync(&mut self) -> Result<(), StoreError>;
}

/// A cell's value before the first write since the last sync (`None`: absent).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
enum Undo {
    Replica(PartitionId, Key, Option<Siblings>),
    Hint(HintKey, Option<Siblings>),
    Meta(String, Option<Vec<u8>>),
}

/// In-memory [`Store`] with crash semantics: an undo log since the last sync.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MemoryStore {
    replicas: BTreeMap<PartitionId, BTreeMap<Key, Siblings>>,
    hints: BTreeMap<HintKey, Siblings>,
    meta: BTreeMap<String, Vec<u8>>,
    undo: Vec<Undo>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Simulate a crash: every write since the last `sync` is lost, newest first.
    pub fn crash(&mut self) {
        while let Some(undo) = self.undo.pop() {
            match undo {
                Undo::Replica(partition, key, old) => self.restore_replica(partition, key, old),
                Undo::Hint(hint, old) => restore(&mut self.hints, hint, old),
                Undo::Meta(name, old) => restore(&mut self.meta, name, old),
            }
        }
    }

    /// Writes not yet synced (what a crash now would lose).
    pub fn unsynced_writes(&self) -> usize {
        self.undo.len()
    }

    /// Every replica, in (partition, key) order.
    pub fn replicas(&self) -> impl Iterator<Item = (PartitionId, &Key, &Siblings)> + '_ {
        self.replicas
            .iter()
            .flat_map(|(p, keys)| keys.iter().map(move |(k, v)| (*p, k, v)))
    }

    fn restore_replica(&mut self, partition: PartitionId, key: Key, old: Option<Siblings>) {
        let keys = self.replicas.entry(partition).or_default();
        restore(keys, key, old);
        if keys.is_empty() {
            self.replicas.remove(&partition);
        }
    }
}

fn restore<K: Ord, V>(map: &mut BTreeMap<K, V>, key: K, old: Option<V>) {
    match old {
        Some(value) => map.insert(key, value),
        None => map.remove(&key),
    };
}

impl Store for MemoryStore {
    fn get(&self, partition: PartitionId, key: &[u8]) -> Result<Option<Siblings>, StoreError> {
        Ok(self
            .replicas
            .get(&partition)
            .and_then(|keys| keys.get(key))
            .cloned())
    }

    fn put(
        &mut self,
        partition: PartitionId,
        key: &[u8],
        value: &Siblings,
    ) -> Result<(), StoreError> {
        let keys = self.replicas.entry(partition).or_default();
        let old = keys.insert(key.to_vec(), value.clone());
        self.undo.push(Undo::Replica(partition, key.to_vec(), old));
        Ok(())
    }

    fn scan(
        &self,
        partition: PartitionId,
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Key, Siblings)>, StoreError> {
        let Some(keys) = self.replicas.get(&partition) else {
            return Ok(Vec::new());
        };
        let lower = start_after.map_or(Bound::Unbounded, Bound::Excluded);
        let entries = keys
            .range::<[u8], _>((lower, Bound::Unbounded))
            .take(limit)
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        Ok(entries)
    }

    fn partitions(&self) -> Result<Vec<PartitionId>, StoreError> {
        Ok(self.replicas.keys().copied().collect())
    }

    fn drop_partition(&mut self, partition: PartitionId) -> Result<(), StoreError> {
        if let Some(keys) = self.replicas.remove(&partition) {
            let undo = keys
                .into_iter()
                .map(|(k, v)| Undo::Replica(partition, k, Some(v)));
            self.undo.extend(undo);
        }
        Ok(())
    }

    fn hint(&self, hint: &HintKey) -> Result<Option<Siblings>, StoreError> {
        Ok(self.hints.get(hint).cloned())
    }

    fn put_hint(&mut self, hint: &HintKey, value: &Siblings) -> Result<(), StoreError> {
        let old = self.hints.insert(hint.clone(), value.clone());
        self.undo.push(Undo::Hint(hint.clone(), old));
        Ok(())
    }

    fn remove_hint(&mut self, hint: &HintKey) -> Result<(), StoreError> {
        if let Some(old) = self.hints.remove(hint) {
            self.undo.push(Undo::Hint(hint.clone(), Some(old)));
        }
        Ok(())
    }

    fn hints(
        &self,
        start_after: Option<&HintKey>,
        limit: usize,
    ) -> Result<Vec<(HintKey, Siblings)>, StoreError> {
        let lower = start_after.map_or(Bound::Unbounded, Bound::Excluded);
        let entries = self
            .hints
            .range((lower, Bound::Unbounded))
            .take(limit)
            .map(|(hint, value)| (hint.clone(), value.clone()))
            .collect();
        Ok(entries)
    }

    fn hint_count(&self) -> Result<usize, StoreError> {
        Ok(self.hints.len())
    }

    fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.meta.get(name).cloned())
    }

    fn put_meta(&mut self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        let old = self.meta.insert(name.to_string(), value.to_vec());
        self.undo.push(Undo::Meta(name.to_string(), old));
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        self.undo.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> Siblings {
        Siblings::new()
    }

    #[test]
    fn crash_loses_exactly_the_unsynced_writes() {
        let mut store = MemoryStore::new();
        store.put(PartitionId(1), b"a", &set()).unwrap();
        store.put_meta("incarnation", b"1").unwrap();
        store.sync().unwrap();
        store.put(PartitionId(1), b"b", &set()).unwrap();
        store.put_meta("incarnation", b"2").unwrap();
        let hint = HintKey {
            target: NodeId(3),
            partition: PartitionId(1),
            key: b"c".to_vec(),
        };
        store.put_hint(&hint, &set()).unwrap();
        assert_eq!(store.unsynced_writes(), 3);
        store.crash();
        assert!(store.get(PartitionId(1), b"a").unwrap().is_some());
        assert!(store.get(PartitionId(1), b"b").unwrap().is_none());
        assert_eq!(
            store.meta("incarnation").unwrap().as_deref(),
            Some(&b"1"[..])
        );
        assert_eq!(store.hint_count().unwrap(), 0);
        assert_eq!(store.partitions().unwrap(), vec![PartitionId(1)]);
    }

    #[test]
    fn crash_restores_a_dropped_partition() {
        let mut store = MemoryStore::new();
        store.put(PartitionId(2), b"a", &set()).unwrap();
        store.sync().unwrap();
        store.drop_partition(PartitionId(2)).unwrap();
        assert!(store.partitions().unwrap().is_empty());
        store.crash();
        assert_eq!(store.partitions().unwrap(), vec![PartitionId(2)]);
    }

    #[test]
    fn scan_pages_through_a_partition_in_key_order() {
        let mut store = MemoryStore::new();
        for key in [b"d", b"a", b"c", b"b"] {
            store.put(PartitionId(0), key, &set()).unwrap();
        }
        store.put(PartitionId(1), b"z", &set()).unwrap();
        let first = store.scan(PartitionId(0), None, 3).unwrap();
        let keys: Vec<_> = first.iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(keys, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        let rest = store.scan(PartitionId(0), Some(b"c"), 3).unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].0, b"d".to_vec());
        assert!(store.scan(PartitionId(7), None, 3).unwrap().is_empty());
    }

    #[test]
    fn hints_page_in_order_and_remove_only_the_named_one() {
        let mut store = MemoryStore::new();
        let hint = |n, key: &[u8]| HintKey {
            target: NodeId(n),
            partition: PartitionId(0),
            key: key.to_vec(),
        };
        store.put_hint(&hint(2, b"x"), &set()).unwrap();
        store.put_hint(&hint(1, b"y"), &set()).unwrap();
        store.put_hint(&hint(1, b"x"), &set()).unwrap();
        let page = store.hints(None, 2).unwrap();
        assert_eq!(page[0].0, hint(1, b"x"));
        assert_eq!(page[1].0, hint(1, b"y"));
        let next = store.hints(Some(&page[1].0), 2).unwrap();
        assert_eq!(next.len(), 1);
        store.remove_hint(&hint(1, b"y")).unwrap();
        assert_eq!(store.hint_count().unwrap(), 2);
        assert!(store.hint(&hint(1, b"y")).unwrap().is_none());
    }
}
