//! Membership views merge as a CRDT (Dynamo §4.8): commutative, associative, idempotent,
//! and the merge of views that saw the same updates is the same view.

use dynamo_core::membership::{MemberInfo, MemberStatus, Membership};
use dynamo_core::ring::{Ring, RingConfig, RingMember};
use dynamo_core::types::{NodeId, PartitionId};
use proptest::prelude::*;
use std::collections::BTreeMap;

fn info(address: &str) -> MemberInfo {
    MemberInfo {
        version: 1,
        status: MemberStatus::Valid,
        address: address.to_string(),
        weight: 1,
        zone: None,
    }
}

fn base() -> Membership {
    let config = RingConfig {
        partitions: 16,
        replication_factor: 3,
    };
    let members: Vec<RingMember> = (1..=3)
        .map(|id| RingMember {
            node: NodeId(id),
            weight: 1,
            zone: None,
        })
        .collect();
    let ring = Ring::new(config, members).unwrap();
    let infos: BTreeMap<NodeId, MemberInfo> = (1..=3)
        .map(|id| (NodeId(id), info(&format!("n{id}"))))
        .collect();
    Membership::bootstrap(infos, ring)
}

/// An update one replica of the view may apply.
#[derive(Clone, Debug)]
enum Update {
    Announce(u32),
    Status(u32, u8),
    Join(u32),
    Leave(u32),
    Complete(u32, u32),
}

fn update() -> impl Strategy<Value = Update> {
    prop_oneof![
        (4u32..7).prop_map(Update::Announce),
        (1u32..7, 0u8..4).prop_map(|(n, s)| Update::Status(n, s)),
        (4u32..7).prop_map(Update::Join),
        (1u32..7).prop_map(Update::Leave),
        (0u32..16, 1u32..7).prop_map(|(p, n)| Update::Complete(p, n)),
    ]
}

fn apply(view: &mut Membership, update: &Update) {
    match update {
        Update::Announce(node) => {
            let mut joining = info(&format!("n{node}"));
            joining.status = MemberStatus::Joining;
            view.set_member(NodeId(*node), joining);
        }
        Update::Status(node, status) => {
            let status = [
                MemberStatus::Joining,
                MemberStatus::Valid,
                MemberStatus::Leaving,
                MemberStatus::Left,
            ][*status as usize];
            view.set_status(NodeId(*node), status);
        }
        Update::Join(node) => {
            let Some(ring) = view.ring().cloned() else {
                return;
            };
            if view.member(NodeId(*node)).is_some() && !ring.contains(NodeId(*node)) {
                let next = ring
                    .join(RingMember {
                        node: NodeId(*node),
                        weight: 1,
                        zone: None,
                    })
                    .unwrap();
                view.install_ring(next);
            }
        }
        Update::Leave(node) => {
            let Some(ring) = view.ring().cloned() else {
                return;
            };
            if let Ok(next) = ring.leave(NodeId(*node)) {
                view.install_ring(next);
            }
        }
        Update::Complete(partition, node) => {
            view.complete_transfer(PartitionId(*partition), NodeId(*node))
        }
    }
}

/// Three replicas of the view, each applying its own updates.
fn replicas() -> impl Strategy<Value = [Membership; 3]> {
    proptest::collection::vec((0usize..3, update()), 0..24).prop_map(|updates| {
        let mut views = [base(), base(), base()];
        for (replica, update) in &updates {
            apply(&mut views[*replica], update);
        }
        views
    })
}

fn merged(a: &Membership, b: &Membership) -> Membership {
    let mut out = a.clone();
    out.merge(b);
    out
}

proptest! {
    #[test]
    fn merge_is_commutative([a, b, _c] in replicas()) {
        prop_assert_eq!(merged(&a, &b), merged(&b, &a));
    }

    #[test]
    fn merge_is_associative([a, b, c] in replicas()) {
        prop_assert_eq!(merged(&merged(&a, &b), &c), merged(&a, &merged(&b, &c)));
    }

    #[test]
    fn merge_is_idempotent([a, b, _c] in replicas()) {
        prop_assert_eq!(merged(&a, &a), a.clone());
        let ab = merged(&a, &b);
        prop_assert_eq!(merged(&ab, &b), ab.clone());
        prop_assert!(!ab.clone().merge(&b));
    }

    #[test]
    fn merged_views_keep_their_invariants([a, b, c] in replicas()) {
        let all = merged(&merged(&a, &b), &c);
        prop_assert!(all.check_invariants().is_ok(), "{:?}", all.check_invariants());
        prop_assert!(all.epoch() >= a.epoch().max(b.epoch()).max(c.epoch()));
    }
}

#[test]
fn a_newer_ring_wins_and_brings_its_previous_ring_4_8() {
    let mut old = base();
    let mut new = base();
    apply(&mut new, &Update::Announce(4));
    apply(&mut new, &Update::Join(4));
    assert_eq!(new.epoch(), 2);
    assert!(old.merge(&new));
    assert_eq!(old.epoch(), 2);
    assert_eq!(old.previous().map(Ring::epoch), Some(1));
    assert!(old.member(NodeId(4)).is_some());
}

#[test]
fn a_member_change_wins_over_the_version_it_replaced() {
    let mut a = base();
    let b = base();
    a.set_status(NodeId(2), MemberStatus::Leaving);
    let mut c = b.clone();
    c.merge(&a);
    assert_eq!(c.member(NodeId(2)).unwrap().status, MemberStatus::Leaving);
}
