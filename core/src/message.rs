//! The vocabulary between a `Node` and its driver: inputs, outputs, client commands and
//! replies, peer messages and timers (Dynamo §4.5-§4.9; DESIGN.md §1).
//!
//! Invariants:
//! - Every peer request that expects an answer carries a request id minted by the
//!   sender; answers echo it, so a late or duplicated answer is recognised and ignored.
//! - Client-visible failures are [`Failure`] values, never panics.
//! - Every message is bounded: entries per message are capped by the `*_MAX` limits of
//!   the module that sends them, and receivers re-check them.

use crate::clock::{Dot, VersionVector};
use crate::membership::Membership;
use crate::merkle::{LeafId, TreeLevel};
use crate::store::HintKey;
use crate::types::{Key, NodeId, PartitionId};
use crate::version::{Content, Siblings};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Identifies a client request for its driver: unique among a node's in-flight requests.
pub type RequestId = u64;

/// What drives a node. The driver feeds these to `Node::step`, one at a time.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Input {
    /// A client (or operator) command, answered later by an `Output::Reply`.
    Client {
        request: RequestId,
        command: Command,
    },
    /// A message from a peer. `from` must be authenticated by the driver.
    Peer { from: NodeId, message: Message },
    /// A timer set by an earlier `Output::SetTimer` fired.
    Timeout(Timer),
}

/// What a node asks its driver to do.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Output {
    Send {
        to: NodeId,
        message: Message,
    },
    /// Released by the driver only after the writes of this step are durable.
    Reply {
        request: RequestId,
        reply: Reply,
    },
    SetTimer {
        timer: Timer,
        after_ms: u64,
    },
    CancelTimer {
        timer: Timer,
    },
}

/// Per-request overrides of the cluster's N, R and W (Dynamo §4.5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Quorum {
    pub replication_factor: Option<usize>,
    pub read_quorum: Option<usize>,
    pub write_quorum: Option<usize>,
}

/// A client or operator command.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Command {
    /// Read every concurrent version of `key`.
    Get { key: Key, quorum: Quorum },
    /// Write `content` over the versions `context` covers (a delete writes a tombstone).
    Put {
        key: Key,
        context: VersionVector,
        content: Content,
        quorum: Quorum,
    },
    /// Write `content` over every version a read quorum returns: a get, then a put
    /// with the get's context, in one request (a Redis `SET` or a context-less HTTP
    /// `PUT`). Answered like a put.
    Set {
        key: Key,
        content: Content,
        quorum: Quorum,
    },
    /// Delete `key` if a read quorum finds a live value: a set of a tombstone that
    /// writes nothing when there is nothing to delete (a Redis `DEL`). Answered with
    /// `Reply::Deleted`.
    Delete { key: Key, quorum: Quorum },
    /// Operator: add a member that announced itself (status joining) to the ring.
    Join { node: NodeId },
    /// Operator: remove a member from the ring; its partitions move away first.
    Leave { node: NodeId },
    /// Operator: remove a member that is gone for good (Riak's force-remove): it is
    /// marked left at once, its partitions are re-sourced from surviving replicas,
    /// and hints held for it go to the new homes. Never blocked by running transfers.
    Remove { node: NodeId },
}

/// The answer to a command.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Reply {
    /// Every concurrent sibling (possibly none, possibly tombstones) and its context.
    Got {
        siblings: Siblings,
    },
    /// The write is stored on `write_quorum` replicas; `context` covers it.
    Put {
        dot: Dot,
        context: VersionVector,
    },
    /// A delete's answer: whether a live value existed (and was superseded by a
    /// tombstone stored on `write_quorum` replicas).
    Deleted {
        existed: bool,
    },
    /// The membership change was accepted; the ring's new epoch.
    Changed {
        epoch: u64,
    },
    Failed(Failure),
}

/// A client-visible failure. Messages are lowercase and carry the numbers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Error, Serialize, Deserialize)]
pub enum Failure {
    #[error("quorum not reached: needed {needed}, got {received}")]
    QuorumNotReached { needed: usize, received: usize },
    #[error("timed out: needed {needed}, got {received}")]
    Timeout { needed: usize, received: usize },
    #[error("key too large: {size} bytes, max {max}")]
    KeyTooLarge { size: usize, max: usize },
    #[error("key is empty")]
    EmptyKey,
    #[error("{0}")]
    Version(#[from] crate::version::VersionError),
    #[error("bad quorum: n={replication_factor} r={read_quorum} w={write_quorum} (need 1 <= r,w <= n <= {max})")]
    BadQuorum {
        replication_factor: usize,
        read_quorum: usize,
        write_quorum: usize,
        max: usize,
    },
    #[error("node is not ready: it has no ring yet (not joined)")]
    NotReady,
    #[error("overloaded: {in_flight} requests in flight, max {max}")]
    Overloaded { in_flight: usize, max: usize },
    #[error("storage failed: {message}")]
    Storage { message: String },
    #[error("membership change refused: {reason}")]
    Membership { reason: String },
}

/// Why a replica refused a peer's request (carried for operators' logs; the
/// requester only counts the refusal).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Error, Serialize, Deserialize)]
pub enum RefuseReason {
    #[error("storage failed: {message}")]
    Storage { message: String },
    #[error("hint store full: {held} hints, max {max}")]
    HintsFull { held: usize, max: usize },
    #[error("hints for {target} hold {held} bytes, max {max}")]
    HintBytesFull { target: NodeId, held: u64, max: u64 },
    #[error("transfer of epoch {theirs}, this node is at epoch {ours}")]
    EpochMismatch { theirs: u64, ours: u64 },
}

/// Messages between nodes. Pairs: `Read`/`ReadOk`, `Write`/`WriteOk`, `Handoff`/`HandoffOk`,
/// `Transfer`/`TransferOk`, `Ping`/`Pong`; `Forward`/`Forwarded`; anti-entropy walks.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Message {
    Read {
        request: u64,
        partition: PartitionId,
        #[serde(with = "serde_bytes")]
        key: Key,
        /// Set when the receiver stands in for this home node (sloppy quorum).
        hint: Option<NodeId>,
    },
    ReadOk {
        request: u64,
        siblings: Option<Siblings>,
    },
    Write {
        request: u64,
        partition: PartitionId,
        #[serde(with = "serde_bytes")]
        key: Key,
        siblings: Siblings,
        /// Set when the receiver is a fallback holding the write for this home node.
        hint: Option<NodeId>,
    },
    WriteOk {
        request: u64,
    },
    /// A replica refused or failed a request (storage error, hint store full).
    Refused {
        request: u64,
        reason: RefuseReason,
    },
    /// Read repair: a replica was seen stale; no answer expected.
    Repair {
        partition: PartitionId,
        #[serde(with = "serde_bytes")]
        key: Key,
        siblings: Siblings,
    },
    /// A put received by a node outside the key's home replicas, sent on to one (once).
    Forward {
        request: u64,
        command: Command,
    },
    Forwarded {
        request: u64,
        reply: Reply,
    },
    Handoff {
        request: u64,
        hint: HintKey,
        siblings: Siblings,
    },
    HandoffOk {
        request: u64,
    },
    /// Anti-entropy (Dynamo §4.7): the hashes of a tree node's children; the receiver
    /// answers with its own children of the differing ones, down to the leaves.
    TreeLevel {
        partition: PartitionId,
        step: TreeLevel,
    },
    /// Anti-entropy: a page of the entries the sender holds in `leaves` (which
    /// differed), for the receiver to merge; a `reply: true` sync (the first page of
    /// the side that found the leaves) asks for the receiver's entries back. `next`:
    /// the sender holds more, after this key; the receiver pulls them (`TreePull`).
    TreeSync {
        partition: PartitionId,
        leaves: Vec<LeafId>,
        entries: Vec<(Key, Siblings)>,
        reply: bool,
        next: Option<Key>,
    },
    /// Anti-entropy: send the next page of your entries in `leaves`, after `after`
    /// (answered by a `TreeSync` with `reply: false`).
    TreePull {
        partition: PartitionId,
        leaves: Vec<LeafId>,
        #[serde(with = "serde_bytes")]
        after: Key,
    },
    Gossip {
        membership: Box<Membership>,
        reply: bool,
    },
    Ping {
        request: u64,
    },
    Pong {
        request: u64,
    },
    /// Partition transfer after a ring change (Dynamo §4.9): one chunk, in key order.
    Transfer {
        request: u64,
        epoch: u64,
        partition: PartitionId,
        entries: Vec<(Key, Siblings)>,
        last: bool,
    },
    TransferOk {
        request: u64,
        epoch: u64,
        partition: PartitionId,
        last: bool,
    },
}

/// Timers a node sets. Each is set at most once at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Timer {
    /// A coordinated or forwarded request's deadline.
    Request(u64),
    Gossip,
    AntiEntropy,
    Handoff,
    Transfer,
}
