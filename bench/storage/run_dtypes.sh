#!/usr/bin/env bash
# Bytes per document and MRR@10 of each vector dtype (f32, f16, bf16,
# int8) on the same documents: each index is converted from one f32 index
# with `hypencoder optimize --dtype` (vectors converted, never re-encoded),
# so the dtype is the only difference. See bench/storage/README.md.
#
#   bench/storage/run_dtypes.sh NAME=INDEX:QUERIES:QRELS ...   # DTYPES="f32 f16 bf16 int8" WORK BIN
#
# Each INDEX is an f32 index (never modified: converted copies go under
# WORK, default target/bench-storage). Neural search is exhaustive (the
# vectors' own ranking, no graph in between) and hybrid (the default mode
# of an index with a lexical part). One line per collection and dtype.
set -euo pipefail
. "$(dirname "$0")/../common/root.sh"
work="${WORK:-target/bench-storage}"
bin="${BIN:-target/release/hypencoder}"
[[ -n "${BIN:-}" ]] || cargo build --release --quiet -p hypencoder-cli
mkdir -p "$work"

mrr() {  # run qrels
    "$bin" eval --run "$1" --qrels "$2" --metrics mrr@10 --json \
        | python3 -c 'import json, sys; print("%.4f" % json.load(sys.stdin)["mean"]["recip_rank_cut_10"])'
}
vector_bytes() {  # index folder: bytes of its vectors files
    find -L "$1" -name vectors.bin -printf '%s\n' | awk '{s += $1} END {print s}'
}

echo "| collection | dtype | vector bytes/doc | exhaustive MRR@10 | hybrid MRR@10 | exhaustive ms/query |"
echo "|---|---|---:|---:|---:|---:|"
for spec in "$@"; do
    name="${spec%%=*}"; rest="${spec#*=}"
    IFS=: read -r index queries qrels <<< "$rest"
    docs=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m.get("count") or sum(s["docs"]-s.get("deleted",0) for s in m["segments"]))' "$index/manifest.json")
    for dtype in ${DTYPES:-f32 f16 bf16 int8}; do
        dir="$index"
        if [[ $dtype != f32 ]]; then
            dir="$work/$name-$dtype"
            if [[ ! -f $dir/manifest.json ]]; then
                rm -rf "$dir.tmp" && cp -r "$index" "$dir.tmp"
                "$bin" optimize --index "$dir.tmp" --dtype "$dtype" 2> /dev/null
                mv "$dir.tmp" "$dir"
            fi
        fi
        "$bin" search --index "$dir" --queries "$queries" --mode exhaustive --k 100 \
            --output "$work/$name-$dtype-exhaustive.run" 2> "$work/$name-$dtype-exhaustive.log"
        ms=$(grep -o '[0-9.]* ms/query' "$work/$name-$dtype-exhaustive.log" | cut -d' ' -f1)
        "$bin" search --index "$dir" --queries "$queries" --k 100 \
            --output "$work/$name-$dtype-hybrid.run" 2> /dev/null
        bytes=$(vector_bytes "$dir")
        echo "| $name | $dtype | $(( (bytes - 64) / docs )) | $(mrr "$work/$name-$dtype-exhaustive.run" "$qrels") | $(mrr "$work/$name-$dtype-hybrid.run" "$qrels") | $ms |"
    done
done
