//! The explorer: a simulated cluster, the scenario that built it, and what happened.
//!
//! Every change goes through [`Explorer::apply`], which checks the action, performs it
//! on `dynamo_core::sim::Sim`, records it in the scenario and infers the activity of
//! every simulator event it caused (see `activity.rs`). Time moves one event at a time
//! so that each event's effects can be observed; a replay of the scenario performs the
//! same events in the same order, so it reaches the same state.
//!
//! Invariants:
//! - the scenario holds exactly the actions applied successfully, in order;
//! - one `apply` processes at most `EVENTS_PER_ACTION_MAX` events (bounded work per
//!   call, whatever the page asks);
//! - the activity log holds at most `ACTIVITY_MAX` entries, newest last.

use crate::activity::{self, Activity, Context, Kind, Probe};
use crate::scenario::{Action, Scenario, ScenarioError, Setup, NODES_MAX};
use dynamo_core::clock::VersionVector;
use dynamo_core::sim::{Op, Sim};
use dynamo_core::types::{Key, NodeId};
use dynamo_core::version::Context as VersionContext;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Most simulator events one action may process.
pub const EVENTS_PER_ACTION_MAX: usize = 200_000;
/// Most activities kept for the page's log.
pub const ACTIVITY_MAX: usize = 400;
/// Most recently put keys whose version vectors are probed after every event.
pub const WATCHED_MAX: usize = 32;

/// A simulated cluster under the page's control.
#[derive(Debug)]
pub struct Explorer {
    sim: Sim,
    scenario: Scenario,
    probes: BTreeMap<NodeId, Probe>,
    activity: VecDeque<Activity>,
    /// Activities of the last action (what the page animates now), oldest first.
    fresh: Vec<Activity>,
    /// Forwarded puts: history index -> the home that coordinated them.
    acting: BTreeMap<usize, NodeId>,
    /// History entries still waiting for their reply.
    unanswered: BTreeSet<usize>,
    /// Links cut since the last heal (the simulator keeps its own, privately).
    cut: BTreeSet<(NodeId, NodeId)>,
    events: u64,
}

impl Explorer {
    pub fn new(setup: Setup) -> Result<Self, ScenarioError> {
        setup.validate()?;
        let sim = Sim::new(setup.seed, setup.nodes, setup.node_config());
        let none = BTreeSet::new();
        let probes = sim
            .node_ids()
            .iter()
            .map(|id| (*id, Probe::of(&sim, *id, &none)))
            .collect();
        Ok(Self {
            sim,
            scenario: Scenario::new(setup),
            probes,
            activity: VecDeque::new(),
            fresh: Vec::new(),
            acting: BTreeMap::new(),
            unanswered: BTreeSet::new(),
            cut: BTreeSet::new(),
            events: 0,
        })
    }

    /// Rebuild the state a scenario describes, by applying its actions in order.
    pub fn replay(scenario: &Scenario) -> Result<Self, ScenarioError> {
        let mut explorer = Self::new(scenario.setup.clone())?;
        for (index, action) in scenario.actions.iter().enumerate() {
            explorer
                .apply(action.clone())
                .map_err(|error| ScenarioError::Parse {
                    reason: format!("action {index}: {error}"),
                })?;
        }
        Ok(explorer)
    }

    pub fn sim(&self) -> &Sim {
        &self.sim
    }

    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    pub fn activity(&self) -> impl Iterator<Item = &Activity> + '_ {
        self.activity.iter()
    }

    pub fn fresh(&self) -> &[Activity] {
        &self.fresh
    }

    pub fn cut(&self) -> &BTreeSet<(NodeId, NodeId)> {
        &self.cut
    }

    /// Simulator events processed so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Check and perform `action`; on success it joins the scenario. Returns the
    /// history index of a client or operator request.
    pub fn apply(&mut self, action: Action) -> Result<Option<usize>, ScenarioError> {
        self.fresh.clear();
        let request = self.perform(&action)?;
        self.scenario.record(action)?;
        Ok(request)
    }

    fn perform(&mut self, action: &Action) -> Result<Option<usize>, ScenarioError> {
        match action {
            Action::Get { via, key } => {
                let via = self.reachable(*via)?;
                let key = non_empty(key)?;
                Ok(Some(self.request(|sim| sim.get(via, key))))
            }
            Action::Put {
                via,
                key,
                value,
                context,
            } => {
                let via = self.reachable(*via)?;
                let key = non_empty(key)?;
                let context = parse_context(context.as_deref())?;
                let value = value.as_ref().map(|v| v.as_bytes().to_vec());
                Ok(Some(self.request(|sim| sim.put(via, key, context, value))))
            }
            Action::Join { via, node } => {
                let (via, node) = (self.reachable(*via)?, self.known(*node)?);
                Ok(Some(self.request(|sim| sim.join(via, node))))
            }
            Action::Leave { via, node } => {
                let (via, node) = (self.reachable(*via)?, self.known(*node)?);
                Ok(Some(self.request(|sim| sim.leave(via, node))))
            }
            Action::Step { events } => {
                self.run(*events as usize, u64::MAX);
                Ok(None)
            }
            Action::Advance { ms } => {
                let until = self.sim.now_ms().saturating_add(*ms);
                self.run(EVENTS_PER_ACTION_MAX, until);
                Ok(None)
            }
            fault => self.fault(fault).map(|()| None),
        }
    }

    /// Crashes, restarts, cuts, heals and new nodes.
    fn fault(&mut self, action: &Action) -> Result<(), ScenarioError> {
        let (node, detail) = match action {
            Action::Crash { node } => {
                let node = self.known(*node)?;
                self.sim.crash(node);
                (node, format!("{node} crashed: volatile state lost"))
            }
            Action::Restart { node } => {
                let node = self.known(*node)?;
                self.sim.restart(node);
                (node, format!("{node} restarted from its store"))
            }
            Action::Isolate { node } => {
                let node = self.known(*node)?;
                self.sim.isolate(node);
                for other in self.sim.node_ids().into_iter().filter(|o| *o != node) {
                    self.cut_link(node, other);
                }
                (node, format!("{node} isolated"))
            }
            Action::Partition { a, b } => {
                let (a, b) = (self.known(*a)?, self.known(*b)?);
                self.sim.partition(a, b);
                self.cut_link(a, b);
                (a, format!("link {a} - {b} cut"))
            }
            Action::Heal => {
                self.sim.heal();
                self.cut.clear();
                (NodeId(0), "every link healed".to_string())
            }
            Action::AddNode => self.add_node()?,
            _ => {
                return Err(ScenarioError::Parse {
                    reason: format!("{action:?} is not a fault"),
                })
            }
        };
        let item = self.item(Kind::Operator, node.0, detail);
        self.push(item);
        self.observe(None);
        Ok(())
    }

    fn add_node(&mut self) -> Result<(NodeId, String), ScenarioError> {
        let ids = self.sim.node_ids();
        let next = ids.last().map_or(1, |last| last.0 + 1);
        if next > NODES_MAX {
            return Err(ScenarioError::Nodes {
                nodes: next,
                max: NODES_MAX,
            });
        }
        let seed = ids.iter().copied().find(|id| self.sim.is_up(*id));
        let seeds: Vec<NodeId> = seed.into_iter().collect();
        let node = NodeId(next);
        self.sim.add_node(node, seeds);
        let detail =
            format!("{node} started: it announces itself by gossip; join it to give it partitions");
        Ok((node, detail))
    }

    fn cut_link(&mut self, a: NodeId, b: NodeId) {
        self.cut.insert((a.min(b), a.max(b)));
    }

    fn item(&self, kind: Kind, node: u32, detail: String) -> Activity {
        Activity {
            at_ms: self.sim.now_ms(),
            step: self.events,
            kind,
            node,
            from: None,
            to: None,
            partition: None,
            detail,
        }
    }

    fn known(&self, node: u32) -> Result<NodeId, ScenarioError> {
        let node = NodeId(node);
        if self.sim.node_ids().contains(&node) {
            Ok(node)
        } else {
            Err(ScenarioError::UnknownNode { node })
        }
    }

    /// A node a client can send a request to.
    fn reachable(&self, node: u32) -> Result<NodeId, ScenarioError> {
        let node = self.known(node)?;
        if self.sim.is_up(node) {
            Ok(node)
        } else {
            Err(ScenarioError::NodeDown { node })
        }
    }

    fn request(&mut self, issue: impl FnOnce(&mut Sim) -> usize) -> usize {
        let index = issue(&mut self.sim);
        self.unanswered.insert(index);
        self.observe(Some(index));
        index
    }

    /// Process up to `events_max` events, stopping once simulated time reaches
    /// `until_ms` (the event that crosses it is processed: `Sim` does not tell when
    /// the next event is due).
    fn run(&mut self, events_max: usize, until_ms: u64) {
        for _ in 0..events_max.min(EVENTS_PER_ACTION_MAX) {
            if self.sim.now_ms() >= until_ms || !self.sim.step() {
                break;
            }
            self.events += 1;
            self.observe(None);
        }
        if until_ms != u64::MAX && self.sim.now_ms() < until_ms {
            // Nothing left to run (every node down): time still passes.
            self.sim.run_for(until_ms - self.sim.now_ms());
        }
    }

    /// Probe every node and record what changed since the last probe.
    fn observe(&mut self, invoked: Option<usize>) {
        let watched = self.watched();
        let after: BTreeMap<NodeId, Probe> = self
            .sim
            .node_ids()
            .iter()
            .map(|id| (*id, Probe::of(&self.sim, *id, &watched)))
            .collect();
        self.attribute_forwards(&after, invoked);
        let mut found = Vec::new();
        let cx = Context {
            sim: &self.sim,
            now_ms: self.sim.now_ms(),
            step: self.events,
            after: &after,
            recent_ms: self.recent_ms(),
            acting: &self.acting,
            partitions: self.scenario.setup.partitions,
        };
        if let Some(index) = invoked {
            found.extend(activity::client_request(&cx, index));
        }
        let absent = Probe::default();
        for (id, probe) in &after {
            let before = self.probes.get(id).unwrap_or(&absent);
            found.extend(activity::classify(*id, before, probe, &cx));
        }
        let answered: Vec<usize> = self
            .unanswered
            .iter()
            .copied()
            .filter(|i| self.sim.reply(*i).is_some())
            .collect();
        for index in answered {
            self.unanswered.remove(&index);
            found.extend(activity::reply(&cx, index));
        }
        self.probes = after;
        for item in found {
            self.push(item);
        }
    }

    /// How far back a put still explains a replica's change: a request's lifetime.
    fn recent_ms(&self) -> u64 {
        self.scenario.setup.node_config().request_timeout_ms * 2
    }

    /// Keys of recent puts, at most `WATCHED_MAX`: their version vectors are probed.
    fn watched(&self) -> BTreeSet<Key> {
        let horizon = self.sim.now_ms().saturating_sub(self.recent_ms());
        let recent = self.sim.history().iter().rev();
        let recent = recent.take_while(|record| record.invoked_ms >= horizon);
        let keys = recent.filter_map(|record| match &record.op {
            Op::Put { key, .. } => Some(key.clone()),
            _ => None,
        });
        keys.take(WATCHED_MAX).collect()
    }

    /// A home whose put count rose without a client request took a forwarded put:
    /// remember it as the put's coordinator, and draw the forward.
    fn attribute_forwards(&mut self, after: &BTreeMap<NodeId, Probe>, invoked: Option<usize>) {
        for (id, probe) in after {
            let before = self.probes.get(id).map_or(0, |p| p.stats.puts);
            let history = self.sim.history();
            let by_client = invoked.is_some_and(|i| history[i].coordinator == *id);
            if probe.stats.puts <= before || by_client {
                continue;
            }
            let forwarded = (0..history.len()).rev().find(|i| {
                let record = &history[*i];
                let is_put = matches!(record.op, Op::Put { .. });
                is_put && record.coordinator != *id && !self.acting.contains_key(i)
            });
            let Some(index) = forwarded else { continue };
            let from = history[index].coordinator;
            self.acting.insert(index, *id);
            let detail = format!("coordinates put #{index} for {from}");
            let item = Activity {
                from: Some(from.0),
                to: Some(id.0),
                ..self.item(Kind::Forward, id.0, detail)
            };
            self.push(item);
        }
    }

    fn push(&mut self, item: Activity) {
        if self.activity.len() == ACTIVITY_MAX {
            self.activity.pop_front();
        }
        self.activity.push_back(item.clone());
        if self.fresh.len() == ACTIVITY_MAX {
            self.fresh.remove(0);
        }
        self.fresh.push(item);
    }
}

fn non_empty(key: &str) -> Result<&[u8], ScenarioError> {
    if key.is_empty() {
        return Err(ScenarioError::EmptyKey);
    }
    Ok(key.as_bytes())
}

/// A get's context text, or the empty context for a blind write.
fn parse_context(text: Option<&str>) -> Result<VersionVector, ScenarioError> {
    match text.filter(|t| !t.is_empty()) {
        None => Ok(VersionVector::new()),
        Some(text) => VersionContext::from_text(text)
            .map(VersionContext::into_clock)
            .map_err(|error| ScenarioError::Context {
                reason: error.to_string(),
            }),
    }
}
