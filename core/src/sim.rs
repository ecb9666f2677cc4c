//! A seeded, deterministic simulator of a whole cluster of real [`Node`]s.
//!
//! The simulator is a driver like the server: it feeds inputs to `Node::step`, syncs
//! each node's [`MemoryStore`] after every step (group commit: replies and messages
//! leave only after the writes of their step are durable) and executes the outputs.
//! Its network delays, loses, duplicates and reorders messages according to
//! [`Faults`], and can cut links (`partition`, `isolate`, `heal`). Nodes can `crash`
//! (volatile state lost; unsynced writes lost, as a real crash would) and `restart`
//! from their store. Clients issue gets and puts through chosen coordinators, and every
//! invocation and reply lands in a [`History`] that [`check`] verifies.
//!
//! Members may differ in weight and zone (Dynamo §4.2: heterogeneity, a node's share of
//! partitions follows its capacity; §4.3: replicas in distinct failure domains):
//! [`Sim::with_members`] and [`Sim::add_member`]. [`Sim::new`] is the homogeneous case.
//!
//! Everything random comes from one seed, so any run replays exactly from its seed.
//!
//! Invariants:
//! - node ids are `1..=members` for the cluster bootstrapped together, and a node's
//!   weight and zone never change (they live in its configuration, kept across crashes);
//! - `Sim::new(seed, n, config)` is `Sim::with_members(seed, vec![SimMember::default(); n],
//!   config)`, event for event.

use crate::clock::VersionVector;
use crate::membership::MemberInfo;
use crate::message::{Command, Input, Message, Output, Quorum, Reply, RequestId, Timer};
use crate::node::{member, Mutant, Node, NodeConfig};
use crate::prng::Prng;
use crate::store::{MemoryStore, Store};
use crate::types::{Key, NodeId};
use crate::version::{Content, Siblings};
use std::collections::{BTreeMap, BTreeSet};

pub mod checker;
pub use checker::{check, Violations};

/// Network behaviour, in parts per million and milliseconds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Faults {
    pub loss_ppm: u32,
    pub duplicate_ppm: u32,
    pub delay_min_ms: u64,
    pub delay_max_ms: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            loss_ppm: 0,
            duplicate_ppm: 0,
            delay_min_ms: 1,
            delay_max_ms: 10,
        }
    }
}

/// A simulated member's capacity and failure domain, as the claim sees them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SimMember {
    /// Relative capacity, `1..=ring::WEIGHT_MAX`: the share of partitions it owns.
    pub weight: u32,
    /// Failure domain; `None` is a zone of its own.
    pub zone: Option<String>,
}

impl SimMember {
    pub fn new(weight: u32, zone: Option<&str>) -> Self {
        Self {
            weight,
            zone: zone.map(str::to_string),
        }
    }

    /// The member entry a node is configured with (address is only a label here).
    fn info(&self, id: NodeId) -> MemberInfo {
        MemberInfo {
            zone: self.zone.clone(),
            ..member(&format!("sim-{id}"), self.weight)
        }
    }
}

impl Default for SimMember {
    fn default() -> Self {
        Self {
            weight: 1,
            zone: None,
        }
    }
}

/// A client operation as recorded in the history.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Get {
        key: Key,
    },
    Put {
        key: Key,
        context: VersionVector,
        value: Option<Vec<u8>>,
    },
    /// A set: a put over whatever its read quorum returns (`None`: a delete).
    /// [`check`] counts its value as written; its durability is not checked, as the
    /// context it wrote over is not known to the client (its parts, get and put, are).
    Set {
        key: Key,
        value: Option<Vec<u8>>,
    },
    Join {
        node: NodeId,
    },
    Leave {
        node: NodeId,
    },
}

/// One client operation: what was asked, through whom, and what came back.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Record {
    pub id: u64,
    pub coordinator: NodeId,
    pub op: Op,
    pub invoked_ms: u64,
    /// `None`: no reply (yet, or ever: the coordinator crashed) — outcome unknown.
    pub reply: Option<(u64, Reply)>,
}

pub type History = Vec<Record>;

/// Why a run stopped without going quiet.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Livelock {
    pub steps: usize,
    pub in_flight_messages: usize,
}

/// A simulator event, as observers see it (the visualiser draws these).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    Deliver {
        to: NodeId,
        from: NodeId,
        message: Message,
    },
    Fire {
        node: NodeId,
        timer: Timer,
        generation: u64,
    },
}

#[derive(Clone, Debug)]
struct Host {
    config: NodeConfig,
    node: Option<Node<MemoryStore>>,
    /// The store while the node is down.
    disk: Option<MemoryStore>,
    /// Armed timers and their generation (a re-armed timer invalidates older firings).
    timers: BTreeMap<Timer, u64>,
    /// Client requests this node coordinates: driver request id -> history index.
    requests: BTreeMap<RequestId, usize>,
}

/// The simulated cluster.
#[derive(Clone, Debug)]
pub struct Sim {
    hosts: BTreeMap<NodeId, Host>,
    queue: BTreeMap<(u64, u64), Event>,
    now_ms: u64,
    sequence: u64,
    generation: u64,
    prng: Prng,
    faults: Faults,
    cut: BTreeSet<(NodeId, NodeId)>,
    history: History,
    mutant: Mutant,
    steps: usize,
    /// The event `step` processed last, and whether it reached a running node.
    last: Option<(Event, bool)>,
}

/// A message on the wire: sent, not yet delivered (or dropped on arrival).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InFlight<'a> {
    pub deliver_at_ms: u64,
    pub from: NodeId,
    pub to: NodeId,
    pub message: &'a Message,
}

impl Sim {
    /// A cluster of `nodes` bootstrapped together with `config` as the template, every
    /// member of weight 1 and in no zone.
    pub fn new(seed: u64, nodes: u32, config: NodeConfig) -> Self {
        Self::with_members(seed, vec![SimMember::default(); nodes as usize], config)
    }

    /// A cluster bootstrapped together: node `i + 1` is `members[i]`.
    ///
    /// # Panics
    /// If the core refuses the cluster (a weight or zone out of its limits, or too few
    /// partitions for these weights): check with `ring::Ring::new` first.
    pub fn with_members(seed: u64, members: Vec<SimMember>, config: NodeConfig) -> Self {
        let members: BTreeMap<NodeId, MemberInfo> = (1..)
            .zip(members)
            .map(|(id, shape)| (NodeId(id), shape.info(NodeId(id))))
            .collect();
        let mut sim = Self {
            hosts: BTreeMap::new(),
            queue: BTreeMap::new(),
            now_ms: 0,
            sequence: 0,
            generation: 0,
            prng: Prng::new(seed),
            faults: Faults::default(),
            cut: BTreeSet::new(),
            history: Vec::new(),
            mutant: Mutant::None,
            steps: 0,
            last: None,
        };
        for id in members.keys() {
            let mut node_config = config.clone();
            node_config.initial_members = members.clone();
            node_config.me = members[id].clone();
            node_config.seed = seed.wrapping_add(u64::from(id.0));
            sim.add_host(*id, node_config);
        }
        sim
    }

    /// Start a new node of weight 1 in no zone that will join through `seeds` (an
    /// operator must `join` it).
    pub fn add_node(&mut self, id: NodeId, seeds: Vec<NodeId>) {
        self.add_member(id, seeds, SimMember::default());
    }

    /// Start a new node of `shape`'s weight and zone that will join through `seeds`;
    /// the `join` that puts it into the ring gives it a share by that weight.
    pub fn add_member(&mut self, id: NodeId, seeds: Vec<NodeId>, shape: SimMember) {
        let template = self
            .hosts
            .values()
            .next()
            .expect("a cluster has nodes")
            .config
            .clone();
        let config = NodeConfig {
            initial_members: BTreeMap::new(),
            seeds,
            me: shape.info(id),
            seed: template.seed.wrapping_add(u64::from(id.0) << 8),
            ..template
        };
        self.add_host(id, config);
    }

    fn add_host(&mut self, id: NodeId, config: NodeConfig) {
        let host = Host {
            config,
            node: None,
            disk: Some(MemoryStore::new()),
            timers: BTreeMap::new(),
            requests: BTreeMap::new(),
        };
        self.hosts.insert(id, host);
        self.restart(id);
    }

    /// Every node built from now on runs this deliberately broken variant.
    pub fn set_mutant(&mut self, mutant: Mutant) {
        self.mutant = mutant;
        for host in self.hosts.values_mut() {
            if let Some(node) = &mut host.node {
                node.set_mutant(mutant);
            }
        }
    }

    pub fn set_faults(&mut self, faults: Faults) {
        self.faults = faults;
    }

    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    pub fn history(&self) -> &History {
        &self.history
    }

    pub fn node_ids(&self) -> Vec<NodeId> {
        self.hosts.keys().copied().collect()
    }

    pub fn node(&self, id: NodeId) -> Option<&Node<MemoryStore>> {
        self.hosts.get(&id).and_then(|h| h.node.as_ref())
    }

    pub fn is_up(&self, id: NodeId) -> bool {
        self.node(id).is_some()
    }

    /// The weight and zone `id` was started with, whether it is up, down or not yet in
    /// the ring.
    pub fn member(&self, id: NodeId) -> Option<SimMember> {
        let me = &self.hosts.get(&id)?.config.me;
        Some(SimMember {
            weight: me.weight,
            zone: me.zone.clone(),
        })
    }

    // ----- faults -----

    /// Cut the link between `a` and `b` in both directions.
    pub fn partition(&mut self, a: NodeId, b: NodeId) {
        self.cut.insert((a, b));
        self.cut.insert((b, a));
    }

    /// Cut `node` off from every other node.
    pub fn isolate(&mut self, node: NodeId) {
        for other in self.node_ids() {
            if other != node {
                self.partition(node, other);
            }
        }
    }

    /// Restore every link and stop losing or duplicating messages.
    pub fn heal(&mut self) {
        self.cut.clear();
        self.faults.loss_ppm = 0;
        self.faults.duplicate_ppm = 0;
    }

    /// Crash `node`: its volatile state and unsynced writes are lost; its pending
    /// client requests never get a reply (their outcome stays unknown).
    pub fn crash(&mut self, id: NodeId) {
        let Some(host) = self.hosts.get_mut(&id) else {
            return;
        };
        if let Some(node) = host.node.take() {
            let mut store = node.into_store();
            store.crash();
            host.disk = Some(store);
        }
        host.timers.clear();
        host.requests.clear();
    }

    /// Crash `node` and lose its disk for good (a replaced drive, a wiped data
    /// directory): it restarts from an empty store with a fresh seed, as a new process
    /// draws new OS randomness.
    pub fn wipe(&mut self, id: NodeId) {
        self.crash(id);
        let seed = self.prng.next_u64();
        let Some(host) = self.hosts.get_mut(&id) else {
            return;
        };
        host.disk = Some(MemoryStore::default());
        host.config.seed = seed;
        self.restart(id);
    }

    /// Restart a crashed node from its store.
    pub fn restart(&mut self, id: NodeId) {
        let mutant = self.mutant;
        let Some(host) = self.hosts.get_mut(&id) else {
            return;
        };
        let Some(store) = host.disk.take() else {
            return;
        };
        let mut node = Node::new(id, host.config.clone(), store).expect("simulated node starts");
        node.set_mutant(mutant);
        node.store_mut().sync().expect("memory store syncs");
        let outputs = node.start();
        host.node = Some(node);
        self.execute(id, outputs);
    }

    // ----- clients -----

    /// Issue a get through `coordinator`; returns the history index.
    pub fn get(&mut self, coordinator: NodeId, key: &[u8]) -> usize {
        let command = Command::Get {
            key: key.to_vec(),
            quorum: Quorum::default(),
        };
        self.invoke(coordinator, Op::Get { key: key.to_vec() }, command)
    }

    /// Issue a put (`None`: a delete) through `coordinator`; returns the history index.
    pub fn put(
        &mut self,
        coordinator: NodeId,
        key: &[u8],
        context: VersionVector,
        value: Option<Vec<u8>>,
    ) -> usize {
        let content = value.clone().map_or(Content::Tombstone, Content::Value);
        let command = Command::Put {
            key: key.to_vec(),
            context: context.clone(),
            content,
            quorum: Quorum::default(),
        };
        self.invoke(
            coordinator,
            Op::Put {
                key: key.to_vec(),
                context,
                value,
            },
            command,
        )
    }

    /// Issue a set (`None`: a delete) through `coordinator`; returns the history index.
    pub fn set(&mut self, coordinator: NodeId, key: &[u8], value: Option<Vec<u8>>) -> usize {
        let content = value.clone().map_or(Content::Tombstone, Content::Value);
        let command = Command::Set {
            key: key.to_vec(),
            content,
            quorum: Quorum::default(),
        };
        let key = key.to_vec();
        self.invoke(coordinator, Op::Set { key, value }, command)
    }

    /// Issue a delete (`Command::Delete`: writes a tombstone only over a live value)
    /// through `coordinator`; recorded like a set of `None`.
    pub fn delete(&mut self, coordinator: NodeId, key: &[u8]) -> usize {
        let command = Command::Delete {
            key: key.to_vec(),
            quorum: Quorum::default(),
        };
        let key = key.to_vec();
        self.invoke(coordinator, Op::Set { key, value: None }, command)
    }

    /// Operator commands, through `coordinator`.
    pub fn join(&mut self, coordinator: NodeId, node: NodeId) -> usize {
        self.invoke(coordinator, Op::Join { node }, Command::Join { node })
    }

    pub fn leave(&mut self, coordinator: NodeId, node: NodeId) -> usize {
        self.invoke(coordinator, Op::Leave { node }, Command::Leave { node })
    }

    /// Remove `node`, gone for good (`Command::Remove`), through `coordinator`.
    pub fn remove(&mut self, coordinator: NodeId, node: NodeId) -> usize {
        self.invoke(coordinator, Op::Leave { node }, Command::Remove { node })
    }

    fn invoke(&mut self, coordinator: NodeId, op: Op, command: Command) -> usize {
        let index = self.history.len();
        let id = index as u64;
        self.history.push(Record {
            id,
            coordinator,
            op,
            invoked_ms: self.now_ms,
            reply: None,
        });
        let Some(host) = self.hosts.get_mut(&coordinator) else {
            return index;
        };
        if host.node.is_none() {
            return index;
        }
        host.requests.insert(id, index);
        self.step_node(
            coordinator,
            Input::Client {
                request: id,
                command,
            },
        );
        index
    }

    /// The reply to history entry `index`, if any.
    pub fn reply(&self, index: usize) -> Option<&Reply> {
        self.history
            .get(index)
            .and_then(|r| r.reply.as_ref())
            .map(|(_, reply)| reply)
    }

    // ----- running -----

    /// Process the next event; false when there is none.
    pub fn step(&mut self) -> bool {
        let Some((&(at, seq), _)) = self.queue.iter().next() else {
            return false;
        };
        let event = self.queue.remove(&(at, seq)).expect("present");
        self.now_ms = self.now_ms.max(at);
        self.steps += 1;
        let reached = match &event {
            Event::Deliver { to, from, message } => {
                let up = self.is_up(*to);
                if up {
                    let input = Input::Peer {
                        from: *from,
                        message: message.clone(),
                    };
                    self.step_node(*to, input);
                }
                up
            }
            Event::Fire {
                node,
                timer,
                generation,
            } => self.fire(*node, *timer, *generation),
        };
        self.last = Some((event, reached));
        true
    }

    /// Fire `timer` on `node` if this firing is still the armed one.
    fn fire(&mut self, node: NodeId, timer: Timer, generation: u64) -> bool {
        let host = self.hosts.get_mut(&node).expect("exists");
        if host.timers.get(&timer) != Some(&generation) {
            return false;
        }
        host.timers.remove(&timer);
        self.step_node(node, Input::Timeout(timer));
        true
    }

    /// The event the last `step` processed, and whether it reached a running node
    /// (a message to a crashed node, or a timer that was re-armed since, does not).
    pub fn last_event(&self) -> Option<(&Event, bool)> {
        self.last.as_ref().map(|(event, reached)| (event, *reached))
    }

    /// Messages sent and not yet delivered, in delivery order.
    pub fn in_flight(&self) -> impl Iterator<Item = InFlight<'_>> + '_ {
        self.queue
            .iter()
            .filter_map(|(&(at, _), event)| match event {
                Event::Deliver { to, from, message } => Some(InFlight {
                    deliver_at_ms: at,
                    from: *from,
                    to: *to,
                    message,
                }),
                Event::Fire { .. } => None,
            })
    }

    /// Run until simulated time reaches `now + duration_ms`.
    pub fn run_for(&mut self, duration_ms: u64) {
        let until = self.now_ms + duration_ms;
        while let Some((&(at, _), _)) = self.queue.iter().next() {
            if at > until {
                break;
            }
            self.step();
        }
        self.now_ms = until;
    }

    /// Run until no message is in flight and every client request has its reply
    /// (periodic timers aside). `Err` reports a livelock after `max_steps`.
    pub fn run_until_quiet(&mut self, max_steps: usize) -> Result<usize, Livelock> {
        for steps in 0..max_steps {
            if self.quiet() {
                return Ok(steps);
            }
            self.step();
        }
        let in_flight_messages = self
            .queue
            .values()
            .filter(|e| matches!(e, Event::Deliver { .. }))
            .count();
        Err(Livelock {
            steps: max_steps,
            in_flight_messages,
        })
    }

    fn quiet(&self) -> bool {
        let messages = self
            .queue
            .values()
            .any(|e| matches!(e, Event::Deliver { .. }));
        let waiting = self.hosts.values().any(|h| !h.requests.is_empty());
        !messages && !waiting
    }

    fn step_node(&mut self, id: NodeId, input: Input) {
        let host = self.hosts.get_mut(&id).expect("host exists");
        let node = host.node.as_mut().expect("node is up");
        let outputs = node.step(input);
        // Group commit: the step's writes are durable before any output leaves.
        node.store_mut().sync().expect("memory store syncs");
        self.execute(id, outputs);
    }

    fn execute(&mut self, id: NodeId, outputs: Vec<Output>) {
        for output in outputs {
            match output {
                Output::Send { to, message } => self.transmit(id, to, message),
                Output::Reply { request, reply } => self.complete(id, request, reply),
                Output::SetTimer { timer, after_ms } => self.arm(id, timer, after_ms),
                Output::CancelTimer { timer } => {
                    self.hosts
                        .get_mut(&id)
                        .expect("exists")
                        .timers
                        .remove(&timer);
                }
            }
        }
    }

    fn transmit(&mut self, from: NodeId, to: NodeId, message: Message) {
        if self.cut.contains(&(from, to))
            || !self.hosts.contains_key(&to)
            || self.chance(self.faults.loss_ppm)
        {
            return;
        }
        let copies = if self.chance(self.faults.duplicate_ppm) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let spread = self
                .faults
                .delay_max_ms
                .saturating_sub(self.faults.delay_min_ms)
                + 1;
            let delay = self.faults.delay_min_ms + self.prng.below(spread);
            self.schedule(
                self.now_ms + delay,
                Event::Deliver {
                    to,
                    from,
                    message: message.clone(),
                },
            );
        }
    }

    fn complete(&mut self, id: NodeId, request: RequestId, reply: Reply) {
        let host = self.hosts.get_mut(&id).expect("exists");
        if let Some(index) = host.requests.remove(&request) {
            self.history[index].reply = Some((self.now_ms, reply));
        }
    }

    fn arm(&mut self, id: NodeId, timer: Timer, after_ms: u64) {
        self.generation += 1;
        let generation = self.generation;
        self.hosts
            .get_mut(&id)
            .expect("exists")
            .timers
            .insert(timer, generation);
        self.schedule(
            self.now_ms + after_ms,
            Event::Fire {
                node: id,
                timer,
                generation,
            },
        );
    }

    fn schedule(&mut self, at: u64, event: Event) {
        self.sequence += 1;
        self.queue.insert((at, self.sequence), event);
    }

    fn chance(&mut self, ppm: u32) -> bool {
        ppm > 0 && self.prng.below(1_000_000) < u64::from(ppm)
    }

    // ----- inspection -----

    /// The merged sibling set of `key` over the given nodes' replica stores.
    pub fn merged_replicas(&self, key: &[u8], nodes: &[NodeId]) -> Siblings {
        let mut merged = Siblings::new();
        for id in nodes {
            if let Some(siblings) = self.stored(*id, key) {
                merged.sync(&siblings);
            }
        }
        merged
    }

    /// What `node`'s replica store holds for `key` (whether the node is up or down).
    pub fn stored(&self, id: NodeId, key: &[u8]) -> Option<Siblings> {
        let host = self.hosts.get(&id)?;
        let store = host.node.as_ref().map(Node::store).or(host.disk.as_ref())?;
        let partition = crate::hash::partition_of_key(key, host.config.ring.partitions);
        store.get(partition, key).ok().flatten()
    }

    /// Hints held anywhere for `key`, merged.
    pub fn hinted(&self, key: &[u8]) -> Siblings {
        let mut merged = Siblings::new();
        for host in self.hosts.values() {
            let Some(store) = host.node.as_ref().map(Node::store).or(host.disk.as_ref()) else {
                continue;
            };
            for (hint, siblings) in store.hints(None, usize::MAX).unwrap_or_default() {
                if hint.key == key {
                    merged.sync(&siblings);
                }
            }
        }
        merged
    }

    /// The home replicas of `key` in the ring of the first running node.
    pub fn homes(&self, key: &[u8]) -> Vec<NodeId> {
        let Some(node) = self.hosts.values().find_map(|h| h.node.as_ref()) else {
            return Vec::new();
        };
        let Some(ring) = node.membership().ring() else {
            return Vec::new();
        };
        ring.home_replicas(
            ring.partition_of_key(key),
            node.config().ring.replication_factor,
        )
    }

    /// The whole preference list of `key` (homes, then fallbacks) in the ring of the
    /// first running node.
    pub fn preference_list(&self, key: &[u8]) -> Vec<NodeId> {
        let ring = self
            .hosts
            .values()
            .find_map(|h| h.node.as_ref())
            .and_then(|node| node.membership().ring());
        ring.map_or(Vec::new(), |ring| {
            let list = ring.preference_list(ring.partition_of_key(key));
            list.nodes().to_vec()
        })
    }
}
