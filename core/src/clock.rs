//! Version vectors and dots (Dynamo §4.4).
//!
//! A version vector maps each actor (one incarnation of a node, see
//! [`crate::types::ActorId`]) to the number of updates it coordinated that a version has
//! seen. The paper's "syntactic reconciliation" is [`VersionVector::descends`]: if every
//! counter of `a` is at most `b`'s, `a` is an ancestor of `b` and can be dropped.
//!
//! Invariants:
//! - A vector never stores a zero counter: absent and zero mean the same, so equality,
//!   ordering and hashing are those of the causal history. Every constructor keeps it,
//!   deserialization rejects it (`from_entries_rejects_zero_counters`,
//!   `deserialize_rejects_a_stored_zero`), and `iter` asserts it.
//! - [`VersionVector::merge`] is a join: commutative, associative, idempotent, and its
//!   result descends both inputs (`tests/version_laws.rs`: `merge_is_*`).
//! - [`VersionVector::descends`] is a partial order (reflexive, antisymmetric,
//!   transitive), and [`VersionVector::compare`] agrees with it in both directions
//!   (`tests/version_laws.rs`: `descends_is_*`, `compare_agrees_with_descends`).
//! - A dot's counter is never zero: an actor's first update is counter 1.

use crate::types::{limits, ActorId};
use core::fmt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use thiserror::Error;

/// One event: the `counter`-th update coordinated by `actor` (counters start at 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Dot {
    pub actor: ActorId,
    pub counter: u64,
}

impl Dot {
    pub fn new(actor: ActorId, counter: u64) -> Self {
        assert!(
            counter > 0,
            "a dot's counter starts at 1, got 0 for {actor}"
        );
        Self { actor, counter }
    }
}

impl fmt::Display for Dot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.actor, self.counter)
    }
}

/// How two versions relate causally, read as "self is ... other".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Causality {
    /// Same causal history.
    Equal,
    /// Self is strictly older: other has seen everything self has, and more.
    Before,
    /// Self is strictly newer.
    After,
    /// Each has seen something the other has not: both must be kept.
    Concurrent,
}

/// A vector that cannot be built.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Error, Serialize, Deserialize)]
pub enum ClockError {
    #[error("zero counter for actor {actor} (absent entries mean zero)")]
    ZeroCounter { actor: ActorId },
    #[error("actor {actor} appears twice")]
    DuplicateActor { actor: ActorId },
    #[error("more than {max} entries")]
    TooManyEntries { max: usize },
}

/// A version vector: for each actor, the number of its updates seen. Absent means 0.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "StoredVersionVector")]
pub struct VersionVector {
    entries: BTreeMap<ActorId, u64>,
}

/// The serialized shape of [`VersionVector`], validated before it becomes one, so a
/// stored or received zero counter cannot break equality and hashing.
#[derive(Deserialize)]
struct StoredVersionVector {
    entries: BTreeMap<ActorId, u64>,
}

impl TryFrom<StoredVersionVector> for VersionVector {
    type Error = ClockError;

    fn try_from(stored: StoredVersionVector) -> Result<Self, ClockError> {
        // No entry limit here: a sync may legitimately grow a clock past
        // CLOCK_ENTRIES_MAX (a merge never loses history); the limit is enforced where
        // clients add entries (`Siblings::update`, `Context::decode`).
        match stored.entries.iter().find(|(_, counter)| **counter == 0) {
            Some((actor, _)) => Err(ClockError::ZeroCounter { actor: *actor }),
            None => Ok(Self {
                entries: stored.entries,
            }),
        }
    }
}

impl VersionVector {
    pub fn new() -> Self {
        Self::default()
    }

    /// A vector from `(actor, counter)` pairs in any order, checked: no zero counter,
    /// no actor twice, at most `limits::CLOCK_ENTRIES_MAX` entries.
    pub fn from_entries(
        entries: impl IntoIterator<Item = (ActorId, u64)>,
    ) -> Result<Self, ClockError> {
        let mut vector = Self::new();
        for (actor, counter) in entries {
            if counter == 0 {
                return Err(ClockError::ZeroCounter { actor });
            }
            if vector.entries.len() == limits::CLOCK_ENTRIES_MAX {
                // Stop before growing: a hostile iterator cannot make us allocate more.
                return Err(ClockError::TooManyEntries {
                    max: limits::CLOCK_ENTRIES_MAX,
                });
            }
            if vector.entries.insert(actor, counter).is_some() {
                return Err(ClockError::DuplicateActor { actor });
            }
        }
        Ok(vector)
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
        self.entries.iter().map(|(actor, counter)| {
            assert!(*counter > 0, "version vector stores a zero for {actor}");
            (*actor, *counter)
        })
    }

    /// Number of actors with a non-zero counter.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Raise `actor`'s entry by one and return the new dot.
    ///
    /// Panics if the counter is already `u64::MAX`; callers holding client input check
    /// first (`Siblings::update` returns `VersionError::CounterExhausted`).
    pub fn increment(&mut self, actor: ActorId) -> Dot {
        let counter = self
            .get(actor)
            .checked_add(1)
            .unwrap_or_else(|| panic!("counter of {actor} is exhausted"));
        self.entries.insert(actor, counter);
        Dot::new(actor, counter)
    }

    /// Record that `dot` has been seen: its actor's entry becomes at least its counter.
    /// A zero-counter dot names no event and changes nothing (the no-zero invariant).
    pub fn add_dot(&mut self, dot: Dot) {
        if dot.counter == 0 {
            return;
        }
        let entry = self.entries.entry(dot.actor).or_insert(dot.counter);
        *entry = (*entry).max(dot.counter);
    }

    /// Entry-wise maximum: the join of two causal histories.
    pub fn merge(&mut self, other: &VersionVector) {
        for (actor, counter) in other.iter() {
            let entry = self.entries.entry(actor).or_insert(counter);
            *entry = (*entry).max(counter);
        }
    }

    /// The join of `self` and `other`, as a new vector.
    pub fn merged(&self, other: &VersionVector) -> VersionVector {
        let mut merged = self.clone();
        merged.merge(other);
        merged
    }

    /// Whether `self` has seen everything `other` has (`self >= other` entry-wise).
    pub fn descends(&self, other: &VersionVector) -> bool {
        other
            .iter()
            .all(|(actor, counter)| self.get(actor) >= counter)
    }

    /// How `self` relates to `other`: `Before` means `self` is strictly older.
    pub fn compare(&self, other: &VersionVector) -> Causality {
        match (self.descends(other), other.descends(self)) {
            (true, true) => Causality::Equal,
            (false, true) => Causality::Before,
            (true, false) => Causality::After,
            (false, false) => Causality::Concurrent,
        }
    }
}

/// `[n1.0:2, n2.0:1]`: actor (node.incarnation) and counter, in actor order.
impl fmt::Display for VersionVector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (index, (actor, counter)) in self.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{actor}:{counter}")?;
        }
        f.write_str("]")
    }
}

/// Clocks for unit tests, written as `(node, counter)` pairs of incarnation 0.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::{ActorId, VersionVector};
    use crate::types::NodeId;

    pub fn actor(node: u32) -> ActorId {
        ActorId::new(NodeId(node), 0)
    }

    pub fn vv(entries: &[(u32, u64)]) -> VersionVector {
        VersionVector::from_entries(entries.iter().map(|(n, c)| (actor(*n), *c))).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::fixtures::{actor, vv};

    #[test]
    fn display_lists_actor_and_counter_in_actor_order() {
        assert_eq!(vv(&[(2, 1), (1, 2)]).to_string(), "[n1.0:2, n2.0:1]");
        assert_eq!(VersionVector::new().to_string(), "[]");
        assert_eq!(Dot::new(actor(3), 7).to_string(), "n3.0:7");
    }

    #[test]
    fn from_entries_rejects_zero_counters() {
        let result = VersionVector::from_entries([(actor(1), 1), (actor(2), 0)]);
        assert_eq!(result, Err(ClockError::ZeroCounter { actor: actor(2) }));
    }

    #[test]
    fn from_entries_rejects_duplicate_actors() {
        let result = VersionVector::from_entries([(actor(1), 1), (actor(1), 3)]);
        assert_eq!(result, Err(ClockError::DuplicateActor { actor: actor(1) }));
    }

    #[test]
    fn from_entries_accepts_exactly_the_limit_and_rejects_one_more() {
        let max = limits::CLOCK_ENTRIES_MAX as u32;
        let full = VersionVector::from_entries((0..max).map(|n| (actor(n), 1))).unwrap();
        assert_eq!(full.len(), limits::CLOCK_ENTRIES_MAX);
        // An endless iterator must stop at the limit, not loop or allocate forever.
        let endless = (0..).map(|n| (actor(n), 1));
        assert_eq!(
            VersionVector::from_entries(endless),
            Err(ClockError::TooManyEntries {
                max: limits::CLOCK_ENTRIES_MAX
            })
        );
    }

    #[test]
    fn deserialize_rejects_a_stored_zero() {
        let stored = StoredVersionVector {
            entries: BTreeMap::from([(actor(1), 0)]),
        };
        assert_eq!(
            VersionVector::try_from(stored),
            Err(ClockError::ZeroCounter { actor: actor(1) })
        );
        let stored = StoredVersionVector {
            entries: BTreeMap::from([(actor(1), 4)]),
        };
        assert_eq!(VersionVector::try_from(stored), Ok(vv(&[(1, 4)])));
    }

    #[test]
    fn increment_mints_consecutive_dots() {
        let mut clock = VersionVector::new();
        assert_eq!(clock.increment(actor(1)), Dot::new(actor(1), 1));
        assert_eq!(clock.increment(actor(1)), Dot::new(actor(1), 2));
        assert_eq!(clock, vv(&[(1, 2)]));
    }

    #[test]
    #[should_panic(expected = "exhausted")]
    fn increment_refuses_to_wrap_a_counter() {
        let mut clock = vv(&[(1, u64::MAX)]);
        clock.increment(actor(1));
    }

    #[test]
    fn add_dot_raises_but_never_lowers_and_ignores_zero() {
        let mut clock = vv(&[(1, 3)]);
        clock.add_dot(Dot::new(actor(1), 2));
        clock.add_dot(Dot::new(actor(2), 5));
        clock.add_dot(Dot {
            actor: actor(3),
            counter: 0,
        });
        assert_eq!(clock, vv(&[(1, 3), (2, 5)]));
    }

    #[test]
    fn compare_names_each_relation() {
        let old = vv(&[(1, 1)]);
        let new = vv(&[(1, 2)]);
        let other = vv(&[(2, 1)]);
        assert_eq!(old.compare(&new), Causality::Before);
        assert_eq!(new.compare(&old), Causality::After);
        assert_eq!(new.compare(&new.clone()), Causality::Equal);
        assert_eq!(new.compare(&other), Causality::Concurrent);
        assert_eq!(VersionVector::new().compare(&other), Causality::Before);
    }

    #[test]
    fn covers_counts_every_earlier_event_of_the_actor() {
        let clock = vv(&[(1, 3)]);
        assert!(clock.covers(Dot::new(actor(1), 1)));
        assert!(clock.covers(Dot::new(actor(1), 3)));
        assert!(!clock.covers(Dot::new(actor(1), 4)));
        assert!(!clock.covers(Dot::new(actor(2), 1)));
    }
}
