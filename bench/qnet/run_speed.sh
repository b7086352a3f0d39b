#!/usr/bin/env bash
# Q-net scoring speed, Rust vs PyTorch, measured in one run on this machine:
# documents scored per second for 768-d q-nets of 2 and 6 hidden layers and a
# 384-d one of 2, for 1 query and a batch of 32, in f32 and bf16 on both
# sides, plus the sgemm rates (gemm crate, MKL) the figures are compared
# with. Prints a table of ratios.
# See bench/qnet/README.md.
#
#   bench/qnet/run_speed.sh                                  # defaults below
#   THREADS=2 DOCS=100000 BATCH_DOCS=8192 bench/qnet/run_speed.sh
#
# Keep the machine otherwise idle while it runs: both sides use every core.
set -euo pipefail
. "$(dirname "$0")/../common/root.sh"

threads="${THREADS:-2}"
docs="${DOCS:-100000}"
batch_docs="${BATCH_DOCS:-8192}"
shapes="${SHAPES:-768x2,768x6,384x2}"
queries="${QUERIES:-1,32}"
precisions="${PRECISIONS:-f32,bf16}"
min_time="${MIN_TIME:-3}"
venv="${VENV:-$root/target/bench-venv}"
out="${OUT:-$root/target/bench-qnet}"

# PyTorch from PyPI (the default Linux wheel is the CUDA build, ~5.6 GB; only
# its CPU kernels, MKL with AVX-512, run here).
if ! "$venv/bin/python" -c "import torch, numpy" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet torch numpy
fi
mkdir -p "$out"

# Build first, so no compiler runs during the measurement.
cargo bench -p hypencoder-search --bench qnet --no-run --quiet

load="$(cut -d' ' -f1 /proc/loadavg)"
if awk -v l="$load" 'BEGIN { exit !(l > 0.5) }'; then
    echo "warning: load average is $load; other jobs skew the figures" >&2
fi

export RAYON_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads"

BENCH_DOCS="$docs" BENCH_BATCH_DOCS="$batch_docs" BENCH_SHAPES="$shapes" BENCH_QUERIES="$queries" \
BENCH_PRECISIONS="$precisions" \
BENCH_MIN_TIME="$min_time" BENCH_WORK="$out" BENCH_OUT="$out/rust.json" \
    cargo bench -p hypencoder-search --bench qnet --quiet

"$venv/bin/python" bench/qnet/qnet_vs_pytorch.py --threads "$threads" --docs "$docs" \
    --batch-docs "$batch_docs" --shapes "$shapes" --queries "$queries" --min-time "$min_time" \
    --dtypes "$precisions" \
    --rust-json "$out/rust.json" --out "$out/pytorch.json"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%Y-%m-%d);" \
     "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo "results: $out/rust.json, $out/pytorch.json"
