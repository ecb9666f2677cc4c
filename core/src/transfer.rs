//! Partition transfer after a membership change (Dynamo §4.9, §6.2 strategy 3).
//!
//! Every node derives the same plan from the ring and the previous ring: for each
//! partition whose home replicas changed, each added home receives the partition from
//! one sender (a removed home, paired in order, else the first old home). The sender
//! streams the partition in key order, `transfer_chunk_keys` at a time, one chunk in
//! flight, resuming from its cursor after a loss. The last chunk's acknowledgement
//! completes the transfer; the completion spreads by gossip. Until then the sender
//! stands in for the new home in quorums (see `coordinator.rs`), so reads and writes
//! stay correct while the partition moves.
//!
//! A node holding a partition it is not a home of (it left, or the ring moved on) and
//! has no planned transfer for pushes it to the partition's homes, then drops it: data
//! leaves a node only after its new holders acknowledged it.
//!
//! Invariants:
//! - a partition is dropped only when every outgoing transfer of it is acknowledged;
//! - at most one chunk per (partition, receiver) is in flight.

use crate::membership::MemberStatus;
use crate::message::{Message, Output};
use crate::node::{AwaitKind, Awaiting, Node};
use crate::store::Store;
use crate::types::{Key, NodeId, PartitionId};
use crate::version::Siblings;
use serde::{Deserialize, Serialize};

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
        let values: usize = siblings
            .iter()
            .map(|s| s.content.value().map_or(0, <[u8]>::len))
            .sum();
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
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct Outgoing {
    pub cursor: Option<Key>,
    pub in_flight: Option<u64>,
    pub done: bool,
    /// Part of the epoch's plan (else: pushing an orphaned partition away).
    pub planned: bool,
}

impl<S: Store> Node<S> {
    /// Recompute the plan for the current epoch and this node's outgoing transfers.
    pub(crate) fn replan(&mut self) {
        self.plan = self.compute_plan();
        self.outgoing.clear();
        let mine: Vec<PlannedTransfer> = self
            .plan
            .iter()
            .copied()
            .filter(|t| t.from == self.id)
            .collect();
        for moving in mine {
            let done = self.membership.is_completed(moving.partition, moving.to);
            let outgoing = Outgoing {
                done,
                planned: true,
                ..Outgoing::default()
            };
            self.outgoing
                .insert((moving.partition, moving.to), outgoing);
        }
    }

    fn compute_plan(&self) -> Vec<PlannedTransfer> {
        let (Some(ring), Some(previous)) = (self.membership.ring(), self.membership.previous())
        else {
            return Vec::new();
        };
        let n = self.config.ring.replication_factor;
        let mut plan = Vec::new();
        for change in previous.replica_changes(ring, n) {
            let first_old = previous.home_replicas(change.partition, n)[0];
            for (i, to) in change.added.iter().enumerate() {
                let from = change.removed.get(i).copied().unwrap_or(first_old);
                plan.push(PlannedTransfer {
                    partition: change.partition,
                    from,
                    to: *to,
                });
            }
        }
        plan
    }

    /// Every planned transfer of the current epoch and whether it completed. Every node
    /// derives the same plan; completions reach a node by gossip, so a node's view of
    /// progress may lag the senders' own.
    pub fn transfers(&self) -> Vec<TransferStatus> {
        self.plan
            .iter()
            .map(|t| TransferStatus {
                partition: t.partition,
                from: t.from,
                to: t.to,
                done: self.membership.is_completed(t.partition, t.to),
            })
            .collect()
    }

    /// Planned transfers of `partition` not yet completed.
    pub(crate) fn pending_transfers(
        &self,
        partition: PartitionId,
    ) -> impl Iterator<Item = PlannedTransfer> + '_ {
        self.plan.iter().copied().filter(move |t| {
            t.partition == partition && !self.membership.is_completed(partition, t.to)
        })
    }

    pub(crate) fn transfer_round(&mut self, out: &mut Vec<Output>) {
        if self.ring().is_none() {
            return;
        }
        self.adopt_orphans();
        let mut in_flight = self
            .outgoing
            .values()
            .filter(|o| o.in_flight.is_some())
            .count();
        let ready: Vec<(PartitionId, NodeId)> = self
            .outgoing
            .iter()
            .filter(|((_, to), o)| !o.done && o.in_flight.is_none() && self.healthy(*to))
            .map(|(k, _)| *k)
            .collect();
        for (partition, to) in ready {
            if in_flight >= TRANSFERS_IN_FLIGHT_MAX {
                break;
            }
            if self.membership.is_completed(partition, to) {
                self.outgoing
                    .get_mut(&(partition, to))
                    .expect("exists")
                    .done = true;
                continue;
            }
            in_flight += self.send_chunk(partition, to, out) as usize;
        }
        self.drop_handed_off();
    }

    fn send_chunk(&mut self, partition: PartitionId, to: NodeId, out: &mut Vec<Output>) -> bool {
        let chunk = self.config.transfer_chunk_keys;
        let cursor = self.outgoing[&(partition, to)].cursor.clone();
        let mut entries = match self.store.scan(partition, cursor.as_deref(), chunk) {
            Ok(entries) => entries,
            Err(error) => {
                self.storage_failed(&error);
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
        let request = self.mint_request();
        self.stats.transfer_keys_sent += entries.len() as u64;
        let epoch = self.membership.epoch();
        self.send(
            out,
            to,
            Message::Transfer {
                request,
                epoch,
                partition,
                entries,
                last,
            },
        );
        let kind = AwaitKind::Transfer {
            partition,
            next,
            last,
        };
        self.awaiting.insert(
            request,
            Awaiting {
                peer: to,
                kind,
                rounds: 0,
            },
        );
        self.outgoing
            .get_mut(&(partition, to))
            .expect("exists")
            .in_flight = Some(request);
        true
    }

    /// Partitions held here that this node is no home of and has no transfer for:
    /// push them to their homes before dropping them.
    fn adopt_orphans(&mut self) {
        let Ok(stored) = self.store.partitions() else {
            return;
        };
        let n = self.config.ring.replication_factor;
        for partition in stored {
            let ring = self.ring().expect("checked by the caller");
            let homes = ring.home_replicas(partition, n);
            let covered = self.outgoing.keys().any(|(p, _)| *p == partition);
            if homes.contains(&self.id) || covered {
                continue;
            }
            for home in homes {
                self.outgoing.insert((partition, home), Outgoing::default());
            }
        }
    }

    /// Drop partitions this node is no home of once every transfer of them is acked.
    fn drop_handed_off(&mut self) {
        let Ok(stored) = self.store.partitions() else {
            return;
        };
        let n = self.config.ring.replication_factor;
        for partition in stored {
            let ring = self.ring().expect("checked by the caller");
            let home = ring.home_replicas(partition, n).contains(&self.id);
            let mut transfers = self.outgoing.iter().filter(|((p, _), _)| *p == partition);
            let all_done = transfers.all(|(_, o)| o.done);
            let any = self.outgoing.keys().any(|(p, _)| *p == partition);
            if home || !any || !all_done {
                continue;
            }
            match self.store.drop_partition(partition) {
                Ok(()) => {
                    self.trees.remove(&partition);
                    self.stats.partitions_dropped += 1;
                    // Own dots of the dropped keys now live only elsewhere.
                    if let Err(error) = self.renew_actor() {
                        self.storage_failed(&error);
                    }
                }
                Err(error) => {
                    self.storage_failed(&error);
                }
            }
        }
        self.maybe_left();
    }

    /// A leaving node that handed everything off is done.
    fn maybe_left(&mut self) {
        let leaving = self
            .membership
            .member(self.id)
            .is_some_and(|m| m.status == MemberStatus::Leaving);
        let in_ring = self.ring().is_some_and(|ring| ring.contains(self.id));
        let empty = self.store.partitions().is_ok_and(|p| p.is_empty());
        let idle = self.outgoing.values().all(|o| o.done);
        if leaving && !in_ring && empty && idle {
            let epoch = self.membership.epoch();
            self.membership.set_status(self.id, MemberStatus::Left);
            self.membership_changed(epoch);
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn on_transfer(
        &mut self,
        from: NodeId,
        request: u64,
        epoch: u64,
        partition: PartitionId,
        entries: Vec<(Key, Siblings)>,
        last: bool,
        out: &mut Vec<Output>,
    ) {
        let valid = entries.len() <= TRANSFER_CHUNK_MAX
            && entries
                .iter()
                .all(|(key, s)| self.valid_key(partition, key) && s.check_invariants().is_ok());
        if !valid {
            return self.ignore();
        }
        if epoch != self.membership.epoch() {
            // Only a receiver that sees the same ring knows it is a home of the
            // partition; otherwise it might take the data and drop it as an orphan
            // while the sender counts it delivered. Gossip will align the epochs.
            let reason = format!(
                "transfer of epoch {epoch}, this node is at epoch {}",
                self.membership.epoch()
            );
            return self.send(out, from, Message::Refused { request, reason });
        }
        for (key, siblings) in &entries {
            if let Err(error) = self.merge_replica(partition, key, siblings) {
                let reason = self.storage_failed(&error).to_string();
                return self.send(out, from, Message::Refused { request, reason });
            }
        }
        self.stats.transfer_keys_received += entries.len() as u64;
        let planned = self
            .plan
            .iter()
            .any(|t| t.partition == partition && t.from == from && t.to == self.id);
        if last && planned {
            self.complete(partition, self.id);
        }
        self.send(
            out,
            from,
            Message::TransferOk {
                request,
                epoch,
                partition,
                last,
            },
        );
    }

    pub(crate) fn on_transfer_ok(
        &mut self,
        from: NodeId,
        request: u64,
        epoch: u64,
        partition: PartitionId,
    ) {
        let Some(Awaiting {
            peer,
            kind:
                AwaitKind::Transfer {
                    partition: sent,
                    next,
                    last,
                },
            ..
        }) = self.awaiting.get(&request).cloned()
        else {
            return self.ignore();
        };
        if peer != from || sent != partition {
            return self.ignore();
        }
        self.awaiting.remove(&request);
        let Some(outgoing) = self.outgoing.get_mut(&(partition, from)) else {
            return;
        };
        outgoing.in_flight = None;
        outgoing.cursor = next;
        outgoing.done = last;
        if last && outgoing.planned && epoch == self.membership.epoch() {
            self.complete(partition, from);
        }
    }

    fn complete(&mut self, partition: PartitionId, node: NodeId) {
        if self.membership.is_completed(partition, node) {
            return;
        }
        let epoch = self.membership.epoch();
        self.membership.complete_transfer(partition, node);
        self.membership_changed(epoch);
    }
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
