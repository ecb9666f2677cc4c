//! # dynamo-wasm
//!
//! The browser ring visualiser's Rust half: `wasm-bindgen` bindings over
//! `dynamo_core::sim`, the same seeded cluster simulator the core's tests run, so the
//! page shows exactly the protocol the server runs. This crate holds **no protocol
//! logic**: it turns page actions into simulator calls and simulator state into a view
//! model (ring segments, owners, colours, preference lists, per-node state, and the
//! simulator's real messages: delivered ones and those still in flight) that
//! JavaScript only draws.
//!
//! # Layout
//!
//! | module | what |
//! |---|---|
//! | [`scenario`] | setup + actions: a replayable, shareable description of a run |
//! | [`explorer`] | applies actions to a `Sim`, one event at a time, and records activity |
//! | [`wire`] | the messages in flight, mirrored from `Sim::in_flight` with send times |
//! | [`requests`] | which client request each message serves; the answers it collected |
//! | [`activity`] | what each event did: the message delivered, the timer fired, pulses |
//! | [`view`] | the view model handed to the page |
//! | [`balance`] | Dynamo §6.2: strategy 1 (tokens) against strategy 3 (equal partitions) |
//! | [`bindings`] | the `#[wasm_bindgen]` surface: JSON text in and out |
//!
//! The page lives in `wasm/www/`; `scripts/build-wasm.sh` builds it.
//!
//! ```
//! use dynamo_wasm::explorer::Explorer;
//! use dynamo_wasm::scenario::{Action, Setup};
//!
//! let mut explorer = Explorer::new(Setup::default()).unwrap();
//! let put = Action::Put { via: 1, key: "cart".into(), value: Some("book".into()), context: None };
//! explorer.apply(put).unwrap();
//! explorer.apply(Action::Advance { ms: 100 }).unwrap();
//! let view = dynamo_wasm::view::build(&explorer, Some("cart"));
//! assert_eq!(view.ring.unwrap().segments.len(), 32);
//! assert!(view.key.unwrap().replicas.len() >= 2, "W = 2 replicas hold the put");
//! ```
#![forbid(unsafe_code)]

pub mod activity;
pub mod balance;
pub mod bindings;
pub mod explorer;
pub mod requests;
pub mod scenario;
pub mod view;
pub mod wire;
