//! A cluster's whole life (issue 18): what the first week never shows.
#![cfg(feature = "sim")]

mod common;

use common::{config, n, quiet};
use dynamo_core::message::Reply;
use dynamo_core::sim::{check, Sim};

/// Bounded causality across restarts: a node keeps its version-vector actor over a
/// restart (a persisted lease of dot counters keeps its dots fresh), so a key written
/// through it after each of 2,000 restarts keeps a clock of one entry per writer and
/// stays writable. Before, every start took a new actor, and after 1,024 restarts the
/// key refused puts with `ClockTooLarge`.
#[test]
fn a_key_written_across_2000_restarts_keeps_a_bounded_clock() {
    let mut sim = Sim::new(18, 3, config());
    quiet(&mut sim);
    for round in 0..2_000 {
        sim.crash(n(1));
        sim.restart(n(1));
        let set = sim.set(n(1), b"cart", Some(format!("v{round}").into_bytes()));
        quiet(&mut sim);
        assert!(
            matches!(sim.reply(set), Some(Reply::Put { .. })),
            "round {round}: {:?}",
            sim.reply(set)
        );
    }
    let stored = sim.stored(n(1), b"cart").expect("n1 holds the key");
    let entries = stored.clock().iter().count();
    assert!(entries <= 3, "{entries} clock entries for 3 writers");
    assert!(check(&sim).is_empty(), "{:?}", check(&sim));
}
