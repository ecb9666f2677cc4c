//! The dynamo server: the pure core (`dynamo-core`) wrapped in a tokio runtime with
//! durable storage, an authenticated peer transport and a Redis-protocol client port.
//!
//! Layout: [`driver`] owns each `Node` on its own thread and does group commit;
//! [`peer`] carries `Message`s between nodes; [`resp`] serves clients; [`server`]
//! starts one node; [`storage`] is the durable `Store`; [`bench`] is the load generator.

pub mod bench;
pub mod client;
pub mod driver;
pub mod endpoints;
pub mod http;
pub mod metrics;
pub mod peer;
pub mod resp;
pub mod server;
pub mod storage;
