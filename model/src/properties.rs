//! The properties the checker verifies, named in English with their paper section.
//!
//! | property | kind | what it means |
//! |---|---|---|
//! | [`NO_WRITE_LOST`] | always | every acknowledged put's version is on its key's home replicas or hint stores (up or crashed), or was superseded by a put whose context covered it (`dynamo_core::sim::checker::write_kept`, shared with the simulator) |
//! | [`INVARIANTS`] | always | every stored sibling set (replicas and hints) is pairwise concurrent and well formed, and each node's `check_invariants` (after every step: `check_invariants_full`) holds |
//! | [`READ_YOUR_WRITES`] | always | with R + W > N, a get that started after a put was acknowledged returns a sibling that descends from it, unless a coordinator of the key suspected a home replica (a fallback may have been used) |
//! | [`crate::counter::COUNTER_BOUNDED`] | always | a counter key's replicas and hints, joined, read the acknowledged increments plus some unacknowledged ones (`counter.rs`) |
//! | [`CONVERGES`] | always, at rest | once faults stop, the home replicas converge (see `heal.rs`) |
//! | [`SIBLINGS_CREATED`], [`HINT_DELIVERED`], [`READ_REPAIRED`], [`QUORUM_FAILED`] | sometimes | the interesting states are reachable |

use crate::actor::{nodes, DynamoModel, SystemState};
use crate::config::key;
use crate::heal;
use crate::history::Outcome;
use crate::node_actor::NodeState;
use dynamo_core::sim::checker::write_kept;
use dynamo_core::store::Store;
use dynamo_core::types::NodeId;
use dynamo_core::version::Siblings;
use stateright::Expectation;

pub const NO_WRITE_LOST: &str = "no acknowledged write is lost (§4.5, §4.6)";
pub const INVARIANTS: &str = "sibling sets are pairwise concurrent and node invariants hold (§4.4)";
pub const READ_YOUR_WRITES: &str =
    "with R + W > N and no fallback, a get sees every write acknowledged before it (§4.5)";
pub const CONVERGES: &str = "once faults stop, home replicas converge (§4.6, §4.7)";
pub const SIBLINGS_CREATED: &str = "concurrent puts create siblings (§4.4)";
pub const HINT_DELIVERED: &str = "a hinted replica is handed off (§4.6)";
pub const READ_REPAIRED: &str = "a stale replica is read-repaired (§4.5)";
pub const QUORUM_FAILED: &str = "a request fails its quorum (§4.5)";

/// A property's condition, as stateright takes it.
pub type Condition = fn(&DynamoModel, &SystemState) -> bool;

/// Every property of the model.
pub fn all() -> Vec<(Expectation, &'static str, Condition)> {
    vec![
        (
            Expectation::Always,
            NO_WRITE_LOST,
            no_write_lost as Condition,
        ),
        (Expectation::Always, INVARIANTS, invariants),
        (Expectation::Always, READ_YOUR_WRITES, read_your_writes),
        (Expectation::Always, CONVERGES, converges),
        (
            Expectation::Always,
            crate::counter::COUNTER_BOUNDED,
            crate::counter::counter_bounded,
        ),
        (Expectation::Sometimes, SIBLINGS_CREATED, siblings_created),
        (Expectation::Sometimes, HINT_DELIVERED, hint_delivered),
        (Expectation::Sometimes, READ_REPAIRED, read_repaired),
        (Expectation::Sometimes, QUORUM_FAILED, quorum_failed),
    ]
}

/// The home replicas of key `index`, from the ring of a running node.
fn homes(model: &DynamoModel, state: &SystemState, index: usize) -> Vec<NodeId> {
    let ring = nodes(state).find_map(|node| node.node()?.membership().ring().cloned());
    match ring {
        Some(ring) => {
            let partition = ring.partition_of_key(&key(index));
            ring.home_replicas(partition, model.cfg.replication_factor)
        }
        None => model.cfg.homes(index),
    }
}

/// What the home replicas and every hint store hold for key `index`, merged.
pub(crate) fn held(model: &DynamoModel, state: &SystemState, index: usize) -> Siblings {
    let key = key(index);
    let homes = homes(model, state, index);
    let partition = dynamo_core::hash::partition_of_key(&key, model.cfg.partitions);
    let mut merged = Siblings::new();
    for (position, node) in nodes(state).enumerate() {
        let store = node.store();
        if homes.contains(&crate::config::node_id(position)) {
            if let Some(siblings) = store.get(partition, &key).expect("memory store reads") {
                merged.sync(&siblings);
            }
        }
        for (hint, siblings) in store.hints(None, usize::MAX).expect("memory store reads") {
            if hint.key == key {
                merged.sync(&siblings);
            }
        }
    }
    merged
}

/// The core's one definition of a kept write ([`write_kept`]), over what the home
/// replicas and every hint store hold.
fn no_write_lost(model: &DynamoModel, state: &SystemState) -> bool {
    let history = &state.history;
    history.acknowledged().all(|(index, write)| {
        let held = held(model, state, index);
        write_kept(&held, write, history.put_contexts(index))
    })
}

fn invariants(_: &DynamoModel, state: &SystemState) -> bool {
    nodes(state).all(|node| node_invariants(node).is_ok())
}

/// Why `node` breaks an invariant, if it does.
pub fn node_invariants(node: &NodeState) -> Result<(), String> {
    if let Some(broken) = &node.broken {
        return Err(broken.clone());
    }
    if let Some(running) = node.node() {
        running.check_invariants().map_err(|e| e.to_string())?;
    }
    let store = node.store();
    for (partition, key, siblings) in store.replicas() {
        siblings
            .check_invariants()
            .map_err(|error| format!("{partition} {key:?}: {error}"))?;
    }
    for (hint, siblings) in store.hints(None, usize::MAX).map_err(|e| e.to_string())? {
        siblings
            .check_invariants()
            .map_err(|error| format!("hint {hint:?}: {error}"))?;
    }
    Ok(())
}

fn read_your_writes(model: &DynamoModel, state: &SystemState) -> bool {
    let config = &model.cfg;
    if config.read_quorum + config.write_quorum <= config.replication_factor {
        return true;
    }
    state
        .history
        .records
        .iter()
        .all(|record| match &record.reply {
            Some((_, Outcome::Got { missed, .. })) if !missed.is_empty() => {
                let key = key(record.key);
                nodes(state).any(|node| node.sloppy.contains(&key))
            }
            _ => true,
        })
}

fn converges(model: &DynamoModel, state: &SystemState) -> bool {
    !heal::at_rest(state) || heal::heal(&model.cfg, state).is_ok()
}

fn siblings_created(_: &DynamoModel, state: &SystemState) -> bool {
    nodes(state).any(|node| {
        node.store()
            .replicas()
            .any(|(_, _, siblings)| siblings.len() > 1)
    })
}

fn hint_delivered(_: &DynamoModel, state: &SystemState) -> bool {
    nodes(state).any(|node| node.node().is_some_and(|n| n.stats().hints_delivered > 0))
}

fn read_repaired(_: &DynamoModel, state: &SystemState) -> bool {
    nodes(state).any(|node| node.node().is_some_and(|n| n.stats().read_repairs > 0))
}

fn quorum_failed(_: &DynamoModel, state: &SystemState) -> bool {
    state.history.quorum_failed()
}
