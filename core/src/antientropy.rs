//! Anti-entropy: replica synchronisation with Merkle trees (Dynamo §4.7).
//!
//! Every anti-entropy round a node picks the next partitions it is a home replica of
//! (round robin, as many as it takes to compare each once per
//! `anti_entropy_period_ms`) and for each one other healthy home replica of it (seeded
//! PRNG), and sends its tree's root children. Each side answers a `TreeLevel` with its own children of the
//! nodes that differ, descending only into differing branches; at the leaves, the side
//! that found them sends every entry it holds in the differing leaves and asks for the
//! other side's: both merge what they receive, so both end with the union (a merge never
//! loses a version). Each message carries at most `anti_entropy_keys_max` entries and
//! `MERKLE_FANOUT` descents, and at most `TRANSFER_CHUNK_BYTES_MAX` bytes of entries (or
//! one entry); when a side holds more entries under the differing leaves,
//! the page says where it stopped and the other side pulls the next page
//! (`TreePull`), so every key under a differing leaf is exchanged, one page per round
//! trip. Known cost (issue 25): pages carry whole values, not key digests first, and
//! finding a leaf's keys scans the partition from the page's cursor.
//!
//! Invariants:
//! - hostile or stale input (bad level, index, hash count, keys outside the partition,
//!   broken sibling sets) is ignored and counted, never merged;
//! - only replicas of the partition take part.

use crate::detector::FailureDetector;
use crate::local::Local;
use crate::merkle::{keys_in_leaves, LeafId, MerkleTree, TreeLevel, MERKLE_DEPTH, MERKLE_FANOUT};
use crate::message::{Message, Output};
use crate::ring::Ring;
use crate::store::{Store, StoreError};
use crate::transfer::{within_bytes, TRANSFER_CHUNK_BYTES_MAX};
use crate::types::{Key, NodeId, PartitionId};
use crate::version::Siblings;
use std::collections::BTreeSet;

/// Which partition the next anti-entropy round compares.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct AntiEntropy {
    /// The next partition to consider, round robin over those this node replicates.
    cursor: u32,
}

impl AntiEntropy {
    /// Start this round's exchanges: enough partitions, round robin over those this
    /// node replicates, that each is compared once per `anti_entropy_period_ms`.
    pub fn round<S: Store>(
        &mut self,
        local: &mut Local<S>,
        ring: Option<&Ring>,
        detector: &FailureDetector,
        out: &mut Vec<Output>,
    ) {
        let Some(ring) = ring else {
            return;
        };
        let mine = ring.replicated_partitions(local.id(), local.replication_factor());
        let config = local.config();
        let share = mine.len() as u64 * config.anti_entropy_interval_ms;
        let count = share.div_ceil(config.anti_entropy_period_ms).max(1);
        for _ in 0..count.min(mine.len() as u64) {
            let Some(partition) = mine
                .iter()
                .copied()
                .find(|p| p.0 >= self.cursor)
                .or(mine.first().copied())
            else {
                return;
            };
            self.cursor = (partition.0 + 1) % ring.partitions();
            exchange(local, ring, detector, partition, out);
        }
    }

    pub fn on_tree_level<S: Store>(
        local: &mut Local<S>,
        ring: Option<&Ring>,
        from: NodeId,
        (partition, theirs): (PartitionId, TreeLevel),
        out: &mut Vec<Output>,
    ) {
        if !replicates(local, ring, partition) {
            return local.ignore();
        }
        let tree = tree_or_empty(local, partition);
        let Ok(differing) = tree.diff_level(&theirs) else {
            return local.ignore();
        };
        let level = usize::from(theirs.level) + 1;
        let children = differing
            .into_iter()
            .map(|offset| theirs.index as usize * MERKLE_FANOUT + offset);
        if level == MERKLE_DEPTH {
            let leaves: Vec<LeafId> = children.filter_map(LeafId::new).collect();
            let page = Page {
                partition,
                leaves,
                after: None,
            };
            return send_leaves(local, from, page, true, out);
        }
        for index in children {
            let step = tree
                .tree_level(level, index)
                .expect("a differing child exists");
            local.send(out, from, Message::TreeLevel { partition, step });
        }
    }

    pub fn on_tree_sync<S: Store>(
        local: &mut Local<S>,
        ring: Option<&Ring>,
        from: NodeId,
        sync: ReceivedSync,
        out: &mut Vec<Output>,
    ) {
        let ReceivedSync {
            partition,
            leaves,
            entries,
            reply,
            next,
        } = sync;
        let leaf_set: BTreeSet<LeafId> = leaves.iter().copied().collect();
        let valid = leaves.len() <= crate::merkle::MERKLE_LEAVES
            && entries.len() <= local.config().anti_entropy_keys_max
            && entries.iter().all(|(key, siblings)| {
                local.valid_key(partition, key)
                    && leaf_set.contains(&crate::merkle::leaf_of(key))
                    && siblings.check_invariants().is_ok()
            });
        if !replicates(local, ring, partition) || !valid {
            return local.ignore();
        }
        for (key, siblings) in &entries {
            match local.merge_replica(partition, key, siblings) {
                Ok((_, true)) => local.count().anti_entropy_keys_repaired += 1,
                Ok((_, false)) => {}
                Err(error) => {
                    local.storage_failed(&error);
                    return;
                }
            }
        }
        if let Some(after) = next {
            let (leaves, after) = (leaves.clone(), after);
            local.send(
                out,
                from,
                Message::TreePull {
                    partition,
                    leaves,
                    after,
                },
            );
        }
        if reply {
            let page = Page {
                partition,
                leaves,
                after: None,
            };
            send_leaves(local, from, page, false, out);
        }
    }

    /// The peer merged a page of ours and asks for the next one.
    pub fn on_tree_pull<S: Store>(
        local: &mut Local<S>,
        ring: Option<&Ring>,
        from: NodeId,
        page: Page,
        out: &mut Vec<Output>,
    ) {
        let valid = page.leaves.len() <= crate::merkle::MERKLE_LEAVES
            && page
                .after
                .as_ref()
                .is_some_and(|after| local.valid_key(page.partition, after));
        if !replicates(local, ring, page.partition) || !valid {
            return local.ignore();
        }
        send_leaves(local, from, page, false, out);
    }
}

/// Which entries a `TreeSync` page carries: those of `partition` under `leaves`,
/// in key order, after `after`.
#[derive(Clone, Debug)]
pub(crate) struct Page {
    pub partition: PartitionId,
    pub leaves: Vec<LeafId>,
    pub after: Option<Key>,
}

/// Start one exchange of `partition`'s tree with a healthy home replica of it.
fn exchange<S: Store>(
    local: &mut Local<S>,
    ring: &Ring,
    detector: &FailureDetector,
    partition: PartitionId,
    out: &mut Vec<Output>,
) {
    let me = local.id();
    let peers: Vec<NodeId> = ring
        .home_replicas(partition, local.replication_factor())
        .into_iter()
        .filter(|peer| *peer != me && detector.healthy(*peer))
        .collect();
    if peers.is_empty() {
        return;
    }
    let peer = peers[local.pick(peers.len())];
    local.count().anti_entropy_rounds += 1;
    let step = tree_or_empty(local, partition)
        .tree_level(0, 0)
        .expect("the root has children");
    local.send(out, peer, Message::TreeLevel { partition, step });
}

/// A `Message::TreeSync` as received.
#[derive(Clone, Debug)]
pub(crate) struct ReceivedSync {
    pub partition: PartitionId,
    pub leaves: Vec<LeafId>,
    pub entries: Vec<(Key, Siblings)>,
    pub reply: bool,
    pub next: Option<Key>,
}

fn tree_or_empty<S: Store>(local: &Local<S>, partition: PartitionId) -> MerkleTree {
    local.tree(partition).cloned().unwrap_or_default()
}

fn replicates<S: Store>(local: &Local<S>, ring: Option<&Ring>, partition: PartitionId) -> bool {
    let n = local.replication_factor();
    ring.is_some_and(|ring| {
        partition.0 < ring.partitions() && ring.home_replicas(partition, n).contains(&local.id())
    })
}

fn send_leaves<S: Store>(
    local: &mut Local<S>,
    to: NodeId,
    page: Page,
    reply: bool,
    out: &mut Vec<Output>,
) {
    let Page {
        partition,
        leaves,
        after,
    } = page;
    let (entries, next) = match entries_in(local, partition, &leaves, after.as_deref()) {
        Ok(found) => found,
        Err(error) => {
            local.storage_failed(&error);
            return;
        }
    };
    let message = Message::TreeSync {
        partition,
        leaves,
        entries,
        reply,
        next,
    };
    local.send(out, to, message);
}

/// Replicas as a sync page carries them.
type Entries = Vec<(Key, Siblings)>;

/// One page of the entries under `leaves` after `after`, and where the next starts.
fn entries_in<S: Store>(
    local: &Local<S>,
    partition: PartitionId,
    leaves: &[LeafId],
    after: Option<&[u8]>,
) -> Result<(Entries, Option<Key>), StoreError> {
    let leaves: BTreeSet<LeafId> = leaves.iter().copied().collect();
    let max = local.config().anti_entropy_keys_max;
    let page = keys_in_leaves(local.store(), partition, &leaves, after, max)?;
    let mut entries = Vec::with_capacity(page.entries.len());
    for entry in page.entries {
        if let Some(siblings) = local.store().get(partition, &entry.key)? {
            entries.push((entry.key, siblings));
        }
    }
    // Bounded in bytes like a transfer chunk (at least one entry, so paging always
    // progresses): a page of large values stays far below a driver's frame limit.
    let fits = within_bytes(&entries, TRANSFER_CHUNK_BYTES_MAX);
    if fits < entries.len() {
        entries.truncate(fits);
        let next = entries.last().map(|(key, _)| key.clone());
        return Ok((entries, next));
    }
    Ok((entries, page.next))
}
