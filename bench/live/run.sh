#!/usr/bin/env bash
# Live-index benchmark (bench/live/README.md), one run on this machine:
#   1. ingest: `hypencoder add` of 1,000 new documents into the full
#      debian-pkg index (a copy of $FULL) against `hypencoder index` of the
#      same 1,000 from scratch (documents/s, wall time of each command);
#   2. search latency over 10 segments of 1,000 documents against the same
#      10,000 merged into one (`optimize`), per mode (ms/query, 500 dev
#      queries);
#   3. graph search after inserting 50%: 5,000 documents indexed, 5,000
#      added, kept as two segments or merged (one graph grown by insertion),
#      against one graph built from scratch over all 10,000: recall@10
#      against exhaustive search and documents scored per query, at several
#      beam widths (bench/common/graph_recall.py), and the gap at equal cost
#      (bench/live/live_gap.py);
#   4. a merge into the full index (graph grown) against rebuilding its
#      graph from scratch (wall time).
#
#   bench/live/run.sh     # FULL=data/idx/debian-default-model (bench/serve/run_load.sh builds it)
set -euo pipefail
. "$(dirname "$0")/../common/root.sh"
data="${DATA:-data/debian-pkg}"
full="${FULL:-data/idx/debian-default-model}"
model="${MODEL:-assets/default-model}"
out="${OUT:-$root/target/bench-live}"
cargo build --release --quiet
bin=target/release/hypencoder
[[ -f "$full/manifest.json" ]] || { echo "no index at $full: run bench/serve/run_load.sh first (it builds it)" >&2; exit 1; }
rm -rf "$out"; mkdir -p "$out"

# 10,000 corpus documents in 10 files of 1,000, with ids the index lacks.
head -n 10000 "$data/corpus.jsonl" | python3 -c '
import json, sys
for line in sys.stdin:
    d = json.loads(line); d["id"] = "new-" + d["id"]; print(json.dumps(d))' > "$out/c10k.jsonl"
split -l 1000 -d -a 1 --additional-suffix=.jsonl "$out/c10k.jsonl" "$out/c"
head -n 5000 "$out/c10k.jsonl" > "$out/first5k.jsonl"
tail -n 5000 "$out/c10k.jsonl" > "$out/last5k.jsonl"
head -n 500 "$data/queries.dev.jsonl" > "$out/queries.jsonl"

seconds() { local t0=$(date +%s.%N); "$@" > /dev/null 2>&1; echo "$(date +%s.%N) - $t0" | bc; }

echo "== 1. ingest"
cp -r "$full" "$out/full"
t_add=$(seconds "$bin" add --index "$out/full" --corpus "$out/c0.jsonl")
t_index=$(seconds "$bin" index --model "$model" --corpus "$out/c0.jsonl" --index "$out/scratch1k" --graph-degree 32)
echo "add 1000 into the full index: $t_add s ($(echo "1000 / $t_add" | bc -l | cut -c1-6) docs/s)"
echo "index 1000 from scratch:      $t_index s ($(echo "1000 / $t_index" | bc -l | cut -c1-6) docs/s)"

echo "== 2. 10 segments against 1"
"$bin" index --model "$model" --corpus "$out/c0.jsonl" --index "$out/seg10" --graph-degree 32 2>/dev/null
for i in 1 2 3 4 5 6 7 8 9; do
    "$bin" add --index "$out/seg10" --corpus "$out/c$i.jsonl" --max-segments 0 2>/dev/null
done
latency() {
    for mode in exhaustive graph hybrid bm25; do
        ms=$("$bin" search --index "$1" --queries "$out/queries.jsonl" --mode "$mode" --k 10 \
            --output /dev/null 2>&1 | sed -n 's/.*: \([0-9.]*\) ms\/query.*/\1/p')
        echo "$2 $mode $ms"
    done
}
latency "$out/seg10" "10-segments" | tee "$out/latency.txt"
"$bin" optimize --index "$out/seg10" 2>&1 | tail -1
latency "$out/seg10" "1-segment" | tee -a "$out/latency.txt"

echo "== 3. graph after inserting 50%"
# two: 5,000 indexed, 5,000 added without a merge (two segments, two graphs);
# grown: the same add with the default merge policy, which merges the two
#   halves: the first half's graph carried over, the second half inserted;
# scratch: all 10,000 indexed at once (one graph built from scratch).
"$bin" index --model "$model" --corpus "$out/first5k.jsonl" --index "$out/two" --graph-degree 32 2>/dev/null
cp -r "$out/two" "$out/grown"
"$bin" add --index "$out/two" --corpus "$out/last5k.jsonl" --max-segments 0 2>/dev/null
"$bin" add --index "$out/grown" --corpus "$out/last5k.jsonl" 2>&1 | grep merged
"$bin" index --model "$model" --corpus "$out/c10k.jsonl" --index "$out/scratch" --graph-degree 32 2>/dev/null
settings=()
for ef in 8 16 32 64 128; do settings+=(--setting "beam ef $ef=--ef $ef"); done
for idx in two grown scratch; do
    echo "-- $idx"
    python3 bench/common/graph_recall.py --bin "$bin" --index "$out/$idx" --queries "$out/queries.jsonl" \
        --limit 500 --k 10 "${settings[@]}" --json "$out/recall-$idx.json"
done
python3 bench/live/live_gap.py "$out"/recall-{two,grown,scratch}.json

echo "== 4. merging into a large index: graph grown against built"
# The full index plus the 1,000 added in section 1 merged into one segment
# (graph grown: 1,000 inserted), against building that index's graph from
# scratch (exact neighbours, diversified) with `hypencoder graph`.
t_merge=$(seconds "$bin" optimize --index "$out/full")
cp -r "$full" "$out/rebuild"
t_graph=$(seconds "$bin" graph --index "$out/rebuild" --degree 32)
echo "optimize (merge 60,766, graph grown): $t_merge s"
echo "graph rebuilt from scratch (59,766):  $t_graph s"
