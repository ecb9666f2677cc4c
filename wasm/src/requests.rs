//! Which client request each message serves, and the answers each request collected.
//!
//! A node mints a request id for every read, write or forward round it starts, and
//! the answers echo it; the simulator's history numbers client requests. This module
//! links the two from the messages themselves: the messages a step sends serve the
//! client request that the step's cause served (a client invocation, a delivered
//! message of that request, or that request's deadline). So a put's `Write`s serve it
//! because its coordinator sent them while handling the put, the replicas' `WriteOk`s
//! because they answer those `Write`s, and a forwarded put's home's `Write`s because
//! it sent them while handling the `Forward`.
//!
//! Invariants:
//! - a (node, request id) pair names at most one client request;
//! - an answer is recorded once per replica and request (a duplicate is ignored, as
//!   the coordinator ignores it);
//! - at most `TRACKED_MAX` requests are remembered (the oldest are forgotten).

use crate::wire::{Flight, MessageKind};
use dynamo_core::types::NodeId;
use serde::Serialize;
use std::collections::BTreeMap;

/// Most client requests whose messages and answers are remembered.
pub const TRACKED_MAX: usize = 512;

/// One replica's answer to a coordinator, as delivered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Answer {
    pub node: u32,
    /// `ReadOk`/`WriteOk`; false for `Refused`.
    pub ok: bool,
    /// Delivered before the client had its reply (so it could count towards it).
    pub in_time: bool,
}

/// What is known of one client request beyond the simulator's history.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tracked {
    /// The node that sent the request's reads or writes and collects the answers
    /// (the coordinator, or the home a put was forwarded to).
    pub collector: Option<NodeId>,
    pub answers: Vec<Answer>,
}

#[derive(Debug, Default)]
pub struct Requests {
    /// (node that minted it, request id) -> client request (history index).
    by_peer: BTreeMap<(NodeId, u64), usize>,
    tracked: BTreeMap<usize, Tracked>,
}

impl Requests {
    pub fn get(&self, request: usize) -> Option<&Tracked> {
        self.tracked.get(&request)
    }

    /// The client request whose round `node` numbered `peer_request`, if any.
    pub fn by_peer(&self, node: NodeId, peer_request: u64) -> Option<usize> {
        self.by_peer.get(&(node, peer_request)).copied()
    }

    /// `flight` was sent while its sender handled client request `request`.
    pub fn attribute(&mut self, request: usize, flight: &mut Flight) {
        let kind = flight.message.kind;
        if !kind.serves_clients() {
            return;
        }
        flight.message.request = Some(request);
        let sender = NodeId(flight.from);
        if let (true, Some(id)) = (kind.mints_request(), flight.message.peer_request) {
            self.by_peer.insert((sender, id), request);
        }
        let tracked = self.tracked.entry(request).or_default();
        if matches!(kind, MessageKind::Read | MessageKind::Write) {
            tracked.collector = Some(sender);
        }
        self.forget_old();
    }

    /// A replica's answer to `request` reached its collector.
    pub fn answer(&mut self, request: usize, from: NodeId, ok: bool, in_time: bool) {
        let tracked = self.tracked.entry(request).or_default();
        if tracked.answers.iter().any(|a| a.node == from.0) {
            return;
        }
        tracked.answers.push(Answer {
            node: from.0,
            ok,
            in_time,
        });
    }

    fn forget_old(&mut self) {
        while self.tracked.len() > TRACKED_MAX {
            let Some((&oldest, _)) = self.tracked.iter().next() else {
                break;
            };
            self.tracked.remove(&oldest);
            self.by_peer.retain(|_, request| *request != oldest);
        }
    }
}
