//! Hinted handoff pages through a hint store larger than one scan (Dynamo §4.6).
//!
//! A handoff round examines at most `HANDOFF_SCAN_MAX` (4096) hints and resumes the
//! next round where it stopped. Here a fallback holds more than 4096 hints for a home
//! that stays down, stored first (hints are kept in target order), and a few for a
//! home that recovers: those must still be delivered, although no scan from the
//! start of the store ever reaches them. (Kills `Handoff::round`'s paging guard
//! `hints.len() == HANDOFF_SCAN_MAX` replaced by `!=` or `false`: every round would
//! rescan the first 4096 hints.)
#![cfg(feature = "sim")]

mod common;

use common::{config, n, quiet};
use dynamo_core::clock::VersionVector;
use dynamo_core::message::Reply;
use dynamo_core::ring::Ring;
use dynamo_core::sim::Sim;
use dynamo_core::store::Store;
use dynamo_core::types::{NodeId, PartitionId};

/// `HANDOFF_SCAN_MAX`, the hints one handoff round examines.
const SCAN: usize = 4096;

/// Where the hints go: `fallback` stands in for `stays_down` in partition `p` and for
/// `recovers` in partition `q`; `stays_down` sorts first in the hint store.
#[derive(Debug)]
struct Plan {
    stays_down: NodeId,
    recovers: NodeId,
    fallback: NodeId,
    p: PartitionId,
    p_coordinator: NodeId,
    q: PartitionId,
    q_coordinator: NodeId,
}

/// The first node after the homes in `partition`'s preference list, but `skip`
/// (down and suspected by then).
fn first_fallback(ring: &Ring, partition: PartitionId, skip: Option<NodeId>) -> NodeId {
    let homes = ring.home_replicas(partition, 3);
    ring.preference_list(partition)
        .nodes()
        .iter()
        .copied()
        .find(|node| !homes.contains(node) && Some(*node) != skip)
        .expect("five nodes, three homes")
}

fn plan(ring: &Ring) -> Plan {
    let stays_down = n(1);
    let partitions: Vec<PartitionId> = (0..ring.partitions()).map(PartitionId).collect();
    for recovers in (2..=5).map(n) {
        for p in &partitions {
            let homes_p = ring.home_replicas(*p, 3);
            if !homes_p.contains(&stays_down) || homes_p.contains(&recovers) {
                continue;
            }
            let fallback = first_fallback(ring, *p, Some(recovers));
            for q in &partitions {
                let homes_q = ring.home_replicas(*q, 3);
                if !homes_q.contains(&recovers) || homes_q.contains(&stays_down) {
                    continue;
                }
                if first_fallback(ring, *q, None) != fallback {
                    continue;
                }
                let coordinator = |homes: &[NodeId], not: NodeId| {
                    homes.iter().copied().find(|h| *h != not).unwrap()
                };
                return Plan {
                    stays_down,
                    recovers,
                    fallback,
                    p: *p,
                    p_coordinator: coordinator(&homes_p, stays_down),
                    q: *q,
                    q_coordinator: coordinator(&homes_q, recovers),
                };
            }
        }
    }
    panic!("no partitions fit the plan in this ring")
}

fn keys_of(ring: &Ring, partition: PartitionId, prefix: &str, count: usize) -> Vec<Vec<u8>> {
    (0u32..)
        .map(|i| format!("{prefix}{i}").into_bytes())
        .filter(|key| ring.partition_of_key(key) == partition)
        .take(count)
        .collect()
}

/// Make `coordinator` suspect `down` (the put of the first key times out on it), then
/// put every other key through it: each lands on the first fallback as a hint.
fn hinted_puts(sim: &mut Sim, coordinator: NodeId, down: NodeId, keys: &[Vec<u8>]) {
    let timeout = sim.node(coordinator).unwrap().config().request_timeout_ms;
    sim.put(coordinator, &keys[0], VersionVector::new(), Some(vec![0]));
    quiet(sim);
    sim.run_for(timeout + 1);
    assert!(sim.node(coordinator).unwrap().suspected().contains(&down));
    for batch in keys[1..].chunks(500) {
        let puts: Vec<usize> = batch
            .iter()
            .map(|key| sim.put(coordinator, key, VersionVector::new(), Some(key.clone())))
            .collect();
        quiet(sim);
        for put in puts {
            assert!(matches!(sim.reply(put), Some(Reply::Put { .. })));
        }
    }
}

fn hints_for(sim: &Sim, holder: NodeId, target: NodeId) -> usize {
    let hints = sim.node(holder).unwrap().store().hints(None, usize::MAX);
    hints
        .unwrap()
        .iter()
        .filter(|(h, _)| h.target == target)
        .count()
}

#[test]
fn hints_beyond_one_scan_of_the_store_are_delivered() {
    let mut sim = Sim::new(31, 5, config());
    sim.run_for(500);
    let ring = sim.node(n(1)).unwrap().membership().ring().unwrap().clone();
    let plan = plan(&ring);
    println!("{plan:?}");
    let behind = keys_of(&ring, plan.q, "q", 21);
    let ahead = keys_of(&ring, plan.p, "p", SCAN + 101);

    // A few hints for the node that will recover, then more than a scan's worth for
    // the node that stays down (all of them ahead of the first in the hint store).
    sim.crash(plan.recovers);
    hinted_puts(&mut sim, plan.q_coordinator, plan.recovers, &behind);
    sim.crash(plan.stays_down);
    hinted_puts(&mut sim, plan.p_coordinator, plan.stays_down, &ahead);
    sim.run_for(1_000);
    let held_ahead = hints_for(&sim, plan.fallback, plan.stays_down);
    let held_behind = hints_for(&sim, plan.fallback, plan.recovers);
    assert!(held_ahead > SCAN, "{held_ahead} hints for the down node");
    assert_eq!(
        held_behind,
        behind.len() - 1,
        "the first put only found it down"
    );

    // The recovered node gets every hint held for it within a few handoff rounds,
    // while the node ahead of it in the store stays down.
    sim.restart(plan.recovers);
    sim.run_for(3_000);
    assert_eq!(
        hints_for(&sim, plan.fallback, plan.recovers),
        0,
        "hints past the first {SCAN} of the store were never offered"
    );
    for key in &behind[1..] {
        let stored = sim.stored(plan.recovers, key).expect("delivered home");
        assert!(stored.values().any(|v| v == key.as_slice()));
    }
    assert!(hints_for(&sim, plan.fallback, plan.stays_down) > SCAN);

    // And once the other node is back, its hints drain too, 64 a round.
    sim.restart(plan.stays_down);
    sim.run_for(12_000);
    let left: usize = sim
        .node_ids()
        .into_iter()
        .map(|id| sim.node(id).unwrap().store().hint_count().unwrap())
        .sum();
    assert_eq!(left, 0, "every hint was delivered");
}
