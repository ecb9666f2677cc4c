//! Sibling sets as dotted version vectors (Dynamo §4.4; DVVSet, Almeida et al. 2014).
//!
//! The stored state of a key is a [`Siblings`] set: a causal `clock` for the whole set
//! (everything the replica has seen, superseded versions included) and every version
//! not yet superseded, each a [`Sibling`] holding its own [`Dot`] (the event that wrote
//! it) and the `context` it was written over. A get returns the live siblings plus one
//! opaque [`Context`] (the set's clock); `put(key, context, value)` is
//! [`Siblings::update`], which supersedes exactly the siblings the context covers and
//! keeps everything concurrent. Replicas reconcile with [`Siblings::sync`].
//!
//! Why dots and not plain vectors (the paper's clocks): two clients that both read the
//! empty key and write through the same coordinator get two siblings with dots `A:1`
//! and `A:2` and empty contexts. A plain vector would give the second write `[A:2]`,
//! which "descends" `[A:1]` and silently overwrites it (a false overwrite); the dot
//! keeps "what the writer had seen" apart from "which event this is".
//!
//! # Invariants
//! Checked by [`Siblings::check_invariants`], which the property tests in
//! `tests/version_laws.rs` run after every operation of random multi-replica histories
//! (`invariants_hold_after_every_operation`):
//! - siblings are sorted by dot and no dot appears twice;
//! - no sibling has a zero-counter dot, and its context never covers its own dot (a dot
//!   is a fresh event);
//! - the clock covers every sibling's dot and every sibling's context;
//! - siblings are pairwise concurrent: no sibling's dotted version (its context plus its
//!   own dot, [`Sibling::covers`]) covers another sibling's dot;
//! - no value is larger than `limits::VALUE_BYTES_MAX`.
//!
//! Laws (property tests): [`Siblings::merged`] is commutative, associative and
//! idempotent over sets of one history; a put with a get's context supersedes exactly
//! the siblings that get saw (`put_supersedes_exactly_what_its_get_saw`); no
//! acknowledged version is ever lost: after all replicas sync, every dot ever minted is
//! present or was covered by the context of a later put (`no_acknowledged_version_is_lost`).
//!
//! # Limits
//! [`Siblings::update`] refuses a put, leaving the set untouched, whose value is over
//! `limits::VALUE_BYTES_MAX`, whose context has more than `limits::CLOCK_ENTRIES_MAX`
//! entries, that would grow the key's clock past that limit, or that would leave more
//! than `limits::SIBLINGS_MAX` concurrent siblings (the client must resolve them: read,
//! then put with the read's context). [`Siblings::sync`] enforces no limit: a merge must
//! never lose a version, so two replicas holding 40 siblings each may merge into 80;
//! the next put with a context shrinks the set again. Clock pruning (the paper truncates
//! clocks past ~10 entries and accepts the loss of precision) is not implemented: a key
//! written through more than `CLOCK_ENTRIES_MAX` incarnations refuses further puts with
//! [`VersionError::ClockTooLarge`] rather than lose causality.
//!
//! # Tombstones
//! A delete is `update` with [`Content::Tombstone`]: it supersedes what its context
//! covers like any put. Tombstones are kept, and with them the key's clock (no garbage
//! collection yet). Removing a key once it reads as deleted would throw away the clock
//! that proves the old values superseded: a replica that missed the delete still holds
//! an old value, and on the next sync a replica with no entry for the key would take it
//! as new and resurrect it. Safe collection needs proof that every replica has seen the
//! tombstone, which nothing establishes yet. A set that is empty or holds only
//! tombstones reads as deleted ([`Siblings::is_deleted`]).
//!
//! # Contexts and trust
//! A [`Context`] comes back from clients and is trusted, as in the paper (Dynamo runs in
//! a trusted, non-hostile environment, §2.1). Its checksum catches corruption (a cut
//! header, a flipped bit), not forgery: anyone can compute it. A forged context can (a) claim to
//! have seen siblings its writer never read, so the put silently supersedes them (a lost
//! update); (b) claim dots that do not exist yet, e.g. `[A:1000]` while `A` has minted
//! 5: replicas merging the put's clock then treat `A:6..=A:1000`, written later, as
//! already superseded and drop them on sync; (c) carry `u64::MAX` for an actor, which
//! exhausts it ([`VersionError::CounterExhausted`]) until that node restarts with a new
//! incarnation. An untrusted client therefore needs an authenticated context (a MAC
//! keyed by a cluster secret) in front of this format; the format version byte leaves
//! room for it.
//!
//! # Context wire format (version 1)
//! ```text
//! format      u8 = 1
//! count       varint                       number of entries, at most CLOCK_ENTRIES_MAX
//! entries     count x (node varint, incarnation varint, counter varint)
//!                                          strictly increasing by (node, incarnation),
//!                                          node and incarnation fit u32, counter > 0
//! checksum    4 bytes                      first 4 bytes of MD5 over everything before it
//! ```
//! Varints are unsigned LEB128 and must be minimal, so every context has exactly one
//! encoding and `encode(decode(bytes)) == bytes`. The text form (RESP, HTTP headers) is
//! that encoding in base64url without padding, also canonical.

use crate::clock::{Causality, Dot, VersionVector};
use crate::types::{limits, ActorId, NodeId};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// What a sibling holds: a value, or the tombstone a delete leaves.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Content {
    Value(#[serde(with = "serde_bytes")] Vec<u8>),
    Tombstone,
}

impl Content {
    pub fn is_tombstone(&self) -> bool {
        matches!(self, Content::Tombstone)
    }

    /// The bytes of a value; `None` for a tombstone.
    pub fn value(&self) -> Option<&[u8]> {
        match self {
            Content::Value(bytes) => Some(bytes),
            Content::Tombstone => None,
        }
    }

    fn size_bytes(&self) -> usize {
        self.value().map_or(0, <[u8]>::len)
    }

    /// The value's size limit, checkable before any work is done for a write.
    pub fn check(&self) -> Result<(), VersionError> {
        let size = self.size_bytes();
        if size > limits::VALUE_BYTES_MAX {
            let max = limits::VALUE_BYTES_MAX;
            return Err(VersionError::ValueTooLarge { size, max });
        }
        Ok(())
    }
}

/// One concurrent version of a key: the update `dot` made over what `context` covered.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Sibling {
    pub dot: Dot,
    pub context: VersionVector,
    pub content: Content,
}

impl Sibling {
    /// The paper's version vector of this sibling: its context joined with its dot
    /// (D3 written by Sy over `[(Sx,2)]` is `[(Sx,2),(Sy,1)]`). Lossy: it also covers
    /// the coordinator's earlier dots the writer may not have seen, so concurrency
    /// between siblings is decided by [`Sibling::covers`], not by this vector.
    pub fn version(&self) -> VersionVector {
        let mut version = self.context.clone();
        version.add_dot(self.dot);
        version
    }

    /// Whether this sibling's writer had seen `dot` (or `dot` is this sibling's own
    /// event): the dotted version's exact causal past.
    pub fn covers(&self, dot: Dot) -> bool {
        self.dot == dot || self.context.covers(dot)
    }
}

/// Why a put was refused, or why a set breaks an invariant.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Error, Serialize, Deserialize)]
pub enum VersionError {
    #[error("value is {size} bytes, more than {max}")]
    ValueTooLarge { size: usize, max: usize },
    #[error("put would leave {count} concurrent siblings, more than {max}: read, then put with the read's context to resolve them")]
    TooManySiblings { count: usize, max: usize },
    #[error("context has {entries} entries, more than {max}")]
    ContextTooLarge { entries: usize, max: usize },
    #[error("put would grow the key's version vector to {entries} entries, more than {max}")]
    ClockTooLarge { entries: usize, max: usize },
    #[error("dot {dot} is not newer than the versions it would follow")]
    DotNotFresh { dot: Dot },
    #[error("counter of actor {actor} is exhausted")]
    CounterExhausted { actor: ActorId },
    #[error("siblings out of dot order or repeated at {dot}")]
    SiblingsNotSorted { dot: Dot },
    #[error("sibling of actor {actor} has a zero-counter dot")]
    ZeroDot { actor: ActorId },
    #[error("sibling {dot} is not covered by the set's clock")]
    DotNotInClock { dot: Dot },
    #[error("context of sibling {dot} is not covered by the set's clock")]
    ContextNotInClock { dot: Dot },
    #[error("sibling {dot} was written over a context that already covers it")]
    DotInOwnContext { dot: Dot },
    #[error("sibling {newer} has seen sibling {older}: they are not concurrent")]
    NotConcurrent { newer: Dot, older: Dot },
}

/// The stored versions of one key: every sibling not yet superseded, plus the causal
/// past (`clock`) of the whole set, which also remembers superseded dots.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Siblings {
    clock: VersionVector,
    siblings: Vec<Sibling>,
}

impl Siblings {
    pub fn new() -> Self {
        Self::default()
    }

    /// The causal past of the set: the context a get returns.
    pub fn clock(&self) -> &VersionVector {
        &self.clock
    }

    /// The opaque context a get returns with the siblings.
    pub fn context(&self) -> Context {
        Context::new(self.clock.clone())
    }

    /// Siblings in dot order.
    pub fn iter(&self) -> impl Iterator<Item = &Sibling> + '_ {
        self.siblings.iter()
    }

    pub fn len(&self) -> usize {
        self.siblings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.siblings.is_empty()
    }

    /// The live values in dot order; tombstones are left out.
    pub fn values(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.siblings
            .iter()
            .filter_map(|sibling| sibling.content.value())
    }

    /// Whether a get finds nothing: no sibling, or only tombstones.
    pub fn is_deleted(&self) -> bool {
        self.siblings
            .iter()
            .all(|sibling| sibling.content.is_tombstone())
    }

    /// How this set's history relates to `other`'s (by clocks).
    pub fn compare(&self, other: &Siblings) -> Causality {
        self.clock.compare(&other.clock)
    }

    /// A put coordinated by `actor` over the client's `context`: drop the siblings the
    /// context covers, merge the context into the clock, mint the dot
    /// `(actor, clock[actor] + 1)` and add the new sibling. A delete is a put of
    /// [`Content::Tombstone`]. On error nothing changes.
    pub fn update(
        &mut self,
        context: &VersionVector,
        content: Content,
        actor: ActorId,
    ) -> Result<Dot, VersionError> {
        self.check_update(context, &content, actor)?;
        let counter = self.clock.merged(context).get(actor) + 1;
        let dot = Dot::new(actor, counter);
        self.update_with_dot(context, content, dot)?;
        Ok(dot)
    }

    /// [`Siblings::update`] with a dot the coordinator minted itself, from a counter it
    /// keeps per incarnation: fresh even when the coordinator's copy of the key is stale
    /// or was dropped (a partition moved away and back), where `clock[actor] + 1` would
    /// reuse a dot that still lives on another replica. Refused when the dot is not
    /// newer than what the clock and context already hold for its actor.
    pub fn update_with_dot(
        &mut self,
        context: &VersionVector,
        content: Content,
        dot: Dot,
    ) -> Result<(), VersionError> {
        self.check_update(context, &content, dot.actor)?;
        if self.clock.merged(context).get(dot.actor) >= dot.counter {
            return Err(VersionError::DotNotFresh { dot });
        }
        self.discard(context);
        self.clock.add_dot(dot);
        // The dot is fresh: the writer has not seen it and no sibling carries it, so the
        // new sibling is concurrent with every survivor.
        let position = self.siblings.partition_point(|sibling| sibling.dot < dot);
        assert!(
            self.siblings
                .get(position)
                .is_none_or(|sibling| sibling.dot != dot),
            "dot {dot} minted twice"
        );
        let sibling = Sibling {
            dot,
            context: context.clone(),
            content,
        };
        self.siblings.insert(position, sibling);
        Ok(())
    }

    /// Every limit a put must respect, checked before anything changes.
    fn check_update(
        &self,
        context: &VersionVector,
        content: &Content,
        actor: ActorId,
    ) -> Result<(), VersionError> {
        content.check()?;
        let max = limits::CLOCK_ENTRIES_MAX;
        if context.len() > max {
            let entries = context.len();
            return Err(VersionError::ContextTooLarge { entries, max });
        }
        let clock = self.clock.merged(context);
        let entries = clock.len() + usize::from(clock.get(actor) == 0);
        if entries > max {
            return Err(VersionError::ClockTooLarge { entries, max });
        }
        if clock.get(actor) == u64::MAX {
            return Err(VersionError::CounterExhausted { actor });
        }
        let survivors = self.iter().filter(|sibling| !context.covers(sibling.dot));
        let count = survivors.count() + 1;
        if count > limits::SIBLINGS_MAX {
            let max = limits::SIBLINGS_MAX;
            return Err(VersionError::TooManySiblings { count, max });
        }
        Ok(())
    }

    /// Drop every sibling `context` covers and remember the context in the clock, so a
    /// later sync does not bring the dropped siblings back. This loses the dropped
    /// values on purpose: it is the first half of a put, which adds their successor.
    pub fn discard(&mut self, context: &VersionVector) {
        self.siblings.retain(|sibling| !context.covers(sibling.dot));
        self.clock.merge(context);
    }

    /// Merge another replica's set into this one (see [`Siblings::merged`]).
    pub fn sync(&mut self, other: &Siblings) {
        *self = self.merged(other);
    }

    /// The merge of two replicas' sets: the clock is the join, and a sibling survives if
    /// the other side also has it or has not seen its dot (a dot the other side's clock
    /// covers but it does not hold was superseded there). Commutative, associative and
    /// idempotent; never enforces `SIBLINGS_MAX`, since a merge must never lose a
    /// version. Two siblings with one dot are one event; if they differ (corruption) the
    /// smaller is kept on both sides, so replicas still converge.
    pub fn merged(&self, other: &Siblings) -> Siblings {
        let mut siblings = Vec::with_capacity(self.len() + other.len());
        let mut left = self.siblings.iter().peekable();
        let mut right = other.siblings.iter().peekable();
        loop {
            let kept = match (left.peek().copied(), right.peek().copied()) {
                (None, None) => break,
                (Some(mine), Some(theirs)) if mine.dot == theirs.dot => {
                    left.next();
                    right.next();
                    Some(mine.min(theirs))
                }
                (Some(mine), theirs) if theirs.is_none_or(|theirs| mine.dot < theirs.dot) => {
                    left.next();
                    Some(mine).filter(|mine| !other.clock.covers(mine.dot))
                }
                (_, theirs) => {
                    right.next();
                    theirs.filter(|theirs| !self.clock.covers(theirs.dot))
                }
            };
            siblings.extend(kept.cloned());
        }
        Siblings {
            clock: self.clock.merged(&other.clock),
            siblings,
        }
    }

    /// Check every invariant of the module doc. For sets from storage or peers; a set
    /// built only by `update` and `sync` of valid sets always passes.
    pub fn check_invariants(&self) -> Result<(), VersionError> {
        for pair in self.siblings.windows(2) {
            if pair[0].dot >= pair[1].dot {
                return Err(VersionError::SiblingsNotSorted { dot: pair[1].dot });
            }
        }
        for sibling in &self.siblings {
            self.check_sibling(sibling)?;
        }
        for newer in &self.siblings {
            for older in &self.siblings {
                if newer.dot != older.dot && newer.covers(older.dot) {
                    let (newer, older) = (newer.dot, older.dot);
                    return Err(VersionError::NotConcurrent { newer, older });
                }
            }
        }
        Ok(())
    }

    fn check_sibling(&self, sibling: &Sibling) -> Result<(), VersionError> {
        let dot = sibling.dot;
        if dot.counter == 0 {
            return Err(VersionError::ZeroDot { actor: dot.actor });
        }
        if !self.clock.covers(dot) {
            return Err(VersionError::DotNotInClock { dot });
        }
        if !self.clock.descends(&sibling.context) {
            return Err(VersionError::ContextNotInClock { dot });
        }
        if sibling.context.covers(dot) {
            return Err(VersionError::DotInOwnContext { dot });
        }
        let size = sibling.content.size_bytes();
        if size > limits::VALUE_BYTES_MAX {
            let max = limits::VALUE_BYTES_MAX;
            return Err(VersionError::ValueTooLarge { size, max });
        }
        Ok(())
    }
}

/// The opaque causal context a get returns and a put carries back (Dynamo §4.4): what
/// the client had seen. Clients must not look inside; see the module doc for the wire
/// format and the trust model.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Context(VersionVector);

/// Why bytes or text are not a context.
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

const FORMAT_VERSION: u8 = 1;
const CHECKSUM_BYTES: usize = 4;
const VARINT_U32_BYTES_MAX: usize = 5;
const VARINT_U64_BYTES_MAX: usize = 10;
/// Format byte, an empty count and the checksum: the empty context.
const CONTEXT_BYTES_MIN: usize = 1 + 1 + CHECKSUM_BYTES;
/// Each entry takes at least one byte per field.
const ENTRY_BYTES_MIN: usize = 3;
const ENTRY_BYTES_MAX: usize = 2 * VARINT_U32_BYTES_MAX + VARINT_U64_BYTES_MAX;

/// Longest encoded context: `CLOCK_ENTRIES_MAX` entries of the widest varints.
pub const CONTEXT_BYTES_MAX: usize = 1
    + varint_len(limits::CLOCK_ENTRIES_MAX as u64)
    + limits::CLOCK_ENTRIES_MAX * ENTRY_BYTES_MAX
    + CHECKSUM_BYTES;
/// Longest text form: base64url of `CONTEXT_BYTES_MAX` bytes, without padding.
pub const CONTEXT_TEXT_MAX: usize = (CONTEXT_BYTES_MAX * 4).div_ceil(3);

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

    /// The binary form (module doc, "Context wire format"). A clock over
    /// `CLOCK_ENTRIES_MAX` entries (only a merge can grow one) still encodes, and
    /// `decode` refuses it with `TooManyEntries`.
    pub fn encode(&self) -> Vec<u8> {
        let capacity = CONTEXT_BYTES_MIN + VARINT_U64_BYTES_MAX + self.0.len() * ENTRY_BYTES_MAX;
        let mut bytes = Vec::with_capacity(capacity);
        bytes.push(FORMAT_VERSION);
        put_varint(&mut bytes, self.0.len() as u64);
        for (actor, counter) in self.0.iter() {
            put_varint(&mut bytes, u64::from(actor.node.0));
            put_varint(&mut bytes, u64::from(actor.incarnation));
            put_varint(&mut bytes, counter);
        }
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
            return Err(ContextError::Truncated {
                offset: bytes.len(),
            });
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
        base64url_encode(&self.encode())
    }

    /// Parse the text form; as strict as `decode`.
    pub fn from_text(text: &str) -> Result<Self, ContextError> {
        if text.len() > CONTEXT_TEXT_MAX {
            let (len, max) = (text.len(), CONTEXT_TEXT_MAX);
            return Err(ContextError::TextTooLong { len, max });
        }
        Self::decode(&base64url_decode(text)?)
    }
}

/// First 4 bytes of MD5: enough to catch corruption, not meant to stop forgery.
fn checksum(bytes: &[u8]) -> [u8; CHECKSUM_BYTES] {
    let digest = Md5::digest(bytes);
    [digest[0], digest[1], digest[2], digest[3]]
}

const fn varint_len(mut value: u64) -> usize {
    let mut len = 1;
    while value >= 0x80 {
        value >>= 7;
        len += 1;
    }
    len
}

/// Unsigned LEB128, minimal.
fn put_varint(bytes: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        bytes.push((value & 0x7f) as u8 | 0x80);
        value >>= 7;
    }
    bytes.push(value as u8);
}

/// A cursor over a checksummed payload; every read is bounds-checked.
struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl Reader<'_> {
    fn entries(&mut self) -> Result<VersionVector, ContextError> {
        let count = self.varint()?;
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
            let node = self.varint_u32()?;
            let incarnation = self.varint_u32()?;
            let actor = ActorId::new(NodeId(node), incarnation);
            if entries
                .last()
                .is_some_and(|(previous, _)| *previous >= actor)
            {
                return Err(ContextError::UnorderedActors { offset });
            }
            let offset = self.offset;
            let counter = self.varint()?;
            if counter == 0 {
                return Err(ContextError::ZeroCounter { offset });
            }
            entries.push((actor, counter));
        }
        let clock = VersionVector::from_entries(entries)
            .expect("entries are checked: increasing actors, non-zero counters, within the limit");
        Ok(clock)
    }

    fn byte(&mut self) -> Result<u8, ContextError> {
        let offset = self.offset;
        let byte = *self
            .bytes
            .get(offset)
            .ok_or(ContextError::Truncated { offset })?;
        self.offset += 1;
        Ok(byte)
    }

    fn varint(&mut self) -> Result<u64, ContextError> {
        let offset = self.offset;
        let mut value = 0u64;
        for index in 0..VARINT_U64_BYTES_MAX {
            let byte = self.byte()?;
            // The tenth byte carries only bit 63; anything more overflows a u64.
            if index == VARINT_U64_BYTES_MAX - 1 && byte > 1 {
                return Err(ContextError::VarintOverflow { offset });
            }
            value |= u64::from(byte & 0x7f) << (7 * index);
            if byte & 0x80 == 0 {
                if byte == 0 && index > 0 {
                    return Err(ContextError::OverlongVarint { offset });
                }
                return Ok(value);
            }
        }
        Err(ContextError::VarintOverflow { offset })
    }

    fn varint_u32(&mut self) -> Result<u32, ContextError> {
        let offset = self.offset;
        let value = self.varint()?;
        u32::try_from(value).map_err(|_| ContextError::VarintOverflow { offset })
    }
}

const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn base64url_encode(bytes: &[u8]) -> String {
    let mut text = String::with_capacity((bytes.len() * 4).div_ceil(3));
    for chunk in bytes.chunks(3) {
        let mut group = 0u32;
        for (index, byte) in chunk.iter().enumerate() {
            group |= u32::from(*byte) << (16 - 8 * index);
        }
        // n bytes carry 8n bits: n + 1 characters of 6 bits hold them.
        for index in 0..=chunk.len() {
            let sextet = (group >> (18 - 6 * index)) & 0x3f;
            text.push(char::from(BASE64URL[sextet as usize]));
        }
    }
    text
}

/// Strict base64url without padding: only the 64 characters, no impossible length,
/// and zero unused bits in the last character, so each byte string has one text.
fn base64url_decode(text: &str) -> Result<Vec<u8>, ContextError> {
    let chars = text.as_bytes();
    if chars.len() % 4 == 1 {
        let offset = chars.len() - 1;
        return Err(ContextError::InvalidText { offset });
    }
    let mut bytes = Vec::with_capacity(chars.len() / 4 * 3 + 2);
    for (chunk_index, chunk) in chars.chunks(4).enumerate() {
        let mut group = 0u32;
        for (index, char) in chunk.iter().enumerate() {
            let offset = chunk_index * 4 + index;
            let sextet = sextet(*char).ok_or(ContextError::InvalidText { offset })?;
            group |= u32::from(sextet) << (18 - 6 * index);
        }
        let len = chunk.len() - 1;
        let unused_bits = group & ((1u32 << (24 - 8 * len)) - 1);
        if unused_bits != 0 {
            let offset = chunk_index * 4 + chunk.len() - 1;
            return Err(ContextError::InvalidText { offset });
        }
        bytes.extend_from_slice(&group.to_be_bytes()[1..=len]);
    }
    Ok(bytes)
}

fn sextet(char: u8) -> Option<u8> {
    match char {
        b'A'..=b'Z' => Some(char - b'A'),
        b'a'..=b'z' => Some(char - b'a' + 26),
        b'0'..=b'9' => Some(char - b'0' + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(node: u32) -> ActorId {
        ActorId::new(NodeId(node), 0)
    }

    fn vv(entries: &[(u32, u64)]) -> VersionVector {
        VersionVector::from_entries(entries.iter().map(|(n, c)| (actor(*n), *c))).unwrap()
    }

    fn value(text: &str) -> Content {
        Content::Value(text.as_bytes().to_vec())
    }

    fn put(set: &mut Siblings, context: &VersionVector, text: &str, node: u32) -> Dot {
        let dot = set.update(context, value(text), actor(node)).unwrap();
        set.check_invariants().unwrap();
        dot
    }

    fn values(set: &Siblings) -> Vec<&[u8]> {
        set.values().collect()
    }

    #[test]
    fn update_with_dot_takes_a_fresh_dot_and_refuses_a_stale_one() {
        let mut set = Siblings::new();
        let first = Dot::new(actor(1), 5);
        set.update_with_dot(&VersionVector::new(), value("a"), first)
            .unwrap();
        set.check_invariants().unwrap();
        assert_eq!(set.clock().get(actor(1)), 5);
        // A dot the set already covers would alias an existing version: refused, and
        // nothing changes.
        let before = set.clone();
        let stale = Dot::new(actor(1), 5);
        let error = set
            .update_with_dot(&VersionVector::new(), value("b"), stale)
            .unwrap_err();
        assert_eq!(error, VersionError::DotNotFresh { dot: stale });
        assert_eq!(set, before);
        // A dot covered only by the writer's context is refused too.
        let context = vv(&[(1, 9)]);
        let seen = Dot::new(actor(1), 9);
        assert!(set.update_with_dot(&context, value("c"), seen).is_err());
        let fresh = Dot::new(actor(1), 10);
        set.update_with_dot(&context, value("c"), fresh).unwrap();
        assert_eq!(values(&set), [b"c".as_slice()]);
        set.check_invariants().unwrap();
    }

    /// `payload` followed by its checksum: a well-sealed encoding, so decode reaches
    /// the structural check a test aims at.
    fn seal(mut payload: Vec<u8>) -> Vec<u8> {
        let checksum = checksum(&payload);
        payload.extend_from_slice(&checksum);
        payload
    }

    #[test]
    fn concurrent_puts_through_one_coordinator_stay_siblings() {
        // The case plain version vectors get wrong (a false overwrite): both clients
        // read the empty key, both write through node 1.
        let mut set = Siblings::new();
        let first = put(&mut set, &VersionVector::new(), "x", 1);
        let second = put(&mut set, &VersionVector::new(), "y", 1);
        assert_eq!((first.counter, second.counter), (1, 2));
        assert_eq!(values(&set), vec![&b"x"[..], &b"y"[..]]);
        assert_eq!(set.clock(), &vv(&[(1, 2)]));
    }

    #[test]
    fn put_with_a_read_context_supersedes_every_sibling_it_read() {
        let mut set = Siblings::new();
        put(&mut set, &VersionVector::new(), "x", 1);
        put(&mut set, &VersionVector::new(), "y", 2);
        let read = set.context();
        let dot = put(&mut set, read.clock(), "z", 1);
        assert_eq!(values(&set), vec![&b"z"[..]]);
        assert_eq!(dot, Dot::new(actor(1), 2));
        assert_eq!(set.iter().next().unwrap().context, vv(&[(1, 1), (2, 1)]));
    }

    #[test]
    fn put_keeps_a_sibling_written_after_its_read() {
        let mut set = Siblings::new();
        put(&mut set, &VersionVector::new(), "x", 1);
        let read = set.context();
        put(&mut set, &read.clone().into_clock(), "y", 2);
        put(&mut set, read.clock(), "z", 1);
        assert_eq!(values(&set), vec![&b"z"[..], &b"y"[..]]);
    }

    #[test]
    fn update_refuses_a_value_over_the_limit_and_changes_nothing() {
        let mut set = Siblings::new();
        put(&mut set, &VersionVector::new(), "x", 1);
        let before = set.clone();
        let size = limits::VALUE_BYTES_MAX + 1;
        let result = set.update(
            &set.clock().clone(),
            Content::Value(vec![7; size]),
            actor(1),
        );
        let max = limits::VALUE_BYTES_MAX;
        assert_eq!(result, Err(VersionError::ValueTooLarge { size, max }));
        assert_eq!(set, before);
        let largest = Content::Value(vec![7; limits::VALUE_BYTES_MAX]);
        assert!(set.update(&VersionVector::new(), largest, actor(1)).is_ok());
    }

    #[test]
    fn update_refuses_too_many_siblings_and_drops_nothing() {
        let mut set = Siblings::new();
        for index in 0..limits::SIBLINGS_MAX {
            put(&mut set, &VersionVector::new(), &index.to_string(), 1);
        }
        let before = set.clone();
        let result = set.update(&VersionVector::new(), value("one more"), actor(2));
        let (count, max) = (limits::SIBLINGS_MAX + 1, limits::SIBLINGS_MAX);
        assert_eq!(result, Err(VersionError::TooManySiblings { count, max }));
        assert_eq!(set, before);
        // Resolving one sibling makes room; resolving all leaves one.
        let first = VersionVector::from_entries([(actor(1), 1)]).unwrap();
        put(&mut set, &first, "resolved one", 2);
        assert_eq!(set.len(), limits::SIBLINGS_MAX);
        let context = set.clock().clone();
        put(&mut set, &context, "resolved all", 2);
        assert_eq!(values(&set), vec![&b"resolved all"[..]]);
    }

    #[test]
    fn update_refuses_a_context_over_the_limit_and_changes_nothing() {
        let mut set = Siblings::new();
        let max = limits::CLOCK_ENTRIES_MAX;
        let full = VersionVector::from_entries((0..max as u32).map(|n| (actor(n), 1))).unwrap();
        // `from_entries` stops at the limit; a merge is the only way past it.
        let over = full.merged(&vv(&[(max as u32, 1)]));
        let result = set.update(&over, value("x"), actor(1));
        let entries = max + 1;
        assert_eq!(result, Err(VersionError::ContextTooLarge { entries, max }));
        assert_eq!(set, Siblings::new());
        // A full context is fine as long as the coordinator is already in it...
        assert!(set.clone().update(&full, value("x"), actor(1)).is_ok());
        // ...but a new coordinator would grow the key's clock past the limit.
        let result = set.update(&full, value("x"), actor(max as u32));
        assert_eq!(result, Err(VersionError::ClockTooLarge { entries, max }));
        assert_eq!(set, Siblings::new());
    }

    #[test]
    fn update_refuses_an_exhausted_counter_and_changes_nothing() {
        let mut set = Siblings::new();
        let forged = vv(&[(1, u64::MAX)]);
        let result = set.update(&forged, value("x"), actor(1));
        assert_eq!(
            result,
            Err(VersionError::CounterExhausted { actor: actor(1) })
        );
        assert_eq!(set, Siblings::new());
        // Another coordinator (or the node's next incarnation) can still write.
        assert!(set.update(&forged, value("x"), actor(2)).is_ok());
    }

    #[test]
    fn sync_never_enforces_the_sibling_limit() {
        let (mut left, mut right) = (Siblings::new(), Siblings::new());
        for index in 0..limits::SIBLINGS_MAX {
            put(&mut left, &VersionVector::new(), &index.to_string(), 1);
            put(&mut right, &VersionVector::new(), &index.to_string(), 2);
        }
        left.sync(&right);
        left.check_invariants().unwrap();
        assert_eq!(left.len(), 2 * limits::SIBLINGS_MAX);
        let count = 2 * limits::SIBLINGS_MAX + 1;
        let max = limits::SIBLINGS_MAX;
        let blind = left.update(&VersionVector::new(), value("x"), actor(3));
        assert_eq!(blind, Err(VersionError::TooManySiblings { count, max }));
        let context = left.clock().clone();
        put(&mut left, &context, "resolved", 3);
        assert_eq!(left.len(), 1);
    }

    #[test]
    fn a_delete_leaves_a_tombstone_that_outlives_an_old_replica() {
        let mut home = Siblings::new();
        put(&mut home, &VersionVector::new(), "x", 1);
        let stale = home.clone();
        let context = home.clock().clone();
        home.update(&context, Content::Tombstone, actor(1)).unwrap();
        assert!(home.is_deleted());
        assert_eq!(home.len(), 1, "the tombstone is kept");
        assert_eq!(values(&home), Vec::<&[u8]>::new());
        // The stale replica's value must not come back in either direction.
        assert_eq!(home.merged(&stale), home);
        assert_eq!(stale.merged(&home), home);
        assert!(!stale.is_deleted());
        assert!(Siblings::new().is_deleted());
    }

    #[test]
    fn discard_drops_what_the_context_covers_and_remembers_it() {
        let mut set = Siblings::new();
        put(&mut set, &VersionVector::new(), "x", 1);
        put(&mut set, &VersionVector::new(), "y", 2);
        let old = set.clone();
        set.discard(&vv(&[(1, 1)]));
        assert_eq!(values(&set), vec![&b"y"[..]]);
        set.check_invariants().unwrap();
        assert_eq!(set.merged(&old), set, "a discarded sibling stays discarded");
    }

    #[test]
    fn merge_keeps_one_copy_of_a_dot_whichever_side_holds_which() {
        let mut left = Siblings::new();
        put(&mut left, &VersionVector::new(), "x", 1);
        let mut right = left.clone();
        right.siblings[0].content = value("corrupted");
        assert_eq!(left.merged(&right), right.merged(&left));
        assert_eq!(left.merged(&right).len(), 1);
    }

    #[test]
    fn compare_relates_replicas_by_their_clocks() {
        let mut old = Siblings::new();
        put(&mut old, &VersionVector::new(), "x", 1);
        let mut new = old.clone();
        put(&mut new, &old.clock().clone(), "y", 1);
        let mut other = old.clone();
        put(&mut other, &VersionVector::new(), "z", 2);
        assert_eq!(old.compare(&new), Causality::Before);
        assert_eq!(new.compare(&old), Causality::After);
        assert_eq!(new.compare(&other), Causality::Concurrent);
        assert_eq!(old.compare(&old.clone()), Causality::Equal);
    }

    #[test]
    fn version_is_the_context_joined_with_the_dot() {
        let sibling = Sibling {
            dot: Dot::new(actor(2), 1),
            context: vv(&[(1, 2)]),
            content: Content::Tombstone,
        };
        assert_eq!(sibling.version(), vv(&[(1, 2), (2, 1)]));
        assert!(sibling.covers(Dot::new(actor(1), 2)));
        assert!(sibling.covers(Dot::new(actor(2), 1)));
        assert!(!sibling.covers(Dot::new(actor(1), 3)));
        assert_eq!(Content::Tombstone.value(), None);
        assert_eq!(value("x").value(), Some(&b"x"[..]));
        assert!(Content::Tombstone.is_tombstone() && !value("x").is_tombstone());
    }

    fn sibling(node: u32, counter: u64, context: VersionVector) -> Sibling {
        Sibling {
            dot: Dot {
                actor: actor(node),
                counter,
            },
            context,
            content: value("v"),
        }
    }

    fn broken(clock: VersionVector, siblings: Vec<Sibling>) -> Result<(), VersionError> {
        Siblings { clock, siblings }.check_invariants()
    }

    #[test]
    fn check_invariants_names_each_violation() {
        let empty = VersionVector::new;
        let clock = vv(&[(1, 5), (2, 5)]);
        let dot = |node, counter| Dot::new(actor(node), counter);
        let unsorted = vec![sibling(1, 2, empty()), sibling(1, 1, empty())];
        assert_eq!(
            broken(clock.clone(), unsorted),
            Err(VersionError::SiblingsNotSorted { dot: dot(1, 1) })
        );
        let repeated = vec![sibling(1, 1, empty()), sibling(1, 1, empty())];
        assert!(broken(clock.clone(), repeated).is_err());
        assert_eq!(
            broken(clock.clone(), vec![sibling(1, 0, empty())]),
            Err(VersionError::ZeroDot { actor: actor(1) })
        );
        assert_eq!(
            broken(clock.clone(), vec![sibling(1, 6, empty())]),
            Err(VersionError::DotNotInClock { dot: dot(1, 6) })
        );
        assert_eq!(
            broken(clock.clone(), vec![sibling(1, 1, vv(&[(3, 1)]))]),
            Err(VersionError::ContextNotInClock { dot: dot(1, 1) })
        );
        assert_eq!(
            broken(clock.clone(), vec![sibling(1, 1, vv(&[(1, 1)]))]),
            Err(VersionError::DotInOwnContext { dot: dot(1, 1) })
        );
        let ancestor = vec![sibling(1, 1, empty()), sibling(2, 1, vv(&[(1, 1)]))];
        assert_eq!(
            broken(clock.clone(), ancestor),
            Err(VersionError::NotConcurrent {
                newer: dot(2, 1),
                older: dot(1, 1)
            })
        );
        let mut huge = sibling(1, 1, empty());
        huge.content = Content::Value(vec![0; limits::VALUE_BYTES_MAX + 1]);
        assert!(matches!(
            broken(clock.clone(), vec![huge]),
            Err(VersionError::ValueTooLarge { .. })
        ));
        let fine = vec![sibling(1, 2, empty()), sibling(2, 1, vv(&[(1, 1)]))];
        assert_eq!(broken(clock, fine), Ok(()));
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
        largest.extend([0xff; 9]);
        largest.push(0x01);
        assert!(Context::decode(&seal(largest)).is_ok());
    }

    #[test]
    fn decode_rejects_too_many_entries() {
        let mut payload = vec![1];
        put_varint(&mut payload, limits::CLOCK_ENTRIES_MAX as u64 + 1);
        let max = limits::CLOCK_ENTRIES_MAX;
        let count = max as u64 + 1;
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
        let vectors = [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ];
        for (bytes, text) in vectors {
            assert_eq!(base64url_encode(bytes.as_bytes()), text);
            assert_eq!(base64url_decode(text).unwrap(), bytes.as_bytes());
        }
        assert_eq!(base64url_encode(&[0xfb, 0xff]), "-_8");
        assert_eq!(base64url_decode("-_8").unwrap(), vec![0xfb, 0xff]);
    }

    #[test]
    fn from_text_rejects_what_is_not_strict_base64url() {
        let text = Context::new(vv(&[(1, 2)])).to_text();
        let invalid = |offset| Err(ContextError::InvalidText { offset });
        assert_eq!(Context::from_text(&format!("{text}=")), invalid(text.len()));
        assert_eq!(Context::from_text("AQ+A"), invalid(2));
        assert_eq!(Context::from_text("AQAAA"), invalid(4), "impossible length");
        assert_eq!(Context::from_text("Zh"), invalid(1), "unused bits set");
        assert_eq!(Context::from_text(""), Err(ContextError::Empty));
    }
}
