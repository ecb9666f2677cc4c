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
use crate::message::{Command, Failure, Message, Output, Quorum, Reply, RequestId};
use crate::node::{Mutant, Node, IN_FLIGHT_MAX};
use crate::quorum::{Outcome, Tally};
use crate::store::{HintKey, Store, StoreError};
use crate::types::{limits, Key, NodeId, PartitionId};
use crate::version::{Content, Siblings};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

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

impl GetRound {
    pub fn check(&self) -> Result<(), String> {
        if let Some(node) = self
            .replies
            .keys()
            .find(|n| !self.tally.targets().contains(n))
        {
            return Err(format!("reply from {node}, not a target"));
        }
        if self.tally.complete() {
            return Err("a complete round must be forgotten".to_string());
        }
        Ok(())
    }
}

impl PutRound {
    pub fn check(&self) -> Result<(), String> {
        if self.tally.complete() {
            return Err("a complete round must be forgotten".to_string());
        }
        Ok(())
    }
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

impl<S: Store> Node<S> {
    pub(crate) fn on_command(
        &mut self,
        origin: Origin,
        command: Command,
        may_forward: bool,
        out: &mut Vec<Output>,
    ) {
        let result = match command {
            Command::Get { key, quorum } => self.start_get(origin, key, quorum, None, out),
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
                self.start_get(origin, key, quorum, Some(then), out)
            }
            Command::Delete { key, quorum } => {
                let then = ThenPut {
                    content: Content::Tombstone,
                    quorum,
                    delete: true,
                };
                self.start_get(origin, key, quorum, Some(then), out)
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
                self.start_put(origin, put, may_forward, out)
            }
            Command::Join { node } => self
                .join(node, out)
                .map(|epoch| self.finish(origin, Reply::Changed { epoch }, out)),
            Command::Leave { node } => self
                .leave(node, out)
                .map(|epoch| self.finish(origin, Reply::Changed { epoch }, out)),
        };
        if let Err(failure) = result {
            self.finish(origin, Reply::Failed(failure), out);
        }
    }

    /// Deliver a request's answer to whoever waits for it.
    pub(crate) fn finish(&self, origin: Origin, reply: Reply, out: &mut Vec<Output>) {
        match origin {
            Origin::Client(request) => self.reply(out, request, reply),
            Origin::Forwarded { from, request } => {
                self.send(out, from, Message::Forwarded { request, reply })
            }
        }
    }

    fn sizes(&self, quorum: Quorum) -> Result<Sizes, Failure> {
        let n = quorum
            .replication_factor
            .unwrap_or(self.config.ring.replication_factor);
        let r = quorum.read_quorum.unwrap_or(self.config.read_quorum.min(n));
        let w = quorum
            .write_quorum
            .unwrap_or(self.config.write_quorum.min(n));
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
    fn admit(&self, key: &[u8]) -> Result<PartitionId, Failure> {
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
        let ring = self.ring().ok_or(Failure::NotReady)?;
        Ok(ring.partition_of_key(key))
    }

    /// The route of `partition` for `n` replicas under the current ring and health.
    pub(crate) fn route(&self, partition: PartitionId, n: usize) -> Route {
        let Some(ring) = self.ring() else {
            return Route::default();
        };
        let mut homes = ring.home_replicas(partition, n);
        let mut extras = Vec::new();
        for moving in self.pending_transfers(partition) {
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

    fn start_get(
        &mut self,
        origin: Origin,
        key: Key,
        quorum: Quorum,
        then_put: Option<ThenPut>,
        out: &mut Vec<Output>,
    ) -> Result<(), Failure> {
        if let Some(then) = &then_put {
            then.content.check()?;
        }
        let partition = self.admit(&key)?;
        let sizes = self.sizes(quorum)?;
        let route = self.route(partition, sizes.replication_factor);
        self.stats.gets += 1;
        let needed = match self.mutant {
            Mutant::ReadQuorumIgnoresR => 1,
            _ => sizes.read_quorum,
        };
        if route.targets.len() < needed {
            self.stats.quorum_failures += 1;
            let received = route.targets.len();
            return Err(Failure::QuorumNotReached { needed, received });
        }
        let request = self.mint_request();
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
            if target.node == self.id {
                let local = self.read_local(partition, &round.key, target.hint);
                record_read(&mut round, self.id, local.ok());
            } else {
                let (key, hint) = (round.key.clone(), target.hint);
                self.send(
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
        self.arm_request(out, request);
        self.progress_get(request, out);
        Ok(())
    }

    fn read_local(
        &mut self,
        partition: PartitionId,
        key: &[u8],
        hint: Option<NodeId>,
    ) -> Result<Option<Siblings>, StoreError> {
        let result = match hint {
            None => self.store.get(partition, key),
            Some(target) => self.store.hint(&HintKey {
                target,
                partition,
                key: key.to_vec(),
            }),
        };
        if result.is_err() {
            self.stats.storage_errors += 1;
        }
        result
    }

    pub(crate) fn on_read(
        &mut self,
        from: NodeId,
        request: u64,
        partition: PartitionId,
        key: Key,
        hint: Option<NodeId>,
        out: &mut Vec<Output>,
    ) {
        if !self.valid_key(partition, &key) {
            return self.ignore();
        }
        let message = match self.read_local(partition, &key, hint) {
            Ok(siblings) => Message::ReadOk { request, siblings },
            Err(error) => Message::Refused {
                request,
                reason: error.to_string(),
            },
        };
        self.send(out, from, message);
    }

    pub(crate) fn on_read_ok(
        &mut self,
        from: NodeId,
        request: u64,
        siblings: Option<Siblings>,
        out: &mut Vec<Output>,
    ) {
        let valid = siblings
            .as_ref()
            .is_none_or(|s| s.check_invariants().is_ok());
        let Some(round) = self.gets.get_mut(&request) else {
            return self.ignore();
        };
        if !round.tally.targets().contains(&from) || round.tally.answered(from) {
            return self.ignore();
        }
        record_read(round, from, valid.then_some(siblings));
        self.progress_get(request, out);
    }

    /// Answer the client once the outcome is known; wrap up once every target answered.
    fn progress_get(&mut self, request: u64, out: &mut Vec<Output>) {
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
                        self.finish(origin, Reply::Deleted { existed: false }, out);
                        return self.forget_complete_get(request, out);
                    }
                    let put = NewPut {
                        key: round.key.clone(),
                        context: round.merged.clock().clone(),
                        content: then.content,
                        quorum: then.quorum,
                        delete: then.delete,
                    };
                    if let Err(failure) = self.start_put(origin, put, true, out) {
                        self.finish(origin, Reply::Failed(failure), out);
                    }
                    return self.forget_complete_get(request, out);
                }
                Outcome::Reached => Reply::Got {
                    siblings: round.merged.clone(),
                },
                _ => {
                    self.stats.quorum_failures += 1;
                    let (needed, received) = (round.tally.needed(), round.tally.received());
                    Reply::Failed(Failure::QuorumNotReached { needed, received })
                }
            };
            self.finish(origin, reply, out);
        }
        self.forget_complete_get(request, out);
    }

    /// Once every target answered (or timed out), forget the round and repair.
    fn forget_complete_get(&mut self, request: u64, out: &mut Vec<Output>) {
        if self
            .gets
            .get(&request)
            .is_some_and(|round| round.tally.complete())
        {
            let round = self.gets.remove(&request).expect("round exists");
            out.push(Output::CancelTimer {
                timer: crate::message::Timer::Request(request),
            });
            self.read_repair(round, out);
        }
    }

    /// Send the merged version to every home replica that answered with less (§4.5).
    fn read_repair(&mut self, round: GetRound, out: &mut Vec<Output>) {
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
            self.stats.read_repairs += 1;
            if target.node == self.id {
                if let Err(error) = self.merge_replica(round.partition, &round.key, &round.merged) {
                    self.storage_failed(&error);
                }
            } else {
                let message = Message::Repair {
                    partition: round.partition,
                    key: round.key.clone(),
                    siblings: round.merged.clone(),
                };
                self.send(out, target.node, message);
            }
        }
    }

    pub(crate) fn on_repair(&mut self, partition: PartitionId, key: Key, siblings: Siblings) {
        if !self.valid_key(partition, &key) || siblings.check_invariants().is_err() {
            return self.ignore();
        }
        if let Err(error) = self.merge_replica(partition, &key, &siblings) {
            self.storage_failed(&error);
        }
    }

    fn start_put(
        &mut self,
        origin: Origin,
        put: NewPut,
        may_forward: bool,
        out: &mut Vec<Output>,
    ) -> Result<(), Failure> {
        let NewPut {
            key,
            context,
            content,
            quorum,
            delete,
        } = put;
        let partition = self.admit(&key)?;
        let sizes = self.sizes(quorum)?;
        let route = self.route(partition, sizes.replication_factor);
        if may_forward && !route.homes.contains(&self.id) {
            if let Some(home) = route.homes.iter().copied().find(|h| self.healthy(*h)) {
                let command = Command::Put {
                    key,
                    context,
                    content,
                    quorum,
                };
                return self.forward(origin, home, command, delete, out);
            }
        }
        self.stats.puts += 1;
        let needed = sizes.write_quorum;
        if route.targets.len() < needed {
            self.stats.quorum_failures += 1;
            let received = route.targets.len();
            return Err(Failure::QuorumNotReached { needed, received });
        }
        let base = self
            .store
            .get(partition, &key)
            .map_err(|e| self.storage_failed(&e))?;
        let mut siblings = base.clone().unwrap_or_default();
        let home_copy = route
            .targets
            .iter()
            .any(|t| t.node == self.id && t.hint.is_none());
        if !home_copy {
            self.renew_actor().map_err(|e| self.storage_failed(&e))?;
        }
        let dot = self.mint_dot();
        siblings.update_with_dot(&context, content, dot)?;
        let request = self.mint_request();
        let mut version = context;
        version.add_dot(dot);
        let mut round = PutRound {
            origin,
            tally: Tally::new(needed, route.targets.iter().map(|t| t.node)),
            dot,
            context: version,
            extras: route.extras.iter().copied().collect(),
            answered: false,
            delete,
        };
        for target in &route.targets {
            if target.node == self.id {
                let stored = match (self.mutant, target.hint) {
                    (Mutant::AckBeforeLocalWrite, _) => true,
                    // A home copy: `base` is what the store holds for the key now.
                    (_, None) => self
                        .merge_replica_over(partition, &key, base.clone(), &siblings)
                        .map_err(|e| self.storage_failed(&e))
                        .is_ok(),
                    (_, Some(_)) => self
                        .store_write(partition, &key, &siblings, target.hint)
                        .is_ok(),
                };
                let _ = if stored {
                    round.tally.succeed(self.id)
                } else {
                    round.tally.fail(self.id)
                };
                continue;
            }
            let message = Message::Write {
                request,
                partition,
                key: key.clone(),
                siblings: siblings.clone(),
                hint: target.hint,
            };
            self.send(out, target.node, message);
        }
        for extra in route.extras.iter().filter(|n| **n != self.id) {
            let message = Message::Write {
                request,
                partition,
                key: key.clone(),
                siblings: siblings.clone(),
                hint: None,
            };
            self.send(out, *extra, message);
        }
        self.puts.insert(request, round);
        self.arm_request(out, request);
        self.progress_put(request, out);
        Ok(())
    }

    fn forward(
        &mut self,
        origin: Origin,
        home: NodeId,
        command: Command,
        delete: bool,
        out: &mut Vec<Output>,
    ) -> Result<(), Failure> {
        self.stats.forwarded += 1;
        let request = self.mint_request();
        self.forwards.insert(request, (origin, home, delete));
        self.send(out, home, Message::Forward { request, command });
        // The home runs the put under its own request deadline and always answers by
        // then (success or failure); waiting twice as long lets its definitive answer
        // arrive instead of an "unknown outcome" timeout here, while it still bounds a
        // home that crashed.
        let after_ms = self.config.request_timeout_ms.saturating_mul(2);
        let timer = crate::message::Timer::Request(request);
        out.push(Output::SetTimer { timer, after_ms });
        Ok(())
    }

    pub(crate) fn on_forwarded(
        &mut self,
        from: NodeId,
        request: u64,
        reply: Reply,
        out: &mut Vec<Output>,
    ) {
        match self.forwards.get(&request) {
            Some((origin, home, delete)) if *home == from => {
                let (origin, delete) = (*origin, *delete);
                self.forwards.remove(&request);
                out.push(Output::CancelTimer {
                    timer: crate::message::Timer::Request(request),
                });
                let reply = match reply {
                    Reply::Put { .. } if delete => Reply::Deleted { existed: true },
                    other => other,
                };
                self.finish(origin, reply, out);
            }
            _ => self.ignore(),
        }
    }

    /// Store a replica, or a hint when standing in for `hint` (§4.6: kept apart).
    pub(crate) fn store_write(
        &mut self,
        partition: PartitionId,
        key: &[u8],
        siblings: &Siblings,
        hint: Option<NodeId>,
    ) -> Result<(), String> {
        let Some(target) = hint else {
            return self
                .merge_replica(partition, key, siblings)
                .map(|_| ())
                .map_err(|e| self.storage_failed(&e).to_string());
        };
        let hint = HintKey {
            target,
            partition,
            key: key.to_vec(),
        };
        let old = self
            .store
            .hint(&hint)
            .map_err(|e| self.storage_failed(&e).to_string())?;
        if old.is_none() {
            let held = self
                .store
                .hint_count()
                .map_err(|e| self.storage_failed(&e).to_string())?;
            if held >= self.config.hints_max {
                self.stats.hints_refused += 1;
                return Err(format!(
                    "hint store full: {held} hints, max {}",
                    self.config.hints_max
                ));
            }
            self.stats.hints_stored += 1;
        }
        let merged = old.map_or_else(|| siblings.clone(), |old| old.merged(siblings));
        self.store
            .put_hint(&hint, &merged)
            .map_err(|e| self.storage_failed(&e).to_string())
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn on_write(
        &mut self,
        from: NodeId,
        request: u64,
        partition: PartitionId,
        key: Key,
        siblings: Siblings,
        hint: Option<NodeId>,
        out: &mut Vec<Output>,
    ) {
        if !self.valid_key(partition, &key)
            || siblings.check_invariants().is_err()
            || hint == Some(self.id)
        {
            return self.ignore();
        }
        let message = match self.store_write(partition, &key, &siblings, hint) {
            Ok(()) => Message::WriteOk { request },
            Err(reason) => Message::Refused { request, reason },
        };
        self.send(out, from, message);
    }

    pub(crate) fn on_write_ok(&mut self, from: NodeId, request: u64, out: &mut Vec<Output>) {
        let Some(round) = self.puts.get_mut(&request) else {
            return self.ignore();
        };
        if !round.tally.succeed(from) && !round.extras.contains(&from) {
            return self.ignore();
        }
        self.progress_put(request, out);
    }

    pub(crate) fn on_refused(&mut self, from: NodeId, request: u64, out: &mut Vec<Output>) {
        if let Some(round) = self.gets.get_mut(&request) {
            if round.tally.fail(from) {
                return self.progress_get(request, out);
            }
        } else if let Some(round) = self.puts.get_mut(&request) {
            if round.tally.fail(from) {
                return self.progress_put(request, out);
            }
        } else if self.awaiting.get(&request).is_some_and(|a| a.peer == from) {
            self.forget_awaiting(request);
            return;
        }
        self.ignore();
    }

    fn progress_put(&mut self, request: u64, out: &mut Vec<Output>) {
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
                    self.stats.quorum_failures += 1;
                    let (needed, received) = (round.tally.needed(), round.tally.received());
                    Reply::Failed(Failure::QuorumNotReached { needed, received })
                }
            };
            self.finish(origin, reply, out);
        }
        if self
            .puts
            .get(&request)
            .is_some_and(|round| round.tally.complete())
        {
            self.puts.remove(&request);
            out.push(Output::CancelTimer {
                timer: crate::message::Timer::Request(request),
            });
        }
    }

    /// A request's deadline passed: answer if not yet, suspect the silent, repair.
    pub(crate) fn on_request_timeout(&mut self, request: u64, out: &mut Vec<Output>) {
        if let Some(round) = self.gets.remove(&request) {
            self.suspect_all(round.tally.silent().collect());
            if !round.answered {
                self.stats.timeouts += 1;
                let (needed, received) = (round.tally.needed(), round.tally.received());
                self.finish(
                    round.origin,
                    Reply::Failed(Failure::Timeout { needed, received }),
                    out,
                );
            }
            self.read_repair(round, out);
        } else if let Some(round) = self.puts.remove(&request) {
            self.suspect_all(round.tally.silent().collect());
            if !round.answered {
                self.stats.timeouts += 1;
                let (needed, received) = (round.tally.needed(), round.tally.received());
                self.finish(
                    round.origin,
                    Reply::Failed(Failure::Timeout { needed, received }),
                    out,
                );
            }
        } else if let Some((origin, home, _)) = self.forwards.remove(&request) {
            self.suspect_all(vec![home]);
            self.stats.timeouts += 1;
            self.finish(
                origin,
                Reply::Failed(Failure::Timeout {
                    needed: 1,
                    received: 0,
                }),
                out,
            );
        }
    }

    pub(crate) fn suspect_all(&mut self, nodes: Vec<NodeId>) {
        self.suspected
            .extend(nodes.into_iter().filter(|n| *n != self.id));
    }

    /// A key from a peer is acceptable: non-empty, within limits, in the named partition.
    pub(crate) fn valid_key(&self, partition: PartitionId, key: &[u8]) -> bool {
        !key.is_empty()
            && key.len() <= limits::KEY_BYTES_MAX
            && crate::hash::partition_of_key(key, self.config.ring.partitions) == partition
    }
}

/// Count a get reply (`None`: the replica failed to read) and merge what it holds.
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
