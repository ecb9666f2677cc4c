//! The membership view and its CRDT merge (Dynamo §4.8).
//!
//! SKELETON: being written (issue 2).
