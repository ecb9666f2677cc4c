//! Protocol tests on a simulated cluster of real nodes (Dynamo §4.4-§4.9).
#![cfg(feature = "sim")]

mod common;

use common::{config, expect_changed, n, quiet};

use dynamo_core::clock::VersionVector;
use dynamo_core::message::{Failure, Reply};
use dynamo_core::sim::{check, Faults, Sim};
use dynamo_core::store::Store;

fn got(sim: &Sim, index: usize) -> Vec<Vec<u8>> {
    match sim.reply(index) {
        Some(Reply::Got { siblings }) => siblings.values().map(<[u8]>::to_vec).collect(),
        other => panic!("expected a get reply, got {other:?}"),
    }
}

fn context_of(sim: &Sim, index: usize) -> VersionVector {
    match sim.reply(index) {
        Some(Reply::Got { siblings }) => siblings.clock().clone(),
        Some(Reply::Put { context, .. }) => context.clone(),
        other => panic!("expected a reply with a context, got {other:?}"),
    }
}

#[test]
fn a_put_on_one_node_is_read_on_another_4_5() {
    let mut sim = Sim::new(1, 3, config());
    let put = sim.put(n(1), b"cart", VersionVector::new(), Some(b"book".to_vec()));
    quiet(&mut sim);
    assert!(
        matches!(sim.reply(put), Some(Reply::Put { .. })),
        "{:?}",
        sim.reply(put)
    );
    let get = sim.get(n(3), b"cart");
    quiet(&mut sim);
    assert_eq!(got(&sim, get), vec![b"book".to_vec()]);
    assert!(check(&sim).is_empty(), "{:?}", check(&sim));
}

#[test]
fn concurrent_puts_become_siblings_and_a_merged_put_resolves_them_4_4() {
    let mut sim = Sim::new(2, 3, config());
    let first = sim.put(n(1), b"cart", VersionVector::new(), Some(b"v1".to_vec()));
    quiet(&mut sim);
    let context = context_of(&sim, first);
    sim.put(n(2), b"cart", context.clone(), Some(b"left".to_vec()));
    sim.put(n(3), b"cart", context, Some(b"right".to_vec()));
    quiet(&mut sim);
    let read = sim.get(n(1), b"cart");
    quiet(&mut sim);
    let mut values = got(&sim, read);
    values.sort();
    assert_eq!(values, vec![b"left".to_vec(), b"right".to_vec()]);
    let merged = sim.put(
        n(1),
        b"cart",
        context_of(&sim, read),
        Some(b"both".to_vec()),
    );
    quiet(&mut sim);
    assert!(matches!(sim.reply(merged), Some(Reply::Put { .. })));
    let after = sim.get(n(2), b"cart");
    quiet(&mut sim);
    assert_eq!(got(&sim, after), vec![b"both".to_vec()]);
}

#[test]
fn a_down_home_gets_its_replica_through_a_hint_when_it_recovers_4_6() {
    // N=3 over 5 nodes: when a home is down, a fallback takes the write with a hint.
    let mut sim = Sim::new(3, 5, config());
    let homes = sim.homes(b"cart");
    let (down, coordinator) = (homes[2], homes[0]);
    sim.crash(down);
    // The first put succeeds on two homes; at its timeout the silent home is suspected ...
    sim.put(
        coordinator,
        b"cart",
        VersionVector::new(),
        Some(b"v1".to_vec()),
    );
    quiet(&mut sim);
    sim.run_for(150);
    assert!(sim.node(coordinator).unwrap().suspected().contains(&down));
    // ... the next one goes to a fallback with a hint for it.
    let put = sim.put(
        coordinator,
        b"cart",
        VersionVector::new(),
        Some(b"v2".to_vec()),
    );
    quiet(&mut sim);
    assert!(
        matches!(sim.reply(put), Some(Reply::Put { .. })),
        "{:?}",
        sim.reply(put)
    );
    assert!(
        !sim.hinted(b"cart").is_empty(),
        "a fallback holds a hint for the down home"
    );
    assert!(sim.stored(down, b"cart").is_none());
    sim.restart(down);
    sim.run_for(3_000);
    let stored = sim
        .stored(down, b"cart")
        .expect("the hint reached the recovered home");
    assert!(stored.values().any(|v| v == b"v2"));
    assert!(
        sim.hinted(b"cart").is_empty(),
        "the delivered hint is deleted"
    );
    let delivered: u64 = sim
        .node_ids()
        .iter()
        .filter_map(|id| sim.node(*id))
        .map(|node| node.stats().hints_delivered)
        .sum();
    assert!(delivered >= 1);
}

#[test]
fn a_get_repairs_a_stale_replica_4_5() {
    let mut config = config();
    config.anti_entropy_interval_ms = 1_000_000; // only read repair may fix it
    let mut sim = Sim::new(4, 3, config);
    let homes = sim.homes(b"cart");
    sim.isolate(homes[2]);
    let put = sim.put(
        homes[0],
        b"cart",
        VersionVector::new(),
        Some(b"v1".to_vec()),
    );
    quiet(&mut sim);
    assert!(matches!(sim.reply(put), Some(Reply::Put { .. })));
    assert!(sim.stored(homes[2], b"cart").is_none());
    sim.heal();
    sim.run_for(1_000); // probes clear the suspicion
    let get = sim.get(homes[1], b"cart");
    quiet(&mut sim);
    assert_eq!(got(&sim, get), vec![b"v1".to_vec()]);
    assert!(
        sim.stored(homes[2], b"cart").is_some(),
        "read repair wrote the stale home"
    );
    assert!(sim.node(homes[1]).unwrap().stats().read_repairs >= 1);
}

#[test]
fn anti_entropy_brings_a_replica_that_missed_writes_up_to_date_4_7() {
    let mut sim = Sim::new(5, 3, config());
    let homes = sim.homes(b"k");
    sim.isolate(homes[2]);
    for i in 0..20u8 {
        sim.put(homes[0], &[b'k', i], VersionVector::new(), Some(vec![i]));
    }
    quiet(&mut sim);
    sim.heal();
    sim.run_for(10_000);
    let repaired: u64 = sim
        .node_ids()
        .iter()
        .filter_map(|id| sim.node(*id))
        .map(|node| node.stats().anti_entropy_keys_repaired)
        .sum();
    assert!(repaired >= 1);
    assert!(check(&sim).is_empty(), "{:?}", check(&sim));
}

#[test]
fn a_quorum_out_of_reach_fails_with_the_numbers_4_5() {
    let mut sim = Sim::new(6, 3, config());
    sim.crash(n(2));
    sim.crash(n(3));
    let first = sim.put(n(1), b"cart", VersionVector::new(), Some(b"v".to_vec()));
    quiet(&mut sim);
    assert_eq!(
        sim.reply(first),
        Some(&Reply::Failed(Failure::Timeout {
            needed: 2,
            received: 1
        }))
    );
    let second = sim.put(n(1), b"cart", VersionVector::new(), Some(b"v".to_vec()));
    quiet(&mut sim);
    let failure = Reply::Failed(Failure::QuorumNotReached {
        needed: 2,
        received: 1,
    });
    assert_eq!(sim.reply(second), Some(&failure));
    assert_eq!(
        failure_text(&failure),
        "quorum not reached: needed 2, got 1"
    );
}

fn failure_text(reply: &Reply) -> String {
    match reply {
        Reply::Failed(failure) => failure.to_string(),
        _ => String::new(),
    }
}

#[test]
fn a_joined_node_receives_its_partitions_and_every_write_survives_4_9() {
    let mut sim = Sim::new(7, 3, config());
    for i in 0..40u8 {
        sim.put(
            n(1 + u32::from(i % 3)),
            &[b'j', i],
            VersionVector::new(),
            Some(vec![b'a', i]),
        );
    }
    quiet(&mut sim);
    sim.add_node(n(4), vec![n(1)]);
    sim.run_for(1_000);
    let join = sim.join(n(1), n(4));
    expect_changed(&mut sim, join, 2);
    for i in 0..40u8 {
        sim.put(
            n(1 + u32::from(i % 4)),
            &[b'w', i],
            VersionVector::new(),
            Some(vec![b'b', i]),
        );
    }
    sim.run_for(10_000);
    let node = sim.node(n(4)).unwrap();
    assert!(node.stats().transfer_keys_received > 0);
    let ring = node.membership().ring().unwrap().clone();
    assert_eq!(ring.epoch(), 2);
    for i in 0..40u8 {
        let get = sim.get(n(4), &[b'j', i]);
        quiet(&mut sim);
        assert_eq!(got(&sim, get), vec![vec![b'a', i]]);
    }
    let leave = sim.leave(n(2), n(1));
    expect_changed(&mut sim, leave, 3);
    sim.run_for(10_000);
    assert!(
        sim.node(n(1))
            .unwrap()
            .store()
            .partitions()
            .unwrap()
            .is_empty(),
        "the leaver handed everything off"
    );
    let violations = check(&sim);
    assert!(violations.is_empty(), "{violations:?}");
}

#[test]
fn a_lossy_duplicating_network_loses_no_acknowledged_write() {
    let mut sim = Sim::new(8, 4, config());
    sim.set_faults(Faults {
        loss_ppm: 100_000,
        duplicate_ppm: 100_000,
        delay_min_ms: 1,
        delay_max_ms: 30,
    });
    for i in 0..30u8 {
        sim.put(
            n(1 + u32::from(i % 4)),
            &[b'l', i % 5],
            VersionVector::new(),
            Some(vec![i]),
        );
        sim.run_for(20);
    }
    quiet(&mut sim);
    sim.heal();
    sim.run_for(15_000);
    let violations = check(&sim);
    assert!(violations.is_empty(), "{violations:?}");
}

#[test]
fn observers_see_the_write_fan_out_and_each_delivery() {
    use dynamo_core::message::Message;
    use dynamo_core::sim::Event;
    let mut sim = Sim::new(2, 3, config());
    let key = b"cart";
    let coordinator = sim.homes(key)[0];
    sim.put(
        coordinator,
        key,
        VersionVector::new(),
        Some(b"book".to_vec()),
    );
    // The put is a client input: it runs at once, and the writes to the other two
    // homes are on the wire.
    let writes: Vec<_> = sim
        .in_flight()
        .filter(|m| matches!(m.message, Message::Write { .. }))
        .map(|m| (m.from, m.to))
        .collect();
    let others: Vec<_> = sim.homes(key)[1..]
        .iter()
        .map(|home| (coordinator, *home))
        .collect();
    assert_eq!(writes, others, "one write to each other home replica");
    let mut delivered = 0;
    while sim.step() {
        if let Some((Event::Deliver { message, to, .. }, reached)) = sim.last_event() {
            if matches!(message, Message::Write { .. }) {
                assert!(reached && others.iter().any(|(_, home)| home == to));
                delivered += 1;
            }
        }
        if sim.in_flight().next().is_none() && delivered == 2 {
            break;
        }
    }
    assert_eq!(delivered, 2);
}

/// A set reads a quorum and writes over every version it saw, in one request: it
/// resolves siblings it was never shown, like a client's read then put with context.
#[test]
fn a_set_supersedes_the_siblings_its_read_quorum_returns() {
    let mut sim = Sim::new(7, 3, config());
    sim.put(n(1), b"cart", VersionVector::new(), Some(b"left".to_vec()));
    sim.put(n(2), b"cart", VersionVector::new(), Some(b"right".to_vec()));
    quiet(&mut sim);
    let before = sim.get(n(3), b"cart");
    quiet(&mut sim);
    assert_eq!(got(&sim, before).len(), 2, "blind puts made siblings");
    let set = sim.set(n(3), b"cart", Some(b"both".to_vec()));
    quiet(&mut sim);
    let context = context_of(&sim, set);
    assert!(
        context.descends(&context_of(&sim, before)),
        "the set's version covers what its read saw"
    );
    for via in 1..=3 {
        let after = sim.get(n(via), b"cart");
        quiet(&mut sim);
        assert_eq!(got(&sim, after), vec![b"both".to_vec()], "through n{via}");
    }
    let delete = sim.set(n(1), b"cart", None);
    quiet(&mut sim);
    assert!(matches!(sim.reply(delete), Some(Reply::Put { .. })));
    let gone = sim.get(n(2), b"cart");
    quiet(&mut sim);
    assert!(got(&sim, gone).is_empty(), "a set of None deletes");
    assert!(check(&sim).is_empty(), "{:?}", check(&sim));
}

/// A delete is one request: it supersedes what its read quorum saw with a tombstone and
/// says whether there was a live value; over nothing it writes nothing (Redis `DEL`).
#[test]
fn a_delete_says_whether_a_value_existed_and_writes_only_over_one() {
    let mut sim = Sim::new(11, 4, config());
    let missing = sim.delete(n(1), b"cart");
    quiet(&mut sim);
    assert_eq!(sim.reply(missing), Some(&Reply::Deleted { existed: false }));
    for node in sim.node_ids() {
        assert!(
            sim.stored(node, b"cart").is_none(),
            "nothing written on {node}"
        );
    }
    sim.set(n(2), b"cart", Some(b"book".to_vec()));
    quiet(&mut sim);
    // Through every node, homes and not: a non-home forwards the write to a home.
    let outside = (1..=4)
        .map(n)
        .find(|node| !sim.homes(b"cart").contains(node))
        .expect("4 nodes, 3 homes");
    let existed = sim.delete(outside, b"cart");
    quiet(&mut sim);
    assert_eq!(sim.reply(existed), Some(&Reply::Deleted { existed: true }));
    let gone = sim.get(n(3), b"cart");
    quiet(&mut sim);
    assert!(
        got(&sim, gone).is_empty(),
        "the delete superseded the value"
    );
    let again = sim.delete(n(4), b"cart");
    quiet(&mut sim);
    assert_eq!(sim.reply(again), Some(&Reply::Deleted { existed: false }));
    assert!(check(&sim).is_empty(), "{:?}", check(&sim));
}

/// A forwarded put whose home never answers times out with the put's real quorum
/// numbers (issue 19: it said `needed 1, got 0` whatever W was).
#[test]
fn a_forwarded_put_that_times_out_reports_its_write_quorum() {
    let mut sim = Sim::new(12, 4, config());
    quiet(&mut sim);
    let homes = sim.homes(b"cart");
    let outside = (1..=4)
        .map(n)
        .find(|node| !homes.contains(node))
        .expect("a non-home");
    // Every home is reachable as far as the forwarder knows, but its messages vanish.
    for home in &homes {
        sim.partition(outside, *home);
    }
    let put = sim.put(
        outside,
        b"cart",
        VersionVector::new(),
        Some(b"book".to_vec()),
    );
    sim.run_for(5_000);
    assert_eq!(
        sim.reply(put),
        Some(&Reply::Failed(Failure::Timeout {
            needed: 2,
            received: 0
        }))
    );
}

/// With one replica, a set is read and written locally in the step that receives it:
/// no message, no second request.
#[test]
fn a_set_on_a_single_replica_is_answered_in_one_step() {
    let mut single = config();
    single.ring.replication_factor = 1;
    single.read_quorum = 1;
    single.write_quorum = 1;
    let mut sim = Sim::new(8, 1, single);
    quiet(&mut sim);
    let first = sim.set(n(1), b"k", Some(b"one".to_vec()));
    assert!(matches!(sim.reply(first), Some(Reply::Put { .. })));
    let second = sim.set(n(1), b"k", Some(b"two".to_vec()));
    assert!(matches!(sim.reply(second), Some(Reply::Put { .. })));
    let read = sim.get(n(1), b"k");
    assert_eq!(got(&sim, read), vec![b"two".to_vec()]);
}

/// A set whose value is over the limit is refused before anything is read.
#[test]
fn an_oversized_set_is_refused_with_the_sizes() {
    let mut sim = Sim::new(9, 3, config());
    let big = vec![0u8; dynamo_core::types::limits::VALUE_BYTES_MAX + 1];
    let set = sim.set(n(1), b"k", Some(big));
    let text = failure_text(sim.reply(set).expect("refused at once"));
    assert!(text.contains("more than"), "{text}");
    assert_eq!(sim.in_flight().count(), 0, "nothing was sent");
}
