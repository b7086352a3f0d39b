#!/usr/bin/env bash
# A default-model candidate trained on a mixture of collections: the
# debian-slice train split (debian-pkg's queries on a quarter of its
# corpus) with pydoc's train split; `info` is left out so that it stays a
# collection the candidate never saw. Same recipe as scripts/train-default
# (all-MiniLM-L6-v2 start, --mode full, 800 steps of 32, one mined hard
# negative plus in-batch ones, lr 2e-5, seed 42), negatives mined with
# all-MiniLM-L6-v2's own search of each collection.
#
#   bench/quality/train_mixed.sh      -> runs/mixed-model, then its dev table
#
# Needs data/quality (build_collections.py) and the MiniLM indexes table.py
# builds. About 35 minutes on 2 cores, most of it training.
set -euo pipefail
source "$(dirname "$0")/../common/root.sh"
bin=target/release/hypencoder
base=models/all-MiniLM-L6-v2
work=runs/mixed
out=runs/mixed-model
mkdir -p $work
for c in debian-slice pydoc; do
  [[ -f $work/$c.jsonl ]] || $bin mine --index data/idx/quality-$c-minilm \
      --queries data/quality/$c/queries.train.jsonl --qrels data/quality/$c/qrels.train.tsv \
      --output $work/$c.jsonl --negatives 30
done
# Training reads every document's text from one index, where ids must be
# unique: some pydoc entries are named like Debian packages ("dict"), so
# pydoc's ids take a prefix there and in its examples.
if [[ ! -f $work/train.jsonl ]]; then
  python3 - $work <<'PY'
import json, sys
work = sys.argv[1]
with open(f"{work}/pydoc-corpus.jsonl", "w") as out:
    for line in open("data/quality/pydoc/corpus.jsonl"):
        d = json.loads(line)
        out.write(json.dumps({"id": "pydoc:" + d["id"], "text": d["text"]}) + "\n")
with open(f"{work}/train.jsonl", "w") as out:
    for line in open(f"{work}/debian-slice.jsonl"):
        out.write(line)
    for line in open(f"{work}/pydoc.jsonl"):
        e = json.loads(line)
        e["positives"] = ["pydoc:" + d for d in e["positives"]]
        e["negatives"] = ["pydoc:" + d for d in e["negatives"]]
        out.write(json.dumps(e) + "\n")
PY
fi
[[ -f $work/pydoc-minilm/manifest.json ]] || $bin index --model $base --no-lexical \
    --corpus $work/pydoc-corpus.jsonl --index $work/pydoc-minilm
[[ -f $work/texts/manifest.json ]] || $bin merge --no-lexical --output $work/texts \
    data/idx/quality-debian-slice-minilm $work/pydoc-minilm
$bin train --kind hypencoder --mode full --base $base --data $work/train.jsonl --index $work/texts \
    --output $out --checkpoint-dir $work/checkpoints --negatives 1 --batch-size 32 \
    --max-steps 800 --save-every 200 --lr 2e-5 --seed 42 --save-dtype f16
python3 bench/quality/table.py --split dev --model $out --tag mixed \
    --only "BM25,neural (default model),hybrid linear a=0.7 (default)"
