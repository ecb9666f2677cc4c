//! The explorer: a simulated cluster, the scenario that built it, and what happened.
//!
//! Every change goes through [`Explorer::apply`], which checks the action, performs it
//! on `dynamo_core::sim::Sim`, records it in the scenario and logs what each simulator
//! event did: the message it delivered or the timer it fired (`Sim::last_event`), the
//! messages it sent (`Sim::in_flight`, mirrored by [`Wire`]), the client request they
//! serve ([`Requests`]) and the state changes no message states (`activity::changes`).
//! Time moves one event at a time so that each event can be observed; a replay of the
//! scenario performs the same events in the same order, so it reaches the same state.
//!
//! Invariants:
//! - the scenario holds exactly what was performed, in order, so that a replay
//!   performs the same events (an advance is recorded as the events it processed);
//! - one `apply` processes at most `EVENTS_PER_ACTION_MAX` events;
//! - the activity log holds at most `ACTIVITY_MAX` entries, newest last;
//! - `probes` holds a current probe of every node after each call (`None`: down).

use crate::activity::{self, Activity, Kind, Probe, Stamp};
use crate::requests::Requests;
use crate::scenario::{
    check_member, Action, Scenario, ScenarioError, Setup, EVENTS_PER_ACTION_MAX, NODES_MAX,
};
use crate::wire::{self, Changes, Flight, MessageView, Wire};
use dynamo_core::clock::VersionVector;
use dynamo_core::message::Timer;
use dynamo_core::sim::{Event, Sim, SimMember};
use dynamo_core::types::NodeId;
use dynamo_core::version::Context as VersionContext;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Most activities kept for the page's log.
pub const ACTIVITY_MAX: usize = 400;

/// A simulated cluster under the page's control.
#[derive(Debug)]
pub struct Explorer {
    sim: Sim,
    scenario: Scenario,
    wire: Wire,
    requests: Requests,
    probes: BTreeMap<NodeId, Option<Probe>>,
    activity: VecDeque<Activity>,
    /// Activities of the last action (what the page animates now), oldest first.
    fresh: Vec<Activity>,
    /// The last simulator event, described even when it did nothing visible.
    last: Option<Activity>,
    /// History entries still waiting for their reply.
    unanswered: BTreeSet<usize>,
    /// Links cut since the last heal (the simulator keeps its own, privately).
    cut: BTreeSet<(NodeId, NodeId)>,
    events: u64,
}

/// What one event was, in owned form (the simulator's own borrows it).
enum Happened {
    Delivered {
        from: NodeId,
        to: NodeId,
        message: MessageView,
        reached: bool,
        /// When it was sent, as the mirror saw it (none: not mirrored).
        sent_ms: Option<u64>,
    },
    Fired {
        node: NodeId,
        timer: Timer,
        reached: bool,
    },
}

impl Explorer {
    pub fn new(setup: Setup) -> Result<Self, ScenarioError> {
        setup.validate()?;
        let sim = Sim::with_members(setup.seed, setup.members()?, setup.node_config());
        let mut explorer = Self {
            sim,
            scenario: Scenario::new(setup),
            wire: Wire::default(),
            requests: Requests::default(),
            probes: BTreeMap::new(),
            activity: VecDeque::new(),
            fresh: Vec::new(),
            last: None,
            unanswered: BTreeSet::new(),
            cut: BTreeSet::new(),
            events: 0,
        };
        explorer.wire.sync(&explorer.sim);
        explorer.probe_all();
        Ok(explorer)
    }

    /// Rebuild the state a scenario describes, by applying its actions in order.
    pub fn replay(scenario: &Scenario) -> Result<Self, ScenarioError> {
        let mut explorer = Self::new(scenario.setup.clone())?;
        for (index, action) in scenario.actions.iter().enumerate() {
            explorer
                .replay_one(action)
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

    /// The last simulator event processed, whether or not it did anything visible.
    pub fn last_event(&self) -> Option<&Activity> {
        self.last.as_ref()
    }

    /// Messages in flight now, in delivery order.
    pub fn in_flight(&self) -> impl Iterator<Item = &Flight> + '_ {
        self.wire.flights()
    }

    pub fn requests(&self) -> &Requests {
        &self.requests
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
        self.scenario.check_room()?;
        self.fresh.clear();
        let (request, performed) = self.perform(&action)?;
        for action in performed {
            self.scenario.record(action)?;
        }
        Ok(request)
    }

    /// Replay a recorded action exactly as recorded (an old-style advance included).
    fn replay_one(&mut self, action: &Action) -> Result<(), ScenarioError> {
        self.scenario.check_room()?;
        self.fresh.clear();
        if let Action::Advance { ms } = action {
            self.advance(*ms);
            return self.scenario.record(action.clone());
        }
        self.apply(action.clone()).map(|_| ())
    }

    /// Perform `action`; returns the request it issued and the actions to record.
    fn perform(&mut self, action: &Action) -> Result<(Option<usize>, Vec<Action>), ScenarioError> {
        let request = match action {
            Action::Get { via, key } => {
                let via = self.reachable(*via)?;
                let key = non_empty(key)?;
                self.request(|sim| sim.get(via, key))
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
                self.request(|sim| sim.put(via, key, context, value))
            }
            Action::Join { via, node } => {
                let (via, node) = (self.reachable(*via)?, self.known(*node)?);
                self.request(|sim| sim.join(via, node))
            }
            Action::Leave { via, node } => {
                let (via, node) = (self.reachable(*via)?, self.known(*node)?);
                self.request(|sim| sim.leave(via, node))
            }
            Action::Step { events } => {
                let events = (*events).min(EVENTS_PER_ACTION_MAX);
                let done = self.run(events, u64::MAX);
                let performed = (done > 0).then_some(Action::Step { events: done });
                return Ok((None, performed.into_iter().collect()));
            }
            Action::Advance { ms } => return Ok((None, self.advance(*ms))),
            fault => {
                self.fault(fault)?;
                return Ok((None, vec![action.clone()]));
            }
        };
        Ok((Some(request), vec![action.clone()]))
    }

    /// Process the events due in the next `ms`; returns how to record it: the events
    /// processed as a `Step`, and the idle time once none was left (every node down).
    fn advance(&mut self, ms: u64) -> Vec<Action> {
        let until = self.sim.now_ms().saturating_add(ms);
        let done = self.run(EVENTS_PER_ACTION_MAX, until);
        let mut performed = Vec::new();
        if done > 0 {
            performed.push(Action::Step { events: done });
        }
        let idle = until.saturating_sub(self.sim.now_ms());
        if done < EVENTS_PER_ACTION_MAX && idle > 0 {
            // Nothing left to run: time still passes (no event can happen meanwhile).
            self.sim.run_for(idle);
            performed.push(Action::Advance { ms: idle });
        }
        performed
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
            Action::AddNode { weight, zone } => {
                self.add_node(SimMember::new(*weight, zone.as_deref()))?
            }
            _ => {
                return Err(ScenarioError::Parse {
                    reason: format!("{action:?} is not a fault"),
                })
            }
        };
        let item = self.stamp().item(Kind::Operator, node, detail);
        self.push(item);
        // A restarted or new node starts by sending gossip: those messages are new.
        self.wire.sync(&self.sim);
        self.probe_all();
        Ok(())
    }

    fn add_node(&mut self, shape: SimMember) -> Result<(NodeId, String), ScenarioError> {
        let ids = self.sim.node_ids();
        let next = ids.last().map_or(1, |last| last.0 + 1);
        if next > NODES_MAX {
            return Err(ScenarioError::Nodes {
                nodes: next,
                max: NODES_MAX,
            });
        }
        let node = NodeId(next);
        check_member(node, &shape)?;
        let seed = ids.iter().copied().find(|id| self.sim.is_up(*id));
        let seeds: Vec<NodeId> = seed.into_iter().collect();
        let zone = shape
            .zone
            .as_deref()
            .map_or(String::new(), |zone| format!(" in zone {zone}"));
        let detail = format!(
            "{node} (weight {}{zone}) started: it announces itself by gossip; join it to give it partitions",
            shape.weight
        );
        self.sim.add_member(node, seeds, shape);
        Ok((node, detail))
    }

    fn cut_link(&mut self, a: NodeId, b: NodeId) {
        self.cut.insert((a.min(b), a.max(b)));
    }

    fn stamp(&self) -> Stamp {
        Stamp {
            at_ms: self.sim.now_ms(),
            step: self.events,
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

    fn probe_all(&mut self) {
        self.probes = self
            .sim
            .node_ids()
            .into_iter()
            .map(|id| (id, Probe::of(&self.sim, id)))
            .collect();
    }

    /// Issue a client request: its coordinator runs at once, so the messages it sent
    /// serve this request.
    fn request(&mut self, issue: impl FnOnce(&mut Sim) -> usize) -> usize {
        let index = issue(&mut self.sim);
        self.unanswered.insert(index);
        let coordinator = self.sim.history()[index].coordinator;
        let changes = self.wire.sync(&self.sim);
        self.attribute(&changes, coordinator, index);
        let stamp = self.stamp();
        let mut found: Vec<Activity> = activity::client_request(stamp, &self.sim, index)
            .into_iter()
            .collect();
        found.extend(self.reprobe(coordinator, None));
        found.extend(self.replies());
        self.extend(found);
        index
    }

    /// Process up to `events_max` events, stopping once simulated time reaches
    /// `until_ms` (the event that crosses it is processed: `Sim` does not tell when
    /// the next timer is due). Returns the events processed.
    fn run(&mut self, events_max: u32, until_ms: u64) -> u32 {
        let mut done = 0;
        while done < events_max.min(EVENTS_PER_ACTION_MAX) {
            if self.sim.now_ms() >= until_ms || !self.sim.step() {
                break;
            }
            done += 1;
            self.events += 1;
            self.observe();
        }
        done
    }

    /// Record what the event just processed did.
    fn observe(&mut self) {
        let mut changes = self.wire.sync(&self.sim);
        let Some(happened) = self.happened(&mut changes.gone) else {
            return;
        };
        let stamp = self.stamp();
        let (item, ran, request) = match happened {
            Happened::Delivered {
                from,
                to,
                message,
                reached,
                sent_ms,
            } => {
                let request = message.request;
                if let (true, Some(index)) = (reached && message.kind.is_answer(), request) {
                    let (ok, in_time) = (
                        message.kind != wire::MessageKind::Refused,
                        self.unanswered.contains(&index),
                    );
                    self.requests.answer(index, from, ok, in_time);
                }
                let mut item = activity::delivery(stamp, from, to, message, reached);
                item.sent_ms = sent_ms;
                (item, reached.then_some(to), request)
            }
            Happened::Fired {
                node,
                timer,
                reached,
            } => {
                let request = match timer {
                    Timer::Request(id) => self.requests.by_peer(node, id),
                    _ => None,
                };
                let item = activity::timer(stamp, node, timer, request, reached);
                (item, reached.then_some(node), request)
            }
        };
        if let (Some(node), Some(index)) = (ran, request) {
            self.attribute(&changes, node, index);
        }
        self.record_event(item, ran, &changes);
    }

    /// The last event, with the delivered message as the mirror knew it (sent when,
    /// serving which request).
    fn happened(&self, gone: &mut Vec<Flight>) -> Option<Happened> {
        let (event, reached) = self.sim.last_event()?;
        Some(match event {
            Event::Deliver { to, from, message } => {
                let kind = wire::MessageKind::of(message);
                let mirrored = gone
                    .iter()
                    .position(|f| f.from == from.0 && f.to == to.0 && f.message.kind == kind);
                let (message, sent_ms) = match mirrored {
                    Some(at) => {
                        let flight = gone.swap_remove(at);
                        (flight.message, Some(flight.sent_ms))
                    }
                    None => (wire::describe(message), None),
                };
                Happened::Delivered {
                    from: *from,
                    to: *to,
                    message,
                    reached,
                    sent_ms,
                }
            }
            Event::Fire { node, timer, .. } => Happened::Fired {
                node: *node,
                timer: *timer,
                reached,
            },
        })
    }

    /// Log `item` and the changes of the node that ran, unless it did nothing.
    fn record_event(&mut self, mut item: Activity, ran: Option<NodeId>, changes: &Changes) {
        let pulses = match ran {
            Some(node) => self.reprobe(node, Some(&mut item)),
            None => Vec::new(),
        };
        let sent = self.sent_summary(changes);
        item.detail = match (item.detail.is_empty(), sent.is_empty()) {
            (_, true) => item.detail,
            (true, false) => sent.clone(),
            (false, false) => format!("{} → {sent}", item.detail),
        };
        self.last = Some(item.clone());
        // Timers that found nothing to do, or were no longer armed, would only bury
        // the messages in the log; `last` still tells the page what the step was.
        let idle = sent.is_empty() && pulses.is_empty();
        if (ran.is_none() && item.kind != Kind::Lost) || (item.kind == Kind::Timer && idle) {
            return;
        }
        let mut found = vec![item];
        found.extend(pulses);
        found.extend(self.replies());
        self.extend(found);
    }

    /// Re-probe `node` after it ran; the state changes no message states, as pulses.
    /// A delivered message's `item` gets what its receiver's counters show it did.
    fn reprobe(&mut self, node: NodeId, item: Option<&mut Activity>) -> Vec<Activity> {
        let after = Probe::of(&self.sim, node);
        let before = self.probes.insert(node, after.clone()).flatten();
        let (Some(before), Some(after)) = (before, after) else {
            return Vec::new();
        };
        if let (Some(item), Some(effect)) = (item, activity::effect(&before.stats, &after.stats)) {
            item.detail = if item.detail.is_empty() {
                effect
            } else {
                format!("{}: {effect}", item.detail)
            };
        }
        activity::changes(self.stamp(), node, &before, &after)
    }

    /// "sends gossip to n3, write to n2" for the messages an event sent.
    fn sent_summary(&self, changes: &Changes) -> String {
        let sent: Vec<String> = changes
            .sent
            .iter()
            .filter_map(|at| self.wire.flight(*at))
            .map(|f| format!("{} to n{}", f.message.kind.name(), f.to))
            .collect();
        if sent.is_empty() {
            String::new()
        } else {
            format!("sends {}", sent.join(", "))
        }
    }

    /// The messages `node` just sent serve client request `index`.
    fn attribute(&mut self, changes: &Changes, node: NodeId, index: usize) {
        for at in &changes.sent {
            if let Some(flight) = self.wire.flight_mut(*at) {
                if flight.from == node.0 {
                    self.requests.attribute(index, flight);
                }
            }
        }
    }

    /// Replies that arrived since the last look, as activities.
    fn replies(&mut self) -> Vec<Activity> {
        let answered: Vec<usize> = self
            .unanswered
            .iter()
            .copied()
            .filter(|i| self.sim.reply(*i).is_some())
            .collect();
        let stamp = self.stamp();
        let mut found = Vec::new();
        for index in answered {
            self.unanswered.remove(&index);
            found.extend(activity::reply(stamp, &self.sim, index));
        }
        found
    }

    fn extend(&mut self, items: Vec<Activity>) {
        for item in items {
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
