//! Jepsen-style tests of real `dynamo` processes (issue 8): a harness that starts
//! nodes on their own 127.0.0.x addresses ([`harness`]), faults done to them (crash,
//! pause, network partitions with nftables), a workload of concurrent clients that
//! records every invocation ([`workload`]), and a checker that nothing acknowledged
//! was lost and nothing appeared that nobody wrote ([`checker`]). [`run`] ties them.
//! [`datatypes`] is the set and counter workload on the convergent data types.
//!
//! The nftables rules need root (CI runs as root; `scripts/test.sh` installs
//! `nftables`).

pub mod checker;
pub mod datatypes;
pub mod harness;
pub mod run;
pub mod workload;
