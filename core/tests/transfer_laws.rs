//! Laws of partition transfer (Dynamo §4.9; `transfer.rs`), on hand-driven nodes
//! (`common::net`): a receiver takes only well-formed chunks of its own epoch, and a
//! sender advances a stream only on the acknowledgement of the chunk it sent, from the
//! node it sent it to, for that partition.
#![cfg(feature = "sim")]

mod common;

use common::n;
use common::net::Net;
use dynamo_core::clock::VersionVector;
use dynamo_core::message::{Command, Input, Message, RefuseReason, Reply, Timer};
use dynamo_core::store::Store;
use dynamo_core::types::{ActorId, NodeId, PartitionId};
use dynamo_core::version::{Content, Siblings};

fn one_version(value: &[u8]) -> Siblings {
    let mut siblings = Siblings::new();
    let actor = ActorId::new(n(2), 1);
    let content = Content::Value(value.to_vec());
    siblings
        .update(&VersionVector::new(), content, actor)
        .unwrap();
    siblings
}

/// A key of `partition` and one of another partition, in the ring of node 1.
fn keys_in_and_out(net: &Net, partition: PartitionId) -> (Vec<u8>, Vec<u8>) {
    let ring = net.node(n(1)).membership().ring().unwrap().clone();
    let key = |inside: bool| {
        (0u32..)
            .map(|i| format!("k{i}").into_bytes())
            .find(|k| (ring.partition_of_key(k) == partition) == inside)
            .unwrap()
    };
    (key(true), key(false))
}

fn transfer(epoch: u64, partition: PartitionId, key: &[u8]) -> Message {
    Message::Transfer {
        request: 77,
        epoch,
        partition,
        entries: vec![(key.to_vec(), one_version(b"moved"))],
        last: true,
    }
}

/// A chunk naming a key outside its partition is ignored whole: nothing merged, no
/// acknowledgement. (Kills `on_transfer`'s validity check with either `&&` replaced
/// by `||`.)
#[test]
fn a_chunk_with_a_key_outside_its_partition_is_ignored() {
    let mut net = Net::new(3);
    let partition = PartitionId(0);
    let (inside, outside) = keys_in_and_out(&net, partition);
    let ignored = net.node(n(1)).stats().ignored_messages;
    let message = Message::Transfer {
        request: 77,
        epoch: 1,
        partition,
        entries: vec![
            (inside.clone(), one_version(b"in")),
            (outside, one_version(b"out")),
        ],
        last: true,
    };
    net.input(
        n(1),
        Input::Peer {
            from: n(2),
            message,
        },
    );
    assert!(net.wire.is_empty(), "no acknowledgement: {:?}", net.wire);
    assert_eq!(net.node(n(1)).stats().ignored_messages, ignored + 1);
    assert_eq!(
        net.node(n(1)).store().get(partition, &inside).unwrap(),
        None
    );
    // The same chunk without the stray key is taken and acknowledged.
    net.input(
        n(1),
        Input::Peer {
            from: n(2),
            message: transfer(1, partition, &inside),
        },
    );
    assert!(net
        .node(n(1))
        .store()
        .get(partition, &inside)
        .unwrap()
        .is_some());
    assert!(matches!(
        net.wire.front(),
        Some((_, _, Message::TransferOk { .. }))
    ));
}

/// A chunk of another ring epoch is refused with both epochs, and nothing is merged
/// (a receiver that does not see the sender's ring cannot know it is a home).
/// (Kills `on_transfer`'s `epoch != cluster.epoch()` replaced by `==`.)
#[test]
fn a_chunk_of_another_epoch_is_refused() {
    let mut net = Net::new(3);
    let partition = PartitionId(0);
    let (inside, _) = keys_in_and_out(&net, partition);
    net.input(
        n(1),
        Input::Peer {
            from: n(2),
            message: transfer(9, partition, &inside),
        },
    );
    let refused = RefuseReason::EpochMismatch { theirs: 9, ours: 1 };
    assert!(
        matches!(net.wire.front(), Some((_, to, Message::Refused { reason, .. })) if *to == n(2) && *reason == refused),
        "{:?}",
        net.wire
    );
    assert_eq!(
        net.node(n(1)).store().get(partition, &inside).unwrap(),
        None
    );
}

/// The first chunk a sender streams to a node that just joined: (sender, message).
fn first_chunk_to_a_joined_node(net: &mut Net) -> (NodeId, Message) {
    for i in 0..12u8 {
        net.put(n(1), &[b'j', i], VersionVector::new(), &[i]);
        net.deliver_all();
    }
    net.add_node(n(4), n(1));
    net.input(n(4), Input::Timeout(Timer::Gossip));
    net.deliver_all();
    let join = net.command(n(1), Command::Join { node: n(4) });
    assert!(matches!(
        net.replies.get(&join),
        Some(Reply::Changed { epoch: 2 })
    ));
    net.gossip_until_agreed(20);
    for id in [n(1), n(2), n(3)] {
        net.input(id, Input::Timeout(Timer::Transfer));
    }
    net.wire
        .iter()
        .find(|(_, to, m)| *to == n(4) && matches!(m, Message::Transfer { .. }))
        .map(|(from, _, m)| (*from, m.clone()))
        .expect("a chunk goes to the joined node")
}

/// Only the receiver's acknowledgement of that partition's chunk advances a stream: a
/// forged one from another node, or naming another partition, is ignored and the chunk
/// still waits. (Kills `on_transfer_ok`'s check with `c.peer == from` or
/// `c.partition == partition` replaced by `!=`, or its `&&` by `||`.)
#[test]
fn only_the_receivers_ack_of_that_partition_advances_a_stream() {
    let mut net = Net::new(3);
    let (sender, chunk) = first_chunk_to_a_joined_node(&mut net);
    let Message::Transfer {
        request,
        epoch,
        partition,
        last,
        ..
    } = chunk
    else {
        unreachable!()
    };
    net.wire.clear();
    let waiting = net.node(sender).background_in_flight();
    assert!(waiting >= 1);
    let ignored = net.node(sender).stats().ignored_messages;
    let bystander = [n(1), n(2), n(3)]
        .into_iter()
        .find(|id| *id != sender)
        .unwrap();
    let other = PartitionId((partition.0 + 1) % 16);
    let forged = [(bystander, partition), (n(4), other)];
    for (from, partition) in forged {
        let message = Message::TransferOk {
            request,
            epoch,
            partition,
            last,
        };
        net.input(sender, Input::Peer { from, message });
    }
    assert_eq!(net.node(sender).stats().ignored_messages, ignored + 2);
    assert_eq!(
        net.node(sender).background_in_flight(),
        waiting,
        "still waiting"
    );
    let genuine = Message::TransferOk {
        request,
        epoch,
        partition,
        last,
    };
    net.input(
        sender,
        Input::Peer {
            from: n(4),
            message: genuine,
        },
    );
    assert_eq!(net.node(sender).background_in_flight(), waiting - 1);
}
