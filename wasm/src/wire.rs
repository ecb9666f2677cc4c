//! Messages on the wire, as the page draws them: what each peer message is (its kind,
//! key, partition, the home a hinted message stands in for), who sent it to whom, when
//! it left and when it arrives.
//!
//! `Sim::in_flight` lists the messages sent and not yet delivered, in delivery order,
//! but gives them no identity and no send time. [`Wire`] keeps a mirror of that list
//! and re-reads it after every change to the simulation: a message in the new list and
//! not in the mirror was sent just now; one in the mirror and not in the new list was
//! delivered (or dropped on arrival at a crashed node). Messages are matched by a
//! fingerprint (due time, ends, kind, request id or partition); two messages with the
//! same fingerprint look the same on the page, so which one is which does not matter.
//!
//! Invariants:
//! - after `sync`, the mirror holds exactly the simulator's in-flight messages, in
//!   delivery order, each once;
//! - a mirrored message keeps the send time and the request it was first given;
//! - `sent_ms <= deliver_ms` for every mirrored message.

use dynamo_core::message::{Command, Message, Reply};
use dynamo_core::sim::{InFlight, Sim};
use dynamo_core::types::NodeId;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};

/// Every peer message of `dynamo_core::message::Message`, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    Read,
    ReadOk,
    Write,
    WriteOk,
    Refused,
    Repair,
    Forward,
    Forwarded,
    Handoff,
    HandoffOk,
    TreeLevel,
    TreeSync,
    TreePull,
    Gossip,
    Ping,
    Pong,
    Transfer,
    TransferOk,
}

/// What a message is part of; the page colours arrows by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    /// A get or put on its way: reads, writes, their answers, forwards, read repair.
    Request,
    /// Sloppy quorum (§4.6): a write or read for a down home, and its handoff.
    Hinted,
    /// Anti-entropy (§4.7): Merkle tree walks and the entries that differ.
    AntiEntropy,
    /// Membership gossip (§4.8).
    Gossip,
    /// Failure detection: pings of suspected peers.
    Probe,
    /// Partition transfer after a ring change (§4.9).
    Transfer,
}

impl MessageKind {
    pub fn of(message: &Message) -> Self {
        match message {
            Message::Read { .. } => Self::Read,
            Message::ReadOk { .. } => Self::ReadOk,
            Message::Write { .. } => Self::Write,
            Message::WriteOk { .. } => Self::WriteOk,
            Message::Refused { .. } => Self::Refused,
            Message::Repair { .. } => Self::Repair,
            Message::Forward { .. } => Self::Forward,
            Message::Forwarded { .. } => Self::Forwarded,
            Message::Handoff { .. } => Self::Handoff,
            Message::HandoffOk { .. } => Self::HandoffOk,
            Message::TreeLevel { .. } => Self::TreeLevel,
            Message::TreeSync { .. } => Self::TreeSync,
            Message::TreePull { .. } => Self::TreePull,
            Message::Gossip { .. } => Self::Gossip,
            Message::Ping { .. } => Self::Ping,
            Message::Pong { .. } => Self::Pong,
            Message::Transfer { .. } => Self::Transfer,
            Message::TransferOk { .. } => Self::TransferOk,
        }
    }

    /// The kind in words, as the page prints it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::ReadOk => "read ok",
            Self::Write => "write",
            Self::WriteOk => "write ok",
            Self::Refused => "refused",
            Self::Repair => "repair",
            Self::Forward => "forward",
            Self::Forwarded => "forwarded",
            Self::Handoff => "handoff",
            Self::HandoffOk => "handoff ok",
            Self::TreeLevel => "tree level",
            Self::TreeSync => "tree sync",
            Self::TreePull => "tree pull",
            Self::Gossip => "gossip",
            Self::Ping => "ping",
            Self::Pong => "pong",
            Self::Transfer => "transfer",
            Self::TransferOk => "transfer ok",
        }
    }

    /// Messages that carry a client request along (and inherit it from their cause).
    pub fn serves_clients(self) -> bool {
        matches!(
            self,
            Self::Read
                | Self::ReadOk
                | Self::Write
                | Self::WriteOk
                | Self::Refused
                | Self::Repair
                | Self::Forward
                | Self::Forwarded
        )
    }

    /// A coordinator's answer from a replica: counts (or fails) towards a quorum.
    pub fn is_answer(self) -> bool {
        matches!(self, Self::ReadOk | Self::WriteOk | Self::Refused)
    }

    /// Requests whose id the sender minted (their answers echo it).
    pub fn mints_request(self) -> bool {
        matches!(self, Self::Read | Self::Write | Self::Forward)
    }
}

/// One message, as the page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MessageView {
    pub kind: MessageKind,
    pub group: Group,
    pub key: Option<String>,
    pub partition: Option<u32>,
    /// The home node a hinted read or write stands in for, or a handoff returns to.
    pub hint: Option<u32>,
    /// The client request (history index) this message serves, when it serves one.
    pub request: Option<usize>,
    /// The peer request id, minted by the requester and echoed by the answer.
    pub peer_request: Option<u64>,
    /// A short description of the payload, e.g. a write's version vector.
    pub detail: String,
}

impl MessageView {
    fn new(kind: MessageKind, group: Group) -> Self {
        Self {
            kind,
            group,
            key: None,
            partition: None,
            hint: None,
            request: None,
            peer_request: None,
            detail: String::new(),
        }
    }

    fn key(mut self, key: &[u8], partition: Option<u32>) -> Self {
        self.key = Some(String::from_utf8_lossy(key).into_owned());
        self.partition = partition;
        self
    }

    fn peer(mut self, request: u64) -> Self {
        self.peer_request = Some(request);
        self
    }

    fn detail(mut self, detail: String) -> Self {
        self.detail = detail;
        self
    }
}

/// Name and summarise `message` (its payload is never copied whole).
pub fn describe(message: &Message) -> MessageView {
    describe_request(message).unwrap_or_else(|| describe_background(message))
}

/// Messages of gets and puts; `None` for the others.
fn describe_request(message: &Message) -> Option<MessageView> {
    let kind = MessageKind::of(message);
    let plain = MessageView::new(kind, Group::Request);
    let view = match message {
        Message::Read {
            request,
            partition,
            key,
            hint,
        } => hinted(plain.key(key, Some(partition.0)).peer(*request), *hint),
        Message::ReadOk { request, siblings } => {
            let found = siblings.as_ref().map_or("not found".to_string(), |s| {
                format!("{} sibling(s) {}", s.len(), s.clock())
            });
            plain.peer(*request).detail(found)
        }
        Message::Write {
            request,
            partition,
            key,
            siblings,
            hint,
        } => {
            let plain = plain.key(key, Some(partition.0)).peer(*request);
            hinted(plain.detail(format!("version {}", siblings.clock())), *hint)
        }
        Message::WriteOk { request } => plain.peer(*request),
        Message::Refused { request, reason } => plain.peer(*request).detail(reason.to_string()),
        Message::Repair {
            partition,
            key,
            siblings,
        } => plain
            .key(key, Some(partition.0))
            .detail(format!("version {}", siblings.clock())),
        Message::Forward { request, command } => forward(plain.peer(*request), command),
        Message::Forwarded { request, reply } => plain.peer(*request).detail(outcome(reply)),
        _ => return None,
    };
    Some(view)
}

/// A hinted message belongs to the sloppy quorum's picture; its detail names the home.
fn hinted(view: MessageView, hint: Option<NodeId>) -> MessageView {
    match hint {
        Some(home) => MessageView {
            group: Group::Hinted,
            hint: Some(home.0),
            detail: [format!("for {home}"), view.detail.clone()]
                .into_iter()
                .filter(|part| !part.is_empty())
                .collect::<Vec<_>>()
                .join(", "),
            ..view
        },
        None => view,
    }
}

fn forward(view: MessageView, command: &Command) -> MessageView {
    match command {
        Command::Put { key, .. } => view.key(key, None).detail("put".into()),
        Command::Get { key, .. } => view.key(key, None).detail("get".into()),
        Command::Set { key, .. } => view.key(key, None).detail("set".into()),
        Command::Delete { key, .. } => view.key(key, None).detail("delete".into()),
        Command::Join { node } => view.detail(format!("join {node}")),
        Command::Leave { node } => view.detail(format!("leave {node}")),
        Command::Remove { node } => view.detail(format!("remove {node}")),
    }
}

fn outcome(reply: &Reply) -> String {
    match reply {
        Reply::Got { siblings } => format!("got {} sibling(s)", siblings.len()),
        Reply::Put { dot, .. } => format!("put stored as {dot}"),
        Reply::Deleted { existed } => format!("deleted (existed: {existed})"),
        Reply::Changed { epoch } => format!("ring epoch {epoch}"),
        Reply::Failed(failure) => format!("failed: {failure}"),
    }
}

/// Hints handed off, anti-entropy, gossip, pings and transfers.
fn describe_background(message: &Message) -> MessageView {
    let new = |group| MessageView::new(MessageKind::of(message), group);
    match message {
        Message::Handoff { request, hint, .. } => MessageView {
            hint: Some(hint.target.0),
            ..new(Group::Hinted)
                .key(&hint.key, Some(hint.partition.0))
                .peer(*request)
                .detail(format!("back to {}", hint.target))
        },
        Message::HandoffOk { request } => new(Group::Hinted).peer(*request),
        Message::TreeLevel { partition, step } => MessageView {
            partition: Some(partition.0),
            ..new(Group::AntiEntropy).detail(format!(
                "level {} node {}: {} hashes",
                step.level,
                step.index,
                step.hashes.len()
            ))
        },
        Message::TreeSync {
            partition,
            leaves,
            entries,
            reply,
            next,
        } => MessageView {
            partition: Some(partition.0),
            ..new(Group::AntiEntropy).detail(format!(
                "{} keys of {} differing leaves{}{}",
                entries.len(),
                leaves.len(),
                if *reply { ", send yours back" } else { "" },
                if next.is_some() { ", more to pull" } else { "" }
            ))
        },
        Message::TreePull {
            partition, leaves, ..
        } => MessageView {
            partition: Some(partition.0),
            ..new(Group::AntiEntropy)
                .detail(format!("next page of {} differing leaves", leaves.len()))
        },
        Message::Gossip { membership, reply } => new(Group::Gossip).detail(format!(
            "ring epoch {}, {} members{}",
            membership.epoch(),
            membership.members().len(),
            if *reply { ", answer" } else { "" }
        )),
        Message::Ping { request } | Message::Pong { request } => new(Group::Probe).peer(*request),
        _ => describe_transfer(message, new(Group::Transfer)),
    }
}

fn describe_transfer(message: &Message, view: MessageView) -> MessageView {
    let last = |last: bool| if last { ", last chunk" } else { "" };
    match message {
        Message::Transfer {
            request,
            epoch,
            partition,
            entries,
            last: is_last,
        } => MessageView {
            partition: Some(partition.0),
            ..view.peer(*request).detail(format!(
                "{} keys for epoch {epoch}{}",
                entries.len(),
                last(*is_last)
            ))
        },
        Message::TransferOk {
            request,
            epoch,
            partition,
            last: is_last,
        } => MessageView {
            partition: Some(partition.0),
            ..view
                .peer(*request)
                .detail(format!("epoch {epoch}{}", last(*is_last)))
        },
        _ => view,
    }
}

/// A message on the wire, as drawn.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Flight {
    pub from: u32,
    pub to: u32,
    pub sent_ms: u64,
    pub deliver_ms: u64,
    pub message: MessageView,
}

/// Enough of a message to tell it from the others in flight, cheaply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Fingerprint {
    deliver_ms: u64,
    from: NodeId,
    to: NodeId,
    kind: MessageKind,
    ident: u64,
}

impl Fingerprint {
    fn of(flight: &InFlight<'_>) -> Self {
        let ident = match flight.message {
            Message::Read { request, .. }
            | Message::ReadOk { request, .. }
            | Message::Write { request, .. }
            | Message::WriteOk { request }
            | Message::Refused { request, .. }
            | Message::Forward { request, .. }
            | Message::Forwarded { request, .. }
            | Message::Handoff { request, .. }
            | Message::HandoffOk { request }
            | Message::Ping { request }
            | Message::Pong { request }
            | Message::Transfer { request, .. }
            | Message::TransferOk { request, .. } => *request,
            Message::Repair { partition, .. }
            | Message::TreeSync { partition, .. }
            | Message::TreePull { partition, .. } => u64::from(partition.0),
            Message::TreeLevel { partition, step } => {
                u64::from(partition.0) << 40 | u64::from(step.level) << 32 | u64::from(step.index)
            }
            Message::Gossip { reply, .. } => u64::from(*reply),
        };
        Self {
            deliver_ms: flight.deliver_at_ms,
            from: flight.from,
            to: flight.to,
            kind: MessageKind::of(flight.message),
            ident,
        }
    }
}

/// What one `sync` found.
#[derive(Debug, Default)]
pub struct Changes {
    /// Positions in [`Wire::flights`] of the messages sent since the last sync.
    pub sent: Vec<usize>,
    /// The messages delivered (or dropped on arrival) since the last sync.
    pub gone: Vec<Flight>,
}

/// The mirror of the simulator's messages in flight.
#[derive(Debug, Default)]
pub struct Wire {
    flights: Vec<(Fingerprint, Flight)>,
}

impl Wire {
    /// Messages in flight, in delivery order.
    pub fn flights(&self) -> impl Iterator<Item = &Flight> + '_ {
        self.flights.iter().map(|(_, flight)| flight)
    }

    pub fn flight_mut(&mut self, index: usize) -> Option<&mut Flight> {
        self.flights.get_mut(index).map(|(_, flight)| flight)
    }

    pub fn flight(&self, index: usize) -> Option<&Flight> {
        self.flights.get(index).map(|(_, flight)| flight)
    }

    /// Re-read the simulator's messages in flight; report what was sent and delivered.
    pub fn sync(&mut self, sim: &Sim) -> Changes {
        let mut before: BTreeMap<Fingerprint, VecDeque<Flight>> = BTreeMap::new();
        for (print, flight) in self.flights.drain(..) {
            before.entry(print).or_default().push_back(flight);
        }
        let mut changes = Changes::default();
        for in_flight in sim.in_flight() {
            let print = Fingerprint::of(&in_flight);
            let known = before.get_mut(&print).and_then(VecDeque::pop_front);
            let flight = known.unwrap_or_else(|| {
                changes.sent.push(self.flights.len());
                Flight {
                    from: in_flight.from.0,
                    to: in_flight.to.0,
                    sent_ms: sim.now_ms().min(in_flight.deliver_at_ms),
                    deliver_ms: in_flight.deliver_at_ms,
                    message: describe(in_flight.message),
                }
            });
            self.flights.push((print, flight));
        }
        changes.gone = before.into_values().flatten().collect();
        changes
    }
}
