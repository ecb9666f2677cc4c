//! A moving partition loses no acknowledged write (Dynamo §4.9; issue 25, finding 3),
//! on hand-driven nodes (`common::net`), so the interleaving is exact and needs no seed.
//!
//! While partition p moves from its old owner O to a new home X, a coordinator that has
//! not yet heard that the move completed still routes p's writes to O in X's place, and
//! counts O's acknowledgement towards W. O has already dropped p (its stream was
//! acknowledged), or drops it at its next transfer round. Every write O acknowledges as
//! a stand-in must still reach X durably: O keeps it as a hint for X.
#![cfg(feature = "sim")]

mod common;

use common::n;
use common::net::Net;
use dynamo_core::clock::VersionVector;
use dynamo_core::message::{Command, Input, Message, Quorum, Reply, Timer};
use dynamo_core::mutant::Mutant;
use dynamo_core::store::Store;
use dynamo_core::transfer::TransferStatus;
use dynamo_core::types::NodeId;
use dynamo_core::version::Content;

/// Node 4 joins a cluster of three (N=3): the ring moves partitions to it.
fn joined() -> Net {
    let mut net = Net::new(3);
    net.add_node(n(4), n(1));
    net.input(n(4), Input::Timeout(Timer::Gossip));
    net.deliver_all();
    let join = net.command(n(1), Command::Join { node: n(4) });
    net.deliver_all();
    assert!(
        matches!(net.replies.get(&join), Some(Reply::Changed { .. })),
        "{:?}",
        net.replies.get(&join)
    );
    net.gossip_until_agreed(20);
    net
}

/// A planned move to node 4 and a coordinator: a home of the partition that is neither
/// the sender nor the receiver.
fn a_move(net: &Net) -> (TransferStatus, NodeId) {
    let ring = net.node(n(1)).membership().ring().expect("a ring").clone();
    net.node(n(1))
        .transfers()
        .into_iter()
        .filter(|t| t.to == n(4))
        .find_map(|t| {
            let homes = ring.home_replicas(t.partition, 3);
            let coordinator = homes.into_iter().find(|h| *h != t.from && *h != t.to)?;
            Some((t, coordinator))
        })
        .expect("a move to node 4 with a third home")
}

/// Run `from`'s transfer rounds, delivering only the stream between it and `to`, until
/// `from` has dropped `partition` (it streamed it and the receiver acknowledged).
fn stream_and_drop(net: &mut Net, moving: TransferStatus) {
    let (from, to) = (moving.from, moving.to);
    for _ in 0..100 {
        net.input(from, Input::Timeout(Timer::Transfer));
        net.deliver(|a, b, m| {
            matches!(m, Message::Transfer { .. } | Message::TransferOk { .. })
                && ((a, b) == (from, to) || (a, b) == (to, from))
        });
        let held = net.node(from).store().partitions().unwrap();
        if !held.contains(&moving.partition) {
            return;
        }
    }
    panic!("{from} never dropped {}", moving.partition);
}

fn key_of(net: &Net, moving: TransferStatus) -> Vec<u8> {
    let ring = net.node(n(1)).membership().ring().unwrap().clone();
    (0u32..)
        .map(|i| format!("key-{i}").into_bytes())
        .find(|k| ring.partition_of_key(k) == moving.partition)
        .unwrap()
}

/// The old owner acknowledges a write for the partition it has just dropped, the
/// coordinator counts it towards W=2, and every other copy of the write is lost on the
/// network. The write must still reach the new home: through the old owner's hint.
#[test]
fn a_write_acknowledged_by_the_old_owner_after_its_move_reaches_the_new_home() {
    assert_eq!(
        late_write_at_new_home(Mutant::None),
        vec![b"acked".to_vec()]
    );
}

/// The same schedule with the old owner storing the write only as a replica (the code
/// before the fix, planted as a mutant): the write never reaches the new home, so the
/// test above can fail.
#[test]
fn the_test_catches_a_stand_in_that_keeps_no_hint() {
    assert_eq!(
        late_write_at_new_home(Mutant::StandInWithoutHint),
        Vec::<Vec<u8>>::new()
    );
}

/// The schedule above, with `mutant` planted in the old owner; the values the new home
/// holds for the key at the end.
fn late_write_at_new_home(mutant: Mutant) -> Vec<Vec<u8>> {
    let mut net = joined();
    let (moving, coordinator) = a_move(&net);
    let (old, new) = (moving.from, moving.to);
    net.nodes.get_mut(&old).unwrap().set_mutant(mutant);
    stream_and_drop(&mut net, moving);
    // The coordinator has not heard the completion: it still routes to `old`.
    assert!(net
        .node(coordinator)
        .transfers()
        .iter()
        .any(|t| t.partition == moving.partition && t.to == new && !t.done));
    net.wire.clear();
    let key = key_of(&net, moving);
    let put = net.command(
        coordinator,
        Command::Put {
            key: key.clone(),
            context: VersionVector::new(),
            content: Content::Value(b"acked".to_vec()),
            quorum: Quorum::default(),
        },
    );
    // Only the write to the old owner and its answer get through.
    net.deliver(|a, b, _| (a, b) == (coordinator, old) || (a, b) == (old, coordinator));
    net.wire.clear();
    assert!(
        matches!(net.replies.get(&put), Some(Reply::Put { .. })),
        "acknowledged at W=2 by the coordinator and the old owner: {:?}",
        net.replies.get(&put)
    );
    // The old owner's background rounds: transfer (drops what it re-created), handoff.
    for _ in 0..5 {
        net.input(old, Input::Timeout(Timer::Transfer));
        net.input(old, Input::Timeout(Timer::Handoff));
        net.deliver(|a, b, _| (a, b) == (old, new) || (a, b) == (new, old));
    }
    let at_new = net.node(new).store().get(moving.partition, &key).unwrap();
    at_new
        .iter()
        .flat_map(|s| s.values())
        .map(<[u8]>::to_vec)
        .collect()
}
