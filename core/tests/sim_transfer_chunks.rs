//! Partition transfer chunks stop at their byte budget (Dynamo §4.9; `transfer.rs`).
//!
//! A chunk carries at most `TRANSFER_CHUNK_BYTES_MAX` (8 MiB) by the transfer's
//! accounting — each entry counts its key, its values and 64 bytes per sibling — and
//! always at least one entry, however large, so a stream always progresses. Here a
//! joined node receives a partition whose first eight entries fill the budget exactly,
//! followed by two small entries and one entry larger than the budget (nine siblings
//! of about a megabyte): the chunks must carry 8, then 2, then 1 entries.
//!
//! Kills the mutants of the budget constant (`8 * 1024 * 1024` with `+` or `/`) and
//! of `within_bytes`: its comparisons (`used > budget`, `index > 0`, `&&`) and its
//! accounting (`key + values + 64 * siblings` with `-`, `*` or `/`).
#![cfg(feature = "sim")]

mod common;

use common::{config, expect_changed, n, quiet};
use dynamo_core::clock::VersionVector;
use dynamo_core::message::Message;
use dynamo_core::ring::{Ring, RingMember};
use dynamo_core::sim::{check, Sim};
use dynamo_core::types::PartitionId;
use std::collections::BTreeMap;

/// `TRANSFER_CHUNK_BYTES_MAX`.
const BUDGET: usize = 8 * 1024 * 1024;
/// What the accounting adds per sibling.
const PER_SIBLING: usize = 64;

/// A partition that moves to node 4 when it joins, and `count` keys of it, in order.
fn moving_partition_keys(ring: &Ring, count: usize) -> (PartitionId, Vec<Vec<u8>>) {
    let joined = ring
        .join(RingMember {
            node: n(4),
            weight: 1,
            zone: None,
        })
        .expect("node 4 joins");
    let moving = ring
        .replica_changes(&joined, 3)
        .into_iter()
        .find(|change| change.added.contains(&n(4)))
        .expect("node 4 receives some partition")
        .partition;
    let mut keys: Vec<Vec<u8>> = (0u32..)
        .map(|i| format!("c{i:04}").into_bytes())
        .filter(|key| ring.partition_of_key(key) == moving)
        .take(count)
        .collect();
    keys.sort();
    (moving, keys)
}

#[test]
fn chunks_carry_what_fits_in_their_byte_budget_and_an_oversized_entry_alone() {
    let mut sim = Sim::new(41, 3, config());
    sim.run_for(500);
    let ring = sim.node(n(1)).unwrap().membership().ring().unwrap().clone();
    let (partition, keys) = moving_partition_keys(&ring, 11);
    let key_len = keys[0].len();
    let blind = VersionVector::new;
    // Eight entries of two siblings each that fill the budget exactly.
    let values = BUDGET / 8 - key_len - 2 * PER_SIBLING;
    for key in &keys[..8] {
        sim.put(n(1), key, blind(), Some(vec![1; values / 2]));
        sim.put(n(2), key, blind(), Some(vec![2; values - values / 2]));
        quiet(&mut sim);
    }
    // Two small entries: either would still fit if the accounting counted less.
    for key in &keys[8..10] {
        sim.put(n(1), key, blind(), Some(vec![3; 10]));
    }
    // One entry over the budget by itself: nine siblings of about a megabyte.
    for sibling in 0..9u8 {
        sim.put(
            n(1 + u32::from(sibling % 3)),
            &keys[10],
            blind(),
            Some(vec![sibling; 1_000_000]),
        );
        quiet(&mut sim);
    }
    quiet(&mut sim);
    for key in &keys[..8] {
        assert_eq!(sim.stored(n(3), key).unwrap().len(), 2, "two siblings");
    }
    assert_eq!(
        sim.stored(n(3), &keys[10]).unwrap().len(),
        9,
        "nine siblings"
    );

    sim.add_node(n(4), vec![n(1)]);
    sim.run_for(1_000);
    let join = sim.join(n(1), n(4));
    expect_changed(&mut sim, join, 2);
    // Every chunk of the partition sent to node 4, by request id (no resends: the
    // network loses nothing).
    let mut chunks: BTreeMap<u64, usize> = BTreeMap::new();
    for _ in 0..200_000 {
        for sent in sim.in_flight() {
            if let Message::Transfer {
                request,
                partition: p,
                entries,
                ..
            } = sent.message
            {
                if sent.to == n(4) && *p == partition {
                    chunks.insert(*request, entries.len());
                }
            }
        }
        let done = sim.node(n(1)).unwrap().transfers().iter().all(|t| t.done);
        if done || !sim.step() {
            break;
        }
    }
    let sizes: Vec<usize> = chunks.into_values().collect();
    assert_eq!(sizes, vec![8, 2, 1], "entries per chunk");
    sim.run_for(2_000);
    for key in &keys {
        assert!(
            sim.stored(n(4), key).is_some(),
            "every entry reached node 4"
        );
    }
    assert!(check(&sim).is_empty(), "{:?}", check(&sim));
}
