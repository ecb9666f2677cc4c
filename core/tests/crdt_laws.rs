//! The laws of the convergent data types (`dynamo_core::crdt`), as property tests.
//!
//! States are not generated directly: arbitrary states are not ones a replica can
//! reach (a dot outside its context, say). They come from random histories run through
//! the real write path, sibling sets (`Siblings::update_with_dot` with a
//! `Content::Mutation`, `Siblings::sync`): three replicas, each the home of its own
//! actor minting increasing dots, mutating and syncing one way in random order. The
//! laws are checked over every state the histories went through, and the final answer
//! after all replicas synced against an oracle that knows only the events: the sum of
//! the increments, and for sets "an element is present iff some add of it was not
//! seen by every remove of it" (add wins).
//!
//! Proptest prints a failing history (shrunk) and stores its seed under
//! `proptest-regressions/`, which replays it first on the next run.

use dynamo_core::clock::{Dot, VersionVector};
use dynamo_core::crdt::{apply, Mutation, Typed};
use dynamo_core::types::{ActorId, NodeId};
use dynamo_core::version::{Content, Siblings};
use proptest::prelude::*;
use std::collections::BTreeSet;

const REPLICAS: usize = 3;

#[derive(Clone, Debug)]
enum Step {
    Mutate(usize, Mutation),
    Sync { from: usize, to: usize },
}

fn element() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()])
}

fn counter_mutation() -> impl Strategy<Value = Mutation> {
    (-5i64..=5).prop_map(Mutation::Increment)
}

fn set_mutation() -> impl Strategy<Value = Mutation> {
    let elements = || prop::collection::vec(element(), 1..3);
    prop_oneof![
        elements().prop_map(Mutation::Add),
        elements().prop_map(Mutation::Remove),
    ]
}

fn map_mutation() -> impl Strategy<Value = Mutation> {
    let pairs = prop::collection::vec((element(), element()), 1..3);
    prop_oneof![
        pairs.prop_map(Mutation::SetFields),
        prop::collection::vec(element(), 1..3).prop_map(Mutation::DeleteFields),
        (element(), -3i64..=3).prop_map(|(f, by)| Mutation::IncrementField(f, by)),
    ]
}

fn history(mutation: impl Strategy<Value = Mutation>) -> impl Strategy<Value = Vec<Step>> {
    let mutate = (0..REPLICAS, mutation).prop_map(|(r, m)| Step::Mutate(r, m));
    let sync = (0..REPLICAS, 0..REPLICAS).prop_map(|(from, to)| Step::Sync { from, to });
    prop::collection::vec(prop_oneof![3 => mutate, 2 => sync], 1..40)
}

/// What a run leaves: every typed state seen, the events, and the final replicas.
#[derive(Default)]
struct Run {
    states: Vec<Typed>,
    replicas: Vec<Siblings>,
    /// Increments that were applied (refused ones, e.g. a field holding bytes, are not).
    increments: i128,
    /// Add events: (id, element). Remove events: the add ids the remover had seen.
    adds: Vec<(usize, Vec<u8>)>,
    removed: BTreeSet<usize>,
}

fn actor(replica: usize) -> ActorId {
    ActorId::new(NodeId(replica as u32 + 1), 0)
}

/// Run `steps` through sibling sets; `seen[r]` is the add events replica `r` has seen
/// (the oracle's own causal history, kept apart from the implementation's).
fn run(steps: &[Step]) -> Run {
    let mut run = Run {
        replicas: vec![Siblings::new(); REPLICAS],
        ..Run::default()
    };
    let mut seen = vec![BTreeSet::<usize>::new(); REPLICAS];
    let mut counters = [0u64; REPLICAS];
    for step in steps {
        match step {
            Step::Mutate(r, mutation) => {
                counters[*r] += 1;
                let dot = Dot::new(actor(*r), counters[*r]);
                let content = Content::Mutation(mutation.clone());
                let result = run.replicas[*r].update_with_dot(&VersionVector::new(), content, dot);
                if result.is_err() {
                    continue;
                }
                record(&mut run, &mut seen[*r], mutation);
            }
            Step::Sync { from, to } => {
                let from_state = run.replicas[*from].clone();
                run.replicas[*to].sync(&from_state);
                let from_seen = seen[*from].clone();
                seen[*to].extend(from_seen);
            }
        }
        for replica in &run.replicas {
            replica.check_invariants().unwrap();
            let typed = replica.typed();
            if let Some(typed) = &typed {
                typed.check().unwrap();
            }
            run.states.extend(typed);
        }
    }
    full_sync(&mut run.replicas);
    run
}

fn record(run: &mut Run, seen: &mut BTreeSet<usize>, mutation: &Mutation) {
    match mutation {
        Mutation::Increment(by) => run.increments += i128::from(*by),
        Mutation::Add(elements) => {
            for element in elements {
                let id = run.adds.len();
                run.adds.push((id, element.clone()));
                seen.insert(id);
            }
        }
        Mutation::Remove(elements) => {
            for (id, element) in &run.adds {
                if elements.contains(element) && seen.contains(id) {
                    run.removed.insert(*id);
                }
            }
        }
        _ => {}
    }
}

fn full_sync(replicas: &mut [Siblings]) {
    for from in 0..replicas.len() {
        let state = replicas[from].clone();
        replicas[0].sync(&state);
    }
    let all = replicas[0].clone();
    for replica in replicas.iter_mut() {
        replica.sync(&all);
    }
}

fn value(typed: &Option<Typed>) -> i128 {
    match typed {
        Some(Typed::Counter(counter)) => counter.value(),
        None => 0,
        Some(other) => panic!("not a counter: {other:?}"),
    }
}

fn elements(typed: &Option<Typed>) -> BTreeSet<Vec<u8>> {
    match typed {
        Some(Typed::Set(set)) => set.elements().map(<[u8]>::to_vec).collect(),
        None => BTreeSet::new(),
        Some(other) => panic!("not a set: {other:?}"),
    }
}

/// The join laws over every pair and triple of a sample of the states seen.
fn check_join_laws(states: &[Typed]) -> Result<(), TestCaseError> {
    let sample: Vec<&Typed> = states.iter().step_by(states.len() / 8 + 1).collect();
    for a in &sample {
        prop_assert_eq!(a.joined(a), (*a).clone(), "idempotent");
        for b in &sample {
            prop_assert_eq!(a.joined(b), b.joined(a), "commutative");
            for c in &sample {
                prop_assert_eq!(a.joined(b).joined(c), a.joined(&b.joined(c)), "associative");
            }
        }
    }
    Ok(())
}

/// A mutation's delta joined with its base, or with the base anywhere it has gone
/// (any other state joined in), equals applying the mutation there.
fn check_delta_law(states: &[Typed], mutation: &Mutation) -> Result<(), TestCaseError> {
    // A dot no history reached: fresh for every state.
    let dot = Dot::new(actor(0), 1_000);
    for base in states.iter().step_by(states.len() / 6 + 1) {
        let Ok(applied) = apply(Some(base), mutation, dot) else {
            continue;
        };
        let delta = mutation.delta(Some(base), dot).unwrap();
        prop_assert_eq!(base.joined(&delta), applied.clone());
        for elsewhere in states.iter().step_by(states.len() / 4 + 1) {
            let via_delta = elsewhere.joined(base).joined(&delta);
            prop_assert_eq!(via_delta, elsewhere.joined(&applied));
        }
    }
    Ok(())
}

fn check_converged(replicas: &[Siblings]) -> Result<(), TestCaseError> {
    for replica in replicas {
        prop_assert_eq!(replica, &replicas[0]);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn counter_laws_hold_and_the_value_is_the_sequential_sum(
        steps in history(counter_mutation()),
        probe in counter_mutation(),
    ) {
        let run = run(&steps);
        check_join_laws(&run.states)?;
        check_delta_law(&run.states, &probe)?;
        check_converged(&run.replicas)?;
        for replica in &run.replicas {
            prop_assert_eq!(value(&replica.typed()), run.increments);
        }
    }

    #[test]
    fn set_laws_hold_and_adds_win(
        steps in history(set_mutation()),
        probe in set_mutation(),
    ) {
        let run = run(&steps);
        check_join_laws(&run.states)?;
        check_delta_law(&run.states, &probe)?;
        check_converged(&run.replicas)?;
        let expected: BTreeSet<Vec<u8>> = run
            .adds
            .iter()
            .filter(|(id, _)| !run.removed.contains(id))
            .map(|(_, element)| element.clone())
            .collect();
        for replica in &run.replicas {
            prop_assert_eq!(elements(&replica.typed()), expected.clone());
        }
    }

    #[test]
    fn map_laws_hold_and_replicas_converge(
        steps in history(map_mutation()),
        probe in map_mutation(),
    ) {
        let run = run(&steps);
        check_join_laws(&run.states)?;
        check_delta_law(&run.states, &probe)?;
        check_converged(&run.replicas)?;
    }

    #[test]
    fn joins_across_types_are_laws_too(
        counter in history(counter_mutation()),
        set in history(set_mutation()),
        map in history(map_mutation()),
    ) {
        let mut states = run(&counter).states;
        states.extend(run(&set).states);
        states.extend(run(&map).states);
        check_join_laws(&states)?;
    }

    #[test]
    fn counter_entries_stay_one_per_actor(steps in history(counter_mutation())) {
        let run = run(&steps);
        for state in &run.states {
            let Typed::Counter(counter) = state else { unreachable!() };
            prop_assert!(counter.entries().count() <= REPLICAS);
        }
    }

    #[test]
    fn removed_elements_leave_no_metadata_but_the_context(steps in history(set_mutation())) {
        let run = run(&steps);
        for state in &run.states {
            let Typed::Set(set) = state else { unreachable!() };
            prop_assert!(set.dots() <= set.len() * REPLICAS, "dots only for present elements");
            prop_assert!(set.context().len() <= REPLICAS, "one context entry per actor");
        }
    }
}
