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
//! - [`service`] is the one KV path of both client ports: it submits to the driver,
//!   counts requests and owns the error type `ServiceError`;
//! - [`view`] holds the HTTP API's JSON documents (the cluster view), shared by the
//!   server, the client and the CLI;
//! - [`client`] is the partition-aware client of the HTTP API;
//! - [`auth`] holds the client ports' users, roles and credential checks, [`tls`]
//!   their optional TLS;
//!
//! The `dynamo` binary (`main.rs`; its client and admin commands in `cli.rs`) runs
//! nodes and talks to clusters; the load generator is the `dynamo-bench` crate.

pub mod admission;
pub mod auth;
pub mod backup;
pub mod client;
pub mod driver;
pub mod endpoints;
pub mod http;
pub mod metrics;
pub mod peer;
pub mod resp;
pub mod server;
pub mod service;
pub mod storage;
pub mod tls;
pub mod view;
