//! Hinted handoff (Dynamo §4.6).
//!
//! A fallback that took a write for an unreachable home node keeps it in its hint store,
//! apart from its own replicas. Every handoff round [`Handoff`] offers up to
//! `handoff_batch` hints whose home node it believes reachable; it deletes a hint only
//! once the home node acknowledged the delivery *and* the hint has not changed since it
//! was sent (a newer write merged into it must be delivered too).
//!
//! Invariants:
//! - a hint is deleted only after a `HandoffOk` for exactly the version delivered;
//! - at most one delivery per hint is in flight;
//! - a delivery unanswered for `AWAIT_ROUNDS_MAX` rounds is forgotten and its peer
//!   suspected (the hint is offered again later).

use crate::detector::{FailureDetector, AWAIT_ROUNDS_MAX};
use crate::local::Local;
use crate::membership::{MemberStatus, Membership};
use crate::message::{Message, Output, RefuseReason};
#[cfg(feature = "mutants")]
use crate::mutant::Mutant;
use crate::store::{HintKey, Store};
use crate::types::NodeId;
use crate::version::Siblings;
use std::collections::{BTreeMap, BTreeSet};

/// Hints examined per round, so a round stays bounded with many unreachable targets.
pub const HANDOFF_SCAN_MAX: usize = 4096;

/// A hint sent to its home node, awaiting the acknowledgement.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Delivery {
    peer: NodeId,
    hint: HintKey,
    /// The version sent: the hint is deleted only if it is still exactly this.
    siblings: Siblings,
    /// Handoff rounds waited.
    rounds: u32,
}

/// Hint delivery state (see the module documentation).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct Handoff {
    deliveries: BTreeMap<u64, Delivery>,
    /// Where the next round's scan of the hint store starts.
    cursor: Option<HintKey>,
}

/// Whether a hint's target is gone for good (removed, or done leaving): its hints
/// can never be delivered to it.
fn target_gone(membership: &Membership, target: NodeId) -> bool {
    membership
        .member(target)
        .is_some_and(|m| m.status == MemberStatus::Left)
}

/// A hint for a node gone for good goes to the key's current homes instead: merged
/// here when this node is one, else kept as a hint for each of the others (handoff
/// then delivers those). The old hint is deleted only once every copy is stored.
fn rehome<S: Store>(
    local: &mut Local<S>,
    membership: &Membership,
    hint: HintKey,
    siblings: &Siblings,
) {
    let Some(ring) = membership.ring() else {
        return;
    };
    let homes = ring.home_replicas(hint.partition, local.replication_factor());
    for home in homes {
        let target = (home != local.id()).then_some(home);
        if local
            .store_write(hint.partition, &hint.key, siblings, target)
            .is_err()
        {
            return;
        }
    }
    if let Err(error) = local.remove_hint(&hint) {
        local.storage_failed(&error);
    }
}

impl Handoff {
    /// Offer up to `handoff_batch` hints whose home is believed reachable.
    pub fn round<S: Store>(
        &mut self,
        local: &mut Local<S>,
        detector: &FailureDetector,
        membership: &Membership,
        out: &mut Vec<Output>,
    ) {
        let hints = match local.store().hints(self.cursor.as_ref(), HANDOFF_SCAN_MAX) {
            Ok(hints) => hints,
            Err(error) => {
                local.storage_failed(&error);
                return;
            }
        };
        self.cursor = match hints.last() {
            Some((hint, _)) if hints.len() == HANDOFF_SCAN_MAX => Some(hint.clone()),
            _ => None,
        };
        let (gone, hints): (Vec<_>, Vec<_>) = hints
            .into_iter()
            .partition(|(hint, _)| target_gone(membership, hint.target));
        for (hint, siblings) in gone {
            rehome(local, membership, hint, &siblings);
        }
        let in_flight: BTreeSet<&HintKey> = self.deliveries.values().map(|d| &d.hint).collect();
        let ready = hints
            .into_iter()
            .filter(|(hint, _)| detector.healthy(hint.target) && !in_flight.contains(hint))
            .take(local.config().handoff_batch)
            .collect::<Vec<_>>();
        for (hint, siblings) in ready {
            self.deliver(local, hint, siblings, out);
        }
    }

    fn deliver<S: Store>(
        &mut self,
        local: &mut Local<S>,
        hint: HintKey,
        siblings: Siblings,
        out: &mut Vec<Output>,
    ) {
        let request = local.mint_request();
        let peer = hint.target;
        let message = Message::Handoff {
            request,
            hint: hint.clone(),
            siblings: siblings.clone(),
        };
        local.send(out, peer, message);
        #[cfg(feature = "mutants")]
        if local.planted(Mutant::DeleteHintBeforeAck) {
            let _ = local.remove_hint(&hint);
            return;
        }
        let delivery = Delivery {
            peer,
            hint,
            siblings,
            rounds: 0,
        };
        self.deliveries.insert(request, delivery);
    }

    /// One round passed: forget deliveries that waited too long; returns their peers.
    pub fn age(&mut self) -> Vec<NodeId> {
        let mut expired = Vec::new();
        self.deliveries.retain(|_, delivery| {
            delivery.rounds += 1;
            let keep = delivery.rounds <= AWAIT_ROUNDS_MAX;
            if !keep {
                expired.push(delivery.peer);
            }
            keep
        });
        expired
    }

    /// A peer refused `request`: forget it if it was a delivery to that peer.
    pub fn forget(&mut self, request: u64, from: NodeId) -> bool {
        if self
            .deliveries
            .get(&request)
            .is_some_and(|d| d.peer == from)
        {
            self.deliveries.remove(&request);
            return true;
        }
        false
    }

    /// The home node's side: merge a delivered hint into its replica.
    pub fn on_handoff<S: Store>(
        local: &mut Local<S>,
        from: NodeId,
        request: u64,
        hint: HintKey,
        siblings: Siblings,
        out: &mut Vec<Output>,
    ) {
        let valid = hint.target == local.id()
            && local.valid_key(hint.partition, &hint.key)
            && siblings.check_invariants().is_ok();
        if !valid {
            return local.ignore();
        }
        let message = match local.merge_replica(hint.partition, &hint.key, &siblings) {
            Ok(_) => Message::HandoffOk { request },
            Err(error) => {
                local.storage_failed(&error);
                let message = error.message;
                let reason = RefuseReason::Storage { message };
                Message::Refused { request, reason }
            }
        };
        local.send(out, from, message);
    }

    pub fn on_handoff_ok<S: Store>(&mut self, local: &mut Local<S>, from: NodeId, request: u64) {
        if self.deliveries.get(&request).is_none_or(|d| d.peer != from) {
            return local.ignore();
        }
        let Delivery { hint, siblings, .. } =
            self.deliveries.remove(&request).expect("checked above");
        match local.store().hint(&hint) {
            Ok(Some(current)) if current == siblings => match local.remove_hint(&hint) {
                Ok(()) => local.count().hints_delivered += 1,
                Err(error) => {
                    local.storage_failed(&error);
                }
            },
            Ok(_) => {}
            Err(error) => {
                local.storage_failed(&error);
            }
        }
    }

    pub fn in_flight(&self) -> usize {
        self.deliveries.len()
    }
}
