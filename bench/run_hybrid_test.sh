#!/usr/bin/env bash
# The hybrid table on debian-pkg TEST queries (all of them; settings were
# chosen on dev by bench/run_hybrid_dev.sh, never here): BM25, the
# Hypencoder alone (graph), rerank, hybrid with each fusion at the
# defaults. One line per row: MRR@10, nDCG@10, Recall@100, ms/query
# (2 cores, query encoding included).
#
#   bench/run_hybrid_test.sh [INDEX]     # default: data/idx/debian-default
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
index="${1:-data/idx/debian-default}"
data="${DATA:-data/debian-pkg}"
out="${OUT:-target/hybrid-test}"
bin="${BIN:-target/release/hypencoder}"
mkdir -p "$out"

run() {  # name, search flags...
    local name="$1"; shift
    local log="$out/$name.log"
    "$bin" search --index "$index" --queries "$data/queries.test.jsonl" --k 100 \
        --output "$out/$name.trec" "$@" 2> "$log"
    local ms m
    ms="$(grep -o '[0-9.]* ms/query' "$log" | cut -d' ' -f1)"
    m="$("$bin" eval --qrels "$data/qrels.test.tsv" --run "$out/$name.trec" \
        --metrics mrr@10,ndcg@10,recall@100 | awk '{printf "%s=%s ", $1, $NF}')"
    printf '%-24s %s ms/query=%s\n' "$name" "$m" "$ms"
}

run bm25 --mode bm25
run hypencoder-graph --mode graph
run rerank --mode rerank
run hybrid-rrf --mode hybrid --fusion rrf --rrf-k 10
run hybrid-linear --mode hybrid
