//! Peer transport: authenticated, length-prefixed frames over persistent TCP.
//!
//! Each node keeps one outbound connection per peer, used only to send; messages from
//! a peer arrive on the connection that peer opened. A connection starts with a
//! handshake: both sides send `Hello` (protocol version, cluster name, node id, a fresh
//! nonce), then each proves it knows the cluster secret with an HMAC-SHA256 over the
//! other side's nonce. A process without the secret cannot join or inject replicas; a
//! replayed handshake fails because nonces are fresh.
//!
//! Frames are `u32` big-endian length + payload, payload = format version byte +
//! postcard. Frames above `FRAME_BYTES_MAX` close the connection. A send to a peer that
//! is down or saturated is dropped, which the protocol treats as message loss.

use crate::driver::DriverHandle;
use dynamo_core::message::{Input, Message};
use dynamo_core::types::NodeId;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Peer protocol version, in every `Hello` and frame.
pub const PEER_PROTOCOL_VERSION: u8 = 1;
/// Largest frame: a transfer chunk of `transfer_chunk_keys` maximal values must fit.
pub const FRAME_BYTES_MAX: usize = 300 * 1024 * 1024;
/// Largest handshake frame.
const HELLO_BYTES_MAX: usize = 4096;
/// Messages queued per peer while its connection is down or slow; past it, dropped.
pub const PEER_QUEUE_MAX: usize = 4096;
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Who may talk to whom.
#[derive(Clone)]
pub struct Credentials {
    pub cluster: String,
    pub secret: Vec<u8>,
    pub node: NodeId,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("Credentials")
            .field("cluster", &self.cluster)
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize, Deserialize)]
struct Hello {
    version: u8,
    cluster: String,
    node: NodeId,
    nonce: [u8; 16],
}

#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame of {size} bytes exceeds the limit of {max}")]
    TooLarge { size: usize, max: usize },
    #[error("undecodable frame: {0}")]
    Decode(String),
    #[error("peer speaks protocol version {0}, this node speaks {PEER_PROTOCOL_VERSION}")]
    Version(u8),
    #[error("peer belongs to cluster {0:?}")]
    WrongCluster(String),
    #[error("peer failed to prove the cluster secret")]
    BadProof,
    #[error("handshake timed out")]
    Timeout,
}

/// Write one frame.
pub async fn write_frame<T: Serialize>(stream: &mut TcpStream, value: &T) -> Result<(), PeerError> {
    let mut payload = vec![PEER_PROTOCOL_VERSION];
    payload.extend(postcard::to_allocvec(value).map_err(|e| PeerError::Decode(e.to_string()))?);
    if payload.len() > FRAME_BYTES_MAX {
        return Err(PeerError::TooLarge {
            size: payload.len(),
            max: FRAME_BYTES_MAX,
        });
    }
    stream
        .write_all(&(payload.len() as u32).to_be_bytes())
        .await?;
    stream.write_all(&payload).await?;
    Ok(())
}

/// Read one frame of at most `max` bytes.
pub async fn read_frame<T: for<'de> Deserialize<'de>>(
    stream: &mut TcpStream,
    max: usize,
) -> Result<T, PeerError> {
    let mut length = [0u8; 4];
    stream.read_exact(&mut length).await?;
    let size = u32::from_be_bytes(length) as usize;
    if size > max {
        return Err(PeerError::TooLarge { size, max });
    }
    let mut payload = vec![0u8; size];
    stream.read_exact(&mut payload).await?;
    decode_frame(&payload)
}

/// Decode a frame payload (version byte + postcard).
pub fn decode_frame<T: for<'de> Deserialize<'de>>(payload: &[u8]) -> Result<T, PeerError> {
    match payload.split_first() {
        Some((&PEER_PROTOCOL_VERSION, body)) => {
            postcard::from_bytes(body).map_err(|e| PeerError::Decode(e.to_string()))
        }
        Some((version, _)) => Err(PeerError::Version(*version)),
        None => Err(PeerError::Decode("empty frame".into())),
    }
}

fn proof(credentials: &Credentials, nonce: &[u8; 16], prover: NodeId) -> Vec<u8> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(&credentials.secret).expect("hmac takes any key length");
    mac.update(b"dynamo-peer-v1");
    mac.update(credentials.cluster.as_bytes());
    mac.update(nonce);
    mac.update(&prover.0.to_be_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn verify(
    credentials: &Credentials,
    nonce: &[u8; 16],
    prover: NodeId,
    claimed: &[u8],
) -> Result<(), PeerError> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(&credentials.secret).expect("hmac takes any key length");
    mac.update(b"dynamo-peer-v1");
    mac.update(credentials.cluster.as_bytes());
    mac.update(nonce);
    mac.update(&prover.0.to_be_bytes());
    mac.verify_slice(claimed).map_err(|_| PeerError::BadProof)
}

fn fresh_nonce() -> [u8; 16] {
    let mut nonce = [0u8; 16];
    getrandom::getrandom(&mut nonce).expect("the os provides randomness");
    nonce
}

/// Both sides of the handshake; returns the authenticated peer id.
async fn handshake(stream: &mut TcpStream, credentials: &Credentials) -> Result<NodeId, PeerError> {
    let exchange = async {
        let mine = Hello {
            version: PEER_PROTOCOL_VERSION,
            cluster: credentials.cluster.clone(),
            node: credentials.node,
            nonce: fresh_nonce(),
        };
        write_frame(stream, &mine).await?;
        let theirs: Hello = read_frame(stream, HELLO_BYTES_MAX).await?;
        if theirs.version != PEER_PROTOCOL_VERSION {
            return Err(PeerError::Version(theirs.version));
        }
        if theirs.cluster != credentials.cluster {
            return Err(PeerError::WrongCluster(theirs.cluster));
        }
        write_frame(stream, &proof(credentials, &theirs.nonce, credentials.node)).await?;
        let claimed: Vec<u8> = read_frame(stream, HELLO_BYTES_MAX).await?;
        verify(credentials, &mine.nonce, theirs.node, &claimed)?;
        Ok(theirs.node)
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, exchange)
        .await
        .map_err(|_| PeerError::Timeout)?
}

/// Accept peer connections and feed their messages to the driver.
pub async fn serve(listener: TcpListener, credentials: Credentials, driver: DriverHandle) {
    loop {
        let Ok((stream, remote)) = listener.accept().await else {
            continue;
        };
        let (credentials, driver) = (credentials.clone(), driver.clone());
        tokio::spawn(async move {
            if let Err(error) = receive(stream, &credentials, &driver).await {
                tracing::debug!(%remote, %error, "peer connection closed");
            }
        });
    }
}

async fn receive(
    mut stream: TcpStream,
    credentials: &Credentials,
    driver: &DriverHandle,
) -> Result<(), PeerError> {
    stream.set_nodelay(true)?;
    let from = handshake(&mut stream, credentials).await?;
    loop {
        let message: Message = read_frame(&mut stream, FRAME_BYTES_MAX).await?;
        if driver.input(Input::Peer { from, message }).await.is_err() {
            return Ok(());
        }
    }
}

/// The sending side: one queue and connection task per peer.
#[derive(Clone, Debug)]
pub struct Outbound {
    credentials: Credentials,
    runtime: tokio::runtime::Handle,
    /// Addresses learnt from configuration (seeds) when membership has none yet.
    known: Arc<BTreeMap<NodeId, String>>,
    queues: Arc<Mutex<BTreeMap<NodeId, mpsc::Sender<Message>>>>,
}

impl Outbound {
    pub fn new(
        credentials: Credentials,
        runtime: tokio::runtime::Handle,
        known: BTreeMap<NodeId, String>,
    ) -> Self {
        Self {
            credentials,
            runtime,
            known: Arc::new(known),
            queues: Arc::default(),
        }
    }

    /// Queue `message` for `to` (at `address`, else a configured one); drops it when
    /// the peer's queue is full or no address is known.
    pub fn send(&self, to: NodeId, address: Option<String>, message: Message) {
        let address = address
            .filter(|a| !a.is_empty())
            .or_else(|| self.known.get(&to).cloned());
        let mut queues = self
            .queues
            .lock()
            .expect("no panics while holding the lock");
        let queue = match queues.get(&to) {
            Some(queue) if !queue.is_closed() => queue.clone(),
            _ => {
                let Some(address) = address else {
                    tracing::debug!(peer = %to, "no address for peer; message dropped");
                    return;
                };
                let (tx, rx) = mpsc::channel(PEER_QUEUE_MAX);
                self.runtime
                    .spawn(connect_loop(to, address, self.credentials.clone(), rx));
                queues.insert(to, tx.clone());
                tx
            }
        };
        if queue.try_send(message).is_err() {
            tracing::debug!(peer = %to, "peer queue full; message dropped");
        }
    }
}

async fn connect_loop(
    peer: NodeId,
    address: String,
    credentials: Credentials,
    mut queue: mpsc::Receiver<Message>,
) {
    let mut backoff = BACKOFF_MIN;
    loop {
        match connect(&address, &credentials, peer).await {
            Ok(mut stream) => {
                backoff = BACKOFF_MIN;
                while let Some(message) = queue.recv().await {
                    if let Err(error) = write_frame(&mut stream, &message).await {
                        tracing::debug!(%peer, %error, "peer write failed; reconnecting");
                        break;
                    }
                }
                if queue.is_closed() && queue.is_empty() {
                    return;
                }
            }
            Err(error) => tracing::debug!(%peer, %address, %error, "peer connect failed"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
        // Messages queued while the peer was unreachable are stale; drop them as loss.
        while queue.try_recv().is_ok() {}
    }
}

async fn connect(
    address: &str,
    credentials: &Credentials,
    peer: NodeId,
) -> Result<TcpStream, PeerError> {
    let mut stream = TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    let node = handshake(&mut stream, credentials).await?;
    if node != peer {
        return Err(PeerError::Decode(format!(
            "expected {peer} at {address}, found {node}"
        )));
    }
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(node: u32, cluster: &str, secret: &str) -> Credentials {
        Credentials {
            cluster: cluster.into(),
            secret: secret.as_bytes().to_vec(),
            node: NodeId(node),
        }
    }

    /// Run a handshake between two endpoints; returns what each side concluded.
    async fn pair(
        a: Credentials,
        b: Credentials,
    ) -> (Result<NodeId, PeerError>, Result<NodeId, PeerError>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let accept = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            handshake(&mut stream, &b).await
        });
        let mut stream = TcpStream::connect(address).await.unwrap();
        let dialer = handshake(&mut stream, &a).await;
        drop(stream);
        (dialer, accept.await.unwrap())
    }

    #[tokio::test]
    async fn peers_with_the_secret_authenticate_each_other() {
        let (a, b) = pair(credentials(1, "c", "s"), credentials(2, "c", "s")).await;
        assert_eq!(a.unwrap(), NodeId(2));
        assert_eq!(b.unwrap(), NodeId(1));
    }

    #[tokio::test]
    async fn a_peer_without_the_secret_is_refused() {
        let (a, b) = pair(credentials(1, "c", "wrong"), credentials(2, "c", "s")).await;
        assert!(matches!(a, Err(PeerError::BadProof)), "{a:?}");
        assert!(b.is_err(), "the honest side refuses too: {b:?}");
    }

    #[tokio::test]
    async fn a_peer_of_another_cluster_is_refused() {
        let (a, _) = pair(credentials(1, "other", "s"), credentials(2, "c", "s")).await;
        assert!(
            matches!(a, Err(PeerError::WrongCluster(ref name)) if name == "c"),
            "{a:?}"
        );
    }

    #[test]
    fn frames_reject_unknown_versions_and_garbage() {
        assert!(matches!(
            decode_frame::<Message>(&[9, 0, 0]),
            Err(PeerError::Version(9))
        ));
        assert!(matches!(
            decode_frame::<Message>(&[]),
            Err(PeerError::Decode(_))
        ));
        assert!(matches!(
            decode_frame::<Message>(&[PEER_PROTOCOL_VERSION, 0xff, 0xff, 0xff]),
            Err(PeerError::Decode(_))
        ));
    }
}
