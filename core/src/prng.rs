//! The one seeded pseudo-random generator (SplitMix64, Steele et al. 2014).
//!
//! Dynamo's protocol picks random peers for gossip and anti-entropy (§4.8.1, §4.7) and
//! random tokens for the strategy-1 ring (§6.2); the simulator, the model checker, the
//! storage tests and the benchmarks pick faults, keys and operations. All of them take
//! their randomness from this generator and only from seeds, so every run can be
//! replayed. SplitMix64 is tiny, passes BigCrush, and its whole state is one `u64`, so
//! it is cheap to clone into model-checker states and to serialise.
//!
//! [`mix64`] is SplitMix64's output function on its own: a stateless bijection of `u64`
//! with full avalanche. It is a hash, not a generator, and the Merkle tree's child
//! mixer (`merkle::mix_child`) is built on it, so its constants live here only once.
//!
//! Invariants:
//! - the sequence is a pure function of the seed (`splitmix_reference_values` pins it
//!   to the reference implementation);
//! - [`Prng::below`] is uniform over `0..bound`, without modulo bias;
//! - [`mix64`] is a bijection and never changes: Merkle roots compared across replicas
//!   (and across versions in a rolling upgrade) depend on it.

use serde::{Deserialize, Serialize};

/// SplitMix64's increment, the odd integer closest to 2^64 / φ (the golden ratio):
/// successive states are far apart, and a multiple of it keys a mixer by position.
pub const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's output function (Stafford's "Mix13" variant of MurmurHash3's
/// finaliser): a bijection of `u64` in which every input bit flips every output bit
/// with probability close to one half.
pub const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A deterministic random number generator.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Prng {
    state: u64,
}

impl Prng {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        mix64(self.state)
    }

    pub fn next_u128(&mut self) -> u128 {
        (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64())
    }

    /// A uniform value in `0..bound`, without modulo bias (rejection sampling);
    /// `0` when `bound` is `0`.
    pub fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            return 0;
        }
        // Reject the top partial bucket so every residue is equally likely.
        let zone = u64::MAX - (u64::MAX % bound + 1) % bound;
        loop {
            let x = self.next_u64();
            if x <= zone {
                return x % bound;
            }
        }
    }

    /// A uniform index into a slice of `len` items: [`Prng::below`] for `usize`.
    pub fn index(&mut self, len: usize) -> usize {
        // usize is at most 64 bits on every supported target, so both casts are exact.
        self.below(len as u64) as usize
    }

    /// A uniform `f64` in `[0, 1)`: the top 53 bits, the precision of an `f64`, so
    /// every value is a multiple of 2^-53 and all are equally likely.
    pub fn next_f64(&mut self) -> f64 {
        const SCALE: f64 = 1.0 / (1u64 << 53) as f64;
        (self.next_u64() >> 11) as f64 * SCALE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let (mut a, mut b) = (Prng::new(7), Prng::new(7));
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(Prng::new(1).next_u64(), Prng::new(2).next_u64());
    }

    #[test]
    fn splitmix_reference_values() {
        // First outputs of SplitMix64 seeded with 0 (reference implementation).
        let mut prng = Prng::new(0);
        assert_eq!(prng.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(prng.next_u64(), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn mix64_is_the_output_function_and_is_pinned() {
        assert_eq!(mix64(GOLDEN_GAMMA), Prng::new(0).next_u64());
        assert_eq!(
            mix64(0),
            0,
            "zero is the one fixed point the finaliser keeps"
        );
        // Merkle roots depend on these values: a change here is a wire change.
        assert_eq!(mix64(1), 0x5692_161d_100b_05e5);
        assert_eq!(mix64(u64::MAX), 0xb4d0_55fc_f2cb_bd7b);
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut prng = Prng::new(42);
        let mut seen = [0u32; 6];
        for _ in 0..6000 {
            let x = prng.below(6);
            seen[x as usize] += 1;
        }
        assert!(
            seen.iter().all(|count| (800..1200).contains(count)),
            "{seen:?}"
        );
        assert_eq!(prng.below(0), 0);
        assert_eq!(prng.below(1), 0);
        assert_eq!(prng.index(0), 0);
        assert!(prng.below(u64::MAX) < u64::MAX);
    }

    #[test]
    fn index_picks_every_slot() {
        let mut prng = Prng::new(3);
        let mut seen = [false; 5];
        for _ in 0..200 {
            seen[prng.index(seen.len())] = true;
        }
        assert_eq!(seen, [true; 5]);
    }

    #[test]
    fn next_f64_is_in_the_unit_interval_with_mean_one_half() {
        let mut prng = Prng::new(11);
        let draws: Vec<f64> = (0..10_000).map(|_| prng.next_f64()).collect();
        assert!(draws.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((0.49..0.51).contains(&mean), "mean {mean}");
    }
}
