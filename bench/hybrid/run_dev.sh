#!/usr/bin/env bash
# Hybrid search settings on debian-pkg DEV queries (never test): BM25,
# the neural side alone, rerank, and hybrid with each fusion over a grid of
# its constant (CANDIDATES, RRF_KS, ALPHAS), on the first $QUERIES dev queries. Prints one line per run
# (MRR@10, nDCG@10, Recall@100, ms/query) and keeps the runs in $OUT.
#
#   bench/hybrid/run_dev.sh [INDEX]      # default: data/idx/debian-default
#
# INDEX is built with the default model over the whole collection:
#   hypencoder index --corpus data/debian-pkg/corpus.jsonl --index data/idx/debian-default --graph-degree 32
set -euo pipefail
. "$(dirname "$0")/../common/root.sh"
index="${1:-data/idx/debian-default}"
data="${DATA:-data/debian-pkg}"
n="${QUERIES:-1000}"
out="${OUT:-target/hybrid-dev}"
bin="${BIN:-target/release/hypencoder}"
mkdir -p "$out"
head -n "$n" "$data/queries.dev.jsonl" > "$out/queries.jsonl"

run() {  # name, search flags...
    local name="$1"; shift
    local log="$out/$name.log"
    "$bin" search --index "$index" --queries "$out/queries.jsonl" --k "${K:-100}" \
        --output "$out/$name.trec" "$@" 2> "$log"
    local ms
    ms="$(grep -o '[0-9.]* ms/query' "$log" | cut -d' ' -f1)"
    local m
    m="$("$bin" eval --qrels "$data/qrels.dev.tsv" --run "$out/$name.trec" \
        --metrics mrr@10,ndcg@10,recall@100 | awk '{printf "%s=%s ", $1, $NF}')"
    printf '%-28s %s ms/query=%s\n' "$name" "$m" "$ms"
}

run bm25 --mode bm25
run neural-graph --mode graph
for c in ${CANDIDATES:-100}; do
    run "rerank-c$c" --mode rerank --candidates "$c"
    for k in ${RRF_KS:-10 60}; do
        run "hybrid-rrf-k$k-c$c" --mode hybrid --fusion rrf --rrf-k "$k" --candidates "$c"
    done
    for a in ${ALPHAS:-0.3 0.5 0.7}; do
        run "hybrid-linear-a$a-c$c" --mode hybrid --fusion linear --alpha "$a" --candidates "$c"
    done
done
