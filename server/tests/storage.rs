//! `LsmStore` against the `Store` contract that `MemoryStore` defines: the same
//! behaviours, plus what only a durable store has (reopen, crash, corrupt files, the
//! directory lock), plus what its group-commit overlay could get wrong (unsynced
//! writes laid over committed ones in reads and pages, partition drops in a batch,
//! the in-memory partition set and hint count, failed syncs). The last test drives
//! seeded random operation sequences through both `LsmStore` and `MemoryStore` and
//! compares every read after every step.
//!
//! Crash tests run their writing half in a child copy of this test binary, which says
//! when it is done and waits; the parent then kills it with SIGKILL (`kill -9`): no
//! destructor runs and nothing is flushed. Power loss cannot be simulated here, so
//! nothing below claims what buffered mode loses to one.
//!
//! Raw bytes are written into a closed store with the `fjall` crate directly, in the
//! layout the store module documents: trees `replicas`, `hints` and `meta`; a replica
//! keyed by its partition as a big-endian `u32` then the key; a hint by its target and
//! partition as big-endian `u32`s then the key.

use dynamo_core::clock::VersionVector;
use dynamo_core::prng::Prng;
use dynamo_core::store::{HintKey, MemoryStore, Store};
use dynamo_core::types::{ActorId, Key, NodeId, PartitionId};
use dynamo_core::version::{Content, Siblings};
use dynamo_server::storage::{
    Durability, LsmStore, BUFFERED_FSYNC_INTERVAL_MS, VALUE_FORMAT_VERSION,
};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Set in a child process: the store directory the child writes before it is killed.
const CHILD_STORE_ENV: &str = "DYNAMO_STORAGE_TEST_CHILD_STORE";
/// What a child prints once its writes are done and it may be killed.
const CHILD_READY: &str = "dynamo-storage-child-ready";
/// Longest a child may take to do its writes.
const CHILD_TIMEOUT_MS: u64 = 60_000;
/// Set to run the random-operations test with this one seed only.
const SEED_ENV: &str = "DYNAMO_STORAGE_TEST_SEED";

fn siblings(value: &[u8]) -> Siblings {
    let mut set = Siblings::new();
    let actor = ActorId::new(NodeId(1), 1);
    set.update(&VersionVector::new(), Content::Value(value.to_vec()), actor)
        .expect("a first put on an empty set is valid");
    set
}

fn hint(target: u32, partition: u32, key: &[u8]) -> HintKey {
    HintKey {
        target: NodeId(target),
        partition: PartitionId(partition),
        key: key.to_vec(),
    }
}

/// A store directory that does not exist yet, nor does its parent.
fn store_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("data").join("store")
}

fn open(path: &Path) -> LsmStore {
    open_with(path, Durability::Durable)
}

fn open_with(path: &Path, durability: Durability) -> LsmStore {
    LsmStore::open(path, durability).expect("open store")
}

/// Syncs, closes and opens the store again (same durability).
fn reopen(mut store: LsmStore) -> LsmStore {
    store.sync().expect("sync before reopening");
    let (path, durability) = (store.path().to_path_buf(), store.durability());
    drop(store);
    open_with(&path, durability)
}

/// Run `check` on `store` as it is (with unsynced writes), after a sync, and after a
/// reopen: the overlay, the committed trees and recovery must all agree.
fn before_and_after_sync_and_reopen(mut store: LsmStore, check: impl Fn(&LsmStore, &str)) {
    check(&store, "before sync");
    store.sync().unwrap();
    check(&store, "after sync");
    let store = reopen(store);
    check(&store, "after reopen");
}

fn keys_of(entries: &[(Vec<u8>, Siblings)]) -> Vec<Vec<u8>> {
    entries.iter().map(|(key, _)| key.clone()).collect()
}

fn hint_keys_of(entries: &[(HintKey, Siblings)]) -> Vec<HintKey> {
    entries.iter().map(|(hint, _)| hint.clone()).collect()
}

/// A replica's key in the `replicas` tree.
fn replica_key(partition: u32, key: &[u8]) -> Vec<u8> {
    [&partition.to_be_bytes()[..], key].concat()
}

fn child_store_path() -> Option<PathBuf> {
    std::env::var_os(CHILD_STORE_ENV).map(PathBuf::from)
}

/// The child's side: report that the writes are done, then wait to be killed.
fn wait_for_kill() -> ! {
    println!("{CHILD_READY}");
    std::io::stdout().flush().expect("flush stdout");
    std::thread::sleep(Duration::from_millis(CHILD_TIMEOUT_MS));
    panic!("child was not killed");
}

/// Runs `test` again in a child process with `CHILD_STORE_ENV` set, waits until the
/// child has done its writes, and kills it with SIGKILL.
fn run_child_and_kill_it(test: &str, path: &Path) {
    let mut child = Command::new(std::env::current_exe().expect("test binary path"))
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_STORE_ENV, path)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn child test process");
    let stdout = child.stdout.take().expect("child stdout");
    let mut output = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read child stdout");
        output.push_str(&line);
        output.push('\n');
        if line.contains(CHILD_READY) {
            child.kill().expect("kill child");
            child.wait().expect("reap child");
            return;
        }
    }
    let status = child.wait().expect("reap child");
    panic!("child ended before its writes were done: {status:?}\n{output}");
}

/// Writes `value` under `key` in tree `tree` of the closed store at `path`,
/// bypassing the store.
fn write_raw(path: &Path, tree: &str, key: &[u8], value: &[u8]) {
    let keyspace = fjall::Config::new(path).open().expect("open keyspace");
    let partition = keyspace
        .open_partition(tree, fjall::PartitionCreateOptions::default())
        .expect("open tree");
    partition.insert(key, value).expect("raw insert");
    keyspace
        .persist(fjall::PersistMode::SyncAll)
        .expect("persist raw insert");
}

/// The stored bytes under `key` in tree `tree` of the closed store at `path`.
fn read_raw(path: &Path, tree: &str, key: &[u8]) -> Option<Vec<u8>> {
    let keyspace = fjall::Config::new(path).open().expect("open keyspace");
    let partition = keyspace
        .open_partition(tree, fjall::PartitionCreateOptions::default())
        .expect("open tree");
    let value = partition.get(key).expect("raw get");
    value.map(|bytes| bytes.to_vec())
}

#[test]
fn get_returns_the_latest_put() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&store_path(&dir));
    assert_eq!(store.get(PartitionId(3), b"k").unwrap(), None);
    store.put(PartitionId(3), b"k", &siblings(b"one")).unwrap();
    store.put(PartitionId(3), b"k", &siblings(b"two")).unwrap();
    assert_eq!(
        store.get(PartitionId(3), b"k").unwrap(),
        Some(siblings(b"two"))
    );
    assert_eq!(store.get(PartitionId(4), b"k").unwrap(), None);
    // Over a committed value too.
    store.sync().unwrap();
    store
        .put(PartitionId(3), b"k", &siblings(b"three"))
        .unwrap();
    assert_eq!(
        store.get(PartitionId(3), b"k").unwrap(),
        Some(siblings(b"three"))
    );
}

#[test]
fn scan_pages_through_a_partition_in_key_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&store_path(&dir));
    for key in [b"d", b"a", b"c", b"b"] {
        store.put(PartitionId(0), key, &siblings(key)).unwrap();
    }
    store.put(PartitionId(1), b"z", &siblings(b"z")).unwrap();
    let first = store.scan(PartitionId(0), None, 3).unwrap();
    assert_eq!(
        keys_of(&first),
        vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]
    );
    assert_eq!(first[1].1, siblings(b"b"));
    let rest = store.scan(PartitionId(0), Some(b"c"), 3).unwrap();
    assert_eq!(keys_of(&rest), vec![b"d".to_vec()]);
    assert!(store
        .scan(PartitionId(0), Some(b"d"), 3)
        .unwrap()
        .is_empty());
    assert!(store.scan(PartitionId(0), None, 0).unwrap().is_empty());
    assert!(store.scan(PartitionId(7), None, 3).unwrap().is_empty());
    // The same pages once synced, read from the committed trees.
    store.sync().unwrap();
    assert_eq!(store.scan(PartitionId(0), None, 3).unwrap(), first);
    assert_eq!(store.scan(PartitionId(0), Some(b"c"), 3).unwrap(), rest);
    let store = reopen(store);
    assert_eq!(store.scan(PartitionId(0), None, 3).unwrap(), first);
    assert_eq!(store.scan(PartitionId(0), Some(b"c"), 3).unwrap(), rest);
}

#[test]
fn scan_start_after_need_not_be_a_stored_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&store_path(&dir));
    for key in [&b"a"[..], b"ab", b"b"] {
        store.put(PartitionId(0), key, &siblings(key)).unwrap();
    }
    let page = store.scan(PartitionId(0), Some(b"a\0"), 10).unwrap();
    assert_eq!(keys_of(&page), vec![b"ab".to_vec(), b"b".to_vec()]);
    store.sync().unwrap();
    let page = store.scan(PartitionId(0), Some(b"a\0"), 10).unwrap();
    assert_eq!(keys_of(&page), vec![b"ab".to_vec(), b"b".to_vec()]);
}

/// Partition ids are big-endian prefixes of one tree: the first and the last id
/// border nothing, and keys starting 0xff must not leak into the next partition.
#[test]
fn scan_stays_inside_its_partition() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&store_path(&dir));
    for partition in [0, 1, 2, 255, 256, u32::MAX - 1, u32::MAX] {
        for key in [&b""[..], b"\x00", b"\xff\xff\xff\xff\xff"] {
            store
                .put(PartitionId(partition), key, &siblings(key))
                .unwrap();
        }
    }
    for synced in [false, true] {
        if synced {
            store.sync().unwrap();
        }
        for partition in [0, 1, 2, 255, 256, u32::MAX - 1, u32::MAX] {
            let page = store.scan(PartitionId(partition), None, 100).unwrap();
            assert_eq!(
                keys_of(&page),
                vec![
                    b"".to_vec(),
                    b"\x00".to_vec(),
                    b"\xff\xff\xff\xff\xff".to_vec()
                ],
                "partition {partition}, synced {synced}"
            );
        }
        assert!(store.scan(PartitionId(3), None, 100).unwrap().is_empty());
        assert!(store.scan(PartitionId(257), None, 100).unwrap().is_empty());
    }
}

#[test]
fn partitions_lists_partitions_holding_keys_in_numeric_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let mut store = open(&path);
    assert!(store.partitions().unwrap().is_empty());
    for partition in [300, 2, 65_535, u32::MAX, 10, 0, 1_000_000] {
        store
            .put(PartitionId(partition), b"k", &siblings(b"v"))
            .unwrap();
    }
    let expected: Vec<_> = [0, 2, 10, 300, 65_535, 1_000_000, u32::MAX]
        .into_iter()
        .map(PartitionId)
        .collect();
    assert_eq!(store.partitions().unwrap(), expected);
    store.sync().unwrap();
    drop(store);
    // Rebuilt on open from what is committed.
    assert_eq!(open(&path).partitions().unwrap(), expected);
}

#[test]
fn reads_of_an_absent_partition_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let mut store = open(&path);
    store.put(PartitionId(1), b"k", &siblings(b"v")).unwrap();
    assert_eq!(store.get(PartitionId(2), b"k").unwrap(), None);
    assert!(store.scan(PartitionId(2), None, 10).unwrap().is_empty());
    store.drop_partition(PartitionId(3)).unwrap();
    assert_eq!(store.partitions().unwrap(), vec![PartitionId(1)]);
    store.sync().unwrap();
    drop(store);
    assert_eq!(open(&path).partitions().unwrap(), vec![PartitionId(1)]);
}

#[test]
fn drop_partition_removes_its_keys_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let mut store = open(&path);
    store.put(PartitionId(1), b"a", &siblings(b"1")).unwrap();
    store.put(PartitionId(2), b"a", &siblings(b"2")).unwrap();
    store.sync().unwrap();
    store.drop_partition(PartitionId(1)).unwrap();
    assert_eq!(store.partitions().unwrap(), vec![PartitionId(2)]);
    assert_eq!(store.get(PartitionId(1), b"a").unwrap(), None);
    assert!(store.scan(PartitionId(1), None, 10).unwrap().is_empty());
    // A dropped partition can be written again.
    store.put(PartitionId(1), b"b", &siblings(b"3")).unwrap();
    assert_eq!(
        keys_of(&store.scan(PartitionId(1), None, 10).unwrap()),
        vec![b"b".to_vec()]
    );
    store.drop_partition(PartitionId(1)).unwrap();
    store.sync().unwrap();
    drop(store);
    let store = open(&path);
    assert_eq!(store.partitions().unwrap(), vec![PartitionId(2)]);
    assert_eq!(store.get(PartitionId(1), b"a").unwrap(), None);
    assert_eq!(store.get(PartitionId(1), b"b").unwrap(), None);
    assert_eq!(
        store.get(PartitionId(2), b"a").unwrap(),
        Some(siblings(b"2"))
    );
}

/// The overlay marks a committed partition dropped and keeps later puts apart: the
/// sync must delete the old keys but keep the new ones, including a new value for an
/// old key.
#[test]
fn a_put_after_dropping_a_committed_partition_in_one_batch_keeps_only_the_new_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let mut store = open(&path);
    let (p, other) = (PartitionId(1), PartitionId(2));
    for key in [&b"a"[..], b"b", b"c"] {
        store.put(p, key, &siblings(b"old")).unwrap();
        store.put(other, key, &siblings(b"other")).unwrap();
    }
    store.sync().unwrap();
    // An unsynced put before the drop is dropped with the partition.
    store.put(p, b"unsynced", &siblings(b"gone")).unwrap();
    store.drop_partition(p).unwrap();
    store.put(p, b"b", &siblings(b"new b")).unwrap();
    store.put(p, b"d", &siblings(b"new d")).unwrap();
    let check = |store: &LsmStore, when: &str| {
        assert_eq!(store.get(p, b"a").unwrap(), None, "{when}");
        assert_eq!(
            store.get(p, b"b").unwrap(),
            Some(siblings(b"new b")),
            "{when}"
        );
        assert_eq!(store.get(p, b"c").unwrap(), None, "{when}");
        assert_eq!(
            store.get(p, b"d").unwrap(),
            Some(siblings(b"new d")),
            "{when}"
        );
        assert_eq!(store.get(p, b"unsynced").unwrap(), None, "{when}");
        let page = store.scan(p, None, 10).unwrap();
        assert_eq!(
            page,
            vec![
                (b"b".to_vec(), siblings(b"new b")),
                (b"d".to_vec(), siblings(b"new d"))
            ],
            "{when}"
        );
        assert_eq!(
            keys_of(&store.scan(p, Some(b"b"), 10).unwrap()),
            vec![b"d".to_vec()]
        );
        assert_eq!(store.partitions().unwrap(), vec![p, other], "{when}");
        assert_eq!(store.scan(other, None, 10).unwrap().len(), 3, "{when}");
    };
    before_and_after_sync_and_reopen(store, check);
}

#[test]
fn dropping_a_partition_with_many_committed_keys_removes_them_all() {
    const KEYS: u32 = 300;
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let mut store = open(&path);
    let (before, p, after) = (PartitionId(4), PartitionId(5), PartitionId(6));
    // Over several batches and a reopen, so the keys sit in more than one place.
    for index in 0..KEYS {
        store
            .put(p, &index.to_be_bytes(), &siblings(&index.to_le_bytes()))
            .unwrap();
        if index % 64 == 63 {
            store.sync().unwrap();
        }
        if index == KEYS / 2 {
            store = reopen(store);
        }
    }
    for neighbour in [before, after] {
        store.put(neighbour, b"", &siblings(b"n")).unwrap();
        store.put(neighbour, b"\xff\xff", &siblings(b"n")).unwrap();
    }
    store.sync().unwrap();
    assert_eq!(
        store.scan(p, None, usize::MAX).unwrap().len(),
        KEYS as usize
    );
    store.drop_partition(p).unwrap();
    assert!(store.scan(p, None, usize::MAX).unwrap().is_empty());
    store.sync().unwrap();
    assert!(store.scan(p, None, usize::MAX).unwrap().is_empty());
    drop(store);
    let store = open(&path);
    assert_eq!(store.partitions().unwrap(), vec![before, after]);
    assert!(store.scan(p, None, usize::MAX).unwrap().is_empty());
    for index in [0, 1, KEYS / 2, KEYS - 1] {
        assert_eq!(store.get(p, &index.to_be_bytes()).unwrap(), None);
    }
    for neighbour in [before, after] {
        assert_eq!(store.scan(neighbour, None, 10).unwrap().len(), 2);
    }
    drop(store);
    // Nothing of the partition is left in the tree itself.
    for index in [0, KEYS / 2, KEYS - 1] {
        assert_eq!(
            read_raw(&path, "replicas", &replica_key(5, &index.to_be_bytes())),
            None
        );
    }
}

/// Every entry `fetch` pages out with pages of `limit` (`fetch(start_after, limit)`),
/// checking that each page is full unless it is the last and that keys strictly
/// increase.
fn in_pages<K: Ord + Clone + std::fmt::Debug>(
    limit: usize,
    mut fetch: impl FnMut(Option<&K>, usize) -> Vec<(K, Siblings)>,
) -> Vec<(K, Siblings)> {
    let mut all: Vec<(K, Siblings)> = Vec::new();
    loop {
        let start_after = all.last().map(|(key, _)| key.clone());
        let page = fetch(start_after.as_ref(), limit);
        assert!(
            page.len() <= limit,
            "a page of {} over limit {limit}",
            page.len()
        );
        let done = page.len() < limit;
        all.extend(page);
        for pair in all.windows(2) {
            assert!(
                pair[0].0 < pair[1].0,
                "out of order: {:?}",
                (&pair[0].0, &pair[1].0)
            );
        }
        if done {
            return all;
        }
    }
}

/// Every replica of `partition`, with pages of `limit` (see [`in_pages`]).
fn scan_in_pages(store: &impl Store, partition: PartitionId, limit: usize) -> Vec<(Key, Siblings)> {
    in_pages(limit, |start_after: Option<&Key>, limit| {
        store
            .scan(partition, start_after.map(Vec::as_slice), limit)
            .unwrap()
    })
}

/// Every hint, with pages of `limit` (see [`in_pages`]).
fn hints_in_pages(store: &impl Store, limit: usize) -> Vec<(HintKey, Siblings)> {
    in_pages(limit, |start_after, limit| {
        store.hints(start_after, limit).unwrap()
    })
}

#[test]
fn scan_merges_unsynced_writes_with_committed_keys_across_pages() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&store_path(&dir));
    let p = PartitionId(3);
    let mut expected = BTreeMap::new();
    let mut put = |store: &mut LsmStore, key: Vec<u8>, value: &[u8]| {
        store.put(p, &key, &siblings(value)).unwrap();
        expected.insert(key, siblings(value));
    };
    // Committed: even keys.
    for index in (0..60u16).step_by(2) {
        put(&mut store, index.to_be_bytes().to_vec(), b"committed");
    }
    // Neighbours whose keys must not show up in `p`.
    store
        .put(PartitionId(2), b"\xff\xff\xff", &siblings(b"no"))
        .unwrap();
    store.put(PartitionId(4), b"", &siblings(b"no")).unwrap();
    store.sync().unwrap();
    // Unsynced: odd keys between them, keys before and after all committed ones, and
    // new values for every third committed key.
    for index in (1..60u16).step_by(2) {
        put(&mut store, index.to_be_bytes().to_vec(), b"unsynced");
    }
    put(&mut store, Vec::new(), b"first");
    put(&mut store, vec![0xff, 0xff, 0xff], b"last");
    for index in (0..60u16).step_by(6) {
        put(&mut store, index.to_be_bytes().to_vec(), b"overwritten");
    }
    let expected: Vec<_> = expected.into_iter().collect();
    let check = |store: &LsmStore, when: &str| {
        for limit in [1, 2, 3, 5, 7, 64, usize::MAX] {
            assert_eq!(
                scan_in_pages(store, p, limit),
                expected,
                "{when}, limit {limit}"
            );
        }
        // A page may start after a key that is stored nowhere.
        let page = store.scan(p, Some(&[0, 2, 0]), 3).unwrap();
        assert_eq!(
            keys_of(&page),
            vec![vec![0, 3], vec![0, 4], vec![0, 5]],
            "{when}"
        );
    };
    before_and_after_sync_and_reopen(store, check);
}

#[test]
fn hints_pages_merge_unsynced_puts_and_removals_with_committed_hints() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&store_path(&dir));
    let mut expected = BTreeMap::new();
    for index in (0..40u8).step_by(2) {
        let key = hint(1, 0, &[index]);
        store.put_hint(&key, &siblings(b"committed")).unwrap();
        expected.insert(key, siblings(b"committed"));
    }
    store.sync().unwrap();
    // Unsynced: odd keys, removals of every fourth committed hint, new values for
    // every third, hints before and after all committed ones, a removed hint put back,
    // and an unsynced hint removed again.
    for index in (1..40u8).step_by(2) {
        let key = hint(1, 0, &[index]);
        store.put_hint(&key, &siblings(b"unsynced")).unwrap();
        expected.insert(key, siblings(b"unsynced"));
    }
    for index in (0..40u8).step_by(8) {
        let key = hint(1, 0, &[index]);
        store.remove_hint(&key).unwrap();
        expected.remove(&key);
    }
    for index in (0..40u8).step_by(6) {
        let key = hint(1, 0, &[index]);
        store.put_hint(&key, &siblings(b"overwritten")).unwrap();
        expected.insert(key, siblings(b"overwritten"));
    }
    for key in [hint(0, 9, b"first"), hint(2, 0, b"last")] {
        store.put_hint(&key, &siblings(b"edge")).unwrap();
        expected.insert(key, siblings(b"edge"));
    }
    store.remove_hint(&hint(1, 0, &[3])).unwrap();
    expected.remove(&hint(1, 0, &[3]));
    let expected: Vec<_> = expected.into_iter().collect();
    // Removed committed hints are gone; index 0 and 24 were removed then put back.
    assert!(!hint_keys_of(&expected).contains(&hint(1, 0, &[8])));
    assert!(hint_keys_of(&expected).contains(&hint(1, 0, &[24])));
    let check = |store: &LsmStore, when: &str| {
        for limit in [1, 2, 3, 4, 7, 100] {
            assert_eq!(
                hints_in_pages(store, limit),
                expected,
                "{when}, limit {limit}"
            );
        }
        assert_eq!(store.hint_count().unwrap(), expected.len(), "{when}");
        assert_eq!(store.hint(&hint(1, 0, &[8])).unwrap(), None, "{when}");
        assert_eq!(store.hint(&hint(1, 0, &[3])).unwrap(), None, "{when}");
        assert_eq!(
            store.hint(&hint(1, 0, &[24])).unwrap(),
            Some(siblings(b"overwritten")),
            "{when}"
        );
        // A page starting after a removed hint.
        let page = store.hints(Some(&hint(1, 0, &[8])), 2).unwrap();
        assert_eq!(
            hint_keys_of(&page),
            vec![hint(1, 0, &[9]), hint(1, 0, &[10])],
            "{when}"
        );
    };
    before_and_after_sync_and_reopen(store, check);
}

#[test]
fn hints_page_in_order_and_remove_only_the_named_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&store_path(&dir));
    store.put_hint(&hint(2, 0, b"x"), &siblings(b"1")).unwrap();
    store.put_hint(&hint(1, 0, b"y"), &siblings(b"2")).unwrap();
    store.put_hint(&hint(1, 0, b"x"), &siblings(b"3")).unwrap();
    let page = store.hints(None, 2).unwrap();
    assert_eq!(page[0], (hint(1, 0, b"x"), siblings(b"3")));
    assert_eq!(page[1].0, hint(1, 0, b"y"));
    let next = store.hints(Some(&page[1].0), 2).unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].0, hint(2, 0, b"x"));
    store.remove_hint(&hint(1, 0, b"y")).unwrap();
    store.remove_hint(&hint(9, 9, b"never stored")).unwrap();
    assert_eq!(store.hint_count().unwrap(), 2);
    assert_eq!(store.hint(&hint(1, 0, b"y")).unwrap(), None);
    assert_eq!(store.hint(&hint(2, 0, b"x")).unwrap(), Some(siblings(b"1")));
}

#[test]
fn hint_order_is_hint_key_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&store_path(&dir));
    let mut expected = Vec::new();
    // Values whose byte order differs from their numeric or length order.
    for target in [u32::MAX, 256, 1, 0, 255] {
        for partition in [65_535, 0, 256, 1] {
            for key in [&b"b"[..], b"", b"a\0", b"ab", b"a", b"\xff"] {
                expected.push(hint(target, partition, key));
            }
        }
    }
    for (index, hint) in expected.iter().enumerate() {
        store
            .put_hint(hint, &siblings(&index.to_be_bytes()))
            .unwrap();
    }
    expected.sort();
    let stored = |store: &LsmStore| hint_keys_of(&store.hints(None, usize::MAX).unwrap());
    assert_eq!(stored(&store), expected);
    assert_eq!(store.hint_count().unwrap(), expected.len());
    let store = reopen(store);
    assert_eq!(stored(&store), expected);
    assert_eq!(store.hint_count().unwrap(), expected.len());
}

#[test]
fn hint_count_counts_each_hint_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&store_path(&dir));
    let (a, b, c) = (hint(1, 0, b"a"), hint(1, 0, b"b"), hint(2, 0, b"c"));
    // Removing from an empty store must not go below zero.
    store.remove_hint(&a).unwrap();
    assert_eq!(store.hint_count().unwrap(), 0);
    store.put_hint(&a, &siblings(b"1")).unwrap();
    store.put_hint(&a, &siblings(b"2")).unwrap();
    assert_eq!(
        store.hint_count().unwrap(),
        1,
        "an unsynced put over an unsynced one"
    );
    store.sync().unwrap();
    store.put_hint(&a, &siblings(b"3")).unwrap();
    assert_eq!(
        store.hint_count().unwrap(),
        1,
        "a put over a committed hint"
    );
    store.put_hint(&b, &siblings(b"1")).unwrap();
    assert_eq!(store.hint_count().unwrap(), 2);
    store.remove_hint(&c).unwrap();
    assert_eq!(store.hint_count().unwrap(), 2, "removing an absent hint");
    store.remove_hint(&a).unwrap();
    store.remove_hint(&a).unwrap();
    assert_eq!(
        store.hint_count().unwrap(),
        1,
        "removing a committed hint twice"
    );
    store.remove_hint(&b).unwrap();
    store.remove_hint(&b).unwrap();
    assert_eq!(
        store.hint_count().unwrap(),
        0,
        "removing an unsynced hint twice"
    );
    store.put_hint(&a, &siblings(b"4")).unwrap();
    assert_eq!(store.hint_count().unwrap(), 1, "a removed hint put back");
    store.sync().unwrap();
    assert_eq!(store.hint_count().unwrap(), 1);
    assert_eq!(store.hint(&b).unwrap(), None);
    let mut store = reopen(store);
    assert_eq!(store.hint_count().unwrap(), 1, "counted again on open");
    assert_eq!(
        hint_keys_of(&store.hints(None, 10).unwrap()),
        vec![a.clone()]
    );
    store.put_hint(&b, &siblings(b"5")).unwrap();
    store.put_hint(&c, &siblings(b"5")).unwrap();
    store.remove_hint(&a).unwrap();
    assert_eq!(store.hint_count().unwrap(), 2);
    let store = reopen(store);
    assert_eq!(store.hint_count().unwrap(), 2);
    assert_eq!(hint_keys_of(&store.hints(None, 10).unwrap()), vec![b, c]);
}

#[test]
fn a_failed_sync_leaves_exactly_the_committed_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let mut store = open(&path);
    let (p1, p2, p3) = (PartitionId(1), PartitionId(2), PartitionId(3));
    let (h1, h2, h3) = (hint(1, 1, b"h1"), hint(1, 1, b"h2"), hint(1, 1, b"h3"));
    store.put(p1, b"k", &siblings(b"1")).unwrap();
    store.put(p2, b"k", &siblings(b"2")).unwrap();
    store.put_hint(&h1, &siblings(b"h")).unwrap();
    store.put_hint(&h2, &siblings(b"h")).unwrap();
    store.put_meta("incarnation", b"1").unwrap();
    // One more sync succeeds, then every sync fails.
    store.fail_syncs_after(1);
    store.sync().unwrap();
    store.put(p3, b"k", &siblings(b"3")).unwrap();
    store.put(p2, b"k", &siblings(b"2 again")).unwrap();
    store.drop_partition(p1).unwrap();
    store.put_hint(&h3, &siblings(b"h")).unwrap();
    store.put_hint(&h2, &siblings(b"h again")).unwrap();
    store.remove_hint(&h1).unwrap();
    store.put_meta("incarnation", b"2").unwrap();
    assert_eq!(store.partitions().unwrap(), vec![p2, p3]);
    assert_eq!(store.hint_count().unwrap(), 2);
    let error = store.sync().expect_err("the injected failure");
    assert!(
        error.to_string().contains("injected sync failure"),
        "{error}"
    );
    let check = |store: &LsmStore, when: &str| {
        assert_eq!(store.partitions().unwrap(), vec![p1, p2], "{when}");
        assert_eq!(store.hint_count().unwrap(), 2, "{when}");
        assert_eq!(store.get(p1, b"k").unwrap(), Some(siblings(b"1")), "{when}");
        assert_eq!(store.get(p2, b"k").unwrap(), Some(siblings(b"2")), "{when}");
        assert_eq!(store.get(p3, b"k").unwrap(), None, "{when}");
        assert!(store.scan(p3, None, 10).unwrap().is_empty(), "{when}");
        assert_eq!(
            store.hints(None, 10).unwrap(),
            vec![(h1.clone(), siblings(b"h")), (h2.clone(), siblings(b"h"))],
            "{when}"
        );
        assert_eq!(
            store.meta("incarnation").unwrap().as_deref(),
            Some(&b"1"[..]),
            "{when}"
        );
    };
    check(&store, "after the failed sync");
    // Syncs keep failing, and each failure again leaves the committed state.
    store.put_hint(&h3, &siblings(b"h")).unwrap();
    store.put(p3, b"k", &siblings(b"3")).unwrap();
    assert!(store.sync().is_err());
    check(&store, "after a second failed sync");
    drop(store);
    let store = open(&path);
    check(&store, "after reopening");
}

#[test]
fn meta_round_trips_and_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&store_path(&dir));
    assert_eq!(store.meta("incarnation").unwrap(), None);
    store.put_meta("incarnation", b"1").unwrap();
    store.sync().unwrap();
    store.put_meta("incarnation", b"2").unwrap();
    store.put_meta("ring", b"").unwrap();
    assert_eq!(
        store.meta("incarnation").unwrap().as_deref(),
        Some(&b"2"[..])
    );
    assert_eq!(store.meta("ring").unwrap().as_deref(), Some(&b""[..]));
    // Metadata is not a partition and not a hint.
    assert!(store.partitions().unwrap().is_empty());
    assert_eq!(store.hint_count().unwrap(), 0);
    let store = reopen(store);
    assert_eq!(
        store.meta("incarnation").unwrap().as_deref(),
        Some(&b"2"[..])
    );
    assert_eq!(store.meta("ring").unwrap().as_deref(), Some(&b""[..]));
    assert!(store.partitions().unwrap().is_empty());
    assert_eq!(store.hint_count().unwrap(), 0);
}

#[test]
fn writes_are_visible_before_sync() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&store_path(&dir));
    store.put(PartitionId(5), b"k", &siblings(b"v")).unwrap();
    store.put_hint(&hint(2, 5, b"k"), &siblings(b"h")).unwrap();
    store.put_meta("incarnation", b"7").unwrap();
    assert_eq!(
        store.get(PartitionId(5), b"k").unwrap(),
        Some(siblings(b"v"))
    );
    assert_eq!(store.scan(PartitionId(5), None, 10).unwrap().len(), 1);
    assert_eq!(store.partitions().unwrap(), vec![PartitionId(5)]);
    assert_eq!(store.hint(&hint(2, 5, b"k")).unwrap(), Some(siblings(b"h")));
    assert_eq!(store.hint_count().unwrap(), 1);
    assert_eq!(
        store.meta("incarnation").unwrap().as_deref(),
        Some(&b"7"[..])
    );
}

/// Writes one of everything, syncs, then writes more without syncing.
fn write_synced_then_unsynced(store: &mut LsmStore) {
    store
        .put(PartitionId(1), b"synced", &siblings(b"s"))
        .unwrap();
    store
        .put(PartitionId(2), b"doomed", &siblings(b"d"))
        .unwrap();
    store
        .put_hint(&hint(3, 1, b"synced"), &siblings(b"h"))
        .unwrap();
    store.put_meta("incarnation", b"1").unwrap();
    store.sync().unwrap();
    store
        .put(PartitionId(1), b"unsynced", &siblings(b"u"))
        .unwrap();
    store
        .put(PartitionId(9), b"unsynced", &siblings(b"u"))
        .unwrap();
    store.drop_partition(PartitionId(2)).unwrap();
    store
        .put_hint(&hint(3, 1, b"unsynced"), &siblings(b"h"))
        .unwrap();
    store.remove_hint(&hint(3, 1, b"synced")).unwrap();
    store.put_meta("incarnation", b"2").unwrap();
}

/// Exactly the synced half of [`write_synced_then_unsynced`] is there.
fn assert_only_synced_writes(store: &LsmStore) {
    assert_eq!(
        store.get(PartitionId(1), b"synced").unwrap(),
        Some(siblings(b"s"))
    );
    assert_eq!(store.get(PartitionId(1), b"unsynced").unwrap(), None);
    assert_eq!(store.get(PartitionId(9), b"unsynced").unwrap(), None);
    assert_eq!(
        store.get(PartitionId(2), b"doomed").unwrap(),
        Some(siblings(b"d"))
    );
    assert_eq!(
        store.partitions().unwrap(),
        vec![PartitionId(1), PartitionId(2)]
    );
    let hints = hint_keys_of(&store.hints(None, 10).unwrap());
    assert_eq!(hints, vec![hint(3, 1, b"synced")]);
    assert_eq!(store.hint_count().unwrap(), 1);
    assert_eq!(
        store.meta("incarnation").unwrap().as_deref(),
        Some(&b"1"[..])
    );
}

/// A store reopened after [`write_synced_then_unsynced`] lost its unsynced half
/// still takes writes.
fn assert_writable(mut store: LsmStore) {
    store
        .put(PartitionId(1), b"after", &siblings(b"a"))
        .unwrap();
    store.sync().unwrap();
    let store = reopen(store);
    assert_eq!(
        store.get(PartitionId(1), b"after").unwrap(),
        Some(siblings(b"a"))
    );
    assert_eq!(
        store.get(PartitionId(1), b"synced").unwrap(),
        Some(siblings(b"s"))
    );
}

#[test]
fn synced_writes_survive_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let mut store = open(&path);
    write_synced_then_unsynced(&mut store);
    store.sync().unwrap();
    drop(store);
    let store = open(&path);
    assert_eq!(
        store.get(PartitionId(1), b"unsynced").unwrap(),
        Some(siblings(b"u"))
    );
    assert_eq!(store.get(PartitionId(2), b"doomed").unwrap(), None);
    assert_eq!(
        store.partitions().unwrap(),
        vec![PartitionId(1), PartitionId(9)]
    );
    assert_eq!(store.hint_count().unwrap(), 1);
    assert_eq!(
        hint_keys_of(&store.hints(None, 10).unwrap()),
        vec![hint(3, 1, b"unsynced")]
    );
    assert_eq!(
        store.meta("incarnation").unwrap().as_deref(),
        Some(&b"2"[..])
    );
}

#[test]
fn dropping_the_store_without_sync_loses_exactly_the_unsynced_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let mut store = open(&path);
    write_synced_then_unsynced(&mut store);
    // Dropping discards the overlay, as a crash would.
    drop(store);
    let store = open(&path);
    assert_only_synced_writes(&store);
    assert_writable(store);
}

#[test]
fn killed_process_loses_exactly_the_unsynced_writes() {
    const TEST: &str = "killed_process_loses_exactly_the_unsynced_writes";
    if let Some(path) = child_store_path() {
        let mut store = open(&path);
        write_synced_then_unsynced(&mut store);
        wait_for_kill();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    run_child_and_kill_it(TEST, &path);
    // fjall replays its journal; the lock died with the child.
    let store = open(&path);
    assert_only_synced_writes(&store);
    assert_writable(store);
}

/// Buffered mode skips only the fsync: a `sync` still hands the batch to the
/// operating system, which outlives a killed process.
#[test]
fn killed_buffered_process_keeps_synced_writes_and_loses_the_rest() {
    const TEST: &str = "killed_buffered_process_keeps_synced_writes_and_loses_the_rest";
    if let Some(path) = child_store_path() {
        let mut store = open_with(&path, Durability::Buffered);
        write_synced_then_unsynced(&mut store);
        // Killed well before the background fsync could have run.
        wait_for_kill();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let started = std::time::Instant::now();
    run_child_and_kill_it(TEST, &path);
    let elapsed = started.elapsed();
    // A pass proves the point only if the kill came before the first background
    // fsync; say so rather than pass silently on a very slow machine.
    if elapsed >= Duration::from_millis(BUFFERED_FSYNC_INTERVAL_MS.into()) {
        eprintln!("note: the child lived {elapsed:?}, past the background fsync interval");
    }
    let store = open(&path);
    assert_eq!(
        store.get(PartitionId(1), b"synced").unwrap(),
        Some(siblings(b"s")),
        "a write synced in buffered mode was lost when the process was killed \
         {elapsed:?} after it started: the sync left its batch in the process"
    );
    assert_only_synced_writes(&store);
    assert_writable(store);
}

#[test]
fn buffered_writes_survive_a_clean_close() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let mut store = open_with(&path, Durability::Buffered);
    assert_eq!(store.durability(), Durability::Buffered);
    store.put(PartitionId(1), b"k", &siblings(b"v")).unwrap();
    store.sync().unwrap();
    drop(store);
    let store = open(&path);
    assert_eq!(
        store.get(PartitionId(1), b"k").unwrap(),
        Some(siblings(b"v"))
    );
}

#[test]
fn flush_syncs_the_overlay_in_both_modes() {
    for durability in [Durability::Durable, Durability::Buffered] {
        let dir = tempfile::tempdir().unwrap();
        let path = store_path(&dir);
        let mut store = open_with(&path, durability);
        // Nothing to flush is not an error.
        store.flush().unwrap();
        store.put(PartitionId(1), b"k", &siblings(b"v")).unwrap();
        store.put_hint(&hint(1, 1, b"k"), &siblings(b"h")).unwrap();
        store.put_meta("incarnation", b"1").unwrap();
        store.flush().unwrap();
        store.flush().unwrap();
        // Dropping loses only unsynced writes, and there are none.
        drop(store);
        let mut store = open_with(&path, durability);
        assert_eq!(
            store.get(PartitionId(1), b"k").unwrap(),
            Some(siblings(b"v")),
            "{durability}"
        );
        assert_eq!(store.hint_count().unwrap(), 1, "{durability}");
        assert_eq!(
            store.meta("incarnation").unwrap().as_deref(),
            Some(&b"1"[..]),
            "{durability}"
        );
        // A flush is a sync first: a failing sync fails it.
        store.fail_syncs_after(0);
        store.put(PartitionId(2), b"k", &siblings(b"v")).unwrap();
        assert!(store.flush().is_err(), "{durability}");
        assert_eq!(store.partitions().unwrap(), vec![PartitionId(1)]);
    }
}

/// A flush is durable even in buffered mode: a killed buffered process keeps it.
#[test]
fn killed_buffered_process_keeps_flushed_writes() {
    const TEST: &str = "killed_buffered_process_keeps_flushed_writes";
    if let Some(path) = child_store_path() {
        let mut store = open_with(&path, Durability::Buffered);
        store
            .put(PartitionId(1), b"flushed", &siblings(b"f"))
            .unwrap();
        store.flush().unwrap();
        store
            .put(PartitionId(1), b"unsynced", &siblings(b"u"))
            .unwrap();
        wait_for_kill();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    run_child_and_kill_it(TEST, &path);
    let store = open(&path);
    assert_eq!(
        store.get(PartitionId(1), b"flushed").unwrap(),
        Some(siblings(b"f"))
    );
    assert_eq!(store.get(PartitionId(1), b"unsynced").unwrap(), None);
}

/// Writes `bytes` as the stored value of key `k` in partition 1, bypassing the store.
fn write_raw_value(path: &Path, bytes: &[u8]) {
    write_raw(path, "replicas", &replica_key(1, b"k"), bytes);
}

fn read_error(path: &Path, bytes: &[u8]) -> (String, String) {
    write_raw_value(path, bytes);
    let store = open(path);
    let get = store
        .get(PartitionId(1), b"k")
        .expect_err("corrupt value must not decode");
    let scan = store
        .scan(PartitionId(1), None, 10)
        .expect_err("corrupt value must not decode");
    (get.to_string(), scan.to_string())
}

#[test]
fn corrupt_or_unknown_values_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let good = {
        let mut store = open(&path);
        store.put(PartitionId(1), b"k", &siblings(b"v")).unwrap();
        store.sync().unwrap();
        drop(store);
        read_raw(&path, "replicas", &replica_key(1, b"k")).expect("the value is stored")
    };
    assert_eq!(good[0], VALUE_FORMAT_VERSION);
    let cases: [(&[u8], &str); 4] = [
        (&[], "empty value"),
        (
            &[VALUE_FORMAT_VERSION + 1, 0, 0],
            "unknown value format version 2",
        ),
        (
            &[VALUE_FORMAT_VERSION, 0xff, 0xff, 0xff],
            "undecodable siblings",
        ),
        (&[&good[..], &[0][..]].concat(), "1 trailing bytes"),
    ];
    for (bytes, expected) in cases {
        let (get, scan) = read_error(&path, bytes);
        assert!(get.contains(expected), "{get:?} should say {expected:?}");
        assert!(get.contains("reading key 0x6b of partition p1"), "{get}");
        assert!(scan.contains(expected), "{scan:?} should say {expected:?}");
        assert!(scan.contains("scanning partition p1: key 0x6b"), "{scan}");
    }
    // The good value written back reads again.
    write_raw_value(&path, &good);
    assert_eq!(
        open(&path).get(PartitionId(1), b"k").unwrap(),
        Some(siblings(b"v"))
    );
}

#[test]
fn corrupt_hints_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let mut store = open(&path);
    store.put_hint(&hint(1, 2, b"k"), &siblings(b"v")).unwrap();
    store.sync().unwrap();
    drop(store);
    let header = [0, 0, 0, 1, 0, 0, 0, 2];
    write_raw(
        &path,
        "hints",
        &[&header[..], b"k"].concat(),
        &[VALUE_FORMAT_VERSION + 7],
    );
    let store = open(&path);
    let error = store.hint(&hint(1, 2, b"k")).unwrap_err().to_string();
    assert!(error.contains("unknown value format version 8"), "{error}");
    let error = store.hints(None, 10).unwrap_err().to_string();
    assert!(
        error.contains("reading hint 0x00000001000000026b"),
        "{error}"
    );
    drop(store);
    write_raw(&path, "hints", &[0, 0, 0], &[VALUE_FORMAT_VERSION]);
    let error = open(&path).hints(None, 10).unwrap_err().to_string();
    assert!(error.contains("hint key of 3 bytes is shorter"), "{error}");
}

#[test]
fn a_replica_key_shorter_than_its_partition_is_an_error_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    drop(open(&path));
    write_raw(&path, "replicas", &[0, 1], &[VALUE_FORMAT_VERSION]);
    let error = LsmStore::open(&path, Durability::Durable).expect_err("a corrupt key");
    assert!(
        error
            .to_string()
            .contains("shorter than its partition prefix"),
        "{error}"
    );
}

#[test]
fn opening_a_store_twice_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let store = open(&path);
    let error = LsmStore::open(&path, Durability::Durable).expect_err("the store is locked");
    assert!(
        error.to_string().contains("in use by another process"),
        "{error}"
    );
    let error = LsmStore::open(&path, Durability::Buffered).expect_err("in either mode");
    assert!(
        error.to_string().contains("in use by another process"),
        "{error}"
    );
    // Closing releases the lock.
    drop(store);
    drop(open(&path));
}

#[test]
fn opening_something_else_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-a-store");
    std::fs::write(&path, b"hello, this is not a store directory at all").unwrap();
    assert!(LsmStore::open(&path, Durability::Durable).is_err());
    assert!(LsmStore::open(path.join("inside"), Durability::Durable).is_err());
    // Nothing was touched.
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"hello, this is not a store directory at all"
    );
}

#[test]
fn open_creates_the_directory_and_keeps_its_settings() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    for durability in [Durability::Durable, Durability::Buffered] {
        let store = open_with(&path, durability);
        assert!(path.is_dir());
        assert_eq!(store.path(), path);
        assert_eq!(store.durability(), durability);
    }
}

/// fjall preallocates its journal (32 MiB), which `size_bytes` counts from the start,
/// and grows in steps as memtables are flushed to segments and journals rotate: write
/// past fjall's default memtable size (16 MiB) so that at least one step is taken.
#[test]
fn size_bytes_grows_with_data() {
    const PUTS: u32 = 24 * 1024;
    const VALUE_BYTES: usize = 1024;
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&store_path(&dir));
    let empty = store.size_bytes();
    // Incompressible values, so what is stored cannot shrink below what was written.
    let mut prng = Prng::new(7);
    for index in 0..PUTS {
        let value: Vec<u8> = (0..VALUE_BYTES).map(|_| prng.next_u64() as u8).collect();
        store
            .put(
                PartitionId(index % 4),
                &index.to_be_bytes(),
                &siblings(&value),
            )
            .unwrap();
        if index % 1024 == 1023 {
            store.sync().unwrap();
        }
    }
    store.sync().unwrap();
    let full = store.size_bytes();
    let written = u64::from(PUTS) * VALUE_BYTES as u64;
    assert!(full > empty && full >= written, "{empty} -> {full}");
    let store = reopen(store);
    assert!(
        store.size_bytes() >= written,
        "{} after reopen",
        store.size_bytes()
    );
}

#[test]
fn durability_parses_its_display_form() {
    for mode in [Durability::Durable, Durability::Buffered] {
        assert_eq!(mode.to_string().parse::<Durability>(), Ok(mode));
    }
    let error = "fast".parse::<Durability>().unwrap_err();
    assert_eq!(
        error.to_string(),
        r#"unknown durability mode "fast" (expected "durable" or "buffered")"#
    );
}

#[test]
fn store_can_move_to_the_driver_thread() {
    fn assert_send<T: Send + 'static>() {}
    assert_send::<LsmStore>();
}

/// Reads between writes must see the newest state: the overlay while it holds the
/// key, the committed trees after each sync.
#[test]
fn reads_between_commits_see_every_later_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&store_path(&dir));
    let (p, q) = (PartitionId(1), PartitionId(2));
    store.put(p, b"k", &siblings(b"one")).unwrap();
    store.sync().unwrap();
    for round in 0..3u8 {
        // Committed reads, twice.
        let before = format!("v{round}");
        let expected = if round == 0 {
            "one".to_string()
        } else {
            before
        };
        for _ in 0..2 {
            let read = store.get(p, b"k").unwrap().expect("stored");
            assert_eq!(read.values().next(), Some(expected.as_bytes()));
            let other = store.get(q, b"k").unwrap();
            let other = other.as_ref().and_then(|read| read.values().next());
            let expected_other = (round > 0).then_some(expected.as_bytes());
            assert_eq!(other, expected_other);
        }
        let next = format!("v{}", round + 1);
        store.put(p, b"k", &siblings(next.as_bytes())).unwrap();
        store.put(q, b"k", &siblings(next.as_bytes())).unwrap();
        let unsynced = store.get(p, b"k").unwrap().expect("stored");
        assert_eq!(
            unsynced.values().next(),
            Some(next.as_bytes()),
            "in the overlay"
        );
        store.sync().unwrap();
        let synced = store.get(q, b"k").unwrap().expect("stored");
        assert_eq!(
            synced.values().next(),
            Some(next.as_bytes()),
            "after the commit"
        );
    }
}

/// A uniformly chosen item of `items`, from the core's seeded generator.
fn pick<T: Copy>(prng: &mut Prng, items: &[T]) -> T {
    items[prng.index(items.len())]
}

/// Few partitions, keys, hints and names, so operations collide often; the
/// partitions and keys include the edges of the big-endian layout.
const PARTITIONS: [u32; 5] = [0, 1, 2, 256, u32::MAX];
const KEYS: [&[u8]; 9] = [
    b"",
    b"\x00",
    b"a",
    b"a\x00",
    b"ab",
    b"b",
    b"k",
    b"\xff",
    b"\xff\xff",
];
const HINT_TARGETS: [u32; 3] = [0, 1, u32::MAX];
const HINT_PARTITIONS: [u32; 2] = [0, 2];
const HINT_KEYS: [&[u8]; 3] = [b"", b"a", b"\xff"];
const META_NAMES: [&str; 3] = ["incarnation", "ring", "x"];

#[derive(Clone, Debug)]
enum Op {
    Put(PartitionId, &'static [u8]),
    DropPartition(PartitionId),
    PutHint(HintKey),
    RemoveHint(HintKey),
    PutMeta(&'static str),
    Sync,
    /// Sync, close, open again.
    Reopen,
    /// Close without syncing: the model crashes.
    Crash,
    /// Inject a sync failure, sync, then go on with syncs that succeed.
    FailedSync,
}

fn random_hint(prng: &mut Prng) -> HintKey {
    hint(
        pick(prng, &HINT_TARGETS),
        pick(prng, &HINT_PARTITIONS),
        pick(prng, &HINT_KEYS),
    )
}

fn random_op(prng: &mut Prng) -> Op {
    match prng.below(100) {
        0..=29 => Op::Put(PartitionId(pick(prng, &PARTITIONS)), pick(prng, &KEYS)),
        30..=37 => Op::DropPartition(PartitionId(pick(prng, &PARTITIONS))),
        38..=53 => Op::PutHint(random_hint(prng)),
        54..=65 => Op::RemoveHint(random_hint(prng)),
        66..=78 => Op::PutMeta(pick(prng, &META_NAMES)),
        79..=92 => Op::Sync,
        // Closing a fjall keyspace waits for its background threads to wake (a
        // quarter of a second, a second in buffered mode): keep closes rare.
        93..=94 => Op::Reopen,
        95..=96 => Op::Crash,
        _ => Op::FailedSync,
    }
}

/// Applies `op` to both stores; `step` makes every written value unique.
fn apply(store: LsmStore, model: &mut MemoryStore, op: &Op, step: u32) -> Result<LsmStore, String> {
    let mut store = store;
    let value = siblings(&step.to_be_bytes());
    match op {
        Op::Put(partition, key) => {
            store.put(*partition, key, &value).unwrap();
            model.put(*partition, key, &value).unwrap();
        }
        Op::DropPartition(partition) => {
            store.drop_partition(*partition).unwrap();
            model.drop_partition(*partition).unwrap();
        }
        Op::PutHint(hint) => {
            store.put_hint(hint, &value).unwrap();
            model.put_hint(hint, &value).unwrap();
        }
        Op::RemoveHint(hint) => {
            store.remove_hint(hint).unwrap();
            model.remove_hint(hint).unwrap();
        }
        Op::PutMeta(name) => {
            store.put_meta(name, &step.to_be_bytes()).unwrap();
            model.put_meta(name, &step.to_be_bytes()).unwrap();
        }
        Op::Sync => {
            store.sync().unwrap();
            model.sync().unwrap();
        }
        Op::Reopen => {
            store = reopen(store);
            model.sync().unwrap();
        }
        Op::Crash => {
            let (path, durability) = (store.path().to_path_buf(), store.durability());
            drop(store);
            store = open_with(&path, durability);
            model.crash();
        }
        Op::FailedSync => {
            store.fail_syncs_after(0);
            let failed = store.sync().is_err();
            // A sync with nothing to write has nothing to fail.
            if failed != (model.unsynced_writes() > 0) {
                return Err(format!(
                    "sync failed: {failed}, with {} unsynced writes in the model",
                    model.unsynced_writes()
                ));
            }
            model.crash();
            // The same store goes on: its partitions and hint count were rebuilt.
            store.fail_syncs_after(u64::MAX);
        }
    }
    Ok(store)
}

fn same<T: PartialEq + Debug>(what: &str, store: T, model: T) -> Result<(), String> {
    if store == model {
        Ok(())
    } else {
        Err(format!("{what}: store {store:?}, model {model:?}"))
    }
}

/// Every read of `store` against `model`, scans and hints in pages of `limit` too.
fn compare(store: &LsmStore, model: &MemoryStore, limit: usize) -> Result<(), String> {
    same(
        "partitions",
        store.partitions().unwrap(),
        model.partitions().unwrap(),
    )?;
    for partition in PARTITIONS.map(PartitionId) {
        for key in KEYS {
            same(
                &format!("get {partition} {key:?}"),
                store.get(partition, key).unwrap(),
                model.get(partition, key).unwrap(),
            )?;
        }
        same(
            &format!("scan {partition}"),
            store.scan(partition, None, usize::MAX).unwrap(),
            model.scan(partition, None, usize::MAX).unwrap(),
        )?;
        let mut start_after: Option<Key> = None;
        loop {
            let page = store
                .scan(partition, start_after.as_deref(), limit)
                .unwrap();
            let expected = model
                .scan(partition, start_after.as_deref(), limit)
                .unwrap();
            same(
                &format!("scan {partition} after {start_after:?} limit {limit}"),
                &page,
                &expected,
            )?;
            match page.last() {
                Some((key, _)) => start_after = Some(key.clone()),
                None => break,
            }
        }
    }
    same(
        "hint count",
        store.hint_count().unwrap(),
        model.hint_count().unwrap(),
    )?;
    same(
        "hints",
        store.hints(None, usize::MAX).unwrap(),
        model.hints(None, usize::MAX).unwrap(),
    )?;
    let mut start_after: Option<HintKey> = None;
    loop {
        let page = store.hints(start_after.as_ref(), limit).unwrap();
        let expected = model.hints(start_after.as_ref(), limit).unwrap();
        same(
            &format!("hints after {start_after:?} limit {limit}"),
            &page,
            &expected,
        )?;
        match page.last() {
            Some((hint, _)) => start_after = Some(hint.clone()),
            None => break,
        }
    }
    for target in HINT_TARGETS {
        for partition in HINT_PARTITIONS {
            for key in HINT_KEYS {
                let hint = hint(target, partition, key);
                same(
                    &format!("hint {hint:?}"),
                    store.hint(&hint).unwrap(),
                    model.hint(&hint).unwrap(),
                )?;
            }
        }
    }
    for name in META_NAMES {
        same(
            &format!("meta {name}"),
            store.meta(name).unwrap(),
            model.meta(name).unwrap(),
        )?;
    }
    Ok(())
}

/// The mode and length of a seed's run: every sixth seed buffered, and shorter, as
/// a buffered close waits up to a second for fjall's fsync thread.
fn plan(seed: u64) -> (Durability, u32) {
    if seed.is_multiple_of(6) {
        (Durability::Buffered, 100)
    } else {
        (Durability::Durable, 300)
    }
}

fn run_random_operations(seed: u64) {
    let (durability, steps) = plan(seed);
    println!(
        "random operations: seed {seed} ({durability}, {steps} steps; {SEED_ENV}={seed} replays it)"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_with(&store_path(&dir), durability);
    let mut model = MemoryStore::new();
    let mut prng = Prng::new(seed);
    let mut history: Vec<String> = Vec::new();
    for step in 0..steps {
        let op = random_op(&mut prng);
        history.push(format!("{step}: {op:?}"));
        let limit = 1 + prng.index(4);
        let outcome = apply(store, &mut model, &op, step)
            .and_then(|next| compare(&next, &model, limit).map(|()| next));
        match outcome {
            Ok(next) => store = next,
            Err(error) => {
                let recent = history[history.len().saturating_sub(40)..].join("\n");
                panic!(
                    "seed {seed}, step {step} ({durability}): {error}\n\
                     recent operations:\n{recent}"
                );
            }
        }
    }
}

/// Seeds run in parallel: much of their time is spent waiting for closes.
#[test]
fn random_operations_match_the_memory_store() {
    const SEEDS: u64 = 6;
    if let Some(seed) = std::env::var_os(SEED_ENV) {
        let seed = seed.to_str().and_then(|seed| seed.parse().ok());
        run_random_operations(seed.expect("a numeric seed"));
        return;
    }
    std::thread::scope(|scope| {
        for seed in 1..=SEEDS {
            scope.spawn(move || run_random_operations(seed));
        }
    });
}
