//! A node whose disk is lost for good restarts empty under the same id (issue 18: an
//! operator replaces a dead drive; issue 25: permanent loss of a node's data). Its
//! versions from before still live on the other replicas, so the dots it mints after
//! the restart must never repeat one of them: a repeated dot is taken for the same
//! event, and replicas keep one of the two values, silently dropping an acknowledged
//! write.
#![cfg(feature = "sim")]

mod common;

use common::{config, n, quiet};
use dynamo_core::clock::VersionVector;
use dynamo_core::message::Reply;
use dynamo_core::sim::{check, Sim};

#[test]
fn writes_through_a_node_restarted_with_an_empty_disk_are_not_lost() {
    for seed in 0..8u64 {
        println!("seed {seed}");
        let mut sim = Sim::new(seed, 3, config());
        // Versions minted by node 1 before its disk dies; "a" sorts first, so a
        // repeated dot keeps the old value and drops the new one.
        for key in [b"k1".as_slice(), b"k2", b"k3"] {
            let put = sim.put(n(1), key, VersionVector::new(), Some(b"a-old".to_vec()));
            quiet(&mut sim);
            assert!(matches!(sim.reply(put), Some(Reply::Put { .. })));
        }
        sim.wipe(n(1));
        quiet(&mut sim);
        for key in [b"k1".as_slice(), b"k2", b"k3"] {
            let put = sim.put(n(1), key, VersionVector::new(), Some(b"z-new".to_vec()));
            quiet(&mut sim);
            assert!(
                matches!(sim.reply(put), Some(Reply::Put { .. })),
                "seed {seed}: {:?}",
                sim.reply(put)
            );
        }
        sim.run_for(5_000);
        quiet(&mut sim);
        let violations = check(&sim);
        assert!(
            violations.is_empty(),
            "seed {seed}: {violations:#?}\nreplay: cargo test -p dynamo-core --all-features --test sim_wipe"
        );
    }
}
