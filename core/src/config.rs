//! Cluster and node settings (Dynamo §4.2 partitions, §4.5 N/R/W, §4.6-§4.8 periods).
//!
//! Invariants (checked by [`NodeConfig::validate`], which `Node::new` calls):
//! - 1 <= R, W <= N, and the ring configuration is valid;
//! - every period, batch and chunk size is positive;
//! - a node either is an initial member or has seeds to join through.

use crate::membership::{MemberInfo, MemberStatus};
use crate::ring::{RingConfig, RingError};
use crate::types::NodeId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use thiserror::Error;

/// Cluster and node settings. `validate` before use.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NodeConfig {
    /// Partitions and the cluster's replication factor N.
    pub ring: RingConfig,
    /// R: replies a get waits for.
    pub read_quorum: usize,
    /// W: acknowledgements a put waits for (the coordinator's own write counts).
    pub write_quorum: usize,
    pub request_timeout_ms: u64,
    pub gossip_interval_ms: u64,
    pub anti_entropy_interval_ms: u64,
    /// Every partition this node replicates is compared at least once per this period:
    /// each anti-entropy round starts as many exchanges as that takes (at least one).
    pub anti_entropy_period_ms: u64,
    pub handoff_interval_ms: u64,
    pub transfer_interval_ms: u64,
    /// Most hints held for unreachable nodes; past it, hinted writes are refused.
    pub hints_max: usize,
    /// Most bytes (keys and values, approximately) of hints held for one target node;
    /// past it, hinted writes for that node are refused, so one long-dead node cannot
    /// fill the disk while hints for the others still fit.
    pub hint_bytes_per_target_max: u64,
    /// Hints delivered per handoff round.
    pub handoff_batch: usize,
    /// Keys per partition-transfer chunk.
    pub transfer_chunk_keys: usize,
    /// Entries exchanged per anti-entropy message.
    pub anti_entropy_keys_max: usize,
    /// This node's entry: address, weight, zone (status and version are ignored).
    pub me: MemberInfo,
    /// Members of a cluster bootstrapped together (all start in the ring, epoch 1).
    /// Empty for a node that joins an existing cluster through `seeds`.
    pub initial_members: BTreeMap<NodeId, MemberInfo>,
    /// Nodes to gossip with while this node knows no other member.
    pub seeds: Vec<NodeId>,
    /// Seed of the node's PRNG (gossip peers, anti-entropy partners).
    pub seed: u64,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            ring: RingConfig::default(),
            read_quorum: 2,
            write_quorum: 2,
            request_timeout_ms: 1_000,
            gossip_interval_ms: 1_000,
            anti_entropy_interval_ms: 2_000,
            anti_entropy_period_ms: 60_000,
            handoff_interval_ms: 500,
            transfer_interval_ms: 200,
            hints_max: 100_000,
            hint_bytes_per_target_max: 1 << 30,
            handoff_batch: 64,
            transfer_chunk_keys: 256,
            anti_entropy_keys_max: 256,
            me: member("", 1),
            initial_members: BTreeMap::new(),
            seeds: Vec::new(),
            seed: 0,
        }
    }
}

/// A member entry for configuration: status and version are set by the node.
pub fn member(address: &str, weight: u32) -> MemberInfo {
    MemberInfo {
        version: 0,
        status: MemberStatus::Joining,
        address: address.to_string(),
        weight,
        zone: None,
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Error)]
pub enum ConfigError {
    #[error("bad ring config: {0}")]
    Ring(#[from] RingError),
    #[error("read_quorum {read_quorum} and write_quorum {write_quorum} must be within 1..={replication_factor}")]
    Quorum {
        read_quorum: usize,
        write_quorum: usize,
        replication_factor: usize,
    },
    #[error("{name} must be positive")]
    Zero { name: &'static str },
    #[error("the node is not in initial_members and has no seeds to join through")]
    Isolated,
}

impl NodeConfig {
    pub fn validate(&self, id: NodeId) -> Result<(), ConfigError> {
        self.ring.validate()?;
        let n = self.ring.replication_factor;
        let (r, w) = (self.read_quorum, self.write_quorum);
        if r == 0 || w == 0 || r > n || w > n {
            return Err(ConfigError::Quorum {
                read_quorum: r,
                write_quorum: w,
                replication_factor: n,
            });
        }
        let positive = [
            ("request_timeout_ms", self.request_timeout_ms as usize),
            ("gossip_interval_ms", self.gossip_interval_ms as usize),
            (
                "anti_entropy_interval_ms",
                self.anti_entropy_interval_ms as usize,
            ),
            (
                "anti_entropy_period_ms",
                self.anti_entropy_period_ms as usize,
            ),
            ("handoff_interval_ms", self.handoff_interval_ms as usize),
            ("transfer_interval_ms", self.transfer_interval_ms as usize),
            ("handoff_batch", self.handoff_batch),
            (
                "hint_bytes_per_target_max",
                usize::from(self.hint_bytes_per_target_max > 0),
            ),
            ("transfer_chunk_keys", self.transfer_chunk_keys),
            ("anti_entropy_keys_max", self.anti_entropy_keys_max),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(ConfigError::Zero { name });
        }
        if !self.initial_members.contains_key(&id) && self.seeds.is_empty() {
            return Err(ConfigError::Isolated);
        }
        Ok(())
    }
}
