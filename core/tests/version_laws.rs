//! The laws of versioning (Dynamo §4.4), as property tests.
//!
//! Version vectors are generated directly (small ranges, so relations are interesting).
//! Sibling sets are not: arbitrary sets are not states any replica can reach, so they
//! come from random histories: a few replicas, each coordinating puts as one actor
//! (node and incarnation; a restart takes a new incarnation), puts that carry the
//! context of some replica's current set (a fresh read), of an earlier read (stale) or
//! none (a blind write), and one-way syncs between replicas. Every operation is checked
//! as it happens; the laws are then checked over the states the history went through.

use dynamo_core::clock::{Causality, Dot, VersionVector};
use dynamo_core::context::Context;
use dynamo_core::types::{ActorId, NodeId};
use dynamo_core::version::{Content, Siblings};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

fn version_vector() -> impl Strategy<Value = VersionVector> {
    let entry = ((0u32..4, 0u32..2), 1u64..6);
    prop::collection::btree_map(entry.0, entry.1, 0..5).prop_map(|entries| {
        let entries = entries.into_iter().map(|((node, incarnation), counter)| {
            (ActorId::new(NodeId(node), incarnation), counter)
        });
        VersionVector::from_entries(entries).unwrap()
    })
}

proptest! {
    #[test]
    fn merge_is_commutative(a in version_vector(), b in version_vector()) {
        prop_assert_eq!(a.merged(&b), b.merged(&a));
    }

    #[test]
    fn merge_is_associative(a in version_vector(), b in version_vector(), c in version_vector()) {
        prop_assert_eq!(a.merged(&b).merged(&c), a.merged(&b.merged(&c)));
    }

    #[test]
    fn merge_is_idempotent(a in version_vector(), b in version_vector()) {
        prop_assert_eq!(a.merged(&a), a.clone());
        let mut twice = a.merged(&b);
        twice.merge(&b);
        prop_assert_eq!(twice, a.merged(&b));
    }

    #[test]
    fn merge_is_the_least_upper_bound(a in version_vector(), b in version_vector(), c in version_vector()) {
        let join = a.merged(&b);
        prop_assert!(join.descends(&a) && join.descends(&b));
        if c.descends(&a) && c.descends(&b) {
            prop_assert!(c.descends(&join));
        }
    }

    #[test]
    fn descends_is_reflexive(a in version_vector()) {
        prop_assert!(a.descends(&a));
    }

    #[test]
    fn descends_is_antisymmetric(a in version_vector(), b in version_vector()) {
        if a.descends(&b) && b.descends(&a) {
            prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn descends_is_transitive(a in version_vector(), b in version_vector(), c in version_vector()) {
        // Random triples rarely chain; joins make chains: a <= a+b <= a+b+c.
        let ab = a.merged(&b);
        let abc = ab.merged(&c);
        prop_assert!(abc.descends(&ab) && ab.descends(&a) && abc.descends(&a));
        if a.descends(&b) && b.descends(&c) {
            prop_assert!(a.descends(&c));
        }
    }

    #[test]
    fn compare_agrees_with_descends(a in version_vector(), b in version_vector()) {
        let expected = match (a.descends(&b), b.descends(&a)) {
            (true, true) => Causality::Equal,
            (false, true) => Causality::Before,
            (true, false) => Causality::After,
            (false, false) => Causality::Concurrent,
        };
        prop_assert_eq!(a.compare(&b), expected);
        prop_assert_eq!(a.compare(&b) == Causality::Equal, a == b);
        let mirrored = match a.compare(&b) {
            Causality::Before => Causality::After,
            Causality::After => Causality::Before,
            same => same,
        };
        prop_assert_eq!(b.compare(&a), mirrored);
    }

    #[test]
    fn covers_agrees_with_descends_of_a_single_dot(a in version_vector(), node in 0u32..4, counter in 1u64..7) {
        let dot = Dot::new(ActorId::new(NodeId(node), 0), counter);
        let single = VersionVector::from_entries([(dot.actor, dot.counter)]).unwrap();
        prop_assert_eq!(a.covers(dot), a.descends(&single));
        let mut added = a.clone();
        added.add_dot(dot);
        prop_assert!(added.covers(dot) && added.descends(&a));
        prop_assert_eq!(added, a.merged(&single));
    }
}

/// Where a put's context comes from.
#[derive(Clone, Debug)]
enum Read {
    /// A fresh read of one replica's current set.
    Replica(usize),
    /// A context read earlier (possibly long superseded).
    Stale(usize),
    /// A blind write: no context.
    Blind,
}

#[derive(Clone, Debug)]
enum Op {
    Put { at: usize, read: Read, delete: bool },
    Sync { from: usize, to: usize },
    Restart { at: usize },
}

fn op() -> impl Strategy<Value = Op> {
    let read = prop_oneof![
        3 => any::<usize>().prop_map(Read::Replica),
        1 => any::<usize>().prop_map(Read::Stale),
        1 => Just(Read::Blind),
    ];
    prop_oneof![
        4 => (any::<usize>(), read, prop::bool::weighted(0.15))
            .prop_map(|(at, read, delete)| Op::Put { at, read, delete }),
        3 => (any::<usize>(), any::<usize>()).prop_map(|(from, to)| Op::Sync { from, to }),
        1 => any::<usize>().prop_map(|at| Op::Restart { at }),
    ]
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(), 0..40)
}

fn replica_count() -> impl Strategy<Value = usize> {
    2usize..=4
}

/// One acknowledged put: the dot it minted, the context it carried, what it wrote.
#[derive(Clone, Debug)]
struct Put {
    dot: Dot,
    context: VersionVector,
    content: Content,
}

/// A cluster of replicas of one key, driven by `Op`s, checking each step.
#[derive(Debug)]
struct History {
    replicas: Vec<Siblings>,
    actors: Vec<ActorId>,
    reads: Vec<VersionVector>,
    puts: Vec<Put>,
    /// Every state any replica went through, in order.
    states: Vec<Siblings>,
}

impl History {
    fn new(replicas: usize) -> Self {
        Self {
            replicas: vec![Siblings::new(); replicas],
            actors: (0..replicas as u32)
                .map(|n| ActorId::new(NodeId(n), 0))
                .collect(),
            reads: Vec::new(),
            puts: Vec::new(),
            states: vec![Siblings::new()],
        }
    }

    fn run(replicas: usize, ops: &[Op]) -> Result<Self, TestCaseError> {
        let mut history = Self::new(replicas);
        history.apply_all(ops)?;
        Ok(history)
    }

    fn apply_all(&mut self, ops: &[Op]) -> Result<(), TestCaseError> {
        for op in ops {
            self.apply(op)?;
        }
        Ok(())
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let n = self.replicas.len();
        match op {
            Op::Put { at, read, delete } => {
                let context = self.read(read);
                let content = if *delete {
                    Content::Tombstone
                } else {
                    Content::Value(format!("put {}", self.puts.len()).into_bytes())
                };
                self.put(at % n, &context, content)?;
            }
            Op::Sync { from, to } => {
                let (from, to) = (from % n, to % n);
                let source = self.replicas[from].clone();
                let before = self.replicas[to].clone();
                self.replicas[to].sync(&source);
                let after = &self.replicas[to];
                prop_assert_eq!(after, &before.merged(&source));
                prop_assert!(after.clock().descends(before.clock()));
                prop_assert!(after.clock().descends(source.clock()));
                self.checked(to)?;
            }
            Op::Restart { at } => {
                // A new incarnation: the replica's data survives, its actor is new.
                let actor = &mut self.actors[at % n];
                actor.incarnation += 1;
            }
        }
        Ok(())
    }

    fn read(&mut self, read: &Read) -> VersionVector {
        let context = match read {
            Read::Replica(index) => self.replicas[index % self.replicas.len()].clock().clone(),
            Read::Stale(index) if !self.reads.is_empty() => {
                self.reads[index % self.reads.len()].clone()
            }
            Read::Stale(_) | Read::Blind => VersionVector::new(),
        };
        self.reads.push(context.clone());
        context
    }

    /// A put at replica `at`, checked against the definition of `update`.
    fn put(
        &mut self,
        at: usize,
        context: &VersionVector,
        content: Content,
    ) -> Result<Dot, TestCaseError> {
        let actor = self.actors[at];
        let before = self.replicas[at].clone();
        let dot = self.replicas[at]
            .update(context, content.clone(), actor)
            .map_err(|error| TestCaseError::fail(format!("put refused: {error}")))?;
        let after = &self.replicas[at];
        let expected_counter = before.clock().merged(context).get(actor) + 1;
        prop_assert_eq!(dot, Dot::new(actor, expected_counter));
        // Exactly the siblings the context covers are gone; the new one is added.
        let mut expected: BTreeSet<Dot> = dots(&before).filter(|d| !context.covers(*d)).collect();
        expected.insert(dot);
        prop_assert_eq!(dots(after).collect::<BTreeSet<_>>(), expected);
        prop_assert_eq!(
            after.clock(),
            &before.clock().merged(context).merged(&single(dot))
        );
        self.puts.push(Put {
            dot,
            context: context.clone(),
            content,
        });
        self.checked(at)?;
        Ok(dot)
    }

    fn checked(&mut self, at: usize) -> Result<(), TestCaseError> {
        let state = &self.replicas[at];
        if let Err(error) = state.check_invariants() {
            return Err(TestCaseError::fail(format!("{error} in {state:?}")));
        }
        self.states.push(state.clone());
        Ok(())
    }

    /// Sync every replica with every other: all end equal to the merge of all.
    fn sync_all(&mut self) -> Result<(), TestCaseError> {
        let n = self.replicas.len();
        for from in 1..n {
            self.apply(&Op::Sync { from, to: 0 })?;
        }
        for to in 1..n {
            self.apply(&Op::Sync { from: 0, to })?;
        }
        for replica in &self.replicas {
            prop_assert_eq!(replica, &self.replicas[0]);
        }
        Ok(())
    }
}

fn dots(set: &Siblings) -> impl Iterator<Item = Dot> + '_ {
    set.iter().map(|sibling| sibling.dot)
}

fn single(dot: Dot) -> VersionVector {
    VersionVector::from_entries([(dot.actor, dot.counter)]).unwrap()
}

proptest! {
    #[test]
    fn invariants_hold_after_every_operation(replicas in replica_count(), ops in ops()) {
        let mut history = History::run(replicas, &ops)?;
        history.sync_all()?;
    }

    #[test]
    fn siblings_merge_is_commutative(replicas in replica_count(), ops in ops(), picks in any::<[usize; 2]>()) {
        let history = History::run(replicas, &ops)?;
        let [a, b] = picks.map(|pick| &history.states[pick % history.states.len()]);
        prop_assert_eq!(a.merged(b), b.merged(a));
    }

    #[test]
    fn siblings_merge_is_associative(replicas in replica_count(), ops in ops(), picks in any::<[usize; 3]>()) {
        let history = History::run(replicas, &ops)?;
        let [a, b, c] = picks.map(|pick| &history.states[pick % history.states.len()]);
        let left = a.merged(b).merged(c);
        prop_assert_eq!(&left, &a.merged(&b.merged(c)));
        prop_assert!(left.check_invariants().is_ok(), "{:?}", left.check_invariants());
    }

    #[test]
    fn siblings_merge_is_idempotent(replicas in replica_count(), ops in ops(), picks in any::<[usize; 2]>()) {
        let history = History::run(replicas, &ops)?;
        let [a, b] = picks.map(|pick| &history.states[pick % history.states.len()]);
        prop_assert_eq!(&a.merged(a), a);
        let join = a.merged(b);
        prop_assert_eq!(join.merged(b), join.clone());
        prop_assert!(matches!(a.compare(&join), Causality::Before | Causality::Equal));
    }

    #[test]
    fn no_acknowledged_version_is_lost(replicas in replica_count(), ops in ops()) {
        let mut history = History::run(replicas, &ops)?;
        history.sync_all()?;
        let converged = &history.replicas[0];
        let present: BTreeMap<Dot, &Content> =
            converged.iter().map(|sibling| (sibling.dot, &sibling.content)).collect();
        for put in &history.puts {
            let superseded = history.puts.iter().any(|later| later.context.covers(put.dot));
            prop_assert!(
                present.contains_key(&put.dot) || superseded,
                "{} lost: {:?}", put.dot, converged
            );
        }
        // Nothing appears that was not written, and nothing changes what it holds.
        let written: BTreeMap<Dot, &Content> =
            history.puts.iter().map(|put| (put.dot, &put.content)).collect();
        for (dot, content) in present {
            prop_assert_eq!(written.get(&dot), Some(&content));
        }
    }

    #[test]
    fn put_supersedes_exactly_what_its_get_saw(
        replicas in replica_count(),
        before_get in ops(),
        get_from in any::<[usize; 2]>(),
        after_get in ops(),
        put_at in any::<usize>(),
    ) {
        let mut history = History::run(replicas, &before_get)?;
        let n = replicas;
        // A get that read two replicas (R = 2) and merged what they returned.
        let get = history.replicas[get_from[0] % n].merged(&history.replicas[get_from[1] % n]);
        let context = Context::from_text(&get.context().to_text()).unwrap().into_clock();
        let first_after_get = history.puts.len();
        history.apply_all(&after_get)?;
        // The put itself is checked against `update`'s definition (exact supersession).
        let dot = history.put(put_at % n, &context, Content::Value(b"resolved".to_vec()))?;
        history.sync_all()?;
        let converged = &history.replicas[0];
        prop_assert!(converged.iter().any(|sibling| sibling.dot == dot));
        for seen in get.iter() {
            prop_assert!(!dots(converged).any(|d| d == seen.dot), "{} survived", seen.dot);
        }
        // Writes after the get are concurrent with the put: only their own successors
        // may supersede them.
        let later = &history.puts[first_after_get..history.puts.len() - 1];
        for put in later {
            prop_assert!(!context.covers(put.dot));
            let superseded = later.iter().any(|other| other.context.covers(put.dot));
            if !superseded {
                prop_assert!(dots(converged).any(|d| d == put.dot), "{} lost", put.dot);
            }
        }
    }
}
