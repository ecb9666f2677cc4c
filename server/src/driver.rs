//! The node driver: one OS thread owns each `Node` (DESIGN.md §1, the driver contract).
//!
//! Connection tasks send events over a bounded channel; the driver takes a batch,
//! steps the node once per event, makes the batch durable with one `sync` (group
//! commit), and only then releases its outputs: replies to clients, messages to peers,
//! timers. No lock guards protocol state, and no acknowledgement leaves before the
//! write it reports is on disk.
//!
//! The driver is a thread rather than a task because `sync` blocks on fsync.

use crate::peer::Outbound;
use dynamo_core::message::{Command, Input, Output, Reply, RequestId, Timer};
use dynamo_core::node::{Node, NodeStats};
use dynamo_core::store::Store;
use std::collections::BTreeMap;
use std::time::Duration;
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
    /// A timer fired; stale when re-armed or cancelled since (`generation` differs).
    Timer { timer: Timer, generation: u64 },
    /// A client command and where to send its reply.
    Client {
        command: Command,
        reply: oneshot::Sender<Reply>,
    },
    /// A snapshot of the node's counters (for INFO and metrics).
    Stats { reply: oneshot::Sender<NodeStats> },
    /// Stop after this batch: sync and hand the store back.
    Shutdown,
}

/// The driver stopped (shutdown or a fatal storage error).
#[derive(Debug, thiserror::Error)]
#[error("the node is shutting down")]
pub struct DriverGone;

/// A cloneable way to talk to a driver.
#[derive(Clone, Debug)]
pub struct DriverHandle {
    events: mpsc::Sender<Event>,
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

    /// Deliver a peer message; waits while the driver is saturated (back-pressure).
    pub async fn input(&self, input: Input) -> Result<(), DriverGone> {
        self.events
            .send(Event::Input(input))
            .await
            .map_err(|_| DriverGone)
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
    pending: BTreeMap<RequestId, oneshot::Sender<Reply>>,
    next_request: RequestId,
    timers: BTreeMap<Timer, u64>,
    generation: u64,
}

/// Start the driver thread of `node`. The thread ends on `Shutdown` (returning the
/// store, synced) or on a storage error (returning the error).
pub fn spawn<S: Store + Send + 'static>(
    node: Node<S>,
    outbound: Outbound,
    runtime: tokio::runtime::Handle,
) -> (DriverHandle, std::thread::JoinHandle<Result<S, String>>) {
    let (tx, events) = mpsc::channel(EVENTS_QUEUED_MAX);
    let handle = DriverHandle { events: tx };
    let driver = Driver {
        node,
        events,
        handle: handle.clone(),
        runtime,
        outbound,
        pending: BTreeMap::new(),
        next_request: 0,
        timers: BTreeMap::new(),
        generation: 0,
    };
    let name = format!("driver-{}", driver.node.id());
    let thread = std::thread::Builder::new()
        .name(name)
        .spawn(move || driver.run())
        .expect("spawn the driver thread");
    (handle, thread)
}

impl<S: Store> Driver<S> {
    fn run(mut self) -> Result<S, String> {
        let outputs = self.node.start();
        self.commit_and_release(outputs)?;
        loop {
            let Some(first) = self.events.blocking_recv() else {
                break;
            };
            let mut batch = vec![first];
            while batch.len() < BATCH_MAX {
                match self.events.try_recv() {
                    Ok(event) => batch.push(event),
                    Err(_) => break,
                }
            }
            let (outputs, stop) = self.step_batch(batch);
            self.commit_and_release(outputs)?;
            if stop {
                break;
            }
        }
        self.node.store_mut().sync().map_err(|e| e.to_string())?;
        Ok(self.node.into_store())
    }

    fn step_batch(&mut self, batch: Vec<Event>) -> (Vec<Output>, bool) {
        let mut outputs = Vec::new();
        let mut stop = false;
        for event in batch {
            match event {
                Event::Input(input) => outputs.extend(self.node.step(input)),
                Event::Timer { timer, generation } => {
                    if self.timers.get(&timer) == Some(&generation) {
                        self.timers.remove(&timer);
                        outputs.extend(self.node.step(Input::Timeout(timer)));
                    }
                }
                Event::Client { command, reply } => {
                    self.next_request += 1;
                    let request = self.next_request;
                    self.pending.insert(request, reply);
                    outputs.extend(self.node.step(Input::Client { request, command }));
                }
                Event::Stats { reply } => {
                    let _ = reply.send(self.node.stats().clone());
                }
                Event::Shutdown => stop = true,
            }
        }
        (outputs, stop)
    }

    /// Group commit: make the batch durable, then let its outputs out.
    fn commit_and_release(&mut self, outputs: Vec<Output>) -> Result<(), String> {
        if let Err(error) = self.node.store_mut().sync() {
            // Nothing of this batch may be acknowledged: fail its clients and stop, as
            // a database does when fsync fails (the state on disk is unknown).
            tracing::error!(%error, "storage sync failed; stopping the node");
            self.pending.clear();
            return Err(error.to_string());
        }
        for output in outputs {
            self.release(output);
        }
        Ok(())
    }

    fn release(&mut self, output: Output) {
        match output {
            Output::Send { to, message } => {
                let address = self.node.membership().member(to).map(|m| m.address.clone());
                self.outbound.send(to, address, message);
            }
            Output::Reply { request, reply } => {
                if let Some(client) = self.pending.remove(&request) {
                    let _ = client.send(reply);
                }
            }
            Output::SetTimer { timer, after_ms } => self.arm(timer, after_ms),
            Output::CancelTimer { timer } => {
                self.timers.remove(&timer);
            }
        }
    }

    fn arm(&mut self, timer: Timer, after_ms: u64) {
        self.generation += 1;
        let generation = self.generation;
        self.timers.insert(timer, generation);
        let events = self.handle.events.clone();
        self.runtime.spawn(async move {
            tokio::time::sleep(Duration::from_millis(after_ms)).await;
            let _ = events.send(Event::Timer { timer, generation }).await;
        });
    }
}
