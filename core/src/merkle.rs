//! Merkle trees for anti-entropy (Dynamo §4.7).
//!
//! SKELETON: being written (issue 2).
