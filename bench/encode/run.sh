#!/usr/bin/env bash
# Rust vs PyTorch encoding speed, measured in one run on this machine:
# documents/s (all-MiniLM-L6-v2, batch 32, max length 256) and query -> q-net
# latency of a MiniLM-sized Hypencoder. Prints a table of Rust/PyTorch ratios.
# See bench/encode/README.md.
#
#   bench/encode/run.sh                 # everything, defaults below
#   THREADS=2 N_DOCS=1024 bench/encode/run.sh
#   BASE=bert-base bench/encode/run.sh  # a BERT-base-sized model (768-d, 12
#                                       # layers, random weights, MiniLM's
#                                       # tokenizer) made under $OUT first
#
# Keep the machine otherwise idle while it runs: both sides use every core.
set -euo pipefail
. "$(dirname "$0")/../common/root.sh"

threads="${THREADS:-2}"
n_docs="${N_DOCS:-1024}"
model="${MODEL:-$root/models/all-MiniLM-L6-v2}"
venv="${VENV:-$root/target/bench-venv}"
out="${OUT:-$root/target/bench-encode}"
hidden="${QNET_HIDDEN:-2,6}"   # q-net hidden-layer counts to measure

. "$root/bench/common/python.sh"
need_model "$model"
# PyTorch from PyPI (the only index reachable). The default Linux wheel is the
# CUDA build: ~5.6 GB installed with its nvidia-* packages, ~1.5 min to
# install; CUDA is never used here (no GPU), only the CPU kernels (MKL).
need_venv "$venv" "torch, transformers, safetensors" torch numpy transformers safetensors

mkdir -p "$out"
python3 bench/encode/make_texts.py "$out" --docs "$n_docs"

# BASE=bert-base: random weights in BERT-base's shape (timing does not
# depend on the values), saved by transformers as a Hugging Face folder.
if [[ "${BASE:-}" == "bert-base" ]]; then
    base_dir="$out/bert-base-random"
    if [[ ! -f "$base_dir/model.safetensors" ]]; then
        "$venv/bin/python" - "$model" "$base_dir" <<'PY'
import shutil, sys
import torch
from transformers import BertConfig, BertModel
src, dst = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
config = BertConfig(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                    intermediate_size=3072, max_position_embeddings=512)
BertModel(config).save_pretrained(dst, safe_serialization=True)
for f in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
    try:
        shutil.copy(f"{src}/{f}", f"{dst}/{f}")
    except FileNotFoundError:
        pass
PY
    fi
    model="$base_dir"
fi

# Build first, so no compiler runs during the measurement.
cargo bench -p hypencoder-model --bench encode --no-run --quiet

load="$(cut -d' ' -f1 /proc/loadavg)"
if awk -v l="$load" 'BEGIN { exit !(l > 0.5) }'; then
    echo "warning: load average is $load; other jobs skew the figures" >&2
fi

export RAYON_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads"
export TOKENIZERS_PARALLELISM=true

BENCH_MODEL="$model" BENCH_DOCS="$out/docs.txt" BENCH_QUERIES="$out/queries.txt" \
BENCH_WORK="$out/work" BENCH_OUT="$out/rust.json" BENCH_QNET_HIDDEN="$hidden" \
    cargo bench -p hypencoder-model --bench encode --quiet

"$venv/bin/python" bench/encode/encode_vs_pytorch.py --model "$model" --threads "$threads" \
    --docs "$out/docs.txt" --queries "$out/queries.txt" \
    --rust-json "$out/rust.json" --out "$out/pytorch.json"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%Y-%m-%d)"
echo "results: $out/rust.json, $out/pytorch.json"
