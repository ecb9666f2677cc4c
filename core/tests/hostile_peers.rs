//! Peer input a node must survive (issue 17): a hostile but well-typed message never
//! panics a node and never breaks its invariants; it is ignored and counted.
//!
//! Rings and views are built here through postcard from mirror structs, as an
//! attacker with a peer connection would send them (the core's own constructors
//! cannot make a broken ring).

use dynamo_core::membership::{MemberInfo, MemberStatus, Membership};
use dynamo_core::message::{Command, Input, Message, Quorum};
use dynamo_core::node::{member, Node, NodeConfig};
use dynamo_core::ring::{Ring, RingConfig, RingMember};
use dynamo_core::store::{MemoryStore, Store};
use dynamo_core::types::{NodeId, PartitionId};
use proptest::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Field for field what `Ring` serializes (postcard is not self-describing).
#[derive(Serialize)]
struct RawRing {
    epoch: u64,
    config: RingConfig,
    members: BTreeMap<NodeId, RingMember>,
    owners: Vec<NodeId>,
}

#[derive(Serialize)]
struct RawMembership {
    members: BTreeMap<NodeId, MemberInfo>,
    ring: Option<Ring>,
    previous: Option<Ring>,
    completed: BTreeSet<(PartitionId, NodeId)>,
}

const PARTITIONS: u32 = 8;

fn config() -> NodeConfig {
    let initial_members = (1..=3)
        .map(|id| (NodeId(id), member(&format!("peer-{id}"), 1)))
        .collect();
    NodeConfig {
        ring: RingConfig {
            partitions: PARTITIONS,
            replication_factor: 3,
        },
        initial_members,
        ..NodeConfig::default()
    }
}

fn node() -> Node<MemoryStore> {
    let mut node = Node::new(NodeId(1), config(), MemoryStore::default()).expect("starts");
    node.store_mut().sync().expect("syncs");
    node.start();
    node
}

fn valid(version: u64) -> MemberInfo {
    MemberInfo {
        version,
        status: MemberStatus::Valid,
        address: String::new(),
        weight: 1,
        zone: None,
    }
}

/// A view at `epoch` whose ring has members 1..=3 and the given owners.
fn view(epoch: u64, owners: Vec<NodeId>, weight: u32) -> Membership {
    let ring_members = (1..=3)
        .map(|id| {
            let zone = None;
            (
                NodeId(id),
                RingMember {
                    node: NodeId(id),
                    weight,
                    zone,
                },
            )
        })
        .collect();
    let ring = RawRing {
        epoch,
        config: config().ring,
        members: ring_members,
        owners,
    };
    let ring: Ring = postcard::from_bytes(&postcard::to_allocvec(&ring).unwrap()).unwrap();
    let raw = RawMembership {
        members: (1..=3).map(|id| (NodeId(id), valid(epoch))).collect(),
        ring: Some(ring),
        previous: None,
        completed: BTreeSet::new(),
    };
    postcard::from_bytes(&postcard::to_allocvec(&raw).unwrap()).unwrap()
}

fn gossip(node: &mut Node<MemoryStore>, membership: Membership) {
    let message = Message::Gossip {
        membership: Box::new(membership),
        reply: true,
    };
    node.step(Input::Peer {
        from: NodeId(2),
        message,
    });
}

/// Serve a get for every key of a few: routing reads the ring.
fn serve(node: &mut Node<MemoryStore>) {
    for (request, key) in [&b"cart"[..], b"a", b"zz"].iter().enumerate() {
        let command = Command::Get {
            key: key.to_vec(),
            quorum: Quorum::default(),
        };
        node.step(Input::Client {
            request: request as u64,
            command,
        });
    }
}

/// The finding: a ring naming an owner that is no member of the ring panicked
/// the receiving node when it routed by it.
#[test]
fn a_gossiped_ring_owned_by_a_stranger_is_ignored() {
    let mut node = node();
    let before = node.membership().clone();
    let ignored = node.stats().ignored_messages;
    gossip(&mut node, view(9, vec![NodeId(9); PARTITIONS as usize], 1));
    serve(&mut node);
    assert_eq!(
        node.membership(),
        &before,
        "the hostile view was not merged"
    );
    assert_eq!(node.stats().ignored_messages, ignored + 1);
    assert!(node.check_invariants().is_ok());
}

/// A ring with too few owners, or shares that break the claim, is refused too.
#[test]
fn a_gossiped_ring_of_the_wrong_shape_is_ignored() {
    let mut node = node();
    let before = node.membership().clone();
    gossip(&mut node, view(9, vec![NodeId(1); 3], 1));
    gossip(&mut node, view(9, vec![NodeId(1); PARTITIONS as usize], 1));
    gossip(&mut node, view(9, vec![NodeId(2); PARTITIONS as usize], 0));
    serve(&mut node);
    assert_eq!(node.membership(), &before);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Arbitrary owners, epochs and weights in gossiped views: the node never panics,
    /// keeps its invariants and still serves.
    #[test]
    fn arbitrary_gossiped_rings_never_panic_a_node(
        epoch in 0u64..20,
        owners in proptest::collection::vec(0u32..6, 0..12),
        weight in 0u32..3,
    ) {
        let mut node = node();
        let owners = owners.into_iter().map(NodeId).collect();
        gossip(&mut node, view(epoch, owners, weight));
        serve(&mut node);
        prop_assert!(node.check_invariants().is_ok());
    }
}

/// Any of the peer messages a node handles, with arbitrary fields.
fn arbitrary_message() -> impl Strategy<Value = Message> {
    use dynamo_core::merkle::{LeafId, MerkleHash, TreeLevel};
    use dynamo_core::message::{RefuseReason, Reply};
    use dynamo_core::store::HintKey;
    use dynamo_core::version::{Content, Siblings};
    let key = proptest::collection::vec(any::<u8>(), 0..6);
    let partition = (0u32..12).prop_map(PartitionId);
    let siblings = (key.clone(), 1u32..4).prop_map(|(value, writer)| {
        let mut siblings = Siblings::new();
        let actor = dynamo_core::types::ActorId::new(NodeId(writer), 1);
        let context = dynamo_core::clock::VersionVector::new();
        siblings
            .update(&context, Content::Value(value), actor)
            .expect("a small value");
        siblings
    });
    let request = any::<u64>();
    let node = (0u32..6).prop_map(NodeId);
    prop_oneof![
        (
            request,
            partition.clone(),
            key.clone(),
            proptest::option::of(node.clone())
        )
            .prop_map(|(request, partition, key, hint)| Message::Read {
                request,
                partition,
                key,
                hint
            }),
        (request, proptest::option::of(siblings.clone()))
            .prop_map(|(request, siblings)| Message::ReadOk { request, siblings }),
        (
            request,
            partition.clone(),
            key.clone(),
            siblings.clone(),
            proptest::option::of(node.clone())
        )
            .prop_map(|(request, partition, key, siblings, hint)| Message::Write {
                request,
                partition,
                key,
                siblings,
                hint
            }),
        request.prop_map(|request| Message::WriteOk { request }),
        request.prop_map(|request| Message::Refused {
            request,
            reason: RefuseReason::HintsFull { held: 1, max: 1 }
        }),
        (request, any::<u64>()).prop_map(|(request, epoch)| Message::Forwarded {
            request,
            reply: Reply::Changed { epoch }
        }),
        (
            request,
            node.clone(),
            partition.clone(),
            key.clone(),
            siblings.clone()
        )
            .prop_map(
                |(request, target, partition, key, siblings)| Message::Handoff {
                    request,
                    hint: HintKey {
                        target,
                        partition,
                        key
                    },
                    siblings
                }
            ),
        request.prop_map(|request| Message::HandoffOk { request }),
        (
            partition.clone(),
            any::<u8>(),
            any::<u32>(),
            proptest::collection::vec(any::<u128>(), 0..20)
        )
            .prop_map(|(partition, level, index, hashes)| Message::TreeLevel {
                partition,
                step: TreeLevel {
                    level,
                    index,
                    hashes: hashes.into_iter().map(MerkleHash).collect()
                }
            }),
        (
            partition.clone(),
            proptest::collection::vec(0u16..300, 0..5),
            key.clone(),
            siblings.clone(),
            any::<bool>()
        )
            .prop_map(
                |(partition, leaves, key, siblings, reply)| Message::TreeSync {
                    partition,
                    leaves: leaves
                        .into_iter()
                        .filter_map(|l| LeafId::new(l as usize))
                        .collect(),
                    entries: vec![(key, siblings)],
                    reply,
                    next: None,
                }
            ),
        (partition.clone(), key.clone()).prop_map(|(partition, after)| Message::TreePull {
            partition,
            leaves: LeafId::new(0).into_iter().collect(),
            after
        }),
        request.prop_map(|request| Message::Ping { request }),
        request.prop_map(|request| Message::Pong { request }),
        (
            request,
            0u64..4,
            partition.clone(),
            key,
            siblings,
            any::<bool>()
        )
            .prop_map(|(request, epoch, partition, key, siblings, last)| {
                Message::Transfer {
                    request,
                    epoch,
                    partition,
                    entries: vec![(key, siblings)],
                    last,
                }
            }),
        (request, 0u64..4, partition, any::<bool>()).prop_map(
            |(request, epoch, partition, last)| {
                Message::TransferOk {
                    request,
                    epoch,
                    partition,
                    last,
                }
            }
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Streams of arbitrary well-typed messages from members and strangers, mixed with
    /// client requests and timers: no panic (the debug build checks the node's
    /// invariants after every step) and the full invariants hold at the end.
    #[test]
    fn arbitrary_peer_messages_never_panic_a_node(
        messages in proptest::collection::vec((0u32..6, arbitrary_message()), 1..40),
    ) {
        let mut node = node();
        for (from, message) in messages {
            node.step(Input::Peer { from: NodeId(from), message });
        }
        serve(&mut node);
        for timer in [
            dynamo_core::message::Timer::Handoff,
            dynamo_core::message::Timer::Transfer,
            dynamo_core::message::Timer::AntiEntropy,
            dynamo_core::message::Timer::Gossip,
        ] {
            node.step(Input::Timeout(timer));
        }
        prop_assert!(node.check_invariants_full().is_ok(), "{:?}", node.check_invariants_full());
    }
}
