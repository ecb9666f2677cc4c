//! stateright model of `dynamo_core::Node` (issue 5). Nothing is checked here yet:
//! the model arrives once the core protocol state machine exists.
