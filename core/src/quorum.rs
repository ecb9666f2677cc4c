//! Quorum counting (Dynamo §4.5): a pure tracker of one request's replies.
//!
//! A coordinator sends a request to `targets` replicas and succeeds once `needed` of
//! them answer. It fails as soon as success is impossible: when
//! `failures + needed > targets`, some of the answers it needs can never come, so it
//! fails fast with the numbers instead of waiting for the timeout.
//!
//! Invariants (asserted):
//! - `1 <= needed`; `ok + failed <= targets`;
//! - a target's answer is counted once, whatever the network duplicates;
//! - the outcome only moves from `Pending` to `Reached` or `Unreachable`, never back.

use crate::types::NodeId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Where a request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Outcome {
    Pending,
    Reached,
    /// Too many targets failed: the quorum can no longer be reached.
    Unreachable,
}

/// Replies counted for one request.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Tally {
    needed: usize,
    targets: BTreeSet<NodeId>,
    ok: BTreeSet<NodeId>,
    failed: BTreeSet<NodeId>,
}

impl Tally {
    pub fn new(needed: usize, targets: impl IntoIterator<Item = NodeId>) -> Self {
        assert!(needed >= 1, "a quorum needs at least one reply");
        let targets = targets.into_iter().collect();
        Self {
            needed,
            targets,
            ok: BTreeSet::new(),
            failed: BTreeSet::new(),
        }
    }

    /// Count a success from `node`; returns false when `node` is not a target or
    /// already answered (a duplicate or a stray).
    pub fn succeed(&mut self, node: NodeId) -> bool {
        self.record(node, true)
    }

    /// Count a failure from `node`; same return value as [`Tally::succeed`].
    pub fn fail(&mut self, node: NodeId) -> bool {
        self.record(node, false)
    }

    fn record(&mut self, node: NodeId, success: bool) -> bool {
        if !self.targets.contains(&node) || self.answered(node) {
            return false;
        }
        let set = if success {
            &mut self.ok
        } else {
            &mut self.failed
        };
        set.insert(node);
        debug_assert!(self.ok.len() + self.failed.len() <= self.targets.len());
        true
    }

    pub fn answered(&self, node: NodeId) -> bool {
        self.ok.contains(&node) || self.failed.contains(&node)
    }

    pub fn outcome(&self) -> Outcome {
        if self.ok.len() >= self.needed {
            Outcome::Reached
        } else if self.failed.len() + self.needed > self.targets.len() {
            Outcome::Unreachable
        } else {
            Outcome::Pending
        }
    }

    /// Every target answered.
    pub fn complete(&self) -> bool {
        self.ok.len() + self.failed.len() == self.targets.len()
    }

    pub fn needed(&self) -> usize {
        self.needed
    }

    pub fn received(&self) -> usize {
        self.ok.len()
    }

    /// Targets that have not answered.
    pub fn silent(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.targets.iter().copied().filter(|n| !self.answered(*n))
    }

    pub fn targets(&self) -> &BTreeSet<NodeId> {
        &self.targets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(ids: &[u32]) -> Vec<NodeId> {
        ids.iter().map(|id| NodeId(*id)).collect()
    }

    #[test]
    fn quorum_is_reached_after_needed_successes_4_5() {
        let mut tally = Tally::new(2, nodes(&[1, 2, 3]));
        assert!(tally.succeed(NodeId(1)));
        assert_eq!(tally.outcome(), Outcome::Pending);
        assert!(tally.succeed(NodeId(3)));
        assert_eq!(tally.outcome(), Outcome::Reached);
        assert!(!tally.complete());
    }

    #[test]
    fn duplicates_and_strays_are_not_counted() {
        let mut tally = Tally::new(2, nodes(&[1, 2, 3]));
        assert!(tally.succeed(NodeId(1)));
        assert!(!tally.succeed(NodeId(1)));
        assert!(!tally.fail(NodeId(1)));
        assert!(!tally.succeed(NodeId(9)));
        assert_eq!(tally.received(), 1);
        assert_eq!(tally.outcome(), Outcome::Pending);
    }

    #[test]
    fn fails_fast_when_the_quorum_is_out_of_reach() {
        let mut tally = Tally::new(2, nodes(&[1, 2, 3]));
        tally.fail(NodeId(1));
        assert_eq!(tally.outcome(), Outcome::Pending);
        tally.fail(NodeId(2));
        assert_eq!(tally.outcome(), Outcome::Unreachable);
        assert_eq!(tally.silent().collect::<Vec<_>>(), nodes(&[3]));
    }

    #[test]
    fn too_few_targets_is_unreachable_at_once() {
        let tally = Tally::new(2, nodes(&[1]));
        assert_eq!(tally.outcome(), Outcome::Unreachable);
    }
}
