#!/usr/bin/env bash
# Fuzz every door of a node for a bounded time: the RESP parser, the peer frame
# decoder, the context decoder, and a running node stepped with hostile peer
# messages (node_step). Installs nightly and cargo-fuzz if missing.
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
rustc +nightly --version >/dev/null 2>&1 || rustup toolchain install nightly --profile minimal --force
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
for target in resp_parse peer_frame context_decode node_step; do
  echo "== fuzzing $target for ${seconds}s"
  cargo +nightly fuzz run --fuzz-dir fuzz "$target" -- -max_total_time="$seconds" -max_len=65536
done
echo "== no crashes"
