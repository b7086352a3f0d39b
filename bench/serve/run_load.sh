#!/usr/bin/env bash
# Serving benchmark: `hypencoder serve` under wrk at concurrency 1, 8 and 64
# in each search mode (QPS, p50, p99, errors) on debian-pkg (all ~60k
# documents) with the default model, and in the same run two anchors:
#   (a) the engine's own offline batch throughput, `hypencoder search
#       --queries` (the ceiling), and one query at a time (--query-batch 1:
#       a single CLI query's search time, model load excluded);
#   (b) bench/serve/serve_torch.py, FastAPI + PyTorch computing the same scores the
#       way the reference code does (exhaustive), under the same wrk load.
# Prints a table of ratios (bench/serve/serve_table.py) and keeps the raw JSON in
# $OUT. See bench/serve/README.md.
#
#   bench/serve/run_load.sh
#   DURATION=10 MODES="exhaustive hybrid" CONCURRENCY="1 64" bench/serve/run_load.sh
#   INDEX=data/idx/other bench/serve/run_load.sh     # any index with graph + lexical
#
# Keep the machine otherwise idle: server and load generator share its cores.
set -euo pipefail
. "$(dirname "$0")/../common/root.sh"

index="${INDEX:-data/idx/debian-default-model}"
data="${DATA:-data/debian-pkg}"
duration="${DURATION:-15}"
modes="${MODES:-exhaustive graph hybrid bm25 rerank}"
concurrency="${CONCURRENCY:-1 8 64}"
n_queries="${QUERIES:-500}"
venv="${VENV:-$root/target/bench-venv}"
out="${OUT:-$root/target/bench-serve}"
port="${PORT:-8391}"
torch_port="${TORCH_PORT:-8392}"
mkdir -p "$out"

command -v wrk >/dev/null || { sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo; $sudo apt-get install -y -qq wrk >/dev/null; }
scripts/fetch-minilm
cargo build --release --quiet
bin=target/release/hypencoder
[[ -f "$data/corpus.jsonl" ]] || scripts/build-debian-pkg --out "$data"
if [[ ! -f "$index/manifest.json" ]]; then
    echo "== indexing $data/corpus.jsonl with the default model (with graph and lexical part)" >&2
    "$bin" index --model assets/default-model --corpus "$data/corpus.jsonl" --index "$index" --graph-degree 32
fi
if ! "$venv/bin/python" -c "import torch, transformers, safetensors, fastapi, uvicorn" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet torch numpy transformers safetensors fastapi uvicorn
fi

# The first $n_queries dev queries, as a query file and as request bodies.
head -n "$n_queries" "$data/queries.dev.jsonl" > "$out/queries.jsonl"
for mode in $modes torch; do
    python3 - "$out/queries.jsonl" "$mode" > "$out/bodies-$mode.jsonl" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    body = {"query": json.loads(line)["text"], "k": 10}
    if sys.argv[2] != "torch":
        body["mode"] = sys.argv[2]
    print(json.dumps(body))
EOF
done

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# Waits for "listening on URL" in $1, at most 5 minutes.
wait_listening() {
    for _ in $(seq 3000); do
        grep -q "listening on" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "no server after 5 minutes; its log:" >&2; cat "$1" >&2; exit 1
}

# load NAME URL_BASE PATH BODIES C DURATION: one wrk run, one JSON line.
load() {
    local name=$1 base=$2 path=$3 bodies=$4 c=$5 secs=$6
    BODIES="$bodies" TARGET_PATH="$path" wrk -t1 -c"$c" -d"${secs}s" --timeout 60s \
        -s bench/serve/serve_wrk.lua "$base" | tail -n 1 |
        python3 -c "import json,sys; r=json.loads(sys.stdin.read()); r.update(name='$name', c=$c); print(json.dumps(r))"
}

: > "$out/results.jsonl"
echo "== anchor (a): hypencoder search --queries, batch 64 and one at a time" >&2
for mode in $modes; do
    for batch in 64 1; do
        n=$n_queries; [[ $batch == 1 ]] && n=100
        head -n "$n" "$out/queries.jsonl" > "$out/q$n.jsonl"
        ms=$("$bin" search --index "$index" --queries "$out/q$n.jsonl" --mode "$mode" --k 10 \
                --query-batch "$batch" --output /dev/null 2>&1 | sed -n 's/.*: \([0-9.]*\) ms\/query.*/\1/p')
        echo "{\"name\": \"cli\", \"mode\": \"$mode\", \"batch\": $batch, \"ms_per_query\": $ms}" >> "$out/results.jsonl"
        echo "   $mode batch $batch: $ms ms/query" >&2
    done
done

echo "== hypencoder serve" >&2
"$bin" serve --index "debian-pkg=$index" --addr "127.0.0.1:$port" > "$out/serve.log" 2>&1 &
pids+=($!)
wait_listening "$out/serve.log"
for mode in $modes; do
    load warmup "http://127.0.0.1:$port" /v1/indexes/debian-pkg/search "$out/bodies-$mode.jsonl" 8 3 >/dev/null
    for c in $concurrency; do
        load "serve-$mode" "http://127.0.0.1:$port" /v1/indexes/debian-pkg/search \
            "$out/bodies-$mode.jsonl" "$c" "$duration" | tee -a "$out/results.jsonl" >&2
    done
done
curl -s "http://127.0.0.1:$port/metrics" > "$out/metrics.txt"
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true

echo "== anchor (b): FastAPI + PyTorch" >&2
model_dir=$(python3 -c "import json; print(json.load(open('$index/manifest.json'))['model']['path'])")
"$venv/bin/python" bench/serve/serve_torch.py --index "$index" --model "$model_dir" \
    --base models/all-MiniLM-L6-v2 --port "$torch_port" --threads "$(nproc)" > "$out/torch.log" 2>&1 &
pids+=($!)
wait_listening "$out/torch.log"
load warmup "http://127.0.0.1:$torch_port" /search "$out/bodies-torch.jsonl" 8 3 >/dev/null
for c in $concurrency; do
    load torch-exhaustive "http://127.0.0.1:$torch_port" /search "$out/bodies-torch.jsonl" "$c" "$duration" |
        tee -a "$out/results.jsonl" >&2
done

python3 bench/serve/serve_table.py "$out/results.jsonl"
