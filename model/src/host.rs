//! A node's host (the running node, or the durable store of a crashed one) and the
//! cell that keeps its fingerprint.
//!
//! stateright fingerprints the whole system state after every action, and an action
//! changes one actor. Hashing a `Node` walks its Merkle trees, membership and config:
//! without a cache, every node is hashed again for every successor state, a third of
//! the checker's time. [`HostCell`] hashes its host once per change and feeds only
//! that fingerprint to stateright's hasher; it can change only through
//! [`HostCell::set`] and [`HostCell::update`], which refresh it.

use dynamo_core::node::{Node, NodeStats};
use dynamo_core::store::{MemoryStore, Store};
use dynamo_core::version::Siblings;
use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};

/// A node that runs, or the durable store of one that crashed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Host {
    Up(Box<Node<MemoryStore>>),
    Down(MemoryStore),
}

/// A summary, not the whole node: the Explorer and counterexamples show states with
/// `Debug`, and a node's Merkle trees alone are hundreds of lines.
impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (state, store) = match self {
            Host::Up(node) => ("up", node.store()),
            Host::Down(store) => ("down", store),
        };
        let replicas: Vec<String> = store
            .replicas()
            .map(|(partition, key, siblings)| {
                format!(
                    "{partition} {}: {}",
                    String::from_utf8_lossy(key),
                    show(siblings)
                )
            })
            .collect();
        let hints: Vec<String> = store
            .hints(None, usize::MAX)
            .unwrap_or_default()
            .iter()
            .map(|(hint, siblings)| {
                let key = String::from_utf8_lossy(&hint.key);
                format!("for {} {key}: {}", hint.target, show(siblings))
            })
            .collect();
        let mut out = f.debug_struct(state);
        if let Host::Up(node) = self {
            out.field("actor", &format_args!("{}", node.actor()))
                .field("in_flight", &node.in_flight())
                .field("suspected", node.suspected())
                .field("stats", &format_args!("{}", counters(node.stats())));
        }
        out.field("replicas", &replicas)
            .field("hints", &hints)
            .finish()
    }
}

/// The node's non-zero counters that tell a story, as `name=value`.
fn counters(stats: &NodeStats) -> String {
    let named = [
        ("gets", stats.gets),
        ("puts", stats.puts),
        ("forwarded", stats.forwarded),
        ("quorum_failures", stats.quorum_failures),
        ("timeouts", stats.timeouts),
        ("read_repairs", stats.read_repairs),
        ("hints_stored", stats.hints_stored),
        ("hints_delivered", stats.hints_delivered),
        (
            "anti_entropy_keys_repaired",
            stats.anti_entropy_keys_repaired,
        ),
        ("ignored_messages", stats.ignored_messages),
        ("actor_renewals", stats.actor_renewals),
    ];
    let shown: Vec<String> = named
        .iter()
        .filter(|(_, value)| *value > 0)
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    shown.join(" ")
}

/// A sibling set as `{dot: value, ...} clock`.
fn show(siblings: &Siblings) -> String {
    let parts: Vec<String> = siblings
        .iter()
        .map(|sibling| match sibling.content.value() {
            Some(value) => format!("{}: {value:?}", sibling.dot),
            None => format!("{}: deleted", sibling.dot),
        })
        .collect();
    format!("{{{}}} clock {}", parts.join(", "), siblings.clock())
}

/// A [`Host`] and its fingerprint (see the module doc). Equal cells have equal hosts,
/// so equal fingerprints: `Hash` stays consistent with `Eq`.
#[derive(Clone, PartialEq, Eq)]
pub struct HostCell {
    host: Host,
    fingerprint: u64,
}

impl HostCell {
    pub fn new(host: Host) -> Self {
        let fingerprint = fingerprint(&host);
        Self { host, fingerprint }
    }

    pub fn get(&self) -> &Host {
        &self.host
    }

    pub fn set(&mut self, host: Host) {
        *self = Self::new(host);
    }

    /// Change the host in place, then refresh the fingerprint.
    pub fn update<R>(&mut self, change: impl FnOnce(&mut Host) -> R) -> R {
        let result = change(&mut self.host);
        self.fingerprint = fingerprint(&self.host);
        result
    }
}

impl Hash for HostCell {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Tests run with debug assertions: they prove the cache is never stale.
        debug_assert_eq!(
            self.fingerprint,
            fingerprint(&self.host),
            "stale fingerprint"
        );
        self.fingerprint.hash(state);
    }
}

impl fmt::Debug for HostCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.host.fmt(f)
    }
}

/// `DefaultHasher::new` has fixed keys: the same host has the same fingerprint in
/// every run and thread, as stateright's own fingerprints do.
fn fingerprint(host: &Host) -> u64 {
    let mut hasher = DefaultHasher::new();
    host.hash(&mut hasher);
    hasher.finish()
}
