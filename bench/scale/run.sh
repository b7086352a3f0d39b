#!/usr/bin/env bash
# How cost grows with the corpus (bench/scale/README.md): sampled 384-d
# vectors at 100k, 300k and 1M documents; index write, graph build (grown by
# insertion), bytes per document, resident memory, exhaustive and graph
# ms/query with random 2- and 6-layer q-nets in f32 and bf16. Then a table,
# a log-log plot (bench/scale/scale.png) and a line extrapolated to MS MARCO's
# 8.8M passages beside the paper's GPU latencies.
#
#   bench/scale/run.sh                        # SIZES=100000,300000,1000000 DIM=384
#   SIZES=100000,300000 bench/scale/run.sh    # quicker
#
# About 25 minutes with the defaults on 2 cores; needs ~2 GB of disk at 1M.
set -euo pipefail
. "$(dirname "$0")/../common/root.sh"
sizes="${SIZES:-100000,300000,1000000}"
dim="${DIM:-384}"
threads="${THREADS:-2}"
venv="${VENV:-$root/target/bench-venv}"
out="${OUT:-$root/target/bench-scale}"
mkdir -p "$out"
if ! "$venv/bin/python" -c "import matplotlib" 2>/dev/null; then
    [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet matplotlib
fi
cargo bench -p hypencoder-search --bench scale --no-run --quiet
RAYON_NUM_THREADS="$threads" BENCH_SIZES="$sizes" BENCH_DIM="$dim" BENCH_WORK="$out" \
BENCH_OUT="$out/scale.json" cargo bench -p hypencoder-search --bench scale --quiet > /dev/null
"$venv/bin/python" bench/scale/scale_report.py "$out/scale.json" --plot bench/scale/scale.png
