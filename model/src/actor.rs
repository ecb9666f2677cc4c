//! The model's actors: nodes (see `node_actor.rs`) and clients, as one stateright
//! `Actor` type, plus the `ActorModel` a [`ModelConfig`] builds.
//!
//! A client runs its script one operation at a time: it sends a request to the
//! operation's coordinator and waits for the reply (forever, if the reply is lost: the
//! operation's outcome is then unknown, as for a real client without retries). A put
//! carries the context of the client's last reply for the key: a put reply's context
//! or a get's merged clock (Dynamo §4.4: a client writes over what it has read).

use crate::config::{Action, ClientOp, ModelConfig, NetworkKind};
use crate::history::{record_in, record_out, History};
use crate::msg::{Body, Msg};
use crate::node_actor::{request_id, ModelTimer, NodeActor, NodeState};
use crate::properties;
use dynamo_core::clock::VersionVector;
use dynamo_core::crdt::Mutation;
use dynamo_core::message::{Command, Input, Quorum, Reply};
use dynamo_core::version::Content;
use stateright::actor::{ActorModel, ActorModelState, Id, LossyNetwork, Network, Out};
use stateright::{Expectation, Model};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The stateright model of a configuration.
pub type DynamoModel = ActorModel<ModelActor, ModelConfig, History>;
/// One state of the whole system.
pub type SystemState = ActorModelState<ModelActor, History>;

/// A client actor: its index and script.
#[derive(Clone, Debug)]
pub struct ClientActor {
    pub index: usize,
    pub script: Vec<ClientOp>,
}

/// A client's state: operations issued and the context it holds per key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientState {
    pub issued: usize,
    pub answered: usize,
    pub contexts: BTreeMap<usize, VersionVector>,
}

impl ClientActor {
    fn issue(&self, state: &mut ClientState, out: &mut Out<ModelActor>) {
        let Some(op) = self.script.get(state.issued) else {
            return;
        };
        let key = crate::config::key(op.key);
        let quorum = Quorum::default();
        let context = state.contexts.get(&op.key).cloned().unwrap_or_default();
        let command = match op.action {
            Action::Get => Command::Get { key, quorum },
            Action::Put(byte) => Command::Put {
                key,
                context,
                content: Content::Value(vec![byte]),
                quorum,
            },
            Action::Delete => Command::Put {
                key,
                context,
                content: Content::Tombstone,
                quorum,
            },
            Action::Incr => Command::Put {
                key,
                context: VersionVector::new(),
                content: Content::Mutation(Mutation::Increment(1)),
                quorum,
            },
        };
        let request = request_id(self.index, state.issued);
        state.issued += 1;
        out.send(
            Id::from(op.coordinator),
            Msg::new(Body::Request { request, command }),
        );
    }

    fn on_reply(&self, state: &mut ClientState, reply: &Reply, out: &mut Out<ModelActor>) {
        let key = self.script[state.answered].key;
        match reply {
            Reply::Put { context, .. } => {
                state.contexts.insert(key, context.clone());
            }
            Reply::Got { siblings } => {
                state.contexts.insert(key, siblings.clock().clone());
            }
            Reply::Failed(_) | Reply::Changed { .. } | Reply::Deleted { .. } => {}
        }
        state.answered += 1;
        self.issue(state, out);
    }

    /// Whether `request` is the reply this client waits for.
    fn awaits(&self, state: &ClientState, request: u64) -> bool {
        state.answered < state.issued && request == request_id(self.index, state.answered)
    }
}

/// Every actor of the model.
#[derive(Clone, Debug)]
pub enum ModelActor {
    Node(Box<NodeActor>),
    Client(ClientActor),
}

/// Every actor state of the model.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ActorState {
    Node(Box<NodeState>),
    Client(ClientState),
}

impl ActorState {
    pub fn as_node(&self) -> Option<&NodeState> {
        match self {
            ActorState::Node(node) => Some(node),
            ActorState::Client(_) => None,
        }
    }

    pub fn as_client(&self) -> Option<&ClientState> {
        match self {
            ActorState::Client(client) => Some(client),
            ActorState::Node(_) => None,
        }
    }
}

impl stateright::actor::Actor for ModelActor {
    type Msg = Msg;
    type State = ActorState;
    type Timer = ModelTimer;
    type Random = ();
    type Storage = ();

    fn on_start(&self, _: Id, _: &Option<()>, out: &mut Out<Self>) -> ActorState {
        match self {
            ModelActor::Node(actor) => ActorState::Node(Box::new(actor.start(out))),
            ModelActor::Client(actor) => {
                let mut state = ClientState {
                    issued: 0,
                    answered: 0,
                    contexts: BTreeMap::new(),
                };
                actor.issue(&mut state, out);
                ActorState::Client(state)
            }
        }
    }

    fn on_msg(&self, _: Id, state: &mut Cow<ActorState>, src: Id, msg: Msg, out: &mut Out<Self>) {
        match self {
            ModelActor::Node(actor) => on_node_msg(actor, state, src, msg.body(), out),
            ModelActor::Client(actor) => on_client_msg(actor, state, msg.body(), out),
        }
    }

    fn on_timeout(
        &self,
        _: Id,
        state: &mut Cow<ActorState>,
        timer: &ModelTimer,
        out: &mut Out<Self>,
    ) {
        if let (ModelActor::Node(actor), ActorState::Node(node)) = (self, state.to_mut()) {
            actor.fire(node, *timer, out);
        }
    }
}

/// A node receives: a running node steps; a crashed one leaves the message waiting
/// (stateright keeps a no-op delivery in flight: the network delays it).
fn on_node_msg(
    actor: &NodeActor,
    state: &mut Cow<ActorState>,
    src: Id,
    body: &Body,
    out: &mut Out<ModelActor>,
) {
    let running = state.as_node().is_some_and(|node| node.node().is_some());
    let Some(input) = input_of(actor, src, body).filter(|_| running) else {
        return;
    };
    if let ActorState::Node(node) = state.to_mut() {
        actor.step(node, input, out);
    }
}

/// A client takes the reply it waits for and issues its next operation.
fn on_client_msg(
    actor: &ClientActor,
    state: &mut Cow<ActorState>,
    body: &Body,
    out: &mut Out<ModelActor>,
) {
    let Body::Reply { request, reply } = body else {
        return;
    };
    let awaited = state
        .as_client()
        .is_some_and(|client| actor.awaits(client, *request));
    if !awaited {
        return;
    }
    if let ActorState::Client(client) = state.to_mut() {
        actor.on_reply(client, reply, out);
    }
}

/// The node input a message becomes: requests from clients, messages from nodes.
fn input_of(actor: &NodeActor, src: Id, body: &Body) -> Option<Input> {
    let src = usize::from(src);
    match body {
        Body::Request { request, command } if src >= actor.model.nodes => Some(Input::Client {
            request: *request,
            command: command.clone(),
        }),
        Body::Peer(message) if src < actor.model.nodes => Some(Input::Peer {
            from: crate::config::node_id(src),
            message: message.clone(),
        }),
        _ => None,
    }
}

impl ModelConfig {
    /// The stateright model of this configuration, with every property.
    pub fn into_model(self) -> DynamoModel {
        let nodes =
            (0..self.nodes).map(|index| ModelActor::Node(Box::new(NodeActor::new(index, &self))));
        let clients = self.clients.iter().enumerate().map(|(index, script)| {
            ModelActor::Client(ClientActor {
                index,
                script: script.clone(),
            })
        });
        let actors: Vec<ModelActor> = nodes.chain(clients).collect();
        let network = match self.network {
            NetworkKind::Unordered => Network::new_unordered_nonduplicating([]),
            NetworkKind::Ordered => Network::new_ordered([]),
            NetworkKind::Duplicating => Network::new_unordered_duplicating([]),
        };
        let lossy = if self.lossy {
            LossyNetwork::Yes
        } else {
            LossyNetwork::No
        };
        let mut model = ActorModel::new(self, History::default())
            .actors(actors)
            .init_network(network)
            .lossy_network(lossy)
            .record_msg_out(record_out)
            .record_msg_in(record_in)
            .within_boundary(within_boundary);
        for (expectation, name, condition) in properties::all() {
            model = model.property(expectation, name, condition);
        }
        model
    }
}

/// Crashes across the cluster stay within the configured count.
fn within_boundary(config: &ModelConfig, state: &SystemState) -> bool {
    let crashes: u32 = nodes(state).map(|node| u32::from(node.crashes)).sum();
    crashes <= u32::from(config.crashes)
}

/// The node states of a system state, in node order.
pub fn nodes(state: &SystemState) -> impl Iterator<Item = &NodeState> + '_ {
    state
        .actor_states
        .iter()
        .filter_map(|actor| actor.as_node())
}

/// Property names and their expectation, for reports.
pub fn expectation_of(model: &DynamoModel, name: &str) -> Option<Expectation> {
    model
        .properties()
        .into_iter()
        .find(|property| property.name == name)
        .map(|property| property.expectation)
}
