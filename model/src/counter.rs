//! The counter configuration (issue 20): clients `INCR` one key through different
//! coordinators while messages are lost and a node crashes and restarts. The core
//! applies each increment to the coordinator's copy as a convergent counter
//! (`dynamo_core::crdt`), and replicas join counter states instead of keeping
//! siblings, so:
//!
//! [`COUNTER_BOUNDED`]: in every state, the join of everything the home replicas and
//! hint stores hold for a counter key reads a value `v` with
//! `acked <= v <= acked + unacked`: every acknowledged increment counts, and an
//! increment whose outcome the client never learned (lost reply, timeout, failure) may
//! or may not. Each increment adds 1, so every value in that range is the acknowledged
//! sum plus some subset of the unacknowledged ones. The convergence check (`heal.rs`)
//! asks the same of the healed home replicas: the final value.
//!
//! The planted bug `counter-merge-by-max` (a replica keeps the larger of two
//! concurrent counters instead of joining them) breaks it: `model/tests/mutants.rs`.

use crate::actor::{DynamoModel, SystemState};
use crate::config::{Action, ClientOp, ModelConfig};
use crate::history::{History, Op};
use dynamo_core::crdt::Typed;
use dynamo_core::version::Siblings;

pub const COUNTER_BOUNDED: &str =
    "a counter reads its acknowledged increments plus some unacknowledged ones (§4.4, CRDT)";

impl ModelConfig {
    /// 3 nodes, N=3 R=W=2, two clients each `INCR k0` once, through `n1` and `n2`
    /// at once, on a lossy network with one crash: concurrent counter states meet on
    /// every replica, acknowledgements get lost, a node restarts from its store.
    pub fn counter() -> Self {
        Self {
            clients: vec![vec![ClientOp::incr(0, 0)], vec![ClientOp::incr(0, 1)]],
            lossy: true,
            crashes: 1,
            ..Self::strict()
        }
    }
}

impl ClientOp {
    pub fn incr(key: usize, coordinator: usize) -> Self {
        Self {
            action: Action::Incr,
            key,
            coordinator,
        }
    }
}

/// Increments of key `index`: (acknowledged, invoked but not acknowledged).
pub fn increments(history: &History, index: usize) -> (i128, i128) {
    let mut counts = (0, 0);
    for record in &history.records {
        if record.key != index || record.op != Op::Increment {
            continue;
        }
        match &record.reply {
            Some((_, crate::history::Outcome::Put { .. })) => counts.0 += 1,
            _ => counts.1 += 1,
        }
    }
    counts
}

/// A counter's value as the store reads it (the join of its typed siblings); 0 when
/// there is none.
pub fn value(siblings: &Siblings) -> Option<i128> {
    match siblings.typed() {
        Some(Typed::Counter(counter)) => Some(counter.value()),
        None => Some(0),
        Some(_) => None,
    }
}

/// Whether `siblings`, for key `index`, reads within the bounds of the history.
pub fn within_bounds(history: &History, index: usize, siblings: &Siblings) -> bool {
    let (acked, unacked) = increments(history, index);
    if acked + unacked == 0 {
        return true;
    }
    value(siblings).is_some_and(|v| acked <= v && v <= acked + unacked)
}

pub(crate) fn counter_bounded(model: &DynamoModel, state: &SystemState) -> bool {
    (0..model.cfg.keys()).all(|index| {
        let held = crate::properties::held(model, state, index);
        within_bounds(&state.history, index, &held)
    })
}
