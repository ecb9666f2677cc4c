//! Weights and zones on real processes (issue 18, Dynamo §4.3 and §6.2): six nodes in
//! three zones, one of weight 2. Every partition's N=3 homes span the three zones, and
//! the weight-2 node owns about twice the partitions of a weight-1 node, as the HTTP
//! cluster view of every node shows. `admin status` prints each member's zone.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use support::Cluster;

const PLACEMENTS: [&str; 6] = [
    ",weight=2,zone=a",
    ",zone=b",
    ",zone=c",
    ",zone=a",
    ",zone=b",
    ",zone=c",
];

#[test]
fn homes_span_every_zone_and_a_weight_two_node_owns_twice_the_partitions() {
    let cluster = Cluster::start_placed(29400, 256, &PLACEMENTS);
    for id in 1..=6 {
        let view = cluster.view(id);
        let zones: BTreeMap<u32, Option<String>> = view
            .members
            .iter()
            .map(|m| (m.id.0, m.zone.clone()))
            .collect();
        assert_eq!(zones.len(), 6, "node {id} sees six members");
        for member in &view.members {
            let weight = if member.id.0 == 1 { 2 } else { 1 };
            assert_eq!(member.weight, weight, "node {id}'s view of {}", member.id);
        }
        assert_eq!(view.partitions.len(), 256);
        for partition in &view.partitions {
            let spanned: BTreeSet<_> = partition
                .homes
                .iter()
                .map(|home| zones[&home.0].clone().expect("every node has a zone"))
                .collect();
            assert_eq!(
                spanned.len(),
                3,
                "node {id}: homes {:?} of {} span zones {spanned:?}",
                partition.homes,
                partition.partition
            );
        }
        let ring = view.ring.expect("a ring");
        let mut owned: BTreeMap<u32, usize> = BTreeMap::new();
        for partition in 0..256 {
            let owner = ring.owner(dynamo_core::types::PartitionId(partition));
            *owned.entry(owner.0).or_default() += 1;
        }
        // Weight 7 in all: the weight-2 node owns 2/7 of 256 (73.1), each other 36.6.
        let others: Vec<usize> = (2..=6).map(|n| owned[&n]).collect();
        let heavy = owned[&1];
        assert!(
            others
                .iter()
                .all(|o| heavy + 2 >= 2 * o && heavy <= 2 * o + 2),
            "node 1 (weight 2) owns {heavy}, the others {others:?}"
        );
    }
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_dynamo"))
        .args(["admin", "status", "--addr", &cluster.http(1)])
        .output()
        .expect("run dynamo admin status");
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{text}");
    assert!(text.contains("zone"), "{text}");
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("1 "))
        .unwrap();
    assert!(line.contains(" a "), "node 1's line names its zone: {line}");
}

/// A founder whose `--weight` contradicts its `--member` entry is refused with a clear
/// message, and a weight of 0 too: founders derive the first ring from the list.
#[test]
fn a_founder_contradicting_its_member_entry_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_dynamo"))
            .args(["serve", "--id", "1", "--data-dir"])
            .arg(dir.path())
            .args(["--member", "1=127.0.0.1:29590,weight=2"])
            .args(["--secret", "s", "--client-listen", "127.0.0.1:29591"])
            .args(["--peer-listen", "127.0.0.1:29590"])
            .args(["--http-listen", "127.0.0.1:29592"])
            .args(extra)
            .output()
            .expect("run dynamo serve")
    };
    let out = run(&["--weight", "3"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("differ from this node's --member entry"),
        "{stderr}"
    );
    let out = run(&["--weight", "0"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("--weight must be at least 1"), "{stderr}");
}
