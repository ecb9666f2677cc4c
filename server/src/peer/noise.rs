//! The authenticated, encrypted channel between two nodes: a Noise
//! `XXpsk3_25519_ChaChaPoly_BLAKE2s` handshake keyed by the cluster secret, then
//! records of frames, each encrypted and authenticated with the session's keys.
//!
//! Handshake (after both hellos, see `wire`), dialer `I`, accepting node `R`:
//! 1. `I -> R: e` (no payload: nothing in it would be protected);
//! 2. `R -> I: e, ee, s, es` + `R`'s [`Identity`], encrypted but not yet proven;
//! 3. `I -> R: s, se, psk` + `I`'s identity: `R` decrypts it only if `I` holds the
//!    pre-shared key, so `R` now knows who `I` is;
//! 4. `R -> I`: an empty record under the session keys, which `I` decrypts only if `R`
//!    holds the key too; only then does `I` take `R`'s identity as proven.
//!
//! The Noise prologue binds both hellos (so neither's version nor capabilities can be
//! altered on the path), and the transcript binds both sides' ephemeral keys, so
//! messages relayed from another connection fail to decrypt.
//!
//! Records: a header, the plaintext length as a `u32` sealed in one Noise message
//! ([`RECORD_HEADER_BYTES`] on the wire), then the plaintext cut into Noise messages
//! of [`CHUNK_PLAINTEXT_MAX`] bytes (the last one shorter), each sealed in turn. The
//! header is authenticated before any of the body is read, and every message uses
//! the next nonce of its direction: a replayed, reordered, dropped or altered
//! message fails to decrypt, and the connection is closed.
//!
//! Invariants:
//! - no handshake message exceeds [`HANDSHAKE_MESSAGE_BYTES_MAX`], checked before it
//!   is read;
//! - a record's declared length is checked against the caller's limit before its body
//!   is read, and its plaintext buffer grows only as decrypted chunks arrive.

use super::wire::{self, Hello, HELLO_BYTES};
use super::{Credentials, PeerError};
use dynamo_core::types::NodeId;
use serde::{Deserialize, Serialize};
use snow::{HandshakeState, TransportState};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The Noise protocol of peer protocol version 3.
pub const NOISE_PARAMS: &str = "Noise_XXpsk3_25519_ChaChaPoly_BLAKE2s";
/// Names this protocol in the handshake's prologue, before both hellos.
const PROLOGUE_LABEL: &[u8] = b"dynamo peer transport v3";
/// Most bytes of a handshake message: two keys and tags and an [`Identity`].
pub const HANDSHAKE_MESSAGE_BYTES_MAX: usize = 1024;
/// Most bytes of an encoded [`Identity`], so it fits any handshake message.
pub const IDENTITY_BYTES_MAX: usize = 512;
/// Noise's largest message.
const NOISE_MESSAGE_BYTES_MAX: usize = 65_535;
/// The authentication tag ending each Noise message.
const TAG_BYTES: usize = 16;
/// Plaintext bytes of one record chunk: a full Noise message.
pub const CHUNK_PLAINTEXT_MAX: usize = NOISE_MESSAGE_BYTES_MAX - TAG_BYTES;
/// A record header on the wire: the sealed `u32` length.
pub const RECORD_HEADER_BYTES: usize = 4 + TAG_BYTES;

/// Who a node says it is, inside the handshake (encrypted, and bound to the session).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub cluster: String,
    pub node: NodeId,
    /// Where the node accepts peer connections.
    pub listen: String,
}

/// One authenticated connection's keys, after the handshake.
pub struct Session {
    transport: TransportState,
    peer: Identity,
    capabilities: u64,
    /// One chunk's ciphertext, read before it is decrypted.
    chunk: Vec<u8>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("Session")
            .field("peer", &self.peer)
            .field("capabilities", &self.capabilities)
            .finish_non_exhaustive()
    }
}

impl Session {
    fn new(transport: TransportState, peer: Identity, capabilities: u64) -> Session {
        Session {
            transport,
            peer,
            capabilities,
            chunk: Vec::new(),
        }
    }

    /// The authenticated peer.
    pub fn peer(&self) -> &Identity {
        &self.peer
    }

    /// The capabilities both sides announced.
    pub fn capabilities(&self) -> u64 {
        self.capabilities
    }

    /// Append `plaintext`, sealed as one record, to `out`.
    pub fn seal(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), PeerError> {
        self.seal_header(plaintext.len(), out)?;
        for chunk in plaintext.chunks(CHUNK_PLAINTEXT_MAX) {
            self.seal_chunk(chunk, out)?;
        }
        Ok(())
    }

    /// Seal `plaintext` as one record and write it, in pieces of about
    /// `piece_bytes` (so sealing a large record never holds all its ciphertext).
    pub async fn write_record<W: AsyncWrite + Unpin>(
        &mut self,
        stream: &mut W,
        plaintext: &[u8],
        wire: &mut Vec<u8>,
        piece_bytes: usize,
    ) -> Result<(), PeerError> {
        wire.clear();
        self.seal_header(plaintext.len(), wire)?;
        for chunk in plaintext.chunks(CHUNK_PLAINTEXT_MAX) {
            self.seal_chunk(chunk, wire)?;
            if wire.len() >= piece_bytes {
                stream.write_all(wire).await?;
                wire.clear();
            }
        }
        stream.write_all(wire).await?;
        Ok(())
    }

    /// Append a sealed record header declaring `length` bytes of body: what [`seal`]
    /// begins with. The caller owes the body; the fault tests use this to declare a
    /// length they never send.
    ///
    /// [`seal`]: Session::seal
    pub fn seal_header(&mut self, length: usize, out: &mut Vec<u8>) -> Result<(), PeerError> {
        let length = u32::try_from(length).map_err(|_| PeerError::TooLarge {
            size: length,
            max: u32::MAX as usize,
        })?;
        self.seal_chunk(&length.to_be_bytes(), out)
    }

    fn seal_chunk(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), PeerError> {
        let start = out.len();
        out.resize(start + chunk.len() + TAG_BYTES, 0);
        let written = self.transport.write_message(chunk, &mut out[start..]);
        let written = written.map_err(PeerError::Noise)?;
        out.truncate(start + written);
        Ok(())
    }

    /// Read one record into `plaintext` (replacing what it held). A record longer than
    /// `max` is refused before its body is read; the buffer grows chunk by chunk.
    pub async fn open<R: AsyncRead + Unpin>(
        &mut self,
        stream: &mut R,
        plaintext: &mut Vec<u8>,
        max: usize,
    ) -> Result<(), PeerError> {
        plaintext.clear();
        let mut header = [0u8; RECORD_HEADER_BYTES];
        stream.read_exact(&mut header).await?;
        let mut length = [0u8; RECORD_HEADER_BYTES];
        let read = self.transport.read_message(&header, &mut length);
        if read.map_err(authentication)? != 4 {
            return Err(PeerError::Truncated);
        }
        let size = u32::from_be_bytes([length[0], length[1], length[2], length[3]]) as usize;
        if size > max {
            return Err(PeerError::TooLarge { size, max });
        }
        self.chunk.resize(NOISE_MESSAGE_BYTES_MAX, 0);
        while plaintext.len() < size {
            let bytes = (size - plaintext.len()).min(CHUNK_PLAINTEXT_MAX);
            let sealed = &mut self.chunk[..bytes + TAG_BYTES];
            stream.read_exact(sealed).await?;
            let start = plaintext.len();
            plaintext.resize(start + bytes, 0);
            let opened = self.transport.read_message(sealed, &mut plaintext[start..]);
            opened.map_err(authentication)?;
        }
        Ok(())
    }
}

/// A failed decryption: the bytes were not sealed by the peer of this session (wrong
/// key, tampered, replayed or reordered).
fn authentication(error: snow::Error) -> PeerError {
    match error {
        snow::Error::Decrypt => PeerError::Authentication,
        other => PeerError::Noise(other),
    }
}

/// The dialer's side: hellos, the three handshake messages, the responder's proof.
pub async fn initiate<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    credentials: &Credentials,
) -> Result<Session, PeerError> {
    let (mut noise, capabilities) = negotiate(stream, credentials, Role::Initiator).await?;
    write_message(stream, &mut noise, &[]).await?;
    let claimed = read_message(stream, &mut noise).await?;
    let peer = identity(&claimed, credentials)?;
    write_message(stream, &mut noise, &credentials.identity_bytes).await?;
    let transport = noise.into_transport_mode().map_err(PeerError::Noise)?;
    let mut session = Session::new(transport, peer, capabilities);
    let mut proof = Vec::new();
    match session.open(stream, &mut proof, 0).await {
        Ok(()) => Ok(session),
        Err(PeerError::Io(error)) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err(PeerError::ClosedInHandshake)
        }
        Err(error) => Err(error),
    }
}

/// The accepting side: hellos, the three handshake messages, this node's proof.
pub async fn respond<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    credentials: &Credentials,
) -> Result<Session, PeerError> {
    let (mut noise, capabilities) = negotiate(stream, credentials, Role::Responder).await?;
    let first = read_message(stream, &mut noise).await?;
    if !first.is_empty() {
        return Err(PeerError::NotAPeer(
            "a payload in the first handshake message",
        ));
    }
    write_message(stream, &mut noise, &credentials.identity_bytes).await?;
    let claimed = read_message(stream, &mut noise).await?;
    let peer = identity(&claimed, credentials)?;
    let transport = noise.into_transport_mode().map_err(PeerError::Noise)?;
    let mut session = Session::new(transport, peer, capabilities);
    let mut proof = Vec::new();
    session.seal(&[], &mut proof)?;
    stream.write_all(&proof).await?;
    Ok(session)
}

/// Which side of the handshake this node plays.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Initiator,
    Responder,
}

/// Both sides' first steps: exchange hellos, agree on capabilities, and build the
/// handshake state over a prologue of both hellos (the dialer's first).
async fn negotiate<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    credentials: &Credentials,
    role: Role,
) -> Result<(snow::HandshakeState, u64), PeerError> {
    let ours = Hello::ours();
    let (theirs, their_bytes) = exchange_hellos(stream, &ours).await?;
    let capabilities = ours.agree(&theirs)?;
    let (dialer, listener) = match role {
        Role::Initiator => (ours.encode(), their_bytes),
        Role::Responder => (their_bytes, ours.encode()),
    };
    let prologue = prologue(&dialer, &listener);
    let builder = builder(credentials, &prologue)?;
    let noise = match role {
        Role::Initiator => builder.build_initiator(),
        Role::Responder => builder.build_responder(),
    };
    Ok((noise.map_err(PeerError::Noise)?, capabilities))
}

/// Send our hello, then read the peer's (both sides send first: no deadlock, as a
/// hello is far smaller than any socket buffer).
async fn exchange_hellos<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    ours: &Hello,
) -> Result<(Hello, [u8; HELLO_BYTES]), PeerError> {
    stream.write_all(&ours.encode()).await?;
    wire::read_hello(stream).await
}

fn prologue(initiator: &[u8; HELLO_BYTES], responder: &[u8; HELLO_BYTES]) -> Vec<u8> {
    [PROLOGUE_LABEL, initiator, responder].concat()
}

fn builder<'a>(
    credentials: &'a Credentials,
    prologue: &'a [u8],
) -> Result<snow::Builder<'a>, PeerError> {
    let params = NOISE_PARAMS.parse().map_err(PeerError::Noise)?;
    snow::Builder::new(params)
        .local_private_key(&credentials.static_key)
        .and_then(|b| b.psk(3, &credentials.psk))
        .and_then(|b| b.prologue(prologue))
        .map_err(PeerError::Noise)
}

/// The peer's identity from a handshake payload, checked against this cluster.
fn identity(payload: &[u8], credentials: &Credentials) -> Result<Identity, PeerError> {
    let peer: Identity = postcard::from_bytes(payload)
        .map_err(|_| PeerError::NotAPeer("an undecodable identity"))?;
    if peer.cluster != credentials.identity.cluster {
        return Err(PeerError::WrongCluster(peer.cluster));
    }
    Ok(peer)
}

/// Encode `identity`, refusing one too large for a handshake message.
pub fn encode_identity(identity: &Identity) -> Result<Vec<u8>, PeerError> {
    let bytes = postcard::to_allocvec(identity).map_err(PeerError::Encode)?;
    if bytes.len() > IDENTITY_BYTES_MAX {
        let (size, max) = (bytes.len(), IDENTITY_BYTES_MAX);
        return Err(PeerError::IdentityTooLarge { size, max });
    }
    Ok(bytes)
}

/// One handshake message: a `u16` big-endian length, then the message.
async fn write_message<S: AsyncWrite + Unpin>(
    stream: &mut S,
    noise: &mut HandshakeState,
    payload: &[u8],
) -> Result<(), PeerError> {
    let mut message = vec![0u8; 2 + HANDSHAKE_MESSAGE_BYTES_MAX];
    let written = noise.write_message(payload, &mut message[2..]);
    let written = written.map_err(PeerError::Noise)?;
    message[..2].copy_from_slice(&(written as u16).to_be_bytes());
    stream.write_all(&message[..2 + written]).await?;
    Ok(())
}

/// Read one handshake message; its decrypted payload.
async fn read_message<S: AsyncRead + Unpin>(
    stream: &mut S,
    noise: &mut HandshakeState,
) -> Result<Vec<u8>, PeerError> {
    let mut length = [0u8; 2];
    stream.read_exact(&mut length).await?;
    let size = usize::from(u16::from_be_bytes(length));
    if size > HANDSHAKE_MESSAGE_BYTES_MAX {
        let max = HANDSHAKE_MESSAGE_BYTES_MAX;
        return Err(PeerError::TooLarge { size, max });
    }
    let mut message = vec![0u8; size];
    stream.read_exact(&mut message).await?;
    let mut payload = vec![0u8; HANDSHAKE_MESSAGE_BYTES_MAX];
    let read = noise.read_message(&message, &mut payload);
    let read = read.map_err(authentication)?;
    payload.truncate(read);
    Ok(payload)
}
