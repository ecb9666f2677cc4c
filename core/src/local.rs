//! What a node holds for itself: its identity, settings, store and Merkle trees, the
//! actor it mints versions as, its request ids, PRNG and counters (Dynamo §4.4, §4.7,
//! §5). Every sub-state machine of a `Node` works through this one
//! owner of local state, by method, never by field.
//!
//! Invariants:
//! - every replica write goes through [`Local::merge_replica`], which keeps the
//!   partition's Merkle tree equal to a rebuild from the store;
//! - each dot minted is fresh: `(actor, counter)` with a counter that only grows within
//!   an incarnation and stays below a lease persisted before use, which a restart
//!   continues after (a renewal takes a new incarnation);
//! - request ids never repeat across starts (the start's number is in the high bits);
//! - the hint store never holds more than `hints_max` hints, nor more than
//!   `hint_bytes_per_target_max` bytes ([`hint_bytes`]) for any one target, and
//!   `hint_bytes` per target always equals a recount of the store (every hint write and
//!   removal goes through [`Local::store_write`] and [`Local::remove_hint`]).

use crate::clock::Dot;
use crate::config::NodeConfig;
use crate::merkle::{key_digest, MerkleTree};
use crate::message::{Failure, Message, Output, RefuseReason, Reply, RequestId};
#[cfg(feature = "mutants")]
use crate::mutant::Mutant;
use crate::prng::Prng;
use crate::store::{HintKey, Store, StoreError};
use crate::types::{limits, ActorId, NodeId, PartitionId};
use crate::version::Siblings;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Metadata name of the last incarnation taken (the actor's, see [`Local::open`]).
const META_INCARNATION: &str = "incarnation";
/// Metadata name of the dot-counter lease: (incarnation, counters reserved).
const META_DOT_LEASE: &str = "dot-lease";
/// Metadata name of the start counter (request ids' high bits, the PRNG's seed).
const META_BOOT: &str = "boot";
/// Dot counters reserved per persisted lease: a restart skips at most this many.
const DOT_LEASE: u64 = 1 << 16;

/// Counters of what the node did, for metrics and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NodeStats {
    pub gets: u64,
    pub puts: u64,
    pub forwarded: u64,
    pub quorum_failures: u64,
    pub timeouts: u64,
    pub read_repairs: u64,
    pub hints_stored: u64,
    pub hints_refused: u64,
    pub hints_delivered: u64,
    pub anti_entropy_rounds: u64,
    pub anti_entropy_keys_repaired: u64,
    pub transfer_keys_sent: u64,
    pub transfer_keys_received: u64,
    pub partitions_dropped: u64,
    pub gossip_received: u64,
    pub membership_changes: u64,
    pub ignored_messages: u64,
    pub storage_errors: u64,
    /// New incarnations taken while running (coordinating off-home, dropped partitions).
    pub actor_renewals: u64,
}

/// A node's local state (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Local<S> {
    id: NodeId,
    config: NodeConfig,
    store: S,
    trees: BTreeMap<PartitionId, MerkleTree>,
    /// Bytes of the hints held per target node (see [`hint_bytes`]).
    hint_bytes: BTreeMap<NodeId, u64>,
    actor: ActorId,
    dot_counter: u64,
    /// Dot counters of `actor` up to this are reserved in the store (durable before
    /// any dot minted under them is acknowledged).
    dots_reserved: u64,
    /// This start's number: request ids carry it, so no start reuses an earlier one's.
    boot: u32,
    next_request: u64,
    prng: Prng,
    stats: NodeStats,
    #[cfg(feature = "mutants")]
    mutant: Mutant,
}

impl<S: Store> Local<S> {
    /// Open `store`: keep the actor of the last run and continue its dots after their
    /// persisted lease (or take a new incarnation when there is none), count a new
    /// start, and rebuild the trees.
    ///
    /// Why the actor survives restarts (issue 18): a new actor per start put one more
    /// entry in the clock of every key the node then wrote, until a key written after
    /// 1,024 restarts refused puts. Dots stay fresh without it: counters are reserved
    /// in leases persisted before use, and a restart continues after the lease, so a
    /// crash that lost unsynced writes can never make the node mint a dot twice.
    pub fn open(id: NodeId, config: NodeConfig, mut store: S) -> Result<Self, StoreError> {
        let boot = bump_u32(&mut store, META_BOOT)?;
        let (incarnation, dot_counter) = match (stored_incarnation(&store)?, lease(&store)?) {
            (Some(current), Some((leased, reserved))) if leased == current => (current, reserved),
            _ => (
                next_incarnation(&mut store, config.seed ^ u64::from(id.0))?,
                0,
            ),
        };
        let trees = rebuild_trees(&store)?;
        let hint_bytes = count_hint_bytes(&store)?;
        let seed = config.seed ^ u64::from(id.0).rotate_left(32) ^ u64::from(boot);
        let mut local = Self {
            id,
            config,
            store,
            trees,
            hint_bytes,
            actor: ActorId::new(id, incarnation),
            dot_counter,
            dots_reserved: dot_counter,
            boot,
            next_request: 1,
            prng: Prng::new(seed),
            stats: NodeStats::default(),
            #[cfg(feature = "mutants")]
            mutant: Mutant::None,
        };
        local.reserve_dots()?;
        Ok(local)
    }

    /// Persist the next lease of dot counters for the current actor.
    fn reserve_dots(&mut self) -> Result<(), StoreError> {
        let reserved = self.dot_counter.saturating_add(DOT_LEASE);
        let mut bytes = self.actor.incarnation.to_le_bytes().to_vec();
        bytes.extend_from_slice(&reserved.to_le_bytes());
        self.store.put_meta(META_DOT_LEASE, &bytes)?;
        self.dots_reserved = reserved;
        Ok(())
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    pub fn replication_factor(&self) -> usize {
        self.config.ring.replication_factor
    }

    pub fn actor(&self) -> ActorId {
        self.actor
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    pub fn into_store(self) -> S {
        self.store
    }

    pub fn stats(&self) -> &NodeStats {
        &self.stats
    }

    /// The counters, for the sub-machine that just did something worth counting.
    pub fn count(&mut self) -> &mut NodeStats {
        &mut self.stats
    }

    pub fn tree(&self, partition: PartitionId) -> Option<&MerkleTree> {
        self.trees.get(&partition)
    }

    /// A uniformly chosen index below `bound` (> 0) from the node's seeded PRNG.
    pub fn pick(&mut self, bound: usize) -> usize {
        self.prng.below(bound as u64) as usize
    }

    /// Whether the planted bug `mutant` is switched on (never, without the feature).
    #[cfg(feature = "mutants")]
    pub fn planted(&self, mutant: Mutant) -> bool {
        self.mutant == mutant
    }

    #[cfg(feature = "mutants")]
    pub fn set_mutant(&mut self, mutant: Mutant) {
        self.mutant = mutant;
    }

    /// A request id no earlier start of this node used: the start's number in the
    /// high 32 bits, a counter in the low 32. Peers echo ids in their answers, and a
    /// late answer to a request of a previous incarnation must not be counted for a
    /// new request (the model checker found a read missing an acknowledged put that
    /// way after a restart). The counter wraps after 2^32 requests of one incarnation,
    /// long after any answer to the first could still arrive.
    pub fn mint_request(&mut self) -> u64 {
        let counter = self.next_request as u32;
        self.next_request = self.next_request.wrapping_add(1);
        (u64::from(self.boot) << 32) | u64::from(counter)
    }

    /// Take a new incarnation, so the next dots belong to an actor that never minted
    /// before. Needed whenever this node's main store may lack one of its own current
    /// dots for a key it coordinates (it coordinates without being a home, or it
    /// dropped a partition): minting `(actor, c)` there would make the sibling set's
    /// clock claim every earlier dot of `actor`, so a sync would discard one it never
    /// saw (DVVSet assumes an actor's dots for a key reach its own replica).
    pub fn renew_actor(&mut self) -> Result<(), StoreError> {
        let seed = self.config.seed ^ u64::from(self.id.0);
        let incarnation = next_incarnation(&mut self.store, seed)?;
        self.actor = ActorId::new(self.id, incarnation);
        self.dot_counter = 0;
        self.reserve_dots()?;
        self.stats.actor_renewals += 1;
        Ok(())
    }

    /// Take a new incarnation past `incarnation` (at least one more than it).
    pub fn renew_actor_past(&mut self, incarnation: u32) -> Result<(), StoreError> {
        let stored = stored_incarnation(&self.store)?.unwrap_or(0);
        if stored < incarnation {
            self.store
                .put_meta(META_INCARNATION, &incarnation.to_le_bytes())?;
        }
        self.renew_actor()
    }

    /// The next dot of the current actor, under a persisted lease (extended when
    /// used up; the store write is synced with the step, before the dot is acked).
    pub fn mint_dot(&mut self) -> Result<Dot, StoreError> {
        if self.dot_counter >= self.dots_reserved {
            self.reserve_dots()?;
        }
        self.dot_counter += 1;
        Ok(Dot::new(self.actor, self.dot_counter))
    }

    pub fn send(&self, out: &mut Vec<Output>, to: NodeId, message: Message) {
        debug_assert_ne!(to, self.id, "a node never sends to itself");
        out.push(Output::Send { to, message });
    }

    pub fn reply(&self, out: &mut Vec<Output>, request: RequestId, reply: Reply) {
        out.push(Output::Reply { request, reply });
    }

    pub fn ignore(&mut self) {
        self.stats.ignored_messages += 1;
    }

    pub fn storage_failed(&mut self, error: &StoreError) -> Failure {
        self.stats.storage_errors += 1;
        Failure::Storage {
            message: error.message.clone(),
        }
    }

    /// A key from a peer is acceptable: non-empty, within limits, in the named partition.
    pub fn valid_key(&self, partition: PartitionId, key: &[u8]) -> bool {
        !key.is_empty()
            && key.len() <= limits::KEY_BYTES_MAX
            && crate::hash::partition_of_key(key, self.config.ring.partitions) == partition
    }

    /// Merge `incoming` into the stored replica of `key`, keeping its Merkle tree in
    /// step. Returns the merged set and whether anything changed.
    pub fn merge_replica(
        &mut self,
        partition: PartitionId,
        key: &[u8],
        incoming: &Siblings,
    ) -> Result<(Siblings, bool), StoreError> {
        let old = self.store.get(partition, key)?;
        self.merge_replica_over(partition, key, old, incoming)
    }

    /// [`Self::merge_replica`] when the caller has just read `old` from the store
    /// in this step (a coordinator's own put): saves reading it twice.
    pub fn merge_replica_over(
        &mut self,
        partition: PartitionId,
        key: &[u8],
        old: Option<Siblings>,
        incoming: &Siblings,
    ) -> Result<(Siblings, bool), StoreError> {
        let merged = match &old {
            Some(old) => old.merged(incoming),
            None => incoming.clone(),
        };
        #[cfg(feature = "mutants")]
        let merged = match self.planted(Mutant::CounterMergeByMax) {
            true => merged.counters_by_max(),
            false => merged,
        };
        if old.as_ref() == Some(&merged) {
            return Ok((merged, false));
        }
        self.store.put(partition, key, &merged)?;
        let old_digest = old.as_ref().map(|old| key_digest(key, old));
        let tree = self.trees.entry(partition).or_default();
        tree.update(key, old_digest, Some(key_digest(key, &merged)));
        Ok((merged, true))
    }

    /// Store a replica, or a hint when standing in for `hint` (§4.6: kept apart).
    pub fn store_write(
        &mut self,
        partition: PartitionId,
        key: &[u8],
        siblings: &Siblings,
        hint: Option<NodeId>,
    ) -> Result<(), RefuseReason> {
        let refuse = |local: &mut Self, error: StoreError| {
            local.storage_failed(&error);
            RefuseReason::Storage {
                message: error.message,
            }
        };
        let Some(target) = hint else {
            return match self.merge_replica(partition, key, siblings) {
                Ok(_) => Ok(()),
                Err(error) => Err(refuse(self, error)),
            };
        };
        let hint = HintKey {
            target,
            partition,
            key: key.to_vec(),
        };
        let old = match self.store.hint(&hint) {
            Ok(old) => old,
            Err(error) => return Err(refuse(self, error)),
        };
        let merged = old
            .as_ref()
            .map_or_else(|| siblings.clone(), |old| old.merged(siblings));
        let (before, after) = (
            old.as_ref().map_or(0, |o| hint_bytes(key, o)),
            hint_bytes(key, &merged),
        );
        self.admit_hint(target, old.is_none(), after.saturating_sub(before))
            .map_err(|reason| match reason {
                HintAdmission::Full(reason) => reason,
                HintAdmission::Failed(error) => refuse(self, error),
            })?;
        self.store
            .put_hint(&hint, &merged)
            .map_err(|error| refuse(self, error))?;
        self.account_hint(target, before, after);
        Ok(())
    }

    /// Room for `growth` more bytes of hints for `target` (and one more hint when
    /// `new`), or why not.
    fn admit_hint(&mut self, target: NodeId, new: bool, growth: u64) -> Result<(), HintAdmission> {
        let held = self.hint_bytes.get(&target).copied().unwrap_or(0);
        let max = self.config.hint_bytes_per_target_max;
        if growth > 0 && held.saturating_add(growth) > max {
            self.stats.hints_refused += 1;
            return Err(HintAdmission::Full(RefuseReason::HintBytesFull {
                target,
                held,
                max,
            }));
        }
        if !new {
            return Ok(());
        }
        let held = self.store.hint_count().map_err(HintAdmission::Failed)?;
        let max = self.config.hints_max;
        if held >= max {
            self.stats.hints_refused += 1;
            return Err(HintAdmission::Full(RefuseReason::HintsFull { held, max }));
        }
        self.stats.hints_stored += 1;
        Ok(())
    }

    /// Replace `before` bytes of `target`'s hints with `after`.
    fn account_hint(&mut self, target: NodeId, before: u64, after: u64) {
        let held = self.hint_bytes.entry(target).or_insert(0);
        *held = held.saturating_sub(before).saturating_add(after);
        if *held == 0 {
            self.hint_bytes.remove(&target);
        }
    }

    /// Delete a hint (delivered, or its data safe elsewhere), keeping the byte account.
    pub fn remove_hint(&mut self, hint: &HintKey) -> Result<(), StoreError> {
        let Some(old) = self.store.hint(hint)? else {
            return Ok(());
        };
        self.store.remove_hint(hint)?;
        self.account_hint(hint.target, hint_bytes(&hint.key, &old), 0);
        Ok(())
    }

    /// Bytes of hints held per target node.
    pub fn hint_bytes_held(&self) -> &BTreeMap<NodeId, u64> {
        &self.hint_bytes
    }

    /// Drop a partition this node no longer replicates, with its tree; its own dots
    /// of the dropped keys now live only elsewhere, so it takes a new actor.
    pub fn drop_partition(&mut self, partition: PartitionId) -> Result<(), StoreError> {
        self.store.drop_partition(partition)?;
        self.trees.remove(&partition);
        self.stats.partitions_dropped += 1;
        self.renew_actor()
    }

    /// The hint byte account equal to a recount of the store (a full scan: tests only).
    pub fn hint_bytes_match_store(&self) -> Result<(), LocalInvariantError> {
        let counted = count_hint_bytes(&self.store)?;
        if counted != self.hint_bytes {
            let held = self.hint_bytes.clone();
            return Err(LocalInvariantError::HintBytesDiffer { held, counted });
        }
        Ok(())
    }

    /// Every Merkle tree equal to a rebuild from the store (a full scan: tests only).
    pub fn trees_match_store(&self) -> Result<(), LocalInvariantError> {
        let rebuilt = rebuild_trees(&self.store)?;
        for partition in self.store.partitions()? {
            let live = self.trees.get(&partition).map(MerkleTree::root);
            let fresh = rebuilt.get(&partition).map(MerkleTree::root);
            if live.unwrap_or_default() != fresh.unwrap_or_default() {
                return Err(LocalInvariantError::TreeDiffers { partition });
            }
        }
        Ok(())
    }
}

enum HintAdmission {
    Full(RefuseReason),
    Failed(StoreError),
}

/// A broken invariant of local state, found by a full check.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LocalInvariantError {
    #[error("merkle tree of {partition} differs from its rebuild")]
    TreeDiffers { partition: PartitionId },
    #[error("hint bytes held per target {held:?} differ from a recount {counted:?}")]
    HintBytesDiffer {
        held: BTreeMap<NodeId, u64>,
        counted: BTreeMap<NodeId, u64>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The next incarnation: one past the stored one, or for a store that has none a
/// first one drawn from `seed` (the driver's OS randomness at every process start).
///
/// Why not 1 (issue 18, found by `core/tests/sim_wipe.rs`): a node whose disk was lost
/// restarts empty under the same id, and counting from 1 again minted dots that still
/// lived on other replicas; a repeated dot is taken for the same event, so replicas
/// kept one of the two values and dropped an acknowledged write. A first incarnation
/// drawn from 2^31 values repeats an earlier run's range with probability about
/// (incarnations that run took) / 2^31 per lost disk; the top half stays free for
/// counting up.
fn next_incarnation<S: Store>(store: &mut S, seed: u64) -> Result<u32, StoreError> {
    if stored_incarnation(store)?.is_none() {
        let first = (Prng::new(seed).next_u64() % (1 << 31)) as u32 + 1;
        store.put_meta(META_INCARNATION, &first.to_le_bytes())?;
        return Ok(first);
    }
    bump_u32(store, META_INCARNATION)
}

fn stored_incarnation<S: Store>(store: &S) -> Result<Option<u32>, StoreError> {
    read_u32(store, META_INCARNATION)
}

/// Add one to the counter stored under `name` (0 when absent); returns the new value.
fn bump_u32<S: Store>(store: &mut S, name: &str) -> Result<u32, StoreError> {
    let next = read_u32(store, name)?
        .unwrap_or(0)
        .checked_add(1)
        .ok_or_else(|| StoreError::new(format!("{name} counter exhausted")))?;
    store.put_meta(name, &next.to_le_bytes())?;
    Ok(next)
}

fn read_u32<S: Store>(store: &S, name: &str) -> Result<Option<u32>, StoreError> {
    match store.meta(name)? {
        Some(bytes) => bytes
            .try_into()
            .map(|bytes: [u8; 4]| Some(u32::from_le_bytes(bytes)))
            .map_err(|_| StoreError::new(format!("stored {name} is not 4 bytes"))),
        None => Ok(None),
    }
}

/// The persisted dot lease: (incarnation, counters reserved).
fn lease<S: Store>(store: &S) -> Result<Option<(u32, u64)>, StoreError> {
    let Some(bytes) = store.meta(META_DOT_LEASE)? else {
        return Ok(None);
    };
    let bad = || StoreError::new("stored dot lease is not 12 bytes");
    let (incarnation, reserved) = bytes.split_at_checked(4).ok_or_else(bad)?;
    let incarnation = u32::from_le_bytes(incarnation.try_into().map_err(|_| bad())?);
    let reserved = u64::from_le_bytes(reserved.try_into().map_err(|_| bad())?);
    Ok(Some((incarnation, reserved)))
}

/// A hint's size for the per-target byte budget: key, values and a fixed 64 bytes per
/// sibling for its dot and context (the same estimate transfer chunks use).
pub fn hint_bytes(key: &[u8], siblings: &Siblings) -> u64 {
    let values: usize = siblings.iter().map(|s| s.content.size_bytes()).sum();
    (key.len() + values + 64 * siblings.len()) as u64
}

/// Bytes of hints per target, by a scan of the hint store.
pub fn count_hint_bytes<S: Store>(store: &S) -> Result<BTreeMap<NodeId, u64>, StoreError> {
    let mut held: BTreeMap<NodeId, u64> = BTreeMap::new();
    let mut after: Option<HintKey> = None;
    loop {
        let page = store.hints(after.as_ref(), 1024)?;
        for (hint, siblings) in &page {
            *held.entry(hint.target).or_insert(0) += hint_bytes(&hint.key, siblings);
        }
        match page.last() {
            Some((hint, _)) if page.len() == 1024 => after = Some(hint.clone()),
            _ => return Ok(held),
        }
    }
}

fn rebuild_trees<S: Store>(store: &S) -> Result<BTreeMap<PartitionId, MerkleTree>, StoreError> {
    let mut trees = BTreeMap::new();
    for partition in store.partitions()? {
        trees.insert(partition, MerkleTree::from_store(store, partition, 256)?);
    }
    Ok(trees)
}
