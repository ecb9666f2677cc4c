//! The dynamo server: the pure core (`dynamo-core`) wrapped in a tokio runtime with
//! durable storage, an authenticated peer transport and a Redis-protocol client port.
//!
//! Layout: [`driver`] owns each `Node` on its own thread and does group commit;
//! [`peer`] carries `Message`s between nodes; [`resp`] serves clients; [`server`]
//! starts one node; [`storage`] is the durable `Store`; [`bench`] is the load generator.
//! [`service`] is the one KV path of both client ports ([`resp`], [`http`]): it submits
//! to the driver, counts requests and owns the error type `ServiceError`.
//! [`view`] holds the HTTP API's JSON documents (the cluster view), shared by the
//! server, the client and the CLI.

pub mod bench;
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
pub mod view;
