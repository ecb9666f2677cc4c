//! # dynamo-core
//!
//! Amazon's Dynamo (DeCandia et al., SOSP 2007) as a pure protocol library.
//!
//! This crate does **no I/O**: no sockets, no files, no clock, no threads and no OS
//! randomness. Time reaches it only as explicit values and timer events, randomness only
//! from seeds, storage only through the synchronous [`store::Store`] trait. That is what
//! lets one implementation run under a model checker (`dynamo-model`), a deterministic
//! simulator, the tokio server (`dynamo-server`) and the browser (`dynamo-wasm`).
//!
//! # Paper map
//!
//! | module | Dynamo section | concept |
//! |---|---|---|
//! | [`hash`] | §4.2 | MD5 key -> 128-bit ring position -> partition |
//! | [`ring`] | §4.2, §4.3, §6.2 | equal partitions (strategy 3), weighted claim, preference lists; strategy 1 for comparison |
//! | [`clock`] | §4.4 | version vectors, dots, causality |
//! | [`version`] | §4.4 | sibling sets (dotted version vectors), tombstones |
//! | [`crdt`] | §4.4 | convergent data types: counters, add-wins sets, maps of registers and counters |
//! | [`context`] | §4.4 | the opaque context codec: bytes (postcard varints, checksum) and base64url text |
//! | [`merkle`] | §4.7 | per-partition Merkle trees for anti-entropy |
//! | [`membership`] | §4.8 | the gossiped membership view, a CRDT |
//! | [`store`] | §5 | the synchronous storage trait and an in-memory store |
//! | [`types`] | - | identifiers and limits |
//! | [`quorum`] | §4.5 | counting a request's replies; fail fast when out of reach |
//! | [`node`] | §4.5-§4.9 | the state machine: coordinator, hinted handoff, anti-entropy, gossip, transfers |
//! | [`message`] | §4.5-§4.9 | inputs, outputs, commands, replies, peer messages, timers |
//! | `sim` (feature `sim`) | - | seeded deterministic cluster simulator and history checker |
//!
//! # Driving a node
//!
//! A driver (the server, the simulator, the model checker, the browser) owns each
//! [`node::Node`] and calls, in this order:
//!
//! 1. [`node::Node::new`] with the node's id, its [`node::NodeConfig`] and its store;
//!    then `store_mut().sync()`, because `new` recorded a dot-counter lease that must
//!    be durable before the node mints a version;
//! 2. [`node::Node::start`] once, which arms the periodic timers;
//! 3. [`node::Node::step`] for each [`message::Input`]: a client command, a peer
//!    message, or a timer that fired. After a step (or a batch of steps), the driver
//!    calls `store_mut().sync()` **before** executing the outputs: replies and
//!    acknowledgements may only leave once the writes they report are durable
//!    (group commit). Then it sends each `Send`, delivers each `Reply`, and arms or
//!    cancels timers (a re-armed timer replaces the pending one).
//!
//! `step` is infallible: bad peer input is ignored and counted, client failures are
//! `Reply::Failed` values. Here three nodes are driven by hand over a perfect network:
//!
//! ```
//! use dynamo_core::clock::VersionVector;
//! use dynamo_core::message::{Command, Input, Output, Quorum, Reply};
//! use dynamo_core::node::{member, Node, NodeConfig};
//! use dynamo_core::store::{MemoryStore, Store};
//! use dynamo_core::types::NodeId;
//! use dynamo_core::version::Content;
//! use std::collections::{BTreeMap, VecDeque};
//!
//! let ids = [NodeId(1), NodeId(2), NodeId(3)];
//! let members: BTreeMap<_, _> = ids.iter().map(|id| (*id, member("", 1))).collect();
//! let mut nodes: BTreeMap<NodeId, Node<MemoryStore>> = BTreeMap::new();
//! for id in ids {
//!     let config = NodeConfig { initial_members: members.clone(), ..NodeConfig::default() };
//!     let mut node = Node::new(id, config, MemoryStore::new()).unwrap();
//!     node.store_mut().sync().unwrap();
//!     node.start(); // periodic timers: this example never fires them
//!     nodes.insert(id, node);
//! }
//! // Drive one client command to completion, delivering messages in order.
//! fn run(nodes: &mut BTreeMap<NodeId, Node<MemoryStore>>, at: NodeId, command: Command) -> Reply {
//!     let mut inbox = VecDeque::from([(at, Input::Client { request: 1, command })]);
//!     let mut answer = None;
//!     while let Some((to, input)) = inbox.pop_front() {
//!         let node = nodes.get_mut(&to).unwrap();
//!         let outputs = node.step(input);
//!         node.store_mut().sync().unwrap(); // group commit before any output leaves
//!         for output in outputs {
//!             match output {
//!                 Output::Send { to: peer, message } => inbox.push_back((peer, Input::Peer { from: to, message })),
//!                 Output::Reply { reply, .. } => answer = Some(reply),
//!                 Output::SetTimer { .. } | Output::CancelTimer { .. } => {}
//!             }
//!         }
//!     }
//!     answer.expect("the command was answered")
//! }
//! let put = Command::Put {
//!     key: b"cart".to_vec(),
//!     context: VersionVector::new(),
//!     content: Content::Value(b"book".to_vec()),
//!     quorum: Quorum::default(),
//! };
//! assert!(matches!(run(&mut nodes, NodeId(1), put), Reply::Put { .. }));
//! let get = Command::Get { key: b"cart".to_vec(), quorum: Quorum::default() };
//! let Reply::Got { siblings } = run(&mut nodes, NodeId(3), get) else { panic!() };
//! assert_eq!(siblings.values().collect::<Vec<_>>(), vec![&b"book"[..]]);
//! ```
#![forbid(unsafe_code)]

mod antientropy;
pub mod clock;
pub mod config;
pub mod context;
mod coordinator;
pub mod crdt;
mod detector;
mod gossip;
mod handoff;
pub mod hash;
mod local;
pub mod membership;
pub mod merkle;
pub mod message;
#[cfg(feature = "mutants")]
pub mod mutant;
pub mod node;
pub mod prng;
pub mod quorum;
pub mod ring;
#[cfg(feature = "sim")]
pub mod sim;
pub mod store;
pub mod transfer;
pub mod types;
pub mod version;
