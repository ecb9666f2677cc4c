//! Durable local storage: the core's [`Store`] on an embedded engine (Dynamo §5:
//! pluggable local persistence; the paper's nodes used Berkeley DB and MySQL).
//!
//! [`LsmStore`] (module `lsm`) is the engine: fjall, a log-structured merge tree with
//! a write-ahead journal. This module holds what any engine shares: the durability
//! modes and the encodings of stored values and hint keys.
//!
//! Every stored value is one format-version byte ([`VALUE_FORMAT_VERSION`]) followed by
//! the postcard encoding of [`Siblings`]. A value that is empty, of an unknown version,
//! undecodable or breaking the `Siblings` invariants is a [`StoreError`], never a panic.
//!
//! # Choosing the engine (issues 4 and 9)
//! `cargo bench -p dynamo-server --bench storage` (`server/benches/storage.rs`) runs
//! the store's workload (puts of 1 KiB values over 64 partitions, a sync every 64
//! puts, then every partition scanned) on [`LsmStore`] and on redb, the B-tree engine
//! the first server used. On this 2-vCPU VM fjall wrote 2-3x as fast durable and
//! about 10x buffered: it appends one journal record per batch, where redb copies
//! every B-tree page a put touches (a leaf and a branch: about 8 KiB per 1 KiB put).
//! Through the whole server (one node, `redis-benchmark -c 50 -t set -d 100`), the
//! switch took durable SETs from 15k to 32k/s and buffered from 19k to 36k/s, and the
//! driver's commit time per SET from 41 to 15 µs (durable, mostly the fsync) and
//! from 26 to 2 µs (buffered). See docs/bench/ANALYSIS.md.

mod lsm;

pub use lsm::{LsmStore, BUFFERED_FSYNC_INTERVAL_MS};

use dynamo_core::store::{HintKey, StoreError};
use dynamo_core::types::{NodeId, PartitionId};
use dynamo_core::version::{Siblings, VersionError};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// The first byte of every stored value; bump it when the encoding changes.
pub const VALUE_FORMAT_VERSION: u8 = 1;
/// Bytes of a hint key before the replica key: target and partition, big-endian.
const HINT_HEADER_BYTES: usize = 8;
/// Key bytes shown in an error message; longer keys are cut.
const KEY_BYTES_SHOWN_MAX: usize = 16;

/// How [`dynamo_core::store::Store::sync`] commits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Every sync is fsynced: acknowledged writes survive kills and power loss.
    #[default]
    Durable,
    /// Syncs reach the operating system at once and are fsynced in the background
    /// every [`BUFFERED_FSYNC_INTERVAL_MS`]: an acknowledged write survives a kill of
    /// the process, but a power loss may lose up to that interval of writes.
    Buffered,
}

impl fmt::Display for Durability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Durability::Durable => "durable",
            Durability::Buffered => "buffered",
        })
    }
}

/// A durability mode name that is neither `durable` nor `buffered`.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("unknown durability mode {text:?} (expected \"durable\" or \"buffered\")")]
pub struct UnknownDurability {
    pub text: String,
}

impl FromStr for Durability {
    type Err = UnknownDurability;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "durable" => Ok(Durability::Durable),
            "buffered" => Ok(Durability::Buffered),
            other => Err(UnknownDurability {
                text: other.to_string(),
            }),
        }
    }
}

/// Why a stored value or hint key could not be read back.
#[derive(Debug, Error)]
enum DecodeError {
    #[error("empty value (no format version byte)")]
    Empty,
    #[error("unknown value format version {version} (this build reads {VALUE_FORMAT_VERSION})")]
    UnknownVersion { version: u8 },
    #[error("undecodable siblings: {source}")]
    Postcard { source: postcard::Error },
    #[error("{trailing_bytes} trailing bytes after the siblings")]
    TrailingBytes { trailing_bytes: usize },
    #[error("siblings break an invariant: {source}")]
    Invariant { source: VersionError },
    #[error("hint key of {length} bytes is shorter than its {HINT_HEADER_BYTES}-byte header")]
    ShortHintKey { length: usize },
}

/// Wraps an engine error with what the store was doing, in the core's error type.
fn fail<E: fmt::Display>(doing: &str) -> impl FnOnce(E) -> StoreError + '_ {
    move |error| StoreError::new(format!("{doing}: {error}"))
}

/// [`fail`] with a description built only on error: describing a key is formatting,
/// and on the hot path it cost more than the lookup it described.
fn fail_with<E: fmt::Display>(doing: impl FnOnce() -> String) -> impl FnOnce(E) -> StoreError {
    move |error| StoreError::new(format!("{}: {error}", doing()))
}

/// A key for an error message: hex, cut after [`KEY_BYTES_SHOWN_MAX`] bytes.
fn describe_key(key: &[u8]) -> String {
    let shown: String = key
        .iter()
        .take(KEY_BYTES_SHOWN_MAX)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let cut = if key.len() > KEY_BYTES_SHOWN_MAX {
        ".."
    } else {
        ""
    };
    format!("0x{shown}{cut}")
}

fn encode_value(value: &Siblings) -> Result<Vec<u8>, StoreError> {
    let mut bytes = vec![VALUE_FORMAT_VERSION];
    postcard::to_io(value, &mut bytes).map_err(fail("encoding siblings"))?;
    Ok(bytes)
}

fn decode_value(bytes: &[u8]) -> Result<Siblings, DecodeError> {
    let (&version, body) = bytes.split_first().ok_or(DecodeError::Empty)?;
    if version != VALUE_FORMAT_VERSION {
        return Err(DecodeError::UnknownVersion { version });
    }
    let (siblings, rest): (Siblings, _) =
        postcard::take_from_bytes(body).map_err(|source| DecodeError::Postcard { source })?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes {
            trailing_bytes: rest.len(),
        });
    }
    siblings
        .check_invariants()
        .map_err(|source| DecodeError::Invariant { source })?;
    Ok(siblings)
}

/// Big-endian integers first, so byte order of the encoding is [`HintKey`] order.
fn encode_hint_key(hint: &HintKey) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HINT_HEADER_BYTES + hint.key.len());
    bytes.extend_from_slice(&hint.target.0.to_be_bytes());
    bytes.extend_from_slice(&hint.partition.0.to_be_bytes());
    bytes.extend_from_slice(&hint.key);
    bytes
}

fn decode_hint_key(bytes: &[u8]) -> Result<HintKey, DecodeError> {
    let short = || DecodeError::ShortHintKey {
        length: bytes.len(),
    };
    let (header, key) = bytes
        .split_at_checked(HINT_HEADER_BYTES)
        .ok_or_else(short)?;
    let (target, partition) = header.split_at(4);
    let word = |half: &[u8]| half.try_into().map(u32::from_be_bytes).map_err(|_| short());
    Ok(HintKey {
        target: NodeId(word(target)?),
        partition: PartitionId(word(partition)?),
        key: key.to_vec(),
    })
}

/// `bytes` decoded, or an error that names the value with `whose`.
fn decode_named(bytes: &[u8], whose: impl FnOnce() -> String) -> Result<Siblings, StoreError> {
    decode_value(bytes).map_err(|error| StoreError::new(format!("{}: {error}", whose())))
}
