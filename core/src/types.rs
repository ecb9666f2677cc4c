//! Identifiers and limits shared by every module.
//!
//! Invariants:
//! - `NodeId` names a physical node for the cluster's lifetime; it is never reused.
//! - `ActorId` names one *incarnation* of a node in version vectors. A node keeps its
//!   incarnation across restarts and mints under dot-counter leases persisted before
//!   use, so a node that lost unsynced state in a crash can never mint a dot it already
//!   minted before (Riak's actor-epoch bug, found by our model); it takes a new one when
//!   its store may lack one of its own dots for a key (see `local.rs`).
//! - Every limit is a named constant (`*_MAX`) and is enforced where input enters.

use core::fmt;
use serde::{Deserialize, Serialize};

/// A physical node of the cluster (Dynamo §4.3: preference lists hold distinct physical nodes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId(pub u32);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// One incarnation of a node: the owner of an entry in a version vector (Dynamo §4.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ActorId {
    pub node: NodeId,
    pub incarnation: u32,
}

impl ActorId {
    pub fn new(node: NodeId, incarnation: u32) -> Self {
        Self { node, incarnation }
    }
}

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.node, self.incarnation)
    }
}

/// One of the ring's equal ranges (Dynamo §6.2, strategy 3): `0..partitions`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PartitionId(pub u32);

impl fmt::Display for PartitionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{}", self.0)
    }
}

/// A key: opaque bytes (Dynamo §4.1). Its MD5 places it on the ring.
pub type Key = Vec<u8>;

/// Explicit limits (TigerBeetle style: a limit on everything, the full case handled).
pub mod limits {
    /// Largest key, in bytes.
    pub const KEY_BYTES_MAX: usize = 8 * 1024;
    /// Largest value, in bytes (Dynamo §2.1: objects are usually under 1 MB).
    pub const VALUE_BYTES_MAX: usize = 1024 * 1024;
    /// Most concurrent siblings a put may leave on a key; past it the put is refused
    /// (the client must resolve with a context) and nothing stored is dropped.
    pub const SIBLINGS_MAX: usize = 64;
    /// Most entries a version vector or a client context may carry.
    pub const CLOCK_ENTRIES_MAX: usize = 1024;
    /// Fewest and most partitions a ring may have (a power of two).
    pub const PARTITIONS_MIN: u32 = 1;
    pub const PARTITIONS_MAX: u32 = 65_536;
    /// Most members a cluster may have.
    pub const MEMBERS_MAX: usize = 1024;
    /// Largest replication factor (N).
    pub const REPLICATION_FACTOR_MAX: usize = 16;
}
