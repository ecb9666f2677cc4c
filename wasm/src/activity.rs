//! What each simulator step did, inferred from the nodes' observable state.
//!
//! `dynamo_core::sim::Sim` does not expose its messages in flight, so the visualiser
//! cannot read who sent what. Instead it probes every node before and after each event
//! (stats counters, Merkle roots, hints, suspicions, ring epoch, and the version vectors
//! of recently put keys) and names the change: a replica's version vector gained an
//! entry of the coordinator of a recent put of that key, so that coordinator's write
//! arrived (the dot names who minted it); a hint disappeared from a fallback and its
//! delivery counter rose, so the home acknowledged a handoff; and so on. Arrows are
//! drawn only where the sender follows from the state; everything else is a pulse on
//! the node that changed. Reads, pings and gossip change no observable state, so they
//! are not drawn.
//!
//! Invariants:
//! - inference only reads public state; it never changes the simulation;
//! - an activity names nodes that exist; `from`/`to` are set only when inferred.

use dynamo_core::clock::VersionVector;
use dynamo_core::merkle::MerkleHash;
use dynamo_core::message::Reply;
use dynamo_core::node::{Node, NodeStats};
use dynamo_core::sim::{Op, Sim};
use dynamo_core::store::{HintKey, MemoryStore, Store};
use dynamo_core::types::{Key, NodeId, PartitionId};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Most hints probed per node (the page shows a handful anyway).
pub const HINTS_PROBED_MAX: usize = 256;

/// What one node looks like from outside, for diffing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Probe {
    pub up: bool,
    pub stats: NodeStats,
    pub in_flight: usize,
    pub suspected: BTreeSet<NodeId>,
    pub epoch: u64,
    pub roots: BTreeMap<PartitionId, MerkleHash>,
    pub hints: BTreeSet<HintKey>,
    /// Version vectors of the watched keys (recently put) this node stores: a new
    /// entry names the coordinator whose write just arrived (it minted the dot).
    pub clocks: BTreeMap<Key, VersionVector>,
}

impl Probe {
    pub fn of(sim: &Sim, id: NodeId, watched: &BTreeSet<Key>) -> Probe {
        let Some(node) = sim.node(id) else {
            return Probe::default();
        };
        Probe {
            up: true,
            stats: node.stats().clone(),
            in_flight: node.in_flight(),
            suspected: node.suspected().clone(),
            epoch: node.membership().epoch(),
            roots: roots(node),
            hints: hint_keys(node),
            clocks: watched
                .iter()
                .filter_map(|key| Some((key.clone(), sim.stored(id, key)?.clock().clone())))
                .collect(),
        }
    }
}

/// The coordinators whose new versions of watched keys in `partition` arrived between
/// `before` and `after`, with the key.
fn writers(
    before: &Probe,
    after: &Probe,
    partition: PartitionId,
    partitions: u32,
) -> Vec<(NodeId, Key)> {
    let mut out = Vec::new();
    for (key, clock) in &after.clocks {
        if dynamo_core::hash::partition_of_key(key, partitions) != partition {
            continue;
        }
        let old = before.clocks.get(key);
        for (actor, counter) in clock.iter() {
            if old.map_or(0, |old| old.get(actor)) < counter {
                out.push((actor.node, key.clone()));
            }
        }
    }
    out
}

fn roots(node: &Node<MemoryStore>) -> BTreeMap<PartitionId, MerkleHash> {
    let partitions = node.store().partitions().unwrap_or_default();
    partitions
        .into_iter()
        .filter_map(|p| node.tree(p).map(|tree| (p, tree.root())))
        .collect()
}

fn hint_keys(node: &Node<MemoryStore>) -> BTreeSet<HintKey> {
    let hints = node.store().hints(None, HINTS_PROBED_MAX);
    hints
        .unwrap_or_default()
        .into_iter()
        .map(|(hint, _)| hint)
        .collect()
}

/// The kinds of activity the page draws. `from -> to` arrows exist for the kinds
/// whose sender is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A client's request reached its coordinator.
    Client,
    /// A coordinator outside the key's homes sent the put on to a home.
    Forward,
    /// A replica stored a put's new version.
    Write,
    /// A fallback stored a put for a down home, with a hint (sloppy quorum).
    HintedWrite,
    /// A home received a hinted replica from its fallback.
    Handoff,
    /// The home acknowledged a handoff; the fallback deleted its hint.
    HandoffAcked,
    /// A coordinator answered its client.
    Reply,
    /// A new owner received keys of a moving partition.
    Transfer,
    /// Anti-entropy found a differing Merkle branch and repaired keys.
    AntiEntropy,
    /// A replica was brought up to date outside a put (read repair, or other sync).
    Repair,
    /// A node learned a new ring epoch.
    Ring,
    /// A node began suspecting peers (they did not answer).
    Suspect,
    /// A suspected peer answered again.
    Recover,
    /// A request timed out at its coordinator.
    Timeout,
    /// An operator or fault action (crash, restart, cut, heal, add, join, leave).
    Operator,
}

/// One thing that happened, at a simulated time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Activity {
    pub at_ms: u64,
    /// Simulator events processed before this one (a global step counter).
    pub step: u64,
    pub kind: Kind,
    /// The node whose state changed.
    pub node: u32,
    pub from: Option<u32>,
    pub to: Option<u32>,
    pub partition: Option<u32>,
    pub detail: String,
}

/// What the classifier needs besides the two probes of a node.
#[derive(Debug)]
pub struct Context<'a> {
    pub sim: &'a Sim,
    pub now_ms: u64,
    pub step: u64,
    /// Probes of every node after the event (to find who holds hints for whom).
    pub after: &'a BTreeMap<NodeId, Probe>,
    /// How far back a put still explains a replica's change (a request's lifetime).
    pub recent_ms: u64,
    /// Puts forwarded to a home: history index -> the home that coordinated them.
    pub acting: &'a BTreeMap<usize, NodeId>,
    pub partitions: u32,
}

impl Context<'_> {
    fn item(&self, kind: Kind, node: NodeId, detail: String) -> Activity {
        Activity {
            at_ms: self.now_ms,
            step: self.step,
            kind,
            node: node.0,
            from: None,
            to: None,
            partition: None,
            detail,
        }
    }

    /// The coordinator of the latest recent put into `partition`, and its key.
    fn recent_put(&self, partition: PartitionId) -> Option<(NodeId, String)> {
        let partitions = self
            .sim
            .node_ids()
            .first()
            .and_then(|id| self.sim.node(*id).map(|node| node.config().ring.partitions))?;
        let horizon = self.now_ms.saturating_sub(self.recent_ms);
        let history = self.sim.history();
        history
            .iter()
            .enumerate()
            .rev()
            .find_map(|(index, record)| {
                let Op::Put { key, .. } = &record.op else {
                    return None;
                };
                let fits = record.invoked_ms >= horizon
                    && dynamo_core::hash::partition_of_key(key, partitions) == partition;
                let via = self.acting.get(&index).copied();
                let via = via.unwrap_or(record.coordinator);
                fits.then(|| (via, String::from_utf8_lossy(key).into_owned()))
            })
    }

    /// Whether `coordinator` coordinated a recent put of `key`.
    fn put_recently(&self, coordinator: NodeId, key: &[u8]) -> bool {
        let horizon = self.now_ms.saturating_sub(self.recent_ms);
        let history = self.sim.history();
        let recent = history.iter().enumerate().rev();
        let recent = recent.take_while(|(_, record)| record.invoked_ms >= horizon);
        recent.into_iter().any(|(index, record)| {
            let via = self
                .acting
                .get(&index)
                .copied()
                .unwrap_or(record.coordinator);
            matches!(&record.op, Op::Put { key: k, .. } if k == key) && via == coordinator
        })
    }

    /// A node other than `home` holding a hint for `home` in `partition`.
    fn hint_holder(&self, home: NodeId, partition: PartitionId) -> Option<NodeId> {
        self.after.iter().find_map(|(id, probe)| {
            let holds = probe
                .hints
                .iter()
                .any(|h| h.target == home && h.partition == partition);
            (holds && *id != home).then_some(*id)
        })
    }
}

/// Name what changed at `node` between `before` and `after`.
pub fn classify(node: NodeId, before: &Probe, after: &Probe, cx: &Context) -> Vec<Activity> {
    let mut out = Vec::new();
    if !before.up || !after.up {
        return out;
    }
    let (old, new) = (&before.stats, &after.stats);
    if new.forwarded > old.forwarded {
        out.push(cx.item(Kind::Forward, node, "not a home: forwards the put".into()));
    }
    hinted_writes(node, before, after, cx, &mut out);
    handoffs_acked(node, before, after, cx, &mut out);
    replica_changes(node, before, after, cx, &mut out);
    if new.timeouts > old.timeouts {
        out.push(cx.item(Kind::Timeout, node, "a request timed out".into()));
    }
    suspicions(node, before, after, cx, &mut out);
    if after.epoch != before.epoch {
        let detail = format!("ring epoch {} -> {}", before.epoch, after.epoch);
        out.push(cx.item(Kind::Ring, node, detail));
    }
    out
}

fn hinted_writes(
    node: NodeId,
    before: &Probe,
    after: &Probe,
    cx: &Context,
    out: &mut Vec<Activity>,
) {
    if after.stats.hints_stored <= before.stats.hints_stored {
        return;
    }
    for hint in after.hints.difference(&before.hints) {
        let writer = cx.recent_put(hint.partition).map(|(via, _)| via.0);
        let key = String::from_utf8_lossy(&hint.key);
        let detail = format!("holds {key} for {} (hint)", hint.target);
        out.push(Activity {
            from: writer,
            to: Some(node.0),
            partition: Some(hint.partition.0),
            ..cx.item(Kind::HintedWrite, node, detail)
        });
    }
}

fn handoffs_acked(
    node: NodeId,
    before: &Probe,
    after: &Probe,
    cx: &Context,
    out: &mut Vec<Activity>,
) {
    if after.stats.hints_delivered <= before.stats.hints_delivered {
        return;
    }
    for hint in before.hints.difference(&after.hints) {
        let key = String::from_utf8_lossy(&hint.key);
        let detail = format!("{} has {key}: hint deleted", hint.target);
        out.push(Activity {
            from: Some(hint.target.0),
            to: Some(node.0),
            partition: Some(hint.partition.0),
            ..cx.item(Kind::HandoffAcked, node, detail)
        });
    }
}

/// A replica's Merkle root moved: name why, most specific reason first.
fn replica_changes(
    node: NodeId,
    before: &Probe,
    after: &Probe,
    cx: &Context,
    out: &mut Vec<Activity>,
) {
    let (old, new) = (&before.stats, &after.stats);
    let changed = after
        .roots
        .iter()
        .filter(|(p, root)| before.roots.get(p) != Some(root))
        .map(|(p, _)| *p);
    for partition in changed {
        let item = |kind, from: Option<NodeId>, detail: String| Activity {
            from: from.map(|n| n.0),
            to: from.map(|_| node.0),
            partition: Some(partition.0),
            ..cx.item(kind, node, detail)
        };
        let activity = if new.transfer_keys_received > old.transfer_keys_received {
            let keys = new.transfer_keys_received - old.transfer_keys_received;
            item(
                Kind::Transfer,
                None,
                format!("received {keys} keys of {partition}"),
            )
        } else if new.anti_entropy_keys_repaired > old.anti_entropy_keys_repaired {
            let keys = new.anti_entropy_keys_repaired - old.anti_entropy_keys_repaired;
            item(
                Kind::AntiEntropy,
                None,
                format!("merkle sync repaired {keys} keys of {partition}"),
            )
        } else if let Some(holder) = cx.hint_holder(node, partition) {
            item(
                Kind::Handoff,
                Some(holder),
                format!("hinted replica of {partition} delivered"),
            )
        } else if let Some(writes) = put_writes(node, partition, before, after, cx) {
            out.extend(writes.into_iter().map(|(via, key)| {
                let key = String::from_utf8_lossy(&key).into_owned();
                item(Kind::Write, Some(via), format!("stores {key}"))
            }));
            continue;
        } else {
            item(
                Kind::Repair,
                None,
                format!("{partition} brought up to date"),
            )
        };
        out.push(activity);
    }
}

/// The writes of recent puts that reached `node` in `partition` (none from itself: the
/// client arrow shows a coordinator's own write); `None` when the change was no put's.
fn put_writes(
    node: NodeId,
    partition: PartitionId,
    before: &Probe,
    after: &Probe,
    cx: &Context,
) -> Option<Vec<(NodeId, Key)>> {
    let writes: Vec<(NodeId, Key)> = writers(before, after, partition, cx.partitions)
        .into_iter()
        .filter(|(via, key)| cx.put_recently(*via, key))
        .collect();
    if writes.is_empty() {
        return None;
    }
    Some(writes.into_iter().filter(|(via, _)| *via != node).collect())
}

fn suspicions(node: NodeId, before: &Probe, after: &Probe, cx: &Context, out: &mut Vec<Activity>) {
    let list = |nodes: Vec<&NodeId>| {
        let names: Vec<String> = nodes.iter().map(|n| n.to_string()).collect();
        names.join(", ")
    };
    let started: Vec<&NodeId> = after.suspected.difference(&before.suspected).collect();
    if !started.is_empty() {
        let detail = format!("suspects {}", list(started));
        out.push(cx.item(Kind::Suspect, node, detail));
    }
    let ended: Vec<&NodeId> = before.suspected.difference(&after.suspected).collect();
    if !ended.is_empty() {
        let detail = format!("hears from {} again", list(ended));
        out.push(cx.item(Kind::Recover, node, detail));
    }
}

/// Client arrows for requests issued just now, and reply arrows for answers.
pub fn client_request(cx: &Context, index: usize) -> Option<Activity> {
    let record = cx.sim.history().get(index)?;
    let what = match &record.op {
        Op::Get { key } => format!("get {}", String::from_utf8_lossy(key)),
        Op::Put {
            key, value: None, ..
        } => format!("delete {}", String::from_utf8_lossy(key)),
        Op::Put { key, .. } => format!("put {}", String::from_utf8_lossy(key)),
        Op::Join { node } => format!("join {node}"),
        Op::Leave { node } => format!("leave {node}"),
    };
    let node = record.coordinator;
    Some(Activity {
        to: Some(node.0),
        ..cx.item(Kind::Client, node, what)
    })
}

/// The reply to history entry `index`, as an activity.
pub fn reply(cx: &Context, index: usize) -> Option<Activity> {
    let record = cx.sim.history().get(index)?;
    let (_, answer) = record.reply.as_ref()?;
    let detail = match answer {
        Reply::Got { siblings } => format!("got {} sibling(s)", siblings.len()),
        Reply::Put { dot, .. } => format!("put acknowledged as {dot}"),
        Reply::Changed { epoch } => format!("ring changed to epoch {epoch}"),
        Reply::Failed(failure) => format!("failed: {failure}"),
    };
    let node = record.coordinator;
    Some(Activity {
        from: Some(node.0),
        ..cx.item(Kind::Reply, node, format!("#{index} {detail}"))
    })
}
