//! A live cluster grows from 3 to 4 nodes and shrinks back while a writer runs
//! (Dynamo §4.9): the partitions that move are exactly the claim's plan, and every
//! acknowledged write is readable afterwards.

mod support;

use dynamo_core::ring::Ring;
use dynamo_core::types::{NodeId, PartitionId};
use dynamo_server::client::Client;
use dynamo_server::resp::Value;
use dynamo_server::view::{ClusterView, MemberState};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{block_on, eventually_within, Cluster};

const N: usize = 3;
/// The writer's bounds: it stops at the flag, or at these, whichever comes first.
const WRITES_MAX: usize = 5_000;
const WRITING_MAX: Duration = Duration::from_secs(120);

fn ring_of(view: &ClusterView) -> Ring {
    view.ring.clone().expect("the view carries the ring")
}

/// The (partition, receiving node) pairs the claim plans between two rings.
fn claimed(before: &Ring, after: &Ring) -> BTreeSet<(u32, u32)> {
    let changes = before.replica_changes(after, N);
    let pairs = changes.iter().flat_map(|change| {
        let PartitionId(partition) = change.partition;
        change.added.iter().map(move |NodeId(to)| (partition, *to))
    });
    pairs.collect()
}

/// The (partition, receiving node) pairs a node reports for its epoch.
fn planned(view: &ClusterView) -> BTreeSet<(u32, u32)> {
    let planned = view.transfers.planned.iter();
    planned.map(|t| (t.partition.0, t.to.0)).collect()
}

/// What the writer saw: acknowledged (key, value) pairs and failed attempts.
#[derive(Default)]
struct Written {
    acked: Vec<(String, String)>,
    failed: Vec<String>,
}

fn writer(seeds: Vec<String>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Written> {
    std::thread::spawn(move || {
        block_on(async move {
            let client = Client::connect(&seeds).await.expect("connect");
            let mut written = Written::default();
            let started = Instant::now();
            for i in 0..WRITES_MAX {
                if stop.load(Ordering::Relaxed) || started.elapsed() > WRITING_MAX {
                    break;
                }
                let (key, value) = (format!("w-{i}"), format!("v-{i}"));
                match client.put(&key, value.as_bytes(), Some("")).await {
                    Ok(_) => written.acked.push((key, value)),
                    Err(error) => written.failed.push(format!("{key}: {error}")),
                }
            }
            written
        })
    })
}

/// Change membership through node 1 and wait until every node reports the new
/// epoch's transfers done; return node 1's view of that epoch.
fn change_and_settle(cluster: &Cluster, action: &str, node: u32, nodes: &[u16]) -> ClusterView {
    let seeds = vec![cluster.http(1)];
    let epoch = block_on(async move {
        let client = Client::connect(&seeds).await.unwrap();
        client
            .change(action, NodeId(node))
            .await
            .expect("the change is accepted")
    });
    for id in nodes {
        eventually_within(
            Duration::from_secs(90),
            "transfers of the new epoch done",
            || {
                let view = cluster.view(*id);
                view.epoch == epoch && view.transfers.pending.is_empty()
            },
        );
    }
    cluster.view(1)
}

#[test]
fn join_and_leave_under_load_move_the_planned_partitions_and_lose_nothing() {
    let mut cluster = Cluster::start_with(23000, 3, 16, N);
    let first = ring_of(&cluster.view(1));
    cluster.spawn_joiner(4);
    eventually_within(Duration::from_secs(30), "node 4 announces itself", || {
        let view = cluster.view(1);
        let mut members = view.members.iter();
        members.any(|m| m.id == NodeId(4) && m.status == MemberState::Joining)
    });
    let stop = Arc::new(AtomicBool::new(false));
    let load = writer(vec![cluster.http(1)], stop.clone());
    std::thread::sleep(Duration::from_millis(500));

    let grown = change_and_settle(&cluster, "join", 4, &[1, 2, 3, 4]);
    let second = ring_of(&grown);
    assert!(second.members().contains_key(&NodeId(4)));
    assert!(!planned(&grown).is_empty(), "a join moves partitions");
    assert_eq!(
        planned(&grown),
        claimed(&first, &second),
        "moves follow the claim"
    );

    let shrunk = change_and_settle(&cluster, "leave", 4, &[1, 2, 3]);
    let third = ring_of(&shrunk);
    assert!(!third.members().contains_key(&NodeId(4)));
    assert_eq!(
        planned(&shrunk),
        claimed(&second, &third),
        "moves follow the claim"
    );

    stop.store(true, Ordering::Relaxed);
    let written = load.join().expect("the writer finishes");
    assert!(
        written.acked.len() >= 20,
        "the writer ran: {} acks",
        written.acked.len()
    );
    assert!(
        written.failed.is_empty(),
        "failed writes: {:?}",
        written.failed
    );
    cluster.kill(4); // it left: the three remaining nodes hold everything
    let seeds = vec![cluster.http(2)];
    let acked = written.acked;
    block_on(async move {
        let client = Client::connect(&seeds).await.unwrap();
        for (key, value) in &acked {
            let read = client.get(key).await.expect("a read");
            let values: Vec<&[u8]> = read.values().collect();
            assert_eq!(values, vec![value.as_bytes()], "{key}");
        }
    });
}

/// Two operators join two different nodes at the same moment through two different
/// nodes (issue 18): exactly one is told its change was made, the other gets a clear
/// conflict, and the change its operator was told of is the one in the ring.
#[test]
fn two_concurrent_changes_give_one_success_and_one_clear_conflict() {
    let mut cluster = Cluster::start_with(23200, 3, 16, N);
    for id in [4, 5] {
        cluster.spawn_joiner(id);
    }
    eventually_within(Duration::from_secs(30), "nodes 4 and 5 announce", || {
        let view = cluster.view(1);
        let joining = view.members.iter();
        joining.filter(|m| m.status == MemberState::Joining).count() == 2
    });
    let post = |through: u16, node: u32| {
        let url = format!("http://{}/v1/admin/join/{node}", cluster.http(through));
        std::thread::spawn(move || {
            block_on(async move {
                let response = reqwest::Client::new().post(url).send().await.unwrap();
                (response.status().as_u16(), response.text().await.unwrap())
            })
        })
    };
    let (first, second) = (post(2, 4), post(3, 5));
    let answers = [first.join().unwrap(), second.join().unwrap()];
    let made: Vec<&(u16, String)> = answers.iter().filter(|(s, _)| *s == 200).collect();
    assert_eq!(made.len(), 1, "exactly one change is made: {answers:?}");
    let refused = answers.iter().find(|(s, _)| *s != 200).unwrap();
    assert!(
        refused.1.contains("still running") || refused.1.contains("claimant"),
        "the other says why: {refused:?}"
    );
    let joined = if answers[0].0 == 200 { 4 } else { 5 };
    eventually_within(Duration::from_secs(60), "every node has the change", || {
        (1..=5).all(|id| {
            let view = cluster.view(id);
            view.ring
                .is_some_and(|r| r.members().contains_key(&NodeId(joined)))
        })
    });
}

/// A node's process and data directory are destroyed (issue 18): `dynamo admin replace
/// 4 5` removes it, re-sources its partitions from the surviving replicas, and joins
/// node 5 in its place; every partition's three homes then hold the same versions
/// (equal Merkle roots), every key reads back through every node, and a later join
/// works.
#[test]
fn a_destroyed_node_is_replaced_and_every_key_is_back_to_n_copies() {
    let mut cluster = Cluster::start_with(29600, 4, 16, N);
    let keys: Vec<String> = (0..200).map(|i| format!("replace-{i}")).collect();
    for key in &keys {
        let reply = support::run(
            &cluster.client(1),
            &[b"SET", key.as_bytes(), key.as_bytes()],
        );
        assert_eq!(reply, Value::Simple("OK".into()), "{key}");
    }
    cluster.kill(4);
    std::fs::remove_dir_all(cluster.data_dir().join("n4")).unwrap();
    cluster.spawn_joiner(5);
    eventually_within(Duration::from_secs(30), "node 5 announces itself", || {
        let view = cluster.view(1);
        let mut members = view.members.iter();
        members.any(|m| m.id == NodeId(5) && m.status == MemberState::Joining)
    });
    let mut replace = std::process::Command::new(env!("CARGO_BIN_EXE_dynamo"))
        .args(["admin", "replace", "4", "5", "--addr", &cluster.http(1)])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = replace.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "admin replace did not finish in 120 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "admin replace failed");
    let live = [1u16, 2, 3, 5];
    eventually_within(
        Duration::from_secs(120),
        "every home holds the same versions",
        || {
            let views: Vec<ClusterView> = live.iter().map(|id| cluster.view(*id)).collect();
            let view = &views[0];
            let ring = view.ring.as_ref().unwrap();
            let placed =
                !ring.members().contains_key(&NodeId(4)) && ring.members().contains_key(&NodeId(5));
            placed
                && views
                    .iter()
                    .all(|v| v.epoch == view.epoch && v.transfers.pending.is_empty())
                && view.partitions.iter().all(|p| {
                    let roots: BTreeSet<Option<&String>> = p
                        .homes
                        .iter()
                        .map(|home| {
                            let at = live.iter().position(|id| u32::from(*id) == home.0).unwrap();
                            views[at].merkle_roots.get(&p.partition.0)
                        })
                        .collect();
                    roots.len() == 1
                })
        },
    );
    for id in live {
        for key in &keys {
            let reply = support::run(&cluster.client(id), &[b"GET", key.as_bytes()]);
            assert_eq!(
                reply,
                support::bulk(key.as_bytes()),
                "{key} through node {id}"
            );
        }
    }
    cluster.spawn_joiner(6);
    eventually_within(Duration::from_secs(30), "node 6 announces itself", || {
        let view = cluster.view(1);
        let mut members = view.members.iter();
        members.any(|m| m.id == NodeId(6) && m.status == MemberState::Joining)
    });
    let after = change_and_settle(&cluster, "join", 6, &[1, 2, 3, 5, 6]);
    assert!(ring_of(&after).members().contains_key(&NodeId(6)));
}
