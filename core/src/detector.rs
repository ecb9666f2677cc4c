//! Local failure detection (Dynamo §4.8.3).
//!
//! A node suspects a peer that left a request unanswered (a coordinator's deadline, a
//! background request past `AWAIT_ROUNDS_MAX` rounds) and routes around it; every gossip
//! round it pings each suspected peer, and any message from a peer clears the suspicion.
//! There is no global view of failure: each node decides for itself, as in the paper.
//!
//! Invariants:
//! - a node never suspects itself;
//! - at most one ping per suspected peer is in flight;
//! - a ping unanswered for `AWAIT_ROUNDS_MAX` rounds is forgotten, so the peer is
//!   probed again.

use crate::local::Local;
use crate::message::{Message, Output};
use crate::store::Store;
use crate::types::NodeId;
use std::collections::{BTreeMap, BTreeSet};

/// Handoff rounds a background request (ping, hint delivery, transfer chunk) may wait
/// for its answer before it is forgotten and its peer suspected.
pub const AWAIT_ROUNDS_MAX: u32 = 3;

/// Which peers this node suspects, and the pings it sent them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct FailureDetector {
    /// Peers that did not answer; routed around and probed until they answer.
    suspected: BTreeSet<NodeId>,
    /// Pings awaiting their pong: request -> (peer, rounds waited).
    pings: BTreeMap<u64, (NodeId, u32)>,
}

impl FailureDetector {
    pub fn suspected(&self) -> &BTreeSet<NodeId> {
        &self.suspected
    }

    /// Whether `node` may be sent requests (this node itself always may).
    pub fn healthy(&self, node: NodeId) -> bool {
        !self.suspected.contains(&node)
    }

    /// A peer was heard from: it is reachable again.
    pub fn heard_from(&mut self, node: NodeId) {
        self.suspected.remove(&node);
    }

    /// Suspect the peers that left a request unanswered (never `me`).
    pub fn suspect(&mut self, me: NodeId, nodes: impl IntoIterator<Item = NodeId>) {
        self.suspected
            .extend(nodes.into_iter().filter(|node| *node != me));
    }

    /// Ping every suspected peer that has no ping in flight.
    pub fn probe<S: Store>(&mut self, local: &mut Local<S>, out: &mut Vec<Output>) {
        let probing: BTreeSet<NodeId> = self.pings.values().map(|(peer, _)| *peer).collect();
        let targets: Vec<NodeId> = self.suspected.difference(&probing).copied().collect();
        for peer in targets {
            let request = local.mint_request();
            local.send(out, peer, Message::Ping { request });
            self.pings.insert(request, (peer, 0));
        }
    }

    pub fn on_pong<S: Store>(&mut self, local: &mut Local<S>, from: NodeId, request: u64) {
        match self.pings.get(&request) {
            Some((peer, _)) if *peer == from => {
                self.pings.remove(&request);
            }
            _ => local.ignore(),
        }
    }

    /// One background round passed: forget pings that waited too long; returns their
    /// peers (still suspected, probed again next gossip round).
    pub fn age(&mut self) -> Vec<NodeId> {
        let mut expired = Vec::new();
        self.pings.retain(|_, (peer, rounds)| {
            *rounds += 1;
            let keep = *rounds <= AWAIT_ROUNDS_MAX;
            if !keep {
                expired.push(*peer);
            }
            keep
        });
        expired
    }

    /// A peer refused `request`: forget it if it was a ping to that peer.
    pub fn forget(&mut self, request: u64, from: NodeId) -> bool {
        if self
            .pings
            .get(&request)
            .is_some_and(|(peer, _)| *peer == from)
        {
            self.pings.remove(&request);
            return true;
        }
        false
    }

    pub fn check(&self, me: NodeId) -> Result<(), &'static str> {
        if self.suspected.contains(&me) {
            return Err("a node never suspects itself");
        }
        Ok(())
    }
}
