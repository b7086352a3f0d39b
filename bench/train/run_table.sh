#!/usr/bin/env bash
# The issue-5 table on debian-pkg test (never used for training or tuning):
# BM25, all-MiniLM-L6-v2 dense, all-MiniLM-L6-v2 fine-tuned as a bi-encoder
# on the same data and wall-clock budget, and the default Hypencoder.
# Every step is skipped when its output exists; see bench/train/README.md.
#
#   bench/train/run_table.sh
set -euo pipefail
. "$(dirname "$0")/../common/root.sh"
data=data/debian-pkg
bin=target/release/hypencoder
mkdir -p runs/table
cargo build --release --quiet
scripts/fetch-minilm
[[ -f $data/corpus.jsonl ]] || scripts/build-debian-pkg --out $data
metrics=mrr@10,ndcg@10,recall@100
eval_row() { echo "== $1"; $bin eval --qrels $data/qrels.test.tsv --run "$2" --metrics $metrics; }

# BM25 (bm25s, Lucene variant k1=0.9 b=0.4, English stop words and stemmer).
if [[ ! -x target/bm25-venv/bin/python ]]; then
    python3 -m venv target/bm25-venv
    target/bm25-venv/bin/pip install --quiet bm25s PyStemmer
fi
[[ -f runs/table/bm25.trec ]] || target/bm25-venv/bin/python bench/common/bm25_run.py \
    --corpus $data/corpus.jsonl --queries $data/queries.test.jsonl --output runs/table/bm25.trec

# all-MiniLM-L6-v2 as shipped (sentence-transformers: mean pooling, normalised).
st=data/indexes/debian-pkg-minilm
[[ -f $st/manifest.json ]] || $bin index --model models/all-MiniLM-L6-v2 --corpus $data/corpus.jsonl --index $st
[[ -f runs/table/minilm.trec ]] || $bin search --index $st --queries $data/queries.test.jsonl \
    --k 1000 --output runs/table/minilm.trec

# The default Hypencoder: trained by scripts/train-default (which also
# builds the mean-pooled index and mines the training data from $st).
scripts/train-default
mean=data/indexes/debian-pkg-minilm-mean
[[ -f runs/table/hypencoder.trec ]] || $bin search --index $mean --model assets/default-model \
    --queries $data/queries.test.jsonl --k 1000 --mode graph --ef 256 --output runs/table/hypencoder.trec

# The fair bi-encoder: all-MiniLM-L6-v2 fine-tuned end to end (full mode) on
# the same training file, stopped at step 40 of a 60-step schedule: about
# the Hypencoder's 29 minutes of wall-clock on this machine.
bi=runs/table/minilm-finetuned
[[ -d $bi/checkpoints/step-40 ]] || $bin train --kind bi-encoder --mode full --base models/all-MiniLM-L6-v2 \
    --data runs/default-model/train.jsonl --index $st --output $bi \
    --negatives 1 --batch-size 32 --max-steps 60 --stop-after 40 --save-every 20 --lr 2e-5 --seed 42
bi_index=data/indexes/debian-pkg-minilm-finetuned
[[ -f $bi_index/manifest.json ]] || $bin index --model $bi/checkpoints/step-40 --corpus $data/corpus.jsonl --index $bi_index
[[ -f runs/table/minilm-finetuned.trec ]] || $bin search --index $bi_index \
    --queries $data/queries.test.jsonl --k 1000 --output runs/table/minilm-finetuned.trec

eval_row "BM25" runs/table/bm25.trec
eval_row "all-MiniLM-L6-v2" runs/table/minilm.trec
eval_row "all-MiniLM-L6-v2 fine-tuned (bi-encoder)" runs/table/minilm-finetuned.trec
eval_row "Hypencoder (default model)" runs/table/hypencoder.trec
