//! Partition transfer after a membership change (Dynamo §4.9, §6.2 strategy 3).
//!
//! [`Transfers`] owns the current epoch's plan and this node's outgoing streams. Every
//! node derives the same plan from the ring and the previous ring: for each partition
//! whose home replicas changed, each added home receives the partition from one sender
//! (a removed home, paired in order, else the first old home). The sender streams the
//! partition in key order, `transfer_chunk_keys` at a time, one chunk in flight,
//! resuming from its cursor after a loss. The last chunk's acknowledgement completes
//! the transfer; the completion spreads by gossip. Until then the sender stands in for
//! the new home in quorums (see `coordinator.rs`), so reads and writes stay correct
//! while the partition moves.
//!
//! A node holding a partition it is not a home of (it left, or the ring moved on) and
//! has no planned transfer for pushes it to the partition's homes, then drops it: data
//! leaves a node only after its new holders acknowledged it.
//!
//! Invariants:
//! - a partition is dropped only when every outgoing transfer of it is acknowledged;
//! - at most one chunk per (partition, receiver) is in flight;
//! - a chunk unanswered for `AWAIT_ROUNDS_MAX` handoff rounds is forgotten (its peer
//!   suspected) and resent from the stream's cursor.

use crate::detector::{FailureDetector, AWAIT_ROUNDS_MAX};
use crate::gossip::Cluster;
use crate::local::Local;
use crate::membership::{MemberStatus, Membership};
use crate::message::{Message, Output, RefuseReason};
use crate::store::Store;
use crate::types::{Key, NodeId, PartitionId};
use crate::version::Siblings;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most transfers with a chunk in flight at once (admission control for background work).
pub const TRANSFERS_IN_FLIGHT_MAX: usize = 4;
/// Most bytes (approximately: keys and values) a chunk carries; at least one entry is
/// always sent, so a chunk stays below `SIBLINGS_MAX` maximal values plus one key.
/// Keeps chunks of large values far below a driver's frame limit.
pub const TRANSFER_CHUNK_BYTES_MAX: usize = 8 * 1024 * 1024;

/// How many leading `entries` fit in `budget` bytes (at least one).
pub(crate) fn within_bytes(entries: &[(Key, Siblings)], budget: usize) -> usize {
    let mut used = 0usize;
    for (index, (key, siblings)) in entries.iter().enumerate() {
        let values: usize = siblings.iter().map(|s| s.content.size_bytes()).sum();
        used = used.saturating_add(key.len() + values + 64 * siblings.len());
        if used > budget && index > 0 {
            return index;
        }
    }
    entries.len()
}

/// Most entries a received chunk may carry.
pub const TRANSFER_CHUNK_MAX: usize = 4096;

/// One partition moving to one new home in the current epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) struct PlannedTransfer {
    pub partition: PartitionId,
    pub from: NodeId,
    pub to: NodeId,
}

/// One planned move of the current epoch, as operators see it (`Node::transfers`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TransferStatus {
    pub partition: PartitionId,
    pub from: NodeId,
    pub to: NodeId,
    /// The receiver acknowledged the last chunk (as far as this node has heard).
    pub done: bool,
}

/// A transfer this node sends.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct Outgoing {
    cursor: Option<Key>,
    in_flight: Option<u64>,
    done: bool,
    /// Part of the epoch's plan (else: pushing an orphaned partition away).
    planned: bool,
}

/// A chunk sent, awaiting its acknowledgement.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Chunk {
    peer: NodeId,
    partition: PartitionId,
    /// The stream's cursor once this chunk is acknowledged.
    next: Option<Key>,
    last: bool,
    /// Handoff rounds waited.
    rounds: u32,
}

/// The epoch's transfer plan and this node's streams (see the module documentation).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct Transfers {
    plan: Vec<PlannedTransfer>,
    outgoing: BTreeMap<(PartitionId, NodeId), Outgoing>,
    chunks: BTreeMap<u64, Chunk>,
}

impl Transfers {
    /// Recompute the plan for the current epoch and this node's outgoing transfers.
    pub fn replan(&mut self, me: NodeId, membership: &Membership, replication_factor: usize) {
        self.plan = compute_plan(membership, replication_factor);
        self.outgoing.clear();
        let mine = self.plan.iter().filter(|t| t.from == me);
        for moving in mine {
            let done = membership.is_completed(moving.partition, moving.to);
            let outgoing = Outgoing {
                done,
                planned: true,
                ..Outgoing::default()
            };
            self.outgoing
                .insert((moving.partition, moving.to), outgoing);
        }
    }

    /// Every planned transfer of the current epoch and whether it completed. Every node
    /// derives the same plan; completions reach a node by gossip, so a node's view of
    /// progress may lag the senders' own.
    pub fn statuses(&self, membership: &Membership) -> Vec<TransferStatus> {
        self.plan
            .iter()
            .map(|t| TransferStatus {
                partition: t.partition,
                from: t.from,
                to: t.to,
                done: membership.is_completed(t.partition, t.to),
            })
            .collect()
    }

    /// Receivers of `partition` planned this epoch with `from` as their sender,
    /// completed or not.
    pub fn planned_receivers(
        &self,
        partition: PartitionId,
        from: NodeId,
    ) -> impl Iterator<Item = NodeId> + '_ {
        self.plan
            .iter()
            .filter(move |t| t.partition == partition && t.from == from)
            .map(|t| t.to)
    }

    /// Planned transfers of `partition` not yet completed.
    pub fn pending<'a>(
        &'a self,
        membership: &'a Membership,
        partition: PartitionId,
    ) -> impl Iterator<Item = PlannedTransfer> + 'a {
        self.plan
            .iter()
            .copied()
            .filter(move |t| t.partition == partition && !membership.is_completed(partition, t.to))
    }

    /// Planned transfers of the current epoch not yet completed.
    pub fn running(&self, membership: &Membership) -> usize {
        self.plan
            .iter()
            .filter(|t| !membership.is_completed(t.partition, t.to))
            .count()
    }

    pub fn round<S: Store>(
        &mut self,
        local: &mut Local<S>,
        cluster: &mut Cluster,
        detector: &FailureDetector,
        out: &mut Vec<Output>,
    ) {
        if cluster.ring().is_none() {
            return;
        }
        self.adopt_orphans(local, cluster);
        let mut in_flight = self
            .outgoing
            .values()
            .filter(|o| o.in_flight.is_some())
            .count();
        let ready: Vec<(PartitionId, NodeId)> = self
            .outgoing
            .iter()
            .filter(|((_, to), o)| !o.done && o.in_flight.is_none() && detector.healthy(*to))
            .map(|(k, _)| *k)
            .collect();
        for (partition, to) in ready {
            if in_flight >= TRANSFERS_IN_FLIGHT_MAX {
                break;
            }
            if cluster.membership().is_completed(partition, to) {
                self.stream(partition, to).done = true;
                continue;
            }
            in_flight += self.send_chunk(local, cluster.epoch(), partition, to, out) as usize;
        }
        self.drop_handed_off(local, cluster);
    }

    fn stream(&mut self, partition: PartitionId, to: NodeId) -> &mut Outgoing {
        self.outgoing
            .get_mut(&(partition, to))
            .expect("a stream of this node")
    }

    fn send_chunk<S: Store>(
        &mut self,
        local: &mut Local<S>,
        epoch: u64,
        partition: PartitionId,
        to: NodeId,
        out: &mut Vec<Output>,
    ) -> bool {
        let chunk = local.config().transfer_chunk_keys;
        let cursor = self.outgoing[&(partition, to)].cursor.clone();
        let mut entries = match local.store().scan(partition, cursor.as_deref(), chunk) {
            Ok(entries) => entries,
            Err(error) => {
                local.storage_failed(&error);
                return false;
            }
        };
        let mut last = entries.len() < chunk;
        let fits = within_bytes(&entries, TRANSFER_CHUNK_BYTES_MAX);
        if fits < entries.len() {
            entries.truncate(fits);
            last = false;
        }
        let next = entries.last().map(|(key, _)| key.clone()).or(cursor);
        let request = local.mint_request();
        local.count().transfer_keys_sent += entries.len() as u64;
        let message = Message::Transfer {
            request,
            epoch,
            partition,
            entries,
            last,
        };
        local.send(out, to, message);
        let sent = Chunk {
            peer: to,
            partition,
            next,
            last,
            rounds: 0,
        };
        self.chunks.insert(request, sent);
        self.stream(partition, to).in_flight = Some(request);
        true
    }

    /// Partitions held here that this node is no home of and has no transfer for:
    /// push them to their homes before dropping them.
    fn adopt_orphans<S: Store>(&mut self, local: &Local<S>, cluster: &Cluster) {
        let Ok(stored) = local.store().partitions() else {
            return;
        };
        let ring = cluster.ring().expect("checked by the caller");
        let n = local.replication_factor();
        for partition in stored {
            let homes = ring.home_replicas(partition, n);
            let covered = self.outgoing.keys().any(|(p, _)| *p == partition);
            if homes.contains(&local.id()) || covered {
                continue;
            }
            for home in homes {
                self.outgoing.insert((partition, home), Outgoing::default());
            }
        }
    }

    /// Drop partitions this node is no home of once every transfer of them is acked.
    fn drop_handed_off<S: Store>(&mut self, local: &mut Local<S>, cluster: &mut Cluster) {
        let Ok(stored) = local.store().partitions() else {
            return;
        };
        let n = local.replication_factor();
        for partition in stored {
            let ring = cluster.ring().expect("checked by the caller");
            let home = ring.home_replicas(partition, n).contains(&local.id());
            let mut transfers = self.outgoing.iter().filter(|((p, _), _)| *p == partition);
            let all_done = transfers.all(|(_, o)| o.done);
            let any = self.outgoing.keys().any(|(p, _)| *p == partition);
            if home || !any || !all_done {
                continue;
            }
            if let Err(error) = local.drop_partition(partition) {
                local.storage_failed(&error);
            }
        }
        self.maybe_left(local, cluster);
    }

    /// A leaving node that handed everything off is done.
    fn maybe_left<S: Store>(&self, local: &mut Local<S>, cluster: &mut Cluster) {
        let me = local.id();
        let leaving = cluster
            .membership()
            .member(me)
            .is_some_and(|m| m.status == MemberStatus::Leaving);
        let in_ring = cluster.ring().is_some_and(|ring| ring.contains(me));
        let empty = local.store().partitions().is_ok_and(|p| p.is_empty());
        let idle = self.outgoing.values().all(|o| o.done);
        if leaving && !in_ring && empty && idle {
            cluster.mark_left(local);
        }
    }

    /// The receiver's side: merge a chunk, complete the transfer on the last one.
    pub fn on_transfer<S: Store>(
        &self,
        local: &mut Local<S>,
        cluster: &mut Cluster,
        from: NodeId,
        chunk: ReceivedChunk,
        out: &mut Vec<Output>,
    ) {
        let ReceivedChunk {
            request,
            epoch,
            partition,
            entries,
            last,
        } = chunk;
        let valid = entries.len() <= TRANSFER_CHUNK_MAX
            && entries
                .iter()
                .all(|(key, s)| local.valid_key(partition, key) && s.check_invariants().is_ok());
        if !valid {
            return local.ignore();
        }
        if epoch != cluster.epoch() {
            // Only a receiver that sees the same ring knows it is a home of the
            // partition; otherwise it might take the data and drop it as an orphan
            // while the sender counts it delivered. Gossip will align the epochs.
            let ours = cluster.epoch();
            let reason = RefuseReason::EpochMismatch {
                theirs: epoch,
                ours,
            };
            return local.send(out, from, Message::Refused { request, reason });
        }
        for (key, siblings) in &entries {
            if let Err(error) = local.merge_replica(partition, key, siblings) {
                local.storage_failed(&error);
                let reason = RefuseReason::Storage {
                    message: error.message,
                };
                return local.send(out, from, Message::Refused { request, reason });
            }
        }
        local.count().transfer_keys_received += entries.len() as u64;
        let me = local.id();
        let planned = self
            .plan
            .iter()
            .any(|t| t.partition == partition && t.from == from && t.to == me);
        if last && planned {
            cluster.complete_transfer(local, partition, me);
        }
        let message = Message::TransferOk {
            request,
            epoch,
            partition,
            last,
        };
        local.send(out, from, message);
    }

    /// The sender's side: a chunk was acknowledged; advance the stream.
    pub fn on_transfer_ok<S: Store>(
        &mut self,
        local: &mut Local<S>,
        cluster: &mut Cluster,
        from: NodeId,
        request: u64,
        (epoch, partition): (u64, PartitionId),
    ) {
        let expected = self
            .chunks
            .get(&request)
            .is_some_and(|c| c.peer == from && c.partition == partition);
        if !expected {
            return local.ignore();
        }
        let Chunk { next, last, .. } = self.chunks.remove(&request).expect("checked above");
        let Some(outgoing) = self.outgoing.get_mut(&(partition, from)) else {
            return;
        };
        outgoing.in_flight = None;
        outgoing.cursor = next;
        outgoing.done = last;
        if last && outgoing.planned && epoch == cluster.epoch() {
            cluster.complete_transfer(local, partition, from);
        }
    }

    /// One round passed: forget chunks that waited too long (their streams resend from
    /// the cursor); returns their peers.
    pub fn age(&mut self) -> Vec<NodeId> {
        let expired: Vec<u64> = self
            .chunks
            .iter_mut()
            .filter_map(|(request, chunk)| {
                chunk.rounds += 1;
                (chunk.rounds > AWAIT_ROUNDS_MAX).then_some(*request)
            })
            .collect();
        expired
            .into_iter()
            .filter_map(|request| self.forget_chunk(request))
            .collect()
    }

    /// A peer refused `request`: forget it if it was a chunk sent to that peer.
    pub fn forget(&mut self, request: u64, from: NodeId) -> bool {
        if self.chunks.get(&request).is_some_and(|c| c.peer == from) {
            self.forget_chunk(request);
            return true;
        }
        false
    }

    /// Stop waiting for a chunk; its stream becomes sendable again from its cursor.
    fn forget_chunk(&mut self, request: u64) -> Option<NodeId> {
        let chunk = self.chunks.remove(&request)?;
        if let Some(outgoing) = self.outgoing.get_mut(&(chunk.partition, chunk.peer)) {
            outgoing.in_flight = None;
        }
        Some(chunk.peer)
    }

    pub fn in_flight(&self) -> usize {
        self.chunks.len()
    }
}

/// A `Message::Transfer` as received.
#[derive(Clone, Debug)]
pub(crate) struct ReceivedChunk {
    pub request: u64,
    pub epoch: u64,
    pub partition: PartitionId,
    pub entries: Vec<(Key, Siblings)>,
    pub last: bool,
}

fn compute_plan(membership: &Membership, n: usize) -> Vec<PlannedTransfer> {
    let (Some(ring), Some(previous)) = (membership.ring(), membership.previous()) else {
        return Vec::new();
    };
    // A member marked left is gone (removed, or done leaving): never a sender.
    let gone = |node: &NodeId| {
        membership
            .member(*node)
            .is_none_or(|m| m.status == MemberStatus::Left)
    };
    let mut plan = Vec::new();
    for change in previous.replica_changes(ring, n) {
        let old = previous.home_replicas(change.partition, n);
        let survivors: Vec<NodeId> = old.iter().copied().filter(|h| !gone(h)).collect();
        for (i, to) in change.added.iter().enumerate() {
            let from = match change.removed.get(i) {
                Some(removed) if !gone(removed) => *removed,
                // Re-sourced from a surviving old home (none: the data is lost).
                _ if survivors.is_empty() => continue,
                Some(_) => survivors[i % survivors.len()],
                None => survivors[0],
            };
            plan.push(PlannedTransfer {
                partition: change.partition,
                from,
                to: *to,
            });
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::VersionVector;
    use crate::types::ActorId;
    use crate::version::Content;

    fn entry(key: &str, value_bytes: usize) -> (Key, Siblings) {
        let mut siblings = Siblings::new();
        let value = Content::Value(vec![7; value_bytes]);
        let actor = ActorId::new(NodeId(1), 1);
        siblings
            .update(&VersionVector::new(), value, actor)
            .unwrap();
        (key.as_bytes().to_vec(), siblings)
    }

    #[test]
    fn chunks_stop_at_the_byte_budget_but_always_carry_one_entry() {
        let big: Vec<_> = (0..10)
            .map(|i| entry(&format!("k{i}"), 1_000_000))
            .collect();
        // 10 values of 1 MB against 3.5 MB: three fit.
        assert_eq!(within_bytes(&big, 3_500_000), 3);
        // One value larger than the budget still goes alone (progress is guaranteed).
        assert_eq!(within_bytes(&big, 10), 1);
        let small: Vec<_> = (0..10).map(|i| entry(&format!("k{i}"), 10)).collect();
        assert_eq!(within_bytes(&small, TRANSFER_CHUNK_BYTES_MAX), 10);
        assert_eq!(within_bytes(&[], 10), 0);
    }
}
