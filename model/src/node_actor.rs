//! A node actor: the very `dynamo_core::Node` the server runs, driven by stateright.
//!
//! Each event becomes one `Node::step`; the store is synced right after the step and
//! before any output leaves (the group commit every driver owes the core), then each
//! output maps to one stateright command: `Send` to `send`, `Reply` to a `send` to
//! the client, `SetTimer` to `set_timer`, `CancelTimer` to `cancel_timer`. Two
//! exceptions, both the model's boundary: a periodic timer that used up its rounds is
//! not re-armed, and crashes are the model's own timers (`Crash`, then `Restart`), so
//! that a crash loses the node's volatile state and keeps exactly its synced store.

use crate::actor::ModelActor;
use crate::config::{node_id, node_index, ModelConfig};
use crate::host::{Host, HostCell};
use crate::msg::{Body, Msg};
use dynamo_core::message::{Command, Input, Message, Output, Timer};
use dynamo_core::node::{Node, NodeConfig};
use dynamo_core::store::{MemoryStore, Store};
use dynamo_core::types::{Key, PartitionId};
use stateright::actor::{model_timeout, Id, Out};
use std::cell::RefCell;
use std::collections::{BTreeSet, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

/// The timers of a node actor: the node's own, and the model's crash and restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ModelTimer {
    Node(Timer),
    Crash,
    Restart,
}

/// A node actor's state: the node and what the model tracks about it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeState {
    pub host: HostCell,
    /// Periodic firings so far: gossip, anti-entropy, handoff.
    pub fired: [u8; 3],
    pub crashes: u8,
    /// Node timers armed now (to cancel them when the node crashes).
    pub armed: BTreeSet<Timer>,
    /// Keys this node coordinated a request for while suspecting one of their home
    /// replicas: such a request may have used a fallback (sloppy quorum).
    pub sloppy: BTreeSet<Key>,
    /// The first invariant a step broke, if any (the property reports it).
    pub broken: Option<String>,
}

impl NodeState {
    pub fn node(&self) -> Option<&Node<MemoryStore>> {
        match self.host.get() {
            Host::Up(node) => Some(node),
            Host::Down(_) => None,
        }
    }

    /// The node's store: live if it runs, durable if it crashed.
    pub fn store(&self) -> &MemoryStore {
        match self.host.get() {
            Host::Up(node) => node.store(),
            Host::Down(store) => store,
        }
    }
}

/// The node actor's behaviour (its state lives in [`NodeState`]).
#[derive(Clone, Debug)]
pub struct NodeActor {
    pub index: usize,
    pub model: ModelConfig,
    pub config: NodeConfig,
}

impl NodeActor {
    pub fn new(index: usize, model: &ModelConfig) -> Self {
        Self {
            index,
            model: model.clone(),
            config: model.node_config(),
        }
    }

    /// Start a node over `store` (empty at first, the durable store on restart).
    pub fn boot(&self, store: MemoryStore, state: &mut NodeState, out: &mut Out<ModelActor>) {
        let mut node = Node::new(node_id(self.index), self.config.clone(), store)
            .expect("a validated model config starts");
        node.set_mutant(self.model.mutant);
        node.store_mut().sync().expect("memory store syncs");
        let outputs = node.start();
        state.host.set(Host::Up(Box::new(node)));
        self.execute(state, outputs, out);
        if state.crashes < self.model.crashes {
            out.set_timer(ModelTimer::Crash, model_timeout());
        }
    }

    pub fn start(&self, out: &mut Out<ModelActor>) -> NodeState {
        let mut state = NodeState {
            host: HostCell::new(Host::Down(MemoryStore::new())),
            fired: [0; 3],
            crashes: 0,
            armed: BTreeSet::new(),
            sloppy: BTreeSet::new(),
            broken: None,
        };
        self.boot(MemoryStore::new(), &mut state, out);
        state
    }

    /// Feed one input to the node; false if the node is down (nothing happens).
    pub fn step(&self, state: &mut NodeState, input: Input, out: &mut Out<ModelActor>) -> bool {
        let Some(node) = state.node() else {
            return false;
        };
        if let Some(key) = self.sloppy_key(node, &input) {
            state.sloppy.insert(key);
        }
        let check = state.broken.is_none() && self.model.full_invariants;
        let stepped = state.host.update(|host| match host {
            Host::Up(node) => Some(step_synced(node, input, check)),
            Host::Down(_) => None,
        });
        let Some((outputs, broken)) = stepped else {
            return false;
        };
        if broken.is_some() {
            state.broken = broken;
        }
        self.execute(state, outputs, out);
        true
    }

    /// A timer fired: a node timer, a crash or a restart.
    pub fn fire(&self, state: &mut NodeState, timer: ModelTimer, out: &mut Out<ModelActor>) {
        match timer {
            ModelTimer::Node(timer) => {
                state.armed.remove(&timer);
                if let Some(slot) = periodic_slot(timer) {
                    state.fired[slot] = state.fired[slot].saturating_add(1);
                }
                self.step(state, Input::Timeout(timer), out);
            }
            ModelTimer::Crash => self.crash(state, out),
            ModelTimer::Restart => {
                if let Host::Down(store) = state.host.get() {
                    let store = store.clone();
                    self.boot(store, state, out);
                }
            }
        }
    }

    /// Lose the node's volatile state; its store keeps what was synced (all of it:
    /// the driver syncs after every step).
    fn crash(&self, state: &mut NodeState, out: &mut Out<ModelActor>) {
        let Some(node) = state.node() else {
            return;
        };
        let mut store = node.store().clone();
        store.crash();
        state.host.set(Host::Down(store));
        state.crashes += 1;
        for timer in std::mem::take(&mut state.armed) {
            out.cancel_timer(ModelTimer::Node(timer));
        }
        out.set_timer(ModelTimer::Restart, model_timeout());
    }

    /// The key of a client command (or forwarded put) this node coordinates while it
    /// suspects one of the key's home replicas.
    fn sloppy_key(&self, node: &Node<MemoryStore>, input: &Input) -> Option<Key> {
        let command = match input {
            Input::Client { command, .. } => command,
            Input::Peer {
                message: Message::Forward { command, .. },
                ..
            } => command,
            _ => return None,
        };
        let (Command::Get { key, .. } | Command::Put { key, .. }) = command else {
            return None;
        };
        let ring = node.membership().ring()?;
        let homes = ring.home_replicas(ring.partition_of_key(key), self.model.replication_factor);
        homes
            .iter()
            .any(|home| node.suspected().contains(home))
            .then(|| key.clone())
    }

    /// Map the step's outputs one to one onto stateright commands.
    fn execute(&self, state: &mut NodeState, outputs: Vec<Output>, out: &mut Out<ModelActor>) {
        for output in outputs {
            match output {
                Output::Send { to, message } => {
                    let to = Id::from(node_index(to));
                    out.send(to, Msg::new(Body::Peer(message)));
                }
                Output::Reply { request, reply } => {
                    let to = Id::from(self.model.client_actor(client_of(request)));
                    out.send(to, Msg::new(Body::Reply { request, reply }));
                }
                Output::SetTimer { timer, .. } => {
                    if self.may_arm(state, timer) {
                        state.armed.insert(timer);
                        out.set_timer(ModelTimer::Node(timer), model_timeout());
                    }
                }
                Output::CancelTimer { timer } => {
                    state.armed.remove(&timer);
                    out.cancel_timer(ModelTimer::Node(timer));
                }
            }
        }
    }

    /// The boundary: a periodic timer is re-armed only while it has rounds left.
    fn may_arm(&self, state: &NodeState, timer: Timer) -> bool {
        match (
            self.model.rounds_of(self.index).limit(timer),
            periodic_slot(timer),
        ) {
            (Some(limit), Some(slot)) => state.fired[slot] < limit,
            (Some(limit), None) => limit > 0,
            (None, _) => true,
        }
    }
}

/// One step of `node`, then the sync every driver owes the core (group commit: what
/// the step wrote is durable before any output leaves), then, if `check` and the step
/// wrote, the full invariants (they rebuild every Merkle tree: only worth it after a
/// write). Returns the outputs and the invariant the step broke, if any.
fn step_synced(
    node: &mut Node<MemoryStore>,
    input: Input,
    check: bool,
) -> (Vec<Output>, Option<String>) {
    let outputs = node.step(input);
    let wrote = node.store().unsynced_writes() > 0;
    node.store_mut().sync().expect("memory store syncs");
    let broken = if wrote && check {
        full_invariants(node).err()
    } else {
        None
    };
    (outputs, broken)
}

/// Most results [`full_invariants`] remembers per thread before it starts afresh.
const FULL_CHECKS_REMEMBERED: usize = 1 << 16;

thread_local! {
    /// Fingerprints of (store, live Merkle roots) that passed the full check.
    static FULL_CHECKS_PASSED: RefCell<HashSet<u64>> = RefCell::new(HashSet::new());
}

/// `Node::check_invariants_full`, remembered. The full check rebuilds every Merkle
/// tree from the store (an MD5 per leaf): a fifth of the checker's time when run after
/// every writing step. Its costly part is a function of the store and the live tree
/// roots alone, and a run writes few distinct stores, so a pass is remembered by a
/// fingerprint of both; the cheap checks of volatile state run every time.
fn full_invariants(node: &Node<MemoryStore>) -> Result<(), String> {
    node.check_invariants().map_err(|e| e.to_string())?;
    let mut hasher = DefaultHasher::new();
    node.store().hash(&mut hasher);
    for partition in 0..node.config().ring.partitions {
        let root = node.tree(PartitionId(partition)).map(|tree| tree.root());
        root.hash(&mut hasher);
    }
    let fingerprint = hasher.finish();
    if FULL_CHECKS_PASSED.with(|passed| passed.borrow().contains(&fingerprint)) {
        return Ok(());
    }
    node.check_invariants_full().map_err(|e| e.to_string())?;
    FULL_CHECKS_PASSED.with(|passed| {
        let mut passed = passed.borrow_mut();
        if passed.len() >= FULL_CHECKS_REMEMBERED {
            passed.clear();
        }
        passed.insert(fingerprint);
    });
    Ok(())
}

/// The `fired` slot of a bounded periodic timer.
fn periodic_slot(timer: Timer) -> Option<usize> {
    match timer {
        Timer::Gossip => Some(0),
        Timer::AntiEntropy => Some(1),
        Timer::Handoff => Some(2),
        Timer::Request(_) | Timer::Transfer => None,
    }
}

/// Client request ids carry the client's index in their high half.
pub fn request_id(client: usize, op: usize) -> u64 {
    ((client as u64) << 32) | op as u64
}

/// The client index of a request id.
pub fn client_of(request: u64) -> usize {
    (request >> 32) as usize
}
