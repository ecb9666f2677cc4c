//! The backup's files: a JSON manifest and one checksummed binary file per partition.
//!
//! A partition file is self-describing: a header (magic, format version, the
//! partition, the source's partition count, the entry count), the entries as
//! length-prefixed postcard `(key, sibling set)` pairs (the same canonical encoding the
//! Merkle digests hash: every sibling's dot and context and the set's clock, tombstones
//! included), and a SHA-256 of everything before it. The manifest repeats each file's
//! hash, so a file swapped for another partition's is caught too.

use dynamo_core::merkle::{key_digest, MerkleTree};
use dynamo_core::ring::Ring;
use dynamo_core::types::{Key, NodeId};
use dynamo_core::version::Siblings;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

pub const MAGIC: &[u8; 8] = b"DYNAMOBK";
pub const FORMAT_VERSION: u32 = 1;
pub const MANIFEST_FORMAT: &str = "dynamo-backup";
pub const MANIFEST_FILE: &str = "manifest.json";
const HEADER_BYTES: usize = 8 + 4 + 4 + 4 + 8;
const CHECKSUM_BYTES: usize = 32;
/// One entry's encoding at most: a key of 8 KiB and 64 siblings of 1 MiB each, with
/// room for their clocks.
pub const ENTRY_BYTES_MAX: usize = 72 * 1024 * 1024;

/// Why a backup file was refused.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("truncated: {bytes} bytes, a partition file has at least {min}")]
    Truncated { bytes: usize, min: usize },
    #[error("checksum mismatch: the file's content hashes to {actual}, its trailer says {stored}")]
    Checksum { actual: String, stored: String },
    #[error("the manifest lists sha256 {listed}, the file has {actual}")]
    NotListed { listed: String, actual: String },
    #[error("not a dynamo partition file (bad magic)")]
    Magic,
    #[error("format version {0} is not supported (this build reads {FORMAT_VERSION})")]
    Version(u32),
    #[error("the file holds partition {found}, the manifest says {expected}")]
    WrongPartition { found: u32, expected: u32 },
    #[error("entry {index}: {reason}")]
    Entry { index: u64, reason: String },
    #[error("the header counts {header} entries, the file holds {found}")]
    Count { header: u64, found: u64 },
}

/// The manifest: what was backed up, from which ring, and each file's hash.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub started_unix_ms: u64,
    pub finished_unix_ms: u64,
    /// What the backup covers: each partition as of its read (`read_at_unix_ms`).
    pub coverage: String,
    pub source: Source,
    pub totals: Counts,
    /// For each node id, the newest actor incarnation in any entry: a restore fences
    /// the target's nodes past these so their new dots stay fresh.
    pub actors: BTreeMap<u32, u32>,
    pub partitions: Vec<PartitionRecord>,
}

/// The cluster a backup was taken from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Source {
    pub epoch: u64,
    pub partitions: u32,
    pub replication_factor: usize,
    pub ring: Ring,
}

/// Keys and bytes of a partition or a whole backup.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub keys: u64,
    /// Keys with at least one live value.
    pub live_keys: u64,
    /// Keys that read as deleted (only tombstones): kept, so a restore cannot
    /// resurrect an old value another replica still holds.
    pub deleted_keys: u64,
    /// Keys with more than one sibling (concurrent versions).
    pub keys_with_siblings: u64,
    /// Bytes of the files.
    pub file_bytes: u64,
}

impl Counts {
    pub fn add(&mut self, other: &Counts) {
        self.keys += other.keys;
        self.live_keys += other.live_keys;
        self.deleted_keys += other.deleted_keys;
        self.keys_with_siblings += other.keys_with_siblings;
        self.file_bytes += other.file_bytes;
    }

    fn of(entries: &BTreeMap<Key, Siblings>, file_bytes: u64) -> Counts {
        let mut counts = Counts {
            file_bytes,
            ..Counts::default()
        };
        for siblings in entries.values() {
            counts.keys += 1;
            match siblings.is_deleted() {
                true => counts.deleted_keys += 1,
                false => counts.live_keys += 1,
            }
            counts.keys_with_siblings += u64::from(siblings.len() > 1);
        }
        counts
    }
}

/// One partition's file and how it was read.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PartitionRecord {
    pub partition: u32,
    pub file: String,
    pub sha256: String,
    /// The Merkle root of the entries in the file (32 hex digits).
    pub merkle_root: String,
    pub counts: Counts,
    /// The homes whose entries are in the file (the first read first).
    pub read_from: Vec<NodeId>,
    /// Each home's root at the time of the read (`None`: unreachable), and whether
    /// it equalled the first home's.
    pub replicas: Vec<ReplicaRoot>,
    /// The entries read hash to the root the node reported with them.
    pub verified: bool,
    pub read_at_unix_ms: u64,
    pub actors: BTreeMap<u32, u32>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReplicaRoot {
    pub node: NodeId,
    pub root: Option<String>,
    pub agreed: bool,
}

pub fn file_name(partition: u32) -> String {
    format!("p-{partition:05}.dbk")
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn root_hex(root: u128) -> String {
    format!("{root:032x}")
}

/// The Merkle root of `entries`, computed as a replica computes its own.
pub fn root_of(entries: &BTreeMap<Key, Siblings>) -> u128 {
    let mut tree = MerkleTree::new();
    for (key, siblings) in entries {
        tree.update(key, None, Some(key_digest(key, siblings)));
    }
    tree.root().0
}

/// For each node id, the newest incarnation among the actors of `entries`' clocks.
pub fn actors_of(entries: &BTreeMap<Key, Siblings>) -> BTreeMap<u32, u32> {
    let mut actors = BTreeMap::new();
    for siblings in entries.values() {
        note_actors(&mut actors, siblings);
    }
    actors
}

pub fn note_actors(actors: &mut BTreeMap<u32, u32>, siblings: &Siblings) {
    for (actor, _) in siblings.clock().iter() {
        let newest = actors.entry(actor.node.0).or_insert(actor.incarnation);
        *newest = (*newest).max(actor.incarnation);
    }
}

/// Encode a partition file; returns its bytes (the trailer is the SHA-256).
pub fn encode(
    partition: u32,
    partitions: u32,
    entries: &BTreeMap<Key, Siblings>,
) -> Result<Vec<u8>, postcard::Error> {
    let mut out = Vec::with_capacity(HEADER_BYTES + entries.len() * 64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&partition.to_le_bytes());
    out.extend_from_slice(&partitions.to_le_bytes());
    out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    for entry in entries {
        let encoded = postcard::to_allocvec(&entry)?;
        out.extend_from_slice(&(encoded.len() as u32).to_le_bytes());
        out.extend_from_slice(&encoded);
    }
    let sum = Sha256::digest(&out);
    out.extend_from_slice(&sum);
    Ok(out)
}

/// The record of a partition file about to be written.
pub fn record(
    partition: u32,
    entries: &BTreeMap<Key, Siblings>,
    bytes: &[u8],
) -> (String, String, Counts) {
    let sha = hex(&bytes[bytes.len() - CHECKSUM_BYTES..]);
    let counts = Counts::of(entries, bytes.len() as u64);
    (file_name(partition), sha, counts)
}

/// Read and check a partition file against its manifest record: the checksum, the
/// listed hash, the header, every entry's encoding.
pub fn read(dir: &Path, record: &PartitionRecord) -> Result<Vec<(Key, Siblings)>, FormatError> {
    let path = dir.join(&record.file);
    let bytes = std::fs::read(&path).map_err(|error| FormatError::Read {
        path: path.display().to_string(),
        error,
    })?;
    decode(&bytes, record.partition, Some(&record.sha256))
}

/// [`read`] of bytes already in memory (`listed`: the manifest's hash, if any).
pub fn decode(
    bytes: &[u8],
    partition: u32,
    listed: Option<&str>,
) -> Result<Vec<(Key, Siblings)>, FormatError> {
    let min = HEADER_BYTES + CHECKSUM_BYTES;
    if bytes.len() < min {
        return Err(FormatError::Truncated {
            bytes: bytes.len(),
            min,
        });
    }
    let (body, trailer) = bytes.split_at(bytes.len() - CHECKSUM_BYTES);
    let (actual, stored) = (hex(&Sha256::digest(body)), hex(trailer));
    if actual != stored {
        return Err(FormatError::Checksum { actual, stored });
    }
    if let Some(listed) = listed.filter(|listed| *listed != actual) {
        let listed = listed.to_string();
        return Err(FormatError::NotListed { listed, actual });
    }
    let count = check_header(body, partition)?;
    decode_entries(&body[HEADER_BYTES..], count)
}

fn check_header(body: &[u8], partition: u32) -> Result<u64, FormatError> {
    let u32_at = |at: usize| u32::from_le_bytes(body[at..at + 4].try_into().expect("4 bytes"));
    if &body[..8] != MAGIC {
        return Err(FormatError::Magic);
    }
    if u32_at(8) != FORMAT_VERSION {
        return Err(FormatError::Version(u32_at(8)));
    }
    if u32_at(12) != partition {
        let found = u32_at(12);
        return Err(FormatError::WrongPartition {
            found,
            expected: partition,
        });
    }
    Ok(u64::from_le_bytes(
        body[20..28].try_into().expect("8 bytes"),
    ))
}

fn decode_entries(mut rest: &[u8], header: u64) -> Result<Vec<(Key, Siblings)>, FormatError> {
    let mut entries = Vec::new();
    let mut index = 0u64;
    while !rest.is_empty() {
        let bad = |reason: String| FormatError::Entry { index, reason };
        if rest.len() < 4 {
            return Err(bad("truncated length".into()));
        }
        let length = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
        if length > ENTRY_BYTES_MAX || length > rest.len() - 4 {
            return Err(bad(format!("length {length} past the file or the limit")));
        }
        let entry: (Key, Siblings) =
            postcard::from_bytes(&rest[4..4 + length]).map_err(|e| bad(e.to_string()))?;
        entry.1.check_invariants().map_err(|e| bad(e.to_string()))?;
        entries.push(entry);
        rest = &rest[4 + length..];
        index += 1;
    }
    if index != header {
        return Err(FormatError::Count {
            header,
            found: index,
        });
    }
    Ok(entries)
}

/// Write `bytes` to `path` durably and atomically: a temporary file, fsync, rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let temporary = path.with_extension("tmp");
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dynamo_core::clock::VersionVector;
    use dynamo_core::types::ActorId;
    use dynamo_core::version::Content;

    fn entries() -> BTreeMap<Key, Siblings> {
        let mut entries = BTreeMap::new();
        let actor = ActorId::new(NodeId(2), 7);
        let mut set = Siblings::new();
        set.update(&VersionVector::new(), Content::Value(b"a".to_vec()), actor)
            .unwrap();
        set.update(&VersionVector::new(), Content::Value(b"b".to_vec()), actor)
            .unwrap();
        entries.insert(b"two".to_vec(), set.clone());
        let clock = set.clock().clone();
        set.update(&clock, Content::Tombstone, actor).unwrap();
        entries.insert(b"gone".to_vec(), set);
        entries
    }

    #[test]
    fn a_file_round_trips_with_siblings_and_tombstones() {
        let entries = entries();
        let bytes = encode(3, 16, &entries).unwrap();
        let (_, sha, counts) = record(3, &entries, &bytes);
        let decoded = decode(&bytes, 3, Some(&sha)).unwrap();
        assert_eq!(decoded, entries.into_iter().collect::<Vec<_>>());
        assert_eq!((counts.keys, counts.deleted_keys), (2, 1));
        assert_eq!(counts.keys_with_siblings, 1);
    }

    #[test]
    fn a_flipped_byte_a_wrong_partition_or_an_unlisted_file_is_refused() {
        let bytes = encode(3, 16, &entries()).unwrap();
        let mut flipped = bytes.clone();
        flipped[HEADER_BYTES + 5] ^= 1;
        let error = decode(&flipped, 3, None).unwrap_err();
        assert!(matches!(error, FormatError::Checksum { .. }), "{error}");
        let error = decode(&bytes, 4, None).unwrap_err();
        assert!(
            matches!(error, FormatError::WrongPartition { .. }),
            "{error}"
        );
        let error = decode(&bytes, 3, Some("00")).unwrap_err();
        assert!(matches!(error, FormatError::NotListed { .. }), "{error}");
        let error = decode(&bytes[..10], 3, None).unwrap_err();
        assert!(matches!(error, FormatError::Truncated { .. }), "{error}");
    }

    #[test]
    fn actors_are_the_newest_incarnation_per_node() {
        let actors = actors_of(&entries());
        assert_eq!(actors, BTreeMap::from([(2, 7)]));
    }
}
