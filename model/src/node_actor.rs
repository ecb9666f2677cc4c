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
use crate::msg::{Body, Msg};
use dynamo_core::message::{Command, Input, Message, Output, Timer};
use dynamo_core::node::{Node, NodeConfig, NodeStats};
use dynamo_core::store::{MemoryStore, Store};
use dynamo_core::types::Key;
use dynamo_core::version::Siblings;
use stateright::actor::{model_timeout, Id, Out};
use std::collections::BTreeSet;
use std::fmt;

/// The timers of a node actor: the node's own, and the model's crash and restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ModelTimer {
    Node(Timer),
    Crash,
    Restart,
}

/// A node that runs, or the durable store of one that crashed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Host {
    Up(Box<Node<MemoryStore>>),
    Down(MemoryStore),
}

/// A summary, not the whole node: the Explorer and counterexamples show states with
/// `Debug`, and a node's Merkle trees alone are hundreds of lines.
impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (state, store) = match self {
            Host::Up(node) => ("up", node.store()),
            Host::Down(store) => ("down", store),
        };
        let replicas: Vec<String> = store
            .replicas()
            .map(|(partition, key, siblings)| {
                format!(
                    "{partition} {}: {}",
                    String::from_utf8_lossy(key),
                    show(siblings)
                )
            })
            .collect();
        let hints: Vec<String> = store
            .hints(None, usize::MAX)
            .unwrap_or_default()
            .iter()
            .map(|(hint, siblings)| {
                let key = String::from_utf8_lossy(&hint.key);
                format!("for {} {key}: {}", hint.target, show(siblings))
            })
            .collect();
        let mut out = f.debug_struct(state);
        if let Host::Up(node) = self {
            out.field("actor", &format_args!("{}", node.actor()))
                .field("in_flight", &node.in_flight())
                .field("suspected", node.suspected())
                .field("stats", &format_args!("{}", counters(node.stats())));
        }
        out.field("replicas", &replicas)
            .field("hints", &hints)
            .finish()
    }
}

/// The node's non-zero counters that tell a story, as `name=value`.
fn counters(stats: &NodeStats) -> String {
    let named = [
        ("gets", stats.gets),
        ("puts", stats.puts),
        ("forwarded", stats.forwarded),
        ("quorum_failures", stats.quorum_failures),
        ("timeouts", stats.timeouts),
        ("read_repairs", stats.read_repairs),
        ("hints_stored", stats.hints_stored),
        ("hints_delivered", stats.hints_delivered),
        (
            "anti_entropy_keys_repaired",
            stats.anti_entropy_keys_repaired,
        ),
        ("ignored_messages", stats.ignored_messages),
        ("actor_renewals", stats.actor_renewals),
    ];
    let shown: Vec<String> = named
        .iter()
        .filter(|(_, value)| *value > 0)
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    shown.join(" ")
}

/// A sibling set as `{dot: value, ...} clock`.
fn show(siblings: &Siblings) -> String {
    let parts: Vec<String> = siblings
        .iter()
        .map(|sibling| match sibling.content.value() {
            Some(value) => format!("{}: {value:?}", sibling.dot),
            None => format!("{}: deleted", sibling.dot),
        })
        .collect();
    format!("{{{}}} clock {}", parts.join(", "), siblings.clock())
}

/// A node actor's state: the node and what the model tracks about it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeState {
    pub host: Host,
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
        match &self.host {
            Host::Up(node) => Some(node),
            Host::Down(_) => None,
        }
    }

    /// The node's store: live if it runs, durable if it crashed.
    pub fn store(&self) -> &MemoryStore {
        match &self.host {
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
        state.host = Host::Up(Box::new(node));
        self.execute(state, outputs, out);
        if state.crashes < self.model.crashes {
            out.set_timer(ModelTimer::Crash, model_timeout());
        }
    }

    pub fn start(&self, out: &mut Out<ModelActor>) -> NodeState {
        let mut state = NodeState {
            host: Host::Down(MemoryStore::new()),
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
        let Host::Up(node) = &mut state.host else {
            return false;
        };
        if let Some(key) = self.sloppy_key(node, &input) {
            state.sloppy.insert(key);
        }
        let outputs = node.step(input);
        let wrote = node.store().unsynced_writes() > 0;
        // Group commit: what this step wrote is durable before any output leaves.
        node.store_mut().sync().expect("memory store syncs");
        // The full check rebuilds every Merkle tree: only worth it after a write.
        if wrote && state.broken.is_none() && self.model.full_invariants {
            state.broken = node.check_invariants_full().err();
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
                if let Host::Down(store) = &state.host {
                    let store = store.clone();
                    self.boot(store, state, out);
                }
            }
        }
    }

    /// Lose the node's volatile state; its store keeps what was synced (all of it:
    /// the driver syncs after every step).
    fn crash(&self, state: &mut NodeState, out: &mut Out<ModelActor>) {
        let Host::Up(node) = &state.host else {
            return;
        };
        let mut store = node.store().clone();
        store.crash();
        state.host = Host::Down(store);
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
