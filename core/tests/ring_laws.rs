//! Laws of the ring (Dynamo §4.2, §4.3, §6.2): weighted shares within one partition,
//! distinct preference lists, minimal movement on join and leave, determinism.

use dynamo_core::ring::{Ring, RingConfig, RingMember};
use dynamo_core::types::{NodeId, PartitionId};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

fn member(node: u32, weight: u32, zone: Option<u8>) -> RingMember {
    RingMember {
        node: NodeId(node),
        weight,
        zone: zone.map(|z| format!("z{z}")),
    }
}

/// 1..12 members with weights 1..4 and optional zones among three.
fn members() -> impl Strategy<Value = Vec<RingMember>> {
    prop::collection::vec((1u32..4, prop::option::of(0u8..3)), 1..12).prop_map(|specs| {
        specs
            .into_iter()
            .enumerate()
            .map(|(i, (w, z))| member(i as u32 + 1, w, z))
            .collect()
    })
}

fn config() -> impl Strategy<Value = RingConfig> {
    (6u32..10, 1usize..5).prop_map(|(bits, n)| RingConfig {
        partitions: 1 << bits,
        replication_factor: n,
    })
}

/// The fewest owner changes that reach `next`'s shares from `previous`'s holdings.
fn minimal_moves(previous: &Ring, next: &Ring) -> usize {
    let before = previous.owned_counts();
    let after = next.owned_counts();
    before
        .iter()
        .map(|(node, count)| count.saturating_sub(after.get(node).copied().unwrap_or(0)) as usize)
        .sum()
}

fn check_preference_lists(ring: &Ring) {
    for p in 0..ring.partitions() {
        let list = ring.preference_list(PartitionId(p));
        let distinct: BTreeSet<NodeId> = list.nodes().iter().copied().collect();
        assert_eq!(
            distinct.len(),
            list.nodes().len(),
            "duplicate node in {p}'s list"
        );
        assert_eq!(
            distinct.len(),
            ring.members().len(),
            "{p}'s list misses a member"
        );
        assert_eq!(
            list.nodes()[0],
            ring.owner(PartitionId(p)),
            "the owner leads"
        );
        let n = ring.config().replication_factor;
        assert_eq!(ring.home_replicas(PartitionId(p), n), list.homes(n));
    }
}

/// With zones, the home replicas span as many zones as they can.
fn check_zones(ring: &Ring) {
    let n = ring.config().replication_factor;
    let zone_of = |node: &NodeId| ring.members()[node].zone.clone();
    let zoned: BTreeSet<_> = ring
        .members()
        .values()
        .filter_map(|m| m.zone.clone())
        .collect();
    let unzoned = ring.members().values().filter(|m| m.zone.is_none()).count();
    for p in 0..ring.partitions() {
        let homes = ring.home_replicas(PartitionId(p), n);
        let homes_zoned: BTreeSet<_> = homes.iter().filter_map(zone_of).collect();
        let homes_unzoned = homes.iter().filter(|node| zone_of(node).is_none()).count();
        let best = n.min(zoned.len() + unzoned);
        assert!(
            homes_zoned.len() + homes_unzoned >= best,
            "partition {p}: {homes:?} spans too few zones"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn new_rings_keep_every_invariant(config in config(), members in members()) {
        let Ok(ring) = Ring::new(config, members.clone()) else {
            return Ok(()); // too few partitions for these weights: a clear error, tested below
        };
        ring.check_invariants().unwrap();
        check_preference_lists(&ring);
        check_zones(&ring);
        prop_assert_eq!(Ring::new(ring.config().clone(), members).unwrap(), ring, "the claim is deterministic");
    }

    #[test]
    fn join_and_leave_move_the_minimum(config in config(), members in members(), weight in 1u32..4, leaver in any::<prop::sample::Index>()) {
        let Ok(ring) = Ring::new(config, members) else { return Ok(()) };
        let newcomer = member(100, weight, Some(1));
        if let Ok(grown) = ring.join(newcomer) {
            grown.check_invariants().unwrap();
            check_preference_lists(&grown);
            prop_assert_eq!(grown.epoch(), ring.epoch() + 1);
            prop_assert_eq!(ring.moves(&grown).len(), minimal_moves(&ring, &grown));
        }
        let nodes: Vec<NodeId> = ring.members().keys().copied().collect();
        let leaving = nodes[leaver.index(nodes.len())];
        if let Ok(shrunk) = ring.leave(leaving) {
            shrunk.check_invariants().unwrap();
            check_preference_lists(&shrunk);
            prop_assert_eq!(ring.moves(&shrunk).len(), minimal_moves(&ring, &shrunk));
            prop_assert!(ring.moves(&shrunk).iter().all(|m| m.from == leaving || ring.owned_counts()[&m.from] > shrunk.owned_counts()[&m.from]));
        }
    }

    #[test]
    fn replica_changes_name_exactly_the_changed_homes(config in config(), members in members()) {
        let Ok(ring) = Ring::new(config, members) else { return Ok(()) };
        let Ok(grown) = ring.join(member(100, 1, None)) else { return Ok(()) };
        let n = ring.config().replication_factor;
        let changes: BTreeMap<PartitionId, _> = ring.replica_changes(&grown, n).into_iter().map(|c| (c.partition, c)).collect();
        for p in (0..ring.partitions()).map(PartitionId) {
            let (old, new) = (ring.home_replicas(p, n), grown.home_replicas(p, n));
            match changes.get(&p) {
                None => prop_assert_eq!(old.iter().collect::<BTreeSet<_>>(), new.iter().collect::<BTreeSet<_>>()),
                Some(change) => {
                    for added in &change.added { prop_assert!(new.contains(added) && !old.contains(added)); }
                    for removed in &change.removed { prop_assert!(old.contains(removed) && !new.contains(removed)); }
                }
            }
        }
    }
}

#[test]
fn equal_nodes_never_follow_themselves() {
    // With at least N nodes of equal weight, no node owns two partitions within N of
    // each other, so every window of N consecutive owners is N distinct nodes, except
    // where the ring wraps: a perfect cycle needs the node count to divide the
    // partition count (1024 mod 3 = 1), and the greedy claim does not look ahead.
    for nodes in 3..=8u32 {
        let members: Vec<RingMember> = (1..=nodes).map(|i| member(i, 1, None)).collect();
        let ring = Ring::new(
            RingConfig {
                partitions: 1024,
                replication_factor: 3,
            },
            members,
        )
        .unwrap();
        let owners = ring.owners();
        let close =
            |i: usize| owners[i] == owners[(i + 1) % 1024] || owners[i] == owners[(i + 2) % 1024];
        let violations: Vec<usize> = (0..owners.len()).filter(|i| close(*i)).collect();
        assert!(
            violations.iter().all(|i| *i >= 1024 - 3),
            "{nodes} nodes: {violations:?}"
        );
    }
}

#[test]
fn a_growing_cluster_keeps_shares_exact() {
    let mut ring = Ring::new(RingConfig::default(), vec![member(1, 1, None)]).unwrap();
    for node in 2..=64 {
        let next = ring.join(member(node, 1 + node % 3, None)).unwrap();
        next.check_invariants().unwrap();
        assert_eq!(
            ring.moves(&next).len(),
            minimal_moves(&ring, &next),
            "join of n{node}"
        );
        ring = next;
    }
    assert_eq!(ring.epoch(), 64);
}
