//! The server's store (`LsmStore`, on fjall 2) against redb 2 on the server's storage
//! workload (issue 4: "measure both on this workload and record the choice").
//!
//! Workload: `WRITES` puts of a 1 KiB single-sibling value, keys spread pseudo-randomly
//! over 64 partitions, a sync after every 64 puts (the driver's group commit); then
//! every partition scanned in pages of 128, each value decoded and checked as the
//! store does. Both engines get the same keys, bytes, batches and syncs:
//! - durable: `LsmStore` batches persisted with `PersistMode::SyncData`; redb
//!   `Durability::Immediate` commits (both end in `fdatasync`).
//! - buffered: `LsmStore` batches handed to the OS (fsynced by fjall's background
//!   thread every second); redb `Durability::None` commits with a durable one every
//!   `BUFFERED_COMMITS_MAX` (redb reuses pages only after a durable commit).
//!
//! Run: `cargo bench -p dynamo-server --bench storage`. Environment:
//! `DYNAMO_BENCH_WRITES` (default 16384), `DYNAMO_BENCH_DIR` (default: the system
//! temporary directory; keep it off tmpfs, where fsync is free).

use dynamo_core::clock::VersionVector;
use dynamo_core::prng::Prng;
use dynamo_core::store::Store;
use dynamo_core::types::{ActorId, NodeId, PartitionId};
use dynamo_core::version::{Content, Siblings};
use dynamo_server::storage::{Durability, LsmStore, VALUE_FORMAT_VERSION};
use std::hint::black_box;
use std::ops::Bound;
use std::path::Path;
use std::time::{Duration, Instant};

const PARTITIONS: u32 = 64;
const VALUE_BYTES: usize = 1024;
const WRITES_PER_SYNC: usize = 64;
const WRITES_DEFAULT: usize = 16_384;
const SCAN_PAGE: usize = 128;
/// Buffered redb commits in a row at most (what the redb store did).
const BUFFERED_COMMITS_MAX: u32 = 64;

/// One engine as the benchmark drives it.
trait Engine {
    fn put(&mut self, partition: PartitionId, key: &[u8], value: &Siblings);
    fn sync(&mut self);
    /// Every entry of `partition`, in pages of `SCAN_PAGE`; returns how many.
    fn scan_partition(&self, partition: PartitionId) -> usize;
    fn disk_bytes(&self) -> u64;
}

impl Engine for LsmStore {
    fn put(&mut self, partition: PartitionId, key: &[u8], value: &Siblings) {
        Store::put(self, partition, key, value).expect("store put");
    }

    fn sync(&mut self) {
        Store::sync(self).expect("store sync");
    }

    fn scan_partition(&self, partition: PartitionId) -> usize {
        let mut count = 0;
        let mut start_after: Option<Vec<u8>> = None;
        loop {
            let page = self
                .scan(partition, start_after.as_deref(), SCAN_PAGE)
                .expect("store scan");
            count += page.len();
            match page.into_iter().last() {
                Some((key, value)) => {
                    black_box(value);
                    start_after = Some(key);
                }
                None => return count,
            }
        }
    }

    fn disk_bytes(&self) -> u64 {
        self.size_bytes()
    }
}

/// redb, the B-tree engine the server used before fjall, with the store's value
/// encoding: one table per partition, one write transaction per sync.
struct Redb {
    database: redb::Database,
    batch: Option<redb::WriteTransaction>,
    durability: Durability,
    path: std::path::PathBuf,
    buffered_commits: u32,
}

type Bytes = &'static [u8];

fn table(partition: PartitionId) -> String {
    format!("p{:05}", partition.0)
}

impl Redb {
    fn open(path: &Path, durability: Durability) -> Self {
        Self {
            database: redb::Database::create(path).expect("open redb"),
            batch: None,
            durability,
            path: path.to_path_buf(),
            buffered_commits: 0,
        }
    }

    /// Durable every sync, or (buffered) every `BUFFERED_COMMITS_MAX`th: redb reuses
    /// pages only after a durable commit, so its file grows without one.
    fn commit_durability(&mut self) -> redb::Durability {
        self.buffered_commits += 1;
        let durable =
            self.durability == Durability::Durable || self.buffered_commits >= BUFFERED_COMMITS_MAX;
        if !durable {
            return redb::Durability::None;
        }
        self.buffered_commits = 0;
        redb::Durability::Immediate
    }
}

fn encode(value: &Siblings) -> Vec<u8> {
    let mut bytes = vec![VALUE_FORMAT_VERSION];
    postcard::to_io(value, &mut bytes).expect("encode siblings");
    bytes
}

fn decode(bytes: &[u8]) -> Siblings {
    assert_eq!(bytes.first(), Some(&VALUE_FORMAT_VERSION));
    let siblings: Siblings = postcard::from_bytes(&bytes[1..]).expect("decode siblings");
    siblings.check_invariants().expect("valid siblings");
    siblings
}

impl Engine for Redb {
    fn put(&mut self, partition: PartitionId, key: &[u8], value: &Siblings) {
        let database = &self.database;
        let batch = self
            .batch
            .get_or_insert_with(|| database.begin_write().expect("redb write"));
        let name = table(partition);
        let definition: redb::TableDefinition<Bytes, Bytes> = redb::TableDefinition::new(&name);
        let mut table = batch.open_table(definition).expect("redb table");
        table
            .insert(key, encode(value).as_slice())
            .expect("redb put");
    }

    fn sync(&mut self) {
        let Some(mut batch) = self.batch.take() else {
            return;
        };
        batch.set_durability(self.commit_durability());
        batch.commit().expect("redb commit");
    }

    fn scan_partition(&self, partition: PartitionId) -> usize {
        let read = self.database.begin_read().expect("redb read");
        let name = table(partition);
        let definition: redb::TableDefinition<Bytes, Bytes> = redb::TableDefinition::new(&name);
        let Ok(table) = read.open_table(definition) else {
            return 0;
        };
        let mut count = 0;
        let mut lower: Bound<&[u8]> = Bound::Unbounded;
        let mut last: Vec<u8>;
        loop {
            let page: Vec<_> = table
                .range::<&[u8]>((lower, Bound::Unbounded))
                .expect("redb range")
                .take(SCAN_PAGE)
                .map(|entry| {
                    let (key, value) = entry.expect("redb scan");
                    (key.value().to_vec(), decode(value.value()))
                })
                .collect();
            count += page.len();
            match page.into_iter().last() {
                Some((key, value)) => {
                    black_box(value);
                    last = key;
                    lower = Bound::Excluded(last.as_slice());
                }
                None => return count,
            }
        }
    }

    fn disk_bytes(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |meta| meta.len())
    }
}

fn value() -> Siblings {
    let mut set = Siblings::new();
    let content = Content::Value(vec![0xab; VALUE_BYTES]);
    let actor = ActorId::new(NodeId(1), 1);
    set.update(&VersionVector::new(), content, actor)
        .expect("a first put is valid");
    set
}

struct Timings {
    write: Duration,
    /// Bytes the write phase sent towards the disk (Linux only).
    written_bytes: Option<u64>,
    scan: Duration,
    scanned: usize,
    disk_bytes: u64,
}

fn run(engine: &mut impl Engine, writes: usize) -> Timings {
    let value = value();
    let written_before = written_bytes();
    let started = Instant::now();
    // Seeded, so every run writes the same keys; spread over partitions and over each
    // partition's key space. SplitMix64's outputs are distinct for 2^64 draws.
    let mut prng = Prng::new(0);
    for index in 0..writes {
        let hash = prng.next_u64();
        let partition = PartitionId((hash % u64::from(PARTITIONS)) as u32);
        engine.put(partition, &hash.to_be_bytes(), &value);
        if (index + 1) % WRITES_PER_SYNC == 0 {
            engine.sync();
        }
    }
    engine.sync();
    let write = started.elapsed();
    let written_bytes = written_before
        .zip(written_bytes())
        .map(|(before, after)| after.saturating_sub(before));
    let started = Instant::now();
    let scanned = (0..PARTITIONS)
        .map(|id| engine.scan_partition(PartitionId(id)))
        .sum();
    Timings {
        write,
        written_bytes,
        scan: started.elapsed(),
        scanned,
        disk_bytes: engine.disk_bytes(),
    }
}

/// Bytes this process has caused to be written to storage, from `/proc/self/io`.
fn written_bytes() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines()
        .find_map(|line| line.strip_prefix("write_bytes:"))
        .and_then(|count| count.trim().parse().ok())
}

fn report(engine: &str, durability: Durability, writes: usize, timings: &Timings) {
    assert_eq!(timings.scanned, writes, "{engine} lost writes");
    let per_second = |count: usize, time: Duration| count as f64 / time.as_secs_f64();
    let written_per_put = timings.written_bytes.map_or("?".to_string(), |bytes| {
        format!("{:.1}", bytes as f64 / writes as f64 / 1024.0)
    });
    println!(
        "{engine:<6} {durability:<9} put {:>9.0} ops/s   written {written_per_put:>5} KiB/put   \
         scan {:>10.0} keys/s   disk {:>6.1} MiB",
        per_second(writes, timings.write),
        per_second(timings.scanned, timings.scan),
        timings.disk_bytes as f64 / (1024.0 * 1024.0),
    );
}

fn main() {
    let writes = std::env::var("DYNAMO_BENCH_WRITES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(WRITES_DEFAULT);
    let base = std::env::var_os("DYNAMO_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    println!(
        "{writes} puts of {VALUE_BYTES} B over {PARTITIONS} partitions, \
         {WRITES_PER_SYNC} per sync; then full scans in pages of {SCAN_PAGE}"
    );
    for durability in [Durability::Durable, Durability::Buffered] {
        let directory = tempfile::tempdir_in(&base).expect("bench directory");
        let path = directory.path().join("store");
        let mut store = LsmStore::open(&path, durability).expect("open store");
        report("fjall", durability, writes, &run(&mut store, writes));
        drop(store);
        let mut redb = Redb::open(&directory.path().join("store.redb"), durability);
        report("redb", durability, writes, &run(&mut redb, writes));
    }
}
