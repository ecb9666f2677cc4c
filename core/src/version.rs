//! Sibling sets as dotted version vectors (Dynamo §4.4; DVVSet, Almeida et al. 2014).
//!
//! The stored state of a key is a [`Siblings`] set: a causal `clock` for the whole set
//! (everything the replica has seen, superseded versions included) and every version
//! not yet superseded, each a [`Sibling`] holding its own [`Dot`] (the event that wrote
//! it) and the `context` it was written over. A get returns the live siblings plus one
//! opaque [`Context`] (the set's clock); `put(key, context, value)` is
//! [`Siblings::update`], which supersedes exactly the siblings the context covers and
//! keeps everything concurrent. Replicas reconcile with [`Siblings::sync`].
//!
//! Why dots and not plain vectors (the paper's clocks): two clients that both read the
//! empty key and write through the same coordinator get two siblings with dots `A:1`
//! and `A:2` and empty contexts. A plain vector would give the second write `[A:2]`,
//! which "descends" `[A:1]` and silently overwrites it (a false overwrite); the dot
//! keeps "what the writer had seen" apart from "which event this is".
//!
//! # Invariants
//! Checked by [`Siblings::check_invariants`], which the property tests in
//! `tests/version_laws.rs` run after every operation of random multi-replica histories
//! (`invariants_hold_after_every_operation`):
//! - siblings are sorted by dot and no dot appears twice;
//! - no sibling has a zero-counter dot, and its context never covers its own dot (a dot
//!   is a fresh event);
//! - the clock covers every sibling's dot and every sibling's context;
//! - siblings are pairwise concurrent: no sibling's dotted version (its context plus its
//!   own dot, [`Sibling::covers`]) covers another sibling's dot;
//! - no value is larger than `limits::VALUE_BYTES_MAX`.
//!
//! Laws (property tests): [`Siblings::merged`] is commutative, associative and
//! idempotent over sets of one history; a put with a get's context supersedes exactly
//! the siblings that get saw (`put_supersedes_exactly_what_its_get_saw`); no
//! acknowledged version is ever lost: after all replicas sync, every dot ever minted is
//! present or was covered by the context of a later put (`no_acknowledged_version_is_lost`).
//!
//! # Limits
//! [`Siblings::update`] refuses a put, leaving the set untouched, whose value is over
//! `limits::VALUE_BYTES_MAX`, whose context has more than `limits::CLOCK_ENTRIES_MAX`
//! entries, that would grow the key's clock past that limit, or that would leave more
//! than `limits::SIBLINGS_MAX` concurrent siblings (the client must resolve them: read,
//! then put with the read's context). [`Siblings::sync`] enforces no limit: a merge must
//! never lose a version, so two replicas holding 40 siblings each may merge into 80;
//! the next put with a context shrinks the set again. Clock pruning (the paper truncates
//! clocks past ~10 entries and accepts the loss of precision) is not implemented: a key
//! written through more than `CLOCK_ENTRIES_MAX` incarnations refuses further puts with
//! [`VersionError::ClockTooLarge`] rather than lose causality.
//!
//! # Tombstones
//! A delete is `update` with [`Content::Tombstone`]: it supersedes what its context
//! covers like any put. Tombstones are kept, and with them the key's clock (no garbage
//! collection yet). Removing a key once it reads as deleted would throw away the clock
//! that proves the old values superseded: a replica that missed the delete still holds
//! an old value, and on the next sync a replica with no entry for the key would take it
//! as new and resurrect it. Safe collection needs proof that every replica has seen the
//! tombstone, which nothing establishes yet. A set that is empty or holds only
//! tombstones reads as deleted ([`Siblings::is_deleted`]).
//!
//! # Contexts
//! A get's opaque [`Context`] is the set's clock; its codec (wire format, text form,
//! limits, trust model) is [`crate::context`], re-exported here for callers that name
//! `version::Context`.

use crate::clock::{Causality, Dot, VersionVector};
pub use crate::context::{Context, ContextError};
use crate::crdt::{CrdtError, Kind, Mutation, Typed};
use crate::types::{limits, ActorId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use thiserror::Error;

/// What a sibling holds: a value, the tombstone a delete leaves, or a typed value
/// (`crate::crdt`). A [`Content::Mutation`] is what a client writes to a typed key: the
/// coordinator turns it into a typed value ([`Siblings::update_with_dot`]), so it is
/// never stored (`check_invariants` refuses one).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Content {
    Value(#[serde(with = "serde_bytes")] Vec<u8>),
    Tombstone,
    Typed(Typed),
    Mutation(Mutation),
}

impl Content {
    pub fn is_tombstone(&self) -> bool {
        matches!(self, Content::Tombstone)
    }

    /// The bytes of a value; `None` for a tombstone.
    pub fn value(&self) -> Option<&[u8]> {
        match self {
            Content::Value(bytes) => Some(bytes),
            Content::Tombstone | Content::Typed(_) | Content::Mutation(_) => None,
        }
    }

    /// Bytes of the content (a value's, a typed state's), for limits and budgets.
    pub fn size_bytes(&self) -> usize {
        match self {
            Content::Value(bytes) => bytes.len(),
            Content::Tombstone => 0,
            Content::Typed(typed) => typed.size_bytes(),
            Content::Mutation(mutation) => mutation.size_bytes(),
        }
    }

    /// The value's size limit, checkable before any work is done for a write.
    pub fn check(&self) -> Result<(), VersionError> {
        let size = self.size_bytes();
        if size > limits::VALUE_BYTES_MAX {
            let max = limits::VALUE_BYTES_MAX;
            return Err(VersionError::ValueTooLarge { size, max });
        }
        Ok(())
    }
}

/// One concurrent version of a key: the update `dot` made over what `context` covered.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Sibling {
    pub dot: Dot,
    pub context: VersionVector,
    pub content: Content,
}

impl Sibling {
    /// The paper's version vector of this sibling: its context joined with its dot
    /// (D3 written by Sy over `[(Sx,2)]` is `[(Sx,2),(Sy,1)]`). Lossy: it also covers
    /// the coordinator's earlier dots the writer may not have seen, so concurrency
    /// between siblings is decided by [`Sibling::covers`], not by this vector.
    pub fn version(&self) -> VersionVector {
        let mut version = self.context.clone();
        version.add_dot(self.dot);
        version
    }

    /// Whether this sibling's writer had seen `dot` (or `dot` is this sibling's own
    /// event): the dotted version's exact causal past.
    pub fn covers(&self, dot: Dot) -> bool {
        self.dot == dot || self.context.covers(dot)
    }
}

/// Why a put was refused, or why a set breaks an invariant.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Error, Serialize, Deserialize)]
pub enum VersionError {
    #[error("value is {size} bytes, more than {max}")]
    ValueTooLarge { size: usize, max: usize },
    #[error("put would leave {count} concurrent siblings, more than {max}: read, then put with the read's context to resolve them")]
    TooManySiblings { count: usize, max: usize },
    #[error("context has {entries} entries, more than {max}")]
    ContextTooLarge { entries: usize, max: usize },
    #[error("put would grow the key's version vector to {entries} entries, more than {max}")]
    ClockTooLarge { entries: usize, max: usize },
    #[error("dot {dot} is not newer than the versions it would follow")]
    DotNotFresh { dot: Dot },
    #[error("counter of actor {actor} is exhausted")]
    CounterExhausted { actor: ActorId },
    #[error("siblings out of dot order or repeated at {dot}")]
    SiblingsNotSorted { dot: Dot },
    #[error("sibling of actor {actor} has a zero-counter dot")]
    ZeroDot { actor: ActorId },
    #[error("sibling {dot} is not covered by the set's clock")]
    DotNotInClock { dot: Dot },
    #[error("context of sibling {dot} is not covered by the set's clock")]
    ContextNotInClock { dot: Dot },
    #[error("sibling {dot} was written over a context that already covers it")]
    DotInOwnContext { dot: Dot },
    #[error("sibling {newer} has seen sibling {older}: they are not concurrent")]
    NotConcurrent { newer: Dot, older: Dot },
    #[error(transparent)]
    Typed(#[from] CrdtError),
    #[error("sibling {dot} holds an unapplied mutation")]
    StoredMutation { dot: Dot },
}

/// The stored versions of one key: every sibling not yet superseded, plus the causal
/// past (`clock`) of the whole set, which also remembers superseded dots.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Siblings {
    clock: VersionVector,
    siblings: Vec<Sibling>,
}

impl Siblings {
    pub fn new() -> Self {
        Self::default()
    }

    /// The causal past of the set: the context a get returns.
    pub fn clock(&self) -> &VersionVector {
        &self.clock
    }

    /// The opaque context a get returns with the siblings.
    pub fn context(&self) -> Context {
        Context::new(self.clock.clone())
    }

    /// Siblings in dot order.
    pub fn iter(&self) -> impl Iterator<Item = &Sibling> + '_ {
        self.siblings.iter()
    }

    pub fn len(&self) -> usize {
        self.siblings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.siblings.is_empty()
    }

    /// The live values in dot order; tombstones are left out.
    pub fn values(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.siblings
            .iter()
            .filter_map(|sibling| sibling.content.value())
    }

    /// Whether a get finds nothing: no sibling, or only tombstones.
    pub fn is_deleted(&self) -> bool {
        self.siblings
            .iter()
            .all(|sibling| sibling.content.is_tombstone())
    }

    /// How this set's history relates to `other`'s (by clocks).
    pub fn compare(&self, other: &Siblings) -> Causality {
        self.clock.compare(&other.clock)
    }

    /// A put coordinated by `actor` over the client's `context`: drop the siblings the
    /// context covers, merge the context into the clock, mint the dot
    /// `(actor, clock[actor] + 1)` and add the new sibling. A delete is a put of
    /// [`Content::Tombstone`]. On error nothing changes.
    pub fn update(
        &mut self,
        context: &VersionVector,
        content: Content,
        actor: ActorId,
    ) -> Result<Dot, VersionError> {
        if !matches!(content, Content::Mutation(_)) {
            self.check_update(context, &content, actor)?;
        }
        let counter = self.clock.merged(context).get(actor) + 1;
        let dot = Dot::new(actor, counter);
        self.update_with_dot(context, content, dot)?;
        Ok(dot)
    }

    /// [`Siblings::update`] with a dot the coordinator minted itself, from a counter it
    /// keeps per incarnation: fresh even when the coordinator's copy of the key is stale
    /// or was dropped (a partition moved away and back), where `clock[actor] + 1` would
    /// reuse a dot that still lives on another replica. Refused when the dot is not
    /// newer than what the clock and context already hold for its actor.
    pub fn update_with_dot(
        &mut self,
        context: &VersionVector,
        content: Content,
        dot: Dot,
    ) -> Result<(), VersionError> {
        if self.clock.merged(context).get(dot.actor) >= dot.counter {
            return Err(VersionError::DotNotFresh { dot });
        }
        let resolved;
        let (context, content) = match content {
            Content::Mutation(mutation) => {
                resolved = self.resolve(&mutation, dot)?;
                (&resolved.0, resolved.1)
            }
            content => (context, content),
        };
        self.check_update(context, &content, dot.actor)?;
        self.discard(context);
        self.clock.add_dot(dot);
        // The dot is fresh: the writer has not seen it and no sibling carries it, so the
        // new sibling is concurrent with every survivor.
        let position = self.siblings.partition_point(|sibling| sibling.dot < dot);
        assert!(
            self.siblings
                .get(position)
                .is_none_or(|sibling| sibling.dot != dot),
            "dot {dot} minted twice"
        );
        let sibling = Sibling {
            dot,
            context: context.clone(),
            content,
        };
        self.siblings.insert(position, sibling);
        Ok(())
    }

    /// What the key holds for a command: a typed value when a non-empty one is among
    /// the live siblings, else a string when a value is, else nothing.
    pub fn kind(&self) -> Option<Kind> {
        match self.typed() {
            Some(typed) if !typed.is_empty() => Some(typed.kind()),
            _ if self.values().next().is_some() => Some(Kind::String),
            _ => None,
        }
    }

    /// The join of every typed sibling (`crate::crdt`): what a typed key reads as.
    /// Concurrent typed siblings are kept apart by the sibling merge like any others
    /// and read as one value; the next mutation at any replica writes their join over
    /// all of them, so they never reach a client as siblings.
    pub fn typed(&self) -> Option<Typed> {
        let mut typed = self.siblings.iter().filter_map(|s| match &s.content {
            Content::Typed(typed) => Some(typed),
            _ => None,
        });
        let first = typed.next()?.clone();
        Some(typed.fold(first, |joined, next| joined.joined(next)))
    }

    /// A mutation becomes a typed value written over this replica's whole clock: the
    /// join of its typed siblings, changed under `dot`. Never over the client's (or a
    /// read quorum's) context: that may cover typed dots this replica lacks, which the
    /// new value would then supersede without containing.
    fn resolve(
        &self,
        mutation: &Mutation,
        dot: Dot,
    ) -> Result<(VersionVector, Content), VersionError> {
        if self.kind() == Some(Kind::String) {
            let wants = mutation.kind();
            let holds = Kind::String;
            return Err(CrdtError::WrongType { holds, wants }.into());
        }
        let typed = crate::crdt::apply(self.typed().as_ref(), mutation, dot)?;
        Ok((self.clock.clone(), Content::Typed(typed)))
    }

    /// The planted bug `Mutant::CounterMergeByMax`: of concurrent counter siblings,
    /// keep only the one with the largest value (the clock still covers the others, so
    /// every later merge drops them too).
    #[cfg(feature = "mutants")]
    pub fn counters_by_max(mut self) -> Siblings {
        let value = |sibling: &Sibling| match &sibling.content {
            Content::Typed(Typed::Counter(counter)) => Some(counter.value()),
            _ => None,
        };
        let largest = self
            .siblings
            .iter()
            .filter_map(|s| Some((value(s)?, s.dot)))
            .max();
        if let Some((_, kept)) = largest {
            self.siblings
                .retain(|s| value(s).is_none() || s.dot == kept);
        }
        self
    }

    /// Every limit a put must respect, checked before anything changes.
    fn check_update(
        &self,
        context: &VersionVector,
        content: &Content,
        actor: ActorId,
    ) -> Result<(), VersionError> {
        content.check()?;
        let max = limits::CLOCK_ENTRIES_MAX;
        if context.len() > max {
            let entries = context.len();
            return Err(VersionError::ContextTooLarge { entries, max });
        }
        let clock = self.clock.merged(context);
        let entries = clock.len() + usize::from(clock.get(actor) == 0);
        if entries > max {
            return Err(VersionError::ClockTooLarge { entries, max });
        }
        if clock.get(actor) == u64::MAX {
            return Err(VersionError::CounterExhausted { actor });
        }
        let survivors = self.iter().filter(|sibling| !context.covers(sibling.dot));
        let count = survivors.count() + 1;
        if count > limits::SIBLINGS_MAX {
            let max = limits::SIBLINGS_MAX;
            return Err(VersionError::TooManySiblings { count, max });
        }
        Ok(())
    }

    /// Drop every sibling `context` covers and remember the context in the clock, so a
    /// later sync does not bring the dropped siblings back. This loses the dropped
    /// values on purpose: it is the first half of a put, which adds their successor.
    pub fn discard(&mut self, context: &VersionVector) {
        self.siblings.retain(|sibling| !context.covers(sibling.dot));
        self.clock.merge(context);
    }

    /// Merge another replica's set into this one (see [`Siblings::merged`]).
    pub fn sync(&mut self, other: &Siblings) {
        *self = self.merged(other);
    }

    /// The merge of two replicas' sets: the clock is the join, and a sibling survives if
    /// the other side also has it or has not seen its dot (a dot the other side's clock
    /// covers but it does not hold was superseded there). Commutative, associative and
    /// idempotent; never enforces `SIBLINGS_MAX`, since a merge must never lose a
    /// version. Two siblings with one dot are one event; if they differ (corruption) the
    /// smaller is kept on both sides, so replicas still converge.
    pub fn merged(&self, other: &Siblings) -> Siblings {
        let mut siblings = Vec::with_capacity(self.len() + other.len());
        let mut left = self.siblings.iter().peekable();
        let mut right = other.siblings.iter().peekable();
        loop {
            let kept = match (left.peek().copied(), right.peek().copied()) {
                (None, None) => break,
                (Some(mine), Some(theirs)) if mine.dot == theirs.dot => {
                    left.next();
                    right.next();
                    Some(mine.min(theirs))
                }
                (Some(mine), theirs) if theirs.is_none_or(|theirs| mine.dot < theirs.dot) => {
                    left.next();
                    Some(mine).filter(|mine| !other.clock.covers(mine.dot))
                }
                (_, theirs) => {
                    right.next();
                    theirs.filter(|theirs| !self.clock.covers(theirs.dot))
                }
            };
            siblings.extend(kept.cloned());
        }
        Siblings {
            clock: self.clock.merged(&other.clock),
            siblings,
        }
    }

    /// Check every invariant of the module doc. For sets from storage or peers; a set
    /// built only by `update` and `sync` of valid sets always passes.
    pub fn check_invariants(&self) -> Result<(), VersionError> {
        for pair in self.siblings.windows(2) {
            if pair[0].dot >= pair[1].dot {
                return Err(VersionError::SiblingsNotSorted { dot: pair[1].dot });
            }
        }
        for sibling in &self.siblings {
            self.check_sibling(sibling)?;
        }
        self.check_concurrent()
    }

    /// No sibling's context covers another sibling's dot. Linear in the contexts'
    /// entries (log factor aside), not pairwise: peer input may carry any number of
    /// siblings. A context entry `(a, c)` covers some sibling exactly when the oldest
    /// sibling dot of actor `a` has a counter at most `c`; that oldest dot is never the
    /// sibling's own (`check_sibling` refused a context covering its own dot).
    fn check_concurrent(&self) -> Result<(), VersionError> {
        let mut oldest: BTreeMap<ActorId, Dot> = BTreeMap::new();
        for sibling in &self.siblings {
            // Siblings are sorted by dot, so the first dot seen per actor is its oldest.
            oldest.entry(sibling.dot.actor).or_insert(sibling.dot);
        }
        for newer in &self.siblings {
            for (actor, counter) in newer.context.iter() {
                if let Some(older) = oldest.get(&actor).filter(|d| d.counter <= counter) {
                    let (newer, older) = (newer.dot, *older);
                    return Err(VersionError::NotConcurrent { newer, older });
                }
            }
        }
        Ok(())
    }

    fn check_sibling(&self, sibling: &Sibling) -> Result<(), VersionError> {
        let dot = sibling.dot;
        if dot.counter == 0 {
            return Err(VersionError::ZeroDot { actor: dot.actor });
        }
        if !self.clock.covers(dot) {
            return Err(VersionError::DotNotInClock { dot });
        }
        if !self.clock.descends(&sibling.context) {
            return Err(VersionError::ContextNotInClock { dot });
        }
        if sibling.context.covers(dot) {
            return Err(VersionError::DotInOwnContext { dot });
        }
        match &sibling.content {
            Content::Mutation(_) => return Err(VersionError::StoredMutation { dot }),
            Content::Typed(typed) => typed.check()?,
            Content::Value(_) | Content::Tombstone => {}
        }
        let size = sibling.content.size_bytes();
        if size > limits::VALUE_BYTES_MAX {
            let max = limits::VALUE_BYTES_MAX;
            return Err(VersionError::ValueTooLarge { size, max });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::fixtures::{actor, vv};

    fn value(text: &str) -> Content {
        Content::Value(text.as_bytes().to_vec())
    }

    fn put(set: &mut Siblings, context: &VersionVector, text: &str, node: u32) -> Dot {
        let dot = set.update(context, value(text), actor(node)).unwrap();
        set.check_invariants().unwrap();
        dot
    }

    fn values(set: &Siblings) -> Vec<&[u8]> {
        set.values().collect()
    }

    #[test]
    fn update_with_dot_takes_a_fresh_dot_and_refuses_a_stale_one() {
        let mut set = Siblings::new();
        let first = Dot::new(actor(1), 5);
        set.update_with_dot(&VersionVector::new(), value("a"), first)
            .unwrap();
        set.check_invariants().unwrap();
        assert_eq!(set.clock().get(actor(1)), 5);
        // A dot the set already covers would alias an existing version: refused, and
        // nothing changes.
        let before = set.clone();
        let stale = Dot::new(actor(1), 5);
        let error = set
            .update_with_dot(&VersionVector::new(), value("b"), stale)
            .unwrap_err();
        assert_eq!(error, VersionError::DotNotFresh { dot: stale });
        assert_eq!(set, before);
        // A dot covered only by the writer's context is refused too.
        let context = vv(&[(1, 9)]);
        let seen = Dot::new(actor(1), 9);
        assert!(set.update_with_dot(&context, value("c"), seen).is_err());
        let fresh = Dot::new(actor(1), 10);
        set.update_with_dot(&context, value("c"), fresh).unwrap();
        assert_eq!(values(&set), [b"c".as_slice()]);
        set.check_invariants().unwrap();
    }

    #[test]
    fn concurrent_puts_through_one_coordinator_stay_siblings() {
        // The case plain version vectors get wrong (a false overwrite): both clients
        // read the empty key, both write through node 1.
        let mut set = Siblings::new();
        let first = put(&mut set, &VersionVector::new(), "x", 1);
        let second = put(&mut set, &VersionVector::new(), "y", 1);
        assert_eq!((first.counter, second.counter), (1, 2));
        assert_eq!(values(&set), vec![&b"x"[..], &b"y"[..]]);
        assert_eq!(set.clock(), &vv(&[(1, 2)]));
    }

    #[test]
    fn put_with_a_read_context_supersedes_every_sibling_it_read() {
        let mut set = Siblings::new();
        put(&mut set, &VersionVector::new(), "x", 1);
        put(&mut set, &VersionVector::new(), "y", 2);
        let read = set.context();
        let dot = put(&mut set, read.clock(), "z", 1);
        assert_eq!(values(&set), vec![&b"z"[..]]);
        assert_eq!(dot, Dot::new(actor(1), 2));
        assert_eq!(set.iter().next().unwrap().context, vv(&[(1, 1), (2, 1)]));
    }

    #[test]
    fn put_keeps_a_sibling_written_after_its_read() {
        let mut set = Siblings::new();
        put(&mut set, &VersionVector::new(), "x", 1);
        let read = set.context();
        put(&mut set, &read.clone().into_clock(), "y", 2);
        put(&mut set, read.clock(), "z", 1);
        assert_eq!(values(&set), vec![&b"z"[..], &b"y"[..]]);
    }

    #[test]
    fn update_refuses_a_value_over_the_limit_and_changes_nothing() {
        let mut set = Siblings::new();
        put(&mut set, &VersionVector::new(), "x", 1);
        let before = set.clone();
        let size = limits::VALUE_BYTES_MAX + 1;
        let result = set.update(
            &set.clock().clone(),
            Content::Value(vec![7; size]),
            actor(1),
        );
        let max = limits::VALUE_BYTES_MAX;
        assert_eq!(result, Err(VersionError::ValueTooLarge { size, max }));
        assert_eq!(set, before);
        let largest = Content::Value(vec![7; limits::VALUE_BYTES_MAX]);
        assert!(set.update(&VersionVector::new(), largest, actor(1)).is_ok());
    }

    #[test]
    fn update_refuses_too_many_siblings_and_drops_nothing() {
        let mut set = Siblings::new();
        for index in 0..limits::SIBLINGS_MAX {
            put(&mut set, &VersionVector::new(), &index.to_string(), 1);
        }
        let before = set.clone();
        let result = set.update(&VersionVector::new(), value("one more"), actor(2));
        let (count, max) = (limits::SIBLINGS_MAX + 1, limits::SIBLINGS_MAX);
        assert_eq!(result, Err(VersionError::TooManySiblings { count, max }));
        assert_eq!(set, before);
        // Resolving one sibling makes room; resolving all leaves one.
        let first = VersionVector::from_entries([(actor(1), 1)]).unwrap();
        put(&mut set, &first, "resolved one", 2);
        assert_eq!(set.len(), limits::SIBLINGS_MAX);
        let context = set.clock().clone();
        put(&mut set, &context, "resolved all", 2);
        assert_eq!(values(&set), vec![&b"resolved all"[..]]);
    }

    #[test]
    fn update_refuses_a_context_over_the_limit_and_changes_nothing() {
        let mut set = Siblings::new();
        let max = limits::CLOCK_ENTRIES_MAX;
        let full = VersionVector::from_entries((0..max as u32).map(|n| (actor(n), 1))).unwrap();
        // `from_entries` stops at the limit; a merge is the only way past it.
        let over = full.merged(&vv(&[(max as u32, 1)]));
        let result = set.update(&over, value("x"), actor(1));
        let entries = max + 1;
        assert_eq!(result, Err(VersionError::ContextTooLarge { entries, max }));
        assert_eq!(set, Siblings::new());
        // A full context is fine as long as the coordinator is already in it...
        assert!(set.clone().update(&full, value("x"), actor(1)).is_ok());
        // ...but a new coordinator would grow the key's clock past the limit.
        let result = set.update(&full, value("x"), actor(max as u32));
        assert_eq!(result, Err(VersionError::ClockTooLarge { entries, max }));
        assert_eq!(set, Siblings::new());
    }

    #[test]
    fn update_refuses_an_exhausted_counter_and_changes_nothing() {
        let mut set = Siblings::new();
        let forged = vv(&[(1, u64::MAX)]);
        let result = set.update(&forged, value("x"), actor(1));
        assert_eq!(
            result,
            Err(VersionError::CounterExhausted { actor: actor(1) })
        );
        assert_eq!(set, Siblings::new());
        // Another coordinator (or the node's next incarnation) can still write.
        assert!(set.update(&forged, value("x"), actor(2)).is_ok());
    }

    #[test]
    fn sync_never_enforces_the_sibling_limit() {
        let (mut left, mut right) = (Siblings::new(), Siblings::new());
        for index in 0..limits::SIBLINGS_MAX {
            put(&mut left, &VersionVector::new(), &index.to_string(), 1);
            put(&mut right, &VersionVector::new(), &index.to_string(), 2);
        }
        left.sync(&right);
        left.check_invariants().unwrap();
        assert_eq!(left.len(), 2 * limits::SIBLINGS_MAX);
        let count = 2 * limits::SIBLINGS_MAX + 1;
        let max = limits::SIBLINGS_MAX;
        let blind = left.update(&VersionVector::new(), value("x"), actor(3));
        assert_eq!(blind, Err(VersionError::TooManySiblings { count, max }));
        let context = left.clock().clone();
        put(&mut left, &context, "resolved", 3);
        assert_eq!(left.len(), 1);
    }

    #[test]
    fn a_delete_leaves_a_tombstone_that_outlives_an_old_replica() {
        let mut home = Siblings::new();
        put(&mut home, &VersionVector::new(), "x", 1);
        let stale = home.clone();
        let context = home.clock().clone();
        home.update(&context, Content::Tombstone, actor(1)).unwrap();
        assert!(home.is_deleted());
        assert_eq!(home.len(), 1, "the tombstone is kept");
        assert_eq!(values(&home), Vec::<&[u8]>::new());
        // The stale replica's value must not come back in either direction.
        assert_eq!(home.merged(&stale), home);
        assert_eq!(stale.merged(&home), home);
        assert!(!stale.is_deleted());
        assert!(Siblings::new().is_deleted());
    }

    #[test]
    fn discard_drops_what_the_context_covers_and_remembers_it() {
        let mut set = Siblings::new();
        put(&mut set, &VersionVector::new(), "x", 1);
        put(&mut set, &VersionVector::new(), "y", 2);
        let old = set.clone();
        set.discard(&vv(&[(1, 1)]));
        assert_eq!(values(&set), vec![&b"y"[..]]);
        set.check_invariants().unwrap();
        assert_eq!(set.merged(&old), set, "a discarded sibling stays discarded");
    }

    #[test]
    fn merge_keeps_one_copy_of_a_dot_whichever_side_holds_which() {
        let mut left = Siblings::new();
        put(&mut left, &VersionVector::new(), "x", 1);
        let mut right = left.clone();
        right.siblings[0].content = value("corrupted");
        assert_eq!(left.merged(&right), right.merged(&left));
        assert_eq!(left.merged(&right).len(), 1);
    }

    #[test]
    fn compare_relates_replicas_by_their_clocks() {
        let mut old = Siblings::new();
        put(&mut old, &VersionVector::new(), "x", 1);
        let mut new = old.clone();
        put(&mut new, &old.clock().clone(), "y", 1);
        let mut other = old.clone();
        put(&mut other, &VersionVector::new(), "z", 2);
        assert_eq!(old.compare(&new), Causality::Before);
        assert_eq!(new.compare(&old), Causality::After);
        assert_eq!(new.compare(&other), Causality::Concurrent);
        assert_eq!(old.compare(&old.clone()), Causality::Equal);
    }

    #[test]
    fn version_is_the_context_joined_with_the_dot() {
        let sibling = Sibling {
            dot: Dot::new(actor(2), 1),
            context: vv(&[(1, 2)]),
            content: Content::Tombstone,
        };
        assert_eq!(sibling.version(), vv(&[(1, 2), (2, 1)]));
        assert!(sibling.covers(Dot::new(actor(1), 2)));
        assert!(sibling.covers(Dot::new(actor(2), 1)));
        assert!(!sibling.covers(Dot::new(actor(1), 3)));
        assert_eq!(Content::Tombstone.value(), None);
        assert_eq!(value("x").value(), Some(&b"x"[..]));
        assert!(Content::Tombstone.is_tombstone() && !value("x").is_tombstone());
    }

    fn sibling(node: u32, counter: u64, context: VersionVector) -> Sibling {
        Sibling {
            dot: Dot {
                actor: actor(node),
                counter,
            },
            context,
            content: value("v"),
        }
    }

    fn broken(clock: VersionVector, siblings: Vec<Sibling>) -> Result<(), VersionError> {
        Siblings { clock, siblings }.check_invariants()
    }

    /// Peer input can carry any number of siblings (merges never cap them; a clock's
    /// 1,024 actors still allow any number of concurrent dots), so the check must not
    /// compare every pair: a million concurrent siblings are checked in time linear in
    /// their entries (the pairwise check takes 10^12 steps), and one that covers the
    /// first of them is still found.
    #[test]
    fn check_invariants_of_a_huge_set_is_near_linear_and_still_finds_an_ancestor() {
        let count = 1_000_000u64;
        let clock = vv(&[(1, count), (2, 1)]);
        let mut siblings: Vec<Sibling> = (1..=count)
            .map(|counter| sibling(1, counter, VersionVector::new()))
            .collect();
        let set = Siblings {
            clock: clock.clone(),
            siblings: siblings.clone(),
        };
        assert_eq!(set.check_invariants(), Ok(()));
        siblings.push(sibling(2, 1, vv(&[(1, 1)])));
        let dot = |node, counter| Dot::new(actor(node), counter);
        assert_eq!(
            broken(clock, siblings),
            Err(VersionError::NotConcurrent {
                newer: dot(2, 1),
                older: dot(1, 1)
            })
        );
    }

    #[test]
    fn check_invariants_names_each_violation() {
        let empty = VersionVector::new;
        let clock = vv(&[(1, 5), (2, 5)]);
        let dot = |node, counter| Dot::new(actor(node), counter);
        let unsorted = vec![sibling(1, 2, empty()), sibling(1, 1, empty())];
        assert_eq!(
            broken(clock.clone(), unsorted),
            Err(VersionError::SiblingsNotSorted { dot: dot(1, 1) })
        );
        let repeated = vec![sibling(1, 1, empty()), sibling(1, 1, empty())];
        assert!(broken(clock.clone(), repeated).is_err());
        assert_eq!(
            broken(clock.clone(), vec![sibling(1, 0, empty())]),
            Err(VersionError::ZeroDot { actor: actor(1) })
        );
        assert_eq!(
            broken(clock.clone(), vec![sibling(1, 6, empty())]),
            Err(VersionError::DotNotInClock { dot: dot(1, 6) })
        );
        assert_eq!(
            broken(clock.clone(), vec![sibling(1, 1, vv(&[(3, 1)]))]),
            Err(VersionError::ContextNotInClock { dot: dot(1, 1) })
        );
        assert_eq!(
            broken(clock.clone(), vec![sibling(1, 1, vv(&[(1, 1)]))]),
            Err(VersionError::DotInOwnContext { dot: dot(1, 1) })
        );
        let ancestor = vec![sibling(1, 1, empty()), sibling(2, 1, vv(&[(1, 1)]))];
        assert_eq!(
            broken(clock.clone(), ancestor),
            Err(VersionError::NotConcurrent {
                newer: dot(2, 1),
                older: dot(1, 1)
            })
        );
        let mut huge = sibling(1, 1, empty());
        huge.content = Content::Value(vec![0; limits::VALUE_BYTES_MAX + 1]);
        assert!(matches!(
            broken(clock.clone(), vec![huge]),
            Err(VersionError::ValueTooLarge { .. })
        ));
        let fine = vec![sibling(1, 2, empty()), sibling(2, 1, vv(&[(1, 1)]))];
        assert_eq!(broken(clock, fine), Ok(()));
    }
}
