//! A check that cannot fail proves nothing: each deliberately broken `Node` variant
//! (`dynamo_core::node::Mutant`) must give the checker a counterexample. Searches are
//! breadth first on one thread and stop at the first discovery, so the traces are
//! near-shortest and each test takes well under a second.

use dynamo_core::node::Mutant;
use dynamo_model::properties::{CONVERGES, NO_WRITE_LOST, READ_YOUR_WRITES};
use dynamo_model::run::{check, Options, Search};
use dynamo_model::ModelConfig;
use std::collections::BTreeSet;

/// Check `config` with `mutant` until `property` fails; return the counterexample.
fn counterexample(mut config: ModelConfig, mutant: Mutant, property: &'static str) -> String {
    config.mutant = mutant;
    let options = Options {
        search: Search::Bfs,
        threads: 1,
        stop_at: Some(BTreeSet::from([property])),
        progress: false,
    };
    let outcome = check(config, &options);
    let path = outcome.paths.iter().find(|(name, _)| *name == property);
    let Some((_, path)) = path else {
        panic!("{mutant:?}: no counterexample for {property:?}");
    };
    path.clone()
}

#[test]
fn ack_before_local_write_breaks_read_your_writes() {
    let path = counterexample(
        ModelConfig::strict(),
        Mutant::AckBeforeLocalWrite,
        READ_YOUR_WRITES,
    );
    assert!(
        path.contains("Got"),
        "the trace ends with a stale get:\n{path}"
    );
}

#[test]
fn ack_before_local_write_loses_an_acknowledged_write() {
    counterexample(
        ModelConfig::sloppy(),
        Mutant::AckBeforeLocalWrite,
        NO_WRITE_LOST,
    );
}

#[test]
fn ack_before_local_write_never_converges_to_the_write() {
    counterexample(
        ModelConfig::sloppy(),
        Mutant::AckBeforeLocalWrite,
        CONVERGES,
    );
}

#[test]
fn delete_hint_before_ack_loses_an_acknowledged_write() {
    let path = counterexample(
        ModelConfig::sloppy(),
        Mutant::DeleteHintBeforeAck,
        NO_WRITE_LOST,
    );
    assert!(path.contains("Handoff"), "the trace hands off:\n{path}");
}

#[test]
fn read_quorum_ignoring_r_breaks_read_your_writes() {
    counterexample(
        ModelConfig::strict(),
        Mutant::ReadQuorumIgnoresR,
        READ_YOUR_WRITES,
    );
}

#[test]
fn the_correct_node_has_no_counterexample_in_these_configurations() {
    for config in [ModelConfig::strict(), ModelConfig::sloppy()] {
        let outcome = check(config, &Options::default());
        let always: Vec<_> = [NO_WRITE_LOST, READ_YOUR_WRITES, CONVERGES]
            .into_iter()
            .filter(|name| outcome.discovered.contains(name))
            .collect();
        assert!(always.is_empty(), "violated: {always:?}");
    }
}

#[test]
fn counter_merge_by_max_loses_an_acknowledged_increment() {
    let path = counterexample(
        ModelConfig::counter(),
        Mutant::CounterMergeByMax,
        dynamo_model::counter::COUNTER_BOUNDED,
    );
    assert!(path.contains("Increment"), "the trace increments:\n{path}");
}
