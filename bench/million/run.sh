#!/usr/bin/env bash
# The million-document run: bench/million's corpus (or DOCS documents spread
# over it) indexed end to end by `hypencoder index` with the shipped default
# model at the default encode precision (encode, then write with the lexical
# part), then its graph (`hypencoder graph`, as `index --graph-degree` would
# build it), then served and loaded. Reports each phase's time (from index's
# own log), peak memory, bytes on disk per part, known-item success@10 per
# search mode and QPS/latency under wrk.
#
#   bench/million/run.sh    # DOCS=1000000 CORPUS=data/million/corpus.jsonl OUT=target/million
#                           # GRAPH_DEGREE=32 CONSTRUCTION=auto (or insert, exact)
#                           # MODES="graph hybrid bm25" (served) KNOWN_MODES="exhaustive $MODES"
#                           # CONCURRENCY="1 8" DURATION=15
#                           # BIN=target/release/hypencoder
#
# Rerunning resumes an interrupted index build (hypencoder index does) and
# reuses a finished one. The corpus comes from bench/million/build_corpus.py.
set -euo pipefail
source "$(dirname "$0")/../common/root.sh"

docs=${DOCS:-1000000}
corpus=${CORPUS:-data/million/corpus.jsonl}
out=${OUT:-target/million}/docs-$docs
degree=${GRAPH_DEGREE:-32}
construction=${CONSTRUCTION:-auto}
modes=${MODES:-graph hybrid bm25}
concurrency=${CONCURRENCY:-1 8}
duration=${DURATION:-15}
port=${PORT:-18431}
bin=${BIN:-}

[[ -f "$corpus" ]] || { echo "no $corpus: run bench/million/build_corpus.py first" >&2; exit 1; }
if [[ -z "$bin" ]]; then
    cargo build --release --workspace --quiet
    bin=target/release/hypencoder
fi
command -v wrk >/dev/null || { sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo; $sudo apt-get install -y -qq wrk >/dev/null; }
mkdir -p "$out"

[[ -f "$out/qrels.tsv" ]] || python3 bench/million/sample.py "$corpus" "$docs" "$out"

index="$out/index"
if [[ ! -f "$index/manifest.json" ]]; then
    echo "== index: $docs documents (progress in $out/index.log)" >&2
    /usr/bin/time -v -o "$out/index.time" \
        "$bin" index --corpus "$out/corpus.jsonl" --index "$index" 2> "$out/index.log"
fi
if [[ ! -f "$index/graph.bin" ]]; then
    echo "== graph: degree $degree, --construction $construction (progress in $out/graph.log)" >&2
    /usr/bin/time -v -o "$out/graph.time" \
        "$bin" graph --index "$index" --degree "$degree" --construction "$construction" \
        2> "$out/graph.log"
fi
du -sb "$index"/* > "$out/disk.txt"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

: > "$out/results.jsonl"
for mode in ${KNOWN_MODES:-exhaustive $modes}; do
    echo "== known items: search --mode $mode" >&2
    "$bin" search --index "$index" --queries "$out/queries.jsonl" --mode "$mode" --k 10 \
        --output "$out/run-$mode.trec" 2> "$out/search-$mode.log"
    "$bin" eval --qrels "$out/qrels.tsv" --run "$out/run-$mode.trec" --metrics mrr@10,recall@10 \
        --complete --json > "$out/eval-$mode.json"
    python3 -c "import json; r=json.load(open('$out/eval-$mode.json'))['mean']; r.update(name='known-items', mode='$mode'); print(json.dumps(r))" \
        >> "$out/results.jsonl"
done

echo "== hypencoder serve" >&2
"$bin" serve --index "million=$index" --addr "127.0.0.1:$port" > "$out/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 6000); do grep -q "listening on" "$out/serve.log" && break; sleep 0.1; done
grep -q "listening on" "$out/serve.log" || { cat "$out/serve.log" >&2; exit 1; }
for mode in $modes; do
    python3 -c "
import json
for line in open('$out/queries.jsonl'):
    print(json.dumps({'query': json.loads(line)['text'], 'k': 10, 'mode': '$mode'}))" > "$out/bodies-$mode.jsonl"
    BODIES="$out/bodies-$mode.jsonl" TARGET_PATH=/v1/indexes/million/search \
        wrk -t1 -c8 -d3s --timeout 60s -s bench/serve/serve_wrk.lua "http://127.0.0.1:$port" > /dev/null
    for c in $concurrency; do
        BODIES="$out/bodies-$mode.jsonl" TARGET_PATH=/v1/indexes/million/search \
            wrk -t1 -c"$c" -d"${duration}s" --timeout 60s -s bench/serve/serve_wrk.lua \
            "http://127.0.0.1:$port" | tail -n 1 |
            python3 -c "import json,sys; r=json.loads(sys.stdin.read()); r.update(name='serve', mode='$mode', c=$c); print(json.dumps(r))" |
            tee -a "$out/results.jsonl" >&2
    done
done
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true

python3 bench/million/report.py "$out" | tee "$out/report.md"
