//! The membership view and its CRDT merge (Dynamo §4.8, §4.9).
//!
//! Each node holds a view of the cluster: every member's address, weight, zone and
//! status, the ring (partition ownership, versioned by its epoch), the ring of the
//! previous epoch (from which every node derives the same transfer plan) and the set of
//! partition transfers of the current epoch that have completed. Views spread by gossip
//! and merge as a state-based CRDT, so any two nodes that have seen the same updates
//! hold the same view, whatever the order of delivery.
//!
//! Merge, component by component:
//! - members: per node, the entry with the greater `(version, status, ...)` wins; whoever
//!   changes a member bumps its version.
//! - ring: the greater `(epoch, ring)` wins, together with its previous ring and its
//!   completed transfers; for the same ring, previous rings take the maximum and the
//!   completed transfers their union (a lexicographic product of a total order with a
//!   semilattice: again a semilattice).
//!
//! Invariants (checked by `check_invariants`, laws by property tests):
//! - merge is commutative, associative and idempotent;
//! - every ring member is a member of the view;
//! - the previous ring, when present, has a smaller epoch than the ring;
//! - completed transfers name partitions of the ring.

use crate::ring::Ring;
use crate::types::{limits, NodeId, PartitionId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use thiserror::Error;

/// A member's lifecycle. Ordered so that, at equal versions, later stages win.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MemberStatus {
    /// Announced itself through a seed; not in the ring until an operator joins it.
    Joining,
    /// In the ring, serving.
    Valid,
    /// Removed from the ring by an operator; still handing its partitions off.
    Leaving,
    /// Handed everything off; may shut down.
    Left,
}

/// What the view knows of one member. Field order matters: `version` decides merges.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MemberInfo {
    pub version: u64,
    pub status: MemberStatus,
    /// Where the driver reaches the member's peer port (opaque to the core).
    pub address: String,
    pub weight: u32,
    pub zone: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Error, Serialize, Deserialize)]
pub enum MembershipError {
    #[error("too many members: {count}, max {max}")]
    TooManyMembers { count: usize, max: usize },
    #[error("ring member {node} is not a member of the view")]
    RingMemberUnknown { node: NodeId },
    #[error("previous ring epoch {previous} is not below ring epoch {epoch}")]
    PreviousNotOlder { previous: u64, epoch: u64 },
    #[error("completed transfer names partition {partition} outside the ring")]
    CompletedOutsideRing { partition: PartitionId },
    #[error("ring of epoch {epoch} is broken: {source}")]
    BrokenRing {
        epoch: u64,
        source: crate::ring::RingInvariantError,
    },
    #[error("ring of epoch {epoch} has a bad configuration: {source}")]
    BadRingConfig {
        epoch: u64,
        source: crate::ring::RingError,
    },
}

/// A node's view of the cluster. See the module doc for the merge.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Membership {
    members: BTreeMap<NodeId, MemberInfo>,
    ring: Option<Ring>,
    previous: Option<Ring>,
    completed: BTreeSet<(PartitionId, NodeId)>,
}

impl Membership {
    /// A view holding only `members`, without a ring (a node that has not joined yet).
    pub fn new(members: BTreeMap<NodeId, MemberInfo>) -> Self {
        Self {
            members,
            ..Self::default()
        }
    }

    /// A view of a cluster bootstrapped with `ring` (every ring member must be listed).
    pub fn bootstrap(members: BTreeMap<NodeId, MemberInfo>, ring: Ring) -> Self {
        Self {
            members,
            ring: Some(ring),
            ..Self::default()
        }
    }

    pub fn members(&self) -> &BTreeMap<NodeId, MemberInfo> {
        &self.members
    }

    pub fn member(&self, node: NodeId) -> Option<&MemberInfo> {
        self.members.get(&node)
    }

    pub fn ring(&self) -> Option<&Ring> {
        self.ring.as_ref()
    }

    pub fn previous(&self) -> Option<&Ring> {
        self.previous.as_ref()
    }

    /// The ring's epoch, 0 when there is no ring yet.
    pub fn epoch(&self) -> u64 {
        self.ring.as_ref().map_or(0, Ring::epoch)
    }

    pub fn completed(&self) -> &BTreeSet<(PartitionId, NodeId)> {
        &self.completed
    }

    pub fn is_completed(&self, partition: PartitionId, node: NodeId) -> bool {
        self.completed.contains(&(partition, node))
    }

    /// Set a member's entry, with a version above every version seen for it, so the
    /// change wins every merge with views that have not seen it.
    pub fn set_member(&mut self, node: NodeId, mut info: MemberInfo) {
        let seen = self.members.get(&node).map_or(0, |old| old.version);
        info.version = info.version.max(seen + 1);
        self.members.insert(node, info);
    }

    /// Change a member's status (no-op for unknown members).
    pub fn set_status(&mut self, node: NodeId, status: MemberStatus) {
        if let Some(info) = self.members.get(&node).cloned() {
            self.set_member(node, MemberInfo { status, ..info });
        }
    }

    /// Install the ring of a new epoch: the current one becomes the previous one, and
    /// the completed transfers start empty.
    pub fn install_ring(&mut self, ring: Ring) {
        debug_assert!(
            ring.epoch() > self.epoch(),
            "a new ring must have a newer epoch"
        );
        self.previous = self.ring.take();
        self.ring = Some(ring);
        self.completed.clear();
    }

    /// Record that `node` received all of `partition` for the current epoch.
    pub fn complete_transfer(&mut self, partition: PartitionId, node: NodeId) {
        self.completed.insert((partition, node));
    }

    /// Merge `other` into this view; returns whether this view changed.
    pub fn merge(&mut self, other: &Membership) -> bool {
        let before = self.clone();
        for (node, info) in &other.members {
            match self.members.get(node) {
                Some(mine) if mine >= info => {}
                _ => {
                    self.members.insert(*node, info.clone());
                }
            }
        }
        self.merge_ring(other);
        *self != before
    }

    fn merge_ring(&mut self, other: &Membership) {
        let mine = self.ring.as_ref().map(|ring| (ring.epoch(), ring));
        let theirs = other.ring.as_ref().map(|ring| (ring.epoch(), ring));
        match theirs.cmp(&mine) {
            std::cmp::Ordering::Greater => {
                self.ring = other.ring.clone();
                self.previous = other.previous.clone();
                self.completed = other.completed.clone();
            }
            std::cmp::Ordering::Equal => {
                if other.previous > self.previous {
                    self.previous = other.previous.clone();
                }
                self.completed.extend(other.completed.iter().copied());
            }
            std::cmp::Ordering::Less => {}
        }
    }

    pub fn check_invariants(&self) -> Result<(), MembershipError> {
        if self.members.len() > limits::MEMBERS_MAX {
            let (count, max) = (self.members.len(), limits::MEMBERS_MAX);
            return Err(MembershipError::TooManyMembers { count, max });
        }
        let Some(ring) = &self.ring else {
            return Ok(());
        };
        // A view from a peer is untrusted: a ring whose owners are not its members, or
        // whose shares break the claim, would panic routing (issue 17).
        for ring in [Some(ring), self.previous.as_ref()].into_iter().flatten() {
            let epoch = ring.epoch();
            ring.config()
                .validate()
                .map_err(|source| MembershipError::BadRingConfig { epoch, source })?;
            ring.check_invariants()
                .map_err(|source| MembershipError::BrokenRing { epoch, source })?;
        }
        if let Some(node) = ring
            .members()
            .keys()
            .find(|n| !self.members.contains_key(n))
        {
            return Err(MembershipError::RingMemberUnknown { node: *node });
        }
        if let Some(previous) = &self.previous {
            if previous.epoch() >= ring.epoch() {
                let (previous, epoch) = (previous.epoch(), ring.epoch());
                return Err(MembershipError::PreviousNotOlder { previous, epoch });
            }
        }
        let partitions = ring.partitions();
        if let Some((partition, _)) = self.completed.iter().find(|(p, _)| p.0 >= partitions) {
            return Err(MembershipError::CompletedOutsideRing {
                partition: *partition,
            });
        }
        Ok(())
    }
}
