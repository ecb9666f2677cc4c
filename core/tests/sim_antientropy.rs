//! Anti-entropy at sizes past one message (Dynamo §4.7; issue 25): a replica that
//! missed thousands of writes is brought back by Merkle exchanges alone, whatever the
//! number of keys under the differing leaves.
#![cfg(feature = "sim")]

mod common;

use common::{config, n, quiet};
use dynamo_core::clock::VersionVector;
use dynamo_core::message::Reply;
use dynamo_core::sim::{check, Sim};

/// 4 partitions of ~750 keys each over 256 leaves: about 3 keys a leaf, far more than
/// the 8 entries one anti-entropy message may carry. Before paging, each exchange
/// resent the same first 8 keys of the differing leaves and the rest never arrived.
#[test]
fn anti_entropy_alone_repairs_a_replica_that_missed_thousands_of_keys() {
    let mut settings = config();
    settings.ring.partitions = 4;
    settings.anti_entropy_keys_max = 8;
    let mut sim = Sim::new(25, 3, settings);
    quiet(&mut sim);
    sim.isolate(n(3));
    let keys: Vec<Vec<u8>> = (0..3000).map(|i| format!("key-{i}").into_bytes()).collect();
    for (i, key) in keys.iter().enumerate() {
        let via = n(1 + (i % 2) as u32);
        let put = sim.put(via, key, VersionVector::new(), Some(b"v".to_vec()));
        sim.run_for(5);
        if i % 500 == 0 {
            quiet(&mut sim);
            assert!(
                matches!(sim.reply(put), Some(Reply::Put { .. })),
                "{:?}",
                sim.reply(put)
            );
        }
    }
    quiet(&mut sim);
    let missing_before = keys
        .iter()
        .filter(|key| sim.stored(n(3), key).is_none())
        .count();
    assert_eq!(
        missing_before,
        keys.len(),
        "n3 was cut off from every write"
    );
    sim.heal();
    // No reads: only anti-entropy (every 150 ms per node) can repair n3.
    sim.run_for(120_000);
    let missing: Vec<&Vec<u8>> = keys
        .iter()
        .filter(|key| sim.stored(n(3), key).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} keys never reached n3 by anti-entropy",
        missing.len(),
        keys.len()
    );
    assert!(check(&sim).is_empty(), "{:?}", check(&sim));
}

/// Pages are bounded in bytes too: 12 values of 1 MiB under the differing leaves of
/// one inner tree node go over in pages of at most `TRANSFER_CHUNK_BYTES_MAX` (plus
/// one entry), not in one 12 MiB message, and all arrive.
#[test]
fn anti_entropy_pages_large_values_by_bytes() {
    use dynamo_core::message::Message;
    use dynamo_core::transfer::TRANSFER_CHUNK_BYTES_MAX;
    let mut settings = config();
    settings.ring.partitions = 4;
    let mut sim = Sim::new(26, 3, settings);
    quiet(&mut sim);
    sim.isolate(n(3));
    let value = vec![7u8; dynamo_core::types::limits::VALUE_BYTES_MAX];
    // 12 keys of one partition under one inner tree node: one leaf-level exchange.
    let inner = |key: &[u8]| dynamo_core::merkle::leaf_of(key).0 / 16;
    let keys: Vec<Vec<u8>> = (0..100_000)
        .map(|i| format!("big-{i}").into_bytes())
        .filter(|key| dynamo_core::hash::partition_of_key(key, 4).0 == 0 && inner(key) == 0)
        .take(12)
        .collect();
    assert_eq!(keys.len(), 12);
    for key in &keys {
        sim.put(n(1), key, VersionVector::new(), Some(value.clone()));
        quiet(&mut sim);
    }
    sim.heal();
    let mut largest = 0usize;
    for _ in 0..200_000 {
        for flight in sim.in_flight() {
            if let Message::TreeSync { entries, .. } = flight.message {
                let bytes: usize = entries
                    .iter()
                    .map(|(_, s)| s.values().map(<[u8]>::len).sum::<usize>())
                    .sum();
                largest = largest.max(bytes);
            }
        }
        if keys.iter().all(|key| sim.stored(n(3), key).is_some()) {
            break;
        }
        sim.step();
    }
    assert!(
        keys.iter().all(|key| sim.stored(n(3), key).is_some()),
        "every value repaired"
    );
    assert!(largest > 0, "anti-entropy carried the values");
    assert!(
        largest <= TRANSFER_CHUNK_BYTES_MAX + value.len(),
        "a page carried {largest} bytes of values"
    );
}

/// Every partition of a node is compared within `anti_entropy_period_ms` (issue 25
/// finding 2): 64 partitions, a round every 150 ms, a period of 1.5 s. At one
/// partition a round (before) a node took 64 rounds, 9.6 s, to visit them all.
#[test]
fn every_partition_is_compared_within_the_anti_entropy_period() {
    let mut settings = config();
    settings.ring.partitions = 64;
    settings.anti_entropy_period_ms = 1_500;
    let mut sim = Sim::new(27, 3, settings);
    quiet(&mut sim);
    // One key in each partition, written while n3 is cut off.
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut covered = std::collections::BTreeSet::new();
    for i in 0..100_000 {
        let key = format!("p-{i}").into_bytes();
        if covered.insert(dynamo_core::hash::partition_of_key(&key, 64).0) {
            keys.push(key);
        }
        if covered.len() == 64 {
            break;
        }
    }
    sim.isolate(n(3));
    for key in &keys {
        sim.put(n(1), key, VersionVector::new(), Some(b"v".to_vec()));
        sim.run_for(5);
    }
    quiet(&mut sim);
    sim.heal();
    // Two periods: one for every exchange to start, one for slack (timeouts of the
    // suspected n3 clear at its first answer).
    sim.run_for(3_000);
    let missing = keys
        .iter()
        .filter(|key| sim.stored(n(3), key).is_none())
        .count();
    assert_eq!(
        missing, 0,
        "{missing} of 64 partitions not compared in time"
    );
}
