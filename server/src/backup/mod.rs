//! Backup and restore of a whole cluster, per-node snapshots, JSON-lines export and
//! import (docs/operations.md).
//!
//! A **backup** (`dynamo admin backup DIR`) reads every partition from one live home
//! replica (the next home when one fails), a page at a time, each page read between
//! two driver batches together with the partition's Merkle root; the entries read must
//! hash to the root reported with the last page (else the partition is read again).
//! The other homes' roots are fetched at the same time: a home whose root differs
//! (writes in flight, or a replica anti-entropy has not repaired yet) is read too and
//! merged in, so a write acknowledged by W homes that the first home missed is not
//! left out. Each partition goes to its own checksummed file ([`format`]); a state
//! file records finished partitions, so an interrupted backup resumes where it
//! stopped; the manifest is written last. What a backup covers: each partition as of
//! its read, while clients keep writing.
//!
//! A **restore** (`dynamo admin restore DIR`) first fences every target node's actor
//! past the incarnations the backup holds for its id (a new cluster reuses node ids:
//! minting under an old actor would reuse its dots), then sends every entry to the
//! homes of its key in the *target* ring (any size, any partition count), which merge
//! it through the replica merge ([`dynamo_core::node::Node::merge_restored`]): a
//! restore never overwrites a newer version, siblings stay siblings, tombstones stay,
//! and restoring twice changes nothing. A file whose checksum or encoding is wrong is
//! refused with an error naming its partition; the others restore.

pub mod format;
pub mod jsonl;
pub mod routes;

use crate::client::http1::HttpError;
use crate::client::{Client, ClientError};
use crate::driver::{PartitionPage, RestoreCounts};
use bytes::Bytes;
use dynamo_core::ring::Ring;
use dynamo_core::types::{Key, NodeId, PartitionId};
use dynamo_core::version::Siblings;
use format::{FormatError, Manifest, PartitionRecord, ReplicaRoot};
use futures_util::stream::{self, StreamExt};
use hyper::Method;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A partition is read again at most this many times when its entries do not hash
/// to the root the node reported (writes landed between two pages).
const READ_ATTEMPTS: usize = 4;
/// A restore batch is sent again at most this many times.
const SEND_ATTEMPTS: usize = 5;
const STATE_FILE: &str = "backup-state.json";

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("the cluster has no ring yet")]
    NoRing,
    #[error("{0}")]
    Io(String),
    #[error("{dir} already holds a finished backup ({MANIFEST})")]
    Finished { dir: String },
    #[error("partition {partition}: no home answered: {reasons}")]
    NoHome { partition: u32, reasons: String },
    #[error("{0}")]
    Manifest(String),
    #[error("node {node} could not be fenced: {reason}")]
    Fence { node: u32, reason: String },
}

const MANIFEST: &str = format::MANIFEST_FILE;

pub fn unix_ms() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |elapsed| elapsed.as_millis() as u64)
}

fn io(doing: &str, path: &Path) -> impl FnOnce(std::io::Error) -> BackupError {
    let what = format!("{doing} {}", path.display());
    move |error| BackupError::Io(format!("{what}: {error}"))
}

/// The cluster as a backup or restore routes: the ring, N and each member's HTTP.
#[derive(Clone, Debug)]
pub struct Target {
    pub ring: Ring,
    pub epoch: u64,
    pub replication_factor: usize,
    pub http: BTreeMap<NodeId, String>,
}

impl Target {
    pub async fn of(client: &Client) -> Result<Target, BackupError> {
        let view = client.cluster().await?;
        let ring = view.ring.clone().ok_or(BackupError::NoRing)?;
        let http = view
            .serving()
            .filter_map(|m| Some((m.id, m.http.clone()?)))
            .collect();
        Ok(Target {
            ring,
            epoch: view.epoch,
            replication_factor: view.replication_factor,
            http,
        })
    }

    fn homes(&self, partition: PartitionId) -> Vec<NodeId> {
        self.ring.home_replicas(partition, self.replication_factor)
    }

    fn address(&self, node: NodeId) -> Result<&str, String> {
        self.http
            .get(&node)
            .map(String::as_str)
            .ok_or_else(|| format!("node {node} has no known http address"))
    }
}

/// How a backup reads and paces itself.
#[derive(Clone, Debug)]
pub struct BackupOptions {
    pub dir: PathBuf,
    /// Entries per page read from a node (each page holds the node's driver once).
    pub page_keys: usize,
    pub page_bytes: usize,
    /// Bytes read per second at most, over the whole backup (`None`: unpaced).
    pub rate_bytes: Option<u64>,
    /// Partitions read at once.
    pub parallel: usize,
    /// Print progress to stderr.
    pub progress: bool,
}

impl BackupOptions {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        BackupOptions {
            dir: dir.into(),
            page_keys: 512,
            page_bytes: 1024 * 1024,
            rate_bytes: Some(64 * 1024 * 1024),
            parallel: 4,
            progress: false,
        }
    }
}

/// Bytes moved so far, for pacing and progress.
#[derive(Debug)]
struct Meter {
    started: Instant,
    bytes: AtomicU64,
    keys: AtomicU64,
    partitions: AtomicU64,
    rate: Option<u64>,
}

impl Meter {
    fn new(rate: Option<u64>) -> Meter {
        Meter {
            started: Instant::now(),
            bytes: AtomicU64::new(0),
            keys: AtomicU64::new(0),
            partitions: AtomicU64::new(0),
            rate,
        }
    }

    /// Count `bytes`, then sleep until the average is back under the rate.
    async fn pace(&self, bytes: u64) {
        let total = self.bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        let Some(rate) = self.rate.filter(|rate| *rate > 0) else {
            return;
        };
        let due = Duration::from_secs_f64(total as f64 / rate as f64);
        if let Some(ahead) = due.checked_sub(self.started.elapsed()) {
            tokio::time::sleep(ahead).await;
        }
    }

    fn line(&self, verb: &str, total: u64) -> String {
        let done = self.partitions.load(Ordering::Relaxed);
        let seconds = self.started.elapsed().as_secs_f64().max(1e-3);
        let (keys, bytes) = (
            self.keys.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        );
        let filled = (done * 30).checked_div(total).unwrap_or(30).min(30) as usize;
        format!(
            "{verb} [{}{}] {done}/{total} partitions, {keys} keys, {:.1} MB, {:.0} keys/s, {:.1} MB/s",
            "#".repeat(filled),
            "-".repeat(30 - filled),
            bytes as f64 / 1e6,
            keys as f64 / seconds,
            bytes as f64 / 1e6 / seconds,
        )
    }
}

/// Print the meter every second until dropped.
fn progress(
    meter: Arc<Meter>,
    verb: &'static str,
    total: u64,
    on: bool,
) -> Option<tokio::task::JoinHandle<()>> {
    on.then(|| {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                eprintln!("{}", meter.line(verb, total));
            }
        })
    })
}

/// What a finished backup or restore did.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub partitions: u64,
    pub keys: u64,
    pub bytes: u64,
    pub elapsed: Duration,
    /// Restore: entries merged on homes, and those that changed a replica.
    pub merged: u64,
    pub changed: u64,
    /// Restore: partitions refused (corrupted file, or undeliverable), with why.
    pub refused: Vec<(u32, String)>,
}

impl Summary {
    pub fn keys_per_second(&self) -> f64 {
        self.keys as f64 / self.elapsed.as_secs_f64().max(1e-6)
    }

    pub fn megabytes_per_second(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-6)
    }
}

/// Finished partitions of an interrupted backup.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct State {
    started_unix_ms: u64,
    partitions: u32,
    done: BTreeMap<u32, PartitionRecord>,
}

fn load_state(dir: &Path, partitions: u32) -> Result<State, BackupError> {
    let path = dir.join(STATE_FILE);
    let fresh = State {
        started_unix_ms: unix_ms(),
        partitions,
        done: BTreeMap::new(),
    };
    let Ok(text) = std::fs::read(&path) else {
        return Ok(fresh);
    };
    let state: State = serde_json::from_slice(&text)
        .map_err(|e| BackupError::Manifest(format!("{}: {e}", path.display())))?;
    if state.partitions != partitions {
        return Err(BackupError::Manifest(format!(
            "{} is a backup of {} partitions, the cluster has {partitions}: use another directory",
            path.display(),
            state.partitions
        )));
    }
    Ok(state)
}

fn save_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), BackupError> {
    let text = serde_json::to_vec_pretty(value).map_err(|e| BackupError::Io(e.to_string()))?;
    format::write_atomic(path, &text).map_err(io("write", path))
}

/// Back the cluster up into `options.dir` (resuming an interrupted backup there).
pub async fn backup(client: &Client, options: &BackupOptions) -> Result<Manifest, BackupError> {
    let dir = &options.dir;
    std::fs::create_dir_all(dir).map_err(io("create", dir))?;
    if dir.join(MANIFEST).exists() {
        let dir = dir.display().to_string();
        return Err(BackupError::Finished { dir });
    }
    let target = Target::of(client).await?;
    let partitions = target.ring.partitions();
    let state = Mutex::new(load_state(dir, partitions)?);
    let meter = Arc::new(Meter::new(options.rate_bytes));
    let todo: Vec<u32> = {
        let state = state.lock().expect("state lock");
        meter
            .partitions
            .store(state.done.len() as u64, Ordering::Relaxed);
        (0..partitions)
            .filter(|p| !state.done.contains_key(p))
            .collect()
    };
    let printer = progress(
        meter.clone(),
        "backup",
        u64::from(partitions),
        options.progress,
    );
    let reader = Reader {
        client,
        target: &target,
        options,
        meter: &meter,
    };
    let mut results = stream::iter(todo)
        .map(|partition| reader.partition(partition))
        .buffer_unordered(options.parallel.max(1));
    let mut failure = None;
    while let Some(result) = results.next().await {
        match result {
            Ok(record) => {
                let mut state = state.lock().expect("state lock");
                state.done.insert(record.partition, record);
                save_json(&dir.join(STATE_FILE), &*state)?;
            }
            Err(error) => failure = failure.or(Some(error)),
        }
    }
    if let Some(printer) = printer {
        printer.abort();
    }
    if let Some(error) = failure {
        return Err(error);
    }
    let state = state.into_inner().expect("state lock");
    let manifest = manifest_of(&target, state);
    save_json(&dir.join(MANIFEST), &manifest)?;
    let _ = std::fs::remove_file(dir.join(STATE_FILE));
    if options.progress {
        eprintln!("{}", meter.line("backup", u64::from(partitions)));
    }
    Ok(manifest)
}

fn manifest_of(target: &Target, state: State) -> Manifest {
    let mut totals = format::Counts::default();
    let mut actors = BTreeMap::new();
    for record in state.done.values() {
        totals.add(&record.counts);
        for (node, incarnation) in &record.actors {
            let newest = actors.entry(*node).or_insert(*incarnation);
            *newest = (*newest).max(*incarnation);
        }
    }
    Manifest {
        format: format::MANIFEST_FORMAT.into(),
        version: format::FORMAT_VERSION,
        started_unix_ms: state.started_unix_ms,
        finished_unix_ms: unix_ms(),
        coverage:
            "each partition as of its read (read_at_unix_ms); writes after it are not in the backup"
                .into(),
        source: format::Source {
            epoch: target.epoch,
            partitions: target.ring.partitions(),
            replication_factor: target.replication_factor,
            ring: target.ring.clone(),
        },
        totals,
        actors,
        partitions: state.done.into_values().collect(),
    }
}

/// A partition as read from one home.
struct Read {
    node: NodeId,
    root: u128,
    entries: BTreeMap<Key, Siblings>,
    verified: bool,
}

/// Reads partitions from the cluster (backup and export).
pub(crate) struct Reader<'a> {
    client: &'a Client,
    target: &'a Target,
    options: &'a BackupOptions,
    meter: &'a Meter,
}

impl Reader<'_> {
    /// Read, check and write one partition's file; its record.
    async fn partition(&self, partition: u32) -> Result<PartitionRecord, BackupError> {
        let read_at_unix_ms = unix_ms();
        let (entries, read_from, replicas, verified) = self.collect(partition).await?;
        let bytes = format::encode(partition, self.target.ring.partitions(), &entries)
            .map_err(|e| BackupError::Io(e.to_string()))?;
        let (file, sha256, counts) = format::record(partition, &entries, &bytes);
        let path = self.options.dir.join(&file);
        format::write_atomic(&path, &bytes).map_err(io("write", &path))?;
        self.meter.keys.fetch_add(counts.keys, Ordering::Relaxed);
        self.meter.partitions.fetch_add(1, Ordering::Relaxed);
        Ok(PartitionRecord {
            partition,
            file,
            sha256,
            merkle_root: format::root_hex(format::root_of(&entries)),
            counts,
            read_from,
            replicas,
            verified,
            read_at_unix_ms,
            actors: format::actors_of(&entries),
        })
    }

    /// A partition's entries: the first home that answers, merged with every other
    /// home whose root differs from it.
    async fn collect(
        &self,
        partition: u32,
    ) -> Result<(BTreeMap<Key, Siblings>, Vec<NodeId>, Vec<ReplicaRoot>, bool), BackupError> {
        let homes = self.target.homes(PartitionId(partition));
        let mut reasons = Vec::new();
        let mut first = None;
        for home in &homes {
            match self.read_whole(*home, partition).await {
                Ok(read) => {
                    first = Some(read);
                    break;
                }
                Err(reason) => reasons.push(format!("node {home}: {reason}")),
            }
        }
        let Some(first) = first else {
            let reasons = reasons.join("; ");
            return Err(BackupError::NoHome { partition, reasons });
        };
        let mut entries = first.entries;
        let mut read_from = vec![first.node];
        let mut replicas = vec![ReplicaRoot {
            node: first.node,
            root: Some(format::root_hex(first.root)),
            agreed: true,
        }];
        let mut verified = first.verified;
        for home in homes.iter().filter(|home| **home != first.node) {
            let root = self
                .page(*home, partition, None, 0)
                .await
                .ok()
                .map(|p| p.root);
            let agreed = root == Some(first.root);
            replicas.push(ReplicaRoot {
                node: *home,
                root: root.map(format::root_hex),
                agreed,
            });
            if agreed || root.is_none() {
                continue;
            }
            // This home holds something the first did not (or lacks something): merge
            // it in, so a write it acknowledged is not left out.
            if let Ok(other) = self.read_whole(*home, partition).await {
                verified &= other.verified;
                read_from.push(other.node);
                merge_into(&mut entries, other.entries);
            }
        }
        Ok((entries, read_from, replicas, verified))
    }

    /// Every page of a partition from `node`, read again while the entries do not
    /// hash to the root reported with the last page.
    async fn read_whole(&self, node: NodeId, partition: u32) -> Result<Read, String> {
        let mut last = None;
        for _ in 0..READ_ATTEMPTS {
            let mut entries = BTreeMap::new();
            let mut after: Option<Key> = None;
            let root = loop {
                let page = self
                    .page(node, partition, after.as_deref(), self.options.page_keys)
                    .await?;
                let bytes: usize = page
                    .entries
                    .iter()
                    .map(|(k, s)| k.len() + s.values().map(<[u8]>::len).sum::<usize>())
                    .sum();
                self.meter.pace(bytes as u64).await;
                after = page.entries.last().map(|(key, _)| key.clone());
                entries.extend(page.entries);
                if !page.more || after.is_none() {
                    break page.root;
                }
            };
            let verified = format::root_of(&entries) == root;
            let read = Read {
                node,
                root,
                entries,
                verified,
            };
            if verified {
                return Ok(read);
            }
            last = Some(read);
        }
        Ok(last.expect("at least one attempt"))
    }

    async fn page(
        &self,
        node: NodeId,
        partition: u32,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<PartitionPage, String> {
        let address = self.target.address(node)?;
        let mut path = format!(
            "/v1/admin/partition/{partition}?limit={limit}&bytes={}",
            self.options.page_bytes
        );
        if let Some(after) = after {
            path.push_str(&format!("&after={}", format::hex(after)));
        }
        let response = self
            .client
            .raw(Method::GET, address, &path, Bytes::new())
            .await
            .map_err(|e| e.to_string())?;
        if !response.status.is_success() {
            let text = String::from_utf8_lossy(&response.body).into_owned();
            return Err(format!("{}: {text}", response.status));
        }
        postcard::from_bytes(&response.body).map_err(|e| format!("bad page: {e}"))
    }
}

fn merge_into(entries: &mut BTreeMap<Key, Siblings>, other: BTreeMap<Key, Siblings>) {
    for (key, theirs) in other {
        match entries.get_mut(&key) {
            Some(mine) => mine.sync(&theirs),
            None => {
                entries.insert(key, theirs);
            }
        }
    }
}

/// How a restore sends its entries.
#[derive(Clone, Debug)]
pub struct RestoreOptions {
    pub dir: PathBuf,
    pub batch_keys: usize,
    pub batch_bytes: usize,
    /// Partition files restored at once.
    pub parallel: usize,
    pub progress: bool,
}

impl RestoreOptions {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        RestoreOptions {
            dir: dir.into(),
            batch_keys: 512,
            batch_bytes: 1024 * 1024,
            parallel: 4,
            progress: false,
        }
    }
}

pub fn read_manifest(dir: &Path) -> Result<Manifest, BackupError> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read(&path).map_err(io("read", &path))?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .map_err(|e| BackupError::Manifest(format!("{}: {e}", path.display())))?;
    if manifest.format != format::MANIFEST_FORMAT || manifest.version != format::FORMAT_VERSION {
        return Err(BackupError::Manifest(format!(
            "{} is {:?} version {}; this build reads {:?} version {}",
            path.display(),
            manifest.format,
            manifest.version,
            format::MANIFEST_FORMAT,
            format::FORMAT_VERSION
        )));
    }
    Ok(manifest)
}

/// Fence every target node whose id the backup's actors use (see the module doc).
pub async fn fence(
    client: &Client,
    target: &Target,
    actors: &BTreeMap<u32, u32>,
) -> Result<(), BackupError> {
    for node in target.ring.members().keys() {
        let Some(incarnation) = actors.get(&node.0) else {
            continue;
        };
        let failed = |reason: String| BackupError::Fence {
            node: node.0,
            reason,
        };
        let address = target.address(*node).map_err(failed)?;
        let path = format!("/v1/admin/fence/{incarnation}");
        let response = client
            .raw(Method::POST, address, &path, Bytes::new())
            .await
            .map_err(|e| failed(e.to_string()))?;
        if !response.status.is_success() {
            let text = String::from_utf8_lossy(&response.body).into_owned();
            return Err(failed(format!("{}: {text}", response.status)));
        }
    }
    Ok(())
}

/// Restore a backup directory into the cluster `client` reaches.
pub async fn restore(client: &Client, options: &RestoreOptions) -> Result<Summary, BackupError> {
    let started = Instant::now();
    let manifest = read_manifest(&options.dir)?;
    let target = Target::of(client).await?;
    fence(client, &target, &manifest.actors).await?;
    let meter = Arc::new(Meter::new(None));
    let total = manifest.partitions.len() as u64;
    let printer = progress(meter.clone(), "restore", total, options.progress);
    let sender = Sender {
        client,
        target: &target,
        options,
        meter: &meter,
    };
    let outcomes: Vec<(u32, Result<RestoreCounts, String>)> = stream::iter(&manifest.partitions)
        .map(|record| async {
            (
                record.partition,
                sender.partition(&options.dir, record).await,
            )
        })
        .buffer_unordered(options.parallel.max(1))
        .collect()
        .await;
    if let Some(printer) = printer {
        printer.abort();
    }
    let mut summary = Summary {
        elapsed: started.elapsed(),
        keys: meter.keys.load(Ordering::Relaxed),
        bytes: meter.bytes.load(Ordering::Relaxed),
        ..Summary::default()
    };
    for (partition, outcome) in outcomes {
        match outcome {
            Ok(counts) => {
                summary.partitions += 1;
                summary.merged += counts.merged;
                summary.changed += counts.changed;
            }
            Err(reason) => summary.refused.push((partition, reason)),
        }
    }
    summary.refused.sort();
    Ok(summary)
}

/// Sends entries to their homes in the target ring, in batches per node.
pub(crate) struct Sender<'a> {
    client: &'a Client,
    target: &'a Target,
    options: &'a RestoreOptions,
    meter: &'a Meter,
}

impl Sender<'_> {
    async fn partition(
        &self,
        dir: &Path,
        record: &PartitionRecord,
    ) -> Result<RestoreCounts, String> {
        let entries = format::read(dir, record).map_err(|error: FormatError| {
            format!(
                "partition {} ({}) refused: {error}",
                record.partition, record.file
            )
        })?;
        let bytes = std::fs::metadata(dir.join(&record.file)).map_or(0, |m| m.len());
        let keys = entries.len() as u64;
        let counts = self.send_all(entries).await.map_err(|error| {
            format!(
                "partition {} ({}) not restored: {error}",
                record.partition, record.file
            )
        })?;
        self.meter.keys.fetch_add(keys, Ordering::Relaxed);
        self.meter.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.meter.partitions.fetch_add(1, Ordering::Relaxed);
        Ok(counts)
    }

    /// Send every entry to each of its homes in the target ring.
    pub(crate) async fn send_all(
        &self,
        entries: Vec<(Key, Siblings)>,
    ) -> Result<RestoreCounts, String> {
        let mut batches: BTreeMap<NodeId, (Vec<(Key, Siblings)>, usize)> = BTreeMap::new();
        let mut counts = RestoreCounts::default();
        for (key, siblings) in entries {
            let partition = self.target.ring.partition_of_key(&key);
            let size = key.len() + siblings.values().map(<[u8]>::len).sum::<usize>();
            for home in self.target.homes(partition) {
                let (batch, bytes) = batches.entry(home).or_default();
                batch.push((key.clone(), siblings.clone()));
                *bytes += size;
                if batch.len() >= self.options.batch_keys || *bytes >= self.options.batch_bytes {
                    let full = std::mem::take(batch);
                    *bytes = 0;
                    add(&mut counts, self.send(home, &full).await?);
                }
            }
        }
        for (home, (batch, _)) in batches {
            if !batch.is_empty() {
                add(&mut counts, self.send(home, &batch).await?);
            }
        }
        Ok(counts)
    }

    /// One batch to one node, sent again (a merge is idempotent) while it fails.
    async fn send(&self, node: NodeId, batch: &[(Key, Siblings)]) -> Result<RestoreCounts, String> {
        let address = self.target.address(node)?;
        let body = Bytes::from(postcard::to_allocvec(batch).map_err(|e| e.to_string())?);
        let mut last = String::new();
        for attempt in 0..SEND_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
            let sent = self
                .client
                .raw(Method::POST, address, "/v1/admin/restore", body.clone());
            match sent.await {
                Ok(response) if response.status.is_success() => {
                    return response.json().map_err(|e: HttpError| e.to_string());
                }
                Ok(response) if response.status.is_client_error() => {
                    let text = String::from_utf8_lossy(&response.body).into_owned();
                    return Err(format!("node {node} refused: {text}"));
                }
                Ok(response) => last = format!("node {node}: {}", response.status),
                Err(error) => last = format!("node {node}: {error}"),
            }
        }
        Err(last)
    }
}

fn add(counts: &mut RestoreCounts, more: RestoreCounts) {
    counts.merged += more.merged;
    counts.changed += more.changed;
}

/// Ask node `node` for a snapshot of its store.
pub async fn snapshot(
    client: &Client,
    node: NodeId,
) -> Result<routes::SnapshotDocument, BackupError> {
    let target = Target::of(client).await?;
    let address = target.address(node).map_err(BackupError::Io)?;
    let response = client
        .raw(Method::POST, address, "/v1/admin/snapshot", Bytes::new())
        .await
        .map_err(|e| BackupError::Io(format!("node {node}: {e}")))?;
    if !response.status.is_success() {
        let text = String::from_utf8_lossy(&response.body).into_owned();
        return Err(BackupError::Io(format!(
            "node {node}: {}: {text}",
            response.status
        )));
    }
    response.json().map_err(|e| BackupError::Io(e.to_string()))
}
