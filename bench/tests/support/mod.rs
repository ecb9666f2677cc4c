//! A dynamo cluster for the generator to face: real nodes (`dynamo_server::server`)
//! on 127.0.0.1, in this process, over memory stores. In-process rather than `dynamo
//! serve` children: this crate cannot make cargo build another package's binary, and
//! only the generator is under test here (the server's own tests run the binary).
//! Node `i` of a cluster based at `base` listens for RESP clients on `base + i`, for
//! HTTP on `base + 150 + i` and for peers on `base + 100 + i`.

use dynamo_core::message::{Command, Quorum, Reply};
use dynamo_core::store::MemoryStore;
use dynamo_core::types::NodeId;
use dynamo_core::version::Content;
use dynamo_server::endpoints::Endpoints;
use dynamo_server::server::{self, NodeSettings, Running};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The nodes and the runtime that serves their ports; dropping it stops them.
pub struct Cluster {
    base: u16,
    nodes: Vec<Running<MemoryStore>>,
    runtime: tokio::runtime::Runtime,
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

impl Cluster {
    /// `size` founding nodes with `partitions` partitions and N = `replication_factor`
    /// (quorums a majority of N), serving once every node coordinates a quorum write
    /// and knows every member's HTTP port (the partition-aware client needs them).
    pub fn start(base: u16, size: u16, partitions: u32, replication_factor: usize) -> Cluster {
        let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
        let members: BTreeMap<NodeId, String> = (1..=size)
            .map(|id| (NodeId(id.into()), local(base + 100 + id).to_string()))
            .collect();
        let majority = replication_factor / 2 + 1;
        let nodes = (1..=size)
            .map(|id| {
                let settings = NodeSettings {
                    id: NodeId(id.into()),
                    client_listen: local(base + id),
                    peer_listen: local(base + 100 + id),
                    http_listen: local(base + 150 + id),
                    store_dir: None,
                    cluster: "bench-test".into(),
                    secret: "bench-test-secret".into(),
                    members: members.clone(),
                    seeds: BTreeMap::new(),
                    placements: BTreeMap::new(),
                    partitions,
                    replication_factor,
                    read_quorum: majority,
                    write_quorum: majority,
                    ui_dir: None,
                };
                let started = runtime.block_on(server::start(&settings, MemoryStore::new()));
                started.expect("the node starts")
            })
            .collect();
        let cluster = Cluster {
            base,
            nodes,
            runtime,
        };
        cluster.wait_serving(usize::from(size));
        cluster
    }

    /// Nodes that just started may have lost their first messages to peers not yet
    /// listening, and route around them until a probe answers; members announce
    /// their ports by gossip after they start.
    fn wait_serving(&self, members: usize) {
        for node in &self.nodes {
            eventually("a quorum write through every node", || {
                let write = Command::Set {
                    key: format!("ready-{}", node.id).into_bytes(),
                    content: Content::Value(b"1".to_vec()),
                    quorum: Quorum::default(),
                };
                let reply = self.runtime.block_on(node.driver.request(write));
                matches!(reply, Ok(Reply::Put { .. }))
            });
            eventually("every member's ports announced", || {
                let Ok(snapshot) = self.runtime.block_on(node.driver.snapshot()) else {
                    return false;
                };
                let known = snapshot.membership.members().values();
                let announced = known.filter(|info| Endpoints::parse(&info.address).http.is_some());
                announced.count() == members
            });
        }
    }

    /// Node `id`'s RESP address.
    pub fn client(&self, id: u16) -> String {
        local(self.base + id).to_string()
    }

    /// Node `id`'s HTTP address.
    pub fn http(&self, id: u16) -> String {
        local(self.base + 150 + id).to_string()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let nodes = std::mem::take(&mut self.nodes);
        self.runtime.block_on(async {
            for node in nodes {
                // A failed shutdown cannot fail the test any more: it ran.
                let _ = node.shutdown().await;
            }
        });
    }
}

/// Run `future` on a runtime of its own (the tests are synchronous).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(future)
}

/// Retry until `check` holds (replication and gossip are asynchronous), for at most
/// 20 s.
pub fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
