//! Key hashing (Dynamo §4.2): MD5 of the key bytes as a 128-bit ring position.
//!
//! SKELETON: being written (issue 2).
