//! The core's cost per client operation, for before/after comparisons of a change:
//! 3 simulated nodes (N=3, R=W=2), `OPS` sets then `OPS` gets of distinct keys, each
//! run to quiet. Run it under `valgrind --tool=callgrind` and compare instruction
//! counts (repeatable on a busy machine, unlike time):
//!
//! ```sh
//! cargo build --release -p dynamo-core --features sim --example step_cost
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/step_cost
//! ```
use dynamo_core::node::NodeConfig;
use dynamo_core::sim::Sim;
use dynamo_core::types::NodeId;

const OPS: usize = 2_000;

fn main() {
    let config = NodeConfig {
        request_timeout_ms: 100,
        ..NodeConfig::default()
    };
    let mut sim = Sim::new(1, 3, config);
    sim.run_until_quiet(1_000_000).expect("quiet");
    for i in 0..OPS {
        let node = NodeId(1 + (i % 3) as u32);
        sim.set(node, format!("key-{i}").as_bytes(), Some(vec![7; 100]));
        sim.run_until_quiet(1_000_000).expect("quiet");
    }
    for i in 0..OPS {
        let node = NodeId(1 + (i % 3) as u32);
        sim.get(node, format!("key-{i}").as_bytes());
        sim.run_until_quiet(1_000_000).expect("quiet");
    }
    let answered = (0..2 * OPS).filter(|i| sim.reply(*i).is_some()).count();
    println!("{answered} of {} operations answered", 2 * OPS);
}
