//! Load balance of the paper's strategy 1 (random tokens per node) against strategy 3
//! (equal partitions, our claim), as in Dynamo §6.2, Figure 8.
//!
//! Efficiency is the mean replica load over the hottest node's load (1.0 is perfect).
//! Strategy 1 is averaged over 10 token seeds; strategy 3 is deterministic.
//!
//! Run: `cargo run --release -p dynamo-core --example load_balance`

use dynamo_core::ring::{load_balance_efficiency, Ring, RingConfig, RingMember, TokenRing};
use dynamo_core::types::NodeId;

const SEEDS: u64 = 10;
const N: usize = 3;

fn members(nodes: u32) -> Vec<RingMember> {
    (1..=nodes)
        .map(|node| RingMember {
            node: NodeId(node),
            weight: 1,
            zone: None,
        })
        .collect()
}

fn strategy_1(nodes: u32, tokens: u32) -> f64 {
    let total: f64 = (1..=SEEDS)
        .map(|seed| {
            load_balance_efficiency(&TokenRing::new(&members(nodes), tokens, seed).replica_load(N))
        })
        .sum();
    total / SEEDS as f64
}

fn strategy_3(nodes: u32, partitions: u32) -> f64 {
    let ring = Ring::new(
        RingConfig {
            partitions,
            replication_factor: N,
        },
        members(nodes),
    )
    .expect("a valid ring");
    load_balance_efficiency(&ring.replica_load(N))
}

fn main() {
    println!("replication factor N = {N}; efficiency = mean load / max load");
    println!();
    println!("| nodes | strategy 1, 8 tokens/node | strategy 1, 64 tokens/node | strategy 3, 1024 partitions | strategy 3, 4096 partitions |");
    println!("|---:|---:|---:|---:|---:|");
    for nodes in [8, 32, 100, 128] {
        println!(
            "| {nodes} | {:.3} | {:.3} | {:.3} | {:.3} |",
            strategy_1(nodes, 8),
            strategy_1(nodes, 64),
            strategy_3(nodes, 1024),
            strategy_3(nodes, 4096)
        );
    }
}
