//! Merkle trees for anti-entropy (Dynamo §4.7).
//!
//! Each replica keeps one tree per partition it stores. The shape is fixed: a root, 16
//! inner nodes, 256 leaves. A key lives in the leaf named by the low 8 bits of its MD5
//! position (the partition takes the top bits, so one partition's keys spread over every
//! leaf). A leaf's hash is the wrapping 128-bit sum of its keys' entry hashes, so adding,
//! changing or removing one key updates the leaf in O(1) without reading its neighbours.
//! An inner node's hash (and the root's) is likewise the wrapping sum of its children's
//! hashes, each first put through a 128-bit mixer keyed by the child's position
//! (`mix_child`), so a write updates each level above its leaf by one subtraction and
//! one addition: a hash of the 16 children per level cost most of a write's Merkle
//! update (5 µs in `cargo bench --bench core_paths`). A difference anywhere below
//! still changes every node above it (the mixer is a bijection of the child's hash);
//! like the leaf sums, this guards against accidental divergence, not against a
//! replica forging equal sums on purpose (peers are authenticated). Two replicas
//! compare roots, then only the children that differ, and exchange only the keys of the
//! leaves that differ.
//!
//! Invariants:
//! - a tree updated incrementally equals the tree rebuilt from the same stored data
//!   (`from_store`): `Node::check_invariants_full` checks it;
//! - `diff` names exactly the leaves whose key sets or key versions differ (up to hash
//!   collisions of 128-bit MD5 sums);
//! - peer input (`diff_level`) is validated: a malformed level is an error, never a
//!   panic.

use crate::hash::key_position;
use crate::prng::{mix64, GOLDEN_GAMMA};
use crate::store::{Store, StoreError};
use crate::types::{Key, PartitionId};
use crate::version::Siblings;
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Children per inner node.
pub const MERKLE_FANOUT: usize = 16;
/// Levels below the root: root (level 0), inner nodes (level 1), leaves (level 2).
pub const MERKLE_DEPTH: usize = 2;
/// Leaves per tree.
pub const MERKLE_LEAVES: usize = MERKLE_FANOUT * MERKLE_FANOUT;
/// Keys read per storage page while rebuilding or listing leaves.
const SCAN_PAGE: usize = 256;

/// One of a tree's leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LeafId(pub u16);

impl LeafId {
    pub fn new(index: usize) -> Option<LeafId> {
        (index < MERKLE_LEAVES).then_some(LeafId(index as u16))
    }
}

/// The hash of one key's stored sibling set.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct KeyDigest(pub u128);

/// The hash of a tree node.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct MerkleHash(pub u128);

/// The children's hashes of node `(level, index)`: one step of a tree walk.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TreeLevel {
    pub level: u8,
    pub index: u32,
    pub hashes: Vec<MerkleHash>,
}

/// A key and the digest of its sibling set.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct KeyEntry {
    pub key: Key,
    pub digest: KeyDigest,
}

/// A page of keys; `next` resumes after the last key, `None` when the scan is done.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KeyPage {
    pub entries: Vec<KeyEntry>,
    pub next: Option<Key>,
}

/// A malformed tree step from a peer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
pub enum MerkleError {
    #[error("tree level {level} has no children (depth is {depth})")]
    BadLevel { level: usize, depth: usize },
    #[error("tree level {level} has no node {index}")]
    BadIndex { level: usize, index: usize },
    #[error("a tree step carries {got} hashes, expected {expected}")]
    BadWidth { got: usize, expected: usize },
}

/// A partition's fixed-shape Merkle tree.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MerkleTree {
    leaves: Vec<u128>,
    inner: Vec<u128>,
    root: u128,
}

impl Default for MerkleTree {
    fn default() -> Self {
        Self::new()
    }
}

impl MerkleTree {
    /// The tree of an empty partition.
    pub fn new() -> Self {
        let leaves = vec![0; MERKLE_LEAVES];
        let inner: Vec<u128> = leaves.chunks(MERKLE_FANOUT).map(hash_children).collect();
        let root = hash_children(&inner);
        Self {
            leaves,
            inner,
            root,
        }
    }

    /// Rebuild from the stored replicas of `partition`, reading `page` keys at a time.
    pub fn from_store<S: Store>(
        store: &S,
        partition: PartitionId,
        page: usize,
    ) -> Result<MerkleTree, StoreError> {
        let mut tree = MerkleTree::new();
        let mut cursor: Option<Key> = None;
        loop {
            let entries = store.scan(partition, cursor.as_deref(), page.max(1))?;
            for (key, siblings) in &entries {
                tree.update(key, None, Some(key_digest(key, siblings)));
            }
            if entries.len() < page.max(1) {
                return Ok(tree);
            }
            cursor = entries.last().map(|(key, _)| key.clone());
        }
    }

    /// Record that `key`'s digest went from `old` to `new` (`None`: absent).
    pub fn update(&mut self, key: &[u8], old: Option<KeyDigest>, new: Option<KeyDigest>) {
        if old == new {
            return;
        }
        let leaf = usize::from(leaf_of(key).0);
        let mut sum = self.leaves[leaf];
        if let Some(old) = old {
            sum = sum.wrapping_sub(entry_hash(key, old));
        }
        if let Some(new) = new {
            sum = sum.wrapping_add(entry_hash(key, new));
        }
        let old_leaf = std::mem::replace(&mut self.leaves[leaf], sum);
        let parent = leaf / MERKLE_FANOUT;
        let old_inner = self.inner[parent];
        self.inner[parent] = replace_child(old_inner, leaf % MERKLE_FANOUT, old_leaf, sum);
        self.root = replace_child(self.root, parent, old_inner, self.inner[parent]);
    }

    pub fn root(&self) -> MerkleHash {
        MerkleHash(self.root)
    }

    pub fn leaf(&self, leaf: LeafId) -> MerkleHash {
        MerkleHash(self.leaves[usize::from(leaf.0)])
    }

    /// The hash of node `index` at `level` (0 is the root, `MERKLE_DEPTH` the leaves).
    pub fn node(&self, level: usize, index: usize) -> Option<MerkleHash> {
        let hash = match level {
            0 => (index == 0).then_some(self.root),
            1 => self.inner.get(index).copied(),
            2 => self.leaves.get(index).copied(),
            _ => None,
        };
        hash.map(MerkleHash)
    }

    /// The hashes of the children of node `(level, index)`.
    pub fn children(&self, level: usize, index: usize) -> Option<Vec<MerkleHash>> {
        let row = match level {
            0 if index == 0 => &self.inner[..],
            1 if index < MERKLE_FANOUT => {
                &self.leaves[index * MERKLE_FANOUT..(index + 1) * MERKLE_FANOUT]
            }
            _ => return None,
        };
        Some(row.iter().copied().map(MerkleHash).collect())
    }

    /// The walk step for node `(level, index)`: its children's hashes.
    pub fn tree_level(&self, level: usize, index: usize) -> Result<TreeLevel, MerkleError> {
        check_node(level, index)?;
        let hashes = self.children(level, index).expect("checked above");
        Ok(TreeLevel {
            level: level as u8,
            index: index as u32,
            hashes,
        })
    }

    /// The offsets (`0..MERKLE_FANOUT`) of the children where a peer's step differs
    /// from this tree.
    pub fn diff_level(&self, theirs: &TreeLevel) -> Result<Vec<usize>, MerkleError> {
        let (level, index) = (usize::from(theirs.level), theirs.index as usize);
        check_node(level, index)?;
        if theirs.hashes.len() != MERKLE_FANOUT {
            return Err(MerkleError::BadWidth {
                got: theirs.hashes.len(),
                expected: MERKLE_FANOUT,
            });
        }
        let mine = self.children(level, index).expect("checked above");
        Ok(differing_offsets(&mine, &theirs.hashes))
    }

    /// The leaves that differ from `other`, descending only into differing branches.
    pub fn diff(&self, other: &MerkleTree) -> Vec<LeafId> {
        if self.root == other.root {
            return Vec::new();
        }
        let mut leaves = Vec::new();
        for inner in differing_offsets(&to_hashes(&self.inner), &to_hashes(&other.inner)) {
            let theirs = other.children(1, inner).expect("an inner node");
            let offsets =
                differing_offsets(&self.children(1, inner).expect("an inner node"), &theirs);
            leaves.extend(
                offsets
                    .into_iter()
                    .filter_map(|offset| LeafId::new(inner * MERKLE_FANOUT + offset)),
            );
        }
        leaves
    }
}

/// The leaf of `key`: the low 8 bits of its ring position.
pub fn leaf_of(key: &[u8]) -> LeafId {
    LeafId((key_position(key).0 & (MERKLE_LEAVES as u128 - 1)) as u16)
}

/// The digest of `key`'s sibling set: MD5 over the key (length-prefixed) and the set's
/// canonical encoding (a `Siblings` is normalised, so equal sets encode equally).
pub fn key_digest(key: &[u8], siblings: &Siblings) -> KeyDigest {
    let encoded = postcard::to_allocvec(siblings).expect("a sibling set always encodes");
    let mut md5 = Md5::new();
    md5.update((key.len() as u64).to_le_bytes());
    md5.update(key);
    md5.update(encoded);
    KeyDigest(u128::from_be_bytes(md5.finalize().into()))
}

/// A page of `partition`'s keys whose leaf is in `leaves`, in key order after
/// `start_after`, at most `limit` of them, with their digests.
pub fn keys_in_leaves<S: Store>(
    store: &S,
    partition: PartitionId,
    leaves: &BTreeSet<LeafId>,
    start_after: Option<&[u8]>,
    limit: usize,
) -> Result<KeyPage, StoreError> {
    let mut page = KeyPage::default();
    let mut cursor: Option<Key> = start_after.map(<[u8]>::to_vec);
    loop {
        let entries = store.scan(partition, cursor.as_deref(), SCAN_PAGE)?;
        let done = entries.len() < SCAN_PAGE;
        for (key, siblings) in entries {
            if page.entries.len() == limit {
                page.next = page.entries.last().map(|entry| entry.key.clone());
                return Ok(page);
            }
            cursor = Some(key.clone());
            if leaves.contains(&leaf_of(&key)) {
                let digest = key_digest(&key, &siblings);
                page.entries.push(KeyEntry { key, digest });
            }
        }
        if done {
            return Ok(page);
        }
    }
}

/// The keys whose digest differs between two sides' entries (or that one side lacks).
pub fn differing_keys(mine: &[KeyEntry], theirs: &[KeyEntry]) -> Vec<Key> {
    let theirs: BTreeMap<&[u8], KeyDigest> = theirs
        .iter()
        .map(|e| (e.key.as_slice(), e.digest))
        .collect();
    let mine_map: BTreeMap<&[u8], KeyDigest> =
        mine.iter().map(|e| (e.key.as_slice(), e.digest)).collect();
    let mut keys: BTreeSet<&[u8]> = BTreeSet::new();
    for (key, digest) in &mine_map {
        if theirs.get(key) != Some(digest) {
            keys.insert(key);
        }
    }
    keys.extend(theirs.keys().filter(|key| !mine_map.contains_key(*key)));
    keys.into_iter().map(<[u8]>::to_vec).collect()
}

fn check_node(level: usize, index: usize) -> Result<(), MerkleError> {
    if level >= MERKLE_DEPTH {
        return Err(MerkleError::BadLevel {
            level,
            depth: MERKLE_DEPTH,
        });
    }
    if index >= MERKLE_FANOUT.pow(level as u32) {
        return Err(MerkleError::BadIndex { level, index });
    }
    Ok(())
}

/// One key's contribution to its leaf's sum.
fn entry_hash(key: &[u8], digest: KeyDigest) -> u128 {
    let mut md5 = Md5::new();
    md5.update((key.len() as u64).to_le_bytes());
    md5.update(key);
    md5.update(digest.0.to_be_bytes());
    u128::from_be_bytes(md5.finalize().into())
}

/// A node's hash from its children's: the wrapping sum of each mixed by position.
fn hash_children(children: &[u128]) -> u128 {
    children
        .iter()
        .enumerate()
        .fold(0u128, |sum, (position, &child)| {
            sum.wrapping_add(mix_child(child, position))
        })
}

/// `parent`'s hash after its child at `position` went from `old` to `new`: the same
/// as [`hash_children`] over the new children, without reading the others.
fn replace_child(parent: u128, position: usize, old: u128, new: u128) -> u128 {
    parent
        .wrapping_sub(mix_child(old, position))
        .wrapping_add(mix_child(new, position))
}

/// A bijection of a child's hash, keyed by its position among its siblings (so that
/// children do not commute): two SplitMix64 finalisers ([`mix64`]), the second keyed by
/// the first. This is a hash, not a generator: it keeps no state and must stay fixed
/// (replicas compare the sums it builds), so it uses the finaliser, not [`Prng`].
///
/// [`Prng`]: crate::prng::Prng
fn mix_child(hash: u128, position: usize) -> u128 {
    let key = (position as u64 + 1).wrapping_mul(GOLDEN_GAMMA);
    let low = mix64(hash as u64 ^ key);
    let high = mix64((hash >> 64) as u64 ^ low);
    (u128::from(high) << 64) | u128::from(low)
}

fn to_hashes(row: &[u128]) -> Vec<MerkleHash> {
    row.iter().copied().map(MerkleHash).collect()
}

fn differing_offsets(mine: &[MerkleHash], theirs: &[MerkleHash]) -> Vec<usize> {
    mine.iter()
        .zip(theirs)
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(offset, _)| offset)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prng::Prng;

    fn digest(n: u128) -> Option<KeyDigest> {
        Some(KeyDigest(n))
    }

    #[test]
    fn an_update_and_its_undo_restore_the_tree() {
        let empty = MerkleTree::new();
        assert_eq!(empty, MerkleTree::default());
        let mut tree = MerkleTree::new();
        tree.update(b"k", None, digest(1));
        assert_ne!(tree.root(), empty.root());
        assert_eq!(tree.diff(&empty), vec![leaf_of(b"k")]);
        tree.update(b"k", digest(1), digest(2));
        tree.update(b"k", digest(2), None);
        assert_eq!(tree, empty);
    }

    /// The sums kept by `update` equal the node hashes computed afresh from the rows
    /// below them, after many updates (the incremental form must not drift).
    #[test]
    fn incremental_node_hashes_equal_hashes_of_the_rows_below() {
        let mut tree = MerkleTree::new();
        let mut digests: BTreeMap<[u8; 8], KeyDigest> = BTreeMap::new();
        let mut prng = Prng::new(7);
        for _ in 0..2_000 {
            let state = prng.next_u64();
            let key = (state % 300).to_be_bytes();
            let new = KeyDigest(u128::from(state) << 3 | 1);
            // Every fourth update removes the key instead.
            let new = (state % 4 != 0).then_some(new);
            let old = match new {
                Some(new) => digests.insert(key, new),
                None => digests.remove(&key),
            };
            tree.update(&key, old, new);
        }
        for (parent, inner) in tree.inner.iter().enumerate() {
            let row = &tree.leaves[parent * MERKLE_FANOUT..(parent + 1) * MERKLE_FANOUT];
            assert_eq!(*inner, hash_children(row), "inner node {parent}");
        }
        assert_eq!(tree.root, hash_children(&tree.inner));
        let mut rebuilt = MerkleTree::new();
        for (key, digest) in &digests {
            rebuilt.update(key, None, Some(*digest));
        }
        assert_eq!(rebuilt, tree);
    }

    /// Replicas of different versions compare roots: the child mixer must not change.
    #[test]
    fn the_child_mixer_is_pinned() {
        assert_eq!(mix_child(0, 0), 0x4821_8226_ff3c_d4bf_e220_a839_7b1d_cdaf);
        let ones = mix_child(u128::MAX, 15);
        assert_eq!(ones, 0x2670_f42e_3bab_4140_efe7_0516_f325_7828);
        let children: Vec<u128> = (1..=16).collect();
        let parent = 0x3c4c_f476_f10f_38ce_9a66_fcd4_3acd_150a;
        assert_eq!(hash_children(&children), parent);
    }

    /// Children do not commute, and a change to any one child changes its parent.
    #[test]
    fn a_node_hash_depends_on_each_child_and_its_position() {
        let mut prng = Prng::new(16);
        let children: Vec<u128> = (0..MERKLE_FANOUT).map(|_| prng.next_u128()).collect();
        let parent = hash_children(&children);
        let mut swapped = children.clone();
        swapped.swap(3, 11);
        assert_ne!(hash_children(&swapped), parent);
        for position in 0..children.len() {
            let mut changed = children.clone();
            changed[position] ^= 1 << (position * 7 % 128);
            assert_ne!(hash_children(&changed), parent, "child {position}");
            let old = children[position];
            let replaced = replace_child(parent, position, old, changed[position]);
            assert_eq!(replaced, hash_children(&changed), "child {position}");
        }
    }

    #[test]
    fn malformed_steps_are_errors() {
        let tree = MerkleTree::new();
        let step = |level, index, width| TreeLevel {
            level,
            index,
            hashes: vec![MerkleHash(0); width],
        };
        assert_eq!(
            tree.diff_level(&step(2, 0, 16)),
            Err(MerkleError::BadLevel { level: 2, depth: 2 })
        );
        assert_eq!(
            tree.diff_level(&step(1, 16, 16)),
            Err(MerkleError::BadIndex {
                level: 1,
                index: 16
            })
        );
        assert_eq!(
            tree.diff_level(&step(0, 1, 16)),
            Err(MerkleError::BadIndex { level: 0, index: 1 })
        );
        assert_eq!(
            tree.diff_level(&step(0, 0, 3)),
            Err(MerkleError::BadWidth {
                got: 3,
                expected: 16
            })
        );
        assert_eq!(tree.diff_level(&tree.tree_level(0, 0).unwrap()), Ok(vec![]));
        assert_eq!(
            MerkleError::BadWidth {
                got: 3,
                expected: 16
            }
            .to_string(),
            "a tree step carries 3 hashes, expected 16"
        );
    }

    #[test]
    fn differing_keys_covers_both_sides() {
        let entry = |key: &[u8], d: u128| KeyEntry {
            key: key.to_vec(),
            digest: KeyDigest(d),
        };
        let mine = [entry(b"a", 1), entry(b"b", 2), entry(b"c", 3)];
        let theirs = [entry(b"b", 2), entry(b"c", 4), entry(b"d", 5)];
        assert_eq!(
            differing_keys(&mine, &theirs),
            vec![b"a".to_vec(), b"c".to_vec(), b"d".to_vec()]
        );
    }
}
