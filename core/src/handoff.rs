//! Hinted handoff and peer probing (Dynamo §4.6, §4.8 failure detection).
//!
//! A fallback that took a write for an unreachable home node keeps it in its hint store,
//! apart from its own replicas. Every handoff round it offers up to `handoff_batch` hints
//! whose home node it believes reachable; it deletes a hint only once the home node
//! acknowledged the delivery *and* the hint has not changed since it was sent (a newer
//! write merged into it must be delivered too).
//!
//! Invariants:
//! - a hint is deleted only after a `HandoffOk` for exactly the version delivered;
//! - at most one delivery per hint is in flight;
//! - a background request unanswered for `AWAIT_ROUNDS_MAX` rounds marks its peer
//!   suspected and is forgotten (the work is retried later).

use crate::message::{Message, Output};
use crate::node::{AwaitKind, Awaiting, Mutant, Node};
use crate::store::{HintKey, Store};
use crate::types::NodeId;
use crate::version::Siblings;
use std::collections::BTreeSet;

/// Handoff rounds a background request may wait before its peer is suspected.
pub const AWAIT_ROUNDS_MAX: u32 = 3;
/// Hints examined per round, so a round stays bounded with many unreachable targets.
pub const HANDOFF_SCAN_MAX: usize = 4096;

impl<S: Store> Node<S> {
    pub(crate) fn handoff_round(&mut self, out: &mut Vec<Output>) {
        self.age_awaiting();
        let hints = match self
            .store
            .hints(self.handoff_cursor.as_ref(), HANDOFF_SCAN_MAX)
        {
            Ok(hints) => hints,
            Err(error) => {
                self.storage_failed(&error);
                return;
            }
        };
        self.handoff_cursor = match hints.last() {
            Some((hint, _)) if hints.len() == HANDOFF_SCAN_MAX => Some(hint.clone()),
            _ => None,
        };
        let in_flight: BTreeSet<HintKey> = self
            .awaiting
            .values()
            .filter_map(|a| match &a.kind {
                AwaitKind::Handoff { hint, .. } => Some(hint.clone()),
                _ => None,
            })
            .collect();
        let ready = hints
            .into_iter()
            .filter(|(hint, _)| self.healthy(hint.target) && !in_flight.contains(hint))
            .take(self.config.handoff_batch)
            .collect::<Vec<_>>();
        for (hint, siblings) in ready {
            self.deliver_hint(hint, siblings, out);
        }
    }

    fn deliver_hint(&mut self, hint: HintKey, siblings: Siblings, out: &mut Vec<Output>) {
        let request = self.mint_request();
        let target = hint.target;
        let message = Message::Handoff {
            request,
            hint: hint.clone(),
            siblings: siblings.clone(),
        };
        self.send(out, target, message);
        if self.mutant == Mutant::DeleteHintBeforeAck {
            let _ = self.store.remove_hint(&hint);
            return;
        }
        let kind = AwaitKind::Handoff { hint, siblings };
        self.awaiting.insert(
            request,
            Awaiting {
                peer: target,
                kind,
                rounds: 0,
            },
        );
    }

    /// Forget background requests that waited too long and suspect their peers.
    fn age_awaiting(&mut self) {
        let mut expired = Vec::new();
        for (request, awaiting) in self.awaiting.iter_mut() {
            awaiting.rounds += 1;
            if awaiting.rounds > AWAIT_ROUNDS_MAX {
                expired.push(*request);
            }
        }
        for request in expired {
            if let Some(peer) = self.forget_awaiting(request) {
                self.suspect_all(vec![peer]);
            }
        }
    }

    /// Stop waiting for `request` (expired or refused); a transfer chunk becomes
    /// sendable again from its cursor. Returns the peer it was sent to.
    pub(crate) fn forget_awaiting(&mut self, request: u64) -> Option<NodeId> {
        let awaiting = self.awaiting.remove(&request)?;
        if let AwaitKind::Transfer { partition, .. } = awaiting.kind {
            if let Some(outgoing) = self.outgoing.get_mut(&(partition, awaiting.peer)) {
                outgoing.in_flight = None;
            }
        }
        Some(awaiting.peer)
    }

    pub(crate) fn on_handoff(
        &mut self,
        from: NodeId,
        request: u64,
        hint: HintKey,
        siblings: Siblings,
        out: &mut Vec<Output>,
    ) {
        let valid = hint.target == self.id
            && self.valid_key(hint.partition, &hint.key)
            && siblings.check_invariants().is_ok();
        if !valid {
            return self.ignore();
        }
        let message = match self.merge_replica(hint.partition, &hint.key, &siblings) {
            Ok(_) => Message::HandoffOk { request },
            Err(error) => Message::Refused {
                request,
                reason: self.storage_failed(&error).to_string(),
            },
        };
        self.send(out, from, message);
    }

    pub(crate) fn on_handoff_ok(&mut self, from: NodeId, request: u64) {
        let Some(Awaiting {
            peer,
            kind: AwaitKind::Handoff { hint, siblings },
            ..
        }) = self.awaiting.get(&request).cloned()
        else {
            return self.ignore();
        };
        if peer != from {
            return self.ignore();
        }
        self.awaiting.remove(&request);
        match self.store.hint(&hint) {
            Ok(Some(current)) if current == siblings => match self.store.remove_hint(&hint) {
                Ok(()) => self.stats.hints_delivered += 1,
                Err(error) => {
                    self.storage_failed(&error);
                }
            },
            Ok(_) => {}
            Err(error) => {
                self.storage_failed(&error);
            }
        }
    }

    /// Probe suspected peers; any answer clears the suspicion.
    pub(crate) fn probe(&mut self, out: &mut Vec<Output>) {
        let probing: BTreeSet<NodeId> = self
            .awaiting
            .values()
            .filter(|a| matches!(a.kind, AwaitKind::Ping))
            .map(|a| a.peer)
            .collect();
        let targets: Vec<NodeId> = self.suspected.difference(&probing).copied().collect();
        for peer in targets {
            let request = self.mint_request();
            self.send(out, peer, Message::Ping { request });
            self.awaiting.insert(
                request,
                Awaiting {
                    peer,
                    kind: AwaitKind::Ping,
                    rounds: 0,
                },
            );
        }
    }

    pub(crate) fn on_pong(&mut self, from: NodeId, request: u64) {
        match self.awaiting.get(&request) {
            Some(awaiting) if awaiting.peer == from && awaiting.kind == AwaitKind::Ping => {
                self.awaiting.remove(&request);
            }
            _ => self.ignore(),
        }
    }
}
