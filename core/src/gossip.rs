//! Gossip membership, seeds and operator membership changes (Dynamo §4.8).
//!
//! Every gossip period a node sends its view to one member chosen by its seeded PRNG
//! (to a seed while it knows no other member); the receiver merges (a CRDT merge, see
//! `membership.rs`) and answers with its own view when the two differ, so one exchange
//! brings both up to date. An operator's join or leave, accepted by any member, installs
//! a ring of the next epoch, which then spreads the same way.
//!
//! Invariants:
//! - a view that fails its own invariants, or describes a ring of another partition
//!   count, is ignored and counted;
//! - a join or leave is refused while the previous change's transfers are running, so
//!   partitions never chain through a node that has not received them yet.

use crate::membership::{MemberStatus, Membership};
use crate::message::{Failure, Message, Output};
use crate::node::Node;
use crate::ring::RingMember;
use crate::store::Store;
use crate::types::NodeId;

impl<S: Store> Node<S> {
    pub(crate) fn gossip_round(&mut self, out: &mut Vec<Output>) {
        let peers: Vec<NodeId> = self
            .membership
            .members()
            .iter()
            .filter(|(node, info)| **node != self.id && info.status != MemberStatus::Left)
            .map(|(node, _)| *node)
            .collect();
        let peers = if peers.is_empty() {
            self.config.seeds.clone()
        } else {
            peers
        };
        let peers: Vec<NodeId> = peers.into_iter().filter(|n| *n != self.id).collect();
        if !peers.is_empty() {
            let peer = peers[self.prng.below(peers.len() as u64) as usize];
            self.send_view(peer, true, out);
        }
        self.probe(out);
    }

    fn send_view(&self, to: NodeId, reply: bool, out: &mut Vec<Output>) {
        let membership = Box::new(self.membership.clone());
        self.send(out, to, Message::Gossip { membership, reply });
    }

    pub(crate) fn on_gossip(
        &mut self,
        from: NodeId,
        theirs: Membership,
        reply: bool,
        out: &mut Vec<Output>,
    ) {
        let partitions_match = theirs
            .ring()
            .is_none_or(|ring| ring.partitions() == self.config.ring.partitions);
        if theirs.check_invariants().is_err() || !partitions_match {
            return self.ignore();
        }
        self.stats.gossip_received += 1;
        let epoch = self.membership.epoch();
        if self.membership.merge(&theirs) {
            self.membership_changed(epoch);
        }
        if reply && theirs != self.membership {
            self.send_view(from, false, out);
        }
    }

    /// Persist a changed view; re-plan transfers when the ring moved to a new epoch.
    pub(crate) fn membership_changed(&mut self, old_epoch: u64) {
        if let Err(error) = self.persist_membership() {
            self.storage_failed(&error);
        }
        if self.membership.epoch() != old_epoch {
            self.stats.membership_changes += 1;
            self.replan();
        }
    }

    /// Operator: put a member that announced itself into the ring (next epoch).
    pub(crate) fn join(&mut self, node: NodeId, out: &mut Vec<Output>) -> Result<u64, Failure> {
        let refuse = |reason: String| Failure::Membership { reason };
        let ring = self.ring().ok_or(Failure::NotReady)?;
        let info = self.membership.member(node).ok_or_else(|| {
            refuse(format!(
                "{node} is unknown here: start it with this cluster's seeds, then join it"
            ))
        })?;
        if ring.contains(node) {
            return Err(refuse(format!("{node} is already in the ring")));
        }
        self.require_settled()?;
        let member = RingMember {
            node,
            weight: info.weight,
            zone: info.zone.clone(),
        };
        let next = ring.join(member).map_err(|e| refuse(e.to_string()))?;
        self.change_ring(next, node, MemberStatus::Valid, out)
    }

    /// Operator: take a member out of the ring (next epoch); its partitions move first.
    pub(crate) fn leave(&mut self, node: NodeId, out: &mut Vec<Output>) -> Result<u64, Failure> {
        let refuse = |reason: String| Failure::Membership { reason };
        let ring = self.ring().ok_or(Failure::NotReady)?;
        if !ring.contains(node) {
            return Err(refuse(format!("{node} is not in the ring")));
        }
        self.require_settled()?;
        let next = ring.leave(node).map_err(|e| refuse(e.to_string()))?;
        self.change_ring(next, node, MemberStatus::Leaving, out)
    }

    fn require_settled(&self) -> Result<(), Failure> {
        let running = self
            .plan
            .iter()
            .filter(|t| !self.membership.is_completed(t.partition, t.to))
            .count();
        if running > 0 {
            let epoch = self.membership.epoch();
            let reason =
                format!("{running} partition transfers of epoch {epoch} are still running");
            return Err(Failure::Membership { reason });
        }
        Ok(())
    }

    fn change_ring(
        &mut self,
        next: crate::ring::Ring,
        node: NodeId,
        status: MemberStatus,
        out: &mut Vec<Output>,
    ) -> Result<u64, Failure> {
        let epoch = self.membership.epoch();
        self.membership.install_ring(next);
        self.membership.set_status(node, status);
        self.membership_changed(epoch);
        if node != self.id {
            self.send_view(node, true, out);
        }
        Ok(self.membership.epoch())
    }
}
