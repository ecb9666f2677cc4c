#!/usr/bin/env bash
# Builds the browser ring visualiser: dynamo-wasm for wasm32, then the JS glue
# (wasm-bindgen --target web) into wasm/www/pkg/. Installs what it needs, idempotently:
# the wasm32 target and the wasm-bindgen CLI of exactly the version in Cargo.lock.
# Incremental; builds into $CARGO_TARGET_DIR when set (the browser test sets its own,
# target/wasm-build, since the `cargo test` running it holds the normal one's lock).
# Open it with:  python3 -m http.server -d wasm/www 8000 --bind 127.0.0.1
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-unknown-unknown >/dev/null

# The CLI must match the wasm-bindgen crate exactly, or the glue and the module disagree.
version=$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/"/, "", $3); print $3 }' Cargo.lock)
if [ -z "$version" ]; then
  echo "build-wasm: wasm-bindgen is not in Cargo.lock" >&2
  exit 1
fi
if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $version"; then
  echo "build-wasm: installing wasm-bindgen-cli $version (a few minutes, once)"
  cargo install wasm-bindgen-cli --version "$version"
fi

cargo build -p dynamo-wasm --release --target wasm32-unknown-unknown
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
wasm-bindgen --target web --no-typescript --out-dir wasm/www/pkg \
  "$target_dir/wasm32-unknown-unknown/release/dynamo_wasm.wasm"
module=wasm/www/pkg/dynamo_wasm_bg.wasm

# No wasm-opt: Debian's (binaryen 108) takes the module from 1.18 MB to 0.97 MB but
# breaks it (the page fails to start: "WebAssembly.Table.set(): Argument 1 is invalid
# for table"), with or without --enable-reference-types and the other feature flags;
# and gzipped the gain would be 351 KB against 360 KB.

# Gzip copies beside the module and its glue: a node's /ui/ sends them to browsers
# that accept gzip. Rewritten on every build, so never older than what they copy.
gzip -9 -k -f -n "$module" wasm/www/pkg/dynamo_wasm.js
echo "build-wasm: page ready in wasm/www/ ($(du -h "$module" | cut -f1) of wasm, $(du -h "$module.gz" | cut -f1) gzipped)"
