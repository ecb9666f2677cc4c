//! Convergent data types: counters, add-wins sets and maps of registers and counters
//! that the store reconciles itself (Dynamo §4.4 leaves "semantic reconciliation" to
//! the application; Riak's riak_dt and Shapiro et al.'s CRDTs move it into the store).
//!
//! A typed value is a [`Typed`] state (a type tag and the type's state) kept as the
//! content of a sibling (`version::Content::Typed`). A client never writes a state: it
//! sends a [`Mutation`], and the coordinator applies it to the join of the typed
//! siblings it holds, under the dot it minted for the write ([`apply`]). The dot's
//! actor is the node's bounded actor id (`local.rs`: one incarnation per node, leased
//! dot counters), so a counter keeps one entry per actor, never one per increment.
//!
//! Types:
//! - [`PnCounter`]: per actor, the increments and decrements it coordinated; the join
//!   takes each actor's maxima. Its value is the sum.
//! - [`OrSet`]: an add-wins observed-remove set without tombstones (ORSWOT): each
//!   element carries the dots of the adds that put it there, and the set carries a
//!   causal context (a version vector). A remove drops the element and its dots; the
//!   context still covers them, which is all the metadata a removed element leaves (one
//!   counter per actor, shared by every element ever removed). The join keeps a dot
//!   that both sides hold or that the other side has not seen, so an add concurrent with
//!   a remove survives: add wins.
//! - [`OrMap`]: the same dotted store keyed by field, each dot holding either a
//!   register's bytes (`HSET`) or an actor's running total of increments (`HINCRBY`).
//!   A field shows the value of its greatest dot: the bytes, or the sum of the totals.
//!
//! Invariants (laws checked by `tests/crdt_laws.rs`):
//! - [`Typed::join`] is commutative, associative and idempotent; across tags the higher
//!   tag wins (counter < set < hash), which keeps it a join;
//! - [`apply`] inflates: `join(base, apply(base)) == apply(base)`, and its
//!   [`Mutation::delta`] joined with the base equals the applied state;
//! - every dot in a dotted store is covered by the store's context, and every key
//!   holds at least one dot ([`Typed::check`]);
//! - a state's encoded size stays within `limits::VALUE_BYTES_MAX`: a mutation that
//!   would grow it past is refused and changes nothing.
//!
//! Why the coordinator's own copy suffices: like the sibling sets (`version.rs`),
//! an actor's dots for a key are minted only into that actor's home copy, which
//! therefore holds the actor's latest counter entry and every add it made. Joining
//! with other replicas' states later adds what it had not seen.

use crate::clock::{Dot, VersionVector};
use crate::types::{limits, ActorId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use thiserror::Error;

/// What a key holds, as Redis names it (`TYPE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Kind {
    String,
    Counter,
    Set,
    Hash,
}

impl Kind {
    /// Redis's `TYPE` answer (a counter is a string there).
    pub fn redis_name(self) -> &'static str {
        match self {
            Kind::String | Kind::Counter => "string",
            Kind::Set => "set",
            Kind::Hash => "hash",
        }
    }
}

/// Why a mutation was refused; nothing changed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Error, Serialize, Deserialize)]
pub enum CrdtError {
    #[error("wrongtype: the key holds a {holds:?}, the command needs a {wants:?}")]
    WrongType { holds: Kind, wants: Kind },
    #[error("increment or decrement would overflow")]
    Overflow,
    #[error("hash value is not an integer")]
    NotAnInteger,
    #[error("typed value would be {size} bytes, more than {max}")]
    TooLarge { size: usize, max: usize },
    #[error("typed value holds a dot outside its context, or a key with no dot: {dot:?}")]
    Malformed { dot: Option<Dot> },
}

/// A positive-negative counter: per actor, what it added and what it took away.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PnCounter {
    entries: BTreeMap<ActorId, CounterEntry>,
}

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct CounterEntry {
    pub up: u64,
    pub down: u64,
}

impl PnCounter {
    pub fn value(&self) -> i128 {
        let up: i128 = self.entries.values().map(|e| i128::from(e.up)).sum();
        let down: i128 = self.entries.values().map(|e| i128::from(e.down)).sum();
        up - down
    }

    /// One entry per actor that ever changed the counter.
    pub fn entries(&self) -> impl Iterator<Item = (ActorId, CounterEntry)> + '_ {
        self.entries.iter().map(|(actor, entry)| (*actor, *entry))
    }

    /// The entry `actor` holds after adding `by`; refused when the value would leave
    /// the range of an i64 (as Redis refuses).
    fn entry_after(&self, actor: ActorId, by: i64) -> Result<CounterEntry, CrdtError> {
        let value = self.value() + i128::from(by);
        if i64::try_from(value).is_err() {
            return Err(CrdtError::Overflow);
        }
        let mut entry = self.entries.get(&actor).copied().unwrap_or_default();
        let amount = by.unsigned_abs();
        let side = if by >= 0 {
            &mut entry.up
        } else {
            &mut entry.down
        };
        *side = side.checked_add(amount).ok_or(CrdtError::Overflow)?;
        Ok(entry)
    }

    pub fn join(&mut self, other: &PnCounter) {
        for (actor, theirs) in &other.entries {
            let mine = self.entries.entry(*actor).or_default();
            mine.up = mine.up.max(theirs.up);
            mine.down = mine.down.max(theirs.down);
        }
    }
}

/// Keys (set elements, map fields) each holding dotted values, with the causal
/// context that remembers every dot seen, removed ones included.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DotStore<V> {
    context: VersionVector,
    entries: BTreeMap<Vec<u8>, BTreeMap<Dot, V>>,
}

impl<V> Default for DotStore<V> {
    fn default() -> Self {
        Self {
            context: VersionVector::new(),
            entries: BTreeMap::new(),
        }
    }
}

impl<V: Clone + Ord> DotStore<V> {
    pub fn context(&self) -> &VersionVector {
        &self.context
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn get(&self, key: &[u8]) -> Option<&BTreeMap<Dot, V>> {
        self.entries.get(key)
    }

    /// Every key holds a dot and every dot is in the context: what the join's laws
    /// assume of a state from storage or a peer.
    fn check(&self) -> Result<(), CrdtError> {
        for values in self.entries.values() {
            if values.is_empty() {
                return Err(CrdtError::Malformed { dot: None });
            }
            if let Some(dot) = values.keys().find(|dot| !self.context.covers(**dot)) {
                return Err(CrdtError::Malformed { dot: Some(*dot) });
            }
        }
        Ok(())
    }

    /// Give `key` exactly `values` (dots this store has seen are superseded); the
    /// context learns the new dots.
    fn write(&mut self, key: &[u8], values: BTreeMap<Dot, V>) {
        for dot in values.keys() {
            self.context.add_dot(*dot);
        }
        self.entries.insert(key.to_vec(), values);
    }

    /// Drop `key` and its dots; the context keeps covering them (no tombstone).
    fn remove(&mut self, key: &[u8]) -> bool {
        self.entries.remove(key).is_some()
    }

    /// The join: a dot survives if both sides hold it, or one side holds it and the
    /// other has not seen it. Equal dots hold equal values unless corrupted; then the
    /// smaller value is kept on both sides, so replicas still converge.
    pub fn join(&mut self, other: &DotStore<V>) {
        let mut joined = BTreeMap::new();
        let keys: std::collections::BTreeSet<&Vec<u8>> =
            self.entries.keys().chain(other.entries.keys()).collect();
        let empty = BTreeMap::new();
        for key in keys {
            let mine = self.entries.get(key).unwrap_or(&empty);
            let theirs = other.entries.get(key).unwrap_or(&empty);
            let mut values = BTreeMap::new();
            for (dot, value) in mine {
                match theirs.get(dot) {
                    Some(other_value) => values.insert(*dot, value.min(other_value).clone()),
                    None if !other.context.covers(*dot) => values.insert(*dot, value.clone()),
                    None => None,
                };
            }
            for (dot, value) in theirs {
                if !mine.contains_key(dot) && !self.context.covers(*dot) {
                    values.insert(*dot, value.clone());
                }
            }
            if !values.is_empty() {
                joined.insert(key.clone(), values);
            }
        }
        self.entries = joined;
        self.context.merge(&other.context);
    }
}

/// An add-wins observed-remove set of byte strings.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OrSet {
    store: DotStore<()>,
}

impl OrSet {
    pub fn contains(&self, element: &[u8]) -> bool {
        self.store.get(element).is_some()
    }

    pub fn len(&self) -> usize {
        self.store.len()
    }

    pub fn is_empty(&self) -> bool {
        self.store.is_empty()
    }

    /// The elements in byte order.
    pub fn elements(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.store.entries.keys().map(Vec::as_slice)
    }

    pub fn context(&self) -> &VersionVector {
        self.store.context()
    }

    /// Dots kept for present elements (removed elements keep none).
    pub fn dots(&self) -> usize {
        self.store.entries.values().map(BTreeMap::len).sum()
    }

    fn add(&mut self, element: &[u8], dot: Dot) {
        self.store.write(element, BTreeMap::from([(dot, ())]));
    }

    fn remove(&mut self, element: &[u8]) -> bool {
        self.store.remove(element)
    }

    pub fn join(&mut self, other: &OrSet) {
        self.store.join(&other.store);
    }
}

/// What one dot of a map field holds.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum FieldValue {
    /// A register's bytes (`HSET`).
    Bytes(#[serde(with = "serde_bytes")] Vec<u8>),
    /// The running total of the increments the dot's actor made (`HINCRBY`).
    Count(i64),
}

/// A field's shown value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field<'a> {
    Bytes(&'a [u8]),
    Count(i128),
}

impl Field<'_> {
    /// The value as Redis shows it: the bytes, or the decimal integer.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Field::Bytes(bytes) => bytes.to_vec(),
            Field::Count(count) => count.to_string().into_bytes(),
        }
    }
}

/// A map of fields, each a register or a counter.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OrMap {
    store: DotStore<FieldValue>,
}

impl OrMap {
    pub fn len(&self) -> usize {
        self.store.len()
    }

    pub fn is_empty(&self) -> bool {
        self.store.is_empty()
    }

    /// The field's value: that of its greatest dot (a register's bytes, or the sum of
    /// every actor's total when that dot is a count).
    pub fn get(&self, field: &[u8]) -> Option<Field<'_>> {
        shown(self.store.get(field)?)
    }

    /// Fields and their shown values in field order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], Field<'_>)> + '_ {
        self.store
            .entries
            .iter()
            .filter_map(|(field, values)| Some((field.as_slice(), shown(values)?)))
    }

    fn set(&mut self, field: &[u8], value: &[u8], dot: Dot) -> bool {
        let new = self.store.get(field).is_none();
        let values = BTreeMap::from([(dot, FieldValue::Bytes(value.to_vec()))]);
        self.store.write(field, values);
        new
    }

    /// Add `by` to the field's counter: the actor's earlier totals are replaced by
    /// one new total under `dot`; other actors' totals stay.
    fn increment(&mut self, field: &[u8], by: i64, dot: Dot) -> Result<i128, CrdtError> {
        let values = self.store.get(field).cloned().unwrap_or_default();
        if let Some(Field::Bytes(_)) = shown(&values) {
            return Err(CrdtError::NotAnInteger);
        }
        let current = shown(&values).map_or(0, |field| match field {
            Field::Count(count) => count,
            Field::Bytes(_) => 0,
        });
        let total = current + i128::from(by);
        if i64::try_from(total).is_err() {
            return Err(CrdtError::Overflow);
        }
        let mine: i64 = values
            .iter()
            .filter(|(d, _)| d.actor == dot.actor)
            .map(|(_, value)| {
                if let FieldValue::Count(c) = value {
                    *c
                } else {
                    0
                }
            })
            .sum();
        let mine = mine.checked_add(by).ok_or(CrdtError::Overflow)?;
        let mut kept: BTreeMap<Dot, FieldValue> = values
            .into_iter()
            .filter(|(d, value)| d.actor != dot.actor && matches!(value, FieldValue::Count(_)))
            .collect();
        kept.insert(dot, FieldValue::Count(mine));
        self.store.write(field, kept);
        Ok(total)
    }

    fn remove(&mut self, field: &[u8]) -> bool {
        self.store.remove(field)
    }

    pub fn join(&mut self, other: &OrMap) {
        self.store.join(&other.store);
    }
}

fn shown(values: &BTreeMap<Dot, FieldValue>) -> Option<Field<'_>> {
    match values
        .iter()
        .max_by_key(|(dot, _)| (dot.counter, dot.actor))?
    {
        (_, FieldValue::Bytes(bytes)) => Some(Field::Bytes(bytes)),
        (_, FieldValue::Count(_)) => Some(Field::Count(
            values
                .values()
                .map(|value| match value {
                    FieldValue::Count(count) => i128::from(*count),
                    FieldValue::Bytes(_) => 0,
                })
                .sum(),
        )),
    }
}

/// A typed value: the type tag (the variant) and the type's state. Variant order is
/// the tag order the cross-type join uses.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Typed {
    Counter(PnCounter),
    Set(OrSet),
    Hash(OrMap),
}

impl Typed {
    pub fn kind(&self) -> Kind {
        match self {
            Typed::Counter(_) => Kind::Counter,
            Typed::Set(_) => Kind::Set,
            Typed::Hash(_) => Kind::Hash,
        }
    }

    /// An empty set or map reads as an absent key (Redis deletes a key that becomes
    /// empty); a counter is never empty (0 is a value).
    pub fn is_empty(&self) -> bool {
        match self {
            Typed::Counter(_) => false,
            Typed::Set(set) => set.is_empty(),
            Typed::Hash(map) => map.is_empty(),
        }
    }

    /// The join. Two states of one type join by the type's join; of two types, the
    /// later tag wins (a total order on tags, so still commutative, associative and
    /// idempotent): a key written as two types at once converges to one of them.
    pub fn join(&mut self, other: &Typed) {
        match (&mut *self, other) {
            (Typed::Counter(mine), Typed::Counter(theirs)) => mine.join(theirs),
            (Typed::Set(mine), Typed::Set(theirs)) => mine.join(theirs),
            (Typed::Hash(mine), Typed::Hash(theirs)) => mine.join(theirs),
            (mine, theirs) if theirs.kind() > mine.kind() => *mine = theirs.clone(),
            _ => {}
        }
    }

    pub fn joined(&self, other: &Typed) -> Typed {
        let mut joined = self.clone();
        joined.join(other);
        joined
    }

    /// The invariants of a dotted store (sets, maps); for a state from storage or a
    /// peer (`Siblings::check_invariants`).
    pub fn check(&self) -> Result<(), CrdtError> {
        match self {
            Typed::Counter(_) => Ok(()),
            Typed::Set(set) => set.store.check(),
            Typed::Hash(map) => map.store.check(),
        }
    }

    /// The encoded size (what storage and the wire carry).
    pub fn size_bytes(&self) -> usize {
        postcard::to_allocvec(self).map_or(usize::MAX, |bytes| bytes.len())
    }
}

/// A client's change to a typed value; applied by the coordinator under a fresh dot.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Mutation {
    /// `INCRBY` (`DECRBY` is a negative amount).
    Increment(i64),
    /// `SADD`.
    Add(Vec<Vec<u8>>),
    /// `SREM`.
    Remove(Vec<Vec<u8>>),
    /// `HSET` field value pairs.
    SetFields(Vec<(Vec<u8>, Vec<u8>)>),
    /// `HDEL`.
    DeleteFields(Vec<Vec<u8>>),
    /// `HINCRBY`.
    IncrementField(Vec<u8>, i64),
}

impl Mutation {
    /// The type this mutation needs.
    pub fn kind(&self) -> Kind {
        match self {
            Mutation::Increment(_) => Kind::Counter,
            Mutation::Add(_) | Mutation::Remove(_) => Kind::Set,
            Mutation::SetFields(_) | Mutation::DeleteFields(_) | Mutation::IncrementField(..) => {
                Kind::Hash
            }
        }
    }

    /// Bytes of the arguments, for the value size limit.
    pub fn size_bytes(&self) -> usize {
        let sum = |items: &Vec<Vec<u8>>| items.iter().map(Vec::len).sum::<usize>();
        match self {
            Mutation::Increment(_) => 8,
            Mutation::Add(items) | Mutation::Remove(items) | Mutation::DeleteFields(items) => {
                sum(items)
            }
            Mutation::SetFields(pairs) => pairs.iter().map(|(f, v)| f.len() + v.len()).sum(),
            Mutation::IncrementField(field, _) => field.len() + 8,
        }
    }

    /// The smallest state whose join with `base` is [`apply`]'s result: for a counter
    /// the one entry of the dot's actor; for a set or map the whole new state (their
    /// context is a version vector, which cannot name single removed dots).
    pub fn delta(&self, base: Option<&Typed>, dot: Dot) -> Result<Typed, CrdtError> {
        let applied = apply(base, self, dot)?;
        Ok(match (&applied, self) {
            (Typed::Counter(counter), Mutation::Increment(_)) => {
                let entry = counter.entries.get(&dot.actor).copied().unwrap_or_default();
                Typed::Counter(PnCounter {
                    entries: BTreeMap::from([(dot.actor, entry)]),
                })
            }
            _ => applied,
        })
    }
}

/// The state after `mutation`, applied under the fresh `dot` to `base` (the join of
/// the typed siblings the coordinator holds; `None` when there are none). An empty
/// set or map of another type is replaced; a non-empty one refuses (`WrongType`).
pub fn apply(base: Option<&Typed>, mutation: &Mutation, dot: Dot) -> Result<Typed, CrdtError> {
    let wants = mutation.kind();
    let mut state = match base {
        Some(state) if state.kind() == wants => state.clone(),
        Some(state) if !state.is_empty() => {
            return Err(CrdtError::WrongType {
                holds: state.kind(),
                wants,
            })
        }
        _ => empty(wants),
    };
    match (&mut state, mutation) {
        (Typed::Counter(counter), Mutation::Increment(by)) => {
            let entry = counter.entry_after(dot.actor, *by)?;
            counter.entries.insert(dot.actor, entry);
        }
        (Typed::Set(set), Mutation::Add(elements)) => {
            for element in elements {
                set.add(element, dot);
            }
        }
        (Typed::Set(set), Mutation::Remove(elements)) => {
            for element in elements {
                set.remove(element);
            }
        }
        (Typed::Hash(map), Mutation::SetFields(pairs)) => {
            for (field, value) in pairs {
                map.set(field, value, dot);
            }
        }
        (Typed::Hash(map), Mutation::DeleteFields(fields)) => {
            for field in fields {
                map.remove(field);
            }
        }
        (Typed::Hash(map), Mutation::IncrementField(field, by)) => {
            map.increment(field, *by, dot)?;
        }
        _ => unreachable!("the state was built for the mutation's kind"),
    }
    let (size, max) = (state.size_bytes(), limits::VALUE_BYTES_MAX);
    if size > max {
        return Err(CrdtError::TooLarge { size, max });
    }
    Ok(state)
}

fn empty(kind: Kind) -> Typed {
    match kind {
        Kind::Set => Typed::Set(OrSet::default()),
        Kind::Hash => Typed::Hash(OrMap::default()),
        Kind::Counter | Kind::String => Typed::Counter(PnCounter::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::fixtures::actor;

    fn dot(node: u32, counter: u64) -> Dot {
        Dot::new(actor(node), counter)
    }

    fn elements(typed: &Typed) -> Vec<&[u8]> {
        match typed {
            Typed::Set(set) => set.elements().collect(),
            other => panic!("not a set: {other:?}"),
        }
    }

    #[test]
    fn a_remove_concurrent_with_an_add_loses_and_leaves_no_tombstone() {
        let a = || vec![b"a".to_vec()];
        let start = apply(None, &Mutation::Add(a()), dot(1, 1)).unwrap();
        let removed = apply(Some(&start), &Mutation::Remove(a()), dot(1, 2)).unwrap();
        let b = vec![b"a".to_vec(), b"b".to_vec()];
        let added = apply(Some(&start), &Mutation::Add(b), dot(2, 1)).unwrap();
        let joined = removed.joined(&added);
        assert_eq!(elements(&joined), [b"a".as_slice(), b"b"]);
        assert_eq!(joined, added.joined(&removed));
        // The removal's only trace is the context: no per-element metadata.
        let Typed::Set(set) = &removed else { panic!() };
        assert_eq!((set.len(), set.dots()), (0, 0));
        assert_eq!(set.context().get(actor(1)), 1);
    }

    #[test]
    fn wrong_type_is_refused_but_an_empty_set_is_replaced() {
        let set = apply(None, &Mutation::Add(vec![b"x".to_vec()]), dot(1, 1)).unwrap();
        let error = apply(Some(&set), &Mutation::Increment(1), dot(1, 2)).unwrap_err();
        let (holds, wants) = (Kind::Set, Kind::Counter);
        assert_eq!(error, CrdtError::WrongType { holds, wants });
        let emptied = apply(
            Some(&set),
            &Mutation::Remove(vec![b"x".to_vec()]),
            dot(1, 2),
        );
        let counter = apply(Some(&emptied.unwrap()), &Mutation::Increment(3), dot(1, 3));
        assert!(matches!(counter, Ok(Typed::Counter(c)) if c.value() == 3));
    }

    #[test]
    fn counters_refuse_to_overflow_an_i64() {
        let top = apply(None, &Mutation::Increment(i64::MAX), dot(1, 1)).unwrap();
        assert_eq!(
            apply(Some(&top), &Mutation::Increment(1), dot(1, 2)),
            Err(CrdtError::Overflow)
        );
        let down = apply(Some(&top), &Mutation::Increment(i64::MIN), dot(1, 2)).unwrap();
        assert!(matches!(down, Typed::Counter(c) if c.value() == -1));
    }

    #[test]
    fn hincrby_keeps_one_total_per_actor_and_refuses_a_string_field() {
        let field = || b"f".to_vec();
        let mut state = None;
        for counter in 1..=5 {
            let next = apply(
                state.as_ref(),
                &Mutation::IncrementField(field(), 2),
                dot(1, counter),
            );
            state = Some(next.unwrap());
        }
        let other = apply(
            state.as_ref(),
            &Mutation::IncrementField(field(), 1),
            dot(2, 1),
        );
        let Typed::Hash(map) = other.unwrap() else {
            panic!()
        };
        assert_eq!(map.get(b"f"), Some(Field::Count(11)));
        assert_eq!(map.store.get(b"f").unwrap().len(), 2, "one dot per actor");
        let pairs = vec![(field(), b"text".to_vec())];
        let text = apply(
            Some(&Typed::Hash(map)),
            &Mutation::SetFields(pairs),
            dot(1, 9),
        );
        let error = apply(
            text.as_ref().ok(),
            &Mutation::IncrementField(field(), 1),
            dot(1, 10),
        );
        assert_eq!(error, Err(CrdtError::NotAnInteger));
    }

    #[test]
    fn a_dot_outside_the_context_is_malformed() {
        let set = apply(None, &Mutation::Add(vec![b"a".to_vec()]), dot(1, 1)).unwrap();
        assert_eq!(set.check(), Ok(()));
        let Typed::Set(mut forged) = set else {
            panic!()
        };
        forged.store.context = VersionVector::new();
        let error = Typed::Set(forged).check();
        assert_eq!(
            error,
            Err(CrdtError::Malformed {
                dot: Some(dot(1, 1))
            })
        );
    }
}
