//! Scale study (issue 18, finding 6): what gossip, the membership view, joins and
//! leaves, routing and the weighted, zoned claim cost at 100, 300 and 1,000 nodes.
//! Results: docs/scale.md; plots: docs/scale/*.svg (written by `--svg DIR`).
//!
//! ```sh
//! cargo run -p dynamo-core --example scale --release --features sim -- \
//!     [--sizes 100,300,1000] [--seed 1] [--keys-per-node 10] [--partitions 1024] \
//!     [--ring-partitions 1024,4096] [--svg docs/scale]
//! ```
//!
//! `--partitions`: the simulated clusters' partition count; `--ring-partitions`: those
//! of the ring-only tables (view size, moves, routing, weights and zones).
//!
//! Gossip, joins and leaves run in the deterministic simulator (`dynamo_core::sim::Sim`,
//! real `Node`s, default timers: one gossip exchange per node per second), so every
//! figure but the timings replays exactly from the printed seed. Timings (routing) are
//! wall-clock on whatever machine runs it. Byte counts are postcard encodings, the
//! peer wire format. `core/tests/scale_small.rs` includes this file and runs the same
//! study at a small size against stated bounds, in CI.

use dynamo_core::clock::VersionVector;
use dynamo_core::membership::{MemberInfo, MemberStatus, Membership};
use dynamo_core::message::{Message, RefuseReason, Reply};
use dynamo_core::node::{member, NodeConfig};
use dynamo_core::ring::{Ring, RingConfig, RingError, RingMember};
use dynamo_core::sim::{Event, Sim};
use dynamo_core::store::Store;
use dynamo_core::types::{NodeId, PartitionId};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Instant;

/// Replication factor of every study (Dynamo's usual N).
pub const N: usize = 3;
/// Bytes of each preloaded value.
pub const VALUE_BYTES: usize = 100;
/// A simulated change must settle within this much simulated time.
const SETTLE_LIMIT_MS: u64 = 300_000;

// ----- metering the simulated network -----

/// Messages delivered, by kind, and their postcard sizes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Meter {
    pub gossip_messages: u64,
    pub gossip_bytes: u64,
    pub transfer_messages: u64,
    pub transfer_bytes: u64,
    /// Bytes of the `(key, siblings)` entries carried by transfers.
    pub transfer_entry_bytes: u64,
    /// Chunks refused because the receiver had not yet learnt the sender's ring (the
    /// sender resends them every transfer round until gossip aligns the epochs).
    pub transfer_refused: u64,
    pub other_messages: u64,
}

impl Meter {
    /// Account for the event `sim` processed last, if it delivered a message.
    fn observe(&mut self, sim: &Sim) {
        let Some((Event::Deliver { message, .. }, _)) = sim.last_event() else {
            return;
        };
        match message {
            Message::Gossip { .. } => {
                self.gossip_messages += 1;
                self.gossip_bytes += encoded(message);
            }
            Message::Transfer { entries, .. } => {
                self.transfer_messages += 1;
                self.transfer_bytes += encoded(message);
                self.transfer_entry_bytes += entries.iter().map(encoded).sum::<u64>();
            }
            Message::TransferOk { .. } => {
                self.transfer_messages += 1;
                self.transfer_bytes += encoded(message);
            }
            Message::Refused {
                reason: RefuseReason::EpochMismatch { .. },
                ..
            } => {
                self.transfer_refused += 1;
                self.other_messages += 1;
            }
            _ => self.other_messages += 1,
        }
    }
}

/// Postcard size of `value`, the peer wire format.
pub fn encoded<T: serde::Serialize>(value: &T) -> u64 {
    postcard::to_allocvec(value).expect("encodes").len() as u64
}

/// Step `sim`, metering every delivery, until `done` holds at a checkpoint (every
/// `every_ms` of simulated time) or `limit_ms` passed. Returns the elapsed time at the
/// checkpoint where `done` held.
fn run_until(
    sim: &mut Sim,
    meter: &mut Meter,
    every_ms: u64,
    limit_ms: u64,
    mut done: impl FnMut(&Sim, u64) -> bool,
) -> Option<u64> {
    let start = sim.now_ms();
    let mut next = start;
    loop {
        if sim.now_ms() >= next {
            let elapsed = next - start;
            if done(sim, elapsed) {
                return Some(elapsed);
            }
            if elapsed >= limit_ms {
                return None;
            }
            next += every_ms;
        }
        if !sim.step() {
            sim.run_for(every_ms);
        }
        meter.observe(sim);
    }
}

// ----- a simulated cluster -----

/// Default timers (gossip every second), `partitions` partitions, N = 3, R = W = 2.
pub fn sim_config(partitions: u32) -> NodeConfig {
    NodeConfig {
        ring: RingConfig {
            partitions,
            replication_factor: N,
        },
        ..NodeConfig::default()
    }
}

/// Nodes `1..=nodes` bootstrapped together, `keys_per_node * nodes` keys of
/// `VALUE_BYTES` written (blind puts, spread over coordinators) and acknowledged.
pub fn loaded_cluster(seed: u64, nodes: u32, partitions: u32, keys_per_node: u32) -> Sim {
    let mut sim = Sim::new(seed, nodes, sim_config(partitions));
    sim.run_for(2_000);
    let keys = keys_per_node * nodes;
    let first = sim.history().len();
    for i in 0..keys {
        let coordinator = NodeId(1 + i % nodes);
        let key = format!("key-{i}").into_bytes();
        sim.put(
            coordinator,
            &key,
            VersionVector::new(),
            Some(vec![b'v'; VALUE_BYTES]),
        );
    }
    for _ in 0..60 {
        if (first..sim.history().len()).all(|i| sim.reply(i).is_some()) {
            break;
        }
        sim.run_for(500);
    }
    let acknowledged = (first..sim.history().len())
        .filter(|i| matches!(sim.reply(*i), Some(Reply::Put { .. })))
        .count();
    assert_eq!(
        acknowledged, keys as usize,
        "every preload put is acknowledged"
    );
    sim.run_for(5_000);
    sim
}

/// The ring and view as node 1 sees them.
fn view(sim: &Sim) -> &Membership {
    sim.node(NodeId(1)).expect("node 1 runs").membership()
}

fn ring(sim: &Sim) -> Ring {
    view(sim).ring().expect("a ring").clone()
}

/// Bytes of the entries `node` stores (postcard of each `(key, siblings)`).
pub fn stored_bytes(sim: &Sim, node: NodeId) -> u64 {
    let store = sim.node(node).expect("node runs").store();
    let mut bytes = 0;
    for partition in store.partitions().expect("memory store") {
        let entries = store
            .scan(partition, None, usize::MAX)
            .expect("memory store");
        bytes += entries.iter().map(encoded).sum::<u64>();
    }
    bytes
}

/// Gossip cost while nothing changes, in bytes per node per second, over `seconds`.
pub fn steady_gossip(sim: &mut Sim, seconds: u64) -> f64 {
    let mut meter = Meter::default();
    let limit = seconds * 1_000;
    run_until(sim, &mut meter, limit, limit, |_, elapsed| elapsed >= limit);
    let nodes = sim.node_ids().len() as f64;
    meter.gossip_bytes as f64 / nodes / seconds as f64
}

/// The postcard size of a view and of its parts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StateSize {
    pub total: u64,
    pub members: u64,
    pub ring: u64,
    pub previous: u64,
    pub completed: u64,
}

pub fn state_size(view: &Membership) -> StateSize {
    StateSize {
        total: encoded(view),
        members: encoded(view.members()),
        ring: encoded(&view.ring()),
        previous: encoded(&view.previous()),
        completed: encoded(view.completed()),
    }
}

// ----- partitions moved by a ring change -----

/// Partitions a ring change moves, against the least any placement reaching the new
/// shares could move.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Moves {
    /// Partitions whose owner changes.
    pub owners: usize,
    /// The least: the joiner's new share, or the leaver's old one.
    pub owners_min: usize,
    /// New home replicas (partition, node) that must be filled by a transfer.
    pub replicas: usize,
    /// The least: the joiner's home replicas after, or the leaver's before.
    pub replicas_min: usize,
}

/// What moves from `before` to `after`, where `node` joined (`joined`) or left.
pub fn moves(before: &Ring, after: &Ring, node: NodeId, joined: bool) -> Moves {
    let replicas = before
        .replica_changes(after, N)
        .iter()
        .map(|change| change.added.len())
        .sum();
    let (owners_min, replicas_min) = if joined {
        let owned = after.owned_counts()[&node] as usize;
        (owned, after.replicated_partitions(node, N).len())
    } else {
        let owned = before.owned_counts()[&node] as usize;
        (owned, before.replicated_partitions(node, N).len())
    };
    Moves {
        owners: before.moves(after).len(),
        owners_min,
        replicas,
        replicas_min,
    }
}

// ----- a join and a leave in the simulator -----

/// One membership change in the simulator, from the operator's command to a settled
/// cluster.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Change {
    /// Gossip rounds (periods) until every node holds the new ring.
    pub rounds_to_ring: f64,
    /// Rounds until every view is identical and every transfer of the epoch is done.
    pub rounds_to_settle: f64,
    /// Gossip delivered until every node held the new ring.
    pub gossip_bytes_to_ring: u64,
    /// Everything delivered until the cluster settled.
    pub meter: Meter,
    pub moves: Moves,
    /// Entry bytes that had to move: what the joiner holds after, what the leaver held.
    pub bytes_min: u64,
    /// (rounds since the command, fraction of nodes holding the new ring).
    pub informed: Vec<(f64, f64)>,
}

/// Checkpoint period while watching a change spread, in simulated milliseconds.
const CHECKPOINT_MS: u64 = 100;

/// Issue `command` (a join or leave through node 1) and watch it spread and settle.
fn watch_change(sim: &mut Sim, node: NodeId, joined: bool) -> Change {
    let interval = sim_config(1).gossip_interval_ms as f64;
    let before = ring(sim);
    let epoch = before.epoch() + 1;
    let held = if joined { 0 } else { stored_bytes(sim, node) };
    let request = if joined {
        sim.join(NodeId(1), node)
    } else {
        sim.leave(NodeId(1), node)
    };
    assert!(
        matches!(sim.reply(request), Some(Reply::Changed { epoch: e }) if *e == epoch),
        "the change is accepted at epoch {epoch}: {:?}",
        sim.reply(request)
    );
    let mut change = Change::default();
    let mut meter = Meter::default();
    let ids = sim.node_ids();
    let ring_at = run_until(
        sim,
        &mut meter,
        CHECKPOINT_MS,
        SETTLE_LIMIT_MS,
        |sim, at| {
            let informed = ids
                .iter()
                .filter(|id| {
                    sim.node(**id)
                        .is_some_and(|n| n.membership().epoch() >= epoch)
                })
                .count();
            let fraction = informed as f64 / ids.len() as f64;
            change.informed.push((at as f64 / interval, fraction));
            informed == ids.len()
        },
    )
    .expect("every node learns the new ring");
    change.rounds_to_ring = ring_at as f64 / interval;
    change.gossip_bytes_to_ring = meter.gossip_bytes;
    let settle_at = run_until(sim, &mut meter, CHECKPOINT_MS, SETTLE_LIMIT_MS, settled)
        .expect("the change settles");
    change.rounds_to_settle = (ring_at + settle_at) as f64 / interval;
    change.meter = meter;
    change.moves = moves(&before, &ring(sim), node, joined);
    change.bytes_min = if joined {
        stored_bytes(sim, node)
    } else {
        held
    };
    change
}

/// Every running node holds the same view and every transfer of its epoch is done.
fn settled(sim: &Sim, _: u64) -> bool {
    let first = view(sim);
    let transfers_done = sim
        .node(NodeId(1))
        .expect("node 1 runs")
        .transfers()
        .iter()
        .all(|t| t.done);
    transfers_done
        && sim
            .node_ids()
            .iter()
            .filter_map(|id| sim.node(*id))
            .all(|node| node.membership() == first)
}

/// The simulator part of the study for one cluster size.
#[derive(Clone, Debug, PartialEq)]
pub struct SimStudy {
    pub seed: u64,
    pub nodes: u32,
    pub partitions: u32,
    pub keys: u32,
    /// Gossip bytes per node per second while nothing changes.
    pub steady_gossip: f64,
    /// The settled view after the join (its previous ring included).
    pub state: StateSize,
    pub join: Change,
    pub leave: Change,
}

/// Bootstrap `nodes`, load them, join node `nodes + 1`, then make node 2 leave.
pub fn sim_study(seed: u64, nodes: u32, partitions: u32, keys_per_node: u32) -> SimStudy {
    let mut sim = loaded_cluster(seed, nodes, partitions, keys_per_node);
    let steady_gossip = steady_gossip(&mut sim, 5);
    let joiner = NodeId(nodes + 1);
    sim.add_node(joiner, vec![NodeId(1)]);
    let mut meter = Meter::default();
    run_until(&mut sim, &mut meter, CHECKPOINT_MS, 60_000, |sim, _| {
        view(sim).member(joiner).is_some()
    })
    .expect("the new node announces itself to its seed");
    let join = watch_change(&mut sim, joiner, true);
    let state = state_size(view(&sim));
    let leave = watch_change(&mut sim, NodeId(2), false);
    SimStudy {
        seed,
        nodes,
        partitions,
        keys: keys_per_node * nodes,
        steady_gossip,
        state,
        join,
        leave,
    }
}

// ----- placement: rings without a simulator -----

/// `nodes` members of weight 1 in no zone, ids `1..=nodes`.
pub fn equal_members(nodes: u32) -> Vec<RingMember> {
    (1..=nodes)
        .map(|id| RingMember {
            node: NodeId(id),
            weight: 1,
            zone: None,
        })
        .collect()
}

pub fn ring_of(partitions: u32, members: Vec<RingMember>) -> Result<Ring, RingError> {
    let config = RingConfig {
        partitions,
        replication_factor: N,
    };
    Ring::new(config, members)
}

/// Partitions moved by a join (node `nodes + 1`) and by a leave (node 2) of equal
/// members, and the view size after the join: the ring-only part of the study, for
/// partition counts the simulator does not run.
#[derive(Clone, Debug, PartialEq)]
pub struct Placement {
    pub nodes: u32,
    pub partitions: u32,
    pub join: Moves,
    pub leave: Moves,
    /// A settled view after the join (previous ring included; no completions).
    pub state: StateSize,
    /// Max over min replica load (N = 3): bootstrapped, after the join, after the leave.
    pub load: [f64; 3],
}

pub fn placement(nodes: u32, partitions: u32) -> Result<Placement, RingError> {
    let before = ring_of(partitions, equal_members(nodes))?;
    let joiner = RingMember {
        node: NodeId(nodes + 1),
        weight: 1,
        zone: None,
    };
    let joined = before.join(joiner)?;
    let left = joined.leave(NodeId(2))?;
    let members = (1..=nodes + 1)
        .map(|id| (NodeId(id), sim_member_info(id)))
        .collect();
    let mut view = Membership::bootstrap(members, before.clone());
    view.install_ring(joined.clone());
    Ok(Placement {
        nodes,
        partitions,
        join: moves(&before, &joined, NodeId(nodes + 1), true),
        leave: moves(&joined, &left, NodeId(2), false),
        state: state_size(&view),
        load: [&before, &joined, &left].map(|ring| balance(ring).load_per_weight),
    })
}

/// The member entry the simulator gives node `id` (the same address label).
fn sim_member_info(id: u32) -> MemberInfo {
    MemberInfo {
        version: 1,
        status: MemberStatus::Valid,
        ..member(&format!("sim-n{id}"), 1)
    }
}

// ----- routing -----

/// Wall-clock cost of the ring calls a coordinator makes per request.
#[derive(Clone, Debug, PartialEq)]
pub struct Routing {
    pub nodes: u32,
    pub partitions: u32,
    /// `Ring::preference_list`: every member, walked per request by `route()`.
    pub preference_list_ns: f64,
    /// `Ring::home_replicas(p, N)`: the homes only.
    pub home_replicas_ns: f64,
    /// `Ring::home_replicas(p, N + 2)`: homes and two fallbacks, what a lazy walk costs
    /// when up to two homes are down.
    pub homes_and_two_ns: f64,
    /// Nodes in every preference list (= members).
    pub list_len: usize,
    /// Bytes of a per-epoch cache of every full preference list (4-byte ids).
    pub full_cache_bytes: u64,
}

/// Nanoseconds per call of `call` over every partition: the best of three runs of at
/// least `budget_ms` each (the least disturbed by other work on the machine).
fn time_per_call(partitions: u32, budget_ms: u128, mut call: impl FnMut(PartitionId)) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let mut calls = 0u64;
        while calls == 0 || start.elapsed().as_millis() < budget_ms {
            for p in 0..partitions {
                call(PartitionId(p));
            }
            calls += u64::from(partitions);
        }
        best = best.min(start.elapsed().as_nanos() as f64 / calls as f64);
    }
    best
}

pub fn routing(nodes: u32, partitions: u32, budget_ms: u128) -> Result<Routing, RingError> {
    let ring = ring_of(partitions, equal_members(nodes))?;
    let list_len = ring.preference_list(PartitionId(0)).nodes().len();
    let preference_list_ns = time_per_call(partitions, budget_ms, |p| {
        black_box(ring.preference_list(black_box(p)));
    });
    let home_replicas_ns = time_per_call(partitions, budget_ms, |p| {
        black_box(ring.home_replicas(black_box(p), N));
    });
    let homes_and_two_ns = time_per_call(partitions, budget_ms, |p| {
        black_box(ring.home_replicas(black_box(p), N + 2));
    });
    Ok(Routing {
        nodes,
        partitions,
        preference_list_ns,
        home_replicas_ns,
        homes_and_two_ns,
        list_len,
        full_cache_bytes: u64::from(partitions) * list_len as u64 * 4,
    })
}

// ----- load balance with weights and zones -----

/// How members' weights and zones are laid out (node ids `1..=nodes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Weights 1, 2, 4 by `id % 3`; no zones.
    Weights,
    /// Weight 1; zones z0..z3 by `id % 4`.
    Zones,
    /// Weights 1, 2, 4 by `id % 3` and zones by `id % 4`: every zone mixes weights,
    /// and zones hold nearly equal weight.
    WeightsAndZones,
    /// Weights 1, 2, 4 and zones by the same `id % 3`: zone z0 holds weight 1 per
    /// node, z1 2, z2 4, so the zones' capacities are 1 : 2 : 4 (a misconfiguration).
    UnevenZones,
}

pub const LAYOUTS: [Layout; 4] = [
    Layout::Weights,
    Layout::Zones,
    Layout::WeightsAndZones,
    Layout::UnevenZones,
];

/// Weights cycle through these.
pub const WEIGHTS: [u32; 3] = [1, 2, 4];

impl Layout {
    pub fn member(self, id: u32) -> RingMember {
        let weighted = WEIGHTS[id as usize % WEIGHTS.len()];
        let (weight, zone) = match self {
            Layout::Weights => (weighted, None),
            Layout::Zones => (1, Some(id % 4)),
            Layout::WeightsAndZones => (weighted, Some(id % 4)),
            Layout::UnevenZones => (weighted, Some(id % 3)),
        };
        RingMember {
            node: NodeId(id),
            weight,
            zone: zone.map(|z| format!("z{z}")),
        }
    }
}

/// How evenly a weighted, zoned ring spreads partitions and replica load.
#[derive(Clone, Debug, PartialEq)]
pub struct Balance {
    /// Max over min of partitions owned per unit of weight.
    pub owned_per_weight: f64,
    /// Max over min of replica load (N = 3) per unit of weight.
    pub load_per_weight: f64,
    /// Partitions whose N homes span fewer than min(N, zones) zones (a member
    /// without a zone is a zone of its own).
    pub short_of_zones: usize,
}

/// A member's failure domain: its zone, else itself.
fn domain(ring: &Ring, node: NodeId) -> String {
    match &ring.members()[&node].zone {
        Some(zone) => format!("zone {zone}"),
        None => format!("node {node}"),
    }
}

pub fn balance(ring: &Ring) -> Balance {
    let weight = |node: &NodeId| f64::from(ring.members()[node].weight);
    let owned = ring.owned_counts();
    let owned: Vec<f64> = owned
        .iter()
        .map(|(n, c)| f64::from(*c) / weight(n))
        .collect();
    let load = ring.replica_load(N);
    let load: Vec<f64> = load.iter().map(|(n, l)| l / weight(n)).collect();
    let domains: BTreeSet<String> = ring.members().keys().map(|n| domain(ring, *n)).collect();
    let short_of_zones = (0..ring.partitions())
        .filter(|p| {
            let homes = ring.home_replicas(PartitionId(*p), N);
            let spanned: BTreeSet<String> = homes.iter().map(|h| domain(ring, *h)).collect();
            spanned.len() < N.min(domains.len())
        })
        .count();
    Balance {
        owned_per_weight: max_over_min(&owned),
        load_per_weight: max_over_min(&load),
        short_of_zones,
    }
}

fn max_over_min(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(f64::MIN, f64::max);
    let min = values.iter().copied().fold(f64::MAX, f64::min);
    max / min
}

/// A cluster of `layout` bootstrapped, after a weight-2 node joins (zone z1 when the
/// layout has zones), and after node 1 leaves.
#[derive(Clone, Debug, PartialEq)]
pub struct Weighted {
    pub layout: Layout,
    pub nodes: u32,
    pub partitions: u32,
    pub total_weight: u32,
    pub bootstrapped: Balance,
    pub joined: Balance,
    pub left: Balance,
    pub join: Moves,
}

pub fn weighted(layout: Layout, nodes: u32, partitions: u32) -> Result<Weighted, RingError> {
    let members: Vec<RingMember> = (1..=nodes).map(|id| layout.member(id)).collect();
    let total_weight = members.iter().map(|m| m.weight).sum();
    let before = ring_of(partitions, members)?;
    let joiner = RingMember {
        weight: 2,
        zone: layout.member(1).zone.map(|_| "z1".to_string()),
        node: NodeId(nodes + 1),
    };
    let joined = before.join(joiner)?;
    let left = joined.leave(NodeId(1))?;
    Ok(Weighted {
        layout,
        nodes,
        partitions,
        total_weight,
        bootstrapped: balance(&before),
        joined: balance(&joined),
        left: balance(&left),
        join: moves(&before, &joined, NodeId(nodes + 1), true),
    })
}

// ----- plots: hand-written SVG (a line chart is ~60 lines; no plotting dependency) -----

/// One line of a chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

const COLORS: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 400.0;
/// Margins: left, right, top, bottom.
const MARGINS: (f64, f64, f64, f64) = (80.0, 20.0, 40.0, 50.0);

/// The smallest 1, 2 or 5 times a power of ten at or above `v`.
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let power = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|c| *c >= v * 0.999_999)
        .unwrap_or(10.0 * power)
}

fn tick_label(v: f64) -> String {
    if v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

/// The plotting area: data from 0 to (`x_max`, `y_max`) mapped onto the SVG.
struct Frame {
    x_max: f64,
    y_max: f64,
}

impl Frame {
    fn x(&self, x: f64) -> f64 {
        let (left, right, _, _) = MARGINS;
        left + x / self.x_max * (WIDTH - left - right)
    }

    fn y(&self, y: f64) -> f64 {
        let (_, _, top, bottom) = MARGINS;
        HEIGHT - bottom - y / self.y_max * (HEIGHT - top - bottom)
    }

    /// Title, grid lines, ticks and axis labels.
    fn axes(&self, title: &str, x_label: &str, y_label: &str) -> String {
        let (left, right, top, bottom) = MARGINS;
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
             font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
             <text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{title}</text>\n",
            WIDTH / 2.0
        );
        for i in 0..=5 {
            let (x, y) = (
                self.x_max * f64::from(i) / 5.0,
                self.y_max * f64::from(i) / 5.0,
            );
            let _ = writeln!(
                svg,
                "<line x1=\"{left}\" x2=\"{r}\" y1=\"{py:.1}\" y2=\"{py:.1}\" stroke=\"#ddd\"/>\
                 <text x=\"{tl}\" y=\"{ty:.1}\" text-anchor=\"end\">{yl}</text>\
                 <text x=\"{px:.1}\" y=\"{b}\" text-anchor=\"middle\">{xl}</text>",
                r = WIDTH - right,
                py = self.y(y),
                tl = left - 6.0,
                ty = self.y(y) + 4.0,
                yl = tick_label(y),
                px = self.x(x),
                b = HEIGHT - bottom + 16.0,
                xl = tick_label(x),
            );
        }
        let _ = writeln!(
            svg,
            "<line x1=\"{left}\" x2=\"{left}\" y1=\"{top}\" y2=\"{b}\" stroke=\"black\"/>\
             <line x1=\"{left}\" x2=\"{r}\" y1=\"{b}\" y2=\"{b}\" stroke=\"black\"/>\
             <text x=\"{cx}\" y=\"{xy}\" text-anchor=\"middle\">{x_label}</text>\
             <text transform=\"translate(18 {cy}) rotate(-90)\" text-anchor=\"middle\">{y_label}</text>",
            b = HEIGHT - bottom,
            r = WIDTH - right,
            cx = (left + WIDTH - right) / 2.0,
            xy = HEIGHT - 12.0,
            cy = (top + HEIGHT - bottom) / 2.0,
        );
        svg
    }

    /// The `index`th series: its line, its points when few, its legend entry.
    fn series(&self, index: usize, line: &Series) -> String {
        let color = COLORS[index % COLORS.len()];
        let points: Vec<String> = line
            .points
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", self.x(*x), self.y(*y)))
            .collect();
        let mut svg = format!(
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>\n",
            points.join(" ")
        );
        if line.points.len() <= 12 {
            for (x, y) in &line.points {
                let (cx, cy) = (self.x(*x), self.y(*y));
                let _ = writeln!(
                    svg,
                    "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"3\" fill=\"{color}\"/>"
                );
            }
        }
        let (left, _, top, _) = MARGINS;
        let ly = top + 8.0 + 18.0 * index as f64;
        let _ = writeln!(
            svg,
            "<rect x=\"{}\" y=\"{:.1}\" width=\"14\" height=\"4\" fill=\"{color}\"/>\
             <text x=\"{}\" y=\"{:.1}\">{}</text>",
            left + 12.0,
            ly - 4.0,
            left + 32.0,
            ly + 1.0,
            line.name
        );
        svg
    }
}

/// A line chart from 0 to a rounded maximum on both axes, five ticks each.
pub fn line_chart(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> String {
    let all = series.iter().flat_map(|s| s.points.iter());
    let frame = Frame {
        x_max: nice_ceiling(all.clone().map(|p| p.0).fold(0.0, f64::max)),
        y_max: nice_ceiling(all.map(|p| p.1).fold(0.0, f64::max)),
    };
    let mut svg = frame.axes(title, x_label, y_label);
    for (index, line) in series.iter().enumerate() {
        svg.push_str(&frame.series(index, line));
    }
    svg.push_str("</svg>\n");
    svg
}

// ----- the report -----

/// Command-line options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub sizes: Vec<u32>,
    pub seed: u64,
    pub keys_per_node: u32,
    /// Partition count of the simulated clusters.
    pub partitions: u32,
    /// Partition counts of the ring-only tables.
    pub ring_partitions: Vec<u32>,
    /// Where to write the SVG plots (none: no plots).
    pub svg: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            sizes: vec![100, 300, 1_000],
            seed: 1,
            keys_per_node: 10,
            partitions: 1024,
            ring_partitions: vec![1024, 4096],
            svg: None,
        }
    }
}

fn parse_list<T: std::str::FromStr>(text: &str) -> Vec<T> {
    text.split(',')
        .map(|v| {
            v.trim()
                .parse()
                .ok()
                .expect("a comma-separated list of numbers")
        })
        .collect()
}

fn options() -> Options {
    let mut options = Options::default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).map(String::as_str).unwrap_or("");
        match pair[0].as_str() {
            "--sizes" => options.sizes = parse_list(value),
            "--seed" => options.seed = value.parse().expect("--seed takes a number"),
            "--keys-per-node" => options.keys_per_node = value.parse().expect("a number"),
            "--partitions" => options.partitions = value.parse().expect("a number"),
            "--ring-partitions" => options.ring_partitions = parse_list(value),
            "--svg" => options.svg = Some(value.to_string()),
            other => panic!("unknown option {other}: see the header of core/examples/scale.rs"),
        }
    }
    options
}

fn kib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / 1024.0)
}

fn mib(bytes: u64) -> String {
    format!("{:.2}", bytes as f64 / (1024.0 * 1024.0))
}

fn print_gossip(studies: &[SimStudy]) {
    println!("| nodes | view (KiB) | idle gossip (KiB/node/s) | rounds until every node has the new ring | gossip until then (MiB) | rounds until settled | gossip until settled (MiB) | gossip messages until settled |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for s in studies {
        let j = &s.join;
        println!(
            "| {} | {} | {:.1} | {:.1} | {} | {:.1} | {} | {} |",
            s.nodes,
            kib(s.state.total),
            s.steady_gossip / 1024.0,
            j.rounds_to_ring,
            mib(j.gossip_bytes_to_ring),
            j.rounds_to_settle,
            mib(j.meter.gossip_bytes),
            j.meter.gossip_messages,
        );
    }
}

fn print_moves(studies: &[SimStudy]) {
    println!("| nodes | change | owners moved / least | replicas filled / least | entry bytes moved / least | chunks refused (receiver behind) | transfer messages | rounds until every node has the ring | rounds until settled |");
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    for s in studies {
        for (name, c) in [("join", &s.join), ("leave", &s.leave)] {
            println!(
                "| {} | {name} | {} / {} | {} / {} | {} / {} ({:.2}x) | {} | {} | {:.1} | {:.1} |",
                s.nodes,
                c.moves.owners,
                c.moves.owners_min,
                c.moves.replicas,
                c.moves.replicas_min,
                c.meter.transfer_entry_bytes,
                c.bytes_min,
                c.meter.transfer_entry_bytes as f64 / c.bytes_min.max(1) as f64,
                c.meter.transfer_refused,
                c.meter.transfer_messages,
                c.rounds_to_ring,
                c.rounds_to_settle,
            );
        }
    }
}

/// A row of the rings table, or why the ring refused that cluster.
type PlacementRow = Result<Placement, (u32, u32, RingError)>;

fn print_placements(placements: &[PlacementRow]) {
    println!("| nodes | partitions | view (KiB): total, members, ring, previous ring | join: owners moved / least (Q/(S+1)) | join: replicas / least | leave: owners / least | leave: replicas / least | replica load max/min: bootstrapped, joined, left |");
    println!("|---:|---:|---|---:|---:|---:|---:|---|");
    for p in placements {
        match p {
            Ok(p) => println!(
                "| {} | {} | {}, {}, {}, {} | {} / {} ({:.1}) | {} / {} | {} / {} | {} / {} | {:.3}, {:.3}, {:.3} |",
                p.nodes,
                p.partitions,
                kib(p.state.total),
                kib(p.state.members),
                kib(p.state.ring),
                kib(p.state.previous),
                p.join.owners,
                p.join.owners_min,
                f64::from(p.partitions) / f64::from(p.nodes + 1),
                p.join.replicas,
                p.join.replicas_min,
                p.leave.owners,
                p.leave.owners_min,
                p.leave.replicas,
                p.leave.replicas_min,
                p.load[0],
                p.load[1],
                p.load[2],
            ),
            Err((nodes, partitions, e)) => {
                println!("| {nodes} | {partitions} | refused: {e} | | | | | |")
            }
        }
    }
}

fn print_routing(routings: &[Routing]) {
    println!("| nodes | partitions | `preference_list` (µs) | `home_replicas(p, 3)` (µs) | `home_replicas(p, 5)` (µs) | list length | full-list cache per epoch (MiB) |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for r in routings {
        println!(
            "| {} | {} | {:.2} | {:.3} | {:.3} | {} | {} |",
            r.nodes,
            r.partitions,
            r.preference_list_ns / 1000.0,
            r.home_replicas_ns / 1000.0,
            r.homes_and_two_ns / 1000.0,
            r.list_len,
            mib(r.full_cache_bytes),
        );
    }
}

/// A row of the weights-and-zones table, or why the ring refused that cluster.
type WeightedRow = Result<Weighted, (Layout, u32, u32, RingError)>;

fn print_weighted(rows: &[WeightedRow]) {
    println!("| layout | nodes | partitions | total weight | owned per weight, max/min: bootstrapped, after join, after leave | replica load per weight, max/min (same) | partitions whose 3 homes span < 3 zones | weight-2 join: owners moved / least | replicas filled / least |");
    println!("|---|---:|---:|---:|---|---|---:|---:|---:|");
    for row in rows {
        match row {
            Ok(w) => println!(
                "| {:?} | {} | {} | {} | {:.3}, {:.3}, {:.3} | {:.3}, {:.3}, {:.3} | {} | {} / {} | {} / {} |",
                w.layout,
                w.nodes,
                w.partitions,
                w.total_weight,
                w.bootstrapped.owned_per_weight,
                w.joined.owned_per_weight,
                w.left.owned_per_weight,
                w.bootstrapped.load_per_weight,
                w.joined.load_per_weight,
                w.left.load_per_weight,
                w.bootstrapped.short_of_zones + w.joined.short_of_zones + w.left.short_of_zones,
                w.join.owners,
                w.join.owners_min,
                w.join.replicas,
                w.join.replicas_min,
            ),
            Err((layout, nodes, partitions, e)) => {
                println!("| {layout:?} | {nodes} | {partitions} | refused: {e} | | | | | |")
            }
        }
    }
}

/// `sizes` with the midpoint between each pair added, for smoother curves.
fn grid(sizes: &[u32]) -> Vec<u32> {
    let mut points: BTreeSet<u32> = sizes.iter().copied().collect();
    for pair in sizes.windows(2) {
        points.insert((pair[0] + pair[1]) / 2);
    }
    points.into_iter().collect()
}

fn write_plots(dir: &str, studies: &[SimStudy], routings: &[Routing], placements: &[Placement]) {
    std::fs::create_dir_all(dir).expect("create the plot directory");
    let informed: Vec<Series> = studies
        .iter()
        .map(|s| Series {
            name: format!("{} nodes", s.nodes),
            points: s
                .join
                .informed
                .iter()
                .map(|(r, f)| (*r, f * 100.0))
                .collect(),
        })
        .collect();
    let chart = line_chart(
        "Nodes holding the new ring after a join",
        "gossip rounds since the join (1 round = 1 s)",
        "% of nodes",
        &informed,
    );
    std::fs::write(format!("{dir}/gossip-join.svg"), chart).expect("write gossip-join.svg");
    let partitions: BTreeSet<u32> = routings.iter().map(|r| r.partitions).collect();
    let mut lines = Vec::new();
    for q in &partitions {
        let of_q = routings.iter().filter(|r| r.partitions == *q);
        lines.push(Series {
            name: format!("preference_list, Q={q}"),
            points: of_q
                .clone()
                .map(|r| (f64::from(r.nodes), r.preference_list_ns / 1000.0))
                .collect(),
        });
        lines.push(Series {
            name: format!("home_replicas(p, 3), Q={q}"),
            points: of_q
                .map(|r| (f64::from(r.nodes), r.home_replicas_ns / 1000.0))
                .collect(),
        });
    }
    let chart = line_chart("Routing cost per request", "nodes", "µs per call", &lines);
    std::fs::write(format!("{dir}/routing.svg"), chart).expect("write routing.svg");
    let lines: Vec<Series> = partitions
        .iter()
        .map(|q| Series {
            name: format!("Q={q}"),
            points: placements
                .iter()
                .filter(|p| p.partitions == *q)
                .map(|p| (f64::from(p.nodes), p.state.total as f64 / 1024.0))
                .collect(),
        })
        .collect();
    let chart = line_chart(
        "Membership view (one gossip message)",
        "nodes",
        "KiB",
        &lines,
    );
    std::fs::write(format!("{dir}/state.svg"), chart).expect("write state.svg");
}

fn main() {
    let options = options();
    println!("scale study: {options:?}");
    println!(
        "seeds: simulator seed {} (node i gossips with seed {} + i)\n",
        options.seed, options.seed
    );
    let studies: Vec<SimStudy> = options
        .sizes
        .iter()
        .map(|nodes| {
            let started = Instant::now();
            let study = sim_study(
                options.seed,
                *nodes,
                options.partitions,
                options.keys_per_node,
            );
            eprintln!("simulated {nodes} nodes in {:.1?}", started.elapsed());
            study
        })
        .collect();
    println!(
        "## gossip after a join (simulator, Q = {})\n",
        options.partitions
    );
    print_gossip(&studies);
    println!(
        "\n## a join, then a leave (simulator, {} keys per node)\n",
        options.keys_per_node
    );
    print_moves(&studies);
    let points = grid(&options.sizes);
    let mut placements = Vec::new();
    let mut routings = Vec::new();
    let mut weights = Vec::new();
    for q in &options.ring_partitions {
        for nodes in &points {
            placements.push(placement(*nodes, *q).map_err(|e| (*nodes, *q, e)));
            routings.extend(routing(*nodes, *q, 200).ok());
        }
    }
    for layout in LAYOUTS {
        for q in &options.ring_partitions {
            for nodes in &options.sizes {
                let row = weighted(layout, *nodes, *q);
                weights.push(row.map_err(|e| (layout, *nodes, *q, e)));
            }
        }
    }
    println!("\n## rings: view size and partitions moved\n");
    print_placements(&placements);
    println!("\n## routing (wall clock, this machine)\n");
    print_routing(&routings);
    println!("\n## weights and zones (see `Layout`)\n");
    print_weighted(&weights);
    if let Some(dir) = &options.svg {
        let placements: Vec<Placement> = placements.into_iter().filter_map(Result::ok).collect();
        write_plots(dir, &studies, &routings, &placements);
        println!("\nplots written to {dir}/");
    }
}
