//! The ring: equal partitions, a weighted claim, preference lists (Dynamo §4.2, §4.3,
//! §6.2).
//!
//! The hash space is cut into `partitions` equal ranges (a power of two, fixed for the
//! cluster's life): the paper's strategy 3, which §6.2 found to balance load best and
//! to make membership changes cheap, since whole partitions move as units. Each
//! partition has one *owner*; the claim gives every node a share of owners proportional
//! to its weight (heterogeneity, §4.2). A partition's *preference list* walks the ring
//! clockwise from the partition and collects distinct physical nodes, one per zone
//! first when zones are configured (§4.3: replicas in distinct data centers); its first
//! `n` entries are the partition's home replicas, the rest are fallbacks for sloppy
//! quorum (§4.6).
//!
//! Membership changes (`join`, `leave`) produce a new ring with the next epoch. The
//! claim moves exactly the partitions that must move to reach the new shares: a node
//! above its new share gives partitions, a node below receives, nobody else changes.
//! The claim also spaces each node's partitions at least `n` apart where it can, so
//! consecutive partitions' replica sets overlap less and a node never follows itself.
//!
//! [`TokenRing`] is the paper's strategy 1 (random tokens per node), kept only to
//! compare load balance as in §6.2 (`examples/load_balance.rs`).
//!
//! Invariants (checked by `check_invariants` and the ring proptests):
//! - `owners.len() == partitions`, every owner is a member, and every member owns at
//!   least one partition;
//! - every member owns `partitions * weight / total_weight` partitions, rounded down or
//!   up (within one partition of its exact share);
//! - a preference list holds distinct nodes, every member exactly once;
//! - `join`/`leave` change the owner of exactly `sum(max(0, owned - new_share))`
//!   partitions (the minimum for the new shares).

use crate::hash::{self, RingPosition};
use crate::prng::Prng;
use crate::types::{limits, NodeId, PartitionId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Largest node weight: a node of weight `w` takes `w` times a weight-1 node's share.
pub const WEIGHT_MAX: u32 = 1_000;
/// Longest zone name, in bytes.
pub const ZONE_BYTES_MAX: usize = 64;

/// The ring's shape, fixed when the cluster is created.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RingConfig {
    /// Number of equal partitions: a power of two in `PARTITIONS_MIN..=PARTITIONS_MAX`.
    pub partitions: u32,
    /// Home replicas per partition (Dynamo's N).
    pub replication_factor: usize,
}

impl Default for RingConfig {
    fn default() -> Self {
        Self {
            partitions: 1024,
            replication_factor: 3,
        }
    }
}

impl RingConfig {
    pub fn validate(&self) -> Result<(), RingError> {
        if !hash::valid_partition_count(self.partitions) {
            let (min, max) = (limits::PARTITIONS_MIN, limits::PARTITIONS_MAX);
            return Err(RingError::BadPartitions {
                partitions: self.partitions,
                min,
                max,
            });
        }
        if self.replication_factor == 0 || self.replication_factor > limits::REPLICATION_FACTOR_MAX
        {
            let max = limits::REPLICATION_FACTOR_MAX;
            return Err(RingError::BadReplicationFactor {
                replication_factor: self.replication_factor,
                max,
            });
        }
        Ok(())
    }
}

/// A node as the claim sees it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RingMember {
    pub node: NodeId,
    /// Relative capacity, `1..=WEIGHT_MAX`.
    pub weight: u32,
    /// Failure domain (rack, data center); `None` is a zone of its own.
    pub zone: Option<String>,
}

/// Why a ring could not be built or changed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
pub enum RingError {
    #[error("partitions must be a power of two in {min}..={max}, got {partitions}")]
    BadPartitions { partitions: u32, min: u32, max: u32 },
    #[error("replication factor must be in 1..={max}, got {replication_factor}")]
    BadReplicationFactor {
        replication_factor: usize,
        max: usize,
    },
    #[error("a ring needs at least one member")]
    NoMembers,
    #[error("too many members: {members}, at most {max}")]
    TooManyMembers { members: usize, max: usize },
    #[error("{node} is listed twice")]
    Duplicate { node: NodeId },
    #[error("weight of {node} must be in 1..={max}, got {weight}")]
    BadWeight { node: NodeId, weight: u32, max: u32 },
    #[error("zone of {node} is longer than {max} bytes")]
    ZoneTooLong { node: NodeId, max: usize },
    #[error(
        "{node} would own no partition: {partitions} partitions are too few for these weights"
    )]
    NoShare { node: NodeId, partitions: u32 },
    #[error("{node} is already a member")]
    AlreadyMember { node: NodeId },
    #[error("{node} is not a member")]
    NotMember { node: NodeId },
    #[error("{node} is the last member and cannot leave")]
    LastMember { node: NodeId },
}

/// Why a ring breaks an invariant of the module doc (`Ring::check_invariants`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
pub enum RingInvariantError {
    #[error("{owners} owners for {partitions} partitions")]
    OwnerCount { owners: usize, partitions: u32 },
    #[error("bad member: {source}")]
    BadMember { source: RingError },
    #[error("member entry {key} describes {node}")]
    MemberKeyMismatch { key: NodeId, node: NodeId },
    #[error("{node} owns a partition but is not a member")]
    OwnerNotMember { node: NodeId },
    #[error("members' shares cannot be computed: {source}")]
    Shares { source: RingError },
    #[error("{node} owns {owned} partitions, its share is {share}")]
    ShareMissed {
        node: NodeId,
        owned: u32,
        share: u32,
    },
}

/// The ordered, distinct nodes responsible for a partition (Dynamo §4.3).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PreferenceList {
    nodes: Vec<NodeId>,
}

impl PreferenceList {
    /// Every member: home replicas first, then fallbacks in order.
    pub fn nodes(&self) -> &[NodeId] {
        &self.nodes
    }

    /// The first `n` nodes: the home replicas.
    pub fn homes(&self, n: usize) -> &[NodeId] {
        &self.nodes[..n.min(self.nodes.len())]
    }
}

/// One partition whose owner changes between two rings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PartitionMove {
    pub partition: PartitionId,
    pub from: NodeId,
    pub to: NodeId,
}

/// How a partition's home replicas differ between two rings.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ReplicaChange {
    pub partition: PartitionId,
    /// New home replicas, in the new preference order.
    pub added: Vec<NodeId>,
    /// Old home replicas no longer home, in the old preference order.
    pub removed: Vec<NodeId>,
}

/// The partition table of one ring epoch (strategy 3).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Ring {
    epoch: u64,
    config: RingConfig,
    members: BTreeMap<NodeId, RingMember>,
    owners: Vec<NodeId>,
}

/// How strictly the claim keeps a node's partitions apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Spacing {
    /// No other partition of the node, nor of its zone, within `n - 1` positions.
    NodeAndZone,
    /// No other partition of the node within `n - 1` positions.
    Node,
    /// Anything goes (too few nodes to space them).
    Free,
}

const SPACINGS: [Spacing; 3] = [Spacing::NodeAndZone, Spacing::Node, Spacing::Free];

impl Ring {
    /// The first ring (epoch 1) of a new cluster.
    pub fn new(config: RingConfig, members: Vec<RingMember>) -> Result<Ring, RingError> {
        config.validate()?;
        let mut table = BTreeMap::new();
        for member in members {
            validate_member(&member)?;
            let node = member.node;
            if table.insert(node, member).is_some() {
                return Err(RingError::Duplicate { node });
            }
        }
        check_member_count(&table)?;
        let targets = targets(&table, config.partitions, &BTreeMap::new())?;
        let mut ring = Ring {
            epoch: 1,
            config,
            members: table,
            owners: Vec::new(),
        };
        ring.owners = ring.initial_claim(&targets);
        Ok(ring)
    }

    /// The next ring with `member` added.
    pub fn join(&self, member: RingMember) -> Result<Ring, RingError> {
        validate_member(&member)?;
        if self.contains(member.node) {
            return Err(RingError::AlreadyMember { node: member.node });
        }
        let mut members = self.members.clone();
        members.insert(member.node, member);
        check_member_count(&members)?;
        self.reclaim(members)
    }

    /// The next ring without `node`.
    pub fn leave(&self, node: NodeId) -> Result<Ring, RingError> {
        if !self.contains(node) {
            return Err(RingError::NotMember { node });
        }
        if self.members.len() == 1 {
            return Err(RingError::LastMember { node });
        }
        let mut members = self.members.clone();
        members.remove(&node);
        self.reclaim(members)
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn config(&self) -> &RingConfig {
        &self.config
    }

    pub fn partitions(&self) -> u32 {
        self.config.partitions
    }

    pub fn members(&self) -> &BTreeMap<NodeId, RingMember> {
        &self.members
    }

    pub fn contains(&self, node: NodeId) -> bool {
        self.members.contains_key(&node)
    }

    /// The owner of `partition` (the first node of its preference list).
    ///
    /// # Panics
    /// If `partition` is not below `partitions()`.
    pub fn owner(&self, partition: PartitionId) -> NodeId {
        self.owners[partition.0 as usize]
    }

    /// Owners by partition index.
    pub fn owners(&self) -> &[NodeId] {
        &self.owners
    }

    pub fn partition_of_key(&self, key: &[u8]) -> PartitionId {
        hash::partition_of_key(key, self.config.partitions)
    }

    pub fn partition_of(&self, position: RingPosition) -> PartitionId {
        hash::partition_of(position, self.config.partitions)
    }

    /// Every member, ordered for `partition`: distinct zones first, then the rest, each
    /// group in clockwise order (Dynamo §4.3).
    pub fn preference_list(&self, partition: PartitionId) -> PreferenceList {
        PreferenceList {
            nodes: self.walk(partition, self.members.len()),
        }
    }

    /// The first `n` nodes of the preference list: the home replicas.
    pub fn home_replicas(&self, partition: PartitionId, n: usize) -> Vec<NodeId> {
        let mut nodes = self.walk(partition, n);
        nodes.truncate(n);
        nodes
    }

    /// The partitions whose home replicas (first `n`) include `node`.
    pub fn replicated_partitions(&self, node: NodeId, n: usize) -> Vec<PartitionId> {
        self.partition_ids()
            .filter(|p| self.home_replicas(*p, n).contains(&node))
            .collect()
    }

    /// The partitions `node` owns.
    pub fn owned_partitions(&self, node: NodeId) -> Vec<PartitionId> {
        self.partition_ids()
            .filter(|p| self.owner(*p) == node)
            .collect()
    }

    /// Partitions per owner.
    pub fn owned_counts(&self) -> BTreeMap<NodeId, u32> {
        let mut counts: BTreeMap<NodeId, u32> = self.members.keys().map(|n| (*n, 0)).collect();
        for owner in &self.owners {
            *counts.entry(*owner).or_default() += 1;
        }
        counts
    }

    /// The partitions whose owner differs in `next`.
    pub fn moves(&self, next: &Ring) -> Vec<PartitionMove> {
        self.partition_ids()
            .filter_map(|partition| {
                let (from, to) = (
                    self.owner(partition),
                    next.owners.get(partition.0 as usize).copied()?,
                );
                (from != to).then_some(PartitionMove {
                    partition,
                    from,
                    to,
                })
            })
            .collect()
    }

    /// The partitions whose first `n` home replicas differ in `next`, and how.
    pub fn replica_changes(&self, next: &Ring, n: usize) -> Vec<ReplicaChange> {
        let mut changes = Vec::new();
        for partition in self.partition_ids().filter(|p| p.0 < next.partitions()) {
            let old = self.home_replicas(partition, n);
            let new = next.home_replicas(partition, n);
            let added: Vec<NodeId> = new
                .iter()
                .copied()
                .filter(|node| !old.contains(node))
                .collect();
            let removed: Vec<NodeId> = old
                .iter()
                .copied()
                .filter(|node| !new.contains(node))
                .collect();
            if !added.is_empty() || !removed.is_empty() {
                changes.push(ReplicaChange {
                    partition,
                    added,
                    removed,
                });
            }
        }
        changes
    }

    /// Each member's share of replica load when every partition is equally loaded and
    /// stored on its first `n` home replicas (the quantity §6.2 balances).
    pub fn replica_load(&self, n: usize) -> BTreeMap<NodeId, f64> {
        let mut load: BTreeMap<NodeId, f64> =
            self.members.keys().map(|node| (*node, 0.0)).collect();
        let share = 1.0 / f64::from(self.partitions());
        for partition in self.partition_ids() {
            for node in self.home_replicas(partition, n) {
                *load.entry(node).or_default() += share;
            }
        }
        load
    }

    /// Every invariant of the module doc. For rings from peers or clients; a ring built
    /// by `new`, `join` and `leave` always passes.
    pub fn check_invariants(&self) -> Result<(), RingInvariantError> {
        let (owners, partitions) = (self.owners.len(), self.config.partitions);
        if owners != partitions as usize {
            return Err(RingInvariantError::OwnerCount { owners, partitions });
        }
        // Members first: the share arithmetic below divides by their total weight.
        let bad = |source| RingInvariantError::BadMember { source };
        check_member_count(&self.members).map_err(bad)?;
        for (key, member) in &self.members {
            if *key != member.node {
                let (key, node) = (*key, member.node);
                return Err(RingInvariantError::MemberKeyMismatch { key, node });
            }
            validate_member(member).map_err(bad)?;
        }
        if let Some(stranger) = self.owners.iter().find(|o| !self.contains(**o)) {
            return Err(RingInvariantError::OwnerNotMember { node: *stranger });
        }
        let targets = targets(&self.members, self.partitions(), &BTreeMap::new())
            .map_err(|source| RingInvariantError::Shares { source })?;
        let total: u64 = self.members.values().map(|m| u64::from(m.weight)).sum();
        for (node, owned) in self.owned_counts() {
            // |owned - P * w / W| < 1, in integers: |owned * W - P * w| < W.
            let exact = u64::from(self.partitions()) * u64::from(self.members[&node].weight);
            if (u64::from(owned) * total).abs_diff(exact) >= total || owned == 0 {
                let share = targets[&node];
                return Err(RingInvariantError::ShareMissed { node, owned, share });
            }
        }
        Ok(())
    }

    fn partition_ids(&self) -> impl Iterator<Item = PartitionId> {
        (0..self.config.partitions).map(PartitionId)
    }

    /// Walk clockwise from `partition`, collecting distinct nodes, one per zone first;
    /// stop once `wanted` nodes of distinct zones are found or every member is seen.
    fn walk(&self, partition: PartitionId, wanted: usize) -> Vec<NodeId> {
        let partitions = self.owners.len();
        let mut first: Vec<NodeId> = Vec::with_capacity(wanted.min(self.members.len()));
        let mut deferred: Vec<NodeId> = Vec::new();
        let mut zones: BTreeSet<&str> = BTreeSet::new();
        let start = partition.0 as usize;
        for step in 0..partitions {
            if first.len() >= wanted || first.len() + deferred.len() == self.members.len() {
                break;
            }
            let node = self.owners[(start + step) % partitions];
            if first.contains(&node) || deferred.contains(&node) {
                continue;
            }
            match self.members[&node].zone.as_deref() {
                Some(zone) if !zones.insert(zone) => deferred.push(node),
                _ => first.push(node),
            }
        }
        first.extend(deferred);
        first
    }

    /// The next epoch's ring for `members`, moving only what the new shares require.
    fn reclaim(&self, members: BTreeMap<NodeId, RingMember>) -> Result<Ring, RingError> {
        let current = self.owned_counts();
        let targets = targets(&members, self.partitions(), &current)?;
        let mut next = Ring {
            epoch: self.epoch + 1,
            config: self.config.clone(),
            members,
            owners: self.owners.clone(),
        };
        next.rebalance(&targets);
        Ok(next)
    }

    /// Interleave owners for a new ring: each partition goes to the node furthest below
    /// its share (relative to the share) that keeps the spacing.
    fn initial_claim(&self, targets: &BTreeMap<NodeId, u32>) -> Vec<NodeId> {
        let mut ring = Ring {
            owners: Vec::with_capacity(self.owners.capacity()),
            ..self.clone()
        };
        let mut left = targets.clone();
        for position in 0..self.config.partitions as usize {
            let pick = SPACINGS
                .iter()
                .find_map(|spacing| ring.neediest(&left, targets, position, *spacing))
                .expect("shares add up to the partition count");
            *left.get_mut(&pick).expect("a member") -= 1;
            ring.owners.push(pick);
        }
        ring.owners
    }

    fn neediest(
        &self,
        left: &BTreeMap<NodeId, u32>,
        targets: &BTreeMap<NodeId, u32>,
        position: usize,
        spacing: Spacing,
    ) -> Option<NodeId> {
        // Ratio comparison in integers: a is needier than b when left_a/target_a > left_b/target_b.
        let needier = |a: &(&NodeId, &u32), b: &(&NodeId, &u32)| {
            let (la, ta, lb, tb) = (
                u64::from(*a.1),
                u64::from(targets[a.0]),
                u64::from(*b.1),
                u64::from(targets[b.0]),
            );
            (la * tb).cmp(&(lb * ta)).then(b.0.cmp(a.0))
        };
        left.iter()
            .filter(|(node, count)| **count > 0 && self.fits(**node, position, spacing))
            .max_by(needier)
            .map(|(node, _)| *node)
    }

    /// Move partitions from nodes above their target (or gone) to nodes below it.
    fn rebalance(&mut self, targets: &BTreeMap<NodeId, u32>) {
        let mut excess: BTreeMap<NodeId, u32> = BTreeMap::new();
        let mut deficit: BTreeMap<NodeId, u32> = BTreeMap::new();
        let counts = self.owned_counts_of(&self.owners);
        for (node, count) in &counts {
            let target = targets.get(node).copied().unwrap_or(0);
            if *count > target {
                excess.insert(*node, count - target);
            }
        }
        for (node, target) in targets {
            let count = counts.get(node).copied().unwrap_or(0);
            if count < *target {
                deficit.insert(*node, target - count);
            }
        }
        let mut receivers: Vec<NodeId> = deficit.keys().copied().collect();
        receivers.sort_by_key(|node| (std::cmp::Reverse(deficit[node]), *node));
        for spacing in SPACINGS {
            for receiver in &receivers {
                self.receive(*receiver, &mut deficit, &mut excess, spacing);
            }
        }
        debug_assert!(deficit.values().all(|d| *d == 0) && excess.values().all(|e| *e == 0));
    }

    /// One clockwise pass giving `receiver` partitions of nodes in excess, while it
    /// needs them and the spacing allows.
    fn receive(
        &mut self,
        receiver: NodeId,
        deficit: &mut BTreeMap<NodeId, u32>,
        excess: &mut BTreeMap<NodeId, u32>,
        spacing: Spacing,
    ) {
        for position in 0..self.owners.len() {
            if deficit[&receiver] == 0 {
                return;
            }
            let owner = self.owners[position];
            let Some(spare) = excess.get_mut(&owner).filter(|spare| **spare > 0) else {
                continue;
            };
            if !self.fits(receiver, position, spacing) {
                continue;
            }
            *spare -= 1;
            *deficit.get_mut(&receiver).expect("a receiver") -= 1;
            self.owners[position] = receiver;
        }
    }

    /// Whether `node` may own `position` without a partition of the same node (or zone)
    /// within `n - 1` positions either side. Positions not yet claimed are ignored.
    fn fits(&self, node: NodeId, position: usize, spacing: Spacing) -> bool {
        if spacing == Spacing::Free {
            return true;
        }
        let partitions = self.config.partitions as usize;
        let zone = self.members.get(&node).and_then(|m| m.zone.as_deref());
        let window = (self.config.replication_factor - 1).min(partitions - 1);
        let clash = |other: NodeId| {
            other == node
                || (spacing == Spacing::NodeAndZone
                    && zone.is_some()
                    && self.members.get(&other).and_then(|m| m.zone.as_deref()) == zone)
        };
        (1..=window).all(|k| {
            let before = (position + partitions - k) % partitions;
            let after = (position + k) % partitions;
            let seen = |at: usize| self.owners.get(at).copied().filter(|_| at != position);
            !seen(before).is_some_and(clash) && !seen(after).is_some_and(clash)
        })
    }

    fn owned_counts_of(&self, owners: &[NodeId]) -> BTreeMap<NodeId, u32> {
        let mut counts = BTreeMap::new();
        for owner in owners {
            *counts.entry(*owner).or_default() += 1;
        }
        counts
    }
}

fn validate_member(member: &RingMember) -> Result<(), RingError> {
    let node = member.node;
    if member.weight == 0 || member.weight > WEIGHT_MAX {
        return Err(RingError::BadWeight {
            node,
            weight: member.weight,
            max: WEIGHT_MAX,
        });
    }
    if member
        .zone
        .as_ref()
        .is_some_and(|zone| zone.len() > ZONE_BYTES_MAX)
    {
        return Err(RingError::ZoneTooLong {
            node,
            max: ZONE_BYTES_MAX,
        });
    }
    Ok(())
}

fn check_member_count(members: &BTreeMap<NodeId, RingMember>) -> Result<(), RingError> {
    if members.is_empty() {
        return Err(RingError::NoMembers);
    }
    if members.len() > limits::MEMBERS_MAX {
        return Err(RingError::TooManyMembers {
            members: members.len(),
            max: limits::MEMBERS_MAX,
        });
    }
    Ok(())
}

/// Each member's number of partitions: its exact share rounded down, with the
/// remainder going to the largest fractional parts. Ties go to the node that holds more
/// now (so fewer partitions move), then to the lower id.
fn targets(
    members: &BTreeMap<NodeId, RingMember>,
    partitions: u32,
    current: &BTreeMap<NodeId, u32>,
) -> Result<BTreeMap<NodeId, u32>, RingError> {
    let total: u64 = members.values().map(|m| u64::from(m.weight)).sum();
    let exact = |m: &RingMember| u64::from(partitions) * u64::from(m.weight);
    let mut targets: BTreeMap<NodeId, u32> = members
        .values()
        .map(|m| (m.node, (exact(m) / total) as u32))
        .collect();
    let assigned: u32 = targets.values().sum();
    let mut order: Vec<&RingMember> = members.values().collect();
    order.sort_by_key(|m| {
        (
            std::cmp::Reverse(exact(m) % total),
            std::cmp::Reverse(current.get(&m.node).copied().unwrap_or(0)),
            m.node,
        )
    });
    for member in order.iter().take((partitions - assigned) as usize) {
        *targets.get_mut(&member.node).expect("a member") += 1;
    }
    if let Some((node, _)) = targets.iter().find(|(_, target)| **target == 0) {
        return Err(RingError::NoShare {
            node: *node,
            partitions,
        });
    }
    Ok(targets)
}

/// The paper's strategy 1 (§6.2): each node takes `tokens` random positions; a key
/// belongs to the first token clockwise from it. Only for comparing load balance.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TokenRing {
    tokens: BTreeMap<u128, NodeId>,
}

impl TokenRing {
    /// `tokens` positions per unit of weight for each of `members`, drawn from `seed`.
    pub fn new(members: &[RingMember], tokens: u32, seed: u64) -> TokenRing {
        let mut prng = Prng::new(seed);
        let mut ring = BTreeMap::new();
        for member in members {
            for _ in 0..tokens * member.weight {
                ring.insert(prng.next_u128(), member.node);
            }
        }
        TokenRing { tokens: ring }
    }

    pub fn token_count(&self) -> usize {
        self.tokens.len()
    }

    /// The first `n` distinct nodes clockwise from `position`.
    pub fn home_replicas(&self, position: RingPosition, n: usize) -> Vec<NodeId> {
        let mut nodes = Vec::with_capacity(n);
        for node in self
            .tokens
            .range(position.0..)
            .chain(self.tokens.range(..position.0))
            .map(|(_, node)| *node)
        {
            if nodes.len() == n {
                break;
            }
            if !nodes.contains(&node) {
                nodes.push(node);
            }
        }
        nodes
    }

    /// Each node's share of replica load under uniform keys with `n` replicas.
    pub fn replica_load(&self, n: usize) -> BTreeMap<NodeId, f64> {
        let mut load: BTreeMap<NodeId, f64> =
            self.tokens.values().map(|node| (*node, 0.0)).collect();
        let Some(last) = self.tokens.keys().next_back().copied() else {
            return load;
        };
        let mut previous = last;
        for token in self.tokens.keys() {
            // The range (previous, token] belongs to the token's walk; wrapping_sub measures it.
            let size = token.wrapping_sub(previous) as f64 / 2f64.powi(128);
            let size = if self.tokens.len() == 1 { 1.0 } else { size };
            for node in self.home_replicas(RingPosition(*token), n) {
                *load.entry(node).or_default() += size;
            }
            previous = *token;
        }
        load
    }
}

/// Dynamo §6.2's load balance efficiency: mean load over the hottest node's load (1.0
/// is perfect balance).
pub fn load_balance_efficiency(load: &BTreeMap<NodeId, f64>) -> f64 {
    let max = load.values().copied().fold(0.0, f64::max);
    if load.is_empty() || max == 0.0 {
        return 1.0;
    }
    load.values().sum::<f64>() / load.len() as f64 / max
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(weights: &[u32]) -> Vec<RingMember> {
        let node = |(i, weight): (usize, &u32)| RingMember {
            node: NodeId(i as u32 + 1),
            weight: *weight,
            zone: None,
        };
        weights.iter().enumerate().map(node).collect()
    }

    fn ring(partitions: u32, weights: &[u32]) -> Ring {
        Ring::new(
            RingConfig {
                partitions,
                replication_factor: 3,
            },
            members(weights),
        )
        .unwrap()
    }

    #[test]
    fn equal_nodes_interleave() {
        let ring = ring(8, &[1, 1, 1]);
        let owners: Vec<u32> = ring.owners().iter().map(|n| n.0).collect();
        assert_eq!(owners[..6], [1, 2, 3, 1, 2, 3]);
        assert_eq!(
            ring.preference_list(PartitionId(0)).nodes(),
            [NodeId(1), NodeId(2), NodeId(3)]
        );
        ring.check_invariants().unwrap();
    }

    #[test]
    fn weights_set_shares() {
        let ring = ring(64, &[1, 3]);
        assert_eq!(
            ring.owned_counts(),
            BTreeMap::from([(NodeId(1), 16), (NodeId(2), 48)])
        );
    }

    #[test]
    fn join_moves_only_the_new_share() {
        let before = ring(1024, &[1, 1, 1]);
        let after = before
            .join(RingMember {
                node: NodeId(4),
                weight: 1,
                zone: None,
            })
            .unwrap();
        assert_eq!(after.epoch(), 2);
        let moves = before.moves(&after);
        assert_eq!(moves.len(), 256);
        assert!(moves.iter().all(|m| m.to == NodeId(4)));
        after.check_invariants().unwrap();
        let back = after.leave(NodeId(4)).unwrap();
        assert_eq!(after.moves(&back).len(), 256);
        back.check_invariants().unwrap();
    }

    #[test]
    fn zones_come_first_in_preference_lists() {
        let zone = |i: u32, z: &str| RingMember {
            node: NodeId(i),
            weight: 1,
            zone: Some(z.to_string()),
        };
        let config = RingConfig {
            partitions: 64,
            replication_factor: 3,
        };
        let ring = Ring::new(
            config,
            vec![
                zone(1, "a"),
                zone(2, "a"),
                zone(3, "b"),
                zone(4, "b"),
                zone(5, "c"),
                zone(6, "c"),
            ],
        )
        .unwrap();
        for p in 0..64 {
            let homes = ring.home_replicas(PartitionId(p), 3);
            let zones: BTreeSet<_> = homes
                .iter()
                .map(|n| ring.members()[n].zone.clone())
                .collect();
            assert_eq!(zones.len(), 3, "partition {p}: {homes:?}");
        }
    }

    #[test]
    fn errors_are_clear() {
        let config = RingConfig {
            partitions: 3,
            replication_factor: 3,
        };
        let error = Ring::new(config, members(&[1])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "partitions must be a power of two in 1..=65536, got 3"
        );
        let error = Ring::new(
            RingConfig {
                partitions: 2,
                replication_factor: 3,
            },
            members(&[1, 1, 1]),
        )
        .unwrap_err();
        assert!(matches!(error, RingError::NoShare { .. }), "{error}");
        let single = ring(4, &[1]);
        assert_eq!(
            single.leave(NodeId(1)).unwrap_err(),
            RingError::LastMember { node: NodeId(1) }
        );
        assert!(matches!(
            single.join(members(&[1])[0].clone()),
            Err(RingError::AlreadyMember { .. })
        ));
        assert!(matches!(
            Ring::new(RingConfig::default(), members(&[0])),
            Err(RingError::BadWeight { .. })
        ));
    }

    #[test]
    fn check_invariants_names_each_violation() {
        let good = ring(4, &[1, 1]);
        assert_eq!(good.check_invariants(), Ok(()));
        let mut short = good.clone();
        short.owners.pop();
        let (owners, partitions) = (3, 4);
        let expected = RingInvariantError::OwnerCount { owners, partitions };
        assert_eq!(short.check_invariants(), Err(expected));
        let mut stranger = good.clone();
        stranger.owners[0] = NodeId(9);
        let expected = RingInvariantError::OwnerNotMember { node: NodeId(9) };
        assert_eq!(stranger.check_invariants(), Err(expected));
        let mut greedy = good.clone();
        greedy.owners = vec![NodeId(1), NodeId(1), NodeId(1), NodeId(2)];
        let error = greedy.check_invariants().unwrap_err();
        let (node, owned, share) = (NodeId(1), 3, 2);
        assert_eq!(
            error,
            RingInvariantError::ShareMissed { node, owned, share }
        );
        assert_eq!(error.to_string(), "n1 owns 3 partitions, its share is 2");
        let mut crowded = ring(2, &[1, 1]);
        let third = members(&[1, 1, 1])[2].clone();
        crowded.members.insert(third.node, third);
        let error = crowded.check_invariants().unwrap_err();
        assert!(
            matches!(
                error,
                RingInvariantError::Shares {
                    source: RingError::NoShare { .. }
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn token_ring_load_sums_to_replicas() {
        let ring = TokenRing::new(&members(&[1, 1, 1, 1]), 16, 7);
        assert_eq!(ring.token_count(), 64);
        let total: f64 = ring.replica_load(2).values().sum();
        assert!((total - 2.0).abs() < 1e-9, "{total}");
        let efficiency = load_balance_efficiency(&ring.replica_load(1));
        assert!(efficiency > 0.0 && efficiency <= 1.0);
    }
}
