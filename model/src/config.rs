//! A model configuration: cluster shape, client scripts, faults and the boundary.
//!
//! Everything that makes a run finite is here: each client runs a fixed script; each
//! node fires each periodic timer at most `rounds` times (then the driver stops
//! re-arming it, as if background work paused for good); crashes are counted against
//! `crashes`. Request timers are not bounded: a node arms one per request and requests
//! are bounded by the scripts.

use dynamo_core::membership::MemberInfo;
use dynamo_core::message::Timer;
use dynamo_core::mutant::UnknownMutant;
use dynamo_core::node::{member, Mutant, NodeConfig};
use dynamo_core::ring::{Ring, RingConfig, RingMember};
use dynamo_core::types::{Key, NodeId};
use std::collections::BTreeMap;
use std::fmt;

/// Most nodes a configuration may have (state spaces explode well before).
pub const NODES_MAX: usize = 5;
/// Most clients, and most operations per client script.
pub const CLIENTS_MAX: usize = 4;
pub const SCRIPT_OPS_MAX: usize = 8;
/// Most keys a script may name.
pub const KEYS_MAX: usize = 4;

/// How the network treats messages (stateright's network models).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NetworkKind {
    /// Any in-flight message may be delivered next, each at most once.
    Unordered,
    /// FIFO per (sender, receiver) pair.
    Ordered,
    /// Unordered, and a delivered message may be delivered again. Expensive: every
    /// handler that is not idempotent multiplies the states.
    Duplicating,
}

/// What a client does in one step of its script.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Put value `[byte]`, with the context of the client's last reply for the key.
    Put(u8),
    /// Put a tombstone, with the client's context for the key.
    Delete,
    Get,
    /// `INCR`: a put of `Mutation::Increment(1)` over no context (`counter.rs`).
    Incr,
}

/// One client operation: what, on which key (index), through which node (index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientOp {
    pub action: Action,
    pub key: usize,
    pub coordinator: usize,
}

impl ClientOp {
    pub fn put(key: usize, value: u8, coordinator: usize) -> Self {
        let action = Action::Put(value);
        Self {
            action,
            key,
            coordinator,
        }
    }

    pub fn get(key: usize, coordinator: usize) -> Self {
        let action = Action::Get;
        Self {
            action,
            key,
            coordinator,
        }
    }
}

/// Periodic timer firings allowed per node (the boundary of background work).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rounds {
    /// Gossip rounds, which also probe suspected peers (the only way back to health
    /// for a peer that sends nothing).
    pub gossip: u8,
    pub anti_entropy: u8,
    pub handoff: u8,
}

impl Rounds {
    /// Firings allowed for `timer`; `None` for request timers (not bounded here).
    pub fn limit(&self, timer: Timer) -> Option<u8> {
        match timer {
            Timer::Request(_) => None,
            Timer::Gossip => Some(self.gossip),
            Timer::AntiEntropy => Some(self.anti_entropy),
            Timer::Handoff => Some(self.handoff),
            // The model never changes membership: nothing to transfer.
            Timer::Transfer => Some(0),
        }
    }
}

/// A whole model configuration. Build one with a preset, adjust fields, `validate`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ModelConfig {
    pub nodes: usize,
    /// Ring partitions (a power of two, at least `nodes` so every node owns one and
    /// every preference list holds every node).
    pub partitions: u32,
    pub replication_factor: usize,
    pub read_quorum: usize,
    pub write_quorum: usize,
    pub clients: Vec<Vec<ClientOp>>,
    pub network: NetworkKind,
    pub lossy: bool,
    /// Crashes (each followed by a restart from the node's durable store) in a run.
    pub crashes: u8,
    pub rounds: Rounds,
    /// Node indices whose periodic timers run (`rounds`); empty: every node. Each
    /// background firing can interleave with everything else, so fewer nodes with
    /// rounds shrink the state space most.
    pub rounds_on: Vec<usize>,
    pub mutant: Mutant,
    /// Most rounds of periodic work (per node) the convergence check runs after
    /// faults stop; it stops as soon as the cluster converged.
    pub heal_rounds: usize,
    /// Run `check_invariants_full` (Merkle trees against a rebuild) after every step.
    pub full_invariants: bool,
}

/// A configuration that cannot be modelled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl ModelConfig {
    /// 3 nodes, N=3 R=2 W=2, perfect unordered network, no background work, one
    /// client that puts then gets: the strict quorum path (read repair, timeouts).
    pub fn strict() -> Self {
        Self {
            nodes: 3,
            partitions: 4,
            replication_factor: 3,
            read_quorum: 2,
            write_quorum: 2,
            clients: vec![vec![ClientOp::put(0, 1, 0), ClientOp::get(0, 1)]],
            network: NetworkKind::Unordered,
            lossy: false,
            crashes: 0,
            rounds: Rounds::default(),
            rounds_on: Vec::new(),
            mutant: Mutant::None,
            heal_rounds: 32,
            full_invariants: true,
        }
    }

    /// [`ModelConfig::strict`] with two clients putting concurrently through two
    /// coordinators (`n1` and `n2`): the puts race, so some replicas get siblings.
    pub fn siblings() -> Self {
        Self {
            clients: vec![vec![ClientOp::put(0, 1, 0)], vec![ClientOp::put(0, 2, 1)]],
            ..Self::strict()
        }
    }

    /// 3 nodes, N=1 R=1 W=1, so two nodes are fallbacks for every key. A client gets
    /// through the last node of the key's preference list, whose read may time out and
    /// leave it suspecting the home; its put is then coordinated there and stored as a
    /// hint on the first fallback, whose handoff round delivers it.
    pub fn sloppy() -> Self {
        let mut config = Self {
            replication_factor: 1,
            read_quorum: 1,
            write_quorum: 1,
            rounds: Rounds {
                gossip: 0,
                anti_entropy: 0,
                handoff: 1,
            },
            ..Self::strict()
        };
        let preference = config.preference(0);
        let (holder, coordinator) = (preference[1], preference[2]);
        config.rounds_on = vec![holder];
        config.clients = vec![vec![
            ClientOp::get(0, coordinator),
            ClientOp::put(0, 1, coordinator),
        ]];
        config
    }

    /// [`ModelConfig::strict`]'s cluster, one put, a lossy network and a crash (the
    /// node restarts from its synced store with a new incarnation).
    pub fn crash() -> Self {
        Self {
            clients: vec![vec![ClientOp::put(0, 1, 0)]],
            lossy: true,
            crashes: 1,
            ..Self::strict()
        }
    }

    /// [`ModelConfig::siblings`] (two clients put concurrently through `n1` and `n2`)
    /// on a lossy network with a crash: siblings, lost acknowledgements, timeouts and a
    /// restart with a new incarnation, all interleaved. Small enough for `cargo test`.
    pub fn siblings_faults() -> Self {
        Self {
            lossy: true,
            crashes: 1,
            ..Self::siblings()
        }
    }

    /// The target, checked exhaustively in a few minutes (release, 2 threads,
    /// DFS): 3 nodes, 2 clients, 1 crash, a lossy network, and background work.
    ///
    /// The fault model is the whole one: any message may be lost or delayed, any node
    /// may crash at any moment and restart at any later moment, any request timer may
    /// fire at any moment. What is bounded is the work, chosen to keep what is
    /// interesting and drop what only multiplies states:
    /// - one operation per client, two concurrent puts through different coordinators,
    ///   so every run can create siblings. A third operation (a get after the put, for
    ///   read-your-writes) passes 8 million states in 4 minutes without finishing;
    ///   `faults-small` checks put-then-get under the same faults with one client.
    /// - one anti-entropy round (§4.7), on `n3` only: the node that coordinates nothing,
    ///   so its Merkle exchange (with `n1` or `n2`) interleaves with both puts, the
    ///   crash and the losses, rather than with its own requests. Each background firing
    ///   multiplies the space by the places it can interleave: one round on one node
    ///   costs ~20 times the states of none; a gossip round (the probe that clears
    ///   suspicion) on `n1` instead passes 9 million in 5 minutes without finishing.
    /// - no handoff: with N=3 on 3 nodes every node is a home, so no hint is ever
    ///   written (`sloppy` checks hinted handoff).
    pub fn target() -> Self {
        Self {
            rounds: Rounds {
                gossip: 0,
                anti_entropy: 1,
                handoff: 0,
            },
            rounds_on: vec![2],
            ..Self::siblings_faults()
        }
    }

    /// 3 nodes, 1 client (put, then get), 1 crash, lossy, no background rounds.
    pub fn faults_small() -> Self {
        Self {
            lossy: true,
            crashes: 1,
            ..Self::strict()
        }
    }

    /// The periodic firings node `index` may make.
    pub fn rounds_of(&self, index: usize) -> Rounds {
        if self.rounds_on.is_empty() || self.rounds_on.contains(&index) {
            self.rounds
        } else {
            Rounds::default()
        }
    }

    /// The first node index that is not a home replica of key `index`.
    pub fn fallback(&self, index: usize) -> usize {
        let homes = self.homes(index);
        (0..self.nodes)
            .find(|node| !homes.contains(&node_id(*node)))
            .unwrap_or(0)
    }

    /// Check the configuration can be modelled.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |message: String| Err(ConfigError(message));
        if self.nodes == 0 || self.nodes > NODES_MAX {
            return fail(format!("nodes must be within 1..={NODES_MAX}"));
        }
        if self.clients.len() > CLIENTS_MAX {
            return fail(format!("at most {CLIENTS_MAX} clients"));
        }
        if (self.partitions as usize) < self.nodes {
            return fail(format!(
                "partitions {} must be at least nodes {}",
                self.partitions, self.nodes
            ));
        }
        for script in &self.clients {
            if script.len() > SCRIPT_OPS_MAX {
                return fail(format!("at most {SCRIPT_OPS_MAX} operations per client"));
            }
            if let Some(op) = script
                .iter()
                .find(|op| op.key >= KEYS_MAX || op.coordinator >= self.nodes)
            {
                return fail(format!("operation {op:?} names a missing key or node"));
            }
        }
        if let Some(node) = self.rounds_on.iter().find(|node| **node >= self.nodes) {
            return fail(format!(
                "rounds_on names node index {node}, past {}",
                self.nodes
            ));
        }
        let config = self.node_config();
        config
            .validate(node_id(0))
            .map_err(|error| ConfigError(format!("bad node config: {error}")))?;
        Ok(())
    }

    /// Keys the scripts use, by index.
    pub fn keys(&self) -> usize {
        let used = self.clients.iter().flatten().map(|op| op.key + 1);
        used.max().unwrap_or(0)
    }

    /// The node configuration every node of the model starts with.
    pub fn node_config(&self) -> NodeConfig {
        let members: BTreeMap<NodeId, MemberInfo> = (0..self.nodes)
            .map(|index| (node_id(index), member("", 1)))
            .collect();
        NodeConfig {
            ring: RingConfig {
                partitions: self.partitions,
                replication_factor: self.replication_factor,
            },
            read_quorum: self.read_quorum,
            write_quorum: self.write_quorum,
            initial_members: members,
            ..NodeConfig::default()
        }
    }

    /// The ring every node bootstraps (membership never changes in the model).
    fn ring(&self) -> Ring {
        let members = (0..self.nodes)
            .map(|index| RingMember {
                node: node_id(index),
                weight: 1,
                zone: None,
            })
            .collect();
        Ring::new(self.node_config().ring, members).expect("a validated config has a ring")
    }

    /// The home replicas of key `index`.
    pub fn homes(&self, index: usize) -> Vec<NodeId> {
        let ring = self.ring();
        ring.home_replicas(ring.partition_of_key(&key(index)), self.replication_factor)
    }

    /// The preference list of key `index`, as node indices.
    pub fn preference(&self, index: usize) -> Vec<usize> {
        let ring = self.ring();
        let list = ring.preference_list(ring.partition_of_key(&key(index)));
        list.nodes().iter().map(|node| node_index(*node)).collect()
    }

    /// The stateright actor index of client `index`.
    pub fn client_actor(&self, index: usize) -> usize {
        self.nodes + index
    }
}

/// Parse a client script: operations separated by commas, each `put KEY VALUE NODE`,
/// `del KEY NODE` or `get KEY NODE`, keys `k0`.., nodes `n1`.., values 0..=255.
/// Example: `put k0 1 n1, get k0 n2`.
pub fn parse_script(text: &str) -> Result<Vec<ClientOp>, ConfigError> {
    text.split(',')
        .map(str::trim)
        .filter(|op| !op.is_empty())
        .map(parse_op)
        .collect()
}

fn parse_op(text: &str) -> Result<ClientOp, ConfigError> {
    let bad = || {
        ConfigError(format!(
            "bad operation {text:?}: want `put k0 1 n1`, `del k0 n1` or `get k0 n1`"
        ))
    };
    let words: Vec<&str> = text.split_whitespace().collect();
    let index = |word: &str, prefix: char| -> Result<usize, ConfigError> {
        word.strip_prefix(prefix)
            .and_then(|n| n.parse().ok())
            .ok_or_else(bad)
    };
    let (action, key, node) = match words.as_slice() {
        ["put", key, value, node] => {
            let value = value.parse().map_err(|_| bad())?;
            (Action::Put(value), key, node)
        }
        ["del", key, node] => (Action::Delete, key, node),
        ["get", key, node] => (Action::Get, key, node),
        ["incr", key, node] => (Action::Incr, key, node),
        _ => return Err(bad()),
    };
    let coordinator = index(node, 'n')?.checked_sub(1).ok_or_else(bad)?;
    Ok(ClientOp {
        action,
        key: index(key, 'k')?,
        coordinator,
    })
}

/// Parse a mutant name: `none`, `ack-before-local-write`, `delete-hint-before-ack`,
/// `read-quorum-ignores-r`, `stand-in-without-hint`.
pub fn parse_mutant(name: &str) -> Result<Mutant, ConfigError> {
    name.parse()
        .map_err(|e: UnknownMutant| ConfigError(e.to_string()))
}

/// Every mutant by its command-line name (the core's one table).
pub const MUTANTS: [(&str, Mutant); 6] = Mutant::ALL;

/// The `NodeId` of node index `index`: `n1`, `n2`, ...
pub fn node_id(index: usize) -> NodeId {
    NodeId(index as u32 + 1)
}

/// The node index of `node`.
pub fn node_index(node: NodeId) -> usize {
    node.0 as usize - 1
}

/// The bytes of key index `index`: `k0`, `k1`, ...
pub fn key(index: usize) -> Key {
    format!("k{index}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_validate() {
        for config in [
            ModelConfig::strict(),
            ModelConfig::sloppy(),
            ModelConfig::siblings_faults(),
            ModelConfig::target(),
            ModelConfig::faults_small(),
            ModelConfig::crash(),
            ModelConfig::siblings(),
            ModelConfig::counter(),
        ] {
            config.validate().unwrap();
        }
    }

    #[test]
    fn scripts_parse() {
        let script = parse_script("put k0 7 n1, get k1 n3,del k0 n2").unwrap();
        assert_eq!(script[0], ClientOp::put(0, 7, 0));
        assert_eq!(script[1], ClientOp::get(1, 2));
        assert_eq!(script[2].action, Action::Delete);
        assert!(parse_script("put k0 n1").is_err());
        assert!(parse_script("get k0 n0").is_err());
    }

    #[test]
    fn every_key_has_its_replication_factor_of_homes() {
        let config = ModelConfig::sloppy();
        for index in 0..KEYS_MAX {
            assert_eq!(config.homes(index).len(), config.replication_factor);
        }
    }
}
