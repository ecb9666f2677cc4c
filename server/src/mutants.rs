//! The deliberately broken node variants by name, for `dynamo serve --mutant NAME`.
//!
//! Compiled only with the `mutants` feature (which also turns on the core's), so a
//! release build cannot run a node that loses acknowledged writes. The fault-injection
//! tests (`dynamo-tests`) start such nodes to prove their checker catches real bugs.
//!
//! [`NAMES`] is the one table between names and variants: parsing, printing and the
//! list in error messages all read it.

use dynamo_core::node::Mutant;
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// Every mutant and its command-line name.
pub const NAMES: [(Mutant, &str); 4] = [
    (Mutant::None, "none"),
    (Mutant::AckBeforeLocalWrite, "ack-before-local-write"),
    (Mutant::DeleteHintBeforeAck, "delete-hint-before-ack"),
    (Mutant::ReadQuorumIgnoresR, "read-quorum-ignores-r"),
];

/// A [`Mutant`] read from or shown as its name. A wrapper because neither `Mutant` nor
/// the `FromStr` and `Display` traits belong to this crate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MutantName(pub Mutant);

/// A name that is not in [`NAMES`].
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("unknown mutant {name:?} (expected one of: {})", known())]
pub struct UnknownMutant {
    pub name: String,
}

fn known() -> String {
    let names: Vec<&str> = NAMES.iter().map(|(_, name)| *name).collect();
    names.join(", ")
}

impl FromStr for MutantName {
    type Err = UnknownMutant;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        NAMES
            .iter()
            .find(|(_, name)| *name == text)
            .map(|(mutant, _)| MutantName(*mutant))
            .ok_or_else(|| UnknownMutant {
                name: text.to_string(),
            })
    }
}

impl fmt::Display for MutantName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match NAMES.iter().find(|(mutant, _)| *mutant == self.0) {
            Some((_, name)) => f.write_str(name),
            // A variant the core gained and the table lacks: still say which.
            None => write!(f, "{:?}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_reads_back_as_its_variant() {
        for (mutant, name) in NAMES {
            let parsed: MutantName = name.parse().expect("a listed name");
            assert_eq!(parsed, MutantName(mutant));
            assert_eq!(parsed.to_string(), name);
        }
        let variants: std::collections::HashSet<Mutant> = NAMES.iter().map(|(m, _)| *m).collect();
        assert_eq!(variants.len(), NAMES.len(), "one name per variant");
    }

    #[test]
    fn an_unknown_name_is_refused_with_the_known_ones() {
        let error = "ack-after-local-write".parse::<MutantName>().unwrap_err();
        let message = error.to_string();
        assert!(message.starts_with("unknown mutant \"ack-after-local-write\""));
        assert!(message.contains("delete-hint-before-ack"), "{message}");
    }
}
