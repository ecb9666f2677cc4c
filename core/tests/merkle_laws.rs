//! Laws of the Merkle trees (Dynamo §4.7): incremental updates equal a rebuild, the
//! diff names exactly the differing leaves, the level walk finds the same leaves,
//! malformed peer steps are errors, leaf listings page exactly.

use dynamo_core::clock::VersionVector;
use dynamo_core::merkle::{
    differing_keys, key_digest, keys_in_leaves, leaf_of, LeafId, MerkleHash, MerkleTree, TreeLevel,
    MERKLE_DEPTH, MERKLE_FANOUT,
};
use dynamo_core::store::{MemoryStore, Store};
use dynamo_core::types::{ActorId, NodeId, PartitionId};
use dynamo_core::version::{Content, Siblings};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const P: PartitionId = PartitionId(0);

fn siblings(values: &[u8]) -> Siblings {
    let mut set = Siblings::new();
    for (i, value) in values.iter().enumerate() {
        let actor = ActorId::new(NodeId(1 + i as u32 % 3), 1);
        set.update(&VersionVector::new(), Content::Value(vec![*value]), actor)
            .unwrap();
    }
    set
}

/// A replica's contents: key -> values of its siblings.
fn contents() -> impl Strategy<Value = BTreeMap<Vec<u8>, Vec<u8>>> {
    prop::collection::btree_map(
        prop::collection::vec(any::<u8>(), 1..4),
        prop::collection::vec(any::<u8>(), 1..3),
        0..40,
    )
}

fn tree_of(contents: &BTreeMap<Vec<u8>, Vec<u8>>) -> MerkleTree {
    let mut tree = MerkleTree::new();
    for (key, values) in contents {
        tree.update(key, None, Some(key_digest(key, &siblings(values))));
    }
    tree
}

/// The leaves whose (key, digest) sets differ, computed by brute force.
fn brute_diff(a: &BTreeMap<Vec<u8>, Vec<u8>>, b: &BTreeMap<Vec<u8>, Vec<u8>>) -> Vec<LeafId> {
    let keys: BTreeSet<&Vec<u8>> = a.keys().chain(b.keys()).collect();
    let leaves: BTreeSet<LeafId> = keys
        .into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| leaf_of(k))
        .collect();
    leaves.into_iter().collect()
}

/// Walk from the root with `tree_level`/`diff_level`, as two replicas do.
fn walk(mine: &MerkleTree, theirs: &MerkleTree) -> Vec<LeafId> {
    let mut frontier = vec![(0usize, 0usize)];
    let mut leaves = Vec::new();
    while let Some((level, index)) = frontier.pop() {
        let step = theirs.tree_level(level, index).unwrap();
        for offset in mine.diff_level(&step).unwrap() {
            let child = index * MERKLE_FANOUT + offset;
            if level + 1 == MERKLE_DEPTH {
                leaves.push(LeafId::new(child).unwrap());
            } else {
                frontier.push((level + 1, child));
            }
        }
    }
    leaves.sort();
    leaves
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn incremental_updates_equal_a_rebuild(before in contents(), after in contents()) {
        // Move a tree from `before` to `after` by updates, then compare with a rebuild.
        let mut tree = tree_of(&before);
        let mut store = MemoryStore::new();
        for key in before.keys().chain(after.keys()).collect::<BTreeSet<_>>() {
            let old = before.get(key).map(|v| key_digest(key, &siblings(v)));
            let new = after.get(key).map(|v| key_digest(key, &siblings(v)));
            tree.update(key, old, new);
            if let Some(values) = after.get(key) {
                store.put(P, key, &siblings(values)).unwrap();
            }
        }
        prop_assert_eq!(&tree, &tree_of(&after));
        prop_assert_eq!(&tree, &MerkleTree::from_store(&store, P, 7).unwrap());
    }

    #[test]
    fn diff_names_exactly_the_differing_leaves(a in contents(), b in contents()) {
        let (ta, tb) = (tree_of(&a), tree_of(&b));
        let expected = brute_diff(&a, &b);
        prop_assert_eq!(ta.diff(&tb), expected.clone());
        prop_assert_eq!(tb.diff(&ta), expected.clone());
        prop_assert_eq!(walk(&ta, &tb), expected);
        prop_assert_eq!(ta.root() == tb.root(), a == b);
    }

    #[test]
    fn malformed_steps_never_panic(level in any::<u8>(), index in any::<u32>(), width in 0usize..40, fill in any::<u128>()) {
        let tree = tree_of(&BTreeMap::from([(vec![1], vec![2])]));
        let step = TreeLevel { level, index, hashes: vec![MerkleHash(fill); width] };
        let valid = usize::from(level) < MERKLE_DEPTH && (index as usize) < MERKLE_FANOUT.pow(u32::from(level)) && width == MERKLE_FANOUT;
        prop_assert_eq!(tree.diff_level(&step).is_ok(), valid);
    }

    #[test]
    fn leaf_pages_concatenate_to_the_leaf_keys(contents in contents(), chosen in prop::collection::btree_set(0u16..256, 1..64), limit in 1usize..6) {
        let mut store = MemoryStore::new();
        for (key, values) in &contents {
            store.put(P, key, &siblings(values)).unwrap();
        }
        let leaves: BTreeSet<LeafId> = chosen.into_iter().map(LeafId).collect();
        let mut listed = Vec::new();
        let mut cursor = None;
        for _ in 0..100 {
            let page = keys_in_leaves(&store, P, &leaves, cursor.as_deref(), limit).unwrap();
            prop_assert!(page.entries.len() <= limit);
            listed.extend(page.entries.into_iter().map(|e| e.key));
            cursor = page.next;
            if cursor.is_none() { break; }
        }
        let expected: Vec<Vec<u8>> = contents.keys().filter(|k| leaves.contains(&leaf_of(k))).cloned().collect();
        prop_assert_eq!(listed, expected);
    }
}

#[test]
fn key_digest_tracks_the_sibling_set() {
    let one = siblings(&[1]);
    assert_eq!(key_digest(b"k", &one), key_digest(b"k", &siblings(&[1])));
    assert_ne!(
        key_digest(b"k", &one),
        key_digest(b"j", &one),
        "the key is part of the digest"
    );
    assert_ne!(
        key_digest(b"k", &one),
        key_digest(b"k", &siblings(&[1, 2])),
        "a new sibling"
    );
    let mut deleted = one.clone();
    deleted
        .update(one.clock(), Content::Tombstone, ActorId::new(NodeId(1), 1))
        .unwrap();
    assert_ne!(
        key_digest(b"k", &one),
        key_digest(b"k", &deleted),
        "a tombstone"
    );
}

#[test]
fn differing_keys_lists_missing_and_changed_keys() {
    let mut store = MemoryStore::new();
    store.put(P, b"a", &siblings(&[1])).unwrap();
    store.put(P, b"b", &siblings(&[2])).unwrap();
    let all: BTreeSet<LeafId> = (0..256).map(LeafId).collect();
    let mine = keys_in_leaves(&store, P, &all, None, 10).unwrap().entries;
    store.put(P, b"b", &siblings(&[3])).unwrap();
    store.put(P, b"c", &siblings(&[4])).unwrap();
    let theirs = keys_in_leaves(&store, P, &all, None, 10).unwrap().entries;
    assert_eq!(
        differing_keys(&mine, &theirs),
        vec![b"b".to_vec(), b"c".to_vec()]
    );
}
