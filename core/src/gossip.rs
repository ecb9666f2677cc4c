//! Gossip membership, seeds and operator membership changes (Dynamo §4.8).
//!
//! [`Cluster`] owns this node's view of the membership and ring. Every gossip period a
//! node sends its view to one member chosen by its seeded PRNG (to a seed while it
//! knows no other member); the receiver merges (a CRDT merge, see `membership.rs`) and
//! answers with its own view when the two differ, so one exchange brings both up to
//! date. An operator's join or leave, accepted by any member, installs a ring of the
//! next epoch, which then spreads the same way. The view is persisted on every change.
//!
//! Invariants:
//! - a view that fails its own invariants (its ring's included), or describes a ring of
//!   another partition count, is ignored and counted;
//! - a join or leave is refused while the previous change's transfers are running, so
//!   partitions never chain through a node that has not received them yet;
//! - every change of the view is persisted before the step's outputs are released.

use crate::config::{ConfigError, NodeConfig};
use crate::local::Local;
use crate::membership::{MemberInfo, MemberStatus, Membership};
use crate::message::{Failure, Message, Output};
use crate::ring::{Ring, RingError, RingMember};
use crate::store::{Store, StoreError};
use crate::types::{NodeId, PartitionId};
use std::collections::BTreeMap;
use thiserror::Error;

/// Metadata name of the persisted membership.
const META_MEMBERSHIP: &str = "membership";
/// Format version of the persisted membership.
const MEMBERSHIP_FORMAT: u8 = 1;

/// Why the stored membership could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Error)]
pub(crate) enum LoadError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored membership is unreadable: {message}")]
    Unreadable { message: String },
}

/// An operator's membership change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    Join(NodeId),
    Leave(NodeId),
    /// A member gone for good: out of the ring and marked left at once (see
    /// `Command::Remove`).
    Remove(NodeId),
}

/// This node's membership view (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Cluster {
    membership: Membership,
}

impl Cluster {
    /// The persisted view, else the bootstrap view of an initial member, else a view
    /// of this node alone, joining; with this node's configured address announced.
    pub fn load<S: Store>(local: &mut Local<S>) -> Result<Self, LoadError> {
        let membership = load_membership(local.id(), local.config(), local.store())?;
        let mut cluster = Self { membership };
        cluster.announce_address(local.id(), &local.config().me.address);
        cluster.persist(local)?;
        Ok(cluster)
    }

    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    pub fn ring(&self) -> Option<&Ring> {
        self.membership.ring()
    }

    /// The node that makes membership changes: the ring's lowest member id (`None`
    /// before a ring exists).
    pub fn claimant(&self) -> Option<NodeId> {
        self.ring()?.members().keys().next().copied()
    }

    /// The claimant for a change that removes `removed` for good: the lowest ring
    /// member other than it, so a dead claimant can itself be removed (it can make no
    /// change meanwhile; an operator must only remove a node that is truly gone).
    pub fn claimant_without(&self, removed: NodeId) -> Option<NodeId> {
        let mut members = self.ring()?.members().keys().copied();
        members.find(|m| *m != removed)
    }

    pub fn epoch(&self) -> u64 {
        self.membership.epoch()
    }

    /// Send this node's view to `to` now (a peer found behind this node's ring).
    pub fn push_view<S: Store>(&self, local: &mut Local<S>, to: NodeId, out: &mut Vec<Output>) {
        self.send_view(local, to, true, out);
    }

    /// Send this node's view to one peer (a seed while it knows no member).
    pub fn round<S: Store>(&self, local: &mut Local<S>, out: &mut Vec<Output>) {
        let me = local.id();
        let peers: Vec<NodeId> = self
            .membership
            .members()
            .iter()
            .filter(|(node, info)| **node != me && info.status != MemberStatus::Left)
            .map(|(node, _)| *node)
            .collect();
        let peers = if peers.is_empty() {
            local.config().seeds.clone()
        } else {
            peers
        };
        let peers: Vec<NodeId> = peers.into_iter().filter(|n| *n != me).collect();
        if !peers.is_empty() {
            let peer = peers[local.pick(peers.len())];
            self.send_view(local, peer, true, out);
        }
    }

    fn send_view<S: Store>(
        &self,
        local: &Local<S>,
        to: NodeId,
        reply: bool,
        out: &mut Vec<Output>,
    ) {
        let membership = Box::new(self.membership.clone());
        local.send(out, to, Message::Gossip { membership, reply });
    }

    /// Merge a peer's view; returns whether the ring moved to a new epoch.
    pub fn on_gossip<S: Store>(
        &mut self,
        local: &mut Local<S>,
        from: NodeId,
        theirs: Membership,
        reply: bool,
        out: &mut Vec<Output>,
    ) -> bool {
        // Another cluster's shape (partition count, N) is refused whole: routing and
        // every transfer plan assume one ring configuration.
        let same_shape = [theirs.ring(), theirs.previous()]
            .into_iter()
            .flatten()
            .all(|ring| ring.config() == &local.config().ring);
        if theirs.check_invariants().is_err() || !same_shape {
            local.ignore();
            return false;
        }
        local.count().gossip_received += 1;
        let epoch = self.epoch();
        let moved = self.membership.merge(&theirs) && self.changed(local, epoch);
        if reply && theirs != self.membership {
            self.send_view(local, from, false, out);
        }
        moved
    }

    /// Persist a changed view; returns whether the ring moved to a new epoch.
    fn changed<S: Store>(&mut self, local: &mut Local<S>, old_epoch: u64) -> bool {
        if let Err(error) = self.persist(local) {
            local.storage_failed(&error);
        }
        if self.epoch() == old_epoch {
            return false;
        }
        local.count().membership_changes += 1;
        true
    }

    /// Operator: a join (a member that announced itself enters the ring) or a leave
    /// (a member's partitions move away first), as the ring of the next epoch.
    /// `running`: transfers of the current epoch not yet completed.
    pub fn change<S: Store>(
        &mut self,
        local: &mut Local<S>,
        change: Change,
        running: usize,
        out: &mut Vec<Output>,
    ) -> Result<u64, Failure> {
        let ring = self.ring().ok_or(Failure::NotReady)?;
        let (next, node, status) = match change {
            Change::Join(node) => {
                let info = self.membership.member(node).ok_or_else(|| {
                    refuse(format!(
                        "{node} is unknown here: start it with this cluster's seeds, then join it"
                    ))
                })?;
                if ring.contains(node) {
                    return Err(refuse(format!("{node} is already in the ring")));
                }
                self.require_settled(running)?;
                let member = RingMember {
                    node,
                    weight: info.weight,
                    zone: info.zone.clone(),
                };
                let next = ring.join(member).map_err(|e| refuse(e.to_string()))?;
                (next, node, MemberStatus::Valid)
            }
            Change::Leave(node) => {
                if !ring.contains(node) {
                    return Err(refuse(format!("{node} is not in the ring")));
                }
                self.require_settled(running)?;
                let next = ring.leave(node).map_err(|e| refuse(e.to_string()))?;
                (next, node, MemberStatus::Leaving)
            }
            Change::Remove(node) => {
                if node == local.id() {
                    let reason = format!("{node} cannot remove itself: ask another member");
                    return Err(refuse(reason));
                }
                if !ring.contains(node) {
                    return Err(refuse(format!("{node} is not in the ring")));
                }
                // Not blocked by running transfers: the gone node may be their sender.
                let next = ring.leave(node).map_err(|e| refuse(e.to_string()))?;
                (next, node, MemberStatus::Left)
            }
        };
        Ok(self.change_ring(local, next, node, status, out))
    }

    fn require_settled(&self, running: usize) -> Result<(), Failure> {
        if running > 0 {
            let epoch = self.epoch();
            let reason =
                format!("{running} partition transfers of epoch {epoch} are still running");
            return Err(Failure::Membership { reason });
        }
        Ok(())
    }

    fn change_ring<S: Store>(
        &mut self,
        local: &mut Local<S>,
        next: Ring,
        node: NodeId,
        status: MemberStatus,
        out: &mut Vec<Output>,
    ) -> u64 {
        let epoch = self.epoch();
        self.membership.install_ring(next);
        self.membership.set_status(node, status);
        self.changed(local, epoch);
        if node != local.id() {
            self.send_view(local, node, true, out);
        }
        self.epoch()
    }

    /// Record that `node` received all of `partition` in the current epoch.
    pub fn complete_transfer<S: Store>(
        &mut self,
        local: &mut Local<S>,
        partition: PartitionId,
        node: NodeId,
    ) {
        if self.membership.is_completed(partition, node) {
            return;
        }
        let epoch = self.epoch();
        self.membership.complete_transfer(partition, node);
        self.changed(local, epoch);
    }

    /// This node left the ring and handed everything off.
    pub fn mark_left<S: Store>(&mut self, local: &mut Local<S>) {
        let epoch = self.epoch();
        self.membership.set_status(local.id(), MemberStatus::Left);
        self.changed(local, epoch);
    }

    /// A node restarted at a new address tells the cluster: its own entry takes the
    /// configured address with a newer version, which gossip spreads. (A concurrent
    /// operator change of the same entry may win the merge at an equal version; the
    /// next restart announces again.)
    fn announce_address(&mut self, me: NodeId, address: &str) {
        let Some(mine) = self.membership.member(me) else {
            return;
        };
        if address.is_empty() || mine.address == address {
            return;
        }
        let info = MemberInfo {
            address: address.to_string(),
            ..mine.clone()
        };
        self.membership.set_member(me, info);
    }

    fn persist<S: Store>(&self, local: &mut Local<S>) -> Result<(), StoreError> {
        let mut bytes = vec![MEMBERSHIP_FORMAT];
        let body = postcard::to_allocvec(&self.membership)
            .map_err(|error| StoreError::new(format!("encode membership: {error}")))?;
        bytes.extend_from_slice(&body);
        local.store_mut().put_meta(META_MEMBERSHIP, &bytes)
    }
}

fn refuse(reason: String) -> Failure {
    Failure::Membership { reason }
}

fn load_membership<S: Store>(
    id: NodeId,
    config: &NodeConfig,
    store: &S,
) -> Result<Membership, LoadError> {
    if let Some(bytes) = store.meta(META_MEMBERSHIP)? {
        let unreadable = |message: String| LoadError::Unreadable { message };
        return match bytes.split_first() {
            Some((&MEMBERSHIP_FORMAT, body)) => {
                postcard::from_bytes(body).map_err(|e| unreadable(e.to_string()))
            }
            _ => Err(unreadable("unknown format".to_string())),
        };
    }
    if config.initial_members.contains_key(&id) {
        return bootstrap(config).map_err(|e| LoadError::Config(ConfigError::Ring(e)));
    }
    let mut me = config.me.clone();
    me.status = MemberStatus::Joining;
    me.version = 1;
    Ok(Membership::new(BTreeMap::from([(id, me)])))
}

/// The epoch-1 view every initial member computes identically.
fn bootstrap(config: &NodeConfig) -> Result<Membership, RingError> {
    let members: Vec<RingMember> = config
        .initial_members
        .iter()
        .map(|(node, info)| RingMember {
            node: *node,
            weight: info.weight,
            zone: info.zone.clone(),
        })
        .collect();
    let ring = Ring::new(config.ring.clone(), members)?;
    let members = config
        .initial_members
        .iter()
        .map(|(node, info)| {
            let info = MemberInfo {
                version: 1,
                status: MemberStatus::Valid,
                ..info.clone()
            };
            (*node, info)
        })
        .collect();
    Ok(Membership::bootstrap(members, ring))
}
