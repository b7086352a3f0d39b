#!/usr/bin/env bash
# One training step, Rust vs PyTorch, measured in one run on this machine:
# all-MiniLM-L6-v2 fine-tuned as a bi-encoder (shared encoder, mean pooling,
# in-batch + one hard negative per query, scale 20, AdamW lr 2e-5, no
# dropout), the same fixed batch of 32 debian-pkg train queries, query/doc
# max length 64/256. Prints time per step and peak memory and their
# Rust/PyTorch ratios.
#
#   bench/train/run_step.sh                 # defaults below
#   THREADS=2 STEPS=5 SIZE=32 bench/train/run_step.sh
#
# The Rust side is target/release/examples/train_step (BIN_BENCH=... for
# another binary); build it first:
#   cargo build --release --example train_step -p hypencoder-train
# Hard negatives come from runs/default-model/train.jsonl (scripts/train-default)
# when it exists, else random documents. Keep the machine otherwise idle.
set -euo pipefail
. "$(dirname "$0")/../common/root.sh"

threads="${THREADS:-2}"
steps="${STEPS:-5}"
size="${SIZE:-32}"
data=data/debian-pkg
model=models/all-MiniLM-L6-v2
bin="${BIN_BENCH:-target/release/examples/train_step}"
venv="${VENV:-$root/target/bench-venv}"
out="${OUT:-$root/target/train-step}"

if [[ ! -x "$bin" ]]; then
    echo "no Rust benchmark binary at $bin; build it with" >&2
    echo "  cargo build --release --example train_step -p hypencoder-train" >&2
    exit 1
fi

# PyTorch from PyPI (the default Linux wheel is the CUDA build, ~5.6 GB; only
# its CPU kernels run here).
if ! "$venv/bin/python" -c "import torch, transformers, safetensors, tokenizers" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet torch transformers safetensors tokenizers
fi

scripts/fetch-minilm
[[ -f $data/corpus.jsonl ]] || scripts/build-debian-pkg --out $data
mkdir -p "$out"
train_args=()
[[ -f runs/default-model/train.jsonl ]] && train_args=(--train runs/default-model/train.jsonl)
python3 bench/train/make_train_batch.py --data $data "${train_args[@]}" --size "$size" \
    --output "$out/batch.jsonl"

load="$(cut -d' ' -f1 /proc/loadavg)"
if awk -v l="$load" 'BEGIN { exit !(l > 0.5) }'; then
    echo "warning: load average is $load; other jobs skew the figures" >&2
fi

export RAYON_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads"
export TOKENIZERS_PARALLELISM=true

echo "== Rust ($bin)" >&2
"$bin" --model $model --batch "$out/batch.jsonl" --steps "$steps" --warmup 1 | tee "$out/rust.json"
echo "== Rust, the same step for a Hypencoder (no PyTorch anchor: no such trainer)" >&2
"$bin" --model $model --batch "$out/batch.jsonl" --steps "$steps" --warmup 1 --kind hypencoder \
    | tee "$out/rust-hypencoder.json"
echo "== PyTorch" >&2
"$venv/bin/python" bench/train/train_step_torch.py --model $model --batch "$out/batch.jsonl" \
    --steps "$steps" --warmup 1 --threads "$threads" | tee "$out/pytorch.json"

python3 - "$out/rust.json" "$out/pytorch.json" "$out/rust-hypencoder.json" <<'EOF'
import json, sys

def last_json(path):
    lines = [l for l in open(path) if l.lstrip().startswith("{")]
    return json.loads(lines[-1])

ours, torch, hyper = (last_json(p) for p in sys.argv[1:])
fmt = lambda v: "-" if v is None else f"{v:.1f}"
print(f"\n| measure | Rust | PyTorch | Rust/PyTorch |\n| --- | ---: | ---: | ---: |")
for key in ("ms_per_step", "ms_min", "peak_rss_mb"):
    a, b = ours.get(key), torch.get(key)
    ratio = f"{a / b:.2f}" if a is not None and b else "-"
    print(f"| {key} | {fmt(a)} | {fmt(b)} | {ratio} |")
loss = lambda r: " -> ".join("-" if r.get(k) is None else f"{r[k]:.4f}" for k in ("loss_first", "loss_last"))
print(f"\nloss, first step (warm-up) -> last: Rust {loss(ours)}, PyTorch {loss(torch)}")
print(f"Hypencoder step (Rust): {fmt(hyper['ms_per_step'])} ms, peak {fmt(hyper['peak_rss_mb'])} MB, "
      f"{hyper['ms_per_step'] / torch['ms_per_step']:.2f}x PyTorch's bi-encoder step")
print(f"real tokens q/d: {torch['real_query_tokens']}/{torch['real_doc_tokens']} (Rust runs only these); "
      f"padded tokens q/d: Rust {ours.get('query_tokens')}/{ours.get('doc_tokens')}, "
      f"PyTorch {torch['query_tokens']}/{torch['doc_tokens']}")
EOF

echo "machine: $(nproc --all) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%Y-%m-%d);" \
     "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo "results: $out/rust.json, $out/pytorch.json"
