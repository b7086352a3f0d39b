#!/usr/bin/env python3
"""A run's input from bench/million's corpus: DOCS documents spread evenly
over it (every total/DOCS-th line, so each source kind keeps its share), and
known-item queries: QUERIES of those documents, each asked for by eight
consecutive words from its middle (the document is the one relevant answer).

    python3 bench/million/sample.py CORPUS DOCS OUT_DIR [--queries 500] [--seed 7]

Writes OUT_DIR/corpus.jsonl, OUT_DIR/queries.jsonl ({"id", "text"}) and
OUT_DIR/qrels.tsv (TREC: query 0 doc 1).
"""

import argparse
import json
import random
from pathlib import Path

QUERY_WORDS = 8


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("docs", type=int)
    parser.add_argument("out", type=Path)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    with args.corpus.open("rb") as f:
        total = sum(1 for _ in f)
    if args.docs > total:
        raise SystemExit(f"{args.corpus} holds {total:,} documents, fewer than DOCS={args.docs:,}")
    # Line i is taken when it starts a new multiple of total/docs.
    keep = {i * total // args.docs for i in range(args.docs)}
    args.out.mkdir(parents=True, exist_ok=True)
    sampled = []
    with args.corpus.open(encoding="utf-8") as src, \
            (args.out / "corpus.jsonl").open("w", encoding="utf-8") as dst:
        for i, line in enumerate(src):
            if i in keep:
                dst.write(line)
                sampled.append(i)
    rng = random.Random(args.seed)
    chosen = set(rng.sample(range(len(sampled)), min(args.queries, len(sampled))))
    with args.corpus.open(encoding="utf-8") as src, \
            (args.out / "queries.jsonl").open("w", encoding="utf-8") as queries, \
            (args.out / "qrels.tsv").open("w", encoding="utf-8") as qrels:
        wanted = {sampled[j] for j in chosen}
        for i, line in enumerate(src):
            if i not in wanted:
                continue
            doc = json.loads(line)
            words = doc["text"].split()
            start = max(0, len(words) // 2 - QUERY_WORDS // 2)
            query_id = f"q{i}"
            text = " ".join(words[start:start + QUERY_WORDS])
            queries.write(json.dumps({"id": query_id, "text": text}) + "\n")
            qrels.write(f"{query_id}\t0\t{doc['id']}\t1\n")
    print(f"sampled {args.docs:,} of {total:,} documents and {len(chosen)} known-item queries "
          f"into {args.out}")


if __name__ == "__main__":
    main()
