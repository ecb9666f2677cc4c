//! A scenario: the cluster's setup and every action taken on it, in order.
//!
//! The simulator is deterministic, so a scenario replays to the same state on any
//! machine; the page keeps it in its URL, which is how a run is shared.
//!
//! Invariants:
//! - `Setup::validate` accepts only setups the core accepts (`NodeConfig::validate`,
//!   and `Ring::new` for the members' weights and zones);
//! - `weights` and `zones` are empty (every node weight 1, in no zone: setups from
//!   before they existed replay unchanged) or hold one entry per node;
//! - a scenario holds at most `ACTIONS_MAX` actions; consecutive steps merge (up to
//!   `EVENTS_PER_ACTION_MAX` events) and so do consecutive advances, so a long play
//!   session stays one action. The explorer records an advance that processed events
//!   as the `Step` it was, because "advance 100 ms" twice and "advance 200 ms" once
//!   stop at different events (each stops at the first event due past its end).

use dynamo_core::node::NodeConfig;
use dynamo_core::ring::{Ring, RingConfig, RingMember, WEIGHT_MAX, ZONE_BYTES_MAX};
use dynamo_core::sim::SimMember;
use dynamo_core::types::NodeId;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Most nodes a visualised cluster may have (more would not fit around the ring).
pub const NODES_MAX: u32 = 16;
/// Most partitions drawn (each needs a few pixels of arc).
pub const PARTITIONS_MAX: u32 = 256;
/// Most actions a scenario keeps; past it, actions are refused (reset to go on).
pub const ACTIONS_MAX: usize = 10_000;
/// Most simulator events one action may process (bounded work per call, whatever the
/// page asks); consecutive steps merge only up to it, so a replay performs them all.
pub const EVENTS_PER_ACTION_MAX: u32 = 200_000;

/// The cluster a scenario starts from: the seed and the knobs the page exposes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Setup {
    pub seed: u64,
    pub nodes: u32,
    pub partitions: u32,
    pub replication_factor: usize,
    pub read_quorum: usize,
    pub write_quorum: usize,
    /// Each node's weight, node 1 first; empty: all weight 1.
    pub weights: Vec<u32>,
    /// Each node's zone, node 1 first (`None`: a zone of its own); empty: no zones.
    pub zones: Vec<Option<String>>,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            seed: 1,
            nodes: 5,
            partitions: 32,
            replication_factor: 3,
            read_quorum: 2,
            write_quorum: 2,
            weights: Vec::new(),
            zones: Vec::new(),
        }
    }
}

/// Why a setup or an action was refused. Messages are lowercase and carry the numbers.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ScenarioError {
    #[error("nodes must be in 1..={max}, got {nodes}")]
    Nodes { nodes: u32, max: u32 },
    #[error("partitions must be at most {max} to be drawn, got {partitions}")]
    Partitions { partitions: u32, max: u32 },
    #[error("{list} lists {given} nodes, the cluster has {nodes}: give one per node or none")]
    PerNode {
        list: &'static str,
        given: usize,
        nodes: u32,
    },
    #[error("weight of {node} must be in 1..={max}, got {weight}")]
    Weight { node: NodeId, weight: u32, max: u32 },
    #[error("zone of {node} must be 1..={max} bytes, got {bytes}")]
    Zone {
        node: NodeId,
        bytes: usize,
        max: usize,
    },
    #[error("bad setup: {reason}")]
    Config { reason: String },
    #[error("{node} is not a node of this cluster")]
    UnknownNode { node: NodeId },
    #[error("{node} is down: a client cannot reach it")]
    NodeDown { node: NodeId },
    #[error("key is empty")]
    EmptyKey,
    #[error("bad context: {reason}")]
    Context { reason: String },
    #[error("scenario is full: {max} actions")]
    Full { max: usize },
    #[error("bad scenario: {reason}")]
    Parse { reason: String },
}

impl Setup {
    pub fn validate(&self) -> Result<(), ScenarioError> {
        if self.nodes == 0 || self.nodes > NODES_MAX {
            let (nodes, max) = (self.nodes, NODES_MAX);
            return Err(ScenarioError::Nodes { nodes, max });
        }
        if self.partitions > PARTITIONS_MAX {
            let (partitions, max) = (self.partitions, PARTITIONS_MAX);
            return Err(ScenarioError::Partitions { partitions, max });
        }
        let config = self.node_config();
        let reason = |error: &dyn std::fmt::Display| ScenarioError::Config {
            reason: error.to_string(),
        };
        config.validate(NodeId(1)).map_err(|e| reason(&e))?;
        let members = self.members()?;
        for (node, member) in (1..).map(NodeId).zip(&members) {
            check_member(node, member)?;
        }
        // The claim refuses weights that leave a node without a partition.
        let ring_members = (1..)
            .map(NodeId)
            .zip(members)
            .map(|(node, m)| RingMember {
                node,
                weight: m.weight,
                zone: m.zone,
            })
            .collect();
        Ring::new(config.ring, ring_members).map_err(|e| reason(&e))?;
        Ok(())
    }

    /// Each node's weight and zone, node 1 first.
    pub fn members(&self) -> Result<Vec<SimMember>, ScenarioError> {
        let nodes = self.nodes as usize;
        let per_node = |list: &'static str, given: usize| {
            if given == 0 || given == nodes {
                Ok(())
            } else {
                let nodes = self.nodes;
                Err(ScenarioError::PerNode { list, given, nodes })
            }
        };
        per_node("weights", self.weights.len())?;
        per_node("zones", self.zones.len())?;
        Ok((0..nodes)
            .map(|i| SimMember {
                weight: self.weights.get(i).copied().unwrap_or(1),
                zone: self.zones.get(i).cloned().flatten(),
            })
            .collect())
    }

    /// The template every simulated node starts from. Timers are the core's defaults
    /// scaled down, so that one second of simulated time shows gossip, handoff,
    /// transfers and anti-entropy at work.
    pub fn node_config(&self) -> NodeConfig {
        let initial_members = (1..=self.nodes)
            .map(|id| {
                let i = (id - 1) as usize;
                let weight = self.weights.get(i).copied().unwrap_or(1);
                let mut info = dynamo_core::node::member("", weight);
                info.zone = self.zones.get(i).cloned().flatten();
                (NodeId(id), info)
            })
            .collect();
        NodeConfig {
            ring: RingConfig {
                partitions: self.partitions,
                replication_factor: self.replication_factor,
            },
            read_quorum: self.read_quorum,
            write_quorum: self.write_quorum,
            request_timeout_ms: 200,
            gossip_interval_ms: 250,
            anti_entropy_interval_ms: 1_000,
            handoff_interval_ms: 250,
            transfer_interval_ms: 100,
            transfer_chunk_keys: 4,
            initial_members,
            ..NodeConfig::default()
        }
    }
}

/// Refuse a weight or zone the core would refuse, with the limits. An empty zone name
/// is refused too: no zone is `None`, and the page sends that for a blank.
pub fn check_member(node: NodeId, member: &SimMember) -> Result<(), ScenarioError> {
    if member.weight == 0 || member.weight > WEIGHT_MAX {
        let (weight, max) = (member.weight, WEIGHT_MAX);
        return Err(ScenarioError::Weight { node, weight, max });
    }
    match member.zone.as_deref().map(str::len) {
        Some(bytes) if bytes == 0 || bytes > ZONE_BYTES_MAX => Err(ScenarioError::Zone {
            node,
            bytes,
            max: ZONE_BYTES_MAX,
        }),
        _ => Ok(()),
    }
}

fn weight_one() -> u32 {
    1
}

/// One thing done to the cluster. Keys, values and contexts are text, so a scenario
/// reads well in a URL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Action {
    /// Read `key` through coordinator `via`.
    Get {
        via: u32,
        key: String,
    },
    /// Write `value` (or delete, when `None`) over `context` (a get's context text;
    /// `None`: a blind write over nothing).
    Put {
        via: u32,
        key: String,
        value: Option<String>,
        context: Option<String>,
    },
    Crash {
        node: u32,
    },
    Restart {
        node: u32,
    },
    /// Cut `node` off from every other node.
    Isolate {
        node: u32,
    },
    /// Cut the link between `a` and `b`.
    Partition {
        a: u32,
        b: u32,
    },
    /// Restore every link.
    Heal,
    /// Start a new node (the next id) of `weight` in `zone` that announces itself
    /// through the first node up; it serves only once an operator `join`s it.
    AddNode {
        #[serde(default = "weight_one")]
        weight: u32,
        #[serde(default)]
        zone: Option<String>,
    },
    /// Operator: put `node` into the ring, through `via`.
    Join {
        via: u32,
        node: u32,
    },
    /// Operator: take `node` out of the ring, through `via`.
    Leave {
        via: u32,
        node: u32,
    },
    /// Process the next `events` simulator events (messages or timers), at most
    /// `EVENTS_PER_ACTION_MAX`.
    Step {
        events: u32,
    },
    /// Advance simulated time by `ms`, processing every event due (up to
    /// `EVENTS_PER_ACTION_MAX`). Recorded as the `Step` it performed, plus the idle
    /// time when no event was left to process.
    Advance {
        ms: u64,
    },
}

/// A setup and the actions taken on it: enough to rebuild any state exactly.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scenario {
    pub setup: Setup,
    pub actions: Vec<Action>,
}

impl Scenario {
    pub fn new(setup: Setup) -> Self {
        Self {
            setup,
            actions: Vec::new(),
        }
    }

    /// Append `action`, merging it into the last one when both only move time.
    pub fn record(&mut self, action: Action) -> Result<(), ScenarioError> {
        match (self.actions.last_mut(), &action) {
            (Some(Action::Step { events }), Action::Step { events: more })
                if events.saturating_add(*more) <= EVENTS_PER_ACTION_MAX =>
            {
                *events += *more;
                return Ok(());
            }
            (Some(Action::Advance { ms }), Action::Advance { ms: more }) => {
                *ms = ms.saturating_add(*more);
                return Ok(());
            }
            _ => {}
        }
        if self.actions.len() >= ACTIONS_MAX {
            return Err(ScenarioError::Full { max: ACTIONS_MAX });
        }
        self.actions.push(action);
        Ok(())
    }

    /// Refuse when the scenario could not record one more action (an advance may
    /// record two: the step it performed and idle time), before anything is performed.
    pub fn check_room(&self) -> Result<(), ScenarioError> {
        if self.actions.len() + 2 > ACTIONS_MAX {
            return Err(ScenarioError::Full { max: ACTIONS_MAX });
        }
        Ok(())
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a scenario serialises")
    }

    pub fn from_json(text: &str) -> Result<Self, ScenarioError> {
        serde_json::from_str(text).map_err(|error| ScenarioError::Parse {
            reason: error.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_setup_is_valid() {
        assert_eq!(Setup::default().validate(), Ok(()));
    }

    #[test]
    fn setup_refuses_what_the_core_or_the_page_cannot_take() {
        let bad_nodes = Setup {
            nodes: 0,
            ..Setup::default()
        };
        assert!(matches!(
            bad_nodes.validate(),
            Err(ScenarioError::Nodes { .. })
        ));
        let bad_quorum = Setup {
            read_quorum: 4,
            ..Setup::default()
        };
        let error = bad_quorum.validate().unwrap_err().to_string();
        assert!(error.contains("read_quorum 4"), "{error}");
        let not_power_of_two = Setup {
            partitions: 24,
            ..Setup::default()
        };
        assert!(matches!(
            not_power_of_two.validate(),
            Err(ScenarioError::Config { .. })
        ));
    }

    fn shaped(weights: Vec<u32>, zones: &[Option<&str>]) -> Setup {
        Setup {
            nodes: 3,
            weights,
            zones: zones.iter().map(|z| z.map(str::to_string)).collect(),
            ..Setup::default()
        }
    }

    #[test]
    fn setups_and_actions_from_before_weights_and_zones_still_parse() {
        let old = r#"{"setup":{"seed":3,"nodes":4},"actions":[{"op":"add_node"}]}"#;
        let scenario = Scenario::from_json(old).unwrap();
        assert_eq!(scenario.setup.validate(), Ok(()));
        let members = scenario.setup.members().unwrap();
        assert_eq!(members, vec![SimMember::default(); 4]);
        assert_eq!(
            scenario.actions,
            [Action::AddNode {
                weight: 1,
                zone: None
            }]
        );
    }

    #[test]
    fn weights_and_zones_give_each_node_its_own() {
        let setup = shaped(vec![1, 1, 2], &[Some("a"), None, Some("b")]);
        assert_eq!(setup.validate(), Ok(()));
        assert_eq!(
            setup.members().unwrap(),
            [
                SimMember::new(1, Some("a")),
                SimMember::new(1, None),
                SimMember::new(2, Some("b"))
            ]
        );
        let info = &setup.node_config().initial_members[&NodeId(3)];
        assert_eq!((info.weight, info.zone.as_deref()), (2, Some("b")));
    }

    #[test]
    fn weights_and_zones_the_core_would_refuse_are_refused_with_the_limits() {
        let error = |setup: Setup| setup.validate().unwrap_err().to_string();
        assert_eq!(
            error(shaped(vec![1, 2], &[])),
            "weights lists 2 nodes, the cluster has 3: give one per node or none"
        );
        assert_eq!(
            error(shaped(vec![], &[Some("a")])),
            "zones lists 1 nodes, the cluster has 3: give one per node or none"
        );
        assert_eq!(
            error(shaped(vec![1, 0, 1], &[])),
            format!("weight of n2 must be in 1..={WEIGHT_MAX}, got 0")
        );
        let long = "z".repeat(ZONE_BYTES_MAX + 1);
        assert_eq!(
            error(shaped(vec![], &[None, None, Some(&long)])),
            format!("zone of n3 must be 1..={ZONE_BYTES_MAX} bytes, got 65")
        );
        assert!(error(shaped(vec![], &[Some(""), None, None])).starts_with("zone of n1"));
        let crowded = Setup {
            partitions: 8,
            ..shaped(vec![WEIGHT_MAX, 1, 1], &[])
        };
        let refused = error(crowded);
        assert!(refused.contains("would own no partition"), "{refused}");
    }

    #[test]
    fn time_steps_merge_and_other_actions_do_not() {
        let mut scenario = Scenario::new(Setup::default());
        scenario.record(Action::Advance { ms: 10 }).unwrap();
        scenario.record(Action::Advance { ms: 5 }).unwrap();
        scenario.record(Action::Heal).unwrap();
        scenario.record(Action::Step { events: 1 }).unwrap();
        scenario.record(Action::Step { events: 2 }).unwrap();
        let big = EVENTS_PER_ACTION_MAX - 1;
        scenario.record(Action::Step { events: big }).unwrap();
        assert_eq!(
            scenario.actions,
            vec![
                Action::Advance { ms: 15 },
                Action::Heal,
                Action::Step { events: 3 },
                Action::Step { events: big }
            ],
            "a merged step never exceeds what one action may process"
        );
    }

    #[test]
    fn scenario_round_trips_through_json() {
        let mut scenario = Scenario::new(Setup::default());
        scenario
            .record(Action::Put {
                via: 1,
                key: "cart".into(),
                value: Some("book".into()),
                context: None,
            })
            .unwrap();
        let text = scenario.to_json();
        assert!(text.contains(r#""op":"put""#), "{text}");
        assert_eq!(Scenario::from_json(&text).unwrap(), scenario);
        assert!(Scenario::from_json("{").is_err());
    }
}
