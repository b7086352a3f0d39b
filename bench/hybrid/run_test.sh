#!/usr/bin/env bash
# The hybrid table on debian-pkg TEST queries (all of them; settings were
# chosen on dev by bench/hybrid/run_dev.sh, never here), every row in one
# run so the latencies compare: BM25; the default Hypencoder alone (graph;
# exhaustive q-net search takes ~0.2 s a query here, 20 minutes for the
# split), rerank, hybrid with each fusion; all-MiniLM-L6-v2 and
# all-MiniLM-L6-v2 fine-tuned as a bi-encoder, each alone and in hybrid.
# One line per row: MRR@10, nDCG@10, Recall@100, ms/query (2 cores, query
# encoding included).
#
#   bench/hybrid/run_test.sh             # builds what is missing (~1 h), then the table
#
# Indexes (each built once, skipped when present; every one has a lexical
# part and a degree-32 graph whose metric follows the model):
#   data/idx/debian-default    the default model (assets/default-model)
#   data/idx/debian-minilm     all-MiniLM-L6-v2 as shipped
#   data/idx/debian-finetuned  all-MiniLM-L6-v2 fine-tuned as in
#                              bench/train/run_table.sh (40 full steps)
set -euo pipefail
. "$(dirname "$0")/../common/root.sh"
data="${DATA:-data/debian-pkg}"
out="${OUT:-target/hybrid-test}"
bin="${BIN:-target/release/hypencoder}"
mkdir -p "$out"

# --- what the rows need -------------------------------------------------
if [[ -z "${BIN:-}" ]]; then cargo build --release --quiet; fi
scripts/fetch-minilm
[[ -f $data/corpus.jsonl ]] || scripts/build-debian-pkg --out "$data"
build_index() {  # dir, index flags...
    local dir="$1"; shift
    [[ -f $dir/manifest.json ]] || "$bin" index --corpus "$data/corpus.jsonl" --index "$dir" \
        --graph-degree 32 "$@"
}
build_index data/idx/debian-default
build_index data/idx/debian-minilm --model models/all-MiniLM-L6-v2

# The fine-tuned bi-encoder: the recipe of bench/train/run_table.sh (train
# data mined with all-MiniLM-L6-v2, as scripts/train-default does; 40 full
# steps of a 60-step schedule, lr 2e-5, batch 32, one hard negative).
work=runs/default-model
bi=runs/table/minilm-finetuned
mkdir -p "$work"
[[ -f $work/train.jsonl ]] || "$bin" mine --index data/idx/debian-minilm \
    --queries "$data/queries.train.jsonl" --qrels "$data/qrels.train.tsv" \
    --output "$work/train.jsonl" --negatives 30
[[ -d $bi/checkpoints/step-40 ]] || "$bin" train --kind bi-encoder --mode full \
    --base models/all-MiniLM-L6-v2 --data "$work/train.jsonl" --index data/idx/debian-minilm \
    --output "$bi" --negatives 1 --batch-size 32 --max-steps 60 --stop-after 40 \
    --save-every 20 --lr 2e-5 --seed 42
build_index data/idx/debian-finetuned --model "$bi/checkpoints/step-40"

# --- the rows -------------------------------------------------------------
run() {  # name, index, search flags...
    local name="$1" index="$2"; shift 2
    local log="$out/$name.log"
    "$bin" search --index "$index" --queries "$data/queries.test.jsonl" --k 100 \
        --output "$out/$name.trec" "$@" 2> "$log"
    local ms m
    ms="$(grep -o '[0-9.]* ms/query' "$log" | cut -d' ' -f1)"
    m="$("$bin" eval --qrels "$data/qrels.test.tsv" --run "$out/$name.trec" \
        --metrics mrr@10,ndcg@10,recall@100 | awk '{printf "%s=%s ", $1, $NF}')"
    printf '%-30s %s ms/query=%s\n' "$name" "$m" "$ms"
}

hyp=data/idx/debian-default
run bm25 $hyp --mode bm25
run hypencoder-graph $hyp --mode graph
run rerank $hyp --mode rerank
run hybrid-rrf $hyp --mode hybrid --fusion rrf --rrf-k 10
run hybrid-linear $hyp --mode hybrid
for model in minilm finetuned; do
    index=data/idx/debian-$model
    run "$model-graph" "$index" --mode graph
    run "$model-exhaustive" "$index" --mode exhaustive
    run "$model-hybrid-rrf" "$index" --mode hybrid --fusion rrf --rrf-k 10
    run "$model-hybrid-linear" "$index" --mode hybrid
done
