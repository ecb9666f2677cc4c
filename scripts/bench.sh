#!/usr/bin/env bash
# Benchmarks dynamo next to Redis and etcd on this machine, in one run (issue 9), and
# writes docs/bench/results.json, docs/bench/README.md and the plots beside them
# (scripts/plot_bench.py).
#
# Starts, on 127.0.0.1 only, one store at a time (each stopped before the next starts,
# and everything stopped at exit, even on failure or Ctrl-C):
#   redis      redis-server, one node, no persistence
#   etcd       three etcd members (Debian's etcd-server), fsync on (etcd's default)
#   dynamo-1   one dynamo node, N=1 R=1 W=1, durable
#   dynamo-3d  three dynamo nodes, N=3 R=2 W=2, durable (group commit + fsync)
#   dynamo-3b  three dynamo nodes, N=3 R=2 W=2, --durability buffered
# and drives each with redis-benchmark (SET/GET, -c 50, unpipelined and -P 16; not
# etcd, which speaks no RESP) and with `dynamo-bench` (workloads W and C; RESP and
# dynamo's partition-aware client; etcd's gRPC API). dynamo-3d and etcd also run W
# open loop at half their measured peak (latency at load). Last, memory per key: one
# dynamo node and one redis-server, each loaded once with MEM_KEYS keys.
#
# Usage: scripts/bench.sh   Environment: DURATION (s per `dynamo-bench` run, 10),
# REQUESTS (per redis-benchmark test, 100000), KEYS (100000), VALUE (bytes, 100),
# CONCURRENCY (50), MEM_KEYS (keys of the memory step, 1000000; 0 skips it),
# BASE_PORT (26300; uses BASE_PORT..BASE_PORT+99), OUT (where the results go,
# docs/bench), STORES (which stores run, default all: redis etcd dynamo-1 dynamo-3d
# dynamo-3b), DYNAMO_BIN (the dynamo binary to measure, default the one this script
# builds: comparing two builds runs the script once with each).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
REQUESTS=${REQUESTS:-100000}
KEYS=${KEYS:-100000}
VALUE=${VALUE:-100}
CONCURRENCY=${CONCURRENCY:-50}
MEM_KEYS=${MEM_KEYS:-1000000}
BASE_PORT=${BASE_PORT:-26300}
# Every external run is cut off after this, so a stuck server cannot hang the script.
RUN_LIMIT=$((DURATION * 3 + 180))
OUT=${OUT:-docs/bench}
STORES=${STORES:-redis etcd dynamo-1 dynamo-3d dynamo-3b}
DYNAMO_BIN=${DYNAMO_BIN:-target/release/dynamo}
WORK=$(mktemp -d)
PIDS=()

# Stop every server this script started (before the next store, and at exit).
stop_servers() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
}

cleanup() {
  stop_servers
  rm -rf "$WORK"
}
# A signal ends the script (the EXIT trap then cleans up); trapping INT and TERM with
# cleanup alone would run it and carry on with the next step.
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n== %s\n' "$*" >&2; }

install_packages() {
  local packages=()
  command -v redis-server >/dev/null || packages+=(redis-server)
  command -v redis-benchmark >/dev/null && command -v redis-cli >/dev/null || packages+=(redis-tools)
  command -v etcd >/dev/null || packages+=(etcd-server)
  command -v etcdctl >/dev/null || packages+=(etcd-client)
  # Plots: Debian's matplotlib rather than a Rust plotting crate, so the dynamo binary
  # gains no dependency for a documentation step. It lives in Debian's python3, which
  # a python3 earlier on PATH (pyenv, a virtualenv) does not see: hence the full path.
  /usr/bin/python3 -c 'import matplotlib' 2>/dev/null || packages+=(python3 python3-matplotlib)
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

# start_redis PORT [DIR]: its RDB file (written only on an explicit SAVE) in DIR.
start_redis() {
  local dir=${2:-$WORK}
  mkdir -p "$dir"
  redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$dir" --logfile "$WORK/redis-$1.log" &
  PIDS+=($!)
  wait_writable "$1"
}

# start_etcd CLIENT0 PEER0: member i serves clients at CLIENT0+i and peers at PEER0+i,
# its data in $WORK. The quota (etcd's maximum, 8 GiB) keeps long write runs from
# filling the default 2 GiB backend, after which every put fails.
start_etcd() {
  local client0=$1 peer0=$2 cluster=() url
  for i in 1 2 3; do cluster+=("etcd$i=http://127.0.0.1:$((peer0 + i))"); done
  for i in 1 2 3; do
    url=http://127.0.0.1:$((client0 + i))
    etcd --name "etcd$i" --data-dir "$WORK/etcd$i" \
      --listen-client-urls "$url" --advertise-client-urls "$url" \
      --listen-peer-urls "http://127.0.0.1:$((peer0 + i))" \
      --initial-advertise-peer-urls "http://127.0.0.1:$((peer0 + i))" \
      --initial-cluster "$(IFS=,; echo "${cluster[*]}")" --initial-cluster-state new \
      --initial-cluster-token bench --quota-backend-bytes $((8 * 1024 * 1024 * 1024)) \
      2>"$WORK/etcd$i.log" &
    PIDS+=($!)
  done
  for i in 1 2 3; do wait_etcd "$((client0 + i))"; done
}

# Wait (bounded) until the etcd member at port $1 acknowledges a put (a leader exists).
wait_etcd() {
  for _ in $(seq 1 150); do
    ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$1" --command-timeout=2s \
      put bench-ready 1 >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "etcd at port $1 never accepted a put" >&2
  return 1
}

# start_dynamo NAME NODES DURABILITY PORT0: node i has RESP at PORT0+i, peers at
# PORT0+10+i, HTTP at PORT0+20+i.
start_dynamo() {
  local name=$1 nodes=$2 durability=$3 port0=$4 members=() quorum=2
  [ "$nodes" -eq 1 ] && quorum=1
  for i in $(seq 1 "$nodes"); do members+=(--member "$i=127.0.0.1:$((port0 + 10 + i))"); done
  for i in $(seq 1 "$nodes"); do
    DYNAMO_SECRET=bench-secret RUST_LOG=warn "$DYNAMO_BIN" serve --id "$i" \
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

# cpu_ticks: user + system clock ticks of every server this script runs now.
cpu_ticks() {
  local ticks=0 pid
  for pid in "${PIDS[@]}"; do
    ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo "$ticks"
}

# dynamo_bench STORE TARGET WORKLOAD ADDR... : one JSON report into results, with the
# servers' CPU time over the run (server_cpu_us) beside the generator's figures. With
# RATE set (`RATE=N dynamo_bench ...`), an open-loop run at N ops/s.
dynamo_bench() {
  local store=$1 target=$2 workload=$3; shift 3
  local addrs=() extra=() name="$store-$target-$workload"
  for addr in "$@"; do addrs+=(--addr "$addr"); done
  # Reads need the keys: a store's first read-only run (RESP or etcd) writes them all
  # first; dynamo-http's runs after RESP's on the same store and finds them.
  [ "$workload" = c ] && [ "$target" != dynamo-http ] && extra+=(--preload)
  [ -n "${RATE:-}" ] && extra+=(--rate "$RATE") && name+=-rate
  step "dynamo-bench $store $target workload $workload${RATE:+ at $RATE ops/s}"
  local ticks
  ticks=$(cpu_ticks)
  timeout "$RUN_LIMIT" target/release/dynamo-bench --target "$target" "${addrs[@]}" \
    --workload "$workload" --keys "$KEYS" --value-size "$VALUE" \
    --concurrency "$CONCURRENCY" --duration "$DURATION" --preload-timeout 120 \
    "${extra[@]}" --quiet --json >"$WORK/db-$name.json" ||
    echo "dynamo-bench $store $target $workload failed" >&2
  ticks=$(($(cpu_ticks) - ticks))
  python3 - "$WORK/db-$name.json" "$((ticks * 1000000 / $(getconf CLK_TCK)))" <<'PY' || true
import json, sys
report = json.load(open(sys.argv[1]))
report["server_cpu_us"] = int(sys.argv[2])
json.dump(report, open(sys.argv[1], "w"), indent=1)
PY
  grep -E '"(ok|failed|throughput)"' "$WORK/db-$name.json" >&2 || true
}

# latency_at_load STORE TARGET ADDR...: workload W open loop at half the throughput
# the store's closed-loop W run measured (skipped when that run has no report).
latency_at_load() {
  local store=$1 target=$2 rate; shift 2
  rate=$(python3 -c 'import json, sys; print(max(1, int(json.load(open(sys.argv[1]))["throughput"] / 2)))' \
    "$WORK/db-$store-$target-w.json" 2>/dev/null) || true
  [ -n "$rate" ] || { echo "no peak measured for $store $target" >&2; return 0; }
  RATE=$rate dynamo_bench "$store" "$target" w "$@"
}

# Ports from BASE_PORT (p): redis p; etcd clients p+1..3, peers p+12..14; the memory
# step's dynamo p+5/15/25 and redis p+6; dynamo-1 p+11/21/31; dynamo-3d p+41..63;
# dynamo-3b p+71..93.
# wants STORE: whether STORES names it.
wants() {
  case " $STORES " in *" $1 "*) return 0 ;; *) return 1 ;; esac
}

run_all() {
  local p=$BASE_PORT
  if wants redis; then
    step "redis (port $p)"
    start_redis "$p"
    redis_benchmark redis "$p" 1
    redis_benchmark redis "$p" 16
    dynamo_bench redis resp w "127.0.0.1:$p"
    dynamo_bench redis resp c "127.0.0.1:$p"
    stop_servers
  fi

  if wants etcd; then
    step "etcd, 3 members (client ports $((p + 1))..$((p + 3)))"
    start_etcd "$p" "$((p + 11))"
    local etcd=("127.0.0.1:$((p + 1))" "127.0.0.1:$((p + 2))" "127.0.0.1:$((p + 3))")
    dynamo_bench etcd etcd w "${etcd[@]}"
    latency_at_load etcd etcd "${etcd[@]}"
    dynamo_bench etcd etcd c "${etcd[@]}"
    stop_servers
  fi

  if wants dynamo-1; then
    step "dynamo, 1 node, N=1 (ports $((p + 10))..)"
    start_dynamo dynamo-1 1 durable "$((p + 10))"
    redis_benchmark dynamo-1 "$((p + 11))" 1
    redis_benchmark dynamo-1 "$((p + 11))" 16
    for w in w c; do
      dynamo_bench dynamo-1 resp "$w" "127.0.0.1:$((p + 11))"
      dynamo_bench dynamo-1 dynamo-http "$w" "127.0.0.1:$((p + 31))"
    done
    stop_servers
  fi

  local name port0 resp http
  for durability in durable buffered; do
    name=dynamo-3${durability:0:1}
    wants "$name" || continue
    port0=$((p + 40))
    [ "$durability" = buffered ] && port0=$((p + 70))
    step "$name: 3 nodes, N=3 R=2 W=2, $durability (ports $port0..)"
    start_dynamo "$name" 3 "$durability" "$port0"
    redis_benchmark "$name" "$((port0 + 1))" 1
    resp=("127.0.0.1:$((port0 + 1))" "127.0.0.1:$((port0 + 2))" "127.0.0.1:$((port0 + 3))")
    http=("127.0.0.1:$((port0 + 21))" "127.0.0.1:$((port0 + 22))" "127.0.0.1:$((port0 + 23))")
    for w in w c; do
      dynamo_bench "$name" resp "$w" "${resp[@]}"
      dynamo_bench "$name" dynamo-http "$w" "${http[@]}"
      # Puts through the partition-aware client (one write each, no read first: the
      # generator puts with the contexts it was handed) are what etcd's Put is compared with.
      if [ "$w$name" = wdynamo-3d ]; then latency_at_load "$name" dynamo-http "${http[@]}"; fi
    done
    stop_servers
  done
}

# rss_bytes PID: the process's resident set (VmRSS), in bytes.
rss_bytes() {
  awk '/^VmRSS:/ {print $2 * 1024}' "/proc/$1/status"
}

# redis_memory PORT: "used_memory used_memory_rss" from INFO memory.
redis_memory() {
  redis-cli -p "$1" info memory | tr -d '\r' |
    awk -F: '$1 == "used_memory" {u = $2} $1 == "used_memory_rss" {r = $2} END {print u, r}'
}

# load_once TARGET ADDR NAME: write each of MEM_KEYS keys exactly once (the preload,
# then no measured phase), the report into $WORK/load-NAME.json.
load_once() {
  step "memory: $3 loads $MEM_KEYS keys of $VALUE B"
  # Bounded as if at 1000 keys/s at least (either store does ten times that here).
  timeout $((MEM_KEYS / 1000 + 180)) target/release/dynamo-bench --target "$1" --addr "$2" \
    --workload w --keys "$MEM_KEYS" --value-size "$VALUE" --concurrency "$CONCURRENCY" \
    --preload --preload-timeout $((MEM_KEYS / 1000 + 120)) --ops 0 --quiet --json \
    >"$WORK/load-$3.json"
  grep -A3 '"preload"' "$WORK/load-$3.json" >&2
}

# Memory per key: one dynamo node (N=1, buffered: what it holds in memory and on disk
# is what a durable node holds, only fsynced later, and loading is faster) and one
# redis-server, each loaded once; RSS before and after, and the bytes on disk.
memory_per_key() {
  local p=$BASE_PORT pid rss0 rss1 used0 used1 rrss0 rrss1
  step "memory: dynamo, 1 node, N=1, buffered (ports $((p + 5))..)"
  start_dynamo dynamo-mem 1 buffered "$((p + 4))"
  pid=${PIDS[-1]}
  sleep 1
  rss0=$(rss_bytes "$pid")
  # Puts through the partition-aware client: one write per key, no read first.
  load_once dynamo-http "127.0.0.1:$((p + 25))" dynamo
  sleep 3
  rss1=$(rss_bytes "$pid")
  printf '{"store": "dynamo-1 buffered", "keys": %s, "value_size": %s, "rss_before": %s, "rss_after": %s, "disk_bytes": %s}\n' \
    "$MEM_KEYS" "$VALUE" "$rss0" "$rss1" "$(du -s -B1 "$WORK/dynamo-mem-n1" | cut -f1)" \
    >"$WORK/mem-dynamo.json"
  stop_servers

  step "memory: redis (port $((p + 6)))"
  start_redis "$((p + 6))" "$WORK/redis-mem"
  read -r used0 rrss0 < <(redis_memory "$((p + 6))")
  load_once resp "127.0.0.1:$((p + 6))" redis
  sleep 3
  read -r used1 rrss1 < <(redis_memory "$((p + 6))")
  redis-cli -p "$((p + 6))" save >/dev/null
  printf '{"store": "redis", "keys": %s, "value_size": %s, "rss_before": %s, "rss_after": %s, "disk_bytes": %s, "used_memory_before": %s, "used_memory_after": %s}\n' \
    "$MEM_KEYS" "$VALUE" "$rrss0" "$rrss1" "$(stat -c %s "$WORK/redis-mem/dump.rdb")" "$used0" "$used1" \
    >"$WORK/mem-redis.json"
  stop_servers
}

# Gather every CSV and JSON of $WORK into results.json and README.md.
report() {
  SETTINGS="DURATION=$DURATION REQUESTS=$REQUESTS KEYS=$KEYS VALUE=$VALUE CONCURRENCY=$CONCURRENCY MEM_KEYS=$MEM_KEYS" \
    LOAD="load average (1, 5, 15 min) before the run: $LOAD_START; after: $(cut -d' ' -f1-3 /proc/loadavg)" \
    SHORT="$([ "$DURATION" -lt 10 ] || [ "$REQUESTS" -lt 100000 ] || [ "$MEM_KEYS" -lt 1000000 ] && echo 1)" \
    MACHINE="$(nproc) cores, $(free -m | awk '/^Mem:/ {print $2}') MiB RAM, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" \
    python3 - "$WORK" "$OUT" <<'PY'
import csv, glob, json, os, re, sys, datetime
work, out = sys.argv[1], sys.argv[2]
TARGETS = ("dynamo-http", "resp", "etcd")
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
    name = os.path.basename(path)[3:]
    report["store"] = next(name.split(f"-{t}-")[0] for t in TARGETS if f"-{t}-" in name)
    db.append(report)
memory = []
for path in sorted(glob.glob(f"{work}/mem-*.json")):
    m = json.load(open(path))
    m["rss_per_key"] = (m["rss_after"] - m["rss_before"]) / m["keys"]
    m["disk_per_key"] = m["disk_bytes"] / m["keys"]
    if "used_memory_after" in m:
        m["used_memory_per_key"] = (m["used_memory_after"] - m["used_memory_before"]) / m["keys"]
    memory.append(m)
order = {"redis": 0, "etcd": 1, "dynamo-1": 2, "dynamo-3d": 3, "dynamo-3b": 4}
rb.sort(key=lambda r: (order.get(r["store"], 9), r["pipeline"]))
db.sort(key=lambda r: (order.get(r["store"], 9), r["target"], r["workload"], r["rate_target"] or 0))
closed = [r for r in db if r["rate_target"] is None]
at_load = [r for r in db if r["rate_target"] is not None]

def rps(store, test, pipeline):
    return next((r["rps"] for r in rb if (r["store"], r["test"], r["pipeline"]) == (store, test, pipeline)), None)
def run(store, target, workload, rate=False):
    return next((r for r in db if (r["store"], r["target"], r["workload"]) == (store, target, workload)
                 and (r["rate_target"] is not None) == rate), None)
def lat(report, key):
    return ((report or {}).get("latency") or {}).get(key)
def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "n/a"

# The issue's targets, from this run's figures.
targets = []
def target(what, measured, goal, met):
    targets.append({"target": what, "measured": measured, "goal": goal, "met": met})
etcd_w = run("etcd", "etcd", "w")
for tgt, how in (("dynamo-http", "partition-aware client, one write per put"), ("resp", "RESP SET, read-modify-write in one request")):
    d = run("dynamo-3d", tgt, "w")
    if d and etcd_w:
        x = d["throughput"] / etcd_w["throughput"]
        target(f"dynamo-3d durable write throughput / etcd write throughput (W; {how})",
               f"{x:.2f}x", ">= 10x", x >= 10)
for w in ("w", "c"):
    d, e = run("dynamo-3d", "dynamo-http", w), run("etcd", "etcd", w)
    if lat(d, "p999_us") and lat(e, "p99_us"):
        target(f"dynamo-3d p99.9 (dynamo-http) vs etcd p99, workload {w.upper()}",
               f"{lat(d, 'p999_us')} µs vs {lat(e, 'p99_us')} µs", "below",
               lat(d, "p999_us") < lat(e, "p99_us"))
for pipeline in (1, 16):
    for test in ("SET", "GET"):
        d, r = rps("dynamo-1", test, pipeline), rps("redis", test, pipeline)
        if d and r:
            target(f"dynamo-1 {test} / redis {test}, redis-benchmark -P {pipeline}",
                   f"{d / r:.2f}x", ">= 0.7x", d / r >= 0.7)
loaded = run("dynamo-3d", "dynamo-http", "w", rate=True)
if lat(loaded, "p999_us"):
    target(f"dynamo-3d p99.9 at half its peak write rate ({loaded['rate_target']:.0f} ops/s, W, dynamo-http)",
           f"{lat(loaded, 'p999_us')} µs", "< 2000 µs", lat(loaded, "p999_us") < 2000)

results = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "machine": os.environ["MACHINE"], "settings": os.environ["SETTINGS"], "load": os.environ["LOAD"],
           "short_run": bool(os.environ.get("SHORT")), "targets": targets,
           "redis_benchmark": rb, "dynamo_bench": db, "memory": memory}
# One line per (percentile, µs) point, not three.
text = re.sub(r"\[\s+([-\d.e]+),\s+([-\d.e]+)\s+\]", r"[\1, \2]", json.dumps(results, indent=1))
open(f"{out}/results.json", "w").write(text + "\n")

short = (" **A short run** (fewer seconds, requests or keys than the defaults): a check of "
         "the script, not figures to quote.") if results["short_run"] else ""
lines = ["# Benchmarks: dynamo next to Redis and etcd", "",
         "Reproduce: `scripts/bench.sh` (installs redis-server, etcd-server and python3-matplotlib "
         "with apt-get if missing; about 10 minutes at the defaults, `MEM_KEYS=0` skips the "
         "memory step).", "",
         f"Last run: {results['date']}; machine: {results['machine']}; {results['settings']}. "
         f"Servers and load generators share the machine's cores; {results['load']}.{short}", "",
         "Stores (one at a time): `redis` one redis-server without persistence; `etcd` three "
         "etcd 3.4 members, fsync on (its default); `dynamo-1` one node N=1 R=1 W=1, durable; "
         "`dynamo-3d` three nodes N=3 R=2 W=2, durable (group commit, fsync); `dynamo-3b` the "
         "same with `--durability buffered`. Dynamo's RESP `SET` supersedes what a read quorum "
         "sees (read-modify-write, in one request: the coordinator reads, then writes); "
         "`dynamo-http` puts carry the context the generator was last handed for the key (one "
         "write, no read first), like etcd's `Put`. "
         "etcd reads are linearizable `Range` calls (its default). Every `dynamo-bench` target "
         "uses one connection per worker, spread over the store's nodes.", "",
         "## Issue 9 targets, from this run", "",
         "| target | measured | goal | |", "|---|---|---|---|"]
for t in targets:
    lines.append(f"| {t['target']} | {t['measured']} | {t['goal']} | {'met' if t['met'] else 'missed'} |")
lines += ["", "## Plots", "",
          "![throughput](throughput.png)", "",
          "| workload W | workload C |", "|---|---|",
          "| ![latency CDF, W](latency-w.png) | ![latency CDF, C](latency-c.png) |", "",
          "## redis-benchmark (`-c 50 -r KEYS -d VALUE -t set,get`)", "",
          "| store | pipeline | test | ops/s | p50 ms | p99 ms | max ms | vs redis |",
          "|---|---|---|---|---|---|---|---|"]
for r in rb:
    base = rps("redis", r["test"], r["pipeline"])
    lines.append(f"| {r['store']} | {r['pipeline']} | {r['test']} | {r['rps']:.0f} | {r['p50_ms']} "
                 f"| {r['p99_ms']} | {r['max_ms']} | {ratio(r['rps'], base)} |")
def bench_rows(reports, rate):
    rows = []
    for r in reports:
        l = r.get("latency") or {}
        first = f"{r['rate_target']:.0f} | " if rate else ""
        rows.append(f"| {r['store']} | {r['target']} | {r['workload']} | {first}{r['throughput']:.0f} "
                    f"| {r['failed']} | {l.get('p50_us')} | {l.get('p99_us')} | {l.get('p999_us')} "
                    f"| {l.get('max_us')} |")
    return rows
lines += ["", f"## dynamo-bench (`--concurrency {closed[0]['concurrency'] if closed else '?'}`, closed "
          "loop, uniform keys; W write-only, C read-only after a preload)", "",
          "| store | target | workload | ops/s | failed | p50 µs | p99 µs | p99.9 µs | max µs |",
          "|---|---|---|---|---|---|---|---|---|"] + bench_rows(closed, False)
lines += ["", "## Latency at load (workload W, open loop at half the closed-loop peak above)", "",
          "A late operation's latency counts from when it was due, so queueing is charged.", "",
          "| store | target | workload | target ops/s | ops/s | failed | p50 µs | p99 µs | p99.9 µs | max µs |",
          "|---|---|---|---|---|---|---|---|---|---|"] + bench_rows(at_load, True)
lines += ["", "## Memory per key", "",
          "Each store loaded once with `keys` distinct keys of `value` bytes (`key:` + 12 digits, "
          "so 116 bytes of key and value), by `dynamo-bench --preload`: dynamo one node N=1, "
          "`--durability buffered` (the same data in memory and on disk as durable, fsynced "
          "later), through `dynamo-http` puts; redis-server without persistence, then one `SAVE` for its "
          "RDB size. RSS is VmRSS (redis: `used_memory_rss`) after the load less before it; disk "
          "is the data directory's allocated size (dynamo: fjall's journals and LZ4-compressed "
          "segments; its memtables and block cache bound the RSS; redis: the RDB file, which LZF-compresses values; "
          "the generator's values, 100 times `x`, compress to almost nothing).", "",
          "| store | keys | value B | RSS before MiB | RSS after MiB | RSS B/key | disk B/key | redis used_memory B/key |",
          "|---|---|---|---|---|---|---|---|"]
for m in memory:
    used = f"{m['used_memory_per_key']:.0f}" if "used_memory_per_key" in m else ""
    lines.append(f"| {m['store']} | {m['keys']} | {m['value_size']} | {m['rss_before'] / 2**20:.1f} "
                 f"| {m['rss_after'] / 2**20:.1f} | {m['rss_per_key']:.0f} | {m['disk_per_key']:.0f} | {used} |")
lines += ["", "Figures in `results.json` (every `dynamo-bench` report in full, with each latency "
          "distribution as (percentile, µs) points); plots by `scripts/plot_bench.py`. "
          "What limits each figure, from profiles, and what was fixed: [ANALYSIS.md](ANALYSIS.md).", ""]
open(f"{out}/README.md", "w").write("\n".join(lines))
print("\n".join(lines))
PY
}

install_packages
step "build (release)"
cargo build --release -q -p dynamo-server -p dynamo-bench --bin dynamo --bin dynamo-bench
mkdir -p "$OUT"
# Other work on the machine skews every figure: the report shows the load around the run.
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
run_all
if [ "$MEM_KEYS" -gt 0 ]; then memory_per_key; fi
step "results -> $OUT"
report
/usr/bin/python3 scripts/plot_bench.py "$OUT"
