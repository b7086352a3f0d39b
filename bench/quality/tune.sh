#!/usr/bin/env bash
# `hypencoder tune` as a user would run it on each of our collections: tuned
# on the dev split (on a copy of the collection's default-model index), then
# the shipped defaults and the recorded settings scored on the test split,
# which tune never saw. Prints one markdown row per collection.
#
#   bench/quality/tune.sh [COLLECTION ...]     (default: debian-slice pydoc info)
#
# Needs the indexes bench/quality/table.py builds (data/idx/quality-*-default).
set -euo pipefail
source "$(dirname "$0")/../common/root.sh"
bin=target/release/hypencoder
cargo build --release --quiet -p hypencoder-cli
work=target/quality/tune
mkdir -p $work
shipped=(--fusion linear --alpha 0.7 --candidates 100 --bm25-k1 0.5 --bm25-b 0.75)
mrr() { $bin eval --qrels "$1" --run "$2" --metrics mrr@10 | awk '/recip_rank_cut_10/ {print $3}'; }

echo "| collection | dev queries | tune time | decision | chosen | held-out gain (dev) | test MRR@10 shipped | test MRR@10 tuned |"
echo "|---|---:|---:|---|---|---:|---:|---:|"
for c in "${@:-debian-slice pydoc info}"; do
  for name in $c; do
    data=data/quality/$name
    idx=$work/$name
    rm -rf $idx && cp -r data/idx/quality-$name-default $idx
    $bin tune --index $idx --queries $data/queries.dev.jsonl --qrels $data/qrels.dev.tsv --json > $work/$name.json 2>/dev/null
    $bin search --index $idx --queries $data/queries.test.jsonl --k 10 "${shipped[@]}" --output $work/$name-shipped.trec 2>/dev/null
    $bin search --index $idx --queries $data/queries.test.jsonl --k 10 --output $work/$name-tuned.trec 2>/dev/null
    python3 - "$work/$name.json" "$name" "$(mrr $data/qrels.test.tsv $work/$name-shipped.trec)" "$(mrr $data/qrels.test.tsv $work/$name-tuned.trec)" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
s = t["rows"][0]["setting"]
weight = f" {s['alpha']}" if "alpha" in s else f" k={s['rrf_k']}" if "rrf_k" in s else ""
chosen = f"{s['fusion']}{weight}, {s['candidates']} candidates, k1 {s['bm25_k1']}, b {s['bm25_b']}" if t["decision"] == "tuned" else "(shipped defaults kept)"
print(f"| {sys.argv[2]} | {t['queries']} | {t['seconds']:.0f} s | {t['decision']} | {chosen} | {t['held_out_gain']:+.4f} | {sys.argv[3]} | {sys.argv[4]} |")
PY
  done
done
