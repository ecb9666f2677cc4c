//! The node driver: one OS thread owns each `Node` (DESIGN.md §1, the driver contract).
//!
//! Connection tasks send events over a bounded channel; the driver takes a batch,
//! steps the node once per event, makes the batch durable with one `sync` (group
//! commit), and only then releases its outputs: replies to clients, messages to peers,
//! timers. No lock guards protocol state, and no acknowledgement leaves before the
//! write it reports is on disk.
//!
//! The driver is a thread rather than a task because `sync` blocks on fsync.

use crate::admission::{Admission, AdmissionConfig, AdmissionStats, Decision};
use crate::endpoints::Endpoints;
use crate::peer::Outbound;
use dynamo_core::membership::Membership;
use dynamo_core::merkle::MerkleTree;
use dynamo_core::message::{Command, Input, Output, Reply, RequestId, Timer};
use dynamo_core::node::{Node, NodeStats, RestoreError, TransferStatus};
use dynamo_core::store::{Store, StoreError};
use dynamo_core::types::{Key, NodeId, PartitionId};
use dynamo_core::version::Siblings;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Events queued for a driver at most; senders wait (back-pressure) past it.
pub const EVENTS_QUEUED_MAX: usize = 8192;
/// Events stepped per group commit at most.
pub const BATCH_MAX: usize = 512;

/// What a driver receives.
#[derive(Debug)]
pub enum Event {
    /// A message from an authenticated peer, or a timer.
    Input(Input),
    /// A client command and where to send its reply.
    Client {
        command: Command,
        reply: oneshot::Sender<Reply>,
    },
    /// A snapshot of the node's counters (for INFO and metrics).
    Stats { reply: oneshot::Sender<NodeStats> },
    /// What operators see of the node (the HTTP API's cluster view, metrics).
    Snapshot { reply: oneshot::Sender<Snapshot> },
    /// Backup: a page of a partition's replicas and its Merkle root, read between
    /// batches so the two agree (`backup.rs`).
    ReadPartition {
        read: PartitionRead,
        reply: oneshot::Sender<Result<PartitionPage, StoreError>>,
    },
    /// Restore: merge entries into this node's replicas; answered after the commit.
    Restore {
        entries: Vec<(Key, Siblings)>,
        reply: oneshot::Sender<Result<RestoreCounts, RestoreError>>,
    },
    /// Restore: take an actor incarnation past this one; answered after the commit.
    Fence {
        incarnation: u32,
        reply: oneshot::Sender<Result<bool, RestoreError>>,
    },
    /// Snapshot: commit, say so on `paused`, then step nothing until `resume` fires
    /// (or is dropped), at most [`PAUSE_MAX`].
    Pause {
        paused: oneshot::Sender<()>,
        resume: oneshot::Receiver<()>,
    },
    /// Stop after this batch: sync and hand the store back.
    Shutdown,
}

/// The longest a [`Event::Pause`] holds the driver.
pub const PAUSE_MAX: Duration = Duration::from_secs(60);

/// Which page of a partition to read (keys strictly after `after`), bounded by both
/// counts; `limit: 0` reads only the root.
#[derive(Clone, Debug)]
pub struct PartitionRead {
    pub partition: PartitionId,
    pub after: Option<Key>,
    pub limit: usize,
    pub bytes_max: usize,
}

/// A page of a partition as one node holds it, with the partition's Merkle root at
/// the moment of the read (the root of an empty partition when it holds none).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct PartitionPage {
    pub node: NodeId,
    pub partition: PartitionId,
    pub root: u128,
    pub entries: Vec<(Key, Siblings)>,
    /// The partition holds more after the last entry.
    pub more: bool,
}

/// What a restore batch did on one node.
#[derive(Clone, Copy, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct RestoreCounts {
    pub merged: u64,
    pub changed: u64,
}

/// A node as operators see it. Built by the driver between batches.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub id: NodeId,
    pub membership: Membership,
    pub suspected: BTreeSet<NodeId>,
    pub transfers: Vec<TransferStatus>,
    /// Hints this node holds for unreachable homes (`None`: the store failed to count).
    pub hints: Option<usize>,
    /// Bytes of hints held per target node.
    pub hint_bytes: BTreeMap<NodeId, u64>,
    pub stats: NodeStats,
    pub in_flight: usize,
    pub replication_factor: usize,
    /// When each peer's last message arrived, as time elapsed since.
    pub last_seen: BTreeMap<NodeId, Duration>,
    /// The Merkle root of every partition this node holds: replicas of a partition
    /// agree exactly when their roots are equal (Dynamo §4.7).
    pub merkle_roots: BTreeMap<u32, u128>,
    pub driver: DriverStats,
}

/// Where the driver thread spends its time: the node's throughput ceiling is one
/// thread, so these say whether stepping, committing or releasing limits it.
#[derive(Clone, Copy, Debug, Default)]
pub struct DriverStats {
    /// Batches stepped (one group commit each).
    pub batches: u64,
    /// Events stepped.
    pub events: u64,
    pub stepping: Duration,
    /// In `Store::sync`: the commit, with its fsync in durable mode.
    pub committing: Duration,
    /// Handing replies, messages and timers out.
    pub releasing: Duration,
    /// The background admission controller's decisions (§6.5, `admission.rs`).
    pub admission: AdmissionStats,
}

/// The driver stopped (shutdown or a fatal storage error).
#[derive(Debug, thiserror::Error)]
#[error("the node is shutting down")]
pub struct DriverGone;

/// A driver's thread: it ends with the node's store, synced, or with why not.
pub type DriverThread<S> = std::thread::JoinHandle<Result<S, DriverError>>;

/// Why a driver thread ended without handing its store back.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// A group commit failed: the state on disk is unknown, so the node stops.
    #[error("storage sync failed: {0}")]
    Sync(#[source] StoreError),
}

/// A cloneable way to talk to a driver.
#[derive(Clone, Debug)]
pub struct DriverHandle {
    events: mpsc::Sender<Event>,
    /// The node's ring epoch after its last batch (read without a round trip).
    epoch: Arc<AtomicU64>,
}

impl DriverHandle {
    /// Run `command` on the node and wait for its reply.
    pub async fn request(&self, command: Command) -> Result<Reply, DriverGone> {
        let (reply, answer) = oneshot::channel();
        self.events
            .send(Event::Client { command, reply })
            .await
            .map_err(|_| DriverGone)?;
        answer.await.map_err(|_| DriverGone)
    }

    pub async fn stats(&self) -> Result<NodeStats, DriverGone> {
        let (reply, answer) = oneshot::channel();
        self.events
            .send(Event::Stats { reply })
            .await
            .map_err(|_| DriverGone)?;
        answer.await.map_err(|_| DriverGone)
    }

    /// The ring epoch as of the node's last batch.
    pub fn ring_epoch(&self) -> u64 {
        self.epoch.load(Ordering::Relaxed)
    }

    pub async fn snapshot(&self) -> Result<Snapshot, DriverGone> {
        let (reply, answer) = oneshot::channel();
        self.events
            .send(Event::Snapshot { reply })
            .await
            .map_err(|_| DriverGone)?;
        answer.await.map_err(|_| DriverGone)
    }

    /// Deliver a peer message; waits while the driver is saturated (back-pressure).
    pub async fn input(&self, input: Input) -> Result<(), DriverGone> {
        self.events
            .send(Event::Input(input))
            .await
            .map_err(|_| DriverGone)
    }

    /// Any event answered on a oneshot: send it, wait for the answer.
    pub async fn ask<T>(
        &self,
        event: impl FnOnce(oneshot::Sender<T>) -> Event,
    ) -> Result<T, DriverGone> {
        let (reply, answer) = oneshot::channel();
        self.events
            .send(event(reply))
            .await
            .map_err(|_| DriverGone)?;
        answer.await.map_err(|_| DriverGone)
    }

    /// Hold the driver between batches (everything before is committed) until the
    /// returned sender is dropped or fires, at most [`PAUSE_MAX`].
    pub async fn pause(&self) -> Result<oneshot::Sender<()>, DriverGone> {
        let (resume, held) = oneshot::channel();
        let paused = self.ask(|paused| Event::Pause {
            paused,
            resume: held,
        });
        paused.await?;
        Ok(resume)
    }

    pub async fn shutdown(&self) {
        let _ = self.events.send(Event::Shutdown).await;
    }
}

struct Driver<S> {
    node: Node<S>,
    events: mpsc::Receiver<Event>,
    handle: DriverHandle,
    runtime: tokio::runtime::Handle,
    outbound: Outbound,
    /// Client requests waiting for their reply, and when each was stepped.
    pending: BTreeMap<RequestId, (oneshot::Sender<Reply>, Instant)>,
    admission: Admission,
    next_request: RequestId,
    /// Armed timers and their deadlines; `deadlines` orders the same entries by time
    /// (the generation tells apart two timers due at the same instant).
    timers: BTreeMap<Timer, (Instant, u64)>,
    deadlines: BTreeMap<(Instant, u64), Timer>,
    generation: u64,
    last_seen: BTreeMap<NodeId, Instant>,
    stats: DriverStats,
    /// Answers released only after this batch's commit (restore merges).
    after_commit: Vec<Box<dyn FnOnce() + Send>>,
    /// A pause asked for in this batch, served after its commit.
    pause: Option<(oneshot::Sender<()>, oneshot::Receiver<()>)>,
}

/// Start the driver thread of `node`. The thread ends on `Shutdown` (returning the
/// store, synced) or on a storage error (returning the error).
pub fn spawn<S: Store + Send + 'static>(
    node: Node<S>,
    outbound: Outbound,
    runtime: tokio::runtime::Handle,
) -> (DriverHandle, DriverThread<S>) {
    let (tx, events) = mpsc::channel(EVENTS_QUEUED_MAX);
    let epoch = Arc::new(AtomicU64::new(node.membership().epoch()));
    let handle = DriverHandle { events: tx, epoch };
    let driver = Driver {
        node,
        events,
        handle: handle.clone(),
        runtime,
        outbound,
        pending: BTreeMap::new(),
        admission: Admission::new(AdmissionConfig::default()),
        next_request: 0,
        timers: BTreeMap::new(),
        deadlines: BTreeMap::new(),
        generation: 0,
        last_seen: BTreeMap::new(),
        stats: DriverStats::default(),
        after_commit: Vec::new(),
        pause: None,
    };
    let name = format!("driver-{}", driver.node.id());
    let thread = std::thread::Builder::new()
        .name(name)
        .spawn(move || driver.run())
        .expect("spawn the driver thread");
    (handle, thread)
}

impl<S: Store> Driver<S> {
    fn run(mut self) -> Result<S, DriverError> {
        let outputs = self.node.start();
        self.commit_and_release(outputs)?;
        loop {
            let Some(batch) = self.next_batch() else {
                break;
            };
            self.stats.batches += 1;
            self.stats.events += batch.len() as u64;
            let started = Instant::now();
            let (mut outputs, stop) = self.step_batch(batch);
            outputs.extend(self.fire_due_timers());
            self.stats.stepping += started.elapsed();
            self.commit_and_release(outputs)?;
            if stop {
                break;
            }
        }
        self.node.store_mut().sync().map_err(DriverError::Sync)?;
        Ok(self.node.into_store())
    }

    /// Wait for events or the next timer deadline, then take what is queued (at most
    /// [`BATCH_MAX`]). `None` when every handle is gone. The batch may be empty when
    /// only a timer is due. Timers live here rather than in spawned sleeping tasks: a
    /// request arms and cancels one each, and a task per timer cost a spawn plus a
    /// stale event through the queue for every request.
    fn next_batch(&mut self) -> Option<Vec<Event>> {
        // A busy driver finds events queued: take them without arming a wait.
        let queued = self.events.try_recv().ok();
        let first = match self.deadlines.keys().next() {
            _ if queued.is_some() => queued,
            None => Some(self.events.blocking_recv()?),
            Some(&(deadline, _)) if deadline <= Instant::now() => None,
            Some(&(deadline, _)) => {
                let deadline = tokio::time::Instant::from_std(deadline);
                let events = &mut self.events;
                // The sleep must be created inside the runtime: build it in the future.
                let waited = self.runtime.block_on(async move {
                    tokio::time::timeout_at(deadline, events.recv()).await
                });
                match waited {
                    Ok(event) => Some(event?),
                    Err(_elapsed) => None,
                }
            }
        };
        let mut batch: Vec<Event> = first.into_iter().collect();
        while batch.len() < BATCH_MAX {
            match self.events.try_recv() {
                Ok(event) => batch.push(event),
                Err(_) => break,
            }
        }
        Some(batch)
    }

    /// Step every timer whose deadline has passed.
    fn fire_due_timers(&mut self) -> Vec<Output> {
        let now = Instant::now();
        let mut outputs = Vec::new();
        while let Some(entry) = self.deadlines.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let timer = entry.remove();
            self.timers.remove(&timer);
            if self.deferred(timer, now) {
                continue;
            }
            outputs.extend(self.node.step(Input::Timeout(timer)));
        }
        self.stats.admission = self.admission.stats();
        outputs
    }

    /// Whether the admission controller defers this due background round (re-armed
    /// one interval later); foreground work, gossip and request deadlines never wait.
    fn deferred(&mut self, timer: Timer, now: Instant) -> bool {
        let config = self.node.config();
        let interval = match timer {
            Timer::AntiEntropy => config.anti_entropy_interval_ms,
            Timer::Handoff => config.handoff_interval_ms,
            Timer::Transfer => config.transfer_interval_ms,
            Timer::Gossip | Timer::Request(_) => return false,
        };
        if self.admission.admit(now) == Decision::Run {
            return false;
        }
        self.arm(timer, interval);
        true
    }

    fn step_batch(&mut self, batch: Vec<Event>) -> (Vec<Output>, bool) {
        let mut outputs = Vec::new();
        let mut stop = false;
        for event in batch {
            match event {
                Event::Input(input) => {
                    if let Input::Peer { from, .. } = &input {
                        self.last_seen.insert(*from, Instant::now());
                    }
                    outputs.extend(self.node.step(input));
                }
                Event::Client { command, reply } => {
                    self.next_request += 1;
                    let request = self.next_request;
                    self.pending.insert(request, (reply, Instant::now()));
                    outputs.extend(self.node.step(Input::Client { request, command }));
                }
                Event::Stats { reply } => {
                    let _ = reply.send(self.node.stats().clone());
                }
                Event::Snapshot { reply } => {
                    let _ = reply.send(self.snapshot());
                }
                Event::ReadPartition { read, reply } => {
                    let _ = reply.send(self.read_partition(&read));
                }
                Event::Restore { entries, reply } => {
                    let restored = self.restore(&entries);
                    self.after_commit.push(Box::new(move || {
                        let _ = reply.send(restored);
                    }));
                }
                Event::Fence { incarnation, reply } => {
                    let fenced = self.node.fence_actor(incarnation);
                    self.after_commit.push(Box::new(move || {
                        let _ = reply.send(fenced);
                    }));
                }
                Event::Pause { paused, resume } => self.pause = Some((paused, resume)),
                Event::Shutdown => stop = true,
            }
        }
        (outputs, stop)
    }

    /// A page of `read.partition` and its root, both as of now (between batches).
    fn read_partition(&self, read: &PartitionRead) -> Result<PartitionPage, StoreError> {
        let partition = read.partition;
        let root = self
            .node
            .tree(partition)
            .map_or_else(|| MerkleTree::new().root().0, |tree| tree.root().0);
        let mut page = PartitionPage {
            node: self.node.id(),
            partition,
            root,
            entries: Vec::new(),
            more: false,
        };
        if read.limit == 0 {
            return Ok(page);
        }
        let scanned = self
            .node
            .store()
            .scan(partition, read.after.as_deref(), read.limit)?;
        page.more = scanned.len() == read.limit;
        let mut bytes = 0;
        for (key, siblings) in scanned {
            if bytes >= read.bytes_max {
                page.more = true;
                break;
            }
            bytes += key.len() + siblings.values().map(<[u8]>::len).sum::<usize>();
            page.entries.push((key, siblings));
        }
        Ok(page)
    }

    /// Merge restored entries; stops at the first refusal (the earlier merges stand:
    /// a merge is idempotent, so the restore just sends the batch again).
    fn restore(&mut self, entries: &[(Key, Siblings)]) -> Result<RestoreCounts, RestoreError> {
        let mut counts = RestoreCounts::default();
        for (key, siblings) in entries {
            counts.merged += 1;
            counts.changed += u64::from(self.node.merge_restored(key, siblings)?);
        }
        Ok(counts)
    }

    /// Serve a pause asked for in the last batch: it is committed, so the store on
    /// disk holds everything acknowledged; wait for the resume, bounded.
    fn hold_if_paused(&mut self) {
        let Some((paused, resume)) = self.pause.take() else {
            return;
        };
        if paused.send(()).is_err() {
            return;
        }
        let waited = self
            .runtime
            .block_on(async move { tokio::time::timeout(PAUSE_MAX, resume).await });
        if waited.is_err() {
            tracing::warn!(limit = ?PAUSE_MAX, "a pause outlived its limit; resuming");
        }
    }

    fn snapshot(&self) -> Snapshot {
        let now = Instant::now();
        Snapshot {
            id: self.node.id(),
            membership: self.node.membership().clone(),
            suspected: self.node.suspected().clone(),
            transfers: self.node.transfers(),
            hints: self.node.store().hint_count().ok(),
            hint_bytes: self.node.hint_bytes().clone(),
            stats: self.node.stats().clone(),
            in_flight: self.node.in_flight(),
            replication_factor: self.node.config().ring.replication_factor,
            last_seen: self
                .last_seen
                .iter()
                .map(|(node, at)| (*node, now.saturating_duration_since(*at)))
                .collect(),
            merkle_roots: self.merkle_roots(),
            driver: self.stats,
        }
    }

    fn merkle_roots(&self) -> BTreeMap<u32, u128> {
        let Some(ring) = self.node.membership().ring() else {
            return BTreeMap::new();
        };
        (0..ring.config().partitions)
            .filter_map(|p| {
                let tree = self.node.tree(dynamo_core::types::PartitionId(p))?;
                Some((p, tree.root().0))
            })
            .collect()
    }

    /// Group commit: make the batch durable, then let its outputs out.
    fn commit_and_release(&mut self, outputs: Vec<Output>) -> Result<(), DriverError> {
        let started = Instant::now();
        let synced = self.node.store_mut().sync();
        let committed = Instant::now();
        self.stats.committing += committed - started;
        if let Err(error) = synced {
            // Nothing of this batch may be acknowledged: fail its clients and stop, as
            // a database does when fsync fails (the state on disk is unknown).
            tracing::error!(%error, "storage sync failed; stopping the node");
            self.pending.clear();
            self.after_commit.clear();
            return Err(DriverError::Sync(error));
        }
        let epoch = self.node.membership().epoch();
        self.handle.epoch.store(epoch, Ordering::Relaxed);
        for output in outputs {
            self.release(output);
        }
        for answer in self.after_commit.drain(..) {
            answer();
        }
        self.stats.releasing += committed.elapsed();
        self.hold_if_paused();
        Ok(())
    }

    fn release(&mut self, output: Output) {
        match output {
            Output::Send { to, message } => {
                let address = self
                    .node
                    .membership()
                    .member(to)
                    .map(|m| Endpoints::parse(&m.address).peer);
                self.outbound.send(to, address, message);
            }
            Output::Reply { request, reply } => {
                if let Some((client, stepped)) = self.pending.remove(&request) {
                    let now = Instant::now();
                    self.admission
                        .record(now, now.saturating_duration_since(stepped));
                    let _ = client.send(reply);
                }
            }
            Output::SetTimer { timer, after_ms } => self.arm(timer, after_ms),
            Output::CancelTimer { timer } => self.disarm(timer),
        }
    }

    fn arm(&mut self, timer: Timer, after_ms: u64) {
        self.disarm(timer);
        self.generation += 1;
        let deadline = Instant::now() + Duration::from_millis(after_ms);
        self.timers.insert(timer, (deadline, self.generation));
        self.deadlines.insert((deadline, self.generation), timer);
    }

    fn disarm(&mut self, timer: Timer) {
        if let Some(at) = self.timers.remove(&timer) {
            self.deadlines.remove(&at);
        }
    }
}
