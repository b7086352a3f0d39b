#!/usr/bin/env bash
# Documents/s of all-MiniLM-L6-v2: ours at f32, int8 and bf16 (PRECISIONS),
# then PyTorch f32, ONNX Runtime fp32 and ONNX Runtime int8
# (bench/encode/encode_onnx.py) on the same texts in the same run, each
# one's vectors against PyTorch f32's.
#
#   bench/encode/run_onnx.sh                  # THREADS=2 N_DOCS=1024
#   bench/encode/run_onnx.sh --limit 96       # extra arguments go to the script
#                                             # (--limit: anchors only, a quick check)
#
# Keep the machine otherwise idle while it runs: every system uses every core.
set -euo pipefail
. "$(dirname "$0")/../common/root.sh"

threads="${THREADS:-2}"
n_docs="${N_DOCS:-1024}"
model="${MODEL:-$root/models/all-MiniLM-L6-v2}"
venv="${VENV:-$root/target/bench-venv}"
out="${OUT:-$root/target/bench-encode}"

. "$root/bench/common/python.sh"
need_model "$model"
# The venv run.sh makes, plus onnx and onnxruntime. PyPI's Linux torch wheel
# is the CUDA build (~5.6 GB with its nvidia-* packages); only its CPU
# kernels run here.
need_venv "$venv" "torch, numpy, transformers, safetensors, onnx, onnxruntime" \
    torch numpy transformers safetensors onnx onnxruntime

mkdir -p "$out"
[[ -f "$out/docs.txt" ]] || python3 bench/encode/make_texts.py "$out" --docs "$n_docs"

load="$(cut -d' ' -f1 /proc/loadavg)"
if awk -v l="$load" 'BEGIN { exit !(l > 0.5) }'; then
    echo "warning: load average is $load; other jobs skew the figures" >&2
fi

export OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads" RAYON_NUM_THREADS="$threads"
export TOKENIZERS_PARALLELISM=true

# Ours first, at every precision, in the same run as the anchors (built
# before anything is timed).
cargo bench -p hypencoder-model --bench encode --no-run --quiet
BENCH_MODEL="$model" BENCH_DOCS="$out/docs.txt" BENCH_QUERIES="$out/queries.txt" \
BENCH_OUT="$out/rust-precisions.json" BENCH_QNET_HIDDEN="" BENCH_PRECISIONS="${PRECISIONS:-f32,int8,bf16}" \
BENCH_VECTORS="$out/onnx" cargo bench -p hypencoder-model --bench encode --quiet

"$venv/bin/python" bench/encode/encode_onnx.py --model "$model" --texts "$out" \
    --work "$out/onnx" --out "$out/onnx.json" --threads "$threads" --batch 32 --max-length 256 \
    --rust-json "$out/rust-precisions.json" "$@"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%Y-%m-%d)"
