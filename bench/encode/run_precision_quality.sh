#!/usr/bin/env bash
# What each encode precision costs in quality, on whole collections: for
# every collection and precision, an index built with
# `hypencoder index --encode-precision P` (default model unless MODEL),
# its documents/s, MRR@10 of exhaustive neural search and of the default
# hybrid search, and its document vectors' cosine to the f32 index's.
# This is the measurement the default encode precision is chosen by
# (bench/encode/README.md).
#
#   bench/encode/run_precision_quality.sh NAME=CORPUS:QUERIES:QRELS ...
#       # PRECISIONS="f32 int8 bf16" MODES="exhaustive hybrid" MODEL WORK BIN
#
# f32 runs first (the cosines are against it). Indexes and runs stay under
# WORK (default target/bench-precision) and are reused when present (a
# mode left out of MODES prints "-"). Exhaustive search scores every
# document with each query's q-net: ~0.4 s a query at 60k documents on 2
# cores, so keep big collections' query sets to ~1,000. The
# cosines need numpy, from the venv at VENV (default target/bench-venv,
# made if missing).
set -euo pipefail
. "$(dirname "$0")/../common/root.sh"
. "$root/bench/common/python.sh"
work="${WORK:-target/bench-precision}"
bin="${BIN:-target/release/hypencoder}"
model="${MODEL:-assets/default-model}"
venv="${VENV:-$root/target/bench-venv}"
[[ -n "${BIN:-}" ]] || cargo build --release --quiet --workspace
need_venv "$venv" numpy numpy
mkdir -p "$work"

mrr() {  # run qrels
    "$bin" eval --run "$1" --qrels "$2" --metrics mrr@10 --json \
        | python3 -c 'import json, sys; print("%.4f" % json.load(sys.stdin)["mean"]["recip_rank_cut_10"])'
}
cosines() {  # index reference-index: "min / mean" cosine of row i to row i
    "$venv/bin/python" - "$1" "$2" <<'PY'
import sys
sys.path.insert(0, "bench/common")
import numpy as np
from vectors_file import vectors_map
a, b = (np.asarray(vectors_map(d), dtype=np.float64) for d in sys.argv[1:3])
cos = (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))
print(f"{cos.min():.5f} / {cos.mean():.6f}")
PY
}

echo "| collection | precision | docs/s (index) | exhaustive MRR@10 | hybrid MRR@10 | cosine to f32, min / mean |"
echo "|---|---|---:|---:|---:|---:|"
for spec in "$@"; do
    name="${spec%%=*}"; rest="${spec#*=}"
    IFS=: read -r corpus queries qrels <<< "$rest"
    for precision in ${PRECISIONS:-f32 int8 bf16}; do
        dir="$work/$name-$precision"
        if [[ ! -f $dir/manifest.json ]]; then
            "$bin" index --model "$model" --corpus "$corpus" --index "$dir" \
                --encode-precision "$precision" 2> "$work/$name-$precision-index.log"
        fi
        rate=$(grep -o '([0-9.]* docs/s)' "$work/$name-$precision-index.log" | tr -d '(' | cut -d' ' -f1)
        declare -A score=([exhaustive]="-" [hybrid]="-")
        for mode in ${MODES:-exhaustive hybrid}; do
            run="$work/$name-$precision-$mode.run"
            if [[ ! -s $run ]]; then
                "$bin" search --index "$dir" --queries "$queries" --mode "$mode" --k 100 \
                    --output "$run.partial" 2> /dev/null
                mv "$run.partial" "$run"
            fi
            score[$mode]=$(mrr "$run" "$qrels")
        done
        cos="-"
        [[ $precision == f32 ]] || cos=$(cosines "$dir" "$work/$name-f32")
        echo "| $name | $precision | $rate | ${score[exhaustive]} | ${score[hybrid]} | $cos |"
    done
done
