//! A node that is gone for good is removed (issue 18, finding 1; Riak's force-remove):
//! its partitions are re-sourced from surviving replicas, every key is back to N copies
//! on the new homes, hints held for it drain, and a later join is not blocked.
#![cfg(feature = "sim")]

mod common;

use common::{config, n, quiet};
use dynamo_core::clock::VersionVector;
use dynamo_core::message::Reply;
use dynamo_core::sim::{check, Sim};
use dynamo_core::types::NodeId;

fn transfers_running(sim: &Sim) -> usize {
    let up = sim.node_ids().into_iter().filter(|id| sim.is_up(*id));
    up.filter_map(|id| sim.node(id))
        .map(|node| node.transfers().iter().filter(|t| !t.done).count())
        .sum()
}

fn hints_held(sim: &Sim) -> usize {
    let up = sim.node_ids().into_iter().filter(|id| sim.is_up(*id));
    up.filter_map(|id| sim.node(id))
        .map(|node| node.hint_bytes().len())
        .sum()
}

#[test]
fn a_dead_node_is_removed_its_data_re_sourced_and_a_later_join_works() {
    for seed in 0..4u64 {
        println!("seed {seed}");
        let mut sim = Sim::new(seed, 4, config());
        let keys: Vec<Vec<u8>> = (0..40).map(|i| format!("key-{i}").into_bytes()).collect();
        for key in &keys {
            sim.put(n(1), key, VersionVector::new(), Some(key.clone()));
        }
        quiet(&mut sim);
        sim.crash(n(4)); // gone for good: never restarted
                         // Writes while it is down leave hints for it.
        for key in &keys[..10] {
            sim.put(n(2), key, VersionVector::new(), Some(b"later".to_vec()));
        }
        sim.run_for(3_000);
        let removed = sim.remove(n(2), n(4));
        sim.run_for(20_000);
        assert!(
            matches!(sim.reply(removed), Some(Reply::Changed { .. })),
            "seed {seed}: {:?}",
            sim.reply(removed)
        );
        assert_eq!(
            transfers_running(&sim),
            0,
            "seed {seed}: re-sourcing completed"
        );
        assert_eq!(
            hints_held(&sim),
            0,
            "seed {seed}: hints for the dead node drained"
        );
        for key in &keys {
            let homes = sim.homes(key);
            assert!(!homes.contains(&n(4)), "seed {seed}");
            for home in homes {
                assert!(
                    sim.stored(home, key).is_some(),
                    "seed {seed}: {home} holds {key:?}"
                );
            }
        }
        sim.add_node(NodeId(5), vec![n(1)]);
        sim.run_for(2_000);
        let join = sim.join(n(3), n(5));
        sim.run_for(20_000);
        assert!(
            matches!(sim.reply(join), Some(Reply::Changed { .. })),
            "seed {seed}: a join after the removal: {:?}",
            sim.reply(join)
        );
        assert_eq!(
            transfers_running(&sim),
            0,
            "seed {seed}: the join completed"
        );
        quiet(&mut sim);
        let violations = check(&sim);
        assert!(violations.is_empty(), "seed {seed}: {violations:#?}");
    }
}
