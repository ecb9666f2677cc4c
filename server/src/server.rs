//! One running node: storage, the driver thread, the peer and client listeners.

use crate::driver::{self, DriverHandle};
use crate::peer::{self, Credentials, Outbound};
use crate::resp;
use dynamo_core::node::{member, Node, NodeConfig};
use dynamo_core::ring::RingConfig;
use dynamo_core::store::Store;
use dynamo_core::types::NodeId;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Everything a node needs to start.
#[derive(Clone, Debug)]
pub struct NodeSettings {
    pub id: NodeId,
    pub client_listen: SocketAddr,
    pub peer_listen: SocketAddr,
    pub cluster: String,
    pub secret: String,
    /// Peer addresses of the members a new cluster starts with (empty: join via seeds).
    pub members: BTreeMap<NodeId, String>,
    /// Peer addresses of nodes to contact while this node knows no member.
    pub seeds: BTreeMap<NodeId, String>,
    pub partitions: u32,
    pub replication_factor: usize,
    pub read_quorum: usize,
    pub write_quorum: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot start node: {0}")]
    Start(String),
    #[error("cannot listen on {address}: {error}")]
    Listen {
        address: SocketAddr,
        error: std::io::Error,
    },
}

impl NodeSettings {
    /// The core's configuration for these settings.
    pub fn node_config(&self) -> NodeConfig {
        let peer = self.peer_listen.to_string();
        let initial_members = self
            .members
            .iter()
            .map(|(id, address)| (*id, member(address, 1)))
            .collect();
        NodeConfig {
            ring: RingConfig {
                partitions: self.partitions,
                replication_factor: self.replication_factor,
            },
            read_quorum: self.read_quorum,
            write_quorum: self.write_quorum,
            me: member(&peer, 1),
            initial_members,
            seeds: self.seeds.keys().copied().collect(),
            seed: u64::from(self.id.0),
            ..NodeConfig::default()
        }
    }
}

/// A node serving its ports.
#[derive(Debug)]
pub struct Running<S> {
    pub id: NodeId,
    pub client_addr: SocketAddr,
    pub peer_addr: SocketAddr,
    pub driver: DriverHandle,
    thread: std::thread::JoinHandle<Result<S, String>>,
    listeners: Vec<JoinHandle<()>>,
}

/// Open the node over `store` and serve its ports.
pub async fn start<S: Store + Send + 'static>(
    settings: &NodeSettings,
    store: S,
) -> Result<Running<S>, ServerError> {
    let config = settings.node_config();
    config
        .validate(settings.id)
        .map_err(|e| ServerError::Start(e.to_string()))?;
    let mut node =
        Node::new(settings.id, config, store).map_err(|e| ServerError::Start(e.to_string()))?;
    node.store_mut()
        .sync()
        .map_err(|e| ServerError::Start(e.to_string()))?;
    let peer_listener = listen(settings.peer_listen).await?;
    let client_listener = listen(settings.client_listen).await?;
    let (peer_addr, client_addr) = (
        local(&peer_listener, settings.peer_listen),
        local(&client_listener, settings.client_listen),
    );
    let credentials = Credentials {
        cluster: settings.cluster.clone(),
        secret: settings.secret.clone().into_bytes(),
        node: settings.id,
    };
    let mut known = settings.seeds.clone();
    known.extend(settings.members.clone());
    let runtime = tokio::runtime::Handle::current();
    let outbound = Outbound::new(credentials.clone(), runtime.clone(), known);
    let (driver, thread) = driver::spawn(node, outbound, runtime);
    let listeners = vec![
        tokio::spawn(peer::serve(peer_listener, credentials, driver.clone())),
        tokio::spawn(resp::serve(client_listener, driver.clone())),
    ];
    tracing::info!(node = %settings.id, %client_addr, %peer_addr, "node started");
    Ok(Running {
        id: settings.id,
        client_addr,
        peer_addr,
        driver,
        thread,
        listeners,
    })
}

async fn listen(address: SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(address)
        .await
        .map_err(|error| ServerError::Listen { address, error })
}

fn local(listener: &TcpListener, fallback: SocketAddr) -> SocketAddr {
    listener.local_addr().unwrap_or(fallback)
}

impl<S: Send + 'static> Running<S> {
    /// Stop accepting, let the driver finish its batch and sync, and return the store.
    pub async fn shutdown(self) -> Result<S, String> {
        for listener in &self.listeners {
            listener.abort();
        }
        self.driver.shutdown().await;
        let thread = self.thread;
        tokio::task::spawn_blocking(move || {
            thread
                .join()
                .map_err(|_| "driver thread panicked".to_string())?
        })
        .await
        .map_err(|e| e.to_string())?
    }
}
