//! What travels on the model's network: client requests, replies and peer messages.
//!
//! stateright sorts actions and keys its network by the message type, so it must be
//! `Ord`; the core's `Message`, `Command` and `Reply` are not (they need not be). A
//! [`Msg`] carries a fingerprint of its body, computed once when it is built, and
//! orders by it; two different bodies with one fingerprint are ordered by their
//! postcard encoding, so the order stays total and consistent with `Eq`.

use dynamo_core::message::{Command, Message, Reply, RequestId};
use serde::Serialize;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};

/// The body of a model message.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Body {
    /// Client -> node: a command, to feed to `Node::step` as `Input::Client`.
    Request {
        request: RequestId,
        command: Command,
    },
    /// Node -> client: the node's `Output::Reply`.
    Reply { request: RequestId, reply: Reply },
    /// Node -> node: an `Output::Send`, delivered as `Input::Peer`.
    Peer(Message),
}

/// A model message: its body and the body's fingerprint (see the module doc).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Msg {
    fingerprint: u64,
    body: Body,
}

impl Msg {
    pub fn new(body: Body) -> Self {
        // `DefaultHasher::new` has fixed keys: the order is the same in every run, so
        // stateright's action order (and its counterexample paths) replay.
        let mut hasher = DefaultHasher::new();
        body.hash(&mut hasher);
        Self {
            fingerprint: hasher.finish(),
            body,
        }
    }

    pub fn body(&self) -> &Body {
        &self.body
    }

    fn encoded(&self) -> Vec<u8> {
        postcard::to_allocvec(&self.body).expect("model messages encode")
    }
}

impl fmt::Debug for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.body.fmt(f)
    }
}

impl Ord for Msg {
    fn cmp(&self, other: &Self) -> Ordering {
        match self.fingerprint.cmp(&other.fingerprint) {
            Ordering::Equal if self.body != other.body => self.encoded().cmp(&other.encoded()),
            Ordering::Equal => Ordering::Equal,
            unequal => unequal,
        }
    }
}

impl PartialOrd for Msg {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_consistent_with_equality() {
        let a = Msg::new(Body::Peer(Message::Ping { request: 1 }));
        let b = Msg::new(Body::Peer(Message::Ping { request: 2 }));
        assert_eq!(a.cmp(&a.clone()), Ordering::Equal);
        assert_ne!(a.cmp(&b), Ordering::Equal);
        assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
    }
}
