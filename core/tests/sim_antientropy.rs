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
