//! Dynamo §4.4, Figure 3: the evolution of an object over time, step by step.
//!
//! Three replicas of one key, coordinated by nodes Sx, Sy and Sz. Each write goes
//! through `Siblings::update` at its coordinator's replica; replication is
//! `Siblings::sync`. Every step checks the version vector the paper gives and the
//! causal relations it states.

use dynamo_core::clock::{Causality, Dot, VersionVector};
use dynamo_core::context::Context;
use dynamo_core::types::{ActorId, NodeId};
use dynamo_core::version::{Content, Sibling, Siblings};

const SX: ActorId = ActorId {
    node: NodeId(1),
    incarnation: 0,
};
const SY: ActorId = ActorId {
    node: NodeId(2),
    incarnation: 0,
};
const SZ: ActorId = ActorId {
    node: NodeId(3),
    incarnation: 0,
};

fn vv(entries: &[(ActorId, u64)]) -> VersionVector {
    VersionVector::from_entries(entries.iter().copied()).unwrap()
}

fn value(name: &str) -> Content {
    Content::Value(name.as_bytes().to_vec())
}

/// The one sibling of `set` holding `name`.
fn sibling<'a>(set: &'a Siblings, name: &str) -> &'a Sibling {
    let mut found = set.iter().filter(|s| s.content == value(name));
    let sibling = found
        .next()
        .unwrap_or_else(|| panic!("{name} not in {set:?}"));
    assert!(found.next().is_none());
    sibling
}

fn put(replica: &mut Siblings, context: &Context, name: &str, coordinator: ActorId) -> Sibling {
    replica
        .update(context.clock(), value(name), coordinator)
        .unwrap();
    replica.check_invariants().unwrap();
    sibling(replica, name).clone()
}

/// The replicas after D1..D5, and each version.
struct Figure3 {
    sx: Siblings,
    sy: Siblings,
    sz: Siblings,
    read: Siblings,
    versions: [Sibling; 5],
}

fn figure_3() -> Figure3 {
    let mut sx = Siblings::new();
    // D1: a new object, written through Sx.
    let d1 = put(&mut sx, &Context::default(), "D1", SX);
    // D2: the client updates D1 (it read D1's context), again through Sx.
    let read_d1 = sx.context();
    let d2 = put(&mut sx, &read_d1, "D2", SX);
    // Sx replicates D2 to Sy and Sz.
    let (mut sy, mut sz) = (sx.clone(), sx.clone());
    // D3 and D4: two clients read D2, then write through Sy and Sz concurrently.
    let read_d2 = sx.context();
    let d3 = put(&mut sy, &read_d2, "D3", SY);
    let d4 = put(&mut sz, &read_d2, "D4", SZ);
    // A read that sees both (Sx's D2 merged with Sy's and Sz's replicas).
    let read = sx.merged(&sy).merged(&sz);
    // D5: the client reconciles D3 and D4 and writes through Sx with the read's context.
    let d5 = put(&mut sx, &read.context(), "D5", SX);
    let versions = [d1, d2, d3, d4, d5];
    Figure3 {
        sx,
        sy,
        sz,
        read,
        versions,
    }
}

#[test]
fn paper_4_4_each_write_carries_the_version_vector_of_figure_3() {
    let Figure3 { versions, .. } = figure_3();
    let [d1, d2, d3, d4, d5] = versions.map(|sibling| sibling.version());
    assert_eq!(d1, vv(&[(SX, 1)]));
    assert_eq!(d2, vv(&[(SX, 2)]));
    assert_eq!(d3, vv(&[(SX, 2), (SY, 1)]));
    assert_eq!(d4, vv(&[(SX, 2), (SZ, 1)]));
    assert_eq!(d5, vv(&[(SX, 3), (SY, 1), (SZ, 1)]));
    assert_eq!(d5.to_string(), "[n1.0:3, n2.0:1, n3.0:1]");
}

#[test]
fn paper_4_4_d2_overwrites_d1_at_sx() {
    let mut sx = Siblings::new();
    let d1 = put(&mut sx, &Context::default(), "D1", SX);
    let read_d1 = sx.context();
    let d2 = put(&mut sx, &read_d1, "D2", SX);
    assert_eq!(sx.len(), 1, "D1 is an ancestor of D2 and is dropped");
    assert_eq!(sx.values().collect::<Vec<_>>(), vec![&b"D2"[..]]);
    assert_eq!(d2.dot, Dot::new(SX, 2));
    assert!(d2.covers(d1.dot));
}

#[test]
fn paper_4_4_causal_relations_between_every_pair() {
    let Figure3 { versions, .. } = figure_3();
    let [d1, d2, d3, d4, d5] = versions.map(|sibling| sibling.version());
    // "D2 descends from D1": syntactic reconciliation may drop D1.
    assert_eq!(d1.compare(&d2), Causality::Before);
    assert_eq!(d2.compare(&d1), Causality::After);
    // D3 and D4 both descend from D2 but not from each other: "there are changes
    // in D3 and D4 that are not reflected in each other".
    assert_eq!(d2.compare(&d3), Causality::Before);
    assert_eq!(d2.compare(&d4), Causality::Before);
    assert_eq!(d3.compare(&d4), Causality::Concurrent);
    assert_eq!(d4.compare(&d3), Causality::Concurrent);
    // D5 reconciles both, so it descends from every earlier version.
    for earlier in [&d1, &d2, &d3, &d4] {
        assert_eq!(earlier.compare(&d5), Causality::Before);
        assert!(d5.descends(earlier));
    }
    assert_eq!(d5.compare(&d5.clone()), Causality::Equal);
}

#[test]
fn paper_4_4_a_read_after_d3_and_d4_returns_both_with_the_merged_context() {
    let Figure3 { read, versions, .. } = figure_3();
    let [_, d2, d3, d4, _] = versions;
    let values: Vec<_> = read.values().collect();
    assert_eq!(values, vec![&b"D3"[..], &b"D4"[..]], "D2 is superseded");
    assert!(!read.iter().any(|sibling| sibling.dot == d2.dot));
    assert_eq!(read.clock(), &vv(&[(SX, 2), (SY, 1), (SZ, 1)]));
    assert_eq!(read.context().clock(), &d3.version().merged(&d4.version()));
    // The context survives its trip through a client.
    let text = read.context().to_text();
    assert_eq!(Context::from_text(&text), Ok(read.context()));
}

#[test]
fn paper_4_4_d5_supersedes_d3_and_d4_on_every_replica() {
    let Figure3 {
        mut sx,
        mut sy,
        mut sz,
        ..
    } = figure_3();
    assert_eq!(sx.values().collect::<Vec<_>>(), vec![&b"D5"[..]]);
    // Sy and Sz still hold D3 and D4 until Sx's replica reaches them.
    assert_eq!(sy.compare(&sx), Causality::Before);
    assert_eq!(sy.compare(&sz), Causality::Concurrent);
    let latest = sx.clone();
    sy.sync(&latest);
    sz.sync(&latest);
    sx.sync(&sy);
    for replica in [&sx, &sy, &sz] {
        replica.check_invariants().unwrap();
        assert_eq!(replica.values().collect::<Vec<_>>(), vec![&b"D5"[..]]);
        assert_eq!(replica, &latest);
    }
}
