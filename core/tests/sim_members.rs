//! A simulated cluster of unequal members: weights (Dynamo §4.2, heterogeneity) and
//! zones (§4.3, replicas across failure domains), bootstrapped and joined.
#![cfg(feature = "sim")]

mod common;

use common::{config, expect_changed, n, quiet};

use dynamo_core::clock::VersionVector;
use dynamo_core::ring::Ring;
use dynamo_core::sim::{check, Sim, SimMember};
use dynamo_core::types::NodeId;
use std::collections::{BTreeMap, BTreeSet};

/// The ring as every running node sees it (they must agree).
fn ring(sim: &Sim) -> Ring {
    let rings: Vec<Ring> = sim
        .node_ids()
        .into_iter()
        .filter_map(|id| sim.node(id)?.membership().ring().cloned())
        .collect();
    assert!(
        rings.windows(2).all(|w| w[0] == w[1]),
        "every node has the same ring"
    );
    rings.into_iter().next().expect("a running node")
}

fn keys() -> impl Iterator<Item = Vec<u8>> {
    (0..300u32).map(|i| format!("key-{i}").into_bytes())
}

fn zone_of(sim: &Sim, node: NodeId) -> Option<String> {
    sim.member(node).expect("a node of the cluster").zone
}

#[test]
fn a_weight_2_member_owns_twice_the_partitions_of_a_weight_1_member_4_2() {
    let members = vec![
        SimMember::new(1, None),
        SimMember::new(1, None),
        SimMember::new(2, None),
    ];
    let sim = Sim::with_members(11, members, config());
    assert_eq!(sim.member(n(3)), Some(SimMember::new(2, None)));
    let ring = ring(&sim);
    let counts = ring.owned_counts();
    assert_eq!(counts, BTreeMap::from([(n(1), 4), (n(2), 4), (n(3), 8)]));
    ring.check_invariants().unwrap();
    // Keys follow partitions: n3 is the first home of about half of them.
    let first = keys()
        .filter(|key| sim.preference_list(key)[0] == n(3))
        .count();
    assert!((110..=190).contains(&first), "n3 first for {first} of 300");
}

#[test]
fn preference_lists_hold_one_home_per_zone_before_any_second_4_3() {
    let zones = ["a", "a", "b", "b", "c"];
    let members = zones.iter().map(|z| SimMember::new(1, Some(z))).collect();
    let mut sim = Sim::with_members(12, members, config());
    for key in keys() {
        let homes = sim.homes(&key);
        let list = sim.preference_list(&key);
        assert_eq!(list.len(), 5, "every member, once");
        assert_eq!(&list[..3], &homes[..], "homes lead the list");
        let home_zones: BTreeSet<Option<String>> =
            homes.iter().map(|h| zone_of(&sim, *h)).collect();
        assert_eq!(home_zones.len(), 3, "{key:?}: homes {homes:?} share a zone");
    }
    // Writes land on those homes as usual.
    for key in keys().take(20) {
        sim.put(n(1), &key, VersionVector::new(), Some(key.clone()));
    }
    quiet(&mut sim);
    let violations = check(&sim);
    assert!(violations.is_empty(), "{violations:?}");
}

#[test]
fn a_heavier_member_in_a_new_zone_joins_with_its_share_4_9() {
    let members = vec![
        SimMember::new(1, Some("a")),
        SimMember::new(1, Some("a")),
        SimMember::new(1, Some("b")),
    ];
    let mut sim = Sim::with_members(13, members, config());
    sim.add_member(n(4), vec![n(1)], SimMember::new(2, Some("c")));
    assert_eq!(sim.member(n(4)), Some(SimMember::new(2, Some("c"))));
    sim.run_for(1_000);
    let join = sim.join(n(1), n(4));
    expect_changed(&mut sim, join, 2);
    sim.run_for(5_000);
    let ring = ring(&sim);
    ring.check_invariants().unwrap();
    let counts = ring.owned_counts();
    // 16 partitions over weights 1+1+1+2: shares 3.2 and 6.4.
    assert!((6..=7).contains(&counts[&n(4)]), "{counts:?}");
    for node in [n(1), n(2), n(3)] {
        assert!((3..=4).contains(&counts[&node]), "{counts:?}");
    }
    let member = &ring.members()[&n(4)];
    assert_eq!((member.weight, member.zone.as_deref()), (2, Some("c")));
    for key in keys() {
        let zones: BTreeSet<Option<String>> =
            sim.homes(&key).iter().map(|h| zone_of(&sim, *h)).collect();
        assert_eq!(zones.len(), 3, "{key:?}: homes in zones a, b and c");
    }
}

#[test]
fn new_is_with_members_of_weight_1_and_no_zone() {
    let run = |mut sim: Sim| {
        for i in 0..10u8 {
            sim.put(
                n(1 + u32::from(i % 3)),
                &[i],
                VersionVector::new(),
                Some(vec![i]),
            );
        }
        sim.crash(n(2));
        sim.run_for(500);
        sim.restart(n(2));
        quiet(&mut sim);
        (sim.history().clone(), ring(&sim), sim.now_ms())
    };
    let plain = run(Sim::new(14, 3, config()));
    let members = vec![SimMember::default(); 3];
    let shaped = run(Sim::with_members(14, members, config()));
    assert_eq!(plain, shaped);
    let ring = plain.1;
    assert!(ring
        .members()
        .values()
        .all(|m| m.weight == 1 && m.zone.is_none()));
}
