"""Write one fixed training batch for the training-step benchmark
(bench/train/run_step.sh) as JSONL, one line per query:
{"query": ..., "positive": ..., "negative": ...}.

Queries: the train queries with a positive in the qrels, shuffled with --seed,
first --size of them; the positive is the query's first judged document. The
negative is the first (hardest) mined negative from --train (training JSONL
from `hypencoder mine`: {"query_id", "query", "positives", "negatives"}) when
that file is given and exists, else a seeded random document that is not
judged relevant. Standard library only.

    python3 bench/train/make_train_batch.py --output target/train-step/batch.jsonl \
        [--data data/debian-pkg] [--train runs/default-model/train.jsonl] [--size 32]
"""
import argparse
import json
import os
import random


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="data/debian-pkg")
    ap.add_argument("--train", help="mined training JSONL; its first negatives are used")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--output", required=True)
    args = ap.parse_args()

    qrels = {}  # query id -> relevant doc ids, file order (TREC: qid 0 docid rel)
    with open(os.path.join(args.data, "qrels.train.tsv"), encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 4 and parts[3] != "0":
                qrels.setdefault(parts[0], []).append(parts[2])
    docs = {d["id"]: d["text"] for d in read_jsonl(os.path.join(args.data, "corpus.jsonl"))}
    queries = {q["id"]: q["text"] for q in read_jsonl(os.path.join(args.data, "queries.train.jsonl"))}

    mined = {}
    if args.train and os.path.exists(args.train):
        mined = {e["query_id"]: e["negatives"] for e in read_jsonl(args.train)
                 if e["negatives"] and e["negatives"][0] in docs}

    pool = sorted(q for q in queries if any(d in docs for d in qrels.get(q, ())))
    if mined:
        pool = [q for q in pool if q in mined]
    rng = random.Random(args.seed)
    rng.shuffle(pool)
    if len(pool) < args.size:
        raise SystemExit(f"only {len(pool)} usable train queries, --size is {args.size}")

    doc_ids = sorted(docs)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as out:
        for q in pool[: args.size]:
            positive = next(d for d in qrels[q] if d in docs)
            if mined:
                negative = mined[q][0]
            else:
                negative = rng.choice(doc_ids)
                while negative in qrels[q]:
                    negative = rng.choice(doc_ids)
            row = {"query": queries[q], "positive": docs[positive], "negative": docs[negative]}
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    source = args.train if mined else "random documents"
    print(f"wrote {args.size} examples to {args.output} (negatives: {source})")


if __name__ == "__main__":
    main()
