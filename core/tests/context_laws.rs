//! The laws of the opaque context codec (Dynamo §4.4; `dynamo_core::context`), as
//! property tests: every context within the limits round-trips through bytes and text,
//! only canonical input decodes, damage is caught, and no input makes the decoder panic
//! or accept more than the limits.

use dynamo_core::clock::VersionVector;
use dynamo_core::context::{Context, ContextError, CONTEXT_BYTES_MAX, CONTEXT_TEXT_MAX};
use dynamo_core::types::{limits, ActorId, NodeId};
use proptest::prelude::*;

/// Any values the wire format must carry: full-width ids and counters.
fn wide_version_vector() -> impl Strategy<Value = VersionVector> {
    let actor = (any::<u32>(), any::<u32>());
    let counter = prop_oneof![1u64..300, 1u64..=u64::MAX, Just(u64::MAX)];
    prop::collection::btree_map(actor, counter, 0..24).prop_map(|entries| {
        let entries = entries.into_iter().map(|((node, incarnation), counter)| {
            (ActorId::new(NodeId(node), incarnation), counter)
        });
        VersionVector::from_entries(entries).unwrap()
    })
}

proptest! {
    #[test]
    fn context_decode_inverts_encode(clock in wide_version_vector()) {
        let context = Context::new(clock);
        prop_assert_eq!(Context::decode(&context.encode()), Ok(context.clone()));
        prop_assert_eq!(Context::from_text(&context.to_text()), Ok(context));
    }

    #[test]
    fn context_decode_of_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(context) = Context::decode(&bytes) {
            prop_assert_eq!(context.encode(), bytes, "only canonical encodings decode");
        }
    }

    #[test]
    fn context_decode_of_sealed_arbitrary_payloads_never_panics(
        payload in prop::collection::vec(any::<u8>(), 0..80),
    ) {
        // Past the checksum, so the parser itself sees hostile input.
        let mut bytes = vec![1];
        bytes.extend(payload);
        let checksum = md5_prefix(&bytes);
        bytes.extend(checksum);
        if let Ok(context) = Context::decode(&bytes) {
            prop_assert_eq!(context.encode(), bytes, "only canonical encodings decode");
        }
    }

    #[test]
    fn context_from_text_of_arbitrary_text_never_panics(text in "[A-Za-z0-9_=+/-]{0,80}|\\PC{0,40}") {
        if let Ok(context) = Context::from_text(&text) {
            prop_assert_eq!(context.to_text(), text, "only canonical text decodes");
        }
    }

    #[test]
    fn flipping_any_byte_of_an_encoding_is_rejected(
        clock in wide_version_vector(),
        position in any::<usize>(),
        mask in 1u8..=255,
    ) {
        let mut bytes = Context::new(clock).encode();
        let position = position % bytes.len();
        bytes[position] ^= mask;
        let result = Context::decode(&bytes);
        if position == 0 {
            prop_assert!(
                matches!(result, Err(ContextError::UnknownFormat { .. })),
                "{:?}",
                result
            );
        } else {
            prop_assert!(matches!(result, Err(ContextError::ChecksumMismatch { .. })), "{:?}", result);
        }
    }
}

/// The checksum the format specifies, computed independently of the crate.
fn md5_prefix(bytes: &[u8]) -> [u8; 4] {
    use md5::{Digest, Md5};
    let digest = Md5::digest(bytes);
    [digest[0], digest[1], digest[2], digest[3]]
}

proptest! {
    #[test]
    fn every_context_within_the_limits_fits_the_byte_and_text_maxima(clock in wide_version_vector()) {
        let context = Context::new(clock);
        prop_assert!(context.encode().len() <= CONTEXT_BYTES_MAX);
        prop_assert!(context.to_text().len() <= CONTEXT_TEXT_MAX);
    }

    #[test]
    fn cutting_an_encoding_anywhere_is_rejected(clock in wide_version_vector(), cut in any::<usize>()) {
        let bytes = Context::new(clock).encode();
        let cut = cut % bytes.len();
        prop_assert!(Context::decode(&bytes[..cut]).is_err());
        let text = Context::new(VersionVector::new()).to_text();
        prop_assert!(Context::from_text(&text[..cut % text.len()]).is_err());
    }

    #[test]
    fn a_clock_over_the_entry_limit_encodes_but_never_decodes(extra in 1usize..8) {
        let entries = (0..(limits::CLOCK_ENTRIES_MAX + extra) as u32)
            .map(|node| (ActorId::new(NodeId(node), 0), 1));
        // `from_entries` stops at the limit: merge two halves to get past it.
        let (low, high): (Vec<_>, Vec<_>) = entries.partition(|(actor, _)| actor.node.0 % 2 == 0);
        let low = VersionVector::from_entries(low).unwrap();
        let over = low.merged(&VersionVector::from_entries(high).unwrap());
        let count = over.len() as u64;
        let max = limits::CLOCK_ENTRIES_MAX;
        let context = Context::new(over);
        prop_assert_eq!(
            Context::decode(&context.encode()),
            Err(ContextError::TooManyEntries { count, max })
        );
        prop_assert_eq!(
            Context::from_text(&context.to_text()),
            Err(ContextError::TooManyEntries { count, max })
        );
    }
}
