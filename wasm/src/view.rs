//! The view model: everything the page draws, computed here from the explorer.
//!
//! JavaScript only draws what this module hands it (serialised as JSON): ring
//! segments with their owners and colours, each node's state, a key's MD5 position and
//! preference list, where its versions live, the partitions moving after a ring change
//! and how far their transfers got, the request history with the answers each request
//! collected, the recent activity and the messages in flight.
//!
//! Invariants:
//! - `segments.len() == partitions`, in partition order, tiling the ring
//!   (`start_turns` of one is `end_turns` of the previous);
//! - every node of the simulator appears once in `nodes`, in id order;
//! - every zone of a node appears once in `zones`, in order of its first node, and
//!   keeps its colour when nodes are added (a new zone comes last);
//! - lists shown to the page are capped (`HISTORY_SHOWN_MAX`, `ACTIVITY_SHOWN_MAX`,
//!   `IN_FLIGHT_SHOWN_MAX`).

use crate::activity::Activity;
use crate::explorer::Explorer;
use crate::scenario::Setup;
use crate::wire::Flight;
use dynamo_core::hash::{key_position, partition_of_key};
use dynamo_core::membership::MemberStatus;
use dynamo_core::message::Reply;
use dynamo_core::node::{Node, NodeStats};
use dynamo_core::ring::Ring;
use dynamo_core::sim::{Op, Sim};
use dynamo_core::store::{MemoryStore, Store};
use dynamo_core::types::NodeId;
use dynamo_core::version::Siblings;
use serde::Serialize;
use std::collections::BTreeMap;

/// Most history entries shown (newest).
pub const HISTORY_SHOWN_MAX: usize = 40;
/// Most activities shown in the log (newest).
pub const ACTIVITY_SHOWN_MAX: usize = 80;
/// Most hints listed per node.
pub const HINTS_SHOWN_MAX: usize = 16;
/// Most messages in flight drawn (the soonest due).
pub const IN_FLIGHT_SHOWN_MAX: usize = 64;

#[derive(Clone, Debug, Serialize)]
pub struct View {
    pub now_ms: u64,
    pub events: u64,
    pub setup: Setup,
    /// The node whose membership view is drawn (the most advanced one that is up).
    pub viewer: Option<u32>,
    pub ring: Option<RingView>,
    pub nodes: Vec<NodeView>,
    pub moves: Vec<MoveView>,
    pub key: Option<KeyView>,
    pub history: Vec<RecordView>,
    pub activity: Vec<Activity>,
    /// What the last action did, oldest first: the page animates these.
    pub fresh: Vec<Activity>,
    /// The last simulator event, even one that did nothing visible.
    pub last_event: Option<Activity>,
    /// Messages sent and not yet delivered, soonest due first.
    pub in_flight: Vec<Flight>,
    /// Links cut since the last heal, as (lower id, higher id).
    pub cut: Vec<(u32, u32)>,
    /// The zones of the nodes, for the legend (empty: no node has a zone).
    pub zones: Vec<ZoneView>,
    /// What the setup cannot do that a reader would expect, e.g. N above the nodes.
    pub warnings: Vec<String>,
}

/// A failure domain (Dynamo §4.3) and the nodes in it.
#[derive(Clone, Debug, Serialize)]
pub struct ZoneView {
    pub name: String,
    /// A neutral tone (white or grey), never a node's colour: see `ZONE_STYLES`.
    pub colour: String,
    /// SVG `stroke-dasharray` of its outlines ("" solid), telling apart zones of one tone.
    pub dash: String,
    pub nodes: Vec<u32>,
    /// Partitions its nodes own in the drawn ring.
    pub owned: u32,
}

#[derive(Clone, Debug, Serialize)]
pub struct RingView {
    pub epoch: u64,
    pub partitions: u32,
    pub replication_factor: usize,
    pub segments: Vec<Segment>,
    pub members: Vec<MemberView>,
}

/// One partition: an equal arc of the ring, measured in turns (0..1, clockwise).
#[derive(Clone, Debug, Serialize)]
pub struct Segment {
    pub partition: u32,
    pub start_turns: f64,
    pub end_turns: f64,
    pub owner: u32,
    pub colour: String,
    /// The owner's zone and its colour.
    pub zone: Option<String>,
    pub zone_colour: Option<String>,
    pub homes: Vec<u32>,
    /// The home replicas changed in this epoch and a transfer is still running.
    pub moving: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct MemberView {
    pub node: u32,
    pub colour: String,
    pub weight: u32,
    pub zone: Option<String>,
    pub owned: u32,
    /// Share of all replicas this node stores (Dynamo §6.2's load).
    pub load: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct NodeView {
    pub id: u32,
    pub name: String,
    pub colour: String,
    /// The weight and zone the node was started with (in the ring or not yet).
    pub weight: u32,
    pub zone: Option<String>,
    pub zone_colour: Option<String>,
    pub up: bool,
    /// Membership status in the drawn view ("valid", "joining", "leaving", "left"),
    /// "unknown" when that view has not heard of the node yet.
    pub status: String,
    pub in_ring: bool,
    /// The ring epoch this node knows (0: none yet).
    pub epoch: u64,
    pub incarnation: u32,
    pub keys: usize,
    pub hints: Vec<HintView>,
    pub hint_count: usize,
    pub suspected: Vec<u32>,
    pub in_flight: usize,
    pub stats: Option<NodeStats>,
}

#[derive(Clone, Debug, Serialize)]
pub struct HintView {
    pub target: u32,
    pub partition: u32,
    pub key: String,
}

/// A partition whose home replicas changed in the drawn epoch (Dynamo §4.9).
#[derive(Clone, Debug, Serialize)]
pub struct MoveView {
    pub partition: u32,
    pub added: Vec<u32>,
    pub removed: Vec<u32>,
    /// Added nodes whose transfer of this partition has completed.
    pub done: Vec<u32>,
}

#[derive(Clone, Debug, Serialize)]
pub struct KeyView {
    pub key: String,
    /// MD5 of the key, 32 hex digits: its position on the ring.
    pub position_hex: String,
    pub position_turns: f64,
    pub partition: u32,
    /// Home replicas first, then fallbacks, as the drawn ring orders them.
    pub preference: Vec<PreferenceView>,
    /// Every node holding a version of the key, in its main store or as a hint.
    pub replicas: Vec<ReplicaView>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PreferenceView {
    pub node: u32,
    /// "home" or "fallback".
    pub role: String,
    pub up: bool,
    pub zone: Option<String>,
    pub zone_colour: Option<String>,
    /// Its zone is already in the list: it comes after one node of every zone.
    pub zone_repeat: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct ReplicaView {
    pub node: u32,
    /// "replica": in the node's main store; "hint": held for `hint_for`.
    pub how: String,
    pub hint_for: Option<u32>,
    pub siblings: Vec<SiblingView>,
    /// The set's causal context (version vector), e.g. `[n1.1:2]`.
    pub clock: String,
    /// Merkle root of the key's partition on that node (anti-entropy compares these).
    pub merkle_root: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SiblingView {
    /// `None`: a tombstone (a delete).
    pub value: Option<String>,
    pub dot: String,
    /// The paper's version vector of this sibling.
    pub version: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct RecordView {
    pub index: usize,
    pub via: u32,
    pub op: String,
    pub key: Option<String>,
    pub value: Option<String>,
    pub invoked_ms: u64,
    pub replied_ms: Option<u64>,
    /// "pending", "ok" or "failed".
    pub outcome: String,
    pub detail: String,
    pub siblings: Vec<SiblingView>,
    /// A get's or put's context, as text, for the next put.
    pub context: Option<String>,
    /// That context decoded: its version vector, e.g. `[n1.1:2]`.
    pub context_clock: Option<String>,
    /// A put's or delete's own context as a version vector: `[]` for a blind put (no
    /// context: its version is concurrent with every stored one).
    pub over: Option<String>,
    /// The quorum the request waited for, e.g. "W=2 of N=3".
    pub quorum: String,
    /// R or W (0 for membership changes).
    pub needed: usize,
    /// Answers that counted towards the quorum (see `answers`).
    pub acked: usize,
    /// The answers its coordinator collected: the replicas' `ReadOk`/`WriteOk`/
    /// `Refused` messages as delivered, and its own read or write when it counted.
    pub answers: Vec<AnswerView>,
    /// For an acknowledged put: the nodes holding its version now (the quorum that
    /// acknowledged it, plus any replica written or repaired since).
    pub holders: Vec<HolderView>,
}

#[derive(Clone, Debug, Serialize)]
pub struct AnswerView {
    pub node: u32,
    /// "local" (the coordinator's own read or write, not a message), "ok" or
    /// "refused".
    pub how: String,
    /// Delivered before the client's reply, so it could count.
    pub in_time: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct HolderView {
    pub node: u32,
    /// "replica", or "hint" when a fallback holds it for a down home.
    pub how: String,
}

/// Colours of nodes 1..=16, chosen to stay apart from their neighbours (a node added
/// later must not look like one already there).
const PALETTE: [&str; 16] = [
    "#4caf50", "#ab47bc", "#fdd835", "#29b6f6", "#ec407a", "#ff7043", "#26a69a", "#7e57c2",
    "#c0ca33", "#8d6e63", "#5c6bc0", "#ffa726", "#66bb6a", "#d4e157", "#ef5350", "#78909c",
];

/// A stable, distinct colour per node: the palette, then hues a golden angle apart.
pub fn colour(node: u32) -> String {
    match node.checked_sub(1).and_then(|i| PALETTE.get(i as usize)) {
        Some(colour) => colour.to_string(),
        None => {
            let hue = (f64::from(node) * 137.508) % 360.0;
            format!("hsl({hue:.0}, 62%, 52%)")
        }
    }
}

/// Zone outlines are neutral (white, light grey) so that they never read as a node's
/// colour (every node colour is at least 90 apart in RGB from both); zones of one tone
/// differ by their dash pattern: 2 tones x 4 patterns, then repeating.
const ZONE_TONES: [&str; 2] = ["#ffffff", "#c8c8c8"];
const ZONE_DASHES: [&str; 4] = ["", "8 4", "2 3", "10 3 2 3"];

fn zone_colour(index: usize) -> String {
    ZONE_TONES[index % ZONE_TONES.len()].to_string()
}

fn zone_dash(index: usize) -> String {
    ZONE_DASHES[(index / ZONE_TONES.len()) % ZONE_DASHES.len()].to_string()
}

/// Each node's zone, and each zone's colour by the order of its first node (so that
/// adding a node never recolours a zone already drawn).
struct Zones {
    of_node: BTreeMap<NodeId, String>,
    order: Vec<String>,
}

impl Zones {
    fn of(sim: &Sim) -> Self {
        let mut zones = Zones {
            of_node: BTreeMap::new(),
            order: Vec::new(),
        };
        for id in sim.node_ids() {
            let Some(zone) = sim.member(id).and_then(|m| m.zone) else {
                continue;
            };
            if !zones.order.contains(&zone) {
                zones.order.push(zone.clone());
            }
            zones.of_node.insert(id, zone);
        }
        zones
    }

    fn zone(&self, node: NodeId) -> Option<String> {
        self.of_node.get(&node).cloned()
    }

    fn colour(&self, node: NodeId) -> Option<String> {
        let zone = self.of_node.get(&node)?;
        let index = self.order.iter().position(|z| z == zone)?;
        Some(zone_colour(index))
    }

    /// The legend: each zone, its nodes and what they own in `ring`.
    fn views(&self, ring: Option<&Ring>) -> Vec<ZoneView> {
        let owned = ring.map(Ring::owned_counts).unwrap_or_default();
        let views = self.order.iter().enumerate().map(|(index, name)| {
            let nodes: Vec<NodeId> = self
                .of_node
                .iter()
                .filter(|(_, zone)| *zone == name)
                .map(|(node, _)| *node)
                .collect();
            ZoneView {
                name: name.clone(),
                colour: zone_colour(index),
                dash: zone_dash(index),
                owned: nodes.iter().filter_map(|n| owned.get(n)).sum(),
                nodes: nodes.into_iter().map(|n| n.0).collect(),
            }
        });
        views.collect()
    }
}

/// A ring position as a fraction of a turn.
fn turns(position: u128) -> f64 {
    position as f64 / 2f64.powi(128)
}

/// The up node whose membership is the most advanced: highest epoch, then most
/// transfers known complete, then lowest id.
fn viewer(sim: &Sim) -> Option<&Node<MemoryStore>> {
    let up = sim.node_ids().into_iter().filter_map(|id| sim.node(id));
    up.max_by_key(|node| {
        let membership = node.membership();
        let id = std::cmp::Reverse(node.id());
        (membership.epoch(), membership.completed().len(), id)
    })
}

pub fn build(explorer: &Explorer, key: Option<&str>) -> View {
    let sim = explorer.sim();
    let viewer = viewer(sim);
    let ring = viewer.and_then(|node| node.membership().ring());
    let key = key.filter(|k| !k.is_empty());
    let zones = Zones::of(sim);
    View {
        now_ms: sim.now_ms(),
        events: explorer.events(),
        setup: explorer.scenario().setup.clone(),
        viewer: viewer.map(|node| node.id().0),
        ring: viewer.and_then(|viewer| ring_view(viewer, &zones)),
        nodes: sim
            .node_ids()
            .into_iter()
            .map(|id| node_view(sim, viewer, id, &zones))
            .collect(),
        moves: viewer.map(moves).unwrap_or_default(),
        key: key.map(|key| key_view(sim, ring, key, &zones)),
        history: history(explorer),
        activity: newest(explorer.activity().cloned().collect(), ACTIVITY_SHOWN_MAX),
        fresh: explorer.fresh().to_vec(),
        last_event: explorer.last_event().cloned(),
        in_flight: explorer
            .in_flight()
            .take(IN_FLIGHT_SHOWN_MAX)
            .cloned()
            .collect(),
        cut: explorer.cut().iter().map(|(a, b)| (a.0, b.0)).collect(),
        zones: zones.views(ring),
        warnings: warnings(sim, &explorer.scenario().setup),
    }
}

/// N above the nodes in the ring: each key has fewer replicas than N, and no fallback
/// exists to take a write for a down home (Dynamo §4.6 needs nodes beyond the N).
fn warnings(sim: &Sim, setup: &Setup) -> Vec<String> {
    let nodes = sim.node_ids().len();
    let n = setup.replication_factor;
    let mut found = Vec::new();
    if n > nodes {
        found.push(format!(
            "N={n} but only {nodes} nodes: each key has {nodes} replicas, not {n}, and no \
             fallback exists (a write to a down node cannot be hinted elsewhere)"
        ));
    } else if n == nodes {
        found.push(format!(
            "N={n} with {nodes} nodes: every node holds every key, so no fallback exists \
             for a down home (sloppy quorum has nowhere to send a hint)"
        ));
    }
    found
}

/// One client request's part of the run, for its sequence diagram.
#[derive(Clone, Debug, Serialize)]
pub struct TraceView {
    pub record: RecordView,
    /// What served it, oldest first: its arrival, the messages delivered, the reply.
    /// Only what the activity log still holds (its newest `ACTIVITY_MAX` entries).
    pub activities: Vec<Activity>,
    /// Its messages still on the wire.
    pub in_flight: Vec<Flight>,
}

/// Request `index`'s trace; none when it is not among the history shown.
pub fn trace(explorer: &Explorer, index: usize) -> Option<TraceView> {
    let record = history(explorer).into_iter().find(|r| r.index == index)?;
    let activities = explorer
        .activity()
        .filter(|a| a.request == Some(index))
        .cloned()
        .collect();
    let in_flight = explorer
        .in_flight()
        .filter(|f| f.message.request == Some(index))
        .cloned()
        .collect();
    Some(TraceView {
        record,
        activities,
        in_flight,
    })
}

fn newest<T>(mut items: Vec<T>, max: usize) -> Vec<T> {
    let skip = items.len().saturating_sub(max);
    items.drain(..skip);
    items
}

fn ring_view(viewer: &Node<MemoryStore>, zones: &Zones) -> Option<RingView> {
    let membership = viewer.membership();
    let ring = membership.ring()?;
    let n = ring.config().replication_factor;
    let moving: Vec<u32> = moves(viewer)
        .into_iter()
        .filter(|m| m.done.len() < m.added.len())
        .map(|m| m.partition)
        .collect();
    let count = ring.partitions();
    let segments = (0..count)
        .map(|p| {
            let partition = dynamo_core::types::PartitionId(p);
            let owner = ring.owner(partition);
            Segment {
                partition: p,
                start_turns: f64::from(p) / f64::from(count),
                end_turns: f64::from(p + 1) / f64::from(count),
                owner: owner.0,
                colour: colour(owner.0),
                zone: zones.zone(owner),
                zone_colour: zones.colour(owner),
                homes: ring
                    .home_replicas(partition, n)
                    .iter()
                    .map(|h| h.0)
                    .collect(),
                moving: moving.contains(&p),
            }
        })
        .collect();
    Some(RingView {
        epoch: ring.epoch(),
        partitions: count,
        replication_factor: n,
        segments,
        members: members(ring),
    })
}

fn members(ring: &Ring) -> Vec<MemberView> {
    let counts = ring.owned_counts();
    let load = ring.replica_load(ring.config().replication_factor);
    let total: f64 = load.values().sum();
    ring.members()
        .values()
        .map(|member| MemberView {
            node: member.node.0,
            colour: colour(member.node.0),
            weight: member.weight,
            zone: member.zone.clone(),
            owned: counts.get(&member.node).copied().unwrap_or(0),
            load: load.get(&member.node).copied().unwrap_or(0.0) / total.max(f64::MIN_POSITIVE),
        })
        .collect()
}

/// The partitions whose home replicas changed between the previous ring and the
/// drawn one, with the transfers the drawn view knows complete.
fn moves(viewer: &Node<MemoryStore>) -> Vec<MoveView> {
    let membership = viewer.membership();
    let (Some(ring), Some(previous)) = (membership.ring(), membership.previous()) else {
        return Vec::new();
    };
    let n = ring.config().replication_factor;
    previous
        .replica_changes(ring, n)
        .into_iter()
        .map(|change| MoveView {
            partition: change.partition.0,
            done: change
                .added
                .iter()
                .filter(|to| membership.is_completed(change.partition, **to))
                .map(|to| to.0)
                .collect(),
            added: change.added.iter().map(|n| n.0).collect(),
            removed: change.removed.iter().map(|n| n.0).collect(),
        })
        .collect()
}

fn status_name(status: MemberStatus) -> &'static str {
    match status {
        MemberStatus::Joining => "joining",
        MemberStatus::Valid => "valid",
        MemberStatus::Leaving => "leaving",
        MemberStatus::Left => "left",
    }
}

fn node_view(sim: &Sim, viewer: Option<&Node<MemoryStore>>, id: NodeId, zones: &Zones) -> NodeView {
    let membership = viewer.map(Node::membership);
    let status = membership
        .and_then(|m| m.member(id))
        .map_or("unknown", |info| status_name(info.status));
    let in_ring = membership
        .and_then(|m| m.ring())
        .is_some_and(|r| r.contains(id));
    let node = sim.node(id);
    let hints = node.map(|n| n.store().hints(None, HINTS_SHOWN_MAX).unwrap_or_default());
    NodeView {
        id: id.0,
        name: id.to_string(),
        colour: colour(id.0),
        weight: sim.member(id).map_or(1, |m| m.weight),
        zone: zones.zone(id),
        zone_colour: zones.colour(id),
        up: node.is_some(),
        status: status.to_string(),
        in_ring,
        epoch: node.map_or(0, |n| n.membership().epoch()),
        incarnation: node.map_or(0, |n| n.actor().incarnation),
        keys: node.map_or(0, |n| n.store().replicas().count()),
        hints: hints
            .unwrap_or_default()
            .into_iter()
            .map(|(hint, _)| HintView {
                target: hint.target.0,
                partition: hint.partition.0,
                key: String::from_utf8_lossy(&hint.key).into_owned(),
            })
            .collect(),
        hint_count: node.map_or(0, |n| n.store().hint_count().unwrap_or(0)),
        suspected: node.map_or(Vec::new(), |n| n.suspected().iter().map(|s| s.0).collect()),
        in_flight: node.map_or(0, Node::in_flight),
        stats: node.map(|n| n.stats().clone()),
    }
}

fn key_view(sim: &Sim, ring: Option<&Ring>, key: &str, zones: &Zones) -> KeyView {
    let bytes = key.as_bytes();
    let position = key_position(bytes);
    let partitions = ring.map_or(1, Ring::partitions);
    let partition = partition_of_key(bytes, partitions);
    let n = ring.map_or(0, |r| r.config().replication_factor);
    let preference = ring.map_or(Vec::new(), |ring| {
        let list = ring.preference_list(partition);
        let mut seen = Vec::new();
        list.nodes()
            .iter()
            .enumerate()
            .map(|(index, node)| {
                let zone = zones.zone(*node);
                let zone_repeat = zone.as_ref().is_some_and(|z| seen.contains(z));
                seen.extend(zone.clone());
                PreferenceView {
                    node: node.0,
                    role: if index < n { "home" } else { "fallback" }.to_string(),
                    up: sim.is_up(*node),
                    zone,
                    zone_colour: zones.colour(*node),
                    zone_repeat,
                }
            })
            .collect()
    });
    KeyView {
        key: key.to_string(),
        position_hex: format!("{:032x}", position.0),
        position_turns: turns(position.0),
        partition: partition.0,
        preference,
        replicas: replicas(sim, bytes, partition),
    }
}

/// Every node's versions of `key`: its main store (up or down) and the hints it holds.
fn replicas(sim: &Sim, key: &[u8], partition: dynamo_core::types::PartitionId) -> Vec<ReplicaView> {
    let mut out = Vec::new();
    for id in sim.node_ids() {
        let root = sim
            .node(id)
            .and_then(|n| n.tree(partition))
            .map(|tree| format!("{:08x}", tree.root().0 >> 96));
        if let Some(siblings) = sim.stored(id, key) {
            out.push(replica("replica", id, None, &siblings, root.clone()));
        }
        let Some(node) = sim.node(id) else { continue };
        let hints = node.store().hints(None, usize::MAX).unwrap_or_default();
        for (hint, siblings) in hints.into_iter().filter(|(h, _)| h.key == key) {
            out.push(replica("hint", id, Some(hint.target.0), &siblings, None));
        }
    }
    out
}

fn replica(
    how: &str,
    id: NodeId,
    hint_for: Option<u32>,
    siblings: &Siblings,
    root: Option<String>,
) -> ReplicaView {
    ReplicaView {
        node: id.0,
        how: how.to_string(),
        hint_for,
        siblings: sibling_views(siblings),
        clock: siblings.clock().to_string(),
        merkle_root: root,
    }
}

fn sibling_views(siblings: &Siblings) -> Vec<SiblingView> {
    siblings
        .iter()
        .map(|sibling| SiblingView {
            value: sibling
                .content
                .value()
                .map(|v| String::from_utf8_lossy(v).into_owned()),
            dot: sibling.dot.to_string(),
            version: sibling.version().to_string(),
        })
        .collect()
}

fn history(explorer: &Explorer) -> Vec<RecordView> {
    let (sim, setup) = (explorer.sim(), &explorer.scenario().setup);
    let records = sim.history();
    let skip = records.len().saturating_sub(HISTORY_SHOWN_MAX);
    records
        .iter()
        .enumerate()
        .skip(skip)
        .map(|(index, record)| {
            let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
            let (op, key, value) = match &record.op {
                Op::Get { key } => ("get", Some(text(key)), None),
                Op::Put {
                    key, value: None, ..
                } => ("delete", Some(text(key)), None),
                Op::Put { key, value, .. } => ("put", Some(text(key)), value.as_deref().map(text)),
                Op::Set { key, value } => ("set", Some(text(key)), value.as_deref().map(text)),
                Op::Join { node } => ("join", Some(node.to_string()), None),
                Op::Leave { node } => ("leave", Some(node.to_string()), None),
            };
            let mut view = RecordView {
                index,
                via: record.coordinator.0,
                op: op.to_string(),
                key,
                value,
                invoked_ms: record.invoked_ms,
                replied_ms: record.reply.as_ref().map(|(at, _)| *at),
                outcome: "pending".to_string(),
                detail: String::new(),
                siblings: Vec::new(),
                context: None,
                context_clock: None,
                over: match &record.op {
                    Op::Put { context, .. } => Some(context.to_string()),
                    _ => None,
                },
                quorum: quorum(&record.op, setup),
                needed: needed(&record.op, setup),
                acked: 0,
                answers: Vec::new(),
                holders: Vec::new(),
            };
            if let Some((_, reply)) = &record.reply {
                describe(reply, &mut view);
            }
            answers(explorer, index, &mut view);
            if let (Op::Put { key, .. } | Op::Set { key, .. }, Some((_, Reply::Put { dot, .. }))) =
                (&record.op, &record.reply)
            {
                view.holders = holders(sim, key, *dot);
            }
            view
        })
        .collect()
}

fn quorum(op: &Op, setup: &Setup) -> String {
    let n = setup.replication_factor;
    match op {
        Op::Get { .. } => format!("R={} of N={n}", setup.read_quorum),
        Op::Put { .. } => format!("W={} of N={n}", setup.write_quorum),
        Op::Set { .. } => format!(
            "R={} then W={} of N={n}",
            setup.read_quorum, setup.write_quorum
        ),
        Op::Join { .. } | Op::Leave { .. } => String::new(),
    }
}

fn needed(op: &Op, setup: &Setup) -> usize {
    match op {
        Op::Get { .. } => setup.read_quorum,
        Op::Put { .. } | Op::Set { .. } => setup.write_quorum,
        Op::Join { .. } | Op::Leave { .. } => 0,
    }
}

/// The answers request `index` collected, and how many made its quorum: those
/// delivered before the client's reply, plus the coordinator's own read or write,
/// which is no message. A request answered successfully counted its own iff fewer
/// remote answers than needed came in time. (During a partition transfer a new home
/// also acknowledges copies of writes, which do not count: then this undercounts
/// the own write.)
fn answers(explorer: &Explorer, index: usize, view: &mut RecordView) {
    let tracked = explorer.requests().get(index).cloned().unwrap_or_default();
    let how = |ok: bool| if ok { "ok" } else { "refused" }.to_string();
    let remote: Vec<AnswerView> = tracked
        .answers
        .iter()
        .map(|a| AnswerView {
            node: a.node,
            how: how(a.ok),
            in_time: a.in_time,
        })
        .collect();
    let counted = remote.iter().filter(|a| a.in_time && a.how == "ok").count();
    let succeeded = view.outcome == "ok";
    let own = usize::from(succeeded && counted < view.needed);
    if own == 1 {
        let node = tracked.collector.map_or(view.via, |n| n.0);
        view.answers.push(AnswerView {
            node,
            how: "local".to_string(),
            in_time: true,
        });
    }
    view.answers.extend(remote);
    view.acked = counted + own;
}

/// Every node whose replica, or hint, has seen `dot`.
fn holders(sim: &Sim, key: &[u8], dot: dynamo_core::clock::Dot) -> Vec<HolderView> {
    let mut out = Vec::new();
    for id in sim.node_ids() {
        if sim.stored(id, key).is_some_and(|s| s.clock().covers(dot)) {
            out.push(HolderView {
                node: id.0,
                how: "replica".to_string(),
            });
        }
        let Some(node) = sim.node(id) else { continue };
        let hints = node.store().hints(None, usize::MAX).unwrap_or_default();
        if hints
            .iter()
            .any(|(h, s)| h.key == key && s.clock().covers(dot))
        {
            out.push(HolderView {
                node: id.0,
                how: "hint".to_string(),
            });
        }
    }
    out
}

fn describe(reply: &Reply, view: &mut RecordView) {
    view.outcome = "ok".to_string();
    match reply {
        Reply::Got { siblings } => {
            view.detail = format!(
                "{} sibling(s), context {}",
                siblings.len(),
                siblings.clock()
            );
            view.siblings = sibling_views(siblings);
            view.context = Some(siblings.context().to_text());
            view.context_clock = Some(siblings.clock().to_string());
        }
        Reply::Put { dot, context } => {
            view.detail = format!("stored as {dot}, context {context}");
            view.context_clock = Some(context.to_string());
            let context = dynamo_core::version::Context::new(context.clone());
            view.context = Some(context.to_text());
        }
        Reply::Deleted { existed } => view.detail = format!("deleted (existed: {existed})"),
        Reply::Changed { epoch } => view.detail = format!("ring epoch {epoch}"),
        Reply::Failed(failure) => {
            view.outcome = "failed".to_string();
            view.detail = failure.to_string();
        }
    }
}
