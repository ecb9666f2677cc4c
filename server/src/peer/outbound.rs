//! The sending side of the peer transport: one queue and one connection task per peer.
//!
//! The driver thread encodes each message into a frame as it sends it, so a queue
//! knows its size in bytes; the peer's task seals queued frames into records and
//! writes them. The task dials the peer's *current* address at every (re)connect, and
//! a send naming a new address for a peer moves its queue there: a member that
//! restarts at another address is re-dialled there once gossip says so.
//!
//! Invariants:
//! - a peer's queue holds at most [`PEER_QUEUE_BYTES_MAX`] bytes of frames (each
//!   counted with [`QUEUE_ENTRY_OVERHEAD_BYTES`]), or one larger frame when it is
//!   otherwise empty; past it, sends are dropped (message loss, which the protocol
//!   tolerates);
//! - a record carries either frames of less than [`WRITE_BATCH_BYTES`] each, adding
//!   up to less than twice that, or one larger frame sealed straight from its buffer:
//!   a record never exceeds [`RECORD_BYTES_MAX`](super::wire::RECORD_BYTES_MAX), and a task holds at most one
//!   batch and [`WRITE_BATCH_BYTES`] of ciphertext besides the frame it writes;
//! - frames queued while a peer was unreachable are dropped when the task gives up
//!   on a connection (they are stale).

use super::noise::{self, Session};
use super::wire::encode_frame;
use super::{Credentials, PeerError, HANDSHAKE_TIMEOUT};
use dynamo_core::message::Message;
use dynamo_core::types::NodeId;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify};

/// Bytes of frames queued per peer while its connection is down or slow.
pub const PEER_QUEUE_BYTES_MAX: usize = 64 * 1024 * 1024;
/// What a queued frame costs beside its bytes (its buffer's header and queue slot),
/// so a queue of tiny frames is bounded in memory too.
pub const QUEUE_ENTRY_OVERHEAD_BYTES: usize = 64;
/// Frames gathered into one record and one write, at most (a larger frame travels
/// alone).
pub const WRITE_BATCH_BYTES: usize = 256 * 1024;
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// The sending side: one queue and connection task per peer.
#[derive(Clone, Debug)]
pub struct Outbound {
    credentials: Credentials,
    runtime: tokio::runtime::Handle,
    /// Addresses from configuration (seeds) and from peers' handshakes, for peers the
    /// membership has no address of yet.
    known: Arc<Mutex<BTreeMap<NodeId, String>>>,
    links: Arc<Mutex<BTreeMap<NodeId, Link>>>,
}

/// One peer's queue, as the senders see it.
#[derive(Debug)]
struct Link {
    frames: mpsc::UnboundedSender<Vec<u8>>,
    state: Arc<LinkState>,
}

/// What a peer's senders and its connection task share.
#[derive(Debug)]
struct LinkState {
    /// Bytes queued and not yet taken by the task (each frame with its overhead).
    queued: AtomicUsize,
    address: Mutex<String>,
    /// Bumped at each change of `address`.
    generation: AtomicU64,
    /// Woken at each change of `address`, to cut a reconnect backoff short.
    retargeted: Notify,
}

impl LinkState {
    fn new(address: String) -> LinkState {
        LinkState {
            queued: AtomicUsize::new(0),
            address: Mutex::new(address),
            generation: AtomicU64::new(0),
            retargeted: Notify::new(),
        }
    }

    /// The address to dial now, with its generation.
    fn target(&self) -> (String, u64) {
        let address = self
            .address
            .lock()
            .expect("no panics while holding the lock");
        (address.clone(), self.generation.load(Ordering::Acquire))
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Take `address` for `peer` if it is new; whether it was.
    fn retarget(&self, peer: NodeId, address: &str) -> bool {
        let mut current = self
            .address
            .lock()
            .expect("no panics while holding the lock");
        if *current == address {
            return false;
        }
        tracing::debug!(%peer, from = %current, to = %address, "peer address changed; redialling");
        *current = address.to_string();
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.retargeted.notify_one();
        true
    }

    /// Count `cost` bytes in, unless the queue is full: it takes a frame while under
    /// its limit, and any one frame when empty.
    fn admit(&self, cost: usize) -> bool {
        let before = self.queued.fetch_add(cost, Ordering::AcqRel);
        if before == 0 || before + cost <= PEER_QUEUE_BYTES_MAX {
            return true;
        }
        self.queued.fetch_sub(cost, Ordering::AcqRel);
        false
    }

    fn release(&self, frame: &[u8]) {
        self.queued.fetch_sub(cost(frame), Ordering::AcqRel);
    }
}

fn cost(frame: &[u8]) -> usize {
    frame.len() + QUEUE_ENTRY_OVERHEAD_BYTES
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
            links: Arc::default(),
        }
    }

    /// Remember where an authenticated peer listens (used while the membership has no
    /// address for it).
    pub fn learn(&self, node: NodeId, address: String) {
        if !address.is_empty() {
            let mut known = self.known.lock().expect("no panics while holding the lock");
            known.insert(node, address);
        }
    }

    /// Queue `message` for `to` at `address` (the membership's; else a known one);
    /// dropped when the peer's queue is full, no address is known, or it cannot be
    /// framed.
    pub fn send(&self, to: NodeId, address: Option<String>, message: Message) {
        let mut frame = Vec::new();
        if let Err(error) = encode_frame(&message, &mut frame) {
            tracing::warn!(peer = %to, %error, "peer message not sent");
            return;
        }
        let address = address.filter(|a| !a.is_empty()).or_else(|| {
            let known = self.known.lock().expect("no panics while holding the lock");
            known.get(&to).cloned()
        });
        let mut links = self.links.lock().expect("no panics while holding the lock");
        let open = links.get(&to).is_some_and(|link| !link.frames.is_closed());
        match address {
            Some(address) if !open => {
                let link = self.open_link(to, address);
                links.insert(to, link);
            }
            Some(address) => {
                links[&to].state.retarget(to, &address);
            }
            None if !open => {
                tracing::debug!(peer = %to, "no address for peer; message dropped");
                return;
            }
            None => {}
        }
        let link = &links[&to];
        if !link.state.admit(cost(&frame)) {
            tracing::debug!(peer = %to, "peer queue full; message dropped");
            return;
        }
        if let Err(mpsc::error::SendError(frame)) = link.frames.send(frame) {
            link.state.release(&frame);
        }
    }

    fn open_link(&self, peer: NodeId, address: String) -> Link {
        let (frames, queue) = mpsc::unbounded_channel();
        let state = Arc::new(LinkState::new(address));
        let task = connect_loop(peer, state.clone(), self.credentials.clone(), queue);
        self.runtime.spawn(task);
        Link { frames, state }
    }
}

/// How a connection's sending ended.
enum Pumped {
    /// Every sender is gone: the node is shutting down.
    Closed,
    /// The peer's address changed: dial the new one now.
    Retarget,
    Failed(PeerError),
}

async fn connect_loop(
    peer: NodeId,
    state: Arc<LinkState>,
    credentials: Credentials,
    mut queue: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    let mut backoff = BACKOFF_MIN;
    // A frame taken from the queue but not sent when the address changed.
    let mut carried = None;
    loop {
        let (address, generation) = state.target();
        match connect(&address, &credentials, peer).await {
            Ok((stream, session)) => {
                backoff = BACKOFF_MIN;
                let mut writer = Writer::new(stream, session);
                match writer
                    .pump(&mut queue, &state, generation, &mut carried)
                    .await
                {
                    Pumped::Closed => return,
                    Pumped::Retarget => continue,
                    Pumped::Failed(error) => {
                        tracing::debug!(%peer, %error, "peer write failed; reconnecting");
                    }
                }
            }
            Err(error) if error.is_refusal() => {
                tracing::warn!(%peer, %address, %error, "peer connect refused");
            }
            Err(error) => tracing::debug!(%peer, %address, %error, "peer connect failed"),
        }
        if queue.is_closed() {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => backoff = (backoff * 2).min(BACKOFF_MAX),
            () = state.retargeted.notified() => backoff = BACKOFF_MIN,
        }
        // Frames queued while the peer was unreachable are stale; drop them as loss.
        carried = None;
        while let Ok(frame) = queue.try_recv() {
            state.release(&frame);
        }
    }
}

/// One authenticated connection's sending half, with its reusable buffers.
struct Writer {
    stream: TcpStream,
    session: Session,
    /// Small frames gathered into one record.
    batch: Vec<u8>,
    /// Ciphertext waiting to be written.
    wire: Vec<u8>,
}

impl Writer {
    fn new(stream: TcpStream, session: Session) -> Writer {
        Writer {
            stream,
            session,
            batch: Vec::new(),
            wire: Vec::new(),
        }
    }

    /// Send queued frames until the queue closes, a write fails or the peer's address
    /// changes (checked before each batch).
    async fn pump(
        &mut self,
        queue: &mut mpsc::UnboundedReceiver<Vec<u8>>,
        state: &LinkState,
        generation: u64,
        carried: &mut Option<Vec<u8>>,
    ) -> Pumped {
        loop {
            let first = match carried.take() {
                Some(frame) => frame,
                None => match queue.recv().await {
                    Some(frame) => {
                        state.release(&frame);
                        frame
                    }
                    None => return Pumped::Closed,
                },
            };
            if state.generation() != generation {
                *carried = Some(first);
                return Pumped::Retarget;
            }
            if let Err(error) = self.write_batch(first, queue, state).await {
                return Pumped::Failed(error);
            }
        }
    }

    /// Write `first` and every frame queued behind it: small frames gathered into
    /// records of up to [`WRITE_BATCH_BYTES`] (a driver releases a batch's messages
    /// together: one record, one system call), a larger frame in a record of its own.
    async fn write_batch(
        &mut self,
        first: Vec<u8>,
        queue: &mut mpsc::UnboundedReceiver<Vec<u8>>,
        state: &LinkState,
    ) -> Result<(), PeerError> {
        self.batch.clear();
        let mut next = Some(first);
        while let Some(frame) = next.take() {
            if frame.len() >= WRITE_BATCH_BYTES {
                self.flush().await?;
                let (session, stream) = (&mut self.session, &mut self.stream);
                session
                    .write_record(stream, &frame, &mut self.wire, WRITE_BATCH_BYTES)
                    .await?;
            } else {
                self.batch.extend_from_slice(&frame);
            }
            if self.batch.len() < WRITE_BATCH_BYTES {
                next = queue.try_recv().ok();
                next.iter().for_each(|frame| state.release(frame));
            }
        }
        self.flush().await?;
        if self.wire.capacity() > 2 * WRITE_BATCH_BYTES {
            self.wire = Vec::new();
        }
        Ok(())
    }

    /// Write the gathered small frames as one record.
    async fn flush(&mut self) -> Result<(), PeerError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let (session, stream) = (&mut self.session, &mut self.stream);
        session
            .write_record(stream, &self.batch, &mut self.wire, WRITE_BATCH_BYTES)
            .await?;
        self.batch.clear();
        Ok(())
    }
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

/// Dial `peer` at `address` and authenticate it, within [`HANDSHAKE_TIMEOUT`].
pub async fn connect(
    address: &str,
    credentials: &Credentials,
    peer: NodeId,
) -> Result<(TcpStream, Session), PeerError> {
    let handshake = async {
        let mut stream = dial(address, credentials.listen()).await?;
        stream.set_nodelay(true)?;
        let session = noise::initiate(&mut stream, credentials).await?;
        Ok::<_, PeerError>((stream, session))
    };
    let (stream, session) = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake)
        .await
        .map_err(|_| PeerError::Timeout)??;
    let found = session.peer().node;
    if found != peer {
        return Err(PeerError::WrongNode {
            expected: peer,
            found,
            address: address.to_string(),
        });
    }
    Ok((stream, session))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_is_bounded_in_bytes_but_takes_one_large_frame_when_empty() {
        let state = LinkState::new("127.0.0.1:1".into());
        let frame = vec![0u8; 1024 * 1024 - QUEUE_ENTRY_OVERHEAD_BYTES];
        let admitted = (0..100).take_while(|_| state.admit(cost(&frame))).count();
        assert_eq!(admitted, PEER_QUEUE_BYTES_MAX / (1024 * 1024));
        assert_eq!(state.queued.load(Ordering::Acquire), PEER_QUEUE_BYTES_MAX);
        // Small frames too are refused once full.
        assert!(!state.admit(cost(&[1])));
        for _ in 0..admitted {
            state.release(&frame);
        }
        assert_eq!(state.queued.load(Ordering::Acquire), 0);
        // An empty queue takes one frame past the limit (the largest frame exceeds the
        // queue's size), and nothing after it.
        let huge = 2 * PEER_QUEUE_BYTES_MAX;
        assert!(state.admit(huge));
        assert!(!state.admit(cost(&[1])));
    }

    #[test]
    fn a_new_address_bumps_the_generation_once() {
        let state = LinkState::new("127.0.0.1:1".into());
        assert!(!state.retarget(NodeId(2), "127.0.0.1:1"));
        assert!(state.retarget(NodeId(2), "127.0.0.1:2"));
        assert!(!state.retarget(NodeId(2), "127.0.0.1:2"));
        assert_eq!(state.target(), ("127.0.0.1:2".to_string(), 1));
    }
}
