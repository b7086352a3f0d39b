#!/usr/bin/env bash
# Quality of each q-net precision against f32, on debian-pkg's test queries
# with the shipped default model: MRR@10 (trec_eval's definition, `hypencoder
# eval`) and the mean overlap of each query's top 10 with f32's, for the
# exhaustive and the graph mode, plus ms/query as the CLI reports it.
#
#   bench/qnet/run_precision.sh      # INDEX=data/idx/debian-default-model (bench/serve/run_load.sh builds it)
#   LIMIT=1000 bench/qnet/run_precision.sh   # the first 1000 test queries only
set -euo pipefail
. "$(dirname "$0")/../common/root.sh"
data="${DATA:-data/debian-pkg}"
index="${INDEX:-data/idx/debian-default-model}"
out="${OUT:-$root/target/bench-precision}"
limit="${LIMIT:-0}"
bin="${BIN:-target/release/hypencoder}"
[[ -n "${BIN:-}" ]] || cargo build --release --quiet
[[ -f "$index/manifest.json" ]] || { echo "no index at $index: run bench/serve/run_load.sh first (it builds it)" >&2; exit 1; }
mkdir -p "$out"
if [[ "$limit" -gt 0 ]]; then head -n "$limit" "$data/queries.test.jsonl" > "$out/queries.jsonl";
else cp "$data/queries.test.jsonl" "$out/queries.jsonl"; fi

for mode in exhaustive graph; do
    for precision in f32 bf16; do
        run="$out/$mode-$precision.trec"
        ms=$("$bin" search --index "$index" --queries "$out/queries.jsonl" --mode "$mode" --k 10 \
            --precision "$precision" --output "$run" 2>&1 | sed -n 's/.*: \([0-9.]*\) ms\/query.*/\1/p')
        mrr=$("$bin" eval --qrels "$data/qrels.test.tsv" --run "$run" --metrics mrr@10 --json \
            | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["mean"]["recip_rank_cut_10"], 5))')
        echo "$mode $precision ms/query=$ms mrr@10=$mrr"
    done
done | tee "$out/summary.txt"

python3 - "$out" <<'PY'
import collections, sys
out = sys.argv[1]
def top(path):
    runs = collections.defaultdict(list)
    for line in open(path):
        qid, _, doc, rank, score, _ = line.split()
        runs[qid].append(doc)
    return runs
for mode in ("exhaustive", "graph"):
    ref = top(f"{out}/{mode}-f32.trec")
    got = top(f"{out}/{mode}-bf16.trec")
    overlap = [len(set(ref[q]) & set(got.get(q, []))) / max(len(ref[q]), 1) for q in ref]
    same = sum(ref[q] == got.get(q) for q in ref)
    print(f"{mode} bf16 vs f32: top-10 overlap {sum(overlap)/len(overlap):.4f}, "
          f"identical top-10 lists {same}/{len(ref)}")
PY
