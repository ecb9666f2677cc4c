//! Opaque contexts (Dynamo §4.4): the causal context a get returns with its siblings
//! and a put carries back, as bytes and as text.
//!
//! A [`Context`] is the version vector of what a client had seen (the clock of the
//! sibling set its get read, [`crate::version::Siblings::context`]). Clients must not
//! look inside: the server hands it out as text (RESP, the `X-Dynamo-Context` HTTP
//! header) and takes it back unchanged. This module owns that codec; sibling logic is
//! in [`crate::version`], which re-exports [`Context`] and [`ContextError`].
//!
//! # Wire format (version 1)
//! ```text
//! format      u8 = 1
//! entries     postcard `Vec<(u32, u32, u64)>`: a varint count, at most
//!             CLOCK_ENTRIES_MAX, then per entry (node, incarnation, counter), each a
//!             varint; strictly increasing by (node, incarnation), counter > 0
//! checksum    4 bytes: the first 4 bytes of MD5 over everything before it
//! ```
//! Varints are postcard's: unsigned LEB128, 7 bits a byte, least significant first.
//! Decoding also demands the shortest varint (postcard's decoder accepts overlong
//! ones, its encoder never writes them), so every context has exactly one encoding
//! and `encode(decode(bytes)) == bytes`. The text form is that encoding in base64url
//! without padding (RFC 4648 §5), decoded strictly (no padding, no unused bits set),
//! so it is canonical too. The format byte comes first so that a later format (an
//! authenticated one, say) can be told apart; decoding refuses any other value.
//!
//! # Limits
//! - at most `limits::CLOCK_ENTRIES_MAX` (1024) entries: more is `TooManyEntries`;
//! - at most [`CONTEXT_BYTES_MAX`] (20,487) bytes, every entry at its widest varints,
//!   and [`CONTEXT_TEXT_MAX`] (27,316) characters of text: longer input is refused
//!   before it is read;
//! - the shortest context, the empty one, is 6 bytes (8 characters);
//! - decoding never panics and allocates room for at most `CLOCK_ENTRIES_MAX` entries,
//!   whatever count the input claims.
//!
//! A clock over `CLOCK_ENTRIES_MAX` entries (only a merge of replicas can grow one)
//! still encodes, and decoding refuses it: such a key refuses client puts anyway
//! ([`crate::version::VersionError::ClockTooLarge`]).
//!
//! # Trust
//! A context comes back from clients and is trusted, as in the paper (Dynamo runs in a
//! trusted, non-hostile environment, §2.1). Its checksum catches corruption (a cut
//! header, a flipped bit), not forgery: anyone can compute it. A forged context can
//! (a) claim to have seen siblings its writer never read, so the put silently
//! supersedes them (a lost update); (b) claim dots that do not exist yet, e.g.
//! `[A:1000]` while `A` has minted 5: replicas merging the put's clock then treat
//! `A:6..=A:1000`, written later, as already superseded and drop them on sync; (c) carry
//! `u64::MAX` for an actor, which exhausts it
//! ([`crate::version::VersionError::CounterExhausted`]) until that node restarts with a
//! new incarnation. An untrusted client therefore needs an authenticated context (a MAC
//! keyed by a cluster secret) in front of this format; the format byte leaves room.
//!
//! # Invariants
//! - `decode(encode(c)) == c` for every context within the limits, and
//!   `from_text(to_text(c)) == c` (`tests/version_laws.rs`: `context_decode_inverts_encode`);
//! - whatever `decode` or `from_text` accepts re-encodes to exactly its input
//!   (`context_decode_of_arbitrary_bytes_never_panics` and its siblings; the fuzz
//!   target `context_decode`);
//! - a change to any byte after the format byte is a checksum mismatch
//!   (`flipping_any_byte_of_an_encoding_is_rejected`).

use crate::clock::VersionVector;
use crate::types::{limits, ActorId, NodeId};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::{DecodeError, Engine as _};
use md5::{Digest, Md5};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize, Serializer};
use thiserror::Error;

/// The opaque causal context a get returns and a put carries back (Dynamo §4.4): what
/// the client had seen. See the module doc for the wire format and the trust model.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Context(VersionVector);

/// Why bytes or text are not a context. Every variant is the client's fault: servers
/// answer it as a bad request, with this message.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Error, Serialize, Deserialize)]
pub enum ContextError {
    #[error("empty context")]
    Empty,
    #[error("unknown context format version {version}")]
    UnknownFormat { version: u8 },
    #[error("context is {len} bytes, more than {max}")]
    TooLong { len: usize, max: usize },
    #[error("context text is {len} characters, more than {max}")]
    TextTooLong { len: usize, max: usize },
    #[error("context text is not base64url without padding (at character {offset})")]
    InvalidText { offset: usize },
    #[error("context truncated at byte {offset}")]
    Truncated { offset: usize },
    #[error("context is corrupted: checksum {stored:08x} does not match {computed:08x}")]
    ChecksumMismatch { stored: u32, computed: u32 },
    #[error("context varint at byte {offset} overflows")]
    VarintOverflow { offset: usize },
    #[error("context has {count} entries, more than {max}")]
    TooManyEntries { count: u64, max: usize },
    #[error("context not canonical: overlong varint at byte {offset}")]
    OverlongVarint { offset: usize },
    #[error("context not canonical: zero counter at byte {offset}")]
    ZeroCounter { offset: usize },
    #[error("context not canonical: actors not strictly increasing at byte {offset}")]
    UnorderedActors { offset: usize },
    #[error("context has {count} trailing bytes")]
    TrailingBytes { count: usize },
}

/// The first byte of every context in this format.
pub const FORMAT_VERSION: u8 = 1;
const CHECKSUM_BYTES: usize = 4;
/// postcard's longest varints: 32 and 64 bits in 7-bit groups.
const VARINT_U32_BYTES_MAX: usize = 5;
const VARINT_U64_BYTES_MAX: usize = 10;
/// The entry count is at most `CLOCK_ENTRIES_MAX`, which fits two varint bytes.
const COUNT_BYTES_MAX: usize = 2;
const _: () = assert!(limits::CLOCK_ENTRIES_MAX < 1 << (7 * COUNT_BYTES_MAX));
/// Format byte, an empty count and the checksum: the empty context.
const CONTEXT_BYTES_MIN: usize = 1 + 1 + CHECKSUM_BYTES;
/// Each entry takes at least one byte per field.
const ENTRY_BYTES_MIN: usize = 3;
const ENTRY_BYTES_MAX: usize = 2 * VARINT_U32_BYTES_MAX + VARINT_U64_BYTES_MAX;

/// Longest encoded context: `CLOCK_ENTRIES_MAX` entries of the widest varints.
pub const CONTEXT_BYTES_MAX: usize =
    1 + COUNT_BYTES_MAX + limits::CLOCK_ENTRIES_MAX * ENTRY_BYTES_MAX + CHECKSUM_BYTES;
/// Longest text form: base64url of `CONTEXT_BYTES_MAX` bytes, without padding.
pub const CONTEXT_TEXT_MAX: usize = match base64::encoded_len(CONTEXT_BYTES_MAX, false) {
    Some(len) => len,
    None => panic!("the longest context's text length fits a usize"),
};

impl Context {
    pub fn new(clock: VersionVector) -> Self {
        Self(clock)
    }

    pub fn clock(&self) -> &VersionVector {
        &self.0
    }

    pub fn into_clock(self) -> VersionVector {
        self.0
    }

    /// The binary form (module doc, "Wire format"). A clock over `CLOCK_ENTRIES_MAX`
    /// entries (only a merge can grow one) still encodes, and `decode` refuses it with
    /// `TooManyEntries`.
    pub fn encode(&self) -> Vec<u8> {
        let capacity = CONTEXT_BYTES_MIN + VARINT_U64_BYTES_MAX + self.0.len() * ENTRY_BYTES_MAX;
        let mut bytes = Vec::with_capacity(capacity);
        bytes.push(FORMAT_VERSION);
        let mut bytes = postcard::to_extend(&WireEntries(&self.0), bytes)
            .expect("postcard writes a sequence of known length into a Vec");
        let checksum = checksum(&bytes);
        bytes.extend_from_slice(&checksum);
        bytes
    }

    /// Parse the binary form. Rejects anything `encode` would not produce; never panics,
    /// and allocates at most `CLOCK_ENTRIES_MAX` entries whatever the input says.
    pub fn decode(bytes: &[u8]) -> Result<Self, ContextError> {
        let (&format, _) = bytes.split_first().ok_or(ContextError::Empty)?;
        if format != FORMAT_VERSION {
            return Err(ContextError::UnknownFormat { version: format });
        }
        if bytes.len() > CONTEXT_BYTES_MAX {
            let (len, max) = (bytes.len(), CONTEXT_BYTES_MAX);
            return Err(ContextError::TooLong { len, max });
        }
        if bytes.len() < CONTEXT_BYTES_MIN {
            let offset = bytes.len();
            return Err(ContextError::Truncated { offset });
        }
        // Integrity first: corruption anywhere reads as corruption, not as whatever
        // structural error the damaged bytes happen to form.
        let (payload, stored) = bytes.split_at(bytes.len() - CHECKSUM_BYTES);
        let stored = u32::from_be_bytes(stored.try_into().expect("4 checksum bytes"));
        let computed = u32::from_be_bytes(checksum(payload));
        if stored != computed {
            return Err(ContextError::ChecksumMismatch { stored, computed });
        }
        let mut reader = Reader {
            bytes: payload,
            offset: 1,
        };
        let clock = reader.entries()?;
        let count = payload.len() - reader.offset;
        if count > 0 {
            return Err(ContextError::TrailingBytes { count });
        }
        Ok(Self(clock))
    }

    /// The text form for RESP and HTTP: the binary form in base64url, no padding.
    pub fn to_text(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.encode())
    }

    /// Parse the text form; as strict as `decode`, and as strict about the text: one
    /// text per context.
    pub fn from_text(text: &str) -> Result<Self, ContextError> {
        if text.len() > CONTEXT_TEXT_MAX {
            let (len, max) = (text.len(), CONTEXT_TEXT_MAX);
            return Err(ContextError::TextTooLong { len, max });
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|error| invalid_text(text, &error))?;
        Self::decode(&bytes)
    }
}

/// base64's error, as a position in the text (base64's messages are not ours to show).
fn invalid_text(text: &str, error: &DecodeError) -> ContextError {
    let offset = match *error {
        DecodeError::InvalidByte(offset, _) | DecodeError::InvalidLastSymbol(offset, _) => offset,
        // A length no base64 has: the last character is the one too many.
        DecodeError::InvalidLength(_) => text.len().saturating_sub(1),
        DecodeError::InvalidPadding => text.find('=').unwrap_or(text.len()),
    };
    ContextError::InvalidText { offset }
}

/// First 4 bytes of MD5: enough to catch corruption, not meant to stop forgery.
fn checksum(bytes: &[u8]) -> [u8; CHECKSUM_BYTES] {
    let digest = Md5::digest(bytes);
    [digest[0], digest[1], digest[2], digest[3]]
}

/// A clock's entries as postcard writes them: a sequence of `(node, incarnation,
/// counter)`, without copying them into a `Vec` first.
struct WireEntries<'a>(&'a VersionVector);

impl Serialize for WireEntries<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let entries = self.0.iter();
        serializer
            .collect_seq(entries.map(|(actor, counter)| (actor.node.0, actor.incarnation, counter)))
    }
}

/// A cursor over a checksummed payload; every read is bounds-checked by postcard.
struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl Reader<'_> {
    fn entries(&mut self) -> Result<VersionVector, ContextError> {
        let count: u64 = self.varint()?;
        let max = limits::CLOCK_ENTRIES_MAX;
        if count > max as u64 {
            return Err(ContextError::TooManyEntries { count, max });
        }
        let count = count as usize;
        // Refuse a count the remaining bytes cannot hold before reserving room for it.
        if count * ENTRY_BYTES_MIN > self.bytes.len() - self.offset {
            let offset = self.bytes.len();
            return Err(ContextError::Truncated { offset });
        }
        let mut entries: Vec<(ActorId, u64)> = Vec::with_capacity(count);
        for _ in 0..count {
            let offset = self.offset;
            let node: u32 = self.varint()?;
            let incarnation: u32 = self.varint()?;
            let actor = ActorId::new(NodeId(node), incarnation);
            if entries
                .last()
                .is_some_and(|(previous, _)| *previous >= actor)
            {
                return Err(ContextError::UnorderedActors { offset });
            }
            let offset = self.offset;
            let counter: u64 = self.varint()?;
            if counter == 0 {
                return Err(ContextError::ZeroCounter { offset });
            }
            entries.push((actor, counter));
        }
        let clock = VersionVector::from_entries(entries)
            .expect("entries are checked: increasing actors, non-zero counters, within the limit");
        Ok(clock)
    }

    /// One postcard varint (`u32` or `u64`) at the cursor, in its shortest encoding.
    fn varint<T: Serialize + DeserializeOwned>(&mut self) -> Result<T, ContextError> {
        let offset = self.offset;
        let rest = &self.bytes[offset..];
        // For integers postcard fails only on a cut varint or one too wide for `T`.
        let (value, tail) = postcard::take_from_bytes::<T>(rest).map_err(|error| match error {
            postcard::Error::DeserializeUnexpectedEnd => ContextError::Truncated {
                offset: self.bytes.len(),
            },
            _ => ContextError::VarintOverflow { offset },
        })?;
        let read = &rest[..rest.len() - tail.len()];
        // postcard reads `0x81 0x00` as 1 but writes 1 as `0x01`: take only what it
        // writes, so each context has one encoding.
        let mut shortest = [0u8; VARINT_U64_BYTES_MAX];
        let shortest = postcard::to_slice(&value, &mut shortest);
        if !shortest.is_ok_and(|written| *written == *read) {
            return Err(ContextError::OverlongVarint { offset });
        }
        self.offset += read.len();
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::clock::fixtures::{actor, vv};

    /// `payload` followed by its checksum: a well-sealed encoding, so decode reaches
    /// the structural check a test aims at.
    fn seal(mut payload: Vec<u8>) -> Vec<u8> {
        let checksum = checksum(&payload);
        payload.extend_from_slice(&checksum);
        payload
    }

    /// postcard's varint of `value`, to build hostile payloads.
    fn varint(value: u64) -> Vec<u8> {
        postcard::to_allocvec(&value).unwrap()
    }

    #[test]
    fn encoding_is_pinned() {
        // A change here breaks every context clients hold: bump FORMAT_VERSION instead.
        let context = Context::new(vv(&[(1, 2), (300, 1)]));
        let bytes = context.encode();
        // format 1, 2 entries, (n1, 0, 2), (n300 = 0xac 0x02, 0, 1), MD5 prefix.
        let pinned = [1, 2, 1, 0, 2, 0xac, 0x02, 0, 1, 79, 116, 22, 32];
        assert_eq!(bytes, pinned);
        assert_eq!(context.to_text(), "AQIBAAKsAgABT3QWIA");
        assert_eq!(Context::decode(&bytes), Ok(context));
    }

    #[test]
    fn the_limits_are_what_the_module_doc_says() {
        assert_eq!(CONTEXT_BYTES_MAX, 20_487);
        assert_eq!(CONTEXT_TEXT_MAX, 27_316);
        assert_eq!(CONTEXT_TEXT_MAX, (CONTEXT_BYTES_MAX * 4).div_ceil(3));
        assert_eq!(
            varint(limits::CLOCK_ENTRIES_MAX as u64).len(),
            COUNT_BYTES_MAX
        );
        assert_eq!(varint(u64::MAX).len(), VARINT_U64_BYTES_MAX);
        let widest_u32 = postcard::to_allocvec(&u32::MAX).unwrap();
        assert_eq!(widest_u32.len(), VARINT_U32_BYTES_MAX);
        assert_eq!(Context::default().to_text().len(), 8);
    }

    #[test]
    fn the_empty_context_encodes_and_decodes() {
        let empty = Context::default();
        assert_eq!(empty.encode().len(), CONTEXT_BYTES_MIN);
        assert_eq!(Context::decode(&empty.encode()), Ok(empty.clone()));
        assert_eq!(Context::from_text(&empty.to_text()), Ok(empty));
    }

    #[test]
    fn the_largest_context_fits_the_byte_and_text_limits() {
        let widest = (0..limits::CLOCK_ENTRIES_MAX as u32)
            .map(|n| (ActorId::new(NodeId(u32::MAX - n), u32::MAX), u64::MAX));
        let context = Context::new(VersionVector::from_entries(widest).unwrap());
        let bytes = context.encode();
        assert_eq!(bytes.len(), CONTEXT_BYTES_MAX);
        assert_eq!(Context::decode(&bytes), Ok(context.clone()));
        let text = context.to_text();
        assert_eq!(text.len(), CONTEXT_TEXT_MAX);
        assert_eq!(Context::from_text(&text), Ok(context));
    }

    #[test]
    fn decode_rejects_empty_input_and_unknown_formats() {
        assert_eq!(Context::decode(&[]), Err(ContextError::Empty));
        let mut bytes = Context::default().encode();
        bytes[0] = 2;
        assert_eq!(
            Context::decode(&bytes),
            Err(ContextError::UnknownFormat { version: 2 })
        );
    }

    #[test]
    fn decode_rejects_truncated_input() {
        let bytes = Context::new(vv(&[(1, 2)])).encode();
        assert_eq!(
            Context::decode(&bytes[..3]),
            Err(ContextError::Truncated { offset: 3 })
        );
        // Cut inside the entries but sealed again: the structure itself is short.
        let cut = seal(vec![1, 1, 1, 0]);
        assert_eq!(
            Context::decode(&cut),
            Err(ContextError::Truncated { offset: 4 })
        );
        // Cut inside a varint.
        let mid_varint = seal(vec![1, 1, 1, 0, 0x80]);
        assert_eq!(
            Context::decode(&mid_varint),
            Err(ContextError::Truncated { offset: 5 })
        );
        // A count the remaining bytes cannot hold is refused before any allocation.
        let claims = seal(vec![1, 0x80, 0x08]);
        assert_eq!(
            Context::decode(&claims),
            Err(ContextError::Truncated { offset: 3 })
        );
    }

    #[test]
    fn decode_rejects_a_checksum_mismatch() {
        let mut bytes = Context::new(vv(&[(1, 2)])).encode();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(matches!(
            Context::decode(&bytes),
            Err(ContextError::ChecksumMismatch { .. })
        ));
        // Cutting the tail off leaves bytes that no longer end in their checksum.
        let bytes = Context::new(vv(&[(1, 2)])).encode();
        assert!(matches!(
            Context::decode(&bytes[..bytes.len() - 1]),
            Err(ContextError::ChecksumMismatch { .. })
        ));
    }

    #[test]
    fn decode_rejects_varint_overflow() {
        let mut payload = vec![1, 1, 1, 0];
        payload.extend([0xff; 9]);
        payload.push(0x02);
        assert_eq!(
            Context::decode(&seal(payload)),
            Err(ContextError::VarintOverflow { offset: 4 })
        );
        let endless = seal([vec![1], vec![0xff; 12]].concat());
        assert_eq!(
            Context::decode(&endless),
            Err(ContextError::VarintOverflow { offset: 1 })
        );
        // A node id must fit u32.
        let wide_node = seal(vec![1, 1, 0x80, 0x80, 0x80, 0x80, 0x10, 0, 1]);
        assert_eq!(
            Context::decode(&wide_node),
            Err(ContextError::VarintOverflow { offset: 2 })
        );
        // u64::MAX itself is fine.
        let mut largest = vec![1, 1, 1, 0];
        largest.extend(varint(u64::MAX));
        assert!(Context::decode(&seal(largest)).is_ok());
    }

    #[test]
    fn decode_rejects_too_many_entries() {
        let max = limits::CLOCK_ENTRIES_MAX;
        let count = max as u64 + 1;
        let payload = [vec![1], varint(count)].concat();
        assert_eq!(
            Context::decode(&seal(payload)),
            Err(ContextError::TooManyEntries { count, max })
        );
        let over = VersionVector::from_entries((0..max as u32).map(|n| (actor(n), 1)))
            .unwrap()
            .merged(&vv(&[(max as u32, 1)]));
        assert_eq!(
            Context::decode(&Context::new(over).encode()),
            Err(ContextError::TooManyEntries { count, max })
        );
    }

    #[test]
    fn decode_rejects_non_canonical_encodings() {
        let overlong = seal(vec![1, 1, 0x81, 0x00, 0, 1]);
        assert_eq!(
            Context::decode(&overlong),
            Err(ContextError::OverlongVarint { offset: 2 })
        );
        let overlong_zero = seal(vec![1, 0x80, 0x00]);
        assert_eq!(
            Context::decode(&overlong_zero),
            Err(ContextError::OverlongVarint { offset: 1 })
        );
        let zero = seal(vec![1, 1, 1, 0, 0]);
        assert_eq!(
            Context::decode(&zero),
            Err(ContextError::ZeroCounter { offset: 4 })
        );
        let unordered = seal(vec![1, 2, 2, 0, 1, 1, 0, 1]);
        assert_eq!(
            Context::decode(&unordered),
            Err(ContextError::UnorderedActors { offset: 5 })
        );
        let repeated = seal(vec![1, 2, 1, 0, 1, 1, 0, 2]);
        assert_eq!(
            Context::decode(&repeated),
            Err(ContextError::UnorderedActors { offset: 5 })
        );
        let incarnations = seal(vec![1, 2, 1, 0, 1, 1, 1, 1]);
        assert!(Context::decode(&incarnations).is_ok());
    }

    #[test]
    fn decode_rejects_trailing_bytes() {
        let trailing = seal(vec![1, 0, 9, 9]);
        assert_eq!(
            Context::decode(&trailing),
            Err(ContextError::TrailingBytes { count: 2 })
        );
    }

    #[test]
    fn decode_rejects_input_over_the_limit_without_reading_it() {
        let mut bytes = vec![0; CONTEXT_BYTES_MAX + 1];
        bytes[0] = FORMAT_VERSION;
        let (len, max) = (CONTEXT_BYTES_MAX + 1, CONTEXT_BYTES_MAX);
        assert_eq!(
            Context::decode(&bytes),
            Err(ContextError::TooLong { len, max })
        );
        let text = "A".repeat(CONTEXT_TEXT_MAX + 1);
        let (len, max) = (CONTEXT_TEXT_MAX + 1, CONTEXT_TEXT_MAX);
        assert_eq!(
            Context::from_text(&text),
            Err(ContextError::TextTooLong { len, max })
        );
    }

    #[test]
    fn text_is_rfc4648_base64url_without_padding() {
        // RFC 4648 §10's vectors, padding dropped, and the two url-safe characters.
        let vectors = [
            (&b""[..], ""),
            (b"f", "Zg"),
            (b"fo", "Zm8"),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg"),
            (b"fooba", "Zm9vYmE"),
            (b"foobar", "Zm9vYmFy"),
            (&[0xfb, 0xff], "-_8"),
        ];
        for (bytes, text) in vectors {
            assert_eq!(URL_SAFE_NO_PAD.encode(bytes), text);
            assert_eq!(URL_SAFE_NO_PAD.decode(text).unwrap(), bytes);
        }
    }

    #[test]
    fn from_text_rejects_what_is_not_strict_base64url() {
        let text = Context::new(vv(&[(1, 2)])).to_text();
        let invalid = |offset| Err(ContextError::InvalidText { offset });
        assert_eq!(Context::from_text(&format!("{text}=")), invalid(text.len()));
        assert_eq!(
            Context::from_text(&format!("{text}==")),
            invalid(text.len())
        );
        assert_eq!(Context::from_text("AQ+A"), invalid(2), "standard alphabet");
        assert_eq!(Context::from_text("AQ A"), invalid(2));
        assert_eq!(Context::from_text("AQAAA"), invalid(4), "impossible length");
        assert_eq!(Context::from_text("Zh"), invalid(1), "unused bits set");
        assert_eq!(Context::from_text(""), Err(ContextError::Empty));
    }

    #[test]
    fn errors_read_as_lowercase_client_errors() {
        let errors = [
            Context::from_text("AQ+A").unwrap_err(),
            Context::decode(&[]).unwrap_err(),
            Context::decode(&seal(vec![1, 0, 9])).unwrap_err(),
        ];
        for error in errors {
            let message = error.to_string();
            assert!(message.starts_with(char::is_lowercase), "{message}");
            assert!(message.contains("context"), "{message}");
        }
    }
}
