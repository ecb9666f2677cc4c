//! The ring: equal partitions, claim, preference lists (Dynamo §4.2, §4.3, §6.2).
//!
//! SKELETON: being written (issue 2).
