//! Key hashing (Dynamo §4.2): MD5 of the key bytes, read big-endian, is the key's
//! 128-bit position on the ring; the ring is cut into a power-of-two number of equal
//! ranges (§6.2, strategy 3), so a key's partition is the top bits of its position.
//!
//! Invariants:
//! - `partition_of(position, partitions) < partitions` for every valid partition count;
//! - partition `p` covers exactly `[partition_start(p), partition_start(p + 1))`, so the
//!   partitions tile the whole ring in order, with equal sizes.

use crate::types::{limits, PartitionId};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

/// A point on Dynamo's ring: the 128-bit output space of MD5.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct RingPosition(pub u128);

/// The MD5 of `key`, as a ring position.
pub fn key_position(key: &[u8]) -> RingPosition {
    let digest: [u8; 16] = Md5::digest(key).into();
    RingPosition(u128::from_be_bytes(digest))
}

/// Whether `partitions` is a partition count the ring accepts: a power of two within
/// `PARTITIONS_MIN..=PARTITIONS_MAX`.
pub fn valid_partition_count(partitions: u32) -> bool {
    partitions.is_power_of_two()
        && (limits::PARTITIONS_MIN..=limits::PARTITIONS_MAX).contains(&partitions)
}

/// The partition holding `position`: its top `log2(partitions)` bits.
///
/// # Panics
/// If `partitions` is not a valid partition count (a caller bug: counts are validated
/// where configuration enters).
pub fn partition_of(position: RingPosition, partitions: u32) -> PartitionId {
    assert!(
        valid_partition_count(partitions),
        "invalid partition count {partitions}"
    );
    let bits = partitions.trailing_zeros();
    if bits == 0 {
        return PartitionId(0);
    }
    // At most 16 bits remain after the shift, so the cast is lossless.
    PartitionId((position.0 >> (128 - bits)) as u32)
}

/// The partition of `key`.
pub fn partition_of_key(key: &[u8], partitions: u32) -> PartitionId {
    partition_of(key_position(key), partitions)
}

/// The first ring position of `partition`.
pub fn partition_start(partition: PartitionId, partitions: u32) -> RingPosition {
    assert!(
        valid_partition_count(partitions),
        "invalid partition count {partitions}"
    );
    let bits = partitions.trailing_zeros();
    if bits == 0 {
        return RingPosition(0);
    }
    RingPosition(u128::from(partition.0) << (128 - bits))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_of_known_inputs() {
        // RFC 1321 test suite.
        assert_eq!(key_position(b"").0, 0xd41d8cd98f00b204e9800998ecf8427e);
        assert_eq!(key_position(b"abc").0, 0x900150983cd24fb0d6963f7d28e17f72);
    }

    #[test]
    fn partitions_tile_the_ring() {
        for bits in 0..=16 {
            let partitions = 1u32 << bits;
            assert_eq!(partition_of(RingPosition(0), partitions), PartitionId(0));
            assert_eq!(
                partition_of(RingPosition(u128::MAX), partitions),
                PartitionId(partitions - 1)
            );
            for p in [0, partitions / 2, partitions - 1] {
                let start = partition_start(PartitionId(p), partitions);
                assert_eq!(partition_of(start, partitions), PartitionId(p));
                if start.0 > 0 {
                    assert_eq!(
                        partition_of(RingPosition(start.0 - 1), partitions),
                        PartitionId(p - 1)
                    );
                }
            }
        }
    }

    #[test]
    fn rejects_counts_that_are_not_powers_of_two() {
        assert!(!valid_partition_count(0));
        assert!(!valid_partition_count(3));
        assert!(!valid_partition_count(1 << 17));
        assert!(valid_partition_count(1024));
    }
}
