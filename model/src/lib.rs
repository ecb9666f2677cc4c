//! # dynamo-model
//!
//! A stateright model of `dynamo_core::node::Node`: the model's node actors run the
//! very state machine the server runs, not a copy. Each actor event is one
//! `Node::step`, the store is synced before any output leaves (group commit), and each
//! output maps to one stateright command (`send`, `set_timer`, `cancel_timer`). Client
//! actors run scripts of puts and gets through chosen coordinators, carry contexts from
//! earlier replies, and leave a history the properties judge.
//!
//! The checker explores every interleaving of message deliveries, losses (on a lossy
//! network), timer firings (request timeouts at any moment), crashes and restarts,
//! within a boundary: client scripts are finite, each node's periodic timers fire a
//! bounded number of times, and crashes are counted. See `model/README.md` for the
//! configurations, their state counts and the mutants each property catches.
//!
//! # Layout
//!
//! | module | what |
//! |---|---|
//! | [`config`] | [`ModelConfig`]: cluster, scripts, network, faults, boundary; presets |
//! | [`msg`] | the network's message type (an `Ord` wrapper over core messages) |
//! | [`node_actor`] | the node actor: `Node::step`, sync, outputs to commands; crash/restart |
//! | [`host`] | a node's host (running node or crashed store), fingerprinted once per change |
//! | [`actor`] | client actors, the actor enum, `ModelConfig::into_model` |
//! | [`history`] | invocations and replies, recorded from the network |
//! | [`properties`] | always/sometimes properties with their paper sections |
//! | [`counter`] | the counter configuration (`INCR` under loss and crashes) and its property |
//! | [`heal`] | the convergence check: heal a state at rest, compare replicas |
//! | [`run`] | checking helpers shared by the binary and the tests |
#![forbid(unsafe_code)]

pub mod actor;
pub mod config;
pub mod counter;
pub mod heal;
pub mod history;
pub mod host;
pub mod msg;
pub mod node_actor;
pub mod properties;
pub mod run;

pub use actor::{DynamoModel, SystemState};
pub use config::ModelConfig;
