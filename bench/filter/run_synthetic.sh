#!/usr/bin/env bash
# Filtered search at a million documents (bench/filter/README.md): the
# filter bench (crates/search/benches/filter.rs: a sampled 384-d bi-encoder
# index with a `bucket` field keeping 50/10/1/0.1% of the rows, filtered
# graph search against filtered exhaustive search and unfiltered search),
# then hnswlib's filtered search on the same vectors and queries at equal
# recall (bench/filter/hnswlib_filtered.py).
#
#   bench/filter/run_synthetic.sh              # N=1000000 DIM=384 QUERIES=500
#   N=100000 bench/filter/run_synthetic.sh     # quicker
#
# The first run writes the index and grows its graph (about 25 minutes at
# 1M on 2 cores) and builds hnswlib's; later runs reuse both. Keep the
# machine otherwise idle while it measures.
set -euo pipefail
. "$(dirname "$0")/../common/root.sh"
n="${N:-1000000}"
dim="${DIM:-384}"
queries="${QUERIES:-500}"
threads="${THREADS:-2}"
venv="${VENV:-$root/target/bench-venv}"
work="${WORK:-$root/target/bench-filter}"
out="${OUT:-$work/synthetic-$n.json}"
mkdir -p "$work"
if ! "$venv/bin/python" -c "import hnswlib, numpy" 2>/dev/null; then
    [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet numpy hnswlib
fi
# Build first, so no compiler runs during the measurement.
cargo bench -p hypencoder-search --bench filter --no-run --quiet
RAYON_NUM_THREADS="$threads" BENCH_N="$n" BENCH_DIM="$dim" BENCH_QUERIES="$queries" \
BENCH_WORK="$work" BENCH_OUT="$out" cargo bench -p hypencoder-search --bench filter --quiet
"$venv/bin/python" bench/filter/hnswlib_filtered.py --dir "$work/sampled-${n}x${dim}" \
    --ours "$out" --threads "$threads" --out "$work/hnswlib-$n.json"
