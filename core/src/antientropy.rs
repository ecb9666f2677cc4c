//! Anti-entropy: replica synchronisation with Merkle trees (Dynamo §4.7).
//!
//! Every anti-entropy period a node picks the next partition it is a home replica of
//! (round robin) and one other healthy home replica of it (seeded PRNG), and sends its
//! tree's root children. Each side answers a `TreeLevel` with its own children of the
//! nodes that differ, descending only into differing branches; at the leaves, the side
//! that found them sends every entry it holds in the differing leaves and asks for the
//! other side's: both merge what they receive, so both end with the union (a merge never
//! loses a version). Each message carries at most `anti_entropy_keys_max` entries and
//! `MERKLE_FANOUT` descents; what does not fit is found again next round.
//!
//! Invariants:
//! - hostile or stale input (bad level, index, hash count, keys outside the partition,
//!   broken sibling sets) is ignored and counted, never merged;
//! - only replicas of the partition take part.

use crate::merkle::{keys_in_leaves, LeafId, MerkleTree, TreeLevel, MERKLE_DEPTH, MERKLE_FANOUT};
use crate::message::{Message, Output};
use crate::node::Node;
use crate::store::Store;
use crate::types::{Key, NodeId, PartitionId};
use crate::version::Siblings;
use std::collections::BTreeSet;

impl<S: Store> Node<S> {
    pub(crate) fn anti_entropy_round(&mut self, out: &mut Vec<Output>) {
        let Some(ring) = self.ring() else {
            return;
        };
        let n = self.config.ring.replication_factor;
        let partitions = ring.partitions();
        let mine = ring.replicated_partitions(self.id, n);
        let Some(partition) = mine
            .iter()
            .copied()
            .find(|p| p.0 >= self.anti_entropy_cursor)
            .or(mine.first().copied())
        else {
            return;
        };
        let homes = ring.home_replicas(partition, n);
        self.anti_entropy_cursor = (partition.0 + 1) % partitions;
        let peers: Vec<NodeId> = homes
            .into_iter()
            .filter(|peer| *peer != self.id && self.healthy(*peer))
            .collect();
        if peers.is_empty() {
            return;
        }
        let peer = peers[self.prng.below(peers.len() as u64) as usize];
        self.stats.anti_entropy_rounds += 1;
        let step = self
            .tree_or_empty(partition)
            .tree_level(0, 0)
            .expect("the root has children");
        self.send(out, peer, Message::TreeLevel { partition, step });
    }

    fn tree_or_empty(&self, partition: PartitionId) -> MerkleTree {
        self.trees.get(&partition).cloned().unwrap_or_default()
    }

    fn replicates(&self, partition: PartitionId) -> bool {
        let n = self.config.ring.replication_factor;
        self.ring().is_some_and(|ring| {
            partition.0 < ring.partitions() && ring.home_replicas(partition, n).contains(&self.id)
        })
    }

    pub(crate) fn on_tree_level(
        &mut self,
        from: NodeId,
        partition: PartitionId,
        theirs: TreeLevel,
        out: &mut Vec<Output>,
    ) {
        if !self.replicates(partition) {
            return self.ignore();
        }
        let tree = self.tree_or_empty(partition);
        let Ok(differing) = tree.diff_level(&theirs) else {
            return self.ignore();
        };
        let level = usize::from(theirs.level) + 1;
        let children = differing
            .into_iter()
            .map(|offset| theirs.index as usize * MERKLE_FANOUT + offset);
        if level == MERKLE_DEPTH {
            let leaves: Vec<LeafId> = children.filter_map(LeafId::new).collect();
            return self.send_leaves(from, partition, leaves, true, out);
        }
        for index in children {
            let step = tree
                .tree_level(level, index)
                .expect("a differing child exists");
            self.send(out, from, Message::TreeLevel { partition, step });
        }
    }

    fn send_leaves(
        &mut self,
        to: NodeId,
        partition: PartitionId,
        leaves: Vec<LeafId>,
        reply: bool,
        out: &mut Vec<Output>,
    ) {
        let entries = match self.entries_in(partition, &leaves) {
            Ok(entries) => entries,
            Err(error) => {
                self.storage_failed(&error);
                return;
            }
        };
        self.send(
            out,
            to,
            Message::TreeSync {
                partition,
                leaves,
                entries,
                reply,
            },
        );
    }

    fn entries_in(
        &self,
        partition: PartitionId,
        leaves: &[LeafId],
    ) -> Result<Vec<(Key, Siblings)>, crate::store::StoreError> {
        let leaves: BTreeSet<LeafId> = leaves.iter().copied().collect();
        let page = keys_in_leaves(
            &self.store,
            partition,
            &leaves,
            None,
            self.config.anti_entropy_keys_max,
        )?;
        let mut entries = Vec::with_capacity(page.entries.len());
        for entry in page.entries {
            if let Some(siblings) = self.store.get(partition, &entry.key)? {
                entries.push((entry.key, siblings));
            }
        }
        Ok(entries)
    }

    pub(crate) fn on_tree_sync(
        &mut self,
        from: NodeId,
        partition: PartitionId,
        leaves: Vec<LeafId>,
        entries: Vec<(Key, Siblings)>,
        reply: bool,
        out: &mut Vec<Output>,
    ) {
        let leaf_set: BTreeSet<LeafId> = leaves.iter().copied().collect();
        let valid = leaves.len() <= crate::merkle::MERKLE_LEAVES
            && entries.len() <= self.config.anti_entropy_keys_max
            && entries.iter().all(|(key, siblings)| {
                self.valid_key(partition, key)
                    && leaf_set.contains(&crate::merkle::leaf_of(key))
                    && siblings.check_invariants().is_ok()
            });
        if !self.replicates(partition) || !valid {
            return self.ignore();
        }
        for (key, siblings) in &entries {
            match self.merge_replica(partition, key, siblings) {
                Ok((_, true)) => self.stats.anti_entropy_keys_repaired += 1,
                Ok((_, false)) => {}
                Err(error) => {
                    self.storage_failed(&error);
                    return;
                }
            }
        }
        if reply {
            self.send_leaves(from, partition, leaves, false, out);
        }
    }
}
