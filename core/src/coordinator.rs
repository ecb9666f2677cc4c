//! Request coordination: get and put over a sloppy quorum, with read repair (Dynamo §4.5).
//!
//! A get may be coordinated by any node; a put by a home replica of its key (any other
//! node forwards it, once, to a healthy one). The coordinator sends to the first N
//! healthy nodes of the key's preference list — home replicas, and for each unhealthy
//! home the next healthy fallback, carrying a hint that names the home it stands in for
//! (§4.6) — answers after R (get) or W (put) replies, and fails fast with the numbers
//! once that many can no longer come. A get keeps listening until every target answered
//! or the timeout, then repairs the home replicas whose answer was stale, stragglers
//! included (read repair).
//!
//! A set is a get whose answer, instead of going to the client, becomes the context of
//! a put of the same key by the same coordinator: the client's read-modify-write
//! without the round trip between them (the put may still be forwarded to a home).
//!
//! While a partition moves to a new home (§4.9), the node it comes from stands in for
//! it in quorums and the new home receives copies of every write, so the old owner
//! keeps serving until the new owner has the data.
//!
//! Invariants:
//! - a round's replies come only from its targets, each counted once ([`Tally`]);
//! - the client is answered exactly once per request;
//! - a put's new version is written locally (when the coordinator is a target) before
//!   its own acknowledgement is counted;
//! - the context a put returns covers exactly what the client's context covered plus
//!   the new version, never siblings the client has not seen.

use crate::clock::{Dot, VersionVector};
use crate::detector::FailureDetector;
use crate::local::Local;
use crate::membership::Membership;
use crate::message::{
    Command, Failure, Message, Output, Quorum, RefuseReason, Reply, RequestId, Timer,
};
#[cfg(feature = "mutants")]
use crate::mutant::Mutant;
use crate::quorum::{Outcome, Tally};
use crate::ring::Ring;
use crate::store::{HintKey, Store, StoreError};
use crate::transfer::Transfers;
use crate::types::{limits, Key, NodeId, PartitionId};
use crate::version::{Content, Siblings};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Most client requests a node coordinates at once; past it, `Failure::Overloaded`.
pub const IN_FLIGHT_MAX: usize = 4096;

/// Who is waiting for a request's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) enum Origin {
    Client(RequestId),
    Forwarded { from: NodeId, request: u64 },
}

/// One node a request goes to, and the home node it stands in for, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct Target {
    pub node: NodeId,
    pub hint: Option<NodeId>,
}

/// Where a key's requests go: its (effective) home replicas, the healthy targets, and
/// new homes still receiving the partition (they get copies of writes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Route {
    pub homes: Vec<NodeId>,
    pub targets: Vec<Target>,
    pub extras: Vec<NodeId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct GetRound {
    pub origin: Origin,
    pub partition: PartitionId,
    pub key: Key,
    pub tally: Tally,
    pub targets: Vec<Target>,
    pub replies: BTreeMap<NodeId, Option<Siblings>>,
    pub merged: Siblings,
    pub answered: bool,
    /// A set's write, started with the read's context once the read quorum is met.
    pub then_put: Option<ThenPut>,
}

/// The write a set (or delete) makes once its read quorum is met.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct ThenPut {
    pub content: Content,
    pub quorum: Quorum,
    /// A delete: write only over a live value, answer `Reply::Deleted`.
    pub delete: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct PutRound {
    pub origin: Origin,
    pub tally: Tally,
    pub dot: Dot,
    pub context: VersionVector,
    pub extras: BTreeSet<NodeId>,
    pub answered: bool,
    /// Answer `Reply::Deleted` rather than `Reply::Put` (a delete's write).
    pub delete: bool,
}

/// A broken invariant of the requests in flight.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestInvariantError {
    #[error("{in_flight} requests in flight, max {max}")]
    TooMany { in_flight: usize, max: usize },
    #[error("get {request}: reply from {node}, not a target")]
    NotATarget { request: u64, node: NodeId },
    #[error("request {request}: a complete round must be forgotten")]
    CompleteKept { request: u64 },
}

impl GetRound {
    fn check(&self, request: u64) -> Result<(), RequestInvariantError> {
        if let Some(node) = self
            .replies
            .keys()
            .find(|n| !self.tally.targets().contains(n))
        {
            let node = *node;
            return Err(RequestInvariantError::NotATarget { request, node });
        }
        if self.tally.complete() {
            return Err(RequestInvariantError::CompleteKept { request });
        }
        Ok(())
    }
}

impl PutRound {
    fn check(&self, request: u64) -> Result<(), RequestInvariantError> {
        if self.tally.complete() {
            return Err(RequestInvariantError::CompleteKept { request });
        }
        Ok(())
    }
}

/// A put sent on to a home replica, awaiting the home's answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Forward {
    origin: Origin,
    home: NodeId,
    /// A delete's write: the home's `Reply::Put` becomes `Reply::Deleted`.
    delete: bool,
    /// The put's W, for a timeout's numbers.
    write_quorum: usize,
    /// A membership change handed to the claimant (not a put).
    change: bool,
}

/// What a coordinator routes by: the ring, the moves under way and peer health.
pub(crate) struct Routing<'a> {
    pub membership: &'a Membership,
    pub transfers: &'a Transfers,
    pub detector: &'a FailureDetector,
}

impl Routing<'_> {
    fn ring(&self) -> Option<&Ring> {
        self.membership.ring()
    }

    /// The homes a write `me` stores as a replica of `partition` must also reach as
    /// hints: none while `me` is a home. Otherwise `me` is a stand-in for a partition
    /// moving away (or its ring moved on): a coordinator that has not heard the move
    /// completed counts `me` towards W, and `me` drops the partition once its stream is
    /// acknowledged, perhaps before, perhaps after this write. So the write goes to
    /// the hint store for the new homes it streams to (else every home), from where
    /// handoff delivers it durably (issue 25, finding 3).
    fn stand_in_hints(&self, me: NodeId, partition: PartitionId, n: usize) -> Vec<NodeId> {
        let Some(ring) = self.ring() else {
            return Vec::new();
        };
        let homes = ring.home_replicas(partition, n);
        if homes.contains(&me) {
            return Vec::new();
        }
        let receivers: Vec<NodeId> = self.transfers.planned_receivers(partition, me).collect();
        if receivers.is_empty() {
            homes
        } else {
            receivers
        }
    }

    /// Store a replica write (or a hint for `hint`), and the hints a stand-in owes.
    fn store_write<S: Store>(
        &self,
        local: &mut Local<S>,
        (partition, key): (PartitionId, &[u8]),
        siblings: &Siblings,
        hint: Option<NodeId>,
    ) -> Result<(), RefuseReason> {
        local.store_write(partition, key, siblings, hint)?;
        if hint.is_none() {
            self.store_stand_in_hints(local, (partition, key), siblings)?;
        }
        Ok(())
    }

    fn store_stand_in_hints<S: Store>(
        &self,
        local: &mut Local<S>,
        (partition, key): (PartitionId, &[u8]),
        siblings: &Siblings,
    ) -> Result<(), RefuseReason> {
        #[cfg(feature = "mutants")]
        if local.planted(Mutant::StandInWithoutHint) {
            return Ok(());
        }
        let n = local.replication_factor();
        for home in self.stand_in_hints(local.id(), partition, n) {
            local.store_write(partition, key, siblings, Some(home))?;
        }
        Ok(())
    }

    fn healthy(&self, node: NodeId) -> bool {
        self.detector.healthy(node)
    }
}

/// The client requests this node coordinates or forwarded (see the module
/// documentation).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct Requests {
    gets: BTreeMap<u64, GetRound>,
    puts: BTreeMap<u64, PutRound>,
    /// Puts sent on to a home replica, by our request id.
    forwards: BTreeMap<u64, Forward>,
}

/// A put about to start: the client's, or a set's or delete's after its read.
struct NewPut {
    key: Key,
    context: VersionVector,
    content: Content,
    quorum: Quorum,
    delete: bool,
}

/// N, R and W for one request: overrides, else the cluster's (R and W capped at N).
struct Sizes {
    replication_factor: usize,
    read_quorum: usize,
    write_quorum: usize,
}

impl Requests {
    pub fn in_flight(&self) -> usize {
        self.gets.len() + self.puts.len() + self.forwards.len()
    }

    pub fn check(&self) -> Result<(), RequestInvariantError> {
        if self.in_flight() > IN_FLIGHT_MAX + 1 {
            let (in_flight, max) = (self.in_flight(), IN_FLIGHT_MAX);
            return Err(RequestInvariantError::TooMany { in_flight, max });
        }
        for (request, round) in &self.gets {
            round.check(*request)?;
        }
        for (request, round) in &self.puts {
            round.check(*request)?;
        }
        Ok(())
    }

    /// A client's (or a forwarder's) get, put, set or delete.
    pub fn on_command<S: Store>(
        &mut self,
        local: &mut Local<S>,
        routing: &Routing,
        origin: Origin,
        command: Command,
        may_forward: bool,
        out: &mut Vec<Output>,
    ) {
        let result = match command {
            Command::Get { key, quorum } => {
                self.start_get(local, routing, origin, (key, quorum), None, out)
            }
            Command::Set {
                key,
                content,
                quorum,
            } => {
                let then = ThenPut {
                    content,
                    quorum,
                    delete: false,
                };
                self.start_get(local, routing, origin, (key, quorum), Some(then), out)
            }
            Command::Delete { key, quorum } => {
                let then = ThenPut {
                    content: Content::Tombstone,
                    quorum,
                    delete: true,
                };
                self.start_get(local, routing, origin, (key, quorum), Some(then), out)
            }
            Command::Put {
                key,
                context,
                content,
                quorum,
            } => {
                let put = NewPut {
                    key,
                    context,
                    content,
                    quorum,
                    delete: false,
                };
                self.start_put(local, routing, origin, put, may_forward, out)
            }
            // The node answers membership commands itself; never routed here.
            Command::Join { .. } | Command::Leave { .. } | Command::Remove { .. } => {
                Err(Failure::Membership {
                    reason: "a membership command is not a key request".to_string(),
                })
            }
        };
        if let Err(failure) = result {
            finish(local, origin, Reply::Failed(failure), out);
        }
    }

    fn sizes<S: Store>(local: &Local<S>, quorum: Quorum) -> Result<Sizes, Failure> {
        let config = local.config();
        let n = quorum
            .replication_factor
            .unwrap_or(config.ring.replication_factor);
        let r = quorum.read_quorum.unwrap_or(config.read_quorum.min(n));
        let w = quorum.write_quorum.unwrap_or(config.write_quorum.min(n));
        let max = limits::REPLICATION_FACTOR_MAX;
        if n == 0 || n > max || r == 0 || r > n || w == 0 || w > n {
            return Err(Failure::BadQuorum {
                replication_factor: n,
                read_quorum: r,
                write_quorum: w,
                max,
            });
        }
        Ok(Sizes {
            replication_factor: n,
            read_quorum: r,
            write_quorum: w,
        })
    }

    /// Checks shared by gets and puts: key, capacity, a ring to route by.
    fn admit(&self, routing: &Routing, key: &[u8]) -> Result<PartitionId, Failure> {
        if key.is_empty() {
            return Err(Failure::EmptyKey);
        }
        if key.len() > limits::KEY_BYTES_MAX {
            let (size, max) = (key.len(), limits::KEY_BYTES_MAX);
            return Err(Failure::KeyTooLarge { size, max });
        }
        if self.in_flight() >= IN_FLIGHT_MAX {
            let (in_flight, max) = (self.in_flight(), IN_FLIGHT_MAX);
            return Err(Failure::Overloaded { in_flight, max });
        }
        let ring = routing.ring().ok_or(Failure::NotReady)?;
        Ok(ring.partition_of_key(key))
    }
}

impl Routing<'_> {
    /// The route of `partition` for `n` replicas under the current ring and health.
    pub fn route(&self, partition: PartitionId, n: usize) -> Route {
        let Some(ring) = self.ring() else {
            return Route::default();
        };
        let mut homes = ring.home_replicas(partition, n);
        let mut extras = Vec::new();
        for moving in self.transfers.pending(self.membership, partition) {
            let Some(at) = homes.iter().position(|h| *h == moving.to) else {
                continue;
            };
            extras.push(moving.to);
            if homes.contains(&moving.from) {
                homes.remove(at);
            } else {
                homes[at] = moving.from;
            }
        }
        let preference = ring.preference_list(partition);
        let mut fallbacks = preference
            .nodes()
            .iter()
            .copied()
            .filter(|n| !homes.contains(n) && !extras.contains(n) && self.healthy(*n));
        let mut targets = Vec::new();
        for home in &homes {
            if self.healthy(*home) {
                targets.push(Target {
                    node: *home,
                    hint: None,
                });
            } else if let Some(fallback) = fallbacks.next() {
                targets.push(Target {
                    node: fallback,
                    hint: Some(*home),
                });
            }
        }
        Route {
            homes,
            targets,
            extras,
        }
    }
}

impl Requests {
    fn start_get<S: Store>(
        &mut self,
        local: &mut Local<S>,
        routing: &Routing,
        origin: Origin,
        (key, quorum): (Key, Quorum),
        then_put: Option<ThenPut>,
        out: &mut Vec<Output>,
    ) -> Result<(), Failure> {
        if let Some(then) = &then_put {
            then.content.check()?;
        }
        let partition = self.admit(routing, &key)?;
        let sizes = Self::sizes(local, quorum)?;
        let route = routing.route(partition, sizes.replication_factor);
        local.count().gets += 1;
        #[cfg_attr(not(feature = "mutants"), allow(unused_mut))]
        let mut needed = sizes.read_quorum;
        #[cfg(feature = "mutants")]
        if local.planted(Mutant::ReadQuorumIgnoresR) {
            needed = 1;
        }
        if route.targets.len() < needed {
            local.count().quorum_failures += 1;
            let received = route.targets.len();
            return Err(Failure::QuorumNotReached { needed, received });
        }
        let request = local.mint_request();
        let mut round = GetRound {
            origin,
            partition,
            key,
            tally: Tally::new(needed, route.targets.iter().map(|t| t.node)),
            targets: route.targets.clone(),
            replies: BTreeMap::new(),
            merged: Siblings::new(),
            answered: false,
            then_put,
        };
        for target in &route.targets {
            if target.node == local.id() {
                let read = read_local(local, partition, &round.key, target.hint);
                record_read(&mut round, local.id(), read.ok());
            } else {
                let (key, hint) = (round.key.clone(), target.hint);
                local.send(
                    out,
                    target.node,
                    Message::Read {
                        request,
                        partition,
                        key,
                        hint,
                    },
                );
            }
        }
        self.gets.insert(request, round);
        arm_request(local, out, request);
        self.progress_get(local, routing, request, out);
        Ok(())
    }

    /// A replica's side of a get: answer with what it holds.
    pub fn on_read<S: Store>(
        local: &mut Local<S>,
        from: NodeId,
        request: u64,
        partition: PartitionId,
        key: Key,
        hint: Option<NodeId>,
        out: &mut Vec<Output>,
    ) {
        if !local.valid_key(partition, &key) {
            return local.ignore();
        }
        let message = match read_local(local, partition, &key, hint) {
            Ok(siblings) => Message::ReadOk { request, siblings },
            Err(error) => Message::Refused {
                request,
                reason: RefuseReason::Storage {
                    message: error.message,
                },
            },
        };
        local.send(out, from, message);
    }

    pub fn on_read_ok<S: Store>(
        &mut self,
        local: &mut Local<S>,
        routing: &Routing,
        from: NodeId,
        request: u64,
        siblings: Option<Siblings>,
        out: &mut Vec<Output>,
    ) {
        let valid = siblings
            .as_ref()
            .is_none_or(|s| s.check_invariants().is_ok());
        let Some(round) = self.gets.get_mut(&request) else {
            return local.ignore();
        };
        if !round.tally.targets().contains(&from) || round.tally.answered(from) {
            return local.ignore();
        }
        record_read(round, from, valid.then_some(siblings));
        self.progress_get(local, routing, request, out);
    }

    /// Answer the client once the outcome is known; wrap up once every target answered.
    fn progress_get<S: Store>(
        &mut self,
        local: &mut Local<S>,
        routing: &Routing,
        request: u64,
        out: &mut Vec<Output>,
    ) {
        let Some(round) = self.gets.get_mut(&request) else {
            return;
        };
        let outcome = round.tally.outcome();
        if !round.answered && outcome != Outcome::Pending {
            round.answered = true;
            let origin = round.origin;
            let reply = match outcome {
                Outcome::Reached if round.then_put.is_some() => {
                    let then = round.then_put.take().expect("a set");
                    let live = round.merged.iter().any(|s| !s.content.is_tombstone());
                    if then.delete && !live {
                        finish(local, origin, Reply::Deleted { existed: false }, out);
                        return self.forget_complete_get(local, request, out);
                    }
                    let put = NewPut {
                        key: round.key.clone(),
                        context: round.merged.clock().clone(),
                        content: then.content,
                        quorum: then.quorum,
                        delete: then.delete,
                    };
                    if let Err(failure) = self.start_put(local, routing, origin, put, true, out) {
                        finish(local, origin, Reply::Failed(failure), out);
                    }
                    return self.forget_complete_get(local, request, out);
                }
                Outcome::Reached => Reply::Got {
                    siblings: round.merged.clone(),
                },
                _ => {
                    local.count().quorum_failures += 1;
                    let (needed, received) = (round.tally.needed(), round.tally.received());
                    Reply::Failed(Failure::QuorumNotReached { needed, received })
                }
            };
            finish(local, origin, reply, out);
        }
        self.forget_complete_get(local, request, out);
    }

    /// Once every target answered (or timed out), forget the round and repair.
    fn forget_complete_get<S: Store>(
        &mut self,
        local: &mut Local<S>,
        request: u64,
        out: &mut Vec<Output>,
    ) {
        if self
            .gets
            .get(&request)
            .is_some_and(|round| round.tally.complete())
        {
            let round = self.gets.remove(&request).expect("round exists");
            out.push(Output::CancelTimer {
                timer: crate::message::Timer::Request(request),
            });
            read_repair(local, round, out);
        }
    }
    /// A replica's side of a read repair: merge, answer nothing.
    pub fn on_repair<S: Store>(
        local: &mut Local<S>,
        partition: PartitionId,
        key: Key,
        siblings: Siblings,
    ) {
        if !local.valid_key(partition, &key) || siblings.check_invariants().is_err() {
            return local.ignore();
        }
        if let Err(error) = local.merge_replica(partition, &key, &siblings) {
            local.storage_failed(&error);
        }
    }

    fn start_put<S: Store>(
        &mut self,
        local: &mut Local<S>,
        routing: &Routing,
        origin: Origin,
        put: NewPut,
        may_forward: bool,
        out: &mut Vec<Output>,
    ) -> Result<(), Failure> {
        let partition = self.admit(routing, &put.key)?;
        let sizes = Self::sizes(local, put.quorum)?;
        let route = routing.route(partition, sizes.replication_factor);
        if may_forward && !route.homes.contains(&local.id()) {
            if let Some(home) = route.homes.iter().copied().find(|h| routing.healthy(*h)) {
                let write_quorum = sizes.write_quorum;
                return self.forward(local, origin, (home, write_quorum), put, out);
            }
        }
        local.count().puts += 1;
        let needed = sizes.write_quorum;
        if route.targets.len() < needed {
            local.count().quorum_failures += 1;
            let received = route.targets.len();
            return Err(Failure::QuorumNotReached { needed, received });
        }
        let base = local
            .store()
            .get(partition, &put.key)
            .map_err(|e| local.storage_failed(&e))?;
        let mut siblings = base.clone().unwrap_or_default();
        let home_copy = route
            .targets
            .iter()
            .any(|t| t.node == local.id() && t.hint.is_none());
        if !home_copy {
            local.renew_actor().map_err(|e| local.storage_failed(&e))?;
        }
        let dot = local.mint_dot().map_err(|e| local.storage_failed(&e))?;
        siblings.update_with_dot(&put.context, put.content, dot)?;
        let request = local.mint_request();
        let mut version = put.context;
        version.add_dot(dot);
        let mut round = PutRound {
            origin,
            tally: Tally::new(needed, route.targets.iter().map(|t| t.node)),
            dot,
            context: version,
            extras: route.extras.iter().copied().collect(),
            answered: false,
            delete: put.delete,
        };
        let written = Written {
            partition,
            key: &put.key,
            siblings: &siblings,
            base,
        };
        send_writes(local, routing, &route, request, written, &mut round, out);
        self.puts.insert(request, round);
        arm_request(local, out, request);
        self.progress_put(local, request, out);
        Ok(())
    }

    fn forward<S: Store>(
        &mut self,
        local: &mut Local<S>,
        origin: Origin,
        (home, write_quorum): (NodeId, usize),
        put: NewPut,
        out: &mut Vec<Output>,
    ) -> Result<(), Failure> {
        let forward = Forward {
            origin,
            home,
            delete: put.delete,
            write_quorum,
            change: false,
        };
        let command = Command::Put {
            key: put.key,
            context: put.context,
            content: put.content,
            quorum: put.quorum,
        };
        self.send_forward(local, forward, command, out);
        Ok(())
    }

    /// Hand a membership change to the claimant, which alone makes changes (see
    /// `gossip.rs`); its answer goes back to `origin`.
    pub fn forward_change<S: Store>(
        &mut self,
        local: &mut Local<S>,
        origin: Origin,
        claimant: NodeId,
        command: Command,
        out: &mut Vec<Output>,
    ) {
        let forward = Forward {
            origin,
            home: claimant,
            delete: false,
            write_quorum: 1,
            change: true,
        };
        self.send_forward(local, forward, command, out);
    }

    fn send_forward<S: Store>(
        &mut self,
        local: &mut Local<S>,
        forward: Forward,
        command: Command,
        out: &mut Vec<Output>,
    ) {
        local.count().forwarded += 1;
        let request = local.mint_request();
        let home = forward.home;
        self.forwards.insert(request, forward);
        local.send(out, home, Message::Forward { request, command });
        // The home runs the put under its own request deadline and always answers by
        // then (success or failure); waiting twice as long lets its definitive answer
        // arrive instead of an "unknown outcome" timeout here, while it still bounds a
        // home that crashed.
        let after_ms = local.config().request_timeout_ms.saturating_mul(2);
        let timer = Timer::Request(request);
        out.push(Output::SetTimer { timer, after_ms });
    }

    pub fn on_forwarded<S: Store>(
        &mut self,
        local: &mut Local<S>,
        from: NodeId,
        request: u64,
        reply: Reply,
        out: &mut Vec<Output>,
    ) {
        match self.forwards.get(&request) {
            Some(forward) if forward.home == from => {
                let (origin, delete) = (forward.origin, forward.delete);
                self.forwards.remove(&request);
                out.push(Output::CancelTimer {
                    timer: Timer::Request(request),
                });
                let reply = match reply {
                    Reply::Put { .. } if delete => Reply::Deleted { existed: true },
                    other => other,
                };
                finish(local, origin, reply, out);
            }
            _ => local.ignore(),
        }
    }

    /// A replica's (or a fallback's) side of a put: store, answer.
    #[allow(clippy::too_many_arguments)]
    pub fn on_write<S: Store>(
        local: &mut Local<S>,
        routing: &Routing,
        from: NodeId,
        request: u64,
        partition: PartitionId,
        key: Key,
        siblings: Siblings,
        hint: Option<NodeId>,
        out: &mut Vec<Output>,
    ) {
        if !local.valid_key(partition, &key)
            || siblings.check_invariants().is_err()
            || hint == Some(local.id())
        {
            return local.ignore();
        }
        let message = match routing.store_write(local, (partition, &key), &siblings, hint) {
            Ok(()) => Message::WriteOk { request },
            Err(reason) => Message::Refused { request, reason },
        };
        local.send(out, from, message);
    }

    pub fn on_write_ok<S: Store>(
        &mut self,
        local: &mut Local<S>,
        from: NodeId,
        request: u64,
        out: &mut Vec<Output>,
    ) {
        let Some(round) = self.puts.get_mut(&request) else {
            return local.ignore();
        };
        if !round.tally.succeed(from) && !round.extras.contains(&from) {
            return local.ignore();
        }
        self.progress_put(local, request, out);
    }

    /// A target refused a get's or put's request; returns whether it was one of ours.
    pub fn on_refused<S: Store>(
        &mut self,
        local: &mut Local<S>,
        routing: &Routing,
        from: NodeId,
        request: u64,
        out: &mut Vec<Output>,
    ) -> bool {
        if let Some(round) = self.gets.get_mut(&request) {
            if round.tally.fail(from) {
                self.progress_get(local, routing, request, out);
                return true;
            }
        } else if let Some(round) = self.puts.get_mut(&request) {
            if round.tally.fail(from) {
                self.progress_put(local, request, out);
                return true;
            }
        }
        false
    }

    fn progress_put<S: Store>(
        &mut self,
        local: &mut Local<S>,
        request: u64,
        out: &mut Vec<Output>,
    ) {
        let Some(round) = self.puts.get_mut(&request) else {
            return;
        };
        let outcome = round.tally.outcome();
        if !round.answered && outcome != Outcome::Pending {
            round.answered = true;
            let origin = round.origin;
            let reply = match outcome {
                Outcome::Reached if round.delete => Reply::Deleted { existed: true },
                Outcome::Reached => Reply::Put {
                    dot: round.dot,
                    context: round.context.clone(),
                },
                _ => {
                    local.count().quorum_failures += 1;
                    let (needed, received) = (round.tally.needed(), round.tally.received());
                    Reply::Failed(Failure::QuorumNotReached { needed, received })
                }
            };
            finish(local, origin, reply, out);
        }
        if self
            .puts
            .get(&request)
            .is_some_and(|round| round.tally.complete())
        {
            self.puts.remove(&request);
            out.push(Output::CancelTimer {
                timer: Timer::Request(request),
            });
        }
    }

    /// A request's deadline passed: answer if not yet, repair; returns the targets
    /// that stayed silent, for the failure detector to suspect.
    pub fn on_request_timeout<S: Store>(
        &mut self,
        local: &mut Local<S>,
        request: u64,
        out: &mut Vec<Output>,
    ) -> Vec<NodeId> {
        if let Some(round) = self.gets.remove(&request) {
            let silent = round.tally.silent().collect();
            if !round.answered {
                timed_out(local, round.origin, &round.tally, out);
            }
            read_repair(local, round, out);
            silent
        } else if let Some(round) = self.puts.remove(&request) {
            if !round.answered {
                timed_out(local, round.origin, &round.tally, out);
            }
            round.tally.silent().collect()
        } else if let Some(forward) = self.forwards.remove(&request) {
            // The home never answered: nothing is known stored (it may have been).
            local.count().timeouts += 1;
            let failure = if forward.change {
                let reason = format!(
                    "the claimant {} did not answer (it makes every membership change): \
                     the change may or may not have been made; check the cluster's status",
                    forward.home
                );
                Failure::Membership { reason }
            } else {
                Failure::Timeout {
                    needed: forward.write_quorum,
                    received: 0,
                }
            };
            finish(local, forward.origin, Reply::Failed(failure), out);
            vec![forward.home]
        } else {
            Vec::new()
        }
    }
}

/// A put's new version, and what the coordinator's store held before it.
struct Written<'a> {
    partition: PartitionId,
    key: &'a [u8],
    siblings: &'a Siblings,
    base: Option<Siblings>,
}

/// Write locally when this node is a target (counting its own acknowledgement) and
/// send the version to every other target and to new homes receiving the partition.
fn send_writes<S: Store>(
    local: &mut Local<S>,
    routing: &Routing,
    route: &Route,
    request: u64,
    written: Written,
    round: &mut PutRound,
    out: &mut Vec<Output>,
) {
    let Written {
        partition,
        key,
        siblings,
        base,
    } = written;
    let me = local.id();
    for target in &route.targets {
        if target.node == me {
            let (hint, base) = (target.hint, base.clone());
            let stored = write_own(local, routing, (partition, key), siblings, base, hint);
            let _ = if stored {
                round.tally.succeed(me)
            } else {
                round.tally.fail(me)
            };
            continue;
        }
        let message = Message::Write {
            request,
            partition,
            key: key.to_vec(),
            siblings: siblings.clone(),
            hint: target.hint,
        };
        local.send(out, target.node, message);
    }
    for extra in route.extras.iter().filter(|n| **n != me) {
        let message = Message::Write {
            request,
            partition,
            key: key.to_vec(),
            siblings: siblings.clone(),
            hint: None,
        };
        local.send(out, *extra, message);
    }
}

/// The coordinator's own write: into its home copy (`base` is what the store holds
/// for the key now) or its hint store. Returns whether it is stored.
fn write_own<S: Store>(
    local: &mut Local<S>,
    routing: &Routing,
    (partition, key): (PartitionId, &[u8]),
    siblings: &Siblings,
    base: Option<Siblings>,
    hint: Option<NodeId>,
) -> bool {
    #[cfg(feature = "mutants")]
    if local.planted(Mutant::AckBeforeLocalWrite) {
        return true;
    }
    match hint {
        None => {
            let stored = local
                .merge_replica_over(partition, key, base, siblings)
                .map_err(|e| local.storage_failed(&e))
                .is_ok();
            stored
                && routing
                    .store_stand_in_hints(local, (partition, key), siblings)
                    .is_ok()
        }
        Some(_) => local.store_write(partition, key, siblings, hint).is_ok(),
    }
}

/// Deliver a request's answer to whoever waits for it.
fn finish<S: Store>(local: &Local<S>, origin: Origin, reply: Reply, out: &mut Vec<Output>) {
    match origin {
        Origin::Client(request) => local.reply(out, request, reply),
        Origin::Forwarded { from, request } => {
            local.send(out, from, Message::Forwarded { request, reply })
        }
    }
}

/// Answer a request whose deadline passed before its quorum.
fn timed_out<S: Store>(local: &mut Local<S>, origin: Origin, tally: &Tally, out: &mut Vec<Output>) {
    local.count().timeouts += 1;
    let (needed, received) = (tally.needed(), tally.received());
    let failure = Failure::Timeout { needed, received };
    finish(local, origin, Reply::Failed(failure), out);
}

fn arm_request<S: Store>(local: &Local<S>, out: &mut Vec<Output>, request: u64) {
    let after_ms = local.config().request_timeout_ms;
    let timer = Timer::Request(request);
    out.push(Output::SetTimer { timer, after_ms });
}

fn read_local<S: Store>(
    local: &mut Local<S>,
    partition: PartitionId,
    key: &[u8],
    hint: Option<NodeId>,
) -> Result<Option<Siblings>, StoreError> {
    let result = match hint {
        None => local.store().get(partition, key),
        Some(target) => local.store().hint(&HintKey {
            target,
            partition,
            key: key.to_vec(),
        }),
    };
    if result.is_err() {
        local.count().storage_errors += 1;
    }
    result
}

/// Send the merged version to every home replica that answered with less (§4.5).
fn read_repair<S: Store>(local: &mut Local<S>, round: GetRound, out: &mut Vec<Output>) {
    if round.merged.is_empty() {
        return;
    }
    for target in round.targets.iter().filter(|t| t.hint.is_none()) {
        let Some(reply) = round.replies.get(&target.node) else {
            continue;
        };
        if reply.as_ref() == Some(&round.merged) {
            continue;
        }
        local.count().read_repairs += 1;
        if target.node == local.id() {
            if let Err(error) = local.merge_replica(round.partition, &round.key, &round.merged) {
                local.storage_failed(&error);
            }
        } else {
            let message = Message::Repair {
                partition: round.partition,
                key: round.key.clone(),
                siblings: round.merged.clone(),
            };
            local.send(out, target.node, message);
        }
    }
}

fn record_read(round: &mut GetRound, from: NodeId, reply: Option<Option<Siblings>>) {
    match reply {
        Some(siblings) => {
            if let Some(siblings) = &siblings {
                round.merged.sync(siblings);
            }
            round.tally.succeed(from);
            round.replies.insert(from, siblings);
        }
        None => {
            round.tally.fail(from);
        }
    }
}
