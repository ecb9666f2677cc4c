#!/usr/bin/env bash
# Mutation testing (cargo-mutants): does any test fail when the code is changed?
# Installs cargo-mutants (pinned, so a re-run generates the same mutants) if missing.
#
# Usage:
#   scripts/mutants.sh                        every core file (hours: shard it)
#   scripts/mutants.sh --shard 1/8            one eighth of them (slices, in source order)
#   scripts/mutants.sh --file core/src/quorum.rs [--file ...]   only these files
#   scripts/mutants.sh --diff [BASE]          only code this branch changed since BASE (main)
#   scripts/mutants.sh --server               the server's pure parts (RESP parser, frame codec)
#   scripts/mutants.sh --list ...             list the mutants, run nothing
#   scripts/mutants.sh ... -- ARGS            pass ARGS to cargo mutants (e.g. -- --iterate)
#
# What guards what (docs/verification.md):
#   core/src/** (but the simulator and the planted-bug table, which are test tooling)
#     is tested by `cargo test -p dynamo-core -p dynamo-model --all-features`: unit and
#     law tests, the simulator tests and sweep, the model checker's bounded checks;
#   server/src/resp.rs and server/src/peer.rs by the server's unit tests (`--lib`),
#     never its process-level tests.
# The simulator sweep runs 100 seeds per shape, not 1000 (MUTANTS_SIM_SEEDS=N to
# change it), so that a surviving mutant's test run takes about 80 s, not 5 minutes.
#
# One build and one test run at a time (-j 1): the machine has two cores. Builds go to
# target/mutants-build (kept between runs, so only the workspace crates are rebuilt).
# Results: target/mutants/<name>/mutants.out/{caught,missed,timeout,unviable}.txt and
# outcomes.json; a summary line at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
script="$PWD/scripts/mutants.sh"

# All in a function: bash parses it whole before running, so editing this file while
# a run goes on (hours) cannot derail it.
main() {
  CARGO_MUTANTS_VERSION=27.1.0

  files=()
  shard=""
  diff_base=""
  mode=core
  list=false
  extra=()
  test_args=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --file) files+=("$2"); shift 2 ;;
      --shard) shard="$2"; shift 2 ;;
      --diff)
        if [ $# -gt 1 ] && [ "${2:0:2}" != "--" ]; then diff_base="$2"; shift 2; else diff_base=main; shift; fi ;;
      --server) mode=server; shift ;;
      --list) list=true; shift ;;
      --) shift; extra=("$@"); break ;;
      -h|--help) sed -n '2,27p' "$script"; exit 0 ;;
      *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
  done

  if [ "$(cargo mutants --version 2>/dev/null || true)" != "cargo-mutants $CARGO_MUTANTS_VERSION" ]; then
    echo "== installing cargo-mutants $CARGO_MUTANTS_VERSION"
    cargo install cargo-mutants --locked --version "$CARGO_MUTANTS_VERSION"
  fi

  # Not the caller's SIM_SEEDS: the counts must not depend on who calls.
  export SIM_SEEDS="${MUTANTS_SIM_SEEDS:-100}"
  export CARGO_TARGET_DIR="${MUTANTS_TARGET_DIR:-$PWD/target/mutants-build}"
  # Every mutant is a new build: incremental caches would only grow (by gigabytes over
  # a run), and debug info only slows the links. Neither changes what a test sees.
  export CARGO_INCREMENTAL=0 CARGO_PROFILE_DEV_DEBUG=0

  # A file under server/ selects the server's set.
  for file in "${files[@]}"; do
    case "$file" in server/*) mode=server ;; esac
  done

  args=(--no-shuffle -j 1 --timeout "${MUTANTS_TIMEOUT:-600}" --minimum-test-timeout 120
    --build-timeout 900 --cap-lints true)
  case "$mode" in
    core)
      args+=(--package dynamo-core --test-package dynamo-core,dynamo-model
        --all-features --exclude core/src/sim.rs --exclude 'core/src/sim/**'
        --exclude core/src/mutant.rs)
      ;;
    server)
      args+=(--package dynamo-server --test-package dynamo-server)
      [ ${#files[@]} -gt 0 ] || files=(server/src/resp.rs server/src/peer.rs)
      test_args=(-- --lib)
      ;;
  esac
  for file in "${files[@]}"; do args+=(--file "$file"); done

  name="$mode"
  for file in "${files[@]}"; do name="$name-$(basename "$file" .rs)"; done
  name="${MUTANTS_NAME:-$name}"
  if [ -n "$shard" ]; then
    args+=(--shard "$shard")
    name="$name-shard-${shard/\//-of-}"
  fi
  if [ -n "$diff_base" ]; then
    mkdir -p target/mutants
    git diff "$diff_base"... > "target/mutants/$name.diff"
    args+=(--in-diff "target/mutants/$name.diff")
    name="$name-diff"
  fi

  if $list; then
    exec cargo mutants "${args[@]}" --list "${extra[@]}" "${test_args[@]}"
  fi

  out="target/mutants/$name"
  mkdir -p "$out"
  echo "== cargo mutants ${args[*]} ${extra[*]} ${test_args[*]} (SIM_SEEDS=$SIM_SEEDS) -> $out"
  status=0
  cargo mutants "${args[@]}" --output "$out" "${extra[@]}" "${test_args[@]}" || status=$?
  # cargo-mutants exits 2 when some mutant was missed, 3 on timeouts; 1 and 4 are errors.
  results="$out/mutants.out"
  if [ -d "$results" ]; then
    count() { [ -f "$results/$1.txt" ] && wc -l < "$results/$1.txt" | tr -d ' ' || echo 0; }
    echo "== caught $(count caught), missed $(count missed), unviable $(count unviable), timeout $(count timeout)"
    [ "$(count missed)" -eq 0 ] || { echo "missed:"; sed 's/^/  /' "$results/missed.txt"; }
  fi
  exit "$status"
}

main "$@"
