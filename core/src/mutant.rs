//! Planted bugs (feature `mutants`): deliberately broken variants of the protocol, so
//! the model checker, the simulator sweep and the fault tests can prove they catch
//! real bugs. A build without the feature has no way to switch one on: `Node` then
//! has no `set_mutant` and every check below is a constant `false`.
//!
//! Invariants:
//! - `Mutant::None` changes nothing;
//! - every variant has exactly one name in [`Mutant::ALL`], the one table that command
//!   lines and configurations parse.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// Deliberately broken variants, so tests can prove the checkers catch real bugs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Mutant {
    #[default]
    None,
    /// Count the coordinator's own acknowledgement without writing locally.
    AckBeforeLocalWrite,
    /// Delete a hint when it is sent, not when its delivery is acknowledged.
    DeleteHintBeforeAck,
    /// Answer a get after the first reply, whatever R says.
    ReadQuorumIgnoresR,
    /// A stand-in for a moving partition stores a write only as a replica, not also as
    /// a hint for the new home (issue 25, finding 3: it may drop the partition next).
    StandInWithoutHint,
    /// Merge concurrent counter states by keeping the larger value (the naive "max"
    /// merge) instead of joining per actor: concurrent increments are lost.
    CounterMergeByMax,
}

impl Mutant {
    /// Every variant and its name on command lines.
    pub const ALL: [(&'static str, Mutant); 6] = [
        ("none", Mutant::None),
        ("ack-before-local-write", Mutant::AckBeforeLocalWrite),
        ("delete-hint-before-ack", Mutant::DeleteHintBeforeAck),
        ("read-quorum-ignores-r", Mutant::ReadQuorumIgnoresR),
        ("stand-in-without-hint", Mutant::StandInWithoutHint),
        ("counter-merge-by-max", Mutant::CounterMergeByMax),
    ];

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, mutant)| *mutant == self)
            .map(|(name, _)| *name)
            .expect("every variant is in ALL")
    }
}

impl fmt::Display for Mutant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A mutant name that [`Mutant::ALL`] does not know.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("unknown mutant {name:?} (known: none, ack-before-local-write, delete-hint-before-ack, read-quorum-ignores-r, stand-in-without-hint, counter-merge-by-max)")]
pub struct UnknownMutant {
    pub name: String,
}

impl FromStr for Mutant {
    type Err = UnknownMutant;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, mutant)| *mutant)
            .ok_or_else(|| UnknownMutant {
                name: name.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back_to_its_variant() {
        for (name, mutant) in Mutant::ALL {
            assert_eq!(name.parse::<Mutant>(), Ok(mutant));
            assert_eq!(mutant.to_string(), name);
        }
        assert!("ack-before".parse::<Mutant>().is_err());
    }
}
