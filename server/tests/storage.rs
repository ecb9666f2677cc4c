//! `RedbStore` against the `Store` contract that `MemoryStore` defines: the same
//! behaviours, plus what only a durable store has (reopen, crash, corrupt files).
//!
//! Crash tests run their writing half in a child copy of this test binary, which says
//! when it is done and waits; the parent then kills it with SIGKILL (`kill -9`): no
//! destructor runs and nothing is flushed.

use dynamo_core::clock::VersionVector;
use dynamo_core::store::{HintKey, Store};
use dynamo_core::types::{ActorId, NodeId, PartitionId};
use dynamo_core::version::{Content, Siblings};
use dynamo_server::storage::{
    partition_table_name, Durability, RedbStore, BUFFERED_COMMITS_MAX, VALUE_FORMAT_VERSION,
};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Set in a child process: the store file the child writes before it is killed.
const CHILD_STORE_ENV: &str = "DYNAMO_STORAGE_TEST_CHILD_STORE";
/// What a child prints once its writes are done and it may be killed.
const CHILD_READY: &str = "dynamo-storage-child-ready";
/// Longest a child may take to do its writes.
const CHILD_TIMEOUT_MS: u64 = 60_000;

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

fn store_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("data").join("store.redb")
}

fn open(path: &Path) -> RedbStore {
    RedbStore::open(path, Durability::Durable).expect("open store")
}

fn keys_of(entries: &[(Vec<u8>, Siblings)]) -> Vec<Vec<u8>> {
    entries.iter().map(|(key, _)| key.clone()).collect()
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
    // The same pages once synced, read through a read transaction.
    store.sync().unwrap();
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
}

#[test]
fn partitions_lists_partitions_holding_keys_in_numeric_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let mut store = open(&path);
    assert!(store.partitions().unwrap().is_empty());
    for partition in [300, 2, 65_535, 10, 1_000_000] {
        store
            .put(PartitionId(partition), b"k", &siblings(b"v"))
            .unwrap();
    }
    let expected: Vec<_> = [2, 10, 300, 65_535, 1_000_000]
        .into_iter()
        .map(PartitionId)
        .collect();
    assert_eq!(store.partitions().unwrap(), expected);
    store.sync().unwrap();
    drop(store);
    assert_eq!(open(&path).partitions().unwrap(), expected);
}

#[test]
fn reads_of_an_absent_partition_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let mut store = open(&path);
    store.put(PartitionId(1), b"k", &siblings(b"v")).unwrap();
    // Inside the open batch: redb's write side would create a table it is asked to open.
    assert_eq!(store.get(PartitionId(2), b"k").unwrap(), None);
    assert!(store.scan(PartitionId(2), None, 10).unwrap().is_empty());
    store.drop_partition(PartitionId(3)).unwrap();
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
    assert_eq!(store.get(PartitionId(1), b"b").unwrap(), None);
    assert_eq!(
        store.get(PartitionId(2), b"a").unwrap(),
        Some(siblings(b"2"))
    );
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
    let stored: Vec<_> = store
        .hints(None, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|(hint, _)| hint)
        .collect();
    assert_eq!(stored, expected);
    assert_eq!(store.hint_count().unwrap(), expected.len());
}

#[test]
fn meta_round_trips_and_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&store_path(&dir));
    assert_eq!(store.meta("incarnation").unwrap(), None);
    store.put_meta("incarnation", b"1").unwrap();
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
fn write_synced_then_unsynced(store: &mut RedbStore) {
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
fn assert_only_synced_writes(store: &RedbStore) {
    assert_eq!(
        store.get(PartitionId(1), b"synced").unwrap(),
        Some(siblings(b"s"))
    );
    assert_eq!(store.get(PartitionId(1), b"unsynced").unwrap(), None);
    assert_eq!(
        store.get(PartitionId(2), b"doomed").unwrap(),
        Some(siblings(b"d"))
    );
    assert_eq!(
        store.partitions().unwrap(),
        vec![PartitionId(1), PartitionId(2)]
    );
    let hints: Vec<_> = store
        .hints(None, 10)
        .unwrap()
        .into_iter()
        .map(|(hint, _)| hint)
        .collect();
    assert_eq!(hints, vec![hint(3, 1, b"synced")]);
    assert_eq!(
        store.meta("incarnation").unwrap().as_deref(),
        Some(&b"1"[..])
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
    assert_eq!(
        store.partitions().unwrap(),
        vec![PartitionId(1), PartitionId(9)]
    );
    assert_eq!(store.hint_count().unwrap(), 1);
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
    // Dropping aborts the open batch, as a crash would.
    drop(store);
    let mut store = open(&path);
    assert_only_synced_writes(&store);
    store
        .put(PartitionId(1), b"after", &siblings(b"a"))
        .unwrap();
    store.sync().unwrap();
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
    // redb finds the file not closed cleanly, repairs it on open, and serves the last
    // committed state.
    let mut store = open(&path);
    assert_only_synced_writes(&store);
    store
        .put(PartitionId(1), b"after", &siblings(b"a"))
        .unwrap();
    store.sync().unwrap();
    assert_eq!(
        store.get(PartitionId(1), b"after").unwrap(),
        Some(siblings(b"a"))
    );
}

#[test]
fn buffered_writes_survive_a_clean_close() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let mut store = RedbStore::open(&path, Durability::Buffered).unwrap();
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
fn killed_buffered_process_keeps_flushed_writes_and_loses_the_rest() {
    const TEST: &str = "killed_buffered_process_keeps_flushed_writes_and_loses_the_rest";
    if let Some(path) = child_store_path() {
        let mut store = RedbStore::open(&path, Durability::Buffered).unwrap();
        store
            .put(PartitionId(1), b"flushed", &siblings(b"f"))
            .unwrap();
        store.flush().unwrap();
        store
            .put(PartitionId(1), b"buffered", &siblings(b"b"))
            .unwrap();
        store.sync().unwrap();
        assert_eq!(
            store.get(PartitionId(1), b"buffered").unwrap(),
            Some(siblings(b"b"))
        );
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
    // A buffered (redb `Durability::None`) commit never reached the file's header.
    assert_eq!(store.get(PartitionId(1), b"buffered").unwrap(), None);
}

#[test]
fn buffered_mode_commits_durably_every_buffered_commits_max_syncs() {
    const TEST: &str = "buffered_mode_commits_durably_every_buffered_commits_max_syncs";
    if let Some(path) = child_store_path() {
        let mut store = RedbStore::open(&path, Durability::Buffered).unwrap();
        for batch in 0..BUFFERED_COMMITS_MAX {
            store
                .put(PartitionId(1), &batch.to_be_bytes(), &siblings(b"v"))
                .unwrap();
            store.sync().unwrap();
        }
        wait_for_kill();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    run_child_and_kill_it(TEST, &path);
    let store = open(&path);
    let keys = store.scan(PartitionId(1), None, usize::MAX).unwrap();
    assert_eq!(keys.len(), BUFFERED_COMMITS_MAX as usize);
}

/// Writes `value` under `key` in table `table`, bypassing the store.
fn write_raw(path: &Path, table: &str, key: &[u8], value: &[u8]) {
    let database = redb::Database::create(path).unwrap();
    let batch = database.begin_write().unwrap();
    let definition: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new(table);
    batch
        .open_table(definition)
        .unwrap()
        .insert(key, value)
        .unwrap();
    batch.commit().unwrap();
}

/// Writes `bytes` as the stored value of key `k` in partition 1, bypassing the store.
fn write_raw_value(path: &Path, bytes: &[u8]) {
    write_raw(path, &partition_table_name(PartitionId(1)), b"k", bytes);
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
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let good = {
        let mut store = open(&path);
        store.put(PartitionId(1), b"k", &siblings(b"v")).unwrap();
        store.sync().unwrap();
        drop(store);
        let database = redb::Database::create(&path).unwrap();
        let read = database.begin_read().unwrap();
        let name = partition_table_name(PartitionId(1));
        let definition: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new(&name);
        let table = read.open_table(definition).unwrap();
        let value = table.get(&b"k"[..]).unwrap().unwrap().value().to_vec();
        value
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
        assert!(get.contains("key 0x6b of partition p1"), "{get}");
        assert!(get.contains("(table p00001)"), "{get}");
        assert!(scan.contains(expected), "{scan:?} should say {expected:?}");
    }
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
fn opening_a_store_twice_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let _store = open(&path);
    let error = RedbStore::open(&path, Durability::Durable).expect_err("the file is locked");
    assert!(error.to_string().contains("opening"), "{error}");
}

#[test]
fn opening_something_else_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-a-store");
    std::fs::write(&path, b"hello, this is not a redb file at all").unwrap();
    assert!(RedbStore::open(&path, Durability::Durable).is_err());
}

#[test]
fn size_bytes_grows_with_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&store_path(&dir));
    let empty = store.size_bytes().unwrap();
    // redb preallocates about 1.5 MiB: write well past it.
    for index in 0..4096_u32 {
        store
            .put(
                PartitionId(index % 4),
                &index.to_be_bytes(),
                &siblings(&[7; 1024]),
            )
            .unwrap();
    }
    store.sync().unwrap();
    let full = store.size_bytes().unwrap();
    assert!(full > empty && full > 4096 * 1024, "{empty} -> {full}");
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
    assert_send::<RedbStore>();
}

/// Reads between writes share a read transaction and its tables: after each commit,
/// and as soon as a batch opens, reads must see the newest state, not that snapshot.
#[test]
fn reads_between_commits_see_every_later_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&store_path(&dir));
    let (p, q) = (PartitionId(1), PartitionId(2));
    store.put(p, b"k", &siblings(b"one")).unwrap();
    store.sync().unwrap();
    for round in 0..3u8 {
        // Committed reads, twice, so the second comes from the kept transaction.
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
            "in the batch"
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
