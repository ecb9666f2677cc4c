//! Strategy 1 against strategy 3 (Dynamo §6.2), side by side, for the page.
//!
//! Both rings come from the core: [`TokenRing`] (random tokens per node) and [`Ring`]
//! (equal partitions, weighted claim). For each, the page gets every node's share of
//! replica load, the load balance efficiency (mean over max), the owner around the
//! ring, and the share of the ring that changes owner when one more node joins.
//!
//! `TokenRing` does not expose its tokens, so its owners are sampled at
//! `SAMPLES` evenly spaced positions (exact for the strategy-3 ring, whose partitions
//! are themselves evenly spaced).

use crate::view::colour;
use dynamo_core::hash::RingPosition;
use dynamo_core::ring::{load_balance_efficiency, Ring, RingConfig, RingMember, TokenRing};
use dynamo_core::types::NodeId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use thiserror::Error;

/// Positions sampled around a token ring.
pub const SAMPLES: u32 = 720;
/// Most tokens per unit of weight (each costs a tree entry and a walk).
pub const TOKENS_MAX: u32 = 256;
/// Most members compared.
pub const MEMBERS_MAX: usize = 64;

/// What to compare: one weight per node (node ids 1, 2, ...).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BalanceSetup {
    pub weights: Vec<u32>,
    pub tokens: u32,
    pub partitions: u32,
    pub replication_factor: usize,
    pub seed: u64,
}

impl Default for BalanceSetup {
    fn default() -> Self {
        Self {
            weights: vec![1; 5],
            tokens: 8,
            partitions: 64,
            replication_factor: 3,
            seed: 1,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum BalanceError {
    #[error("compare 1..={max} nodes, got {count}")]
    Members { count: usize, max: usize },
    #[error("tokens per node must be in 1..={max}, got {tokens}")]
    Tokens { tokens: u32, max: u32 },
    #[error("{reason}")]
    Ring { reason: String },
}

#[derive(Clone, Debug, Serialize)]
pub struct BalanceView {
    pub token_ring: StrategyView,
    pub partition_ring: StrategyView,
}

#[derive(Clone, Debug, Serialize)]
pub struct StrategyView {
    pub name: String,
    pub efficiency: f64,
    pub loads: Vec<LoadView>,
    /// Owner at `owners.len()` evenly spaced positions, clockwise from 0.
    pub owners: Vec<u32>,
    pub colours: BTreeMap<u32, String>,
    /// Share of positions whose owner changes when one more weight-1 node joins.
    pub moved_on_join: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct LoadView {
    pub node: u32,
    pub weight: u32,
    /// Share of all replicas, 0..1.
    pub load: f64,
}

fn members(weights: &[u32]) -> Vec<RingMember> {
    (1..)
        .zip(weights)
        .map(|(id, weight)| RingMember {
            node: NodeId(id),
            weight: *weight,
            zone: None,
        })
        .collect()
}

fn loads(members: &[RingMember], load: &BTreeMap<NodeId, f64>) -> Vec<LoadView> {
    let total: f64 = load.values().sum::<f64>().max(f64::MIN_POSITIVE);
    members
        .iter()
        .map(|m| LoadView {
            node: m.node.0,
            weight: m.weight,
            load: load.get(&m.node).copied().unwrap_or(0.0) / total,
        })
        .collect()
}

fn colours(members: &[RingMember]) -> BTreeMap<u32, String> {
    let joiner = members.len() as u32 + 1;
    let ids = members.iter().map(|m| m.node.0).chain([joiner]);
    ids.map(|id| (id, colour(id))).collect()
}

fn changed(before: &[u32], after: &[u32]) -> f64 {
    let moved = before.iter().zip(after).filter(|(a, b)| a != b).count();
    moved as f64 / before.len().max(1) as f64
}

fn token_owners(ring: &TokenRing) -> Vec<u32> {
    (0..SAMPLES)
        .map(|i| {
            // i / SAMPLES of a turn, computed in the top 96 bits to avoid overflow.
            let turn_96 = (u128::from(i) << 96) / u128::from(SAMPLES);
            let position = RingPosition(turn_96 << 32);
            ring.home_replicas(position, 1).first().map_or(0, |n| n.0)
        })
        .collect()
}

fn token_strategy(setup: &BalanceSetup, members: &[RingMember]) -> StrategyView {
    let ring = TokenRing::new(members, setup.tokens, setup.seed);
    let load = ring.replica_load(setup.replication_factor);
    let owners = token_owners(&ring);
    // Tokens are drawn member by member, so the existing members keep theirs.
    let mut grown = members.to_vec();
    grown.push(joiner(members));
    let after = token_owners(&TokenRing::new(&grown, setup.tokens, setup.seed));
    StrategyView {
        name: format!("strategy 1: {} random tokens per node", setup.tokens),
        efficiency: load_balance_efficiency(&load),
        loads: loads(members, &load),
        moved_on_join: changed(&owners, &after),
        owners,
        colours: colours(members),
    }
}

fn joiner(members: &[RingMember]) -> RingMember {
    RingMember {
        node: NodeId(members.len() as u32 + 1),
        weight: 1,
        zone: None,
    }
}

fn partition_strategy(
    setup: &BalanceSetup,
    members: &[RingMember],
) -> Result<StrategyView, BalanceError> {
    let ring_error = |error: dynamo_core::ring::RingError| BalanceError::Ring {
        reason: error.to_string(),
    };
    let config = RingConfig {
        partitions: setup.partitions,
        replication_factor: setup.replication_factor,
    };
    let ring = Ring::new(config, members.to_vec()).map_err(ring_error)?;
    let load = ring.replica_load(setup.replication_factor);
    let owners: Vec<u32> = ring.owners().iter().map(|n| n.0).collect();
    let next = ring.join(joiner(members)).map_err(ring_error)?;
    let after: Vec<u32> = next.owners().iter().map(|n| n.0).collect();
    Ok(StrategyView {
        name: format!("strategy 3: {} equal partitions", setup.partitions),
        efficiency: load_balance_efficiency(&load),
        loads: loads(members, &load),
        moved_on_join: changed(&owners, &after),
        owners,
        colours: colours(members),
    })
}

pub fn compare(setup: &BalanceSetup) -> Result<BalanceView, BalanceError> {
    let count = setup.weights.len();
    if count == 0 || count > MEMBERS_MAX {
        return Err(BalanceError::Members {
            count,
            max: MEMBERS_MAX,
        });
    }
    if setup.tokens == 0 || setup.tokens > TOKENS_MAX {
        let (tokens, max) = (setup.tokens, TOKENS_MAX);
        return Err(BalanceError::Tokens { tokens, max });
    }
    let members = members(&setup.weights);
    let partition_ring = partition_strategy(setup, &members)?;
    Ok(BalanceView {
        token_ring: token_strategy(setup, &members),
        partition_ring,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_partitions_balance_better_than_few_random_tokens_6_2() {
        let view = compare(&BalanceSetup::default()).unwrap();
        assert!(
            view.partition_ring.efficiency > view.token_ring.efficiency,
            "{} vs {}",
            view.partition_ring.efficiency,
            view.token_ring.efficiency
        );
        assert_eq!(view.partition_ring.owners.len(), 64);
        assert_eq!(view.token_ring.owners.len(), SAMPLES as usize);
    }

    #[test]
    fn a_join_moves_about_one_share_under_strategy_3() {
        let view = compare(&BalanceSetup::default()).unwrap();
        // Five weight-1 nodes become six: each gives up to 1/30 of the ring.
        let moved = view.partition_ring.moved_on_join;
        assert!((0.1..=0.25).contains(&moved), "{moved}");
    }

    #[test]
    fn loads_follow_weights() {
        let setup = BalanceSetup {
            weights: vec![1, 1, 2],
            replication_factor: 1,
            ..BalanceSetup::default()
        };
        let view = compare(&setup).unwrap();
        let heavy = view.partition_ring.loads[2].load;
        assert!((heavy - 0.5).abs() < 0.05, "{heavy}");
    }

    #[test]
    fn refuses_bad_setups_with_the_numbers() {
        let none = BalanceSetup {
            weights: vec![],
            ..BalanceSetup::default()
        };
        assert_eq!(
            compare(&none).unwrap_err().to_string(),
            "compare 1..=64 nodes, got 0"
        );
        let odd = BalanceSetup {
            partitions: 48,
            ..BalanceSetup::default()
        };
        assert!(matches!(compare(&odd), Err(BalanceError::Ring { .. })));
    }
}
