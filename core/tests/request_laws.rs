//! Laws of a coordinator's rounds (Dynamo §4.5), on hand-driven nodes (`common::net`):
//! a round is forgotten as soon as every target answered, whatever the answers, and a
//! request that fails says how many answers it needed and how many it got.
#![cfg(feature = "sim")]

mod common;

use common::net::Net;
use dynamo_core::clock::VersionVector;
use dynamo_core::message::{Command, Failure, Quorum, Reply};
use dynamo_core::version::Content;

/// A put whose three targets all answered, one with a refusal (its disk failed), is
/// acknowledged and then forgotten at once: nothing stays in flight, no deadline
/// stays armed. (Kills `Tally::complete`'s `ok + failed` replaced by `ok - failed`.)
#[test]
fn a_round_every_target_answered_is_forgotten_at_once_refusals_included() {
    let mut net = Net::new(4);
    let list = net.preference_list(b"cart");
    let (coordinator, refusing) = (list[0], list[2]);
    net.fail_writes(refusing, true);
    let put = net.put(coordinator, b"cart", VersionVector::new(), b"v");
    net.deliver_all();
    assert!(matches!(net.replies.get(&put), Some(Reply::Put { .. })));
    assert!(net.node(refusing).stats().storage_errors >= 1, "it refused");
    assert_eq!(
        net.node(coordinator).in_flight(),
        0,
        "the round is forgotten"
    );
    assert!(
        net.deadlines.iter().all(|(node, _)| *node != coordinator),
        "its deadline is cancelled"
    );
}

/// A put and a get that need all three replicas while one is down time out with the
/// numbers: needed 3, received 2. (Kills `Tally::received` replaced by 0 or 1.)
#[test]
fn a_request_that_times_out_reports_needed_and_received() {
    let mut net = Net::new(4);
    let list = net.preference_list(b"cart");
    let (coordinator, down) = (list[0], list[2]);
    net.down.insert(down);
    let all = Quorum {
        read_quorum: Some(3),
        write_quorum: Some(3),
        ..Quorum::default()
    };
    let put = net.command(
        coordinator,
        Command::Put {
            key: b"cart".to_vec(),
            context: VersionVector::new(),
            content: Content::Value(b"v".to_vec()),
            quorum: all,
        },
    );
    let get = net.command(
        coordinator,
        Command::Get {
            key: b"cart".to_vec(),
            quorum: all,
        },
    );
    net.deliver_all();
    net.expire_requests(coordinator);
    let timeout = Reply::Failed(Failure::Timeout {
        needed: 3,
        received: 2,
    });
    assert_eq!(net.replies.get(&put), Some(&timeout));
    assert_eq!(net.replies.get(&get), Some(&timeout));
}
