//! # dynamo-core
//!
//! Amazon's Dynamo (DeCandia et al., SOSP 2007) as a pure protocol library.
//!
//! This crate does **no I/O**: no sockets, no files, no clock, no threads and no OS
//! randomness. Time reaches it only as explicit values and timer events, randomness only
//! from seeds, storage only through the synchronous [`store::Store`] trait. That is what
//! lets one implementation run under a model checker (`dynamo-model`), a deterministic
//! simulator, the tokio server (`dynamo-server`) and the browser (`dynamo-wasm`).
//!
//! # Paper map
//!
//! | module | Dynamo section | concept |
//! |---|---|---|
//! | [`hash`] | §4.2 | MD5 key -> 128-bit ring position -> partition |
//! | [`ring`] | §4.2, §4.3, §6.2 | equal partitions (strategy 3), weighted claim, preference lists; strategy 1 for comparison |
//! | [`clock`] | §4.4 | version vectors, dots, causality |
//! | [`version`] | §4.4 | sibling sets (dotted version vectors), contexts, tombstones |
//! | [`merkle`] | §4.7 | per-partition Merkle trees for anti-entropy |
//! | [`membership`] | §4.8 | the gossiped membership view, a CRDT |
//! | [`store`] | §5 | the synchronous storage trait and an in-memory store |
//! | [`types`] | - | identifiers and limits |
#![forbid(unsafe_code)]

pub mod clock;
pub mod hash;
pub mod membership;
pub mod merkle;
pub mod prng;
pub mod ring;
pub mod store;
pub mod types;
pub mod version;
