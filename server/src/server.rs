//! One running node: storage, the driver thread, the peer and client listeners.

use crate::auth::Users;
use crate::driver::{self, DriverError, DriverHandle, DriverThread};
use crate::endpoints::Endpoints;
use crate::http::{self, HttpState};
use crate::metrics::Metrics;
use crate::peer::{self, Credentials, Outbound};
use crate::resp::{self, RespConfig};
use crate::service::{KvService, Port};
use crate::tls::TlsConfig;
#[cfg(feature = "mutants")]
use dynamo_core::node::Mutant;
use dynamo_core::node::{member, ConfigError, Node, NodeConfig, StartError};
use dynamo_core::ring::RingConfig;
use dynamo_core::store::{Store, StoreError};
use dynamo_core::types::NodeId;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Everything a node needs to start.
#[derive(Clone, Debug)]
pub struct NodeSettings {
    pub id: NodeId,
    pub client_listen: SocketAddr,
    pub peer_listen: SocketAddr,
    pub http_listen: SocketAddr,
    /// The storage engine's directory, for the storage size metric.
    pub store_dir: Option<PathBuf>,
    pub cluster: String,
    pub secret: String,
    /// Peer addresses of the members a new cluster starts with (empty: join via seeds).
    pub members: BTreeMap<NodeId, String>,
    /// Peer addresses of nodes to contact while this node knows no member.
    pub seeds: BTreeMap<NodeId, String>,
    /// Weight and zone of founding members and of this node; a node missing here has
    /// weight 1 and no zone. Founders must all list the same placements (each derives
    /// the first ring from them).
    pub placements: BTreeMap<NodeId, Placement>,
    pub partitions: u32,
    pub replication_factor: usize,
    pub read_quorum: usize,
    pub write_quorum: usize,
    /// The visualiser's directory, served under `/ui/` by the HTTP port (none: not served).
    pub ui_dir: Option<PathBuf>,
}

/// Where a node sits in the ring (Dynamo §4.3, §6.2 strategy 3): its weight (partitions
/// in proportion to it) and its zone (failure domain: a key's homes span distinct
/// zones first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    pub weight: u32,
    pub zone: Option<String>,
}

impl Default for Placement {
    fn default() -> Self {
        Placement {
            weight: 1,
            zone: None,
        }
    }
}

impl NodeSettings {
    /// The placement of `node` (the default when none is configured).
    pub fn placement(&self, node: NodeId) -> Placement {
        self.placements.get(&node).cloned().unwrap_or_default()
    }

    fn member_info(&self, node: NodeId, address: &str) -> dynamo_core::membership::MemberInfo {
        let placement = self.placement(node);
        let mut info = member(address, placement.weight);
        info.zone = placement.zone;
        info
    }
}

/// How the client ports (RESP and HTTP) admit clients: apart from [`NodeSettings`],
/// which only describes the node, so a caller that does not secure its client ports
/// (an embedded test cluster) keeps the open default.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// RESP connections served at once.
    pub max_clients: usize,
    /// Users and their roles; none: authentication off.
    pub users: Arc<Users>,
    /// TLS on the RESP and HTTP ports (both, instead of plaintext); none: plaintext.
    pub tls: Option<TlsConfig>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            max_clients: resp::CONNECTIONS_MAX,
            users: Arc::new(Users::open()),
            tls: None,
        }
    }
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("invalid settings: {0}")]
    Config(#[source] ConfigError),
    #[error("cannot open the node: {0}")]
    Open(#[source] StartError),
    #[error("cannot make the new incarnation durable: {0}")]
    Sync(#[source] StoreError),
    #[error("cannot set up the peer transport: {0}")]
    Transport(#[source] peer::PeerError),
    #[error("cannot register the metrics: {0}")]
    Metrics(#[source] prometheus::Error),
    #[error("cannot listen on {address}: {error}")]
    Listen {
        address: SocketAddr,
        #[source]
        error: std::io::Error,
    },
}

/// Why a node did not hand its store back on shutdown.
#[derive(Debug, thiserror::Error)]
pub enum ShutdownError {
    #[error("the driver stopped: {0}")]
    Driver(#[source] DriverError),
    #[error("the driver thread panicked")]
    Panicked,
    #[error("cannot wait for the driver thread: {0}")]
    Join(#[source] tokio::task::JoinError),
}

impl NodeSettings {
    /// The core's configuration for these settings; `endpoints` is what this node
    /// announces (its bound addresses).
    pub fn node_config(&self, endpoints: &Endpoints) -> NodeConfig {
        let peer = endpoints.to_string();
        let initial_members = self
            .members
            .iter()
            .map(|(id, address)| (*id, self.member_info(*id, address)))
            .collect();
        NodeConfig {
            ring: RingConfig {
                partitions: self.partitions,
                replication_factor: self.replication_factor,
            },
            read_quorum: self.read_quorum,
            write_quorum: self.write_quorum,
            me: self.member_info(self.id, &peer),
            initial_members,
            seeds: self.seeds.keys().copied().collect(),
            // OS randomness at every start: a node restarted with an empty data
            // directory must not mint its first actor's dots again (local.rs).
            seed: random_seed(),
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
    pub http_addr: SocketAddr,
    pub driver: DriverHandle,
    thread: DriverThread<S>,
    listeners: Vec<JoinHandle<()>>,
}

/// Open the node over `store` and serve its ports.
pub async fn start<S: Store + Send + 'static>(
    settings: &NodeSettings,
    store: S,
) -> Result<Running<S>, ServerError> {
    launch(settings, &ClientOptions::default(), store, |_| {}).await
}

/// [`start`], the client ports admitting clients as `clients` says.
pub async fn start_with<S: Store + Send + 'static>(
    settings: &NodeSettings,
    clients: &ClientOptions,
    store: S,
) -> Result<Running<S>, ServerError> {
    launch(settings, clients, store, |_| {}).await
}

/// [`start`] a deliberately broken node (`mutant`), for the fault-injection tests.
#[cfg(feature = "mutants")]
pub async fn start_mutant<S: Store + Send + 'static>(
    settings: &NodeSettings,
    clients: &ClientOptions,
    store: S,
    mutant: Mutant,
) -> Result<Running<S>, ServerError> {
    launch(settings, clients, store, |node| node.set_mutant(mutant)).await
}

/// [`start`], with `prepare` applied to the node before it runs.
async fn launch<S: Store + Send + 'static>(
    settings: &NodeSettings,
    clients: &ClientOptions,
    store: S,
    prepare: impl FnOnce(&mut Node<S>),
) -> Result<Running<S>, ServerError> {
    let peer_listener =
        peer::listen(settings.peer_listen).map_err(|error| ServerError::Listen {
            address: settings.peer_listen,
            error,
        })?;
    let client_listener = listen(settings.client_listen).await?;
    let http_listener = listen(settings.http_listen).await?;
    let (peer_addr, client_addr, http_addr) = (
        local(&peer_listener, settings.peer_listen),
        local(&client_listener, settings.client_listen),
        local(&http_listener, settings.http_listen),
    );
    let endpoints = Endpoints {
        peer: peer_addr.to_string(),
        http: Some(http_addr.to_string()),
        resp: Some(client_addr.to_string()),
    };
    let node = open_node(settings, &endpoints, store, prepare)?;
    let metrics = Arc::new(Metrics::new().map_err(ServerError::Metrics)?);
    let secret = settings.secret.as_bytes();
    let listen = peer_addr.to_string();
    let credentials = Credentials::new(&settings.cluster, secret, settings.id, &listen)
        .map_err(ServerError::Transport)?;
    let mut known = settings.seeds.clone();
    known.extend(settings.members.clone());
    let runtime = tokio::runtime::Handle::current();
    let outbound = Outbound::new(credentials.clone(), runtime.clone(), known);
    let outbound_handle = outbound.clone();
    let (driver, thread) = driver::spawn(node, outbound, runtime);
    let http_state = Arc::new(HttpState {
        driver: driver.clone(),
        users: clients.users.clone(),
        metrics: metrics.clone(),
        store_dir: settings.store_dir.clone(),
        ui_dir: settings.ui_dir.clone(),
    });
    let listeners = vec![
        tokio::spawn(peer::serve(
            peer_listener,
            credentials,
            driver.clone(),
            outbound_handle,
        )),
        tokio::spawn(resp::serve(
            client_listener,
            KvService::new(driver.clone(), metrics, Port::Resp),
            RespConfig {
                max_clients: clients.max_clients,
                users: clients.users.clone(),
                tls: clients.tls.clone(),
            },
        )),
        tokio::spawn(http::serve(http_listener, http_state, clients.tls.clone())),
    ];
    tracing::info!(node = %settings.id, %client_addr, %peer_addr, %http_addr, "node started");
    Ok(Running {
        id: settings.id,
        client_addr,
        peer_addr,
        http_addr,
        driver,
        thread,
        listeners,
    })
}

/// The core node over `store`, its new incarnation synced before anything runs.
fn open_node<S: Store>(
    settings: &NodeSettings,
    endpoints: &Endpoints,
    store: S,
    prepare: impl FnOnce(&mut Node<S>),
) -> Result<Node<S>, ServerError> {
    let config = settings.node_config(endpoints);
    config.validate(settings.id).map_err(ServerError::Config)?;
    let mut node = Node::new(settings.id, config, store).map_err(ServerError::Open)?;
    prepare(&mut node);
    node.store_mut().sync().map_err(ServerError::Sync)?;
    Ok(node)
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
    /// Resolves when the driver thread ended on its own (a storage failure or a
    /// panic): the node can no longer serve, and the process should say so and exit
    /// rather than answer every request with an error.
    pub async fn stopped(&self) {
        while !self.is_stopped() {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Whether the driver thread has ended.
    pub fn is_stopped(&self) -> bool {
        self.thread.is_finished()
    }

    /// Stop accepting, let the driver finish its batch and sync, and return the store.
    pub async fn shutdown(self) -> Result<S, ShutdownError> {
        for listener in &self.listeners {
            listener.abort();
        }
        self.driver.shutdown().await;
        let thread = self.thread;
        // Joining blocks until the driver's last sync: not on a runtime worker.
        let joined = tokio::task::spawn_blocking(move || thread.join())
            .await
            .map_err(ShutdownError::Join)?;
        joined
            .map_err(|_| ShutdownError::Panicked)?
            .map_err(ShutdownError::Driver)
    }
}

/// A seed from the OS's randomness (from the clock if it has none to give).
fn random_seed() -> u64 {
    let mut bytes = [0u8; 8];
    match getrandom::getrandom(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes),
        Err(error) => {
            tracing::warn!(%error, "no OS randomness; seeding from the clock");
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            now.map_or(0, |d| d.as_nanos() as u64)
        }
    }
}
