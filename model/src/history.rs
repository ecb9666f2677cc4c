//! The clients' history: every invocation and reply, recorded from the network.
//!
//! stateright calls [`record_out`] for every message sent and [`record_in`] for every
//! message delivered; only client requests and replies to clients are recorded. Real
//! time is the order of replies: an operation that was invoked after `n` replies had
//! arrived started after every operation whose reply was among those `n`.

use crate::config::{key, ModelConfig};
use crate::msg::{Body, Msg};
use dynamo_core::clock::{Dot, VersionVector};
use dynamo_core::message::{Command, Failure, Reply, RequestId};
use dynamo_core::version::Content;
use stateright::actor::Envelope;

/// What a client asked for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Get,
    Put {
        context: VersionVector,
        content: Content,
    },
    /// A counter's increment (`counter.rs` judges it; a later increment supersedes its
    /// sibling by containing it, so `write_kept` does not apply).
    Increment,
}

/// How an operation ended, as far as the properties care.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The put is acknowledged with this dot.
    Put {
        dot: Dot,
    },
    /// The get answered; `missed` lists the acknowledged puts of the key that had
    /// completed before the get started and that no returned sibling descends from.
    Got {
        siblings: usize,
        missed: Vec<Dot>,
    },
    Failed(Failure),
}

/// One client operation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Record {
    pub request: RequestId,
    pub key: usize,
    pub op: Op,
    /// Replies received (by any client) before this operation was invoked.
    pub invoked_after: u16,
    /// This operation's reply: its rank among all replies, and the outcome.
    pub reply: Option<(u16, Outcome)>,
}

/// Every operation in invocation order, and the count of replies so far.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct History {
    pub records: Vec<Record>,
    pub replies: u16,
}

impl History {
    /// Acknowledged puts: (key, (dot, content)).
    pub fn acknowledged(&self) -> impl Iterator<Item = (usize, (Dot, &Content))> + '_ {
        self.records
            .iter()
            .filter_map(|record| match (&record.reply, &record.op) {
                (Some((_, Outcome::Put { dot })), Op::Put { content, .. }) => {
                    Some((record.key, (*dot, content)))
                }
                _ => None,
            })
    }

    /// The contexts every put of `key` was invoked with, acknowledged or not (an
    /// unacknowledged put may still have reached a replica): what may have superseded
    /// an acknowledged write (`dynamo_core::sim::checker::write_kept`).
    pub fn put_contexts(&self, key: usize) -> impl Iterator<Item = &VersionVector> + '_ {
        self.records
            .iter()
            .filter_map(move |record| match &record.op {
                Op::Put { context, .. } if record.key == key => Some(context),
                _ => None,
            })
    }

    /// Whether some client received a failed reply for a quorum reason.
    pub fn quorum_failed(&self) -> bool {
        self.records.iter().any(|record| {
            matches!(
                record.reply,
                Some((
                    _,
                    Outcome::Failed(Failure::QuorumNotReached { .. } | Failure::Timeout { .. })
                ))
            )
        })
    }
}

/// The key index a command names (keys are `k0`, `k1`, ...).
fn key_index(config: &ModelConfig, command: &Command) -> usize {
    let bytes = match command {
        Command::Get { key, .. }
        | Command::Put { key, .. }
        | Command::Set { key, .. }
        | Command::Delete { key, .. } => key,
        Command::Join { .. } | Command::Leave { .. } | Command::Remove { .. } => return usize::MAX,
    };
    (0..config.keys())
        .find(|index| key(*index) == *bytes)
        .unwrap_or(usize::MAX)
}

/// stateright's `record_msg_out`: a client's request is an invocation.
pub fn record_out(
    config: &ModelConfig,
    history: &History,
    envelope: Envelope<&Msg>,
) -> Option<History> {
    let Body::Request { request, command } = envelope.msg.body() else {
        return None;
    };
    let op = match command {
        Command::Put {
            content: Content::Mutation(_),
            ..
        } => Op::Increment,
        Command::Put {
            context, content, ..
        } => Op::Put {
            context: context.clone(),
            content: content.clone(),
        },
        // The model's clients put with contexts and get; a set is that pair fused in
        // one coordinator (its parts are the checked get and put), never issued here.
        Command::Set { .. } | Command::Delete { .. } => return None,
        _ => Op::Get,
    };
    let mut next = history.clone();
    next.records.push(Record {
        request: *request,
        key: key_index(config, command),
        op,
        invoked_after: history.replies,
        reply: None,
    });
    Some(next)
}

/// stateright's `record_msg_in`: a reply delivered to its client completes the operation.
pub fn record_in(_: &ModelConfig, history: &History, envelope: Envelope<&Msg>) -> Option<History> {
    let Body::Reply { request, reply } = envelope.msg.body() else {
        return None;
    };
    let index = history
        .records
        .iter()
        .position(|record| record.request == *request && record.reply.is_none())?;
    let outcome = match reply {
        Reply::Put { dot, .. } => Outcome::Put { dot: *dot },
        Reply::Got { siblings } => {
            let record = &history.records[index];
            let missed = history
                .records
                .iter()
                .filter(|put| put.key == record.key)
                .filter_map(|put| match &put.reply {
                    Some((rank, Outcome::Put { dot })) if *rank < record.invoked_after => {
                        Some(*dot)
                    }
                    _ => None,
                })
                .filter(|dot| !siblings.iter().any(|sibling| sibling.covers(*dot)))
                .collect();
            Outcome::Got {
                siblings: siblings.len(),
                missed,
            }
        }
        Reply::Failed(failure) => Outcome::Failed(failure.clone()),
        Reply::Changed { .. } | Reply::Deleted { .. } => return None,
    };
    let mut next = history.clone();
    next.records[index].reply = Some((history.replies, outcome));
    next.replies += 1;
    Some(next)
}
