//! The node: Dynamo's protocol as one deterministic state machine (Dynamo §4.5-§4.9).
//!
//! A [`Node`] is a thin dispatcher over sub-state machines, each owning its state
//! privately and changed only through its own methods:
//!
//! | sub-machine | module | owns |
//! |---|---|---|
//! | `Local` | `local.rs` | id, config, store, Merkle trees, actor and dots, request ids, PRNG, counters |
//! | `Cluster` | `gossip.rs` (§4.8) | the membership view and ring; gossip; join/leave |
//! | `FailureDetector` | `detector.rs` (§4.8.3) | suspected peers, pings in flight |
//! | `Requests` | `coordinator.rs` (§4.5) | get/put/set/delete rounds, forwards |
//! | `Handoff` | `handoff.rs` (§4.6) | hint deliveries in flight, the scan cursor |
//! | `Transfers` | `transfer.rs` (§4.9) | the epoch's plan, outgoing streams, chunks in flight |
//! | `AntiEntropy` | `antientropy.rs` (§4.7) | the round-robin partition cursor |
//!
//! They meet only here: `step` hands each input to its owner with the others it needs
//! (read-only, or through a method call), and applies their small typed results (peers
//! to suspect, a ring that moved to a new epoch). A driver feeds [`Input`]s through
//! [`Node::step`] and executes the returned [`Output`]s.
//!
//! Invariants (checked by [`Node::check_invariants`] after every step in debug builds):
//! - `step` never panics on well-formed peer input: stale, duplicated, unexpected or
//!   invalid messages are ignored and counted in [`NodeStats::ignored_messages`];
//! - every in-flight request has exactly one armed `Timer::Request`, and is forgotten
//!   when it completes or times out, so memory is bounded by `IN_FLIGHT_MAX`;
//! - the hint store never holds more than `hints_max` hints;
//! - each dot minted by this node is fresh, and a node mints with its current actor
//!   only into its own home copy of the key (see `local.rs`).

use crate::antientropy::{AntiEntropy, Page, ReceivedSync};
use crate::coordinator::{Origin, RequestInvariantError, Requests, Routing};
use crate::detector::FailureDetector;
use crate::gossip::{Change, Cluster, LoadError};
use crate::handoff::Handoff;
use crate::local::{Local, LocalInvariantError};
use crate::membership::{Membership, MembershipError};
use crate::merkle::MerkleTree;
use crate::message::{Command, Failure, Input, Message, Output, RefuseReason, Reply, Timer};
use crate::store::{Store, StoreError};
use crate::transfer::{ReceivedChunk, Transfers};
use crate::types::{limits, ActorId, NodeId, PartitionId};
use crate::version::VersionError;
use std::collections::{BTreeMap, BTreeSet};
use thiserror::Error;

pub use crate::config::{member, ConfigError, NodeConfig};
pub use crate::coordinator::IN_FLIGHT_MAX;
pub use crate::local::NodeStats;
#[cfg(feature = "mutants")]
pub use crate::mutant::Mutant;
pub use crate::transfer::TransferStatus;

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

fn load_failed(error: LoadError) -> StartError {
    match error {
        LoadError::Config(error) => StartError::Config(error),
        LoadError::Store(error) => StartError::Store(error),
        LoadError::Unreadable { message } => StartError::Membership { message },
    }
}

/// A broken invariant of a node, found by [`Node::check_invariants`] or
/// [`Node::check_invariants_full`].
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum InvariantError {
    #[error(transparent)]
    Membership(#[from] MembershipError),
    #[error(transparent)]
    Requests(#[from] RequestInvariantError),
    #[error("{0}")]
    Detector(&'static str),
    #[error(transparent)]
    Local(#[from] LocalInvariantError),
    #[error("{partition} {key:?}: {error}")]
    Siblings {
        partition: PartitionId,
        key: Vec<u8>,
        error: VersionError,
    },
    #[error("hint store over hints_max: {held} hints, max {max}")]
    HintsOverMax { held: usize, max: usize },
}

/// Why [`Node::merge_restored`] or [`Node::fence_actor`] refused (nothing changed).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum RestoreError {
    #[error("key is empty or over {max} bytes")]
    BadKey { max: usize },
    #[error("sibling set breaks an invariant: {0}")]
    Siblings(#[from] VersionError),
    #[error("incarnation {wanted} is past the highest a node fences to ({max}); this node is at {current}")]
    FenceTooFar { wanted: u32, current: u32, max: u32 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Highest incarnation [`Node::fence_actor`] moves past: the incarnations above stay
/// free for counting up (first incarnations are drawn below 2^31 + 1, see `local.rs`).
pub const FENCE_INCARNATION_MAX: u32 = u32::MAX - (1 << 16);

impl From<StoreError> for InvariantError {
    fn from(error: StoreError) -> Self {
        Self::Local(LocalInvariantError::Store(error))
    }
}

/// A Dynamo node. See the crate documentation for the driving loop.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Node<S> {
    local: Local<S>,
    cluster: Cluster,
    detector: FailureDetector,
    requests: Requests,
    handoff: Handoff,
    transfers: Transfers,
    anti_entropy: AntiEntropy,
}

impl<S: Store> Node<S> {
    /// Open a node over `store`: counts a start and leases dot counters, loads (or
    /// bootstraps) the membership and rebuilds the Merkle trees. The driver must `sync`
    /// the store before executing any output (the lease must be durable first).
    pub fn new(id: NodeId, config: NodeConfig, store: S) -> Result<Self, StartError> {
        config.validate(id)?;
        let mut local = Local::open(id, config, store)?;
        let cluster = Cluster::load(&mut local).map_err(load_failed)?;
        let mut transfers = Transfers::default();
        transfers.replan(id, cluster.membership(), local.replication_factor());
        Ok(Self {
            local,
            cluster,
            detector: FailureDetector::default(),
            requests: Requests::default(),
            handoff: Handoff::default(),
            transfers,
            anti_entropy: AntiEntropy::default(),
        })
    }

    /// Switch on a deliberately broken variant (tests and the model only).
    #[cfg(feature = "mutants")]
    pub fn set_mutant(&mut self, mutant: Mutant) {
        self.local.set_mutant(mutant);
    }

    /// Arm the periodic timers. Call once, right after `new`.
    pub fn start(&mut self) -> Vec<Output> {
        let mut out = Vec::new();
        for timer in [
            Timer::Gossip,
            Timer::AntiEntropy,
            Timer::Handoff,
            Timer::Transfer,
        ] {
            self.arm(&mut out, timer);
        }
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
            panic!("{}: invariant broken after step: {broken}", self.local.id());
        }
        out
    }

    fn on_command(
        &mut self,
        origin: Origin,
        command: Command,
        may_forward: bool,
        out: &mut Vec<Output>,
    ) {
        if matches!(
            command,
            Command::Join { .. } | Command::Leave { .. } | Command::Remove { .. }
        ) && self.via_claimant(origin, &command, may_forward, out)
        {
            return;
        }
        let running = self.transfers.running(self.cluster.membership());
        let changed = match command {
            Command::Join { node } => {
                let change = Change::Join(node);
                self.cluster.change(&mut self.local, change, running, out)
            }
            Command::Leave { node } => {
                let change = Change::Leave(node);
                self.cluster.change(&mut self.local, change, running, out)
            }
            Command::Remove { node } => {
                let change = Change::Remove(node);
                self.cluster.change(&mut self.local, change, running, out)
            }
            command => {
                let routing = Routing {
                    membership: self.cluster.membership(),
                    transfers: &self.transfers,
                    detector: &self.detector,
                };
                let local = &mut self.local;
                return self.requests.on_command(
                    local,
                    &routing,
                    origin,
                    command,
                    may_forward,
                    out,
                );
            }
        };
        let reply = match changed {
            Ok(epoch) => {
                self.replan();
                Reply::Changed { epoch }
            }
            Err(failure) => Reply::Failed(failure),
        };
        self.answer(origin, reply, out);
    }

    fn answer(&mut self, origin: Origin, reply: Reply, out: &mut Vec<Output>) {
        match origin {
            Origin::Client(request) => self.local.reply(out, request, reply),
            Origin::Forwarded { from, request } => {
                self.local
                    .send(out, from, Message::Forwarded { request, reply })
            }
        }
    }

    /// Membership changes are made by one claimant, the ring's lowest member id (as
    /// Riak's claimant): two changes made at once on two nodes would both become
    /// epoch e+1 and the merge would keep one, while both operators were told theirs
    /// was made. Every epoch is then made by the claimant of the one before, so changes
    /// are serialized, and a second change while the first's transfers run is refused
    /// with the reason. Returns whether `command` was handled here (forwarded to the
    /// claimant, or refused because a forwarded change reached a node that is not it).
    fn via_claimant(
        &mut self,
        origin: Origin,
        command: &Command,
        may_forward: bool,
        out: &mut Vec<Output>,
    ) -> bool {
        let me = self.local.id();
        let claimant = match command {
            Command::Remove { node } => self.cluster.claimant_without(*node),
            _ => self.cluster.claimant(),
        };
        let Some(claimant) = claimant.filter(|c| *c != me) else {
            return false;
        };
        if may_forward {
            // The claimant may not have heard of the node to join yet: this node's
            // view goes first, on the same ordered peer link as the change.
            self.cluster.push_view(&mut self.local, claimant, out);
            let local = &mut self.local;
            let command = command.clone();
            self.requests
                .forward_change(local, origin, claimant, command, out);
        } else {
            let reason = format!(
                "{me} is not the claimant ({claimant} is, at ring epoch {}): the ring changed meanwhile, retry",
                self.cluster.epoch()
            );
            self.answer(origin, Reply::Failed(Failure::Membership { reason }), out);
        }
        true
    }

    fn replan(&mut self) {
        let (me, n) = (self.local.id(), self.local.replication_factor());
        self.transfers.replan(me, self.cluster.membership(), n);
    }

    fn on_peer(&mut self, from: NodeId, message: Message, out: &mut Vec<Output>) {
        if from == self.local.id() {
            return self.local.ignore();
        }
        self.detector.heard_from(from);
        match message {
            Message::Read { .. }
            | Message::ReadOk { .. }
            | Message::Write { .. }
            | Message::WriteOk { .. }
            | Message::Refused { .. }
            | Message::Repair { .. }
            | Message::Forward { .. }
            | Message::Forwarded { .. } => self.on_request_message(from, message, out),
            Message::Handoff {
                request,
                hint,
                siblings,
            } => Handoff::on_handoff(&mut self.local, from, request, hint, siblings, out),
            Message::HandoffOk { request } => {
                self.handoff.on_handoff_ok(&mut self.local, from, request)
            }
            Message::TreeLevel { partition, step } => AntiEntropy::on_tree_level(
                &mut self.local,
                self.cluster.ring(),
                from,
                (partition, step),
                out,
            ),
            Message::TreeSync {
                partition,
                leaves,
                entries,
                reply,
                next,
            } => {
                let sync = ReceivedSync {
                    partition,
                    leaves,
                    entries,
                    reply,
                    next,
                };
                let ring = self.cluster.ring();
                AntiEntropy::on_tree_sync(&mut self.local, ring, from, sync, out)
            }
            Message::TreePull {
                partition,
                leaves,
                after,
            } => {
                let page = Page {
                    partition,
                    leaves,
                    after: Some(after),
                };
                let ring = self.cluster.ring();
                AntiEntropy::on_tree_pull(&mut self.local, ring, from, page, out)
            }
            Message::Gossip { membership, reply } => self.on_gossip(from, *membership, reply, out),
            Message::Ping { request } => self.local.send(out, from, Message::Pong { request }),
            Message::Pong { request } => self.detector.on_pong(&mut self.local, from, request),
            Message::Transfer { .. } | Message::TransferOk { .. } => {
                self.on_transfer_message(from, message, out)
            }
        }
    }

    /// Messages of client requests: the coordinator's rounds and the replicas' side.
    fn on_request_message(&mut self, from: NodeId, message: Message, out: &mut Vec<Output>) {
        let routing = Routing {
            membership: self.cluster.membership(),
            transfers: &self.transfers,
            detector: &self.detector,
        };
        let (local, requests) = (&mut self.local, &mut self.requests);
        match message {
            Message::Read {
                request,
                partition,
                key,
                hint,
            } => Requests::on_read(local, from, request, partition, key, hint, out),
            Message::ReadOk { request, siblings } => {
                requests.on_read_ok(local, &routing, from, request, siblings, out)
            }
            Message::Write {
                request,
                partition,
                key,
                siblings,
                hint,
            } => Requests::on_write(
                local, &routing, from, request, partition, key, siblings, hint, out,
            ),
            Message::WriteOk { request } => requests.on_write_ok(local, from, request, out),
            Message::Refused { request, reason } => {
                // A receiver behind this node's ring refused a chunk: push it the
                // view now rather than resend every round until gossip reaches it.
                if let RefuseReason::EpochMismatch { ours: behind, .. } = reason {
                    if behind < self.cluster.epoch() {
                        self.cluster.push_view(local, from, out);
                    }
                }
                let ours = requests.on_refused(local, &routing, from, request, out)
                    || self.handoff.forget(request, from)
                    || self.transfers.forget(request, from)
                    || self.detector.forget(request, from);
                if !ours {
                    local.ignore();
                }
            }
            Message::Repair {
                partition,
                key,
                siblings,
            } => Requests::on_repair(local, partition, key, siblings),
            Message::Forward {
                request,
                command: command @ Command::Put { .. },
            } => {
                let origin = Origin::Forwarded { from, request };
                requests.on_command(local, &routing, origin, command, false, out)
            }
            Message::Forward {
                request,
                command:
                    command @ (Command::Join { .. } | Command::Leave { .. } | Command::Remove { .. }),
            } => {
                let origin = Origin::Forwarded { from, request };
                self.on_command(origin, command, false, out)
            }
            Message::Forward { .. } => local.ignore(),
            Message::Forwarded { request, reply } => {
                requests.on_forwarded(local, from, request, reply, out)
            }
            _ => unreachable!("on_peer routes only request messages here"),
        }
    }

    fn on_transfer_message(&mut self, from: NodeId, message: Message, out: &mut Vec<Output>) {
        let (local, cluster) = (&mut self.local, &mut self.cluster);
        match message {
            Message::Transfer {
                request,
                epoch,
                partition,
                entries,
                last,
            } => {
                let chunk = ReceivedChunk {
                    request,
                    epoch,
                    partition,
                    entries,
                    last,
                };
                self.transfers.on_transfer(local, cluster, from, chunk, out)
            }
            Message::TransferOk {
                request,
                epoch,
                partition,
                ..
            } => {
                let sent = (epoch, partition);
                self.transfers
                    .on_transfer_ok(local, cluster, from, request, sent)
            }
            _ => unreachable!("on_peer routes only transfer messages here"),
        }
    }

    fn on_gossip(&mut self, from: NodeId, theirs: Membership, reply: bool, out: &mut Vec<Output>) {
        let local = &mut self.local;
        if self.cluster.on_gossip(local, from, theirs, reply, out) {
            self.replan();
        }
    }

    fn on_timer(&mut self, timer: Timer, out: &mut Vec<Output>) {
        let local = &mut self.local;
        match timer {
            Timer::Request(request) => {
                let silent = self.requests.on_request_timeout(local, request, out);
                self.detector.suspect(local.id(), silent);
                return;
            }
            Timer::Gossip => {
                self.cluster.round(local, out);
                self.detector.probe(local, out);
            }
            Timer::AntiEntropy => {
                let ring = self.cluster.ring();
                self.anti_entropy.round(local, ring, &self.detector, out);
            }
            Timer::Handoff => {
                self.age_background();
                let membership = self.cluster.membership();
                self.handoff
                    .round(&mut self.local, &self.detector, membership, out);
            }
            Timer::Transfer => {
                let cluster = &mut self.cluster;
                self.transfers.round(local, cluster, &self.detector, out);
            }
        }
        self.arm(out, timer);
    }

    /// One background round passed: background requests that waited too long are
    /// forgotten (their work is retried later) and their peers suspected.
    fn age_background(&mut self) {
        let mut silent = self.detector.age();
        silent.extend(self.handoff.age());
        silent.extend(self.transfers.age());
        self.detector.suspect(self.local.id(), silent);
    }

    fn arm(&self, out: &mut Vec<Output>, timer: Timer) {
        let config = self.local.config();
        let after_ms = match timer {
            Timer::Request(_) => config.request_timeout_ms,
            Timer::Gossip => config.gossip_interval_ms,
            Timer::AntiEntropy => config.anti_entropy_interval_ms,
            Timer::Handoff => config.handoff_interval_ms,
            Timer::Transfer => config.transfer_interval_ms,
        };
        out.push(Output::SetTimer { timer, after_ms });
    }

    // ----- restoring a backup (the server's `backup.rs`) -----

    /// Merge a sibling set from outside the protocol (a backup being restored) into
    /// this node's replica of `key`, through the merge read repair, hinted handoff and
    /// transfers use ([`Siblings::merged`]): nothing newer is overwritten, concurrent
    /// siblings stay siblings, and merging the same set again changes nothing. First
    /// fences this node's actor past any incarnation of its id the set holds (see
    /// [`Node::fence_actor`]). Returns whether the replica changed; the driver syncs.
    ///
    /// [`Siblings::merged`]: crate::version::Siblings::merged
    pub fn merge_restored(
        &mut self,
        key: &[u8],
        siblings: &crate::version::Siblings,
    ) -> Result<bool, RestoreError> {
        let partitions = self.local.config().ring.partitions;
        let partition = crate::hash::partition_of_key(key, partitions);
        if !self.local.valid_key(partition, key) {
            let max = limits::KEY_BYTES_MAX;
            return Err(RestoreError::BadKey { max });
        }
        siblings.check_invariants()?;
        let me = self.local.id();
        let seen = siblings.clock().iter().map(|(actor, _)| actor);
        if let Some(newest) = seen.filter(|a| a.node == me).map(|a| a.incarnation).max() {
            self.fence_actor(newest)?;
        }
        let (_, changed) = self.local.merge_replica(partition, key, siblings)?;
        Ok(changed)
    }

    /// Move this node's actor past `incarnation` (one new incarnation, persisted). Restored
    /// data may hold dots of this node's id from another cluster (or from before a
    /// lost disk) at any counter: minting under such an actor would reuse their dots
    /// (DVVSet needs each dot fresh), so a restore fences every node past the
    /// incarnations the backup holds for its id. Returns whether the actor changed.
    pub fn fence_actor(&mut self, incarnation: u32) -> Result<bool, RestoreError> {
        let current = self.local.actor().incarnation;
        if current > incarnation {
            return Ok(false);
        }
        if incarnation > FENCE_INCARNATION_MAX {
            let max = FENCE_INCARNATION_MAX;
            let wanted = incarnation;
            return Err(RestoreError::FenceTooFar {
                wanted,
                current,
                max,
            });
        }
        self.local.renew_actor_past(incarnation)?;
        Ok(true)
    }

    // ----- read-only views for drivers, the simulator, the model and tests -----

    pub fn id(&self) -> NodeId {
        self.local.id()
    }

    pub fn actor(&self) -> ActorId {
        self.local.actor()
    }

    pub fn config(&self) -> &NodeConfig {
        self.local.config()
    }

    pub fn membership(&self) -> &Membership {
        self.cluster.membership()
    }

    pub fn store(&self) -> &S {
        self.local.store()
    }

    /// For the driver: group commit (`sync`) and durable-store maintenance.
    pub fn store_mut(&mut self) -> &mut S {
        self.local.store_mut()
    }

    /// Consume the node, keeping its store (the simulator's crash and restart).
    /// Bytes of hints held per target node (their per-target budget is
    /// `hint_bytes_per_target_max`).
    pub fn hint_bytes(&self) -> &BTreeMap<NodeId, u64> {
        self.local.hint_bytes_held()
    }

    pub fn into_store(self) -> S {
        self.local.into_store()
    }

    pub fn stats(&self) -> &NodeStats {
        self.local.stats()
    }

    pub fn suspected(&self) -> &BTreeSet<NodeId> {
        self.detector.suspected()
    }

    /// Client requests coordinated or forwarded, in flight.
    pub fn in_flight(&self) -> usize {
        self.requests.in_flight()
    }

    /// Background requests (hint deliveries, transfer chunks) awaiting an answer.
    pub fn background_in_flight(&self) -> usize {
        self.handoff.in_flight() + self.transfers.in_flight()
    }

    pub fn tree(&self, partition: PartitionId) -> Option<&MerkleTree> {
        self.local.tree(partition)
    }

    /// Every planned transfer of the current epoch and whether it completed. Every node
    /// derives the same plan; completions reach a node by gossip, so a node's view of
    /// progress may lag the senders' own.
    pub fn transfers(&self) -> Vec<TransferStatus> {
        self.transfers.statuses(self.cluster.membership())
    }

    /// Cheap structural invariants (run after every step in debug builds).
    pub fn check_invariants(&self) -> Result<(), InvariantError> {
        self.cluster.membership().check_invariants()?;
        self.requests.check()?;
        self.detector
            .check(self.local.id())
            .map_err(InvariantError::Detector)?;
        Ok(())
    }

    /// Every invariant, including each stored sibling set and each Merkle tree against
    /// a rebuild from the store. Costs a full scan: for tests and the simulator.
    pub fn check_invariants_full(&self) -> Result<(), InvariantError> {
        self.check_invariants()?;
        let store = self.local.store();
        for partition in store.partitions()? {
            let mut after = None;
            loop {
                let page = store.scan(partition, after.as_deref(), 256)?;
                for (key, siblings) in &page {
                    siblings
                        .check_invariants()
                        .map_err(|error| InvariantError::Siblings {
                            partition,
                            key: key.clone(),
                            error,
                        })?;
                }
                match page.last() {
                    Some((key, _)) if page.len() == 256 => after = Some(key.clone()),
                    _ => break,
                }
            }
        }
        self.local.trees_match_store()?;
        self.local.hint_bytes_match_store()?;
        let (held, max) = (store.hint_count()?, self.local.config().hints_max);
        if held > max {
            return Err(InvariantError::HintsOverMax { held, max });
        }
        Ok(())
    }
}

/// Largest key, re-exported for drivers.
pub const KEY_BYTES_MAX: usize = limits::KEY_BYTES_MAX;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::RingConfig;
    use crate::store::MemoryStore;

    #[test]
    fn a_restarted_node_never_reuses_a_request_id_of_its_previous_incarnation() {
        let mut node = Node::new(NodeId(1), founders("peer-1"), MemoryStore::default()).unwrap();
        let before: BTreeSet<u64> = (0..5).map(|_| node.local.mint_request()).collect();
        let mut restarted = Node::new(NodeId(1), founders("peer-1"), node.into_store()).unwrap();
        let after: BTreeSet<u64> = (0..5).map(|_| restarted.local.mint_request()).collect();
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
