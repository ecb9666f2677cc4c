//! Sibling sets as dotted version vectors (Dynamo §4.4; DVVSet, Almeida et al. 2014).
//!
//! SKELETON: the types are fixed (other modules build on them); the operations and
//! their laws are being written (issue 2).

use crate::clock::{Dot, VersionVector};
use crate::types::ActorId;
use serde::{Deserialize, Serialize};

/// What a sibling holds: a value, or the tombstone a delete leaves.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Content {
    Value(#[serde(with = "serde_bytes")] Vec<u8>),
    Tombstone,
}

/// One concurrent version of a key: the update `dot` made over what `context` covered.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Sibling {
    pub dot: Dot,
    pub context: VersionVector,
    pub content: Content,
}

/// The stored versions of one key: every sibling not yet superseded, plus the causal
/// past (`clock`) of the whole set, which also remembers superseded dots.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Siblings {
    clock: VersionVector,
    siblings: Vec<Sibling>,
}

impl Siblings {
    pub fn new() -> Self {
        Self::default()
    }

    /// The causal past of the set: the context a get returns.
    pub fn clock(&self) -> &VersionVector {
        &self.clock
    }

    /// Siblings in dot order.
    pub fn iter(&self) -> impl Iterator<Item = &Sibling> + '_ {
        self.siblings.iter()
    }

    pub fn len(&self) -> usize {
        self.siblings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.siblings.is_empty()
    }

    /// A put coordinated by `actor` over `context`: drops the siblings the context
    /// covers, adds the new sibling with a fresh dot. (Skeleton: no limits yet.)
    pub fn update(&mut self, context: &VersionVector, content: Content, actor: ActorId) -> Dot {
        self.siblings.retain(|sibling| !context.covers(sibling.dot));
        self.clock.merge(context);
        let dot = self.clock.increment(actor);
        self.siblings.push(Sibling {
            dot,
            context: context.clone(),
            content,
        });
        self.siblings.sort();
        dot
    }
}
