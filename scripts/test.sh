#!/usr/bin/env bash
# Runs every test of the project. Installs what it needs, idempotently.
# Usage: scripts/test.sh            (SIM_SEEDS=N raises the simulator sweep; MUTANTS=1 adds a mutation-testing sample)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "toolchain components"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
rustup target add wasm32-unknown-unknown >/dev/null

step "system packages (redis-tools: the server tests drive redis-cli and redis-benchmark; chromium and chromium-driver: the visualiser's browser test; nftables: the fault-injection tests partition nodes; etcd-server: dynamo bench's etcd target is tested against a real etcd)"
packages=()
command -v redis-cli >/dev/null && command -v redis-benchmark >/dev/null || packages+=(redis-tools)
command -v chromium >/dev/null && command -v chromedriver >/dev/null || packages+=(chromium chromium-driver)
command -v nft >/dev/null || packages+=(nftables)
command -v etcd >/dev/null || packages+=(etcd-server)
if [ ${#packages[@]} -gt 0 ]; then
  sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
fi

step "client libraries of the compatibility matrix (server/tests/clients.rs): the newest redis-py from PyPI in a venv, node-redis and ioredis from npm, under target/clients (upgraded on every run; redis-rs is a dev-dependency)"
clients=target/clients
mkdir -p "$clients/node"
command -v node >/dev/null && command -v npm >/dev/null || {
  sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
}
[ -x "$clients/venv/bin/python" ] || python3 -m venv "$clients/venv"
"$clients/venv/bin/pip" install --quiet --disable-pip-version-check --upgrade redis
[ -f "$clients/node/package.json" ] || echo '{"name": "dynamo-client-matrix", "private": true}' >"$clients/node/package.json"
(cd "$clients/node" && npm install --silent --no-audit --no-fund redis@latest ioredis@latest)

step "format"
cargo fmt --all -- --check

step "clippy (-D warnings)"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "tests (the browser test builds the page with scripts/build-wasm.sh and drives it in headless Chromium)"
cargo test --workspace --all-features

step "dynamo-core builds for wasm32 (the visualiser compiles it)"
cargo build -p dynamo-core --all-features --target wasm32-unknown-unknown

step "dynamo-core stays pure (no tokio in its normal dependencies)"
if cargo tree -p dynamo-core -e normal --all-features | grep -E '\b(tokio|mio|rand|getrandom)\b'; then
  echo "dynamo-core must not depend on a runtime or OS randomness" >&2
  exit 1
fi

step "dynamo-server's normal dependencies have no reqwest (its client is client/http1.rs on hyper)"
if cargo tree -p dynamo-server -e normal --all-features | grep -E '\breqwest\b'; then
  echo "dynamo-server must not depend on reqwest outside its tests" >&2
  exit 1
fi

step "mutation sample (only with MUTANTS=1: scripts/mutants.sh --file core/src/quorum.rs; tens of minutes, see docs/verification.md)"
if [ "${MUTANTS:-0}" = 1 ]; then
  scripts/mutants.sh --file core/src/quorum.rs
else
  echo "skipped: set MUTANTS=1 to run it"
fi

step "all tests passed"
