//! The peer wire format around the encryption: the plaintext hello that opens every
//! connection, the message frames that encrypted records carry, and the byte limits
//! of both.
//!
//! Hello: [`HELLO_BYTES`] bytes, sent by both sides before anything else, in the
//! clear: `u32` big-endian 13 (the bytes that follow), the protocol version byte,
//! [`HELLO_MAGIC`], and a `u64` big-endian capability set. Its first five bytes have
//! the shape every version of the protocol opened with (a length-prefixed frame whose
//! first byte is the version), so a node of any version reads a peer's version before
//! anything else and refuses a mismatch by name: a version-2 node logs "peer speaks
//! protocol version 3", and this one recognises a version-2 hello (the HMAC handshake)
//! and says so, instead of either failing on undecodable bytes.
//!
//! Frames: `u32` big-endian length, then the payload: the protocol version byte and a
//! postcard-encoded [`Message`](dynamo_core::message::Message). Several frames travel
//! in one encrypted record (see `noise`).
//!
//! Invariants:
//! - a hello is read in at most [`HELLO_BYTES`] bytes, whatever the peer sends;
//! - no frame payload exceeds [`FRAME_BYTES_MAX`], sent or received, and a received
//!   length is checked against it before its bytes are read;
//! - every size is derived from the core's limits, not chosen by hand.

use super::PeerError;
use dynamo_core::context::CONTEXT_BYTES_MAX;
use dynamo_core::merkle::MERKLE_LEAVES;
use dynamo_core::types::limits::{KEY_BYTES_MAX, SIBLINGS_MAX, VALUE_BYTES_MAX};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Peer protocol version: 3 is the Noise transport (2 was the HMAC handshake with
/// plaintext frames after it).
pub const PEER_PROTOCOL_VERSION: u8 = 3;
/// The version of the HMAC handshake, refused by name.
pub const LEGACY_HMAC_VERSION: u8 = 2;
/// Identifies a dynamo peer's hello after the version byte.
pub const HELLO_MAGIC: [u8; 4] = *b"DYNP";
/// A hello on the wire: length prefix, version, magic, capabilities.
pub const HELLO_BYTES: usize = 4 + 1 + HELLO_MAGIC.len() + 8;
/// The largest handshake frame a version-2 node sent (its `Hello`): a longer first
/// frame is not a dynamo peer of any version.
const LEGACY_HELLO_BYTES_MAX: usize = 4096;

/// The capabilities a hello announces, one bit each. Both hellos are bound into the
/// Noise handshake (its prologue), so an attacker on the path cannot remove one.
pub mod capability {
    /// The transport of version 3: `Noise_XXpsk3_25519_ChaChaPoly_BLAKE2s`.
    pub const NOISE_XXPSK3: u64 = 1;
    /// What this node offers.
    pub const OFFERED: u64 = NOISE_XXPSK3;
    /// What a peer must offer too.
    pub const REQUIRED: u64 = NOISE_XXPSK3;
}

/// Most bytes the core puts in one page of entries (a transfer chunk or an
/// anti-entropy page) before it cuts the page; at least one entry is always sent, so a
/// page may exceed this by one entry.
pub const PAGE_BYTES_MAX: usize = dynamo_core::transfer::TRANSFER_CHUNK_BYTES_MAX;
/// One sibling's bytes beside its value: its clock (at most the widest context) and
/// its dot and content tag.
const SIBLING_OVERHEAD_BYTES_MAX: usize = CONTEXT_BYTES_MAX + 32;
/// One key's entry at its largest: the key, `SIBLINGS_MAX` values of
/// `VALUE_BYTES_MAX` with their clocks, and the entry's own clock.
pub const ENTRY_BYTES_MAX: usize = KEY_BYTES_MAX
    + SIBLINGS_MAX * (VALUE_BYTES_MAX + SIBLING_OVERHEAD_BYTES_MAX)
    + CONTEXT_BYTES_MAX;
/// A message's bytes around its entries: ids, a partition, the Merkle leaves of an
/// anti-entropy page (three bytes each at most), the key it stopped after.
const ENVELOPE_BYTES_MAX: usize = KEY_BYTES_MAX + 3 * MERKLE_LEAVES + 1024;
/// Largest frame payload, sent or received: the largest message the core sends, a
/// page of entries cut at [`PAGE_BYTES_MAX`] plus the one entry that crossed it, in
/// its envelope (about 73.3 MiB). It is what one frame from an authenticated peer can
/// make this node hold. It assumes each sibling's clock fits the bytes the core's page
/// budget counts for it; a larger message is refused by the sender like a lost packet
/// (logged), never sent to be refused here.
pub const FRAME_BYTES_MAX: usize = PAGE_BYTES_MAX + ENTRY_BYTES_MAX + ENVELOPE_BYTES_MAX;
/// A frame's length prefix.
pub const FRAME_HEADER_BYTES: usize = 4;
// A page with its crossing entry fits a frame, and a record's length fits the `u32`
// of its header.
const _: () = assert!(FRAME_BYTES_MAX > PAGE_BYTES_MAX + SIBLINGS_MAX * VALUE_BYTES_MAX);
const _: () = assert!(RECORD_BYTES_MAX <= u32::MAX as usize);

/// Largest record plaintext: one maximal frame with its length prefix (a sender cuts
/// batches of smaller frames far below it, see `outbound`).
pub const RECORD_BYTES_MAX: usize = FRAME_HEADER_BYTES + FRAME_BYTES_MAX;

/// What a peer's hello says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello {
    pub version: u8,
    pub capabilities: u64,
}

impl Hello {
    /// This node's hello.
    pub fn ours() -> Hello {
        Hello {
            version: PEER_PROTOCOL_VERSION,
            capabilities: capability::OFFERED,
        }
    }

    pub fn encode(&self) -> [u8; HELLO_BYTES] {
        let mut out = [0u8; HELLO_BYTES];
        out[..4].copy_from_slice(&((HELLO_BYTES - 4) as u32).to_be_bytes());
        out[4] = self.version;
        out[5..9].copy_from_slice(&HELLO_MAGIC);
        out[9..].copy_from_slice(&self.capabilities.to_be_bytes());
        out
    }

    /// The capabilities both sides have, or the error naming those the peer lacks.
    pub fn agree(&self, theirs: &Hello) -> Result<u64, PeerError> {
        let missing = capability::REQUIRED & !theirs.capabilities;
        if missing != 0 {
            return Err(PeerError::MissingCapabilities { missing });
        }
        Ok(self.capabilities & theirs.capabilities)
    }
}

/// Read a peer's hello: its decoded form and its bytes (bound into the handshake).
/// Refuses another version by name as soon as its version byte arrives.
pub async fn read_hello<R: AsyncRead + Unpin>(
    stream: &mut R,
) -> Result<(Hello, [u8; HELLO_BYTES]), PeerError> {
    let mut raw = [0u8; HELLO_BYTES];
    stream.read_exact(&mut raw[..5]).await?;
    let length = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize;
    let version = raw[4];
    if length > LEGACY_HELLO_BYTES_MAX || length == 0 {
        return Err(PeerError::NotAPeer("no version prefix"));
    }
    if version == LEGACY_HMAC_VERSION {
        return Err(PeerError::LegacyHandshake);
    }
    if version != PEER_PROTOCOL_VERSION {
        return Err(PeerError::Version(version));
    }
    if length != HELLO_BYTES - 4 {
        return Err(PeerError::NotAPeer("a hello of the wrong size"));
    }
    stream.read_exact(&mut raw[5..]).await?;
    if raw[5..9] != HELLO_MAGIC {
        return Err(PeerError::NotAPeer("wrong magic"));
    }
    let capabilities = u64::from_be_bytes(raw[9..].try_into().expect("eight bytes"));
    let hello = Hello {
        version,
        capabilities,
    };
    Ok((hello, raw))
}

/// Append one frame (length, version byte, postcard) to `out`; on error `out` is left
/// as it was. Encoding stops as soon as the payload passes [`FRAME_BYTES_MAX`], so an
/// oversized message costs no more than the limit to refuse.
pub fn encode_frame<T: Serialize>(value: &T, out: &mut Vec<u8>) -> Result<(), PeerError> {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER_BYTES]);
    out.push(PEER_PROTOCOL_VERSION);
    let mut writer = Bounded {
        out: &mut *out,
        room: FRAME_BYTES_MAX - 1,
        overflowed: false,
    };
    let encoded = postcard::to_io(value, &mut writer).map(|_| ());
    let overflowed = writer.overflowed;
    if let Err(error) = encoded {
        out.truncate(start);
        if overflowed {
            let max = FRAME_BYTES_MAX;
            return Err(PeerError::FrameTooLarge { max });
        }
        return Err(PeerError::Encode(error));
    }
    let size = out.len() - start - FRAME_HEADER_BYTES;
    out[start..start + FRAME_HEADER_BYTES].copy_from_slice(&(size as u32).to_be_bytes());
    Ok(())
}

/// A writer into a `Vec` that refuses to grow it by more than `room` bytes.
struct Bounded<'a> {
    out: &'a mut Vec<u8>,
    room: usize,
    overflowed: bool,
}

impl std::io::Write for Bounded<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if bytes.len() > self.room {
            self.overflowed = true;
            return Err(std::io::Error::other("the frame limit"));
        }
        self.room -= bytes.len();
        self.out.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
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

/// The payloads of the frames in `record` (the plaintext of one encrypted record), in
/// order; an item is an error when a length runs past the record or the limit.
pub fn frames(record: &[u8]) -> impl Iterator<Item = Result<&[u8], PeerError>> {
    let mut rest = record;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let Some((length, after)) = rest.split_first_chunk::<FRAME_HEADER_BYTES>() else {
            rest = &[];
            return Some(Err(PeerError::Truncated));
        };
        let size = u32::from_be_bytes(*length) as usize;
        if size > FRAME_BYTES_MAX || size > after.len() {
            rest = &[];
            return Some(Err(PeerError::Truncated));
        }
        let (payload, next) = after.split_at(size);
        rest = next;
        Some(Ok(payload))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dynamo_core::message::Message;

    fn ping(request: u64) -> Message {
        Message::Ping { request }
    }

    #[test]
    fn the_frame_limit_is_a_page_plus_one_maximal_entry() {
        // 8 MiB, plus 64 values of 1 MiB with their clocks and one key: about 73.3 MiB,
        // where version 2 allowed 300 MiB.
        assert_eq!(FRAME_BYTES_MAX, 76_849_351);
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

    #[test]
    fn a_record_splits_back_into_its_frames() {
        let mut record = Vec::new();
        for request in 0..100 {
            encode_frame(&ping(request), &mut record).unwrap();
        }
        let decoded: Vec<Message> = frames(&record)
            .map(|payload| decode_frame(payload.unwrap()).unwrap())
            .collect();
        assert_eq!(decoded, (0..100).map(ping).collect::<Vec<_>>());
        // A length past the end of the record is an error, not a panic or a wait.
        record.truncate(record.len() - 1);
        assert!(matches!(
            frames(&record).last(),
            Some(Err(PeerError::Truncated))
        ));
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
            Err(PeerError::FrameTooLarge { .. })
        ));
        assert_eq!(out, before);
        let decoded: Message = decode_frame(&out[4..]).unwrap();
        assert_eq!(decoded, ping(1));
    }

    async fn hello_of(bytes: &[u8]) -> Result<Hello, PeerError> {
        let mut reader = bytes;
        read_hello(&mut reader).await.map(|(hello, _)| hello)
    }

    #[tokio::test]
    async fn hellos_name_the_version_they_refuse() {
        let ours = Hello::ours();
        assert_eq!(hello_of(&ours.encode()).await.unwrap(), ours);
        // A version-2 hello: a length-prefixed frame whose first byte is 2.
        let legacy = [0, 0, 0, 40, LEGACY_HMAC_VERSION, 4, b't'];
        assert!(matches!(
            hello_of(&legacy).await,
            Err(PeerError::LegacyHandshake)
        ));
        let mut future = ours.encode();
        future[4] = 4;
        assert!(matches!(
            hello_of(&future).await,
            Err(PeerError::Version(4))
        ));
        assert!(matches!(
            hello_of(b"GET / HTTP/1.1\r\n").await,
            Err(PeerError::NotAPeer(_))
        ));
        let mut magic = ours.encode();
        magic[6] = b'x';
        assert!(matches!(
            hello_of(&magic).await,
            Err(PeerError::NotAPeer(_))
        ));
    }

    #[test]
    fn a_peer_without_a_required_capability_is_refused() {
        let ours = Hello::ours();
        let lacking = Hello {
            version: PEER_PROTOCOL_VERSION,
            capabilities: 1 << 7,
        };
        assert!(matches!(
            ours.agree(&lacking),
            Err(PeerError::MissingCapabilities { missing: 1 })
        ));
        let richer = Hello {
            version: PEER_PROTOCOL_VERSION,
            capabilities: capability::OFFERED | 1 << 9,
        };
        assert_eq!(ours.agree(&richer).unwrap(), capability::OFFERED);
    }
}
