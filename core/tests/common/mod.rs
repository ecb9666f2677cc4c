//! Settings and helpers shared by the simulated-cluster tests.
#![allow(dead_code)] // each test file uses part of it

pub mod net;

use dynamo_core::node::NodeConfig;
use dynamo_core::ring::RingConfig;
use dynamo_core::sim::Sim;
use dynamo_core::types::NodeId;

/// Small, fast settings: 16 partitions, N=3, R=W=2, short timers.
pub fn config() -> NodeConfig {
    NodeConfig {
        ring: RingConfig {
            partitions: 16,
            replication_factor: 3,
        },
        read_quorum: 2,
        write_quorum: 2,
        request_timeout_ms: 100,
        gossip_interval_ms: 200,
        anti_entropy_interval_ms: 150,
        handoff_interval_ms: 100,
        transfer_interval_ms: 50,
        ..NodeConfig::default()
    }
}

pub fn n(id: u32) -> NodeId {
    NodeId(id)
}

/// Run until no message or timer is pending (bounded).
pub fn quiet(sim: &mut Sim) {
    sim.run_until_quiet(100_000)
        .expect("the cluster goes quiet");
}

/// Run until quiet, then expect the membership change `request` to have been
/// accepted at ring epoch `epoch`.
pub fn expect_changed(sim: &mut Sim, request: usize, epoch: u64) {
    quiet(sim);
    assert!(
        matches!(sim.reply(request), Some(dynamo_core::message::Reply::Changed { epoch: e }) if *e == epoch),
        "{:?}",
        sim.reply(request)
    );
}
