//! Liveness after faults heal, with bounds (Dynamo §4.6-§4.8.3): safety checks pass
//! on a cluster that does nothing, so these tests time what must eventually happen.
//!
//! Once the network heals and every node runs again, within a bound:
//! - every node trusts every other (`Node::suspected` empty everywhere), and keeps
//!   trusting it: a suspicion that comes back means a ping answered in time was
//!   counted as lost;
//! - a node that stops answering is suspected as soon as a request to it times out;
//! - every hint is delivered (hint stores empty);
//! - no background request outlives its deadline (`Node::background_in_flight` 0);
//! - every partition's home replicas converge (equal Merkle roots).
//!
//! The bounds follow from the protocol's periods: a ping every gossip period to each
//! suspected peer, a background request forgotten after `AWAIT_ROUNDS_MAX` (3) handoff
//! rounds, `handoff_batch` hints per handoff round, one partition per anti-entropy
//! round. Each test names the mutants it was seen to kill (docs/verification.md).
#![cfg(feature = "sim")]

mod common;

use common::{config, expect_changed, n, quiet};
use dynamo_core::clock::VersionVector;
use dynamo_core::merkle::MerkleTree;
use dynamo_core::message::{Message, Reply};
use dynamo_core::node::NodeConfig;
use dynamo_core::prng::Prng;
use dynamo_core::sim::{check, Faults, Sim};
use dynamo_core::store::Store;
use dynamo_core::types::{NodeId, PartitionId};

/// Simulated milliseconds between two looks at the cluster while it settles.
const SLICE_MS: u64 = 10;

/// A background request's deadline: `AWAIT_ROUNDS_MAX` (3) handoff rounds, plus the
/// round in which it is found expired.
fn await_ms(config: &NodeConfig) -> u64 {
    4 * config.handoff_interval_ms
}

/// Some node suspects some node.
fn anyone_suspected(sim: &Sim) -> Option<(NodeId, NodeId)> {
    sim.node_ids().into_iter().find_map(|id| {
        let node = sim.node(id)?;
        node.suspected().iter().next().map(|peer| (id, *peer))
    })
}

fn hints_held(sim: &Sim) -> usize {
    sim.node_ids()
        .into_iter()
        .filter_map(|id| sim.node(id))
        .map(|node| node.store().hint_count().expect("memory store counts"))
        .sum()
}

fn ignored(sim: &Sim) -> u64 {
    sim.node_ids()
        .into_iter()
        .filter_map(|id| sim.node(id))
        .map(|node| node.stats().ignored_messages)
        .sum()
}

fn background_in_flight(sim: &Sim) -> usize {
    sim.node_ids()
        .into_iter()
        .filter_map(|id| sim.node(id))
        .map(|node| node.background_in_flight())
        .sum()
}

/// A partition whose running home replicas disagree (Merkle roots), if any.
fn diverged(sim: &Sim) -> Option<PartitionId> {
    let first = sim.node_ids().into_iter().find_map(|id| sim.node(id))?;
    let ring = first.membership().ring()?.clone();
    let n = first.config().ring.replication_factor;
    let empty = MerkleTree::new().root();
    (0..ring.partitions()).map(PartitionId).find(|partition| {
        let roots: Vec<_> = ring
            .home_replicas(*partition, n)
            .into_iter()
            .filter_map(|home| sim.node(home))
            .map(|node| node.tree(*partition).map_or(empty, MerkleTree::root))
            .collect();
        roots.windows(2).any(|pair| pair[0] != pair[1])
    })
}

fn transfers_running(sim: &Sim) -> usize {
    sim.node_ids()
        .into_iter()
        .filter_map(|id| sim.node(id))
        .map(|node| node.transfers().iter().filter(|t| !t.done).count())
        .sum()
}

/// When each liveness property last failed, in ms after the heal (0: never failed).
#[derive(Debug, Default)]
struct Settled {
    suspicion_ms: u64,
    hints_ms: u64,
    background_ms: u64,
    diverged_ms: u64,
    transfers_ms: u64,
}

/// Run `horizon_ms` in slices, noting the last time each property failed.
fn settle(sim: &mut Sim, horizon_ms: u64) -> Settled {
    let start = sim.now_ms();
    let mut settled = Settled::default();
    while sim.now_ms() < start + horizon_ms {
        sim.run_for(SLICE_MS);
        let at = sim.now_ms() - start;
        if anyone_suspected(sim).is_some() {
            settled.suspicion_ms = at;
        }
        if hints_held(sim) > 0 {
            settled.hints_ms = at;
        }
        if background_in_flight(sim) > 0 {
            settled.background_ms = at;
        }
        if transfers_running(sim) > 0 {
            settled.transfers_ms = at;
        }
        if diverged(sim).is_some() {
            settled.diverged_ms = at;
        }
    }
    settled
}

/// A key whose home replicas include `node`.
fn key_homed_on(sim: &Sim, node: NodeId) -> Vec<u8> {
    (0u32..)
        .map(|i| format!("key-{i}").into_bytes())
        .find(|key| sim.homes(key).contains(&node))
        .expect("every node is a home of some key")
}

/// Eight nodes, one crashes: every other node suspects it as soon as its read of a key
/// homed there times out, and trusts it again within a gossip period or so of its
/// restart, for good. Anti-entropy is slowed so that only the failure detector's pings
/// can clear a suspicion quickly: the restarted node's own gossip reaches one peer per
/// period, too few to reach seven in the bound.
///
/// Kills: `FailureDetector::probe` -> (); `on_pong` -> () and its guard inverted (the
/// answered ping stays, expires, and the peer is suspected again); `age` -> vec![]
/// and its counter frozen (a ping lost while the node was down is never resent);
/// `suspect` -> () (nobody is suspected).
#[test]
fn a_crashed_node_is_suspected_when_reads_time_out_and_trusted_again_soon_after_restart() {
    let config = NodeConfig {
        anti_entropy_interval_ms: 60_000,
        ..config()
    };
    let mut sim = Sim::new(21, 8, config.clone());
    sim.run_for(1_000);
    assert_eq!(
        anyone_suspected(&sim),
        None,
        "a healthy cluster suspects no one"
    );
    let down = n(8);
    let key = key_homed_on(&sim, down);
    sim.crash(down);
    let others: Vec<NodeId> = sim
        .node_ids()
        .into_iter()
        .filter(|id| *id != down)
        .collect();
    let gets: Vec<usize> = others.iter().map(|id| sim.get(*id, &key)).collect();
    // Each read reaches its quorum without the crashed home and times out on it.
    sim.run_for(config.request_timeout_ms + 1);
    for (id, get) in others.iter().zip(gets) {
        assert!(matches!(sim.reply(get), Some(Reply::Got { .. })));
        let suspected = sim.node(*id).unwrap().suspected();
        assert_eq!(
            suspected.iter().copied().collect::<Vec<_>>(),
            vec![down],
            "{id} suspects exactly the crashed node once its read timed out"
        );
    }
    // Down for a while: pings to it are lost, expire and are sent again.
    sim.run_for(2_000);
    for id in &others {
        assert!(sim.node(*id).unwrap().suspected().contains(&down));
    }
    sim.restart(down);
    let bound = config.gossip_interval_ms + await_ms(&config) + 2 * 10 + SLICE_MS;
    let settled = settle(&mut sim, 4_000);
    assert!(
        settled.suspicion_ms <= bound,
        "someone still (or again) suspected a live peer {} ms after the restart (bound {bound} ms): {:?}",
        settled.suspicion_ms,
        anyone_suspected(&sim)
    );
}

/// A node cut off from everyone is suspected by every node that coordinates a request
/// to it, and trusted again by all of them soon after the network heals.
#[test]
fn an_isolated_node_is_suspected_by_its_coordinators_and_trusted_soon_after_healing() {
    let config = NodeConfig {
        anti_entropy_interval_ms: 60_000,
        ..config()
    };
    let mut sim = Sim::new(22, 8, config.clone());
    sim.run_for(1_000);
    let cut = n(3);
    let key = key_homed_on(&sim, cut);
    sim.isolate(cut);
    let others: Vec<NodeId> = sim.node_ids().into_iter().filter(|id| *id != cut).collect();
    for id in &others {
        sim.get(*id, &key);
    }
    sim.run_for(config.request_timeout_ms + 1);
    for id in &others {
        assert!(
            sim.node(*id).unwrap().suspected().contains(&cut),
            "{id} suspects the isolated node once its read timed out"
        );
    }
    sim.run_for(1_500);
    sim.heal();
    let bound = config.gossip_interval_ms + await_ms(&config) + 2 * 10 + SLICE_MS;
    let settled = settle(&mut sim, 4_000);
    assert!(
        settled.suspicion_ms <= bound,
        "suspicion lasted {} ms after healing (bound {bound} ms): {:?}",
        settled.suspicion_ms,
        anyone_suspected(&sim)
    );
}

/// The roles of one key on five nodes, N=3: `home` is a home replica, `fallback`
/// takes the hinted writes for it.
struct Hinted {
    key: Vec<u8>,
    home: NodeId,
    fallback: NodeId,
}

/// Make `fallback` hold a hint for `home`: the coordinator cannot reach `home`, times
/// out on it, suspects it, and routes the next put to the first fallback.
fn hint_for_a_cut_home(sim: &mut Sim, key: &[u8]) -> Hinted {
    let list = sim.preference_list(key);
    let (coordinator, home, fallback) = (list[0], list[2], list[3]);
    sim.partition(coordinator, home);
    let first = sim.put(coordinator, key, VersionVector::new(), Some(b"v1".to_vec()));
    quiet(sim);
    let timeout = sim.node(coordinator).unwrap().config().request_timeout_ms;
    sim.run_for(timeout + 1);
    assert!(sim.node(coordinator).unwrap().suspected().contains(&home));
    let context = match sim.reply(first) {
        Some(Reply::Put { context, .. }) => context.clone(),
        other => panic!("the first put succeeds without the cut home: {other:?}"),
    };
    sim.put(coordinator, key, context, Some(b"v2".to_vec()));
    Hinted {
        key: key.to_vec(),
        home,
        fallback,
    }
}

/// A hint delivery lost because its home crashed as it arrived is forgotten after its
/// deadline and sent again: the hint drains once the home is back, and no delivery is
/// left waiting.
///
/// Kills: `Handoff::age` -> vec![] and its counter frozen (the lost delivery waits
/// forever and blocks its hint).
#[test]
fn a_hint_delivery_lost_to_a_crash_is_sent_again_and_the_hint_drains() {
    let mut config = config();
    config.anti_entropy_interval_ms = 60_000; // only the hint brings v2 to the home
    config.request_timeout_ms = 1_000;
    let mut sim = Sim::new(23, 5, config.clone());
    sim.run_for(500);
    // The put's hinted write reaches the fallback; the fallback's next handoff round
    // sends the hint to the home (which it can reach): the home crashes the moment
    // that delivery is on the wire.
    let roles = hint_for_a_cut_home(&mut sim, b"lost");
    let mut sent = false;
    for _ in 0..10_000 {
        sim.step();
        sent = sim
            .in_flight()
            .any(|m| m.to == roles.home && matches!(m.message, Message::Handoff { .. }));
        if sent {
            break;
        }
    }
    assert!(sent, "the fallback sends the hint to its home");
    sim.crash(roles.home);
    let fallback = sim.node(roles.fallback).unwrap();
    assert_eq!(fallback.store().hint_count().unwrap(), 1);
    assert_eq!(fallback.background_in_flight(), 1);
    sim.run_for(300);
    sim.restart(roles.home);
    sim.heal();
    let settled = settle(&mut sim, 5_000);
    // Forgotten after its deadline, the home suspected then pinged and trusted, the
    // hint offered again at the next handoff round.
    let bound = 2 * await_ms(&config) + config.gossip_interval_ms + 2 * 10;
    assert!(
        settled.hints_ms <= bound && settled.background_ms <= bound,
        "hint held until {} ms, delivery in flight until {} ms after the restart (bound {bound} ms)",
        settled.hints_ms,
        settled.background_ms
    );
    let stored = sim
        .stored(roles.home, &roles.key)
        .expect("the hint reached home");
    assert!(stored.values().any(|v| v == b"v2"));
    assert!(sim.node(roles.fallback).unwrap().stats().hints_delivered >= 1);
}

/// On a network slower than a handoff round, but answering within the deadline
/// (`AWAIT_ROUNDS_MAX` rounds), a hint delivery is acknowledged, never forgotten: the
/// home is not suspected and the hint drains.
///
/// Kills: `Handoff::age`'s `rounds <= AWAIT_ROUNDS_MAX` replaced by `>` (every
/// delivery forgotten before its ack, forever resent) and its `!keep` by `keep`
/// (waiting deliveries suspect their peer); `FailureDetector::age`'s `<=` replaced by
/// `>` (a ping forgotten before its pong, which is then ignored).
#[test]
fn a_slow_home_answering_within_the_deadline_is_not_suspected_and_its_hint_drains() {
    let mut config = config();
    config.anti_entropy_interval_ms = 60_000;
    config.request_timeout_ms = 1_000;
    let mut sim = Sim::new(24, 5, config.clone());
    sim.run_for(500);
    let key = b"slow".to_vec();
    let roles = hint_for_a_cut_home(&mut sim, &key);
    // The coordinator's link to the home comes back: it pings the home it suspects,
    // and the pong comes back late, but within the ping's deadline too.
    sim.heal();
    let ignored_before = ignored(&sim);
    // Round trips of 250 ms: two and a half handoff rounds.
    sim.set_faults(Faults {
        delay_min_ms: 125,
        delay_max_ms: 125,
        ..Faults::default()
    });
    let start = sim.now_ms();
    let (mut drained_ms, mut suspected_at) = (None, None);
    while sim.now_ms() < start + 3_000 {
        sim.run_for(SLICE_MS);
        let fallback = sim.node(roles.fallback).unwrap();
        if fallback.suspected().contains(&roles.home) {
            suspected_at.get_or_insert(sim.now_ms() - start);
        }
        if drained_ms.is_none() && hints_held(&sim) == 0 {
            drained_ms = Some(sim.now_ms() - start);
        }
    }
    assert_eq!(
        suspected_at, None,
        "the fallback suspected a home that always answered in time"
    );
    assert_eq!(anyone_suspected(&sim), None, "the pong ended the suspicion");
    assert_eq!(
        ignored(&sim),
        ignored_before,
        "an answer in time (a pong, an ack) was taken for a stray"
    );
    assert!(
        drained_ms.is_some_and(|ms| ms <= 1_000),
        "the hint drained over the slow network: {drained_ms:?}"
    );
    let fallback = sim.node(roles.fallback).unwrap();
    assert_eq!(
        fallback.stats().hints_delivered,
        1,
        "delivered once, not resent"
    );
    assert_eq!(background_in_flight(&sim), 0);
}

/// A transfer chunk lost because its receiver crashed is forgotten after its deadline
/// and resent from the stream's cursor: the join completes once the receiver is back.
///
/// Kills: `Transfers::age` -> vec![] (the lost chunk blocks its stream forever).
#[test]
fn a_transfer_chunk_lost_to_a_crash_is_resent_and_the_join_completes() {
    let mut config = config();
    config.transfer_chunk_keys = 4;
    let mut sim = Sim::new(25, 3, config.clone());
    for i in 0..60u8 {
        sim.put(
            n(1 + u32::from(i % 3)),
            &[b't', i],
            VersionVector::new(),
            Some(vec![i]),
        );
    }
    quiet(&mut sim);
    sim.add_node(n(4), vec![n(1)]);
    sim.run_for(1_000);
    let join = sim.join(n(1), n(4));
    expect_changed(&mut sim, join, 2);
    let mut sent = false;
    for _ in 0..100_000 {
        sim.step();
        if sim
            .in_flight()
            .any(|m| m.to == n(4) && matches!(m.message, Message::Transfer { .. }))
        {
            sent = true;
            break;
        }
    }
    assert!(sent, "a chunk goes out to the joined node");
    sim.crash(n(4));
    sim.run_for(500);
    sim.restart(n(4));
    let settled = settle(&mut sim, 8_000);
    assert_eq!(
        transfers_running(&sim),
        0,
        "every transfer completed: {settled:?}"
    );
    assert!(settled.background_ms <= 5_000, "{settled:?}");
    assert_eq!(background_in_flight(&sim), 0);
    let violations = check(&sim);
    assert!(violations.is_empty(), "{violations:?}");
}

/// Random fault schedules (crashes, cuts, a lossy duplicating network, a join or
/// leave), then everything heals: every liveness property holds within its bound.
/// `SIM_SEED=S` replays one seed.
#[test]
fn after_random_faults_heal_suspicion_hints_background_requests_and_divergence_all_end_in_bounded_time(
) {
    let seeds: Vec<u64> = match std::env::var("SIM_SEED") {
        Ok(seed) => vec![seed.parse().expect("SIM_SEED is a number")],
        Err(_) => (0..16).collect(),
    };
    for seed in seeds {
        let config = config();
        let mut sim = faulty_run(seed, config.clone());
        let settled = settle(&mut sim, 10_000);
        println!("seed {seed}: {settled:?}");
        let replay = format!(
            "seed {seed}: {settled:?}\nreplay: SIM_SEED={seed} cargo test -p dynamo-core --all-features --test sim_liveness after_random"
        );
        // Bounds about twice the worst of 300 seeds (570, 670, 670, 810, 3060 ms).
        assert!(settled.suspicion_ms <= 1_000, "suspicion: {replay}");
        assert!(
            settled.background_ms <= 1_500,
            "background requests: {replay}"
        );
        assert!(settled.hints_ms <= 1_500, "hints: {replay}");
        assert!(settled.transfers_ms <= 2_000, "transfers: {replay}");
        assert!(settled.diverged_ms <= 6_000, "divergence: {replay}");
        let violations = check(&sim);
        assert!(violations.is_empty(), "{violations:?}\n{replay}");
    }
}

/// A seeded fault schedule with client traffic; returns the healed cluster.
fn faulty_run(seed: u64, config: NodeConfig) -> Sim {
    let mut prng = Prng::new(seed);
    let nodes = 4 + prng.below(3) as u32;
    let mut sim = Sim::new(seed, nodes, config);
    let mut changed = false;
    for op in 0..40u32 {
        let ids = sim.node_ids();
        let node = ids[prng.below(ids.len() as u64) as usize];
        match prng.below(14) {
            0..=6 => {
                let key = format!("k{}", prng.below(20)).into_bytes();
                sim.put(
                    node,
                    &key,
                    VersionVector::new(),
                    Some(op.to_be_bytes().to_vec()),
                );
            }
            7 => {
                let up = ids.iter().filter(|id| sim.is_up(**id)).count();
                if up > 3 {
                    sim.crash(node);
                }
            }
            8 => {
                for id in ids {
                    sim.restart(id); // a no-op on a running node
                }
            }
            9 => sim.isolate(node),
            10 => {
                let other = ids[prng.below(ids.len() as u64) as usize];
                if other != node {
                    sim.partition(node, other);
                }
            }
            11 => sim.set_faults(Faults {
                loss_ppm: 100_000,
                duplicate_ppm: 50_000,
                delay_min_ms: 1,
                delay_max_ms: 30,
            }),
            12 if !changed => {
                changed = true;
                let new = NodeId(ids.iter().map(|id| id.0).max().unwrap_or(0) + 1);
                sim.add_node(new, vec![ids[0]]);
                sim.run_for(500);
                sim.join(ids[0], new);
            }
            _ => sim.heal(),
        }
        sim.run_for(prng.below(200));
    }
    sim.heal();
    sim.set_faults(Faults::default());
    for id in sim.node_ids() {
        if !sim.is_up(id) {
            sim.restart(id);
        }
    }
    sim
}

/// A join over a network slower than a handoff round, every answer still within the
/// deadline of `AWAIT_ROUNDS_MAX` rounds (round trips of 290 ms; a chunk is forgotten
/// only after its fourth handoff round, more than 300 ms): the transfers complete,
/// nobody is suspected, and no acknowledgement arrives too late (none is ignored).
///
/// Kills: `Transfers::age`'s `rounds > AWAIT_ROUNDS_MAX` replaced by `>=`, `==` or `<`
/// (chunks forgotten while their acks are on the way, then resent).
#[test]
fn a_join_over_a_slow_network_completes_with_every_ack_in_time() {
    let mut config = config();
    config.transfer_chunk_keys = 4;
    let mut sim = Sim::new(26, 3, config);
    for i in 0..48u8 {
        sim.put(
            n(1 + u32::from(i % 3)),
            &[b's', i],
            VersionVector::new(),
            Some(vec![i]),
        );
    }
    quiet(&mut sim);
    sim.add_node(n(4), vec![n(1)]);
    sim.run_for(1_000);
    let join = sim.join(n(1), n(4));
    assert!(matches!(sim.reply(join), Some(Reply::Changed { epoch: 2 })));
    sim.set_faults(Faults {
        delay_min_ms: 145,
        delay_max_ms: 145,
        ..Faults::default()
    });
    let ignored_before = ignored(&sim);
    let start = sim.now_ms();
    let mut suspected = None;
    while sim.now_ms() < start + 15_000 {
        sim.run_for(SLICE_MS);
        suspected = suspected.or(anyone_suspected(&sim));
    }
    assert_eq!(transfers_running(&sim), 0, "every transfer completed");
    assert_eq!(background_in_flight(&sim), 0);
    assert_eq!(suspected, None, "a peer answering in time was suspected");
    assert_eq!(
        ignored(&sim),
        ignored_before,
        "an ack in time was taken for a stray"
    );
    assert!(sim.node(n(4)).unwrap().stats().transfer_keys_received > 0);
}
