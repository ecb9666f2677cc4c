//! Concurrent membership changes (issue 18, finding 2): two operators changing the
//! ring at once through different nodes must not both be told their change was made
//! when only one ring survives the merge. Every change is made by one claimant (the
//! ring's lowest member id, as Riak's claimant), to which other nodes forward it; the
//! second of two concurrent changes is refused with a clear reason while the first's
//! transfers run, and the survivor is the one its operator was told about.
#![cfg(feature = "sim")]

mod common;

use common::n;
use common::net::Net;
use dynamo_core::message::{Command, Failure, Input, Reply, Timer};

/// Three founders, and nodes 4 and 5 started with node 1 as seed and announced.
fn with_two_candidates() -> Net {
    let mut net = Net::new(3);
    for id in [4, 5] {
        net.add_node(n(id), n(1));
        net.input(n(id), Input::Timeout(Timer::Gossip));
        net.deliver_all();
    }
    net.gossip_until_agreed(20);
    net
}

#[test]
fn of_two_concurrent_changes_one_is_made_and_the_other_refused_clearly() {
    let mut net = with_two_candidates();
    let first = net.command(n(2), Command::Join { node: n(4) });
    let second = net.command(n(3), Command::Join { node: n(5) });
    net.deliver_all();
    let replies = [
        net.replies.get(&first).cloned(),
        net.replies.get(&second).cloned(),
    ];
    let made: Vec<u64> = replies
        .iter()
        .filter_map(|r| match r {
            Some(Reply::Changed { epoch }) => Some(*epoch),
            _ => None,
        })
        .collect();
    assert_eq!(made, vec![2], "exactly one change is made: {replies:?}");
    let refused = replies.iter().find_map(|r| match r {
        Some(Reply::Failed(Failure::Membership { reason })) => Some(reason.clone()),
        _ => None,
    });
    let reason = refused.unwrap_or_else(|| panic!("the other is refused: {replies:?}"));
    assert!(reason.contains("still running"), "{reason}");
    net.gossip_until_agreed(20);
    let ring = net.node(n(1)).membership().ring().unwrap().clone();
    let joined = if matches!(replies[0], Some(Reply::Changed { .. })) {
        n(4)
    } else {
        n(5)
    };
    assert!(
        ring.contains(joined),
        "the change its operator was told of survives"
    );
    for id in 1..=5 {
        assert_eq!(net.node(n(id)).membership().epoch(), 2, "node {id}");
    }
}
