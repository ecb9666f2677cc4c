//! What happened, as the page logs and animates it: every message delivered (who sent
//! what to whom, read from the simulator's last event), client requests and replies,
//! timers that made a node act, and the changes of a node's state that no message
//! states by itself (a hint stored or deleted, a new ring epoch, a peer suspected or
//! heard from again), which the page draws as pulses on the node.
//!
//! Invariants:
//! - everything here is read from the simulator (its last event, its messages, its
//!   history) or from a node's public state; nothing changes the simulation;
//! - `from`/`to` are set for delivered messages, for client requests (`to`) and for
//!   replies (`from`), and name nodes that exist.

use crate::wire::MessageView;
use dynamo_core::message::{Reply, Timer};
use dynamo_core::node::NodeStats;
use dynamo_core::sim::{Op, Sim};
use dynamo_core::store::{HintKey, Store};
use dynamo_core::types::NodeId;
use serde::Serialize;
use std::collections::BTreeSet;

/// Most hints probed per node (the page shows a handful anyway).
pub const HINTS_PROBED_MAX: usize = 256;

/// The kinds of activity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A client's request reached its coordinator.
    Client,
    /// A coordinator answered its client.
    Reply,
    /// A peer message was delivered to a running node (`message` says what it was).
    Message,
    /// A peer message arrived at a crashed node and was lost.
    Lost,
    /// A periodic timer fired and its node sent messages (gossip, handoff, transfer,
    /// anti-entropy rounds).
    Timer,
    /// A request's deadline passed at the node waiting for its answers.
    Timeout,
    /// A node stored a write for a down home, with a hint (sloppy quorum, §4.6).
    HintStored,
    /// A node deleted a hint: its home acknowledged the handoff.
    HintDeleted,
    /// A node learned a new ring epoch.
    Ring,
    /// A node began suspecting peers (they did not answer).
    Suspect,
    /// A suspected peer answered again.
    Recover,
    /// An operator or fault action (crash, restart, cut, heal, add a node).
    Operator,
}

/// One thing that happened, at a simulated time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Activity {
    pub at_ms: u64,
    /// Simulator events processed before this one (a global step counter).
    pub step: u64,
    pub kind: Kind,
    /// The node that acted or changed.
    pub node: u32,
    pub from: Option<u32>,
    pub to: Option<u32>,
    /// For `Message` and `Lost`: the message delivered.
    pub message: Option<MessageView>,
    /// The client request (history index) this serves, if any.
    pub request: Option<usize>,
    /// For a delivered message: when it was sent (none when the mirror missed it).
    pub sent_ms: Option<u64>,
    pub detail: String,
}

/// When something happened: simulated time and the event counter.
#[derive(Clone, Copy, Debug)]
pub struct Stamp {
    pub at_ms: u64,
    pub step: u64,
}

impl Stamp {
    pub fn item(self, kind: Kind, node: NodeId, detail: String) -> Activity {
        Activity {
            at_ms: self.at_ms,
            step: self.step,
            kind,
            node: node.0,
            from: None,
            to: None,
            message: None,
            request: None,
            sent_ms: None,
            detail,
        }
    }
}

/// A delivered message; `reached` is false when its receiver was down.
pub fn delivery(
    stamp: Stamp,
    from: NodeId,
    to: NodeId,
    message: MessageView,
    reached: bool,
) -> Activity {
    let (kind, detail) = if reached {
        (Kind::Message, message.detail.clone())
    } else {
        (Kind::Lost, format!("{to} is down: lost"))
    };
    Activity {
        from: Some(from.0),
        to: Some(to.0),
        request: message.request,
        message: Some(message),
        ..stamp.item(kind, to, detail)
    }
}

/// A timer firing; `reached` is false when it was no longer armed (cancelled or
/// re-armed since), so it did nothing.
pub fn timer(
    stamp: Stamp,
    node: NodeId,
    timer: Timer,
    request: Option<usize>,
    reached: bool,
) -> Activity {
    let what = match timer {
        Timer::Request(_) => {
            let which = request.map_or(String::new(), |r| format!(" of #{r}"));
            format!("request deadline{which}")
        }
        Timer::Gossip => "gossip round".to_string(),
        Timer::AntiEntropy => "anti-entropy round".to_string(),
        Timer::Handoff => "hinted handoff round".to_string(),
        Timer::Transfer => "partition transfer round".to_string(),
    };
    let (kind, detail) = match (timer, reached) {
        (_, false) => (Kind::Timer, format!("{what}: no longer armed")),
        (Timer::Request(_), true) => (Kind::Timeout, format!("{what} passed")),
        (_, true) => (Kind::Timer, what),
    };
    Activity {
        request,
        ..stamp.item(kind, node, detail)
    }
}

/// What a node looks like from outside, for the changes no message states.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Probe {
    pub stats: NodeStats,
    pub suspected: BTreeSet<NodeId>,
    pub epoch: u64,
    pub hints: BTreeSet<HintKey>,
}

impl Probe {
    /// `None` while the node is down.
    pub fn of(sim: &Sim, id: NodeId) -> Option<Probe> {
        let node = sim.node(id)?;
        let hints = node.store().hints(None, HINTS_PROBED_MAX);
        Some(Probe {
            stats: node.stats().clone(),
            suspected: node.suspected().clone(),
            epoch: node.membership().epoch(),
            hints: hints
                .unwrap_or_default()
                .into_iter()
                .map(|(hint, _)| hint)
                .collect(),
        })
    }
}

/// The state changes of `node` between two probes of a running node, as pulses.
pub fn changes(stamp: Stamp, node: NodeId, before: &Probe, after: &Probe) -> Vec<Activity> {
    let mut out = Vec::new();
    let key = |hint: &HintKey| String::from_utf8_lossy(&hint.key).into_owned();
    for hint in after.hints.difference(&before.hints) {
        let detail = format!("holds {} for {} (hint)", key(hint), hint.target);
        out.push(stamp.item(Kind::HintStored, node, detail));
    }
    for hint in before.hints.difference(&after.hints) {
        let detail = format!("{} has {}: hint deleted", hint.target, key(hint));
        out.push(stamp.item(Kind::HintDeleted, node, detail));
    }
    if after.epoch != before.epoch {
        let detail = format!("ring epoch {} -> {}", before.epoch, after.epoch);
        out.push(stamp.item(Kind::Ring, node, detail));
    }
    let names = |nodes: Vec<&NodeId>| {
        let names: Vec<String> = nodes.iter().map(|n| n.to_string()).collect();
        names.join(", ")
    };
    let started: Vec<&NodeId> = after.suspected.difference(&before.suspected).collect();
    if !started.is_empty() {
        let detail = format!("suspects {}", names(started));
        out.push(stamp.item(Kind::Suspect, node, detail));
    }
    let ended: Vec<&NodeId> = before.suspected.difference(&after.suspected).collect();
    if !ended.is_empty() {
        let detail = format!("hears from {} again", names(ended));
        out.push(stamp.item(Kind::Recover, node, detail));
    }
    out
}

/// What a delivered message did to its receiver that its counters show: keys merged
/// by anti-entropy or a transfer, or the message ignored (late or duplicate).
pub fn effect(before: &NodeStats, after: &NodeStats) -> Option<String> {
    // Counters only grow while a node runs; saturate anyway, a probe is only a look.
    let repaired =
        (after.anti_entropy_keys_repaired).saturating_sub(before.anti_entropy_keys_repaired);
    let received = (after.transfer_keys_received).saturating_sub(before.transfer_keys_received);
    if repaired > 0 {
        Some(format!("repaired {repaired} key(s)"))
    } else if received > 0 {
        Some(format!("stored {received} transferred key(s)"))
    } else if after.ignored_messages > before.ignored_messages {
        Some("ignored (late, duplicate or not for it)".to_string())
    } else {
        None
    }
}

/// The arrow from the client to the coordinator of history entry `index`.
pub fn client_request(stamp: Stamp, sim: &Sim, index: usize) -> Option<Activity> {
    let record = sim.history().get(index)?;
    let text = |key: &[u8]| String::from_utf8_lossy(key).into_owned();
    let what = match &record.op {
        Op::Get { key } => format!("get {}", text(key)),
        Op::Put {
            key, value: None, ..
        } => format!("delete {}", text(key)),
        Op::Put { key, .. } => format!("put {}", text(key)),
        Op::Set { key, .. } => format!("set {}", text(key)),
        Op::Join { node } => format!("join {node}"),
        Op::Leave { node } => format!("leave {node}"),
    };
    let node = record.coordinator;
    Some(Activity {
        to: Some(node.0),
        request: Some(index),
        ..stamp.item(Kind::Client, node, format!("#{index} {what}"))
    })
}

/// The reply to history entry `index`, from its coordinator to the client.
pub fn reply(stamp: Stamp, sim: &Sim, index: usize) -> Option<Activity> {
    let record = sim.history().get(index)?;
    let (_, answer) = record.reply.as_ref()?;
    let detail = match answer {
        Reply::Got { siblings } => format!("got {} sibling(s)", siblings.len()),
        Reply::Put { dot, .. } => format!("put acknowledged as {dot}"),
        Reply::Deleted { existed } => format!("deleted (existed: {existed})"),
        Reply::Changed { epoch } => format!("ring changed to epoch {epoch}"),
        Reply::Failed(failure) => format!("failed: {failure}"),
    };
    let node = record.coordinator;
    Some(Activity {
        from: Some(node.0),
        request: Some(index),
        ..stamp.item(Kind::Reply, node, format!("#{index} {detail}"))
    })
}
