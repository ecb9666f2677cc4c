//! wasm-bindgen bindings over `dynamo_core::sim` for the browser visualiser (issue 6).
//! Empty until the core simulator exists.
