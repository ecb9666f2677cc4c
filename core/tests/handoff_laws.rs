//! Hinted handoff's laws (Dynamo §4.6), on real nodes whose every message and timer
//! this test delivers by hand, so each interleaving is exact and needs no seed.
//!
//! - A hint deleted on the acknowledgement of an older delivery would lose the newer
//!   write merged into it since: the hint must survive, and later reach its home.
//!   (Kills `on_handoff_ok`'s `current == siblings` replaced by `true`.)
//! - An acknowledgement that matches no delivery deletes nothing.
//! - At most one delivery per hint is in flight.
//! - A round whose scan ended starts the next one from the beginning of the store.
//! - A refused delivery is forgotten at once and offered again; a refused ping no
//!   longer holds back the next probe; a refusal for no request is ignored.
//! - A delivery addressed to another node is ignored.
//! - The failure detector's side of it: a peer heard from stays trusted while an older
//!   ping to it waits (only a ping past its deadline suspects).
//!
//! The nodes run on `FlakyStore`, a memory store whose writes can be made to fail.
//!
//! (`sim_handoff_paging.rs` covers a hint store larger than one scan.)
#![cfg(feature = "sim")]

mod common;

use common::n;
use common::net::Net;
use dynamo_core::clock::VersionVector;
use dynamo_core::message::{Input, Message, RefuseReason, Reply, Timer};
use dynamo_core::store::{HintKey, Store};
use dynamo_core::types::NodeId;
use dynamo_core::version::Siblings;

fn values(siblings: &Siblings) -> Vec<Vec<u8>> {
    siblings.values().map(<[u8]>::to_vec).collect()
}

/// Where a key's hinted write goes: four nodes, N=3; `coordinator` and `up` are homes,
/// `down` is the home that fails, `fallback` the fourth node, which takes its hints.
struct Roles {
    coordinator: NodeId,
    up: NodeId,
    down: NodeId,
    fallback: NodeId,
    hint: HintKey,
}

fn roles(net: &Net, key: &[u8]) -> Roles {
    let ring = net.node(n(1)).membership().ring().expect("a ring").clone();
    let partition = ring.partition_of_key(key);
    let list = ring.preference_list(partition).nodes().to_vec();
    let (coordinator, up, down, fallback) = (list[0], list[1], list[2], list[3]);
    let hint = HintKey {
        target: down,
        partition,
        key: key.to_vec(),
    };
    Roles {
        coordinator,
        up,
        down,
        fallback,
        hint,
    }
}

/// The fallback holds a hint for `down` with the first version: the coordinator
/// suspects `down` (a put to it timed out) and routed the next put to the fallback.
fn hinted_write(net: &mut Net, key: &[u8], roles: &Roles) -> u64 {
    net.down.insert(roles.down);
    let first = net.put(roles.coordinator, key, VersionVector::new(), b"v0");
    net.deliver_all();
    net.expire_requests(roles.coordinator);
    assert!(
        net.node(roles.coordinator)
            .suspected()
            .contains(&roles.down),
        "a home silent past the deadline is suspected"
    );
    let context = net.context(first);
    let second = net.put(roles.coordinator, key, context, b"v1");
    net.deliver_all();
    assert!(matches!(net.replies.get(&second), Some(Reply::Put { .. })));
    let held = net.hint(roles.fallback, &roles.hint).expect("a hint");
    assert_eq!(values(&held), vec![b"v1".to_vec()]);
    second
}

#[test]
fn a_hint_updated_after_its_delivery_was_sent_survives_the_older_ack_and_reaches_its_home() {
    let mut net = Net::new(4);
    let key = b"cart";
    let roles = roles(&net, key);
    let second = hinted_write(&mut net, key, &roles);

    // The home recovers; the fallback's handoff round sends it the hint (v1).
    net.down.remove(&roles.down);
    net.input(roles.fallback, Input::Timeout(Timer::Handoff));
    let is_handoff = |from: NodeId, to: NodeId, m: &Message| {
        from == roles.fallback && to == roles.down && matches!(m, Message::Handoff { .. })
    };
    assert_eq!(
        net.wire
            .iter()
            .filter(|(from, to, m)| is_handoff(*from, *to, m))
            .count(),
        1,
        "one delivery of the hint is on the wire"
    );

    // Before that delivery arrives, a newer put (v2) is merged into the same hint: the
    // coordinator still suspects the home, so v2 goes to the fallback as well.
    let context = net.context(second);
    let third = net.put(roles.coordinator, key, context, b"v2");
    net.deliver(|from, to, m| !is_handoff(from, to, m));
    assert!(matches!(net.replies.get(&third), Some(Reply::Put { .. })));
    let merged = net.hint(roles.fallback, &roles.hint).expect("the hint");
    assert_eq!(values(&merged), vec![b"v2".to_vec()], "v2 supersedes v1");

    // The home stores v1 and acknowledges it: that ack must not delete the hint (v2).
    net.deliver_all();
    let home = net
        .node(roles.down)
        .store()
        .get(roles.hint.partition, key)
        .unwrap();
    assert_eq!(values(&home.unwrap()), vec![b"v1".to_vec()]);
    let kept = net.hint(roles.fallback, &roles.hint);
    assert_eq!(
        kept.as_ref().map(values),
        Some(vec![b"v2".to_vec()]),
        "the ack of v1 deleted the hint that holds v2"
    );
    assert_eq!(net.node(roles.fallback).stats().hints_delivered, 0);

    // The next handoff round delivers v2; its ack deletes the hint.
    net.input(roles.fallback, Input::Timeout(Timer::Handoff));
    net.deliver_all();
    let home = net
        .node(roles.down)
        .store()
        .get(roles.hint.partition, key)
        .unwrap();
    assert_eq!(
        values(&home.unwrap()),
        vec![b"v2".to_vec()],
        "v2 reached home"
    );
    assert_eq!(net.hint(roles.fallback, &roles.hint), None);
    assert_eq!(net.node(roles.fallback).store().hint_count().unwrap(), 0);
    assert_eq!(net.node(roles.fallback).stats().hints_delivered, 1);
    assert_eq!(net.node(roles.fallback).background_in_flight(), 0);
}

#[test]
fn an_ack_from_another_node_or_for_another_request_deletes_no_hint() {
    let mut net = Net::new(4);
    let key = b"cart";
    let roles = roles(&net, key);
    hinted_write(&mut net, key, &roles);
    net.down.remove(&roles.down);
    net.input(roles.fallback, Input::Timeout(Timer::Handoff));
    let request = net
        .wire
        .iter()
        .find_map(|(_, to, m)| match m {
            Message::Handoff { request, .. } if *to == roles.down => Some(*request),
            _ => None,
        })
        .expect("a delivery on the wire");
    let ignored = net.node(roles.fallback).stats().ignored_messages;
    // The right request from the wrong node, and the wrong request from the right one.
    let forged = [(roles.up, request), (roles.down, request + 1_000)];
    for (from, request) in forged {
        let message = Message::HandoffOk { request };
        net.input(roles.fallback, Input::Peer { from, message });
    }
    assert!(net.hint(roles.fallback, &roles.hint).is_some());
    assert_eq!(
        net.node(roles.fallback).stats().ignored_messages,
        ignored + 2,
        "both forged acks are ignored and counted"
    );
    assert_eq!(net.node(roles.fallback).background_in_flight(), 1);
    // The genuine ack deletes it.
    net.deliver_all();
    assert_eq!(net.hint(roles.fallback, &roles.hint), None);
    assert_eq!(net.node(roles.fallback).background_in_flight(), 0);
}

/// Handoff messages on the wire for `hint`'s key.
fn deliveries_on_wire(net: &Net, hint: &HintKey) -> usize {
    net.wire
        .iter()
        .filter(|(_, _, m)| matches!(m, Message::Handoff { hint: h, .. } if h == hint))
        .count()
}

/// A hint is sent once and then waits for its answer: a second handoff round while
/// the delivery is in flight sends nothing more. (Kills `Handoff::round`'s
/// `healthy(target) && !in_flight` replaced by `||`.)
#[test]
fn at_most_one_delivery_of_a_hint_is_in_flight() {
    let mut net = Net::new(4);
    let roles = roles(&net, b"cart");
    hinted_write(&mut net, b"cart", &roles);
    net.down.remove(&roles.down);
    net.input(roles.fallback, Input::Timeout(Timer::Handoff));
    net.input(roles.fallback, Input::Timeout(Timer::Handoff));
    assert_eq!(deliveries_on_wire(&net, &roles.hint), 1);
    assert_eq!(net.node(roles.fallback).background_in_flight(), 1);
    net.deliver_all();
    assert_eq!(net.hint(roles.fallback, &roles.hint), None);
}

/// Two keys of one partition, in key order.
fn two_keys_of_one_partition(net: &Net) -> (Vec<u8>, Vec<u8>) {
    let ring = net.node(n(1)).membership().ring().expect("a ring").clone();
    let first = b"k0".to_vec();
    let partition = ring.partition_of_key(&first);
    let second = (1u32..)
        .map(|i| format!("k{i}").into_bytes())
        .find(|key| ring.partition_of_key(key) == partition)
        .expect("keys spread over every partition");
    let mut keys = [first, second];
    keys.sort();
    let [low, high] = keys;
    (low, high)
}

/// A scan of the hint store that ended (fewer hints than a scan's worth) starts the
/// next round from the beginning: a hint written behind the last one offered is
/// offered at once. (Kills `Handoff::round`'s `hints.len() == HANDOFF_SCAN_MAX`
/// guard replaced by `true`: the next round would start after the last hint seen.)
#[test]
fn a_hint_written_behind_the_last_scan_is_offered_at_the_next_round() {
    let mut net = Net::new(4);
    let (low, high) = two_keys_of_one_partition(&net);
    let roles = roles(&net, &high);
    hinted_write(&mut net, &high, &roles);
    net.down.remove(&roles.down);
    net.input(roles.fallback, Input::Timeout(Timer::Handoff));
    net.deliver_all();
    assert_eq!(net.hint(roles.fallback, &roles.hint), None, "delivered");
    // The coordinator still suspects the home: the next put's hint lands on the
    // fallback, at a key before the one the last scan ended on.
    net.put(roles.coordinator, &low, VersionVector::new(), b"low");
    net.deliver_all();
    let low_hint = HintKey {
        key: low.clone(),
        ..roles.hint.clone()
    };
    assert!(net.hint(roles.fallback, &low_hint).is_some());
    net.input(roles.fallback, Input::Timeout(Timer::Handoff));
    assert_eq!(
        deliveries_on_wire(&net, &low_hint),
        1,
        "the next round offers the new hint"
    );
    net.deliver_all();
    assert_eq!(net.node(roles.fallback).store().hint_count().unwrap(), 0);
}

/// A home whose store fails refuses the delivery; the fallback stops waiting for it at
/// once (no deadline to sit out) and offers the hint again at its next round. (Kills
/// `Handoff::forget` -> false and its `d.peer == from` replaced by `!=`.)
#[test]
fn a_refused_delivery_is_forgotten_at_once_and_offered_again() {
    let mut net = Net::new(4);
    let roles = roles(&net, b"cart");
    hinted_write(&mut net, b"cart", &roles);
    net.down.remove(&roles.down);
    net.fail_writes(roles.down, true);
    net.input(roles.fallback, Input::Timeout(Timer::Handoff));
    net.deliver_all();
    let fallback = net.node(roles.fallback);
    assert_eq!(
        fallback.background_in_flight(),
        0,
        "the refusal ended the wait"
    );
    assert!(
        net.hint(roles.fallback, &roles.hint).is_some(),
        "nothing deleted"
    );
    assert!(net.node(roles.down).stats().storage_errors >= 1);
    net.fail_writes(roles.down, false);
    net.input(roles.fallback, Input::Timeout(Timer::Handoff));
    assert_eq!(deliveries_on_wire(&net, &roles.hint), 1, "offered again");
    net.deliver_all();
    assert_eq!(net.hint(roles.fallback, &roles.hint), None);
}

/// A refusal that answers no request of the node is ignored and counted, whichever
/// background machine it could have belonged to. (Kills `Handoff::forget`,
/// `Transfers::forget` and `FailureDetector::forget` replaced by `true`.)
#[test]
fn a_refusal_for_no_request_of_ours_is_ignored_and_counted() {
    let mut net = Net::new(4);
    let before = net.node(n(1)).stats().ignored_messages;
    let reason = RefuseReason::Storage {
        message: "stray".to_string(),
    };
    let message = Message::Refused {
        request: 424_242,
        reason,
    };
    net.input(
        n(1),
        Input::Peer {
            from: n(2),
            message,
        },
    );
    assert_eq!(net.node(n(1)).stats().ignored_messages, before + 1);
}

/// A home that refuses a ping has answered it: the ping is forgotten, so the next time
/// the peer is suspected it is probed at the next gossip round, not once the refused
/// ping's deadline passed. (Kills `FailureDetector::forget` -> false and its
/// `*peer == from` replaced by `!=`.)
#[test]
fn a_refused_ping_no_longer_holds_back_the_next_probe() {
    let mut net = Net::new(4);
    let roles = roles(&net, b"cart");
    // The coordinator suspects the down home and pings it at its gossip round.
    net.down.insert(roles.down);
    net.put(roles.coordinator, b"cart", VersionVector::new(), b"v0");
    net.deliver_all();
    net.expire_requests(roles.coordinator);
    net.input(roles.coordinator, Input::Timeout(Timer::Gossip));
    let ping = net
        .wire
        .iter()
        .find_map(|(from, to, m)| match m {
            Message::Ping { request } if *from == roles.coordinator && *to == roles.down => {
                Some(*request)
            }
            _ => None,
        })
        .expect("a ping to the suspected home");
    net.wire.clear();
    let message = Message::Refused {
        request: ping,
        reason: RefuseReason::Storage {
            message: "busy".to_string(),
        },
    };
    net.input(
        roles.coordinator,
        Input::Peer {
            from: roles.down,
            message,
        },
    );
    assert!(!net
        .node(roles.coordinator)
        .suspected()
        .contains(&roles.down));
    // Suspected again (another request times out): probed at the next round.
    net.put(roles.coordinator, b"cart", VersionVector::new(), b"v1");
    net.deliver_all();
    net.expire_requests(roles.coordinator);
    assert!(net
        .node(roles.coordinator)
        .suspected()
        .contains(&roles.down));
    net.input(roles.coordinator, Input::Timeout(Timer::Gossip));
    let pings = net
        .wire
        .iter()
        .filter(|(_, to, m)| *to == roles.down && matches!(m, Message::Ping { .. }))
        .count();
    assert_eq!(pings, 1, "the suspected home is probed again at once");
}

/// A delivery addressed to another node is ignored and counted: nothing stored, no
/// acknowledgement (which would let the sender delete a hint its home never got).
/// (Kills `Handoff::on_handoff`'s validity check with either `&&` replaced by `||`.)
#[test]
fn a_delivery_meant_for_another_node_is_ignored() {
    let mut net = Net::new(4);
    let roles = roles(&net, b"cart");
    hinted_write(&mut net, b"cart", &roles);
    net.down.remove(&roles.down);
    let siblings = net.hint(roles.fallback, &roles.hint).expect("a hint");
    let misaddressed = HintKey {
        target: roles.up,
        ..roles.hint.clone()
    };
    let before = net.node(roles.down).stats().ignored_messages;
    let message = Message::Handoff {
        request: 7,
        hint: misaddressed,
        siblings,
    };
    net.input(
        roles.down,
        Input::Peer {
            from: roles.fallback,
            message,
        },
    );
    assert!(net.wire.is_empty(), "no acknowledgement: {:?}", net.wire);
    assert_eq!(net.node(roles.down).stats().ignored_messages, before + 1);
    let stored = net
        .node(roles.down)
        .store()
        .get(roles.hint.partition, b"cart");
    assert_eq!(stored.unwrap(), None);
}

/// A suspected peer that is heard from (here, its gossip) is trusted again, and stays
/// trusted while the ping sent to it earlier still waits for its pong: only a ping
/// past its deadline suspects. (Kills `FailureDetector::age`'s `!keep` replaced by
/// `keep`: every ping still waiting would suspect its peer again.)
#[test]
fn a_peer_heard_from_stays_trusted_while_an_older_ping_waits() {
    let mut net = Net::new(4);
    let roles = roles(&net, b"cart");
    let (a, b) = (roles.coordinator, roles.down);
    net.down.insert(b);
    net.put(a, b"cart", VersionVector::new(), b"v0");
    net.deliver_all();
    net.expire_requests(a);
    assert!(net.node(a).suspected().contains(&b));
    net.input(a, Input::Timeout(Timer::Gossip));
    assert!(net
        .wire
        .iter()
        .any(|(_, to, m)| *to == b && matches!(m, Message::Ping { .. })));
    net.wire.clear(); // the ping and the gossip are slow: still on their way
    net.down.remove(&b);
    let membership = Box::new(net.node(b).membership().clone());
    let message = Message::Gossip {
        membership,
        reply: false,
    };
    net.input(a, Input::Peer { from: b, message });
    assert!(!net.node(a).suspected().contains(&b), "heard from");
    // Handoff rounds age background requests; the ping is within its deadline.
    for _ in 0..2 {
        net.input(a, Input::Timeout(Timer::Handoff));
        assert!(
            !net.node(a).suspected().contains(&b),
            "a waiting ping suspected a peer just heard from"
        );
    }
}

/// A pong counts only from the peer that was pinged: one naming the ping's request
/// from another node is ignored, and the ping still waits for its own answer (no
/// second ping goes out meanwhile). (Kills `FailureDetector::on_pong`'s guard
/// `*peer == from` replaced by `true`.)
#[test]
fn a_pong_from_another_node_does_not_answer_the_ping() {
    let mut net = Net::new(4);
    let roles = roles(&net, b"cart");
    let (a, b, c) = (roles.coordinator, roles.down, roles.up);
    net.down.insert(b);
    net.put(a, b"cart", VersionVector::new(), b"v0");
    net.deliver_all();
    net.expire_requests(a);
    net.input(a, Input::Timeout(Timer::Gossip));
    let ping = net
        .wire
        .iter()
        .find_map(|(_, to, m)| match m {
            Message::Ping { request } if *to == b => Some(*request),
            _ => None,
        })
        .expect("a ping to the suspected node");
    net.wire.clear();
    let ignored = net.node(a).stats().ignored_messages;
    let message = Message::Pong { request: ping };
    net.input(a, Input::Peer { from: c, message });
    assert_eq!(net.node(a).stats().ignored_messages, ignored + 1);
    assert!(net.node(a).suspected().contains(&b));
    net.input(a, Input::Timeout(Timer::Gossip));
    let pings = net
        .wire
        .iter()
        .filter(|(_, to, m)| *to == b && matches!(m, Message::Ping { .. }))
        .count();
    assert_eq!(pings, 0, "the first ping still waits for its pong");
}
