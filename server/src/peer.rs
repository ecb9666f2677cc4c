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
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Peer protocol version, in every `Hello` and frame.
pub const PEER_PROTOCOL_VERSION: u8 = 2;
/// Largest frame, sent or received. It bounds what one frame from an authenticated
/// peer can make this node allocate, and must hold the largest message the core sends:
/// an anti-entropy `TreeSync` of `anti_entropy_keys_max` (default 256) whole keys,
/// bounded by key count only; 256 keys of one `VALUE_BYTES_MAX` (1 MiB) value each,
/// with their keys and clocks, come to about 260 MiB. (Transfer chunks are smaller:
/// the core cuts them at `TRANSFER_CHUNK_BYTES_MAX`, 8 MiB, or one key.) A larger
/// message, such as keys with many large siblings, is dropped at the sender like a
/// lost packet (see `write_queued`).
pub const FRAME_BYTES_MAX: usize = 300 * 1024 * 1024;
/// Largest handshake frame.
const HELLO_BYTES_MAX: usize = 4096;
/// Bytes of queued frames gathered into one write at most (a frame larger than this
/// is written alone).
const WRITE_BATCH_BYTES: usize = 256 * 1024;
/// Read buffer of a peer connection.
const READ_BUFFER_BYTES: usize = 64 * 1024;
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
    /// This node's peer address, told to every peer it connects to (so a peer that
    /// has not yet learnt it by gossip can answer: replies travel on the replier's
    /// own outbound connection).
    pub listen: String,
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
    listen: String,
    nonce: [u8; 16],
}

#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame of {size} bytes exceeds the limit of {max}")]
    TooLarge { size: usize, max: usize },
    #[error("cannot encode a frame: {0}")]
    Encode(#[source] postcard::Error),
    #[error("undecodable frame: {0}")]
    Decode(#[source] postcard::Error),
    #[error("empty frame (no version byte)")]
    Empty,
    #[error("peer speaks protocol version {0}, this node speaks {PEER_PROTOCOL_VERSION}")]
    Version(u8),
    #[error("peer belongs to cluster {0:?}")]
    WrongCluster(String),
    #[error("peer failed to prove the cluster secret")]
    BadProof,
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

/// Append one frame (length, version byte, postcard) to `out`.
pub fn encode_frame<T: Serialize>(value: &T, out: &mut Vec<u8>) -> Result<(), PeerError> {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.push(PEER_PROTOCOL_VERSION);
    let encoded = postcard::to_io(value, &mut *out).map(|_| ());
    let size = out.len() - start - 4;
    if let Err(error) = encoded {
        out.truncate(start);
        return Err(PeerError::Encode(error));
    }
    if size > FRAME_BYTES_MAX {
        out.truncate(start);
        return Err(PeerError::TooLarge {
            size,
            max: FRAME_BYTES_MAX,
        });
    }
    out[start..start + 4].copy_from_slice(&(size as u32).to_be_bytes());
    Ok(())
}

/// Write one frame.
pub async fn write_frame<T: Serialize>(stream: &mut TcpStream, value: &T) -> Result<(), PeerError> {
    let mut frame = Vec::new();
    encode_frame(value, &mut frame)?;
    stream.write_all(&frame).await?;
    Ok(())
}

/// Read one frame of at most `max` bytes.
pub async fn read_frame<T: for<'de> Deserialize<'de>, R: AsyncRead + Unpin>(
    stream: &mut R,
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
            postcard::from_bytes(body).map_err(PeerError::Decode)
        }
        Some((version, _)) => Err(PeerError::Version(*version)),
        None => Err(PeerError::Empty),
    }
}

/// The MAC a prover computes over the verifier's nonce and its own identity and
/// address (so neither can be altered in flight without the secret).
fn mac(credentials: &Credentials, nonce: &[u8; 16], prover: NodeId, listen: &str) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(&credentials.secret).expect("hmac takes any key length");
    mac.update(b"dynamo-peer-v2");
    mac.update(credentials.cluster.as_bytes());
    mac.update(nonce);
    mac.update(&prover.0.to_be_bytes());
    mac.update(&(listen.len() as u32).to_be_bytes());
    mac.update(listen.as_bytes());
    mac
}

fn proof(credentials: &Credentials, nonce: &[u8; 16]) -> Vec<u8> {
    let mac = mac(credentials, nonce, credentials.node, &credentials.listen);
    mac.finalize().into_bytes().to_vec()
}

fn verify(
    credentials: &Credentials,
    nonce: &[u8; 16],
    theirs: &Hello,
    claimed: &[u8],
) -> Result<(), PeerError> {
    let mac = mac(credentials, nonce, theirs.node, &theirs.listen);
    mac.verify_slice(claimed).map_err(|_| PeerError::BadProof)
}

fn fresh_nonce() -> [u8; 16] {
    let mut nonce = [0u8; 16];
    getrandom::getrandom(&mut nonce).expect("the os provides randomness");
    nonce
}

/// Both sides of the handshake; returns the authenticated peer id and address.
async fn handshake(
    stream: &mut TcpStream,
    credentials: &Credentials,
) -> Result<(NodeId, String), PeerError> {
    let exchange = async {
        let mine = Hello {
            version: PEER_PROTOCOL_VERSION,
            cluster: credentials.cluster.clone(),
            node: credentials.node,
            listen: credentials.listen.clone(),
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
        write_frame(stream, &proof(credentials, &theirs.nonce)).await?;
        let claimed: Vec<u8> = read_frame(stream, HELLO_BYTES_MAX).await?;
        verify(credentials, &mine.nonce, &theirs, &claimed)?;
        Ok((theirs.node, theirs.listen))
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, exchange)
        .await
        .map_err(|_| PeerError::Timeout)?
}

/// Accept peer connections and feed their messages to the driver.
pub async fn serve(
    listener: TcpListener,
    credentials: Credentials,
    driver: DriverHandle,
    outbound: Outbound,
) {
    loop {
        let Ok((stream, remote)) = listener.accept().await else {
            continue;
        };
        let (credentials, driver, outbound) =
            (credentials.clone(), driver.clone(), outbound.clone());
        tokio::spawn(async move {
            if let Err(error) = receive(stream, &credentials, &driver, &outbound).await {
                tracing::debug!(%remote, %error, "peer connection closed");
            }
        });
    }
}

async fn receive(
    mut stream: TcpStream,
    credentials: &Credentials,
    driver: &DriverHandle,
    outbound: &Outbound,
) -> Result<(), PeerError> {
    stream.set_nodelay(true)?;
    let (from, listen) = handshake(&mut stream, credentials).await?;
    outbound.learn(from, listen);
    // Buffered: a peer writes a batch's frames in one go; read them without a
    // system call per length prefix and per payload.
    let mut stream = BufReader::with_capacity(READ_BUFFER_BYTES, stream);
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
    /// Addresses from configuration (seeds) and from peers' handshakes, for peers the
    /// membership has no address of yet.
    known: Arc<Mutex<BTreeMap<NodeId, String>>>,
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
            known: Arc::new(Mutex::new(known)),
            queues: Arc::default(),
        }
    }

    /// Remember where an authenticated peer listens.
    pub fn learn(&self, node: NodeId, address: String) {
        if !address.is_empty() {
            let mut known = self.known.lock().expect("no panics while holding the lock");
            known.insert(node, address);
        }
    }

    /// Queue `message` for `to` (at `address`, else a configured one); drops it when
    /// the peer's queue is full or no address is known.
    pub fn send(&self, to: NodeId, address: Option<String>, message: Message) {
        let address = address.filter(|a| !a.is_empty()).or_else(|| {
            let known = self.known.lock().expect("no panics while holding the lock");
            known.get(&to).cloned()
        });
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
                let mut frames = Vec::new();
                while let Some(message) = queue.recv().await {
                    if let Err(error) =
                        write_queued(&mut stream, message, &mut queue, &mut frames).await
                    {
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

/// Write `first` and every message queued behind it (up to [`WRITE_BATCH_BYTES`]) in
/// one system call: a driver releases a batch's messages together. A message too large
/// to frame is dropped and counted as lost, like a dropped packet.
async fn write_queued(
    stream: &mut TcpStream,
    first: Message,
    queue: &mut mpsc::Receiver<Message>,
    frames: &mut Vec<u8>,
) -> Result<(), PeerError> {
    frames.clear();
    let mut next = Some(first);
    while let Some(message) = next.take() {
        if let Err(error) = encode_frame(&message, frames) {
            tracing::warn!(%error, "peer message not sent");
        }
        if frames.len() < WRITE_BATCH_BYTES {
            next = queue.try_recv().ok();
        }
    }
    stream.write_all(frames).await?;
    Ok(())
}

/// Connect from this node's own listen IP when it has a specific one, so a node's
/// traffic carries its address both ways (firewall rules and the fault-injection
/// tests partition nodes by address).
async fn dial(address: &str, listen: &str) -> std::io::Result<TcpStream> {
    let local: Option<std::net::SocketAddr> = listen.parse().ok();
    let remote = tokio::net::lookup_host(address)
        .await?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("{address} resolves to nothing")))?;
    let socket = match remote {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    if let Some(local) =
        local.filter(|l| !l.ip().is_unspecified() && l.is_ipv4() == remote.is_ipv4())
    {
        socket.bind(std::net::SocketAddr::new(local.ip(), 0))?;
    }
    socket.connect(remote).await
}

async fn connect(
    address: &str,
    credentials: &Credentials,
    peer: NodeId,
) -> Result<TcpStream, PeerError> {
    let mut stream = dial(address, &credentials.listen).await?;
    stream.set_nodelay(true)?;
    let (node, _) = handshake(&mut stream, credentials).await?;
    if node != peer {
        return Err(PeerError::WrongNode {
            expected: peer,
            found: node,
            address: address.to_string(),
        });
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
            listen: format!("127.0.0.1:{}", 7100 + node),
        }
    }

    /// Run a handshake between two endpoints; returns what each side concluded.
    async fn pair(
        a: Credentials,
        b: Credentials,
    ) -> (
        Result<(NodeId, String), PeerError>,
        Result<(NodeId, String), PeerError>,
    ) {
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
        // Each learns the other's id and where it listens.
        assert_eq!(a.unwrap(), (NodeId(2), "127.0.0.1:7102".to_string()));
        assert_eq!(b.unwrap(), (NodeId(1), "127.0.0.1:7101".to_string()));
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

    /// A dialled address answered by another member (it moved, or the address is
    /// reused) is refused, not taken for the node the messages are meant for.
    #[tokio::test]
    async fn a_peer_that_is_not_the_node_dialled_is_refused() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let impostor = credentials(3, "c", "s");
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let _ = handshake(&mut stream, &impostor).await;
        });
        let dialled = connect(&address, &credentials(1, "c", "s"), NodeId(2)).await;
        assert!(
            matches!(
                dialled,
                Err(PeerError::WrongNode {
                    expected: NodeId(2),
                    found: NodeId(3),
                    ..
                })
            ),
            "{dialled:?}"
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
            Err(PeerError::Empty)
        ));
        assert!(matches!(
            decode_frame::<Message>(&[PEER_PROTOCOL_VERSION, 0xff, 0xff, 0xff]),
            Err(PeerError::Decode(_))
        ));
    }

    fn ping(request: u64) -> Message {
        Message::Ping { request }
    }

    /// Everything queued behind the first message leaves in the same write, in order,
    /// and reads back frame by frame through the buffered reader.
    #[tokio::test]
    async fn queued_messages_are_written_together_and_read_back_in_order() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (sender, mut queue) = mpsc::channel(PEER_QUEUE_MAX);
        for request in 1..200 {
            sender.try_send(ping(request)).unwrap();
        }
        let mut stream = TcpStream::connect(address).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        let mut frames = Vec::new();
        write_queued(&mut stream, ping(0), &mut queue, &mut frames)
            .await
            .unwrap();
        assert!(queue.try_recv().is_err(), "the queue was drained");
        let mut each = Vec::new();
        for request in 0..200 {
            encode_frame(&ping(request), &mut each).unwrap();
        }
        assert_eq!(frames, each, "one buffer, every frame in order");
        let mut reader = BufReader::new(accepted);
        for request in 0..200 {
            let message: Message = read_frame(&mut reader, FRAME_BYTES_MAX).await.unwrap();
            assert_eq!(message, ping(request));
        }
    }

    /// A frame over the limit is refused without leaving a partial frame behind.
    #[test]
    fn an_oversized_frame_leaves_the_buffer_as_it_was() {
        let mut out = Vec::new();
        encode_frame(&ping(1), &mut out).unwrap();
        let before = out.clone();
        let huge = Message::Write {
            request: 2,
            partition: dynamo_core::types::PartitionId(0),
            key: vec![0; FRAME_BYTES_MAX + 1],
            siblings: dynamo_core::version::Siblings::new(),
            hint: None,
        };
        assert!(matches!(
            encode_frame(&huge, &mut out),
            Err(PeerError::TooLarge { .. })
        ));
        assert_eq!(out, before);
        let decoded: Message = decode_frame(&out[4..]).unwrap();
        assert_eq!(decoded, ping(1));
    }
}
