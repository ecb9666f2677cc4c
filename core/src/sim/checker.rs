//! The history checker: no acknowledged write is lost (Dynamo §4.5, §4.6), nothing is
//! invented, replicas converge (§4.7).
//!
//! [`write_kept`] is the one definition of "an acknowledged write is kept", shared by
//! every checker of the core's histories: [`check`] here (the simulator), and the
//! model checker's `NO_WRITE_LOST` property and its convergence check after healing
//! (`dynamo-model`). They differ only in where they look for copies of a key (the
//! simulator's healed home replicas; the model's home replicas and every hint store,
//! crashed nodes included) and in how they record puts.
//!
//! Invariants (what a violation means):
//! - `lost`: an acknowledged put's dot is neither a sibling of the merged copies nor
//!   superseded, i.e. covered both by the copies' clock and by the context of some put
//!   of the same key (a put's context is what its client had read, so only such a put
//!   may replace it, as `put(key, context, value)` promises);
//! - `invented`: a get returned a value no client ever put;
//! - `diverged`: two home replicas of a key hold different sibling sets after healing.

use super::{History, Op, Sim};
use crate::clock::{Dot, VersionVector};
use crate::message::Reply;
use crate::types::{Key, NodeId};
use crate::version::{Content, Siblings};
use std::collections::BTreeSet;

/// Whether the acknowledged write `dot` of `content` survives in `held`, the merge of
/// the copies of its key: it is still a sibling there (the same dot with the same
/// content: a node that lost its disk and minted a dot again must not pass for the
/// earlier event), or it was superseded, which takes both a put
/// of the key whose context covered it (`contexts`: every put's context, acknowledged
/// or not, since an unacknowledged put may still have reached a replica) and `held`'s
/// clock covering it (the superseding put, or its successors, reached the copies).
/// The clock alone is not enough: it covers every dot a replica ever dropped, so a
/// version dropped by mistake (a reused dot, a wrong merge) would pass for superseded.
pub fn write_kept<'a>(
    held: &Siblings,
    (dot, content): (Dot, &Content),
    contexts: impl IntoIterator<Item = &'a VersionVector>,
) -> bool {
    held.iter()
        .any(|sibling| sibling.dot == dot && sibling.content == *content)
        || (held.clock().covers(dot) && contexts.into_iter().any(|context| context.covers(dot)))
}

/// What the history checker found wrong.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Violations {
    pub lost: Vec<String>,
    pub invented: Vec<String>,
    pub diverged: Vec<String>,
}

impl Violations {
    pub fn is_empty(&self) -> bool {
        self.lost.is_empty() && self.invented.is_empty() && self.diverged.is_empty()
    }
}

/// Check a quiesced, healed cluster against its history:
/// - every acknowledged put survives on its key's home replicas ([`write_kept`]); an
///   acknowledged set counts as a put over what its read returned: its reply's context
///   (that read plus its own version) may supersede those versions;
/// - every value a get returned was written by some put (nothing invented);
/// - all home replicas of every key hold identical sibling sets (convergence).
pub fn check(sim: &Sim) -> Violations {
    let mut violations = Violations::default();
    let history = sim.history();
    let keys: BTreeSet<Key> = history
        .iter()
        .filter_map(|r| match &r.op {
            Op::Get { key } | Op::Put { key, .. } | Op::Set { key, .. } => Some(key.clone()),
            _ => None,
        })
        .collect();
    for key in &keys {
        let homes = sim.homes(key);
        let merged = sim.merged_replicas(key, &homes);
        check_durable(history, key, &merged, &mut violations);
        check_converged(sim, key, &homes, &mut violations);
    }
    check_invented(history, &mut violations);
    violations
}

fn check_invented(history: &History, violations: &mut Violations) {
    let written: BTreeSet<&[u8]> = history
        .iter()
        .filter_map(|r| match &r.op {
            Op::Put {
                value: Some(value), ..
            }
            | Op::Set {
                value: Some(value), ..
            } => Some(value.as_slice()),
            _ => None,
        })
        .collect();
    for record in history {
        if let Some((_, Reply::Got { siblings })) = &record.reply {
            for value in siblings.values() {
                if !written.contains(value) {
                    violations.invented.push(format!(
                        "get #{} returned {:?}, never written",
                        record.id, value
                    ));
                }
            }
        }
    }
}

fn check_durable(history: &History, key: &[u8], merged: &Siblings, violations: &mut Violations) {
    let contexts: Vec<&VersionVector> = history
        .iter()
        .filter_map(|r| match &r.op {
            Op::Put {
                key: k, context, ..
            } if k == key => Some(context),
            Op::Set { key: k, .. } if k == key => match &r.reply {
                Some((_, Reply::Put { context, .. })) => Some(context),
                _ => None,
            },
            _ => None,
        })
        .collect();
    for record in history {
        let (Op::Put { key: k, value, .. }, Some((_, Reply::Put { dot, .. }))) =
            (&record.op, &record.reply)
        else {
            continue;
        };
        let content = value.clone().map_or(Content::Tombstone, Content::Value);
        if k == key && !write_kept(merged, (*dot, &content), contexts.iter().copied()) {
            violations.lost.push(format!(
                "put #{} ({dot:?}) on {key:?} acknowledged but lost",
                record.id
            ));
        }
    }
}

fn check_converged(sim: &Sim, key: &[u8], homes: &[NodeId], violations: &mut Violations) {
    let sets: Vec<(NodeId, Option<Siblings>)> =
        homes.iter().map(|n| (*n, sim.stored(*n, key))).collect();
    if let Some((first, reference)) = sets.first() {
        for (node, set) in &sets[1..] {
            if set != reference {
                violations
                    .diverged
                    .push(format!("{key:?}: {first} and {node} differ"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ActorId;

    fn actor(node: u32) -> ActorId {
        ActorId::new(NodeId(node), 0)
    }

    fn value(byte: u8) -> Content {
        Content::Value(vec![byte])
    }

    fn put(set: &mut Siblings, context: &VersionVector, node: u32) -> Dot {
        let content = value(node as u8);
        set.update(context, content, actor(node)).unwrap()
    }

    #[test]
    fn a_sibling_is_kept_whatever_the_contexts() {
        let mut held = Siblings::new();
        let dot = put(&mut held, &VersionVector::new(), 1);
        assert!(write_kept(&held, (dot, &value(1)), []));
        let covering = held.clock().clone();
        assert!(write_kept(&held, (dot, &value(1)), [&covering]));
        // The same dot holding another value is another event (a reused dot): lost.
        assert!(!write_kept(&held, (dot, &value(9)), []));
    }

    #[test]
    fn a_superseded_write_needs_a_covering_context_and_clock() {
        let mut held = Siblings::new();
        let first = put(&mut held, &VersionVector::new(), 1);
        let read = held.clock().clone();
        put(&mut held, &read, 2);
        assert!(!held.iter().any(|sibling| sibling.dot == first));
        // The put over `read` superseded it: kept.
        assert!(write_kept(&held, (first, &value(1)), [&read]));
        // No put's context covered it: the clock alone does not excuse its absence.
        let blind = VersionVector::new();
        assert!(!write_kept(&held, (first, &value(1)), [&blind]));
        // A covering context whose put never reached the copies: lost.
        assert!(!write_kept(&Siblings::new(), (first, &value(1)), [&read]));
    }
}
