#!/usr/bin/env bash
# Documents/s of all-MiniLM-L6-v2 in paired rounds: each round runs every
# system once, one after the other, on the first LIMIT texts, so a shared
# machine's drift hits all of them alike; quote the median of the rounds'
# ratios. Systems: ours at each of PRECISIONS, ours int8 on the AVX2 pair
# kernel (HYPENCODER_ISA=avx512: AVX-512 without VNNI; skipped on CPUs
# without AVX512-VNNI, where that is what int8 runs anyway), then PyTorch
# f32 and ONNX Runtime fp32 / int8 (encode_onnx.py). bench/encode/README.md.
#
#   bench/encode/run_rounds.sh          # ROUNDS=3 LIMIT=256 THREADS=2 PRECISIONS=f32,int8,bf16
#
# Prints one TSV line per system and round; run_onnx.sh gives the cosines.
set -euo pipefail
. "$(dirname "$0")/../common/root.sh"

rounds="${ROUNDS:-3}"
limit="${LIMIT:-256}"
threads="${THREADS:-2}"
precisions="${PRECISIONS:-f32,int8,bf16}"
model="${MODEL:-$root/models/all-MiniLM-L6-v2}"
venv="${VENV:-$root/target/bench-venv}"
out="${OUT:-$root/target/bench-encode}"

. "$root/bench/common/python.sh"
need_model "$model"
need_venv "$venv" "torch, numpy, transformers, safetensors, onnx, onnxruntime" \
    torch numpy transformers safetensors onnx onnxruntime
mkdir -p "$out/rounds"
[[ -f "$out/docs.txt" ]] || python3 bench/encode/make_texts.py "$out" --docs 1024
head -n "$limit" "$out/docs.txt" > "$out/rounds/docs.txt"
cargo bench -p hypencoder-model --bench encode --no-run --quiet

export OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads" RAYON_NUM_THREADS="$threads"
export TOKENIZERS_PARALLELISM=true
ours() {  # PRECISIONS, then env assignments: one JSON per call
    env "${@:2}" BENCH_MODEL="$model" BENCH_DOCS="$out/rounds/docs.txt" \
        BENCH_QUERIES="$out/queries.txt" BENCH_OUT="$out/rounds/rust.json" BENCH_QNET_HIDDEN="" \
        BENCH_PRECISIONS="$1" cargo bench -p hypencoder-model --bench encode --quiet > /dev/null
    python3 -c 'import json, sys
for r in json.load(open(sys.argv[1]))["docs_by_precision"]:
    print(sys.argv[2] + r["precision"], "%.2f" % r["docs_per_s"], sep="\t")' \
        "$out/rounds/rust.json" "${OURS_PREFIX:-ours-}"
}
vnni=$(grep -c -m1 avx512_vnni /proc/cpuinfo || true)
for round in $(seq 1 "$rounds"); do
    echo "# round $round (load $(cut -d' ' -f1 /proc/loadavg))"
    ours "$precisions" HYPENCODER_ISA=
    if [[ $vnni == 1 ]]; then
        OURS_PREFIX="ours-avx2-pairs-" ours int8 HYPENCODER_ISA=avx512
    fi
    "$venv/bin/python" bench/encode/encode_onnx.py --model "$model" --texts "$out/rounds" \
        --work "$out/onnx" --threads "$threads" --batch 32 --max-length 256 --limit "$limit" \
        | awk '/^(torch|ort)-/ && $1 !~ /:$/ {print $1 "\t" $2}'
done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%Y-%m-%d)"
