#!/usr/bin/env bash
# The like-for-like experiment (issue 11): a Hypencoder and a bi-encoder,
# each trained end to end (`--mode full`, one shared transformer) from
# all-MiniLM-L6-v2 on debian-pkg train with the same data order, batch,
# negatives, steps and learning-rate schedule (the Hypencoder from the
# bi-encoder start, so both begin at MiniLM's quality). Every $EVERY steps
# the run stops with a checkpoint (resumed exactly) and the checkpoint is
# scored on the dev slice (bench/train/make_dev_slice.py: 1000 dev queries over
# their positives and BM25's top 20 each); dev MRR@10 goes to
# runs/like-for-like/curve.tsv. Rerunning skips what is done.
#
#   bench/train/run_like_for_like.sh                 # STEPS=600 EVERY=100 LR=2e-5 NEGATIVES=1
#   KINDS=hypencoder LR=5e-5 OUT=runs/l4l-lr5e-5 bench/train/run_like_for_like.sh
#
# Needs runs/default-model/train.jsonl and data/idx/debian-minilm (made by
# bench/hybrid/run_test.sh or scripts/train-default). Test figures: see
# bench/train/README.md.
set -euo pipefail
. "$(dirname "$0")/../common/root.sh"
data=data/debian-pkg
steps="${STEPS:-600}"
every="${EVERY:-100}"
lr="${LR:-2e-5}"
negatives="${NEGATIVES:-1}"
kinds="${KINDS:-bi-encoder hypencoder}"
out="${OUT:-runs/like-for-like}"
extra=(${EXTRA:-})
slice=data/debian-dev-slice
bin=target/release/hypencoder
scratch=target/like-for-like
cargo build --release --quiet
mkdir -p "$out" "$scratch"
curve="$out/curve.tsv"
touch "$curve"

if [[ ! -f $slice/corpus.jsonl ]]; then
    head -n 1000 "$data/queries.dev.jsonl" > "$scratch/dev1000.jsonl"
    "$bin" search --index data/idx/debian-minilm --mode bm25 --queries "$scratch/dev1000.jsonl" \
        --k 20 --output "$scratch/dev1000.bm25.trec"
    python3 bench/train/make_dev_slice.py --bm25-run "$scratch/dev1000.bm25.trec" --out "$slice"
fi

# kind, step, model folder: dev MRR@10 on the slice (exhaustive search).
evaluate() {
    local idx="$scratch/$1-$2"
    rm -rf "$idx" "$idx.partial"
    "$bin" index --model "$3" --corpus "$slice/corpus.jsonl" --index "$idx" --no-lexical 2> /dev/null
    "$bin" search --index "$idx" --queries "$slice/queries.dev.jsonl" --k 100 --mode exhaustive \
        --output "$idx.trec" 2> /dev/null
    local mrr
    mrr="$("$bin" eval --qrels "$slice/qrels.dev.tsv" --run "$idx.trec" --metrics mrr@10 | awk '/recip_rank/ {print $NF}')"
    printf '%s\t%s\t%s\n' "$1" "$2" "$mrr" | tee -a "$curve"
    rm -rf "$idx"
}

grep -q "^start	0	" "$curve" || evaluate start 0 models/all-MiniLM-L6-v2
for kind in $kinds; do
    run="$out/$kind"
    for ((stop = every; stop <= steps; stop += every)); do
        grep -q "^$kind	$stop	" "$curve" && continue
        start=$(date +%s)
        # The last stretch runs to the end, so the final model is written.
        stop_flag=(--stop-after "$stop")
        [[ $stop -eq $steps ]] && stop_flag=()
        "$bin" train --kind "$kind" --mode full --base models/all-MiniLM-L6-v2 \
            --data runs/default-model/train.jsonl --index data/idx/debian-minilm --output "$run" \
            --negatives "$negatives" --batch-size 32 --max-steps "$steps" "${stop_flag[@]}" \
            --save-every "$every" --lr "$lr" --seed 42 "${extra[@]}" 2> "$scratch/$kind-train.log"
        echo "$kind: steps to $stop in $(($(date +%s) - start)) s" >&2
        model="$run/checkpoints/step-$stop"
        [[ $stop -eq $steps ]] && model="$run"
        evaluate "$kind" "$stop" "$model"
    done
done

# Test figures of the two final models (debian-pkg test, all 5841 queries):
# each alone (graph search on a degree-32 graph whose metric follows the
# model; exhaustive too for the bi-encoder, whose dot products are cheap)
# and in hybrid with BM25 at the defaults.
[[ "${TEST:-1}" == 1 ]] || exit 0
row() {  # name, index, search flags...
    local name="$1" index="$2"; shift 2
    "$bin" search --index "$index" --queries "$data/queries.test.jsonl" --k 100 \
        --output "$scratch/$name.trec" "$@" 2> "$scratch/$name.log"
    local ms
    ms="$(grep -o '[0-9.]* ms/query' "$scratch/$name.log" | cut -d' ' -f1)"
    printf '%-28s %s ms/query=%s\n' "$name" "$("$bin" eval --qrels "$data/qrels.test.tsv" \
        --run "$scratch/$name.trec" --metrics mrr@10,ndcg@10,recall@100 | awk '{printf "%s=%s ", $1, $NF}')" "$ms" \
        | tee -a "$out/test.txt"
}
for kind in $kinds; do
    index="data/idx/debian-l4l-$kind"
    [[ -f $index/manifest.json ]] || "$bin" index --model "$out/$kind" --corpus "$data/corpus.jsonl" \
        --index "$index" --graph-degree 32 2> "$scratch/$kind-index.log"
    row "$kind-graph" "$index" --mode graph
    [[ $kind == bi-encoder ]] && row "$kind-exhaustive" "$index" --mode exhaustive
    row "$kind-hybrid" "$index" --mode hybrid
done
