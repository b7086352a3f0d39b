#!/usr/bin/env bash
# Graph search on a bi-encoder index vs hnswlib, in one run on this machine:
# recall@10 against microseconds per query (one query at a time, one
# thread) for both, and the time ratio ours / hnswlib at equal recall@10.
# See bench/graph/hnswlib.md.
#
#   bench/graph/run_hnswlib.sh                      # defaults below
#   LIMIT=1000 EF=16,32,64,128,256,512 ENTRIES=8,16,64 bench/graph/run_hnswlib.sh
#
# Our graph: a private copy of INDEX under WORK (the big files symlinked)
# with a graph built by `hypencoder graph --degree 32` (diversified, the
# default), so the shared index is never rewritten and the graph is known.
# GRAPH=existing uses INDEX's own graph instead. CONSTRUCTION=insert grows
# it by insertion (`graph --construction insert`) instead of the exact
# default.
#
# Keep the machine otherwise idle while it runs.
set -euo pipefail
. "$(dirname "$0")/../common/root.sh"

index="$(realpath "${INDEX:-data/idx/debian-minilm}")"
queries="${QUERIES:-data/debian-pkg/queries.test.jsonl}"
model="${MODEL:-models/all-MiniLM-L6-v2}"
limit="${LIMIT:-1000}"
ef="${EF:-16,32,48,64,96,128,192,256,384,512}"
entries="${ENTRIES:-8,16,64}"
expand="${EXPAND:-1,4}"
hnsw_ef="${HNSW_EF:-10,16,24,32,48,64,96,128,192,256,384,512}"
min_time="${MIN_TIME:-1}"
threads="${THREADS:-2}"
graph="${GRAPH:-build}"
construction="${CONSTRUCTION:-exact}"
venv="${VENV:-$root/target/bench-venv}"
work="$(mkdir -p "${WORK:-target/bench-hnswlib}" && realpath "${WORK:-target/bench-hnswlib}")"
py="$venv/bin/python"

if ! "$py" -c "import hnswlib, numpy" 2>/dev/null; then
    [ -x "$py" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet numpy hnswlib
fi

# Build first, so no compiler runs during the measurement.
cargo build --release --quiet -p hypencoder-cli
cargo bench -p hypencoder-search --bench graph --no-run --quiet

# Our index: private copy with a freshly built diversified graph.
if [ "$graph" = build ]; then
    copy="$work/index"
    if [ "$(cat "$work/construction" 2>/dev/null)" != "$construction" ] || [ "${REBUILD:-0}" = 1 ]; then
        rm -rf "$copy" && mkdir -p "$copy"
        # Everything but the graph and the manifest (which the build rewrites)
        # is shared, read-only: vectors, ids, texts, the lexical part.
        for f in "$index"/*; do
            case "$(basename "$f")" in
                manifest.json | graph.bin) cp "$f" "$copy/" ;;
                *) ln -s "$f" "$copy/$(basename "$f")" ;;
            esac
        done
        target/release/hypencoder graph --index "$copy" --degree 32 --construction "$construction" 2>&1 \
            | tail -1 | tee "$work/graph_build.log"
        echo "$construction" > "$work/construction"
    fi
    index="$copy"
fi

# Query vectors: the same encoder (bi-encoder), written once as JSONL and raw f32.
head -n "$limit" "$queries" > "$work/queries.jsonl"
target/release/hypencoder embed --model "$model" --input "$work/queries.jsonl" --max-length 64 \
    > "$work/query_vectors.jsonl"
"$py" bench/graph/hnswlib_compare.py --query-vectors "$work/query_vectors.jsonl" --write-f32 "$work/queries.f32"

echo "start: $(date -u +%FT%TZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$work/conditions.txt"

rm -f "$work/ours.jsonl"
RAYON_NUM_THREADS="$threads" BENCH_INDEX="$index" BENCH_QUERY_VECTORS="$work/queries.f32" \
BENCH_EF="$ef" BENCH_ENTRIES="$entries" BENCH_EXPAND="$expand" BENCH_MIN_TIME="$min_time" \
BENCH_THREADS="$threads" BENCH_OUT="$work/ours.jsonl" \
    cargo bench -p hypencoder-search --bench graph --quiet > "$work/ours.log"

OMP_NUM_THREADS=1 "$py" bench/graph/hnswlib_compare.py --index "$index" \
    --query-vectors "$work/query_vectors.jsonl" --ours "$work/ours.jsonl" --ef "$hnsw_ef" \
    --build-threads "$threads" --batch-threads "$threads" --min-time "$min_time" \
    --out "$work/summary.json" | tee "$work/table.md"

echo "end: $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$work/conditions.txt"
