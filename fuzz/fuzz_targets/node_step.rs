//! Hostile peers against a running node (issue 17): the fuzzer's bytes decode (postcard)
//! into a sequence of well-typed peer messages, hostile rings, views and sibling sets
//! included, each from a member or a stranger and followed by a background timer. The
//! node never panics and its invariants hold after every step (and in full, rebuilding
//! trees and recounting hints, at the end).
#![no_main]
use dynamo_core::message::{Input, Message, Timer};
use dynamo_core::node::{member, Node, NodeConfig};
use dynamo_core::ring::RingConfig;
use dynamo_core::store::{MemoryStore, Store};
use dynamo_core::types::NodeId;
use libfuzzer_sys::fuzz_target;

/// Messages per input: enough for a request and its replies, small enough to stay fast.
const STEPS_MAX: usize = 32;
const TIMERS: [Timer; 4] = [Timer::Gossip, Timer::AntiEntropy, Timer::Handoff, Timer::Transfer];

fn node() -> Node<MemoryStore> {
    let members: std::collections::BTreeMap<_, _> = (1..=4)
        .map(|id| (NodeId(id), member(&format!("peer-{id}"), 1)))
        .collect();
    let config = NodeConfig {
        ring: RingConfig {
            partitions: 8,
            replication_factor: 3,
        },
        me: members[&NodeId(1)].clone(),
        initial_members: members,
        ..NodeConfig::default()
    };
    let mut node = Node::new(NodeId(1), config, MemoryStore::default()).expect("node starts");
    node.store_mut().sync().expect("memory store syncs");
    node.start();
    node
}

fuzz_target!(|data: &[u8]| {
    let mut node = node();
    let mut rest = data;
    for _ in 0..STEPS_MAX {
        let Some((&head, tail)) = rest.split_first() else {
            break;
        };
        let Ok((message, tail)) = postcard::take_from_bytes::<Message>(tail) else {
            break;
        };
        rest = tail;
        // Low bits: the sender (0 and 5..7 are strangers); high bits: a timer or none.
        let from = NodeId(u32::from(head & 7));
        node.step(Input::Peer { from, message });
        if let Some(timer) = TIMERS.get(usize::from(head >> 3) % 8) {
            node.step(Input::Timeout(*timer));
        }
        node.store_mut().sync().expect("memory store syncs");
        node.check_invariants().expect("invariants hold after a hostile message");
    }
    node.check_invariants_full().expect("full invariants hold");
});
