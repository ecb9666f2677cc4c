//! The node: Dynamo's protocol as one deterministic state machine (Dynamo §4.5-§4.9).
//!
//! A [`Node`] owns its protocol state and its [`Store`]; a driver feeds it [`Input`]s
//! through [`Node::step`] and executes the returned [`Output`]s. The handlers live in
//! one file per concern: `coordinator.rs` (get/put, §4.5), `handoff.rs` (§4.6),
//! `antientropy.rs` (§4.7), `gossip.rs` (§4.8 membership and failure detection),
//! `transfer.rs` (§4.9 partition transfer).
//!
//! Invariants (checked by [`Node::check_invariants`] after every step in debug builds):
//! - `step` never panics on peer input: stale, duplicated, unexpected or malformed
//!   messages are ignored and counted in [`NodeStats::ignored_messages`].
//! - Every in-flight request has exactly one armed `Timer::Request`, and is forgotten
//!   when it completes or times out, so memory is bounded by `IN_FLIGHT_MAX`.
//! - The hint store never holds more than `hints_max` hints.
//! - Each dot minted by this node is fresh: dots are `(actor, counter)` with a counter
//!   that only grows within an incarnation, and every start takes a new incarnation.
//! - A node mints with its current actor only into its own home copy of the key, which
//!   holds every earlier dot of that actor for the key; otherwise it renews the actor
//!   first (`renew_actor`).

use crate::clock::Dot;
use crate::membership::{MemberInfo, MemberStatus, Membership};
use crate::merkle::{key_digest, MerkleTree};
use crate::message::{Command, Failure, Input, Message, Output, RequestId, Timer};
use crate::prng::Prng;
use crate::ring::{Ring, RingConfig, RingError, RingMember};
use crate::store::{Store, StoreError};
use crate::types::{limits, ActorId, Key, NodeId, PartitionId};
use crate::version::Siblings;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use thiserror::Error;

pub(crate) use crate::coordinator::{GetRound, Origin, PutRound};
pub use crate::transfer::TransferStatus;
pub(crate) use crate::transfer::{Outgoing, PlannedTransfer};

/// Most client requests a node coordinates at once; past it, `Failure::Overloaded`.
pub const IN_FLIGHT_MAX: usize = 4096;
/// Metadata names in the store.
const META_INCARNATION: &str = "incarnation";
const META_MEMBERSHIP: &str = "membership";
/// Format version of the persisted membership.
const MEMBERSHIP_FORMAT: u8 = 1;

/// Cluster and node settings. `validate` before use.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NodeConfig {
    /// Partitions and the cluster's replication factor N.
    pub ring: RingConfig,
    /// R: replies a get waits for.
    pub read_quorum: usize,
    /// W: acknowledgements a put waits for (the coordinator's own write counts).
    pub write_quorum: usize,
    pub request_timeout_ms: u64,
    pub gossip_interval_ms: u64,
    pub anti_entropy_interval_ms: u64,
    pub handoff_interval_ms: u64,
    pub transfer_interval_ms: u64,
    /// Most hints held for unreachable nodes; past it, hinted writes are refused.
    pub hints_max: usize,
    /// Hints delivered per handoff round.
    pub handoff_batch: usize,
    /// Keys per partition-transfer chunk.
    pub transfer_chunk_keys: usize,
    /// Entries exchanged per anti-entropy message.
    pub anti_entropy_keys_max: usize,
    /// This node's entry: address, weight, zone (status and version are ignored).
    pub me: MemberInfo,
    /// Members of a cluster bootstrapped together (all start in the ring, epoch 1).
    /// Empty for a node that joins an existing cluster through `seeds`.
    pub initial_members: BTreeMap<NodeId, MemberInfo>,
    /// Nodes to gossip with while this node knows no other member.
    pub seeds: Vec<NodeId>,
    /// Seed of the node's PRNG (gossip peers, anti-entropy partners).
    pub seed: u64,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            ring: RingConfig::default(),
            read_quorum: 2,
            write_quorum: 2,
            request_timeout_ms: 1_000,
            gossip_interval_ms: 1_000,
            anti_entropy_interval_ms: 2_000,
            handoff_interval_ms: 500,
            transfer_interval_ms: 200,
            hints_max: 100_000,
            handoff_batch: 64,
            transfer_chunk_keys: 256,
            anti_entropy_keys_max: 256,
            me: member("", 1),
            initial_members: BTreeMap::new(),
            seeds: Vec::new(),
            seed: 0,
        }
    }
}

/// A member entry for configuration: status and version are set by the node.
pub fn member(address: &str, weight: u32) -> MemberInfo {
    MemberInfo {
        version: 0,
        status: MemberStatus::Joining,
        address: address.to_string(),
        weight,
        zone: None,
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Error)]
pub enum ConfigError {
    #[error("bad ring config: {0}")]
    Ring(#[from] RingError),
    #[error("read_quorum {read_quorum} and write_quorum {write_quorum} must be within 1..={replication_factor}")]
    Quorum {
        read_quorum: usize,
        write_quorum: usize,
        replication_factor: usize,
    },
    #[error("{name} must be positive")]
    Zero { name: &'static str },
    #[error("the node is not in initial_members and has no seeds to join through")]
    Isolated,
}

impl NodeConfig {
    pub fn validate(&self, id: NodeId) -> Result<(), ConfigError> {
        self.ring.validate()?;
        let n = self.ring.replication_factor;
        let (r, w) = (self.read_quorum, self.write_quorum);
        if r == 0 || w == 0 || r > n || w > n {
            return Err(ConfigError::Quorum {
                read_quorum: r,
                write_quorum: w,
                replication_factor: n,
            });
        }
        let positive = [
            ("request_timeout_ms", self.request_timeout_ms as usize),
            ("gossip_interval_ms", self.gossip_interval_ms as usize),
            (
                "anti_entropy_interval_ms",
                self.anti_entropy_interval_ms as usize,
            ),
            ("handoff_interval_ms", self.handoff_interval_ms as usize),
            ("transfer_interval_ms", self.transfer_interval_ms as usize),
            ("handoff_batch", self.handoff_batch),
            ("transfer_chunk_keys", self.transfer_chunk_keys),
            ("anti_entropy_keys_max", self.anti_entropy_keys_max),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(ConfigError::Zero { name });
        }
        if !self.initial_members.contains_key(&id) && self.seeds.is_empty() {
            return Err(ConfigError::Isolated);
        }
        Ok(())
    }
}

/// Why a node could not start.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored membership is unreadable: {message}")]
    Membership { message: String },
}

/// Counters of what the node did, for metrics and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NodeStats {
    pub gets: u64,
    pub puts: u64,
    pub forwarded: u64,
    pub quorum_failures: u64,
    pub timeouts: u64,
    pub read_repairs: u64,
    pub hints_stored: u64,
    pub hints_refused: u64,
    pub hints_delivered: u64,
    pub anti_entropy_rounds: u64,
    pub anti_entropy_keys_repaired: u64,
    pub transfer_keys_sent: u64,
    pub transfer_keys_received: u64,
    pub partitions_dropped: u64,
    pub gossip_received: u64,
    pub membership_changes: u64,
    pub ignored_messages: u64,
    pub storage_errors: u64,
    /// New incarnations taken while running (coordinating off-home, dropped partitions).
    pub actor_renewals: u64,
}

/// A Dynamo node. See the crate documentation for the driving loop.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Node<S> {
    pub(crate) id: NodeId,
    pub(crate) actor: ActorId,
    pub(crate) config: NodeConfig,
    pub(crate) store: S,
    pub(crate) membership: Membership,
    pub(crate) trees: BTreeMap<PartitionId, MerkleTree>,
    pub(crate) prng: Prng,
    pub(crate) next_request: u64,
    pub(crate) dot_counter: u64,
    pub(crate) gets: BTreeMap<u64, GetRound>,
    pub(crate) puts: BTreeMap<u64, PutRound>,
    /// Puts sent on to a home replica: our request id -> the client's.
    pub(crate) forwards: BTreeMap<u64, (Origin, NodeId, bool)>,
    /// Peers that did not answer; routed around and probed until they answer.
    pub(crate) suspected: BTreeSet<NodeId>,
    /// Background requests awaiting an answer: request -> (peer, kind).
    pub(crate) awaiting: BTreeMap<u64, Awaiting>,
    /// The transfer plan of the current ring epoch.
    pub(crate) plan: Vec<PlannedTransfer>,
    pub(crate) outgoing: BTreeMap<(PartitionId, NodeId), Outgoing>,
    pub(crate) anti_entropy_cursor: u32,
    pub(crate) handoff_cursor: Option<crate::store::HintKey>,
    pub(crate) stats: NodeStats,
    pub(crate) mutant: Mutant,
}

/// A background request awaiting its answer, and whom it went to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct Awaiting {
    pub peer: NodeId,
    pub kind: AwaitKind,
    /// Background rounds this request has been waiting for.
    pub rounds: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) enum AwaitKind {
    Ping,
    Handoff {
        hint: crate::store::HintKey,
        siblings: Siblings,
    },
    Transfer {
        partition: PartitionId,
        next: Option<Key>,
        last: bool,
    },
}

/// Deliberately broken variants, so tests can prove the checkers catch real bugs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Mutant {
    #[default]
    None,
    /// Count the coordinator's own acknowledgement without writing locally.
    AckBeforeLocalWrite,
    /// Delete a hint when it is sent, not when its delivery is acknowledged.
    DeleteHintBeforeAck,
    /// Answer a get after the first reply, whatever R says.
    ReadQuorumIgnoresR,
}

impl<S: Store> Node<S> {
    /// Open a node over `store`: takes a new incarnation, loads (or bootstraps) the
    /// membership and rebuilds the Merkle trees. The driver must `sync` the store
    /// before executing any output (the new incarnation must be durable first).
    pub fn new(id: NodeId, config: NodeConfig, mut store: S) -> Result<Self, StartError> {
        config.validate(id)?;
        let incarnation = next_incarnation(&mut store)?;
        let membership = load_membership(id, &config, &store)?;
        let trees = rebuild_trees(&store)?;
        let prng =
            Prng::new(config.seed ^ u64::from(id.0).rotate_left(32) ^ u64::from(incarnation));
        let mut node = Self {
            id,
            actor: ActorId::new(id, incarnation),
            config,
            store,
            membership,
            trees,
            prng,
            next_request: 1,
            dot_counter: 0,
            gets: BTreeMap::new(),
            puts: BTreeMap::new(),
            forwards: BTreeMap::new(),
            suspected: BTreeSet::new(),
            awaiting: BTreeMap::new(),
            plan: Vec::new(),
            outgoing: BTreeMap::new(),
            anti_entropy_cursor: 0,
            handoff_cursor: None,
            stats: NodeStats::default(),
            mutant: Mutant::None,
        };
        node.announce_address();
        node.persist_membership()?;
        node.replan();
        Ok(node)
    }

    /// Switch on a deliberately broken variant (tests and the model only).
    pub fn set_mutant(&mut self, mutant: Mutant) {
        self.mutant = mutant;
    }

    /// Arm the periodic timers. Call once, right after `new`.
    pub fn start(&mut self) -> Vec<Output> {
        let mut out = Vec::new();
        self.arm(&mut out, Timer::Gossip);
        self.arm(&mut out, Timer::AntiEntropy);
        self.arm(&mut out, Timer::Handoff);
        self.arm(&mut out, Timer::Transfer);
        out
    }

    /// Apply one input. The only way protocol state changes; never panics on peer input.
    pub fn step(&mut self, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Client { request, command } => {
                self.on_command(Origin::Client(request), command, true, &mut out)
            }
            Input::Peer { from, message } => self.on_peer(from, message, &mut out),
            Input::Timeout(timer) => self.on_timer(timer, &mut out),
        }
        #[cfg(debug_assertions)]
        if let Err(broken) = self.check_invariants() {
            panic!("{}: invariant broken after step: {broken}", self.id);
        }
        out
    }

    fn on_peer(&mut self, from: NodeId, message: Message, out: &mut Vec<Output>) {
        if from == self.id {
            return self.ignore();
        }
        self.heard_from(from);
        match message {
            Message::Read {
                request,
                partition,
                key,
                hint,
            } => self.on_read(from, request, partition, key, hint, out),
            Message::ReadOk { request, siblings } => self.on_read_ok(from, request, siblings, out),
            Message::Write {
                request,
                partition,
                key,
                siblings,
                hint,
            } => self.on_write(from, request, partition, key, siblings, hint, out),
            Message::WriteOk { request } => self.on_write_ok(from, request, out),
            Message::Refused { request, .. } => self.on_refused(from, request, out),
            Message::Repair {
                partition,
                key,
                siblings,
            } => self.on_repair(partition, key, siblings),
            Message::Forward {
                request,
                command: command @ Command::Put { .. },
            } => self.on_command(Origin::Forwarded { from, request }, command, false, out),
            Message::Forward { .. } => self.ignore(),
            Message::Forwarded { request, reply } => self.on_forwarded(from, request, reply, out),
            Message::Handoff {
                request,
                hint,
                siblings,
            } => self.on_handoff(from, request, hint, siblings, out),
            Message::HandoffOk { request } => self.on_handoff_ok(from, request),
            Message::TreeLevel { partition, step } => {
                self.on_tree_level(from, partition, step, out)
            }
            Message::TreeSync {
                partition,
                leaves,
                entries,
                reply,
            } => self.on_tree_sync(from, partition, leaves, entries, reply, out),
            Message::Gossip { membership, reply } => self.on_gossip(from, *membership, reply, out),
            Message::Ping { request } => self.send(out, from, Message::Pong { request }),
            Message::Pong { request } => self.on_pong(from, request),
            Message::Transfer {
                request,
                epoch,
                partition,
                entries,
                last,
            } => self.on_transfer(from, request, epoch, partition, entries, last, out),
            Message::TransferOk {
                request,
                epoch,
                partition,
                ..
            } => self.on_transfer_ok(from, request, epoch, partition),
        }
    }

    fn on_timer(&mut self, timer: Timer, out: &mut Vec<Output>) {
        match timer {
            Timer::Request(request) => self.on_request_timeout(request, out),
            Timer::Gossip => {
                self.gossip_round(out);
                self.arm(out, Timer::Gossip);
            }
            Timer::AntiEntropy => {
                self.anti_entropy_round(out);
                self.arm(out, Timer::AntiEntropy);
            }
            Timer::Handoff => {
                self.handoff_round(out);
                self.arm(out, Timer::Handoff);
            }
            Timer::Transfer => {
                self.transfer_round(out);
                self.arm(out, Timer::Transfer);
            }
        }
    }

    fn arm(&self, out: &mut Vec<Output>, timer: Timer) {
        let after_ms = match timer {
            Timer::Request(_) => self.config.request_timeout_ms,
            Timer::Gossip => self.config.gossip_interval_ms,
            Timer::AntiEntropy => self.config.anti_entropy_interval_ms,
            Timer::Handoff => self.config.handoff_interval_ms,
            Timer::Transfer => self.config.transfer_interval_ms,
        };
        out.push(Output::SetTimer { timer, after_ms });
    }

    pub(crate) fn arm_request(&self, out: &mut Vec<Output>, request: u64) {
        self.arm(out, Timer::Request(request));
    }

    /// A request id no earlier incarnation of this node used: the incarnation in the
    /// high 32 bits, a counter in the low 32. Peers echo ids in their answers, and a
    /// late answer to a request of a previous incarnation must not be counted for a
    /// new request (the model checker found a read missing an acknowledged put that
    /// way after a restart). The counter wraps after 2^32 requests of one incarnation,
    /// long after any answer to the first could still arrive.
    pub(crate) fn mint_request(&mut self) -> u64 {
        let counter = self.next_request as u32;
        self.next_request = self.next_request.wrapping_add(1);
        (u64::from(self.actor.incarnation) << 32) | u64::from(counter)
    }

    /// Take a new incarnation, so the next dots belong to an actor that never minted
    /// before. Needed whenever this node's main store may lack one of its own current
    /// dots for a key it coordinates (it coordinates without being a home, or it
    /// dropped a partition): minting `(actor, c)` there would make the sibling set's
    /// clock claim every earlier dot of `actor`, so a sync would discard one it never
    /// saw (DVVSet assumes an actor's dots for a key reach its own replica).
    pub(crate) fn renew_actor(&mut self) -> Result<(), StoreError> {
        let incarnation = next_incarnation(&mut self.store)?;
        self.actor = ActorId::new(self.id, incarnation);
        self.dot_counter = 0;
        self.stats.actor_renewals += 1;
        Ok(())
    }

    pub(crate) fn mint_dot(&mut self) -> Dot {
        self.dot_counter += 1;
        Dot::new(self.actor, self.dot_counter)
    }

    pub(crate) fn send(&self, out: &mut Vec<Output>, to: NodeId, message: Message) {
        debug_assert_ne!(to, self.id, "a node never sends to itself");
        out.push(Output::Send { to, message });
    }

    pub(crate) fn reply(
        &self,
        out: &mut Vec<Output>,
        request: RequestId,
        reply: crate::message::Reply,
    ) {
        out.push(Output::Reply { request, reply });
    }

    pub(crate) fn ignore(&mut self) {
        self.stats.ignored_messages += 1;
    }

    pub(crate) fn storage_failed(&mut self, error: &StoreError) -> Failure {
        self.stats.storage_errors += 1;
        Failure::Storage {
            message: error.message.clone(),
        }
    }

    /// Merge `incoming` into the stored replica of `key`, keeping its Merkle tree in
    /// step. Returns the merged set and whether anything changed.
    pub(crate) fn merge_replica(
        &mut self,
        partition: PartitionId,
        key: &[u8],
        incoming: &Siblings,
    ) -> Result<(Siblings, bool), StoreError> {
        let old = self.store.get(partition, key)?;
        self.merge_replica_over(partition, key, old, incoming)
    }

    /// [`Self::merge_replica`] when the caller has just read `old` from the store
    /// in this step (a coordinator's own put): saves reading it twice.
    pub(crate) fn merge_replica_over(
        &mut self,
        partition: PartitionId,
        key: &[u8],
        old: Option<Siblings>,
        incoming: &Siblings,
    ) -> Result<(Siblings, bool), StoreError> {
        let merged = match &old {
            Some(old) => old.merged(incoming),
            None => incoming.clone(),
        };
        if old.as_ref() == Some(&merged) {
            return Ok((merged, false));
        }
        self.store.put(partition, key, &merged)?;
        let old_digest = old.as_ref().map(|old| key_digest(key, old));
        let tree = self.trees.entry(partition).or_default();
        tree.update(key, old_digest, Some(key_digest(key, &merged)));
        Ok((merged, true))
    }

    pub(crate) fn ring(&self) -> Option<&Ring> {
        self.membership.ring()
    }

    pub(crate) fn healthy(&self, node: NodeId) -> bool {
        node == self.id || !self.suspected.contains(&node)
    }

    /// A peer answered: it is reachable again.
    pub(crate) fn heard_from(&mut self, node: NodeId) {
        self.suspected.remove(&node);
    }

    /// A node restarted at a new address tells the cluster: its own entry takes the
    /// configured address with a newer version, which gossip spreads. (A concurrent
    /// operator change of the same entry may win the merge at an equal version; the
    /// next restart announces again.)
    fn announce_address(&mut self) {
        let address = &self.config.me.address;
        let Some(mine) = self.membership.member(self.id) else {
            return;
        };
        if address.is_empty() || mine.address == *address {
            return;
        }
        let info = MemberInfo {
            address: address.clone(),
            ..mine.clone()
        };
        self.membership.set_member(self.id, info);
    }

    pub(crate) fn persist_membership(&mut self) -> Result<(), StoreError> {
        let mut bytes = vec![MEMBERSHIP_FORMAT];
        let body = postcard::to_allocvec(&self.membership)
            .map_err(|error| StoreError::new(format!("encode membership: {error}")))?;
        bytes.extend_from_slice(&body);
        self.store.put_meta(META_MEMBERSHIP, &bytes)
    }

    // ----- read-only views for drivers, the simulator, the model and tests -----

    pub fn id(&self) -> NodeId {
        self.id
    }

    pub fn actor(&self) -> ActorId {
        self.actor
    }

    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// For the driver: group commit (`sync`) and durable-store maintenance.
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Consume the node, keeping its store (the simulator's crash and restart).
    pub fn into_store(self) -> S {
        self.store
    }

    pub fn stats(&self) -> &NodeStats {
        &self.stats
    }

    pub fn suspected(&self) -> &BTreeSet<NodeId> {
        &self.suspected
    }

    pub fn in_flight(&self) -> usize {
        self.gets.len() + self.puts.len() + self.forwards.len()
    }

    pub fn tree(&self, partition: PartitionId) -> Option<&MerkleTree> {
        self.trees.get(&partition)
    }

    /// Cheap structural invariants (run after every step in debug builds).
    pub fn check_invariants(&self) -> Result<(), String> {
        self.membership
            .check_invariants()
            .map_err(|e| e.to_string())?;
        if self.in_flight() > IN_FLIGHT_MAX + 1 {
            return Err(format!(
                "{} requests in flight, max {IN_FLIGHT_MAX}",
                self.in_flight()
            ));
        }
        for (request, round) in &self.gets {
            round.check().map_err(|e| format!("get {request}: {e}"))?;
        }
        for (request, round) in &self.puts {
            round.check().map_err(|e| format!("put {request}: {e}"))?;
        }
        if self.suspected.contains(&self.id) {
            return Err("a node never suspects itself".to_string());
        }
        Ok(())
    }

    /// Every invariant, including each stored sibling set and each Merkle tree against
    /// a rebuild from the store. Costs a full scan: for tests and the simulator.
    pub fn check_invariants_full(&self) -> Result<(), String> {
        self.check_invariants()?;
        let rebuilt = rebuild_trees(&self.store).map_err(|e| e.to_string())?;
        for partition in self.store.partitions().map_err(|e| e.to_string())? {
            let mut after = None;
            loop {
                let page = self
                    .store
                    .scan(partition, after.as_deref(), 256)
                    .map_err(|e| e.to_string())?;
                for (key, siblings) in &page {
                    siblings
                        .check_invariants()
                        .map_err(|e| format!("{partition} {key:?}: {e}"))?;
                }
                match page.last() {
                    Some((key, _)) if page.len() == 256 => after = Some(key.clone()),
                    _ => break,
                }
            }
            let live = self.trees.get(&partition).map(MerkleTree::root);
            let fresh = rebuilt.get(&partition).map(MerkleTree::root);
            if live.unwrap_or_default() != fresh.unwrap_or_default() {
                return Err(format!(
                    "merkle tree of {partition} differs from its rebuild"
                ));
            }
        }
        if self.store.hint_count().map_err(|e| e.to_string())? > self.config.hints_max {
            return Err("hint store over hints_max".to_string());
        }
        Ok(())
    }
}

fn next_incarnation<S: Store>(store: &mut S) -> Result<u32, StoreError> {
    let previous = match store.meta(META_INCARNATION)? {
        Some(bytes) if bytes.len() == 4 => {
            u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
        }
        Some(_) => return Err(StoreError::new("stored incarnation is not 4 bytes")),
        None => 0,
    };
    let incarnation = previous
        .checked_add(1)
        .ok_or_else(|| StoreError::new("incarnation counter exhausted"))?;
    store.put_meta(META_INCARNATION, &incarnation.to_le_bytes())?;
    Ok(incarnation)
}

fn load_membership<S: Store>(
    id: NodeId,
    config: &NodeConfig,
    store: &S,
) -> Result<Membership, StartError> {
    if let Some(bytes) = store.meta(META_MEMBERSHIP)? {
        let unreadable = |message: String| StartError::Membership { message };
        match bytes.split_first() {
            Some((&MEMBERSHIP_FORMAT, body)) => {
                return postcard::from_bytes(body).map_err(|e| unreadable(e.to_string()));
            }
            _ => return Err(unreadable("unknown format".to_string())),
        }
    }
    if config.initial_members.contains_key(&id) {
        return bootstrap(config).map_err(|e| StartError::Config(ConfigError::Ring(e)));
    }
    let mut me = config.me.clone();
    me.status = MemberStatus::Joining;
    me.version = 1;
    Ok(Membership::new(BTreeMap::from([(id, me)])))
}

/// The epoch-1 view every initial member computes identically.
fn bootstrap(config: &NodeConfig) -> Result<Membership, RingError> {
    let members: Vec<RingMember> = config
        .initial_members
        .iter()
        .map(|(node, info)| RingMember {
            node: *node,
            weight: info.weight,
            zone: info.zone.clone(),
        })
        .collect();
    let ring = Ring::new(config.ring.clone(), members)?;
    let members = config
        .initial_members
        .iter()
        .map(|(node, info)| {
            let info = MemberInfo {
                version: 1,
                status: MemberStatus::Valid,
                ..info.clone()
            };
            (*node, info)
        })
        .collect();
    Ok(Membership::bootstrap(members, ring))
}

fn rebuild_trees<S: Store>(store: &S) -> Result<BTreeMap<PartitionId, MerkleTree>, StoreError> {
    let mut trees = BTreeMap::new();
    for partition in store.partitions()? {
        trees.insert(partition, MerkleTree::from_store(store, partition, 256)?);
    }
    Ok(trees)
}

/// Largest key, re-exported for drivers.
pub const KEY_BYTES_MAX: usize = limits::KEY_BYTES_MAX;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[test]
    fn a_restarted_node_never_reuses_a_request_id_of_its_previous_incarnation() {
        let mut node = Node::new(NodeId(1), founders("peer-1"), MemoryStore::default()).unwrap();
        let before: BTreeSet<u64> = (0..5).map(|_| node.mint_request()).collect();
        let mut restarted = Node::new(NodeId(1), founders("peer-1"), node.into_store()).unwrap();
        let after: BTreeSet<u64> = (0..5).map(|_| restarted.mint_request()).collect();
        assert_eq!(before.len() + after.len(), 10);
        assert!(before.is_disjoint(&after), "{before:?} {after:?}");
    }

    fn founders(address_of_1: &str) -> NodeConfig {
        let initial_members = (1..=3)
            .map(|id| (NodeId(id), member(&format!("peer-{id}"), 1)))
            .collect();
        NodeConfig {
            ring: RingConfig {
                partitions: 8,
                replication_factor: 3,
            },
            me: member(address_of_1, 1),
            initial_members,
            ..NodeConfig::default()
        }
    }

    #[test]
    fn a_restart_at_a_new_address_announces_it_with_a_newer_version() {
        let node = Node::new(NodeId(1), founders("peer-1"), MemoryStore::default()).unwrap();
        let before = node.membership().member(NodeId(1)).unwrap().clone();
        let store = node.into_store();
        let moved = Node::new(NodeId(1), founders("elsewhere"), store).unwrap();
        let after = moved.membership().member(NodeId(1)).unwrap().clone();
        assert_eq!(after.address, "elsewhere");
        assert!(after.version > before.version);
        assert_eq!(after.status, before.status);
        // The same address again changes nothing.
        let again = Node::new(NodeId(1), founders("elsewhere"), moved.into_store()).unwrap();
        assert_eq!(again.membership().member(NodeId(1)).unwrap(), &after);
    }
}
