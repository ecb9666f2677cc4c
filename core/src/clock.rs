//! Version vectors and dots (Dynamo §4.4).
//!
//! SKELETON: the types are fixed (other modules build on them); the operations and
//! their laws are being written (issue 2).

use crate::types::ActorId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One event: the `counter`-th update coordinated by `actor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Dot {
    pub actor: ActorId,
    pub counter: u64,
}

/// How two versions relate causally.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Causality {
    Equal,
    Before,
    After,
    Concurrent,
}

/// A version vector: for each actor, the number of its updates seen. Absent means 0.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct VersionVector {
    entries: BTreeMap<ActorId, u64>,
}

impl VersionVector {
    pub fn new() -> Self {
        Self::default()
    }

    /// The counter of `actor` (0 when absent).
    pub fn get(&self, actor: ActorId) -> u64 {
        self.entries.get(&actor).copied().unwrap_or(0)
    }

    /// Whether this vector has seen `dot`.
    pub fn covers(&self, dot: Dot) -> bool {
        self.get(dot.actor) >= dot.counter
    }

    /// Entries in actor order (never a zero counter).
    pub fn iter(&self) -> impl Iterator<Item = (ActorId, u64)> + '_ {
        self.entries
            .iter()
            .map(|(actor, counter)| (*actor, *counter))
    }

    /// Raise `actor`'s entry by one and return the new dot.
    pub fn increment(&mut self, actor: ActorId) -> Dot {
        let counter = self.get(actor) + 1;
        self.entries.insert(actor, counter);
        Dot { actor, counter }
    }

    /// Entry-wise maximum: the join of two causal histories.
    pub fn merge(&mut self, other: &VersionVector) {
        for (actor, counter) in other.iter() {
            let entry = self.entries.entry(actor).or_insert(0);
            *entry = (*entry).max(counter);
        }
    }
}
