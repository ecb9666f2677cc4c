//! The JavaScript surface: JSON text in, JSON text out.
//!
//! Text keeps the boundary trivial to test natively (the same functions run in
//! `cargo test`) and keeps every decision on the Rust side: the page parses what it
//! gets and draws it. Errors reach JavaScript as exceptions carrying the lowercase
//! message of the Rust error.

use crate::balance::{self, BalanceSetup};
use crate::explorer::Explorer;
use crate::scenario::{Action, Scenario, Setup};
use crate::view;
use wasm_bindgen::prelude::*;

/// A simulated cluster, driven by the page.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Visualiser {
    explorer: Explorer,
}

#[wasm_bindgen]
impl Visualiser {
    /// A fresh cluster from a setup (JSON; missing fields take their defaults).
    #[wasm_bindgen(constructor)]
    pub fn new(setup_json: &str) -> Result<Visualiser, String> {
        let setup: Setup = parse(setup_json)?;
        let explorer = Explorer::new(setup).map_err(|e| e.to_string())?;
        Ok(Self { explorer })
    }

    /// Rebuild a shared scenario (`{"setup": ..., "actions": [...]}`).
    pub fn replay(scenario_json: &str) -> Result<Visualiser, String> {
        let scenario = Scenario::from_json(scenario_json).map_err(|e| e.to_string())?;
        let explorer = Explorer::replay(&scenario).map_err(|e| e.to_string())?;
        Ok(Self { explorer })
    }

    /// Perform one action (JSON, e.g. `{"op":"get","via":1,"key":"cart"}`); returns
    /// the history index of a request, or -1.
    pub fn apply(&mut self, action_json: &str) -> Result<i64, String> {
        let action: Action = parse(action_json)?;
        let index = self.explorer.apply(action).map_err(|e| e.to_string())?;
        Ok(index.map_or(-1, |i| i as i64))
    }

    /// Everything the page draws, with `key` (may be empty) as the key of interest.
    pub fn view(&self, key: &str) -> String {
        let view = view::build(&self.explorer, Some(key));
        serde_json::to_string(&view).expect("the view serialises")
    }

    /// Simulated time now (ms): the timeline replays a run up to a chosen instant.
    pub fn now_ms(&self) -> f64 {
        self.explorer.sim().now_ms() as f64
    }

    /// Request `index`'s trace (JSON, see `view::TraceView`), for its sequence diagram.
    pub fn trace(&self, index: usize) -> Result<String, String> {
        let trace = view::trace(&self.explorer, index)
            .ok_or_else(|| format!("request #{index} is not among the newest requests shown"))?;
        Ok(serde_json::to_string(&trace).expect("the trace serialises"))
    }

    /// The scenario so far, for the URL.
    pub fn scenario(&self) -> String {
        self.explorer.scenario().to_json()
    }
}

/// Strategy 1 against strategy 3 for a setup (JSON, see `BalanceSetup`).
#[wasm_bindgen]
pub fn compare_strategies(setup_json: &str) -> Result<String, String> {
    let setup: BalanceSetup = parse(setup_json)?;
    let view = balance::compare(&setup).map_err(|e| e.to_string())?;
    Ok(serde_json::to_string(&view).expect("the comparison serialises"))
}

/// The partition (of `partitions` equal ones) that `key` hashes to: live mode looks a
/// real cluster's key up with the core's own hash.
#[wasm_bindgen]
pub fn key_partition(key: &str, partitions: u32) -> Result<u32, String> {
    if partitions == 0 {
        return Err("partitions must be at least 1".to_string());
    }
    Ok(dynamo_core::hash::partition_of_key(key.as_bytes(), partitions).0)
}

/// A context as a node sends it (`x-dynamo-context`), decoded into its version
/// vector, e.g. `[n1.1:2]`.
#[wasm_bindgen]
pub fn context_clock(text: &str) -> Result<String, String> {
    let context = dynamo_core::version::Context::from_text(text).map_err(|e| e.to_string())?;
    Ok(context.into_clock().to_string())
}

fn parse<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, String> {
    serde_json::from_str(json).map_err(|error| format!("bad json: {error}"))
}
