//! Micro-benchmarks of the hot paths every request crosses (issue 9): the key's
//! preference list, a version update and a replica sync, the Merkle tree update after
//! a write, RESP request parsing, and a peer frame's encode and decode.
//!
//! Run: `cargo bench -p dynamo-server --bench core_paths` (add `-- --quick` for a
//! short run; criterion's usual filters and options apply).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use dynamo_core::clock::VersionVector;
use dynamo_core::merkle::{key_digest, MerkleTree};
use dynamo_core::message::Message;
use dynamo_core::ring::{Ring, RingConfig, RingMember};
use dynamo_core::types::{ActorId, NodeId, PartitionId};
use dynamo_core::version::{Content, Siblings};
use dynamo_server::peer::{decode_frame, encode_frame};
use dynamo_server::resp;
use std::hint::black_box;

const VALUE_BYTES: usize = 100;

/// A production-shaped ring: 1024 partitions over 8 nodes, N = 3.
fn ring() -> Ring {
    let members = (1..=8)
        .map(|id| RingMember {
            node: NodeId(id),
            weight: 1,
            zone: None,
        })
        .collect();
    Ring::new(RingConfig::default(), members).expect("a valid ring")
}

fn keys(count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| format!("key:{i:012}").into_bytes())
        .collect()
}

fn preference_list(c: &mut Criterion) {
    let ring = ring();
    let keys = keys(1024);
    let mut i = 0;
    c.bench_function("ring/home_replicas_of_key", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            let partition = ring.partition_of_key(black_box(&keys[i]));
            black_box(ring.home_replicas(partition, 3))
        })
    });
}

fn actor(node: u32) -> ActorId {
    ActorId::new(NodeId(node), 1)
}

/// A key's versions after `writers` concurrent blind writes (one sibling each).
fn siblings(writers: u32) -> Siblings {
    let mut siblings = Siblings::new();
    for node in 1..=writers {
        let value = Content::Value(vec![node as u8; VALUE_BYTES]);
        siblings
            .update(&VersionVector::new(), value, actor(node))
            .expect("a valid update");
    }
    siblings
}

fn versions(c: &mut Criterion) {
    let mut group = c.benchmark_group("version");
    // The common write: read-modify-write over the single version a read returned.
    group.bench_function("update_over_context", |b| {
        b.iter_batched(
            || (siblings(1), siblings(1).clock().clone()),
            |(mut versions, context)| {
                let value = Content::Value(vec![7; VALUE_BYTES]);
                black_box(versions.update(&context, value, actor(2)).expect("update"))
            },
            BatchSize::SmallInput,
        )
    });
    // A replica merging another's copy (read repair, anti-entropy, a write's sync).
    let (mine, theirs) = (siblings(2), siblings(3));
    group.bench_function("sync_3_siblings", |b| {
        b.iter_batched(
            || mine.clone(),
            |mut versions| {
                versions.sync(black_box(&theirs));
                versions
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn merkle(c: &mut Criterion) {
    let keys = keys(4096);
    let mut tree = MerkleTree::new();
    let versions = siblings(1);
    let digests: Vec<_> = keys.iter().map(|k| key_digest(k, &versions)).collect();
    for (key, digest) in keys.iter().zip(&digests) {
        tree.update(key, None, Some(*digest));
    }
    let newer = siblings(2);
    let mut i = 0;
    // A write replaces a key's digest; the tree rehashes the leaf's path to the root.
    c.bench_function("merkle/update_existing_key", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            let new = key_digest(&keys[i], &newer);
            tree.update(black_box(&keys[i]), Some(digests[i]), Some(new));
            tree.update(&keys[i], Some(new), Some(digests[i]));
        })
    });
}

fn resp_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("resp");
    let set = format!(
        "*3\r\n$3\r\nSET\r\n$16\r\nkey:000000012345\r\n${VALUE_BYTES}\r\n{}\r\n",
        "x".repeat(VALUE_BYTES)
    );
    let get = "*2\r\n$3\r\nGET\r\n$16\r\nkey:000000012345\r\n";
    group.throughput(Throughput::Bytes(set.len() as u64));
    group.bench_function("parse_set_100B", |b| {
        b.iter(|| black_box(resp::parse(black_box(set.as_bytes()))))
    });
    group.throughput(Throughput::Bytes(get.len() as u64));
    group.bench_function("parse_get", |b| {
        b.iter(|| black_box(resp::parse(black_box(get.as_bytes()))))
    });
    group.finish();
}

fn frames(c: &mut Criterion) {
    let write = Message::Write {
        request: 42,
        partition: PartitionId(17),
        key: b"key:000000012345".to_vec(),
        siblings: siblings(1),
        hint: None,
    };
    // A frame as a peer connection writes it: length, version byte, postcard.
    let mut frame = Vec::new();
    encode_frame(&write, &mut frame).expect("encodes");
    let payload = frame[4..].to_vec();
    let mut group = c.benchmark_group("peer_frame");
    group.throughput(Throughput::Bytes(frame.len() as u64));
    let mut out = Vec::with_capacity(frame.len());
    group.bench_function("encode_write_100B", |b| {
        b.iter(|| {
            out.clear();
            encode_frame(black_box(&write), &mut out).expect("encodes");
            black_box(out.len())
        })
    });
    group.bench_function("decode_write_100B", |b| {
        b.iter(|| black_box(decode_frame::<Message>(black_box(&payload)).expect("decodes")))
    });
    group.finish();
}

criterion_group!(
    benches,
    preference_list,
    versions,
    merkle,
    resp_parse,
    frames
);
criterion_main!(benches);
