#!/usr/bin/env bash
# Benchmarks dynamo next to Redis on this machine, in one run (issue 9), and writes
# docs/bench/results.json and docs/bench/README.md.
#
# Starts, on 127.0.0.1 only, and stops at exit (even on failure or Ctrl-C):
#   redis      redis-server, one node, no persistence
#   dynamo-1   one dynamo node, N=1 R=1 W=1, durable
#   dynamo-3d  three dynamo nodes, N=3 R=2 W=2, durable (group commit + fsync)
#   dynamo-3b  three dynamo nodes, N=3 R=2 W=2, --durability buffered
# and drives each with redis-benchmark (SET/GET, -c 50, unpipelined and -P 16) and
# with `dynamo bench` (workloads W and C; RESP, and dynamo's partition-aware client).
#
# Usage: scripts/bench.sh   Environment: DURATION (s per `dynamo bench` run, 10),
# REQUESTS (per redis-benchmark test, 100000), KEYS (100000), VALUE (bytes, 100),
# CONCURRENCY (50), BASE_PORT (26300; uses BASE_PORT..BASE_PORT+99).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
REQUESTS=${REQUESTS:-100000}
KEYS=${KEYS:-100000}
VALUE=${VALUE:-100}
CONCURRENCY=${CONCURRENCY:-50}
BASE_PORT=${BASE_PORT:-26300}
# Every external run is cut off after this, so a stuck server cannot hang the script.
RUN_LIMIT=$((DURATION * 3 + 180))
OUT=docs/bench
WORK=$(mktemp -d)
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

step() { printf '\n== %s\n' "$*" >&2; }

install_packages() {
  local packages=()
  command -v redis-server >/dev/null || packages+=(redis-server)
  command -v redis-benchmark >/dev/null && command -v redis-cli >/dev/null || packages+=(redis-tools)
  command -v python3 >/dev/null || packages+=(python3)
  if [ ${#packages[@]} -gt 0 ]; then
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
  fi
}

# Wait (bounded) until the RESP server at port $1 acknowledges a write.
wait_writable() {
  for _ in $(seq 1 150); do
    [ "$(redis-cli -p "$1" set bench-ready 1 2>/dev/null)" = OK ] && return 0
    sleep 0.2
  done
  echo "port $1 never accepted a write" >&2
  return 1
}

start_redis() {
  redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no \
    --logfile "$WORK/redis.log" &
  PIDS+=($!)
  wait_writable "$1"
}

# start_dynamo NAME NODES DURABILITY PORT0: node i has RESP at PORT0+i, peers at
# PORT0+10+i, HTTP at PORT0+20+i.
start_dynamo() {
  local name=$1 nodes=$2 durability=$3 port0=$4 members=() quorum=2
  [ "$nodes" -eq 1 ] && quorum=1
  for i in $(seq 1 "$nodes"); do members+=(--member "$i=127.0.0.1:$((port0 + 10 + i))"); done
  for i in $(seq 1 "$nodes"); do
    DYNAMO_SECRET=bench-secret RUST_LOG=warn target/release/dynamo serve --id "$i" \
      --data-dir "$WORK/$name-n$i" --cluster "$name" --durability "$durability" \
      --client-listen "127.0.0.1:$((port0 + i))" --peer-listen "127.0.0.1:$((port0 + 10 + i))" \
      --http-listen "127.0.0.1:$((port0 + 20 + i))" "${members[@]}" \
      -N "$nodes" -R "$quorum" -W "$quorum" 2>"$WORK/$name-n$i.log" &
    PIDS+=($!)
  done
  for i in $(seq 1 "$nodes"); do wait_writable "$((port0 + i))"; done
}

# redis_benchmark STORE PORT PIPELINE: SET and GET, one CSV line each, into results.
redis_benchmark() {
  local store=$1 port=$2 pipeline=$3
  step "redis-benchmark $store -P $pipeline"
  timeout "$RUN_LIMIT" redis-benchmark -h 127.0.0.1 -p "$port" -c "$CONCURRENCY" \
    -n "$REQUESTS" -r "$KEYS" -d "$VALUE" -P "$pipeline" -t set,get --csv \
    >"$WORK/rb-$store-P$pipeline.csv" || echo "redis-benchmark $store -P $pipeline failed" >&2
  cat "$WORK/rb-$store-P$pipeline.csv" >&2
}

# dynamo_bench STORE TARGET WORKLOAD ADDR... : one JSON report into results.
dynamo_bench() {
  local store=$1 target=$2 workload=$3; shift 3
  local addrs=() preload=()
  for addr in "$@"; do addrs+=(--addr "$addr"); done
  # Reads need the keys: each store's first read-only run (RESP) writes them all first.
  [ "$workload" = c ] && [ "$target" = resp ] && preload=(--preload)
  step "dynamo bench $store $target workload $workload"
  timeout "$RUN_LIMIT" target/release/dynamo bench --target "$target" "${addrs[@]}" \
    --workload "$workload" --keys "$KEYS" --value-size "$VALUE" \
    --concurrency "$CONCURRENCY" --duration "$DURATION" --preload-timeout 120 \
    "${preload[@]}" --quiet --json >"$WORK/db-$store-$target-$workload.json" ||
    echo "dynamo bench $store $target $workload failed" >&2
  grep -E '"(ok|failed|throughput)"' "$WORK/db-$store-$target-$workload.json" >&2 || true
}

run_all() {
  local p=$BASE_PORT
  step "redis (port $p)"
  start_redis "$p"
  redis_benchmark redis "$p" 1
  redis_benchmark redis "$p" 16
  dynamo_bench redis resp w "127.0.0.1:$p"
  dynamo_bench redis resp c "127.0.0.1:$p"

  step "dynamo, 1 node, N=1 (ports $((p + 10))..)"
  start_dynamo dynamo-1 1 durable "$((p + 10))"
  redis_benchmark dynamo-1 "$((p + 11))" 1
  redis_benchmark dynamo-1 "$((p + 11))" 16
  for w in w c; do
    dynamo_bench dynamo-1 resp "$w" "127.0.0.1:$((p + 11))"
    dynamo_bench dynamo-1 dynamo-http "$w" "127.0.0.1:$((p + 31))"
  done

  local name port0
  for durability in durable buffered; do
    name=dynamo-3${durability:0:1}
    port0=$((p + 40))
    [ "$durability" = buffered ] && port0=$((p + 70))
    step "$name: 3 nodes, N=3 R=2 W=2, $durability (ports $port0..)"
    start_dynamo "$name" 3 "$durability" "$port0"
    redis_benchmark "$name" "$((port0 + 1))" 1
    for w in w c; do
      dynamo_bench "$name" resp "$w" "127.0.0.1:$((port0 + 1))" "127.0.0.1:$((port0 + 2))" "127.0.0.1:$((port0 + 3))"
      dynamo_bench "$name" dynamo-http "$w" "127.0.0.1:$((port0 + 21))" "127.0.0.1:$((port0 + 22))" "127.0.0.1:$((port0 + 23))"
    done
  done
}

# Gather every CSV and JSON of $WORK into results.json and a markdown table.
report() {
  SETTINGS="DURATION=$DURATION REQUESTS=$REQUESTS KEYS=$KEYS VALUE=$VALUE CONCURRENCY=$CONCURRENCY" \
    MACHINE="$(nproc) cores, $(free -m | awk '/^Mem:/ {print $2}') MiB RAM, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" \
    python3 - "$WORK" "$OUT" <<'PY'
import csv, glob, json, os, sys, datetime
work, out = sys.argv[1], sys.argv[2]
rb = []
for path in sorted(glob.glob(f"{work}/rb-*.csv")):
    store, pipeline = os.path.basename(path)[3:-4].rsplit("-P", 1)
    for row in csv.DictReader(open(path)):
        rb.append({"store": store, "pipeline": int(pipeline), "test": row["test"],
                   "rps": float(row["rps"]), "p50_ms": float(row["p50_latency_ms"]),
                   "p99_ms": float(row["p99_latency_ms"]), "max_ms": float(row["max_latency_ms"])})
db = []
for path in sorted(glob.glob(f"{work}/db-*.json")):
    try:
        report = json.load(open(path))
    except ValueError:
        continue
    report["store"] = os.path.basename(path)[3:].split("-resp-")[0].split("-dynamo-http-")[0]
    db.append(report)
results = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "machine": os.environ["MACHINE"], "settings": os.environ["SETTINGS"],
           "redis_benchmark": rb, "dynamo_bench": db}
order = {"redis": 0, "dynamo-1": 1, "dynamo-3d": 2, "dynamo-3b": 3}
rb.sort(key=lambda r: (order.get(r["store"], 9), r["pipeline"]))
db.sort(key=lambda r: (order.get(r["store"], 9), r["target"], r["workload"]))
json.dump(results, open(f"{out}/results.json", "w"), indent=1)

def rps(store, test, pipeline):
    return next((r["rps"] for r in rb if (r["store"], r["test"], r["pipeline"]) == (store, test, pipeline)), None)
def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "n/a"
lines = ["# Benchmarks: dynamo next to Redis", "",
         "Reproduce: `scripts/bench.sh` (installs redis-server with apt-get if missing; "
         "about 3 minutes at the defaults).", "",
         f"Last run: {results['date']}; machine: {results['machine']}; {results['settings']}. "
         "Servers and load generators share the machine's cores.", "",
         "Stores: `redis` one redis-server without persistence; `dynamo-1` one node N=1 R=1 W=1, "
         "durable; `dynamo-3d` three nodes N=3 R=2 W=2, durable (group commit, fsync); "
         "`dynamo-3b` the same with `--durability buffered`. Dynamo's RESP `SET` reads the "
         "key's context first (read-modify-write); `dynamo-http` puts are blind (one write).", "",
         "## redis-benchmark (`-c 50 -r KEYS -d VALUE -t set,get`)", "",
         "| store | pipeline | test | ops/s | p50 ms | p99 ms | max ms | vs redis |",
         "|---|---|---|---|---|---|---|---|"]
for r in rb:
    base = rps("redis", r["test"], r["pipeline"])
    lines.append(f"| {r['store']} | {r['pipeline']} | {r['test']} | {r['rps']:.0f} | {r['p50_ms']} "
                 f"| {r['p99_ms']} | {r['max_ms']} | {ratio(r['rps'], base)} |")
lines += ["", "## dynamo bench (`--concurrency 50`, uniform keys; W write-only, C read-only after a preload)", "",
          "| store | target | workload | ops/s | failed | p50 µs | p99 µs | p99.9 µs | max µs |",
          "|---|---|---|---|---|---|---|---|---|"]
for r in db:
    l = r.get("latency") or {}
    lines.append(f"| {r['store']} | {r['target']} | {r['workload']} | {r['throughput']:.0f} | {r['failed']} "
                 f"| {l.get('p50_us')} | {l.get('p99_us')} | {l.get('p999_us')} | {l.get('max_us')} |")
lines += ["", "Figures in `results.json` (every `dynamo bench` report in full).", ""]
open(f"{out}/README.md", "w").write("\n".join(lines))
print("\n".join(lines))
PY
}

install_packages
step "build (release)"
cargo build --release -q -p dynamo-server --bin dynamo
mkdir -p "$OUT"
run_all
step "results -> $OUT"
report
