//! Peer transport: Noise-encrypted, authenticated records of message frames over
//! persistent TCP (peer protocol version 3; docs/security.md has the threat model).
//!
//! Each node keeps one outbound connection per peer, used only to send
//! ([`outbound`]); messages from a peer arrive on the connection that peer opened
//! ([`serve`]). A connection opens with a plaintext hello each way (version,
//! capabilities: [`wire`]), then a Noise `XXpsk3` handshake keyed by the cluster
//! secret in which each side proves it holds the secret and names itself (cluster,
//! node id, listen address: [`noise`]). Every byte after it is encrypted and
//! authenticated under that connection's keys.
//!
//! Invariants:
//! - nothing a peer sends reaches the driver unless the connection's handshake proved
//!   the cluster secret, and the bytes decrypted under that connection's keys, in
//!   order (a replayed, reordered or altered record closes the connection);
//! - memory is bounded in bytes: at most [`PREAUTH_CONNECTIONS_MAX`] connections are
//!   in their handshake at once, each for at most [`HANDSHAKE_TIMEOUT`] and a few KiB;
//!   a record is refused when its authenticated length exceeds
//!   [`wire::RECORD_BYTES_MAX`], before its body is read, and its buffer grows only as
//!   bytes arrive; each peer's send queue holds at most
//!   [`outbound::PEER_QUEUE_BYTES_MAX`] (or one larger frame);
//! - a send to a peer that is down or saturated is dropped, which the protocol treats
//!   as message loss.

pub mod noise;
pub mod outbound;
pub mod wire;

pub use outbound::Outbound;
pub use wire::{decode_frame, encode_frame, FRAME_BYTES_MAX, PEER_PROTOCOL_VERSION};

use crate::driver::DriverHandle;
use blake2::{Blake2s256, Digest};
use dynamo_core::message::{Input, Message};
use dynamo_core::types::NodeId;
use noise::Identity;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::BufReader;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Connections accepted but not yet authenticated, at most; past it a new connection
/// is closed at once (peers retry with backoff).
pub const PREAUTH_CONNECTIONS_MAX: usize = 256;
/// Time a connection has to complete its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Read buffer of an authenticated peer connection.
const READ_BUFFER_BYTES: usize = 64 * 1024;
/// A record buffer that grew past this is released after its record (a large
/// transfer chunk is rare; holding its buffer per connection is not worth it).
const RECORD_RETAIN_BYTES: usize = 1024 * 1024;
/// The peer port's queue of connections not yet accepted. The default (128) drops
/// connection attempts in a burst of them, each costing its peer a one-second SYN
/// retransmit; the accept loop drains this far faster than handshakes complete.
const ACCEPT_BACKLOG: u32 = 1024;
/// Pause after a failed `accept` (out of file descriptors), rather than spinning.
const ACCEPT_RETRY: Duration = Duration::from_millis(20);
/// Refusals logged at `warn` at most this often (the rest at `debug`), so a flood of
/// bad connections cannot flood the log.
const WARN_INTERVAL: Duration = Duration::from_secs(1);
/// Domain separation of the pre-shared key derived from the cluster secret.
const PSK_LABEL: &[u8] = b"dynamo peer psk v3\0";
/// Shorter secrets draw a warning: the secret must resist guessing (docs/security.md).
const SECRET_BYTES_MIN: usize = 16;

/// What this node proves and claims in every handshake. Holds no secret in the clear:
/// the cluster secret is hashed into the pre-shared key at construction.
#[derive(Clone)]
pub struct Credentials {
    identity: Identity,
    /// `identity`, encoded once (checked to fit a handshake message).
    identity_bytes: Vec<u8>,
    /// BLAKE2s of the cluster secret: the Noise pre-shared key.
    psk: [u8; 32],
    /// This process's static Curve25519 private key, generated at start.
    static_key: Arc<[u8]>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("Credentials")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Credentials of node `node` of `cluster`, listening for peers at `listen`. A
    /// fresh static key is generated for this process (docs/security.md says why).
    pub fn new(
        cluster: &str,
        secret: &[u8],
        node: NodeId,
        listen: &str,
    ) -> Result<Credentials, PeerError> {
        if secret.len() < SECRET_BYTES_MIN {
            tracing::warn!(
                "the cluster secret is shorter than {SECRET_BYTES_MIN} bytes: use a long random one"
            );
        }
        let identity = Identity {
            cluster: cluster.to_string(),
            node,
            listen: listen.to_string(),
        };
        let identity_bytes = noise::encode_identity(&identity)?;
        let params = noise::NOISE_PARAMS.parse().map_err(PeerError::Noise)?;
        let keypair = snow::Builder::new(params).generate_keypair();
        let keypair = keypair.map_err(PeerError::Noise)?;
        let psk = Blake2s256::new()
            .chain_update(PSK_LABEL)
            .chain_update(secret)
            .finalize();
        Ok(Credentials {
            identity,
            identity_bytes,
            psk: psk.into(),
            static_key: keypair.private.into(),
        })
    }

    pub fn node(&self) -> NodeId {
        self.identity.node
    }

    pub fn cluster(&self) -> &str {
        &self.identity.cluster
    }

    /// Where this node accepts peer connections.
    pub fn listen(&self) -> &str {
        &self.identity.listen
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("{size} bytes declared, over the limit of {max}")]
    TooLarge { size: usize, max: usize },
    #[error("a message exceeds the frame limit of {max} bytes")]
    FrameTooLarge { max: usize },
    #[error("cannot encode a frame: {0}")]
    Encode(#[source] postcard::Error),
    #[error("undecodable frame: {0}")]
    Decode(#[source] postcard::Error),
    #[error("empty frame (no version byte)")]
    Empty,
    #[error("a frame runs past the end of its record")]
    Truncated,
    #[error("peer speaks peer protocol version {0}, this node speaks {PEER_PROTOCOL_VERSION}")]
    Version(u8),
    #[error(
        "peer speaks peer protocol version 2 (the HMAC handshake), this node speaks \
         {PEER_PROTOCOL_VERSION} (Noise): upgrade every member (docs/security.md)"
    )]
    LegacyHandshake,
    #[error("not a dynamo peer: {0}")]
    NotAPeer(&'static str),
    #[error("peer lacks required capabilities {missing:#x}")]
    MissingCapabilities { missing: u64 },
    #[error("peer belongs to cluster {0:?}")]
    WrongCluster(String),
    #[error(
        "authentication failed: the peer does not hold the cluster secret, or the bytes \
         were altered, replayed or relayed"
    )]
    Authentication,
    #[error("the peer closed the connection in the handshake (does it hold the cluster secret?)")]
    ClosedInHandshake,
    #[error("this node's identity takes {size} bytes, over {max}: shorten the cluster name or the listen address")]
    IdentityTooLarge { size: usize, max: usize },
    #[error("noise: {0}")]
    Noise(#[source] snow::Error),
    #[error("handshake timed out")]
    Timeout,
    /// The peer at an address proved the secret but is another node than the one
    /// dialled (the address now belongs to a different member).
    #[error("expected {expected} at {address}, found {found}")]
    WrongNode {
        expected: NodeId,
        found: NodeId,
        address: String,
    },
}

impl PeerError {
    /// A refusal an operator should see: a peer of another version or cluster, or one
    /// that failed authentication (misconfiguration or an attack), as opposed to
    /// connections that merely dropped.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            PeerError::Version(_)
                | PeerError::LegacyHandshake
                | PeerError::MissingCapabilities { .. }
                | PeerError::WrongCluster(_)
                | PeerError::Authentication
                | PeerError::ClosedInHandshake
                | PeerError::WrongNode { .. }
        )
    }
}

/// Allows one event per interval (a log line), across tasks.
#[derive(Debug)]
struct Throttle {
    start: Instant,
    /// Milliseconds since `start` of the last allowed event, plus one (0: none yet).
    last: AtomicU64,
}

impl Throttle {
    fn new() -> Throttle {
        Throttle {
            start: Instant::now(),
            last: AtomicU64::new(0),
        }
    }

    fn allow(&self, interval: Duration) -> bool {
        let now = self.start.elapsed().as_millis() as u64 + 1;
        let last = self.last.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= interval.as_millis() as u64;
        due && self
            .last
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }
}

/// Bind the peer port (with [`ACCEPT_BACKLOG`]).
pub fn listen(address: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match address {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    // As `TcpListener::bind` does: a restarted node rebinds its port at once.
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(ACCEPT_BACKLOG)
}

/// Accept peer connections and feed their messages to the driver.
pub async fn serve(
    listener: TcpListener,
    credentials: Credentials,
    driver: DriverHandle,
    outbound: Outbound,
) {
    let unauthenticated = Arc::new(Semaphore::new(PREAUTH_CONNECTIONS_MAX));
    let throttle = Arc::new(Throttle::new());
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::debug!(%error, "peer accept failed");
                tokio::time::sleep(ACCEPT_RETRY).await;
                continue;
            }
        };
        let Ok(permit) = unauthenticated.clone().try_acquire_owned() else {
            if throttle.allow(WARN_INTERVAL) {
                let max = PREAUTH_CONNECTIONS_MAX;
                tracing::warn!(%remote, max, "too many unauthenticated peer connections; closing");
            }
            continue;
        };
        let (credentials, driver, outbound, throttle) = (
            credentials.clone(),
            driver.clone(),
            outbound.clone(),
            throttle.clone(),
        );
        tokio::spawn(async move {
            let received = receive(stream, &credentials, &driver, &outbound, permit).await;
            match received {
                Err(error) if error.is_refusal() && throttle.allow(WARN_INTERVAL) => {
                    tracing::warn!(%remote, %error, "peer refused");
                }
                Err(error) => tracing::debug!(%remote, %error, "peer connection closed"),
                Ok(()) => {}
            }
        });
    }
}

/// Authenticate an accepted connection, then hand every message it carries to the
/// driver. `permit` counts the connection as unauthenticated until its handshake ends.
async fn receive(
    mut stream: TcpStream,
    credentials: &Credentials,
    driver: &DriverHandle,
    outbound: &Outbound,
    permit: OwnedSemaphorePermit,
) -> Result<(), PeerError> {
    stream.set_nodelay(true)?;
    let handshake = noise::respond(&mut stream, credentials);
    let mut session = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake)
        .await
        .map_err(|_| PeerError::Timeout)??;
    drop(permit);
    let from = session.peer().node;
    outbound.learn(from, session.peer().listen.clone());
    // Buffered: a record's header and chunks arrive together; read them without a
    // system call each.
    let mut stream = BufReader::with_capacity(READ_BUFFER_BYTES, stream);
    let mut record = Vec::new();
    loop {
        let max = wire::RECORD_BYTES_MAX;
        session.open(&mut stream, &mut record, max).await?;
        for payload in wire::frames(&record) {
            let message: Message = decode_frame(payload?)?;
            if driver.input(Input::Peer { from, message }).await.is_err() {
                return Ok(());
            }
        }
        if record.capacity() > RECORD_RETAIN_BYTES {
            record = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests;
