//! Hints are bounded in bytes per target node (issue 17, Dynamo §4.6): a fallback
//! standing in for a long-dead node must not fill its disk with that node's writes,
//! while hints for other targets still fit. The account survives a restart (it is
//! rebuilt from the store) and is part of the node's invariants.

use dynamo_core::clock::VersionVector;
use dynamo_core::message::{Input, Message, Output, RefuseReason};
use dynamo_core::node::{member, Node, NodeConfig};
use dynamo_core::ring::RingConfig;
use dynamo_core::store::{MemoryStore, Store};
use dynamo_core::types::{ActorId, NodeId};
use dynamo_core::version::{Content, Siblings};
use std::collections::BTreeMap;

const BUDGET: u64 = 64 * 1024;
const VALUE: usize = 10 * 1024;

fn config() -> NodeConfig {
    let members: BTreeMap<NodeId, _> = (1..=4)
        .map(|id| (NodeId(id), member(&format!("node-{id}"), 1)))
        .collect();
    NodeConfig {
        ring: RingConfig {
            partitions: 16,
            replication_factor: 3,
        },
        hint_bytes_per_target_max: BUDGET,
        me: members[&NodeId(4)].clone(),
        initial_members: members,
        ..NodeConfig::default()
    }
}

fn start(store: MemoryStore) -> Node<MemoryStore> {
    let mut node = Node::new(NodeId(4), config(), store).expect("node starts");
    node.store_mut().sync().expect("memory store syncs");
    node
}

/// A hinted write of a fresh `VALUE`-byte version of `key` for `target`; the answer.
fn hinted(node: &mut Node<MemoryStore>, request: u64, key: &str, target: u32) -> Message {
    let ring = node.membership().ring().expect("a ring").clone();
    let partition = ring.partition_of_key(key.as_bytes());
    let mut siblings = Siblings::new();
    let actor = ActorId::new(NodeId(1), 1);
    let value = Content::Value(vec![b'v'; VALUE]);
    siblings
        .update(&VersionVector::new(), value, actor)
        .unwrap();
    let message = Message::Write {
        request,
        partition,
        key: key.as_bytes().to_vec(),
        siblings,
        hint: Some(NodeId(target)),
    };
    let outputs = node.step(Input::Peer {
        from: NodeId(1),
        message,
    });
    node.store_mut().sync().expect("memory store syncs");
    outputs
        .into_iter()
        .find_map(|output| match output {
            Output::Send { message, .. } => Some(message),
            _ => None,
        })
        .expect("a hinted write is answered")
}

fn refused_for_bytes(answer: &Message) -> bool {
    matches!(
        answer,
        Message::Refused {
            reason: RefuseReason::HintBytesFull { .. },
            ..
        }
    )
}

#[test]
fn hints_for_one_target_stop_at_its_byte_budget_and_other_targets_still_fit() {
    let mut node = start(MemoryStore::default());
    let fits = (BUDGET as usize) / VALUE; // 6 values and their keys fit in 64 KiB
    for index in 0..fits {
        let answer = hinted(&mut node, index as u64, &format!("key-{index}"), 2);
        assert!(matches!(answer, Message::WriteOk { .. }), "{answer:?}");
    }
    let answer = hinted(&mut node, 100, "one-too-many", 2);
    assert!(refused_for_bytes(&answer), "past the budget: {answer:?}");
    let answer = hinted(&mut node, 101, "for-another-node", 3);
    assert!(matches!(answer, Message::WriteOk { .. }), "{answer:?}");
    node.check_invariants_full().expect("invariants hold");

    // The account is rebuilt from the store at start: still full for node 2.
    let mut node = start(node.into_store());
    let answer = hinted(&mut node, 102, "after-restart", 2);
    assert!(refused_for_bytes(&answer), "after a restart: {answer:?}");
    node.check_invariants_full().expect("invariants hold");
}
