//! The dynamo server: the pure core (`dynamo-core`) wrapped in a tokio runtime with
//! durable storage, an authenticated peer transport, a Redis-protocol client port and
//! an HTTP API.
//!
//! # Layout
//! - [`server`] starts one node: its storage, driver and listeners;
//! - [`driver`] owns each `Node` on its own thread and does group commit;
//! - [`peer`] carries `Message`s between nodes;
//! - [`resp`] serves Redis-protocol clients, [`http`] the HTTP API (KV, cluster view,
//!   admin, metrics, the visualiser's files);
//! - [`endpoints`] reads and writes the ports a member announces;
//! - [`metrics`] holds a node's Prometheus registry;
//! - [`storage`] is the durable `Store` (module `storage::lsm`, on fjall);
//! - [`client`] is the partition-aware client of the HTTP API;
//! - `mutants` (feature `mutants` only) names the deliberately broken node variants.
//!
//! The `dynamo` binary (`main.rs`; its client and admin commands in `cli.rs`) runs
//! nodes and talks to clusters; the load generator is the `dynamo-bench` crate.

pub mod client;
pub mod driver;
pub mod endpoints;
pub mod http;
pub mod metrics;
#[cfg(feature = "mutants")]
pub mod mutants;
pub mod peer;
pub mod resp;
pub mod server;
pub mod storage;
