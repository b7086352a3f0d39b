#!/usr/bin/env python3
"""A dev slice of debian-pkg for training curves: the first --queries dev
queries, and a corpus of their relevant documents, the BM25 top --hard of
each (hard distractors, from a run file), and seeded random documents up to
--docs. Re-encoding it at every checkpoint takes about a minute, where the
whole collection takes seven. Dev queries only: test is never used here.

    python3 bench/train/make_dev_slice.py --bm25-run RUN --out data/debian-dev-slice
"""
import argparse
import json
import os
import random


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default="data/debian-pkg")
    ap.add_argument("--bm25-run", required=True, help="TREC run of BM25 over the dev queries")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--hard", type=int, default=20)
    ap.add_argument("--docs", type=int, default=12000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    queries = [json.loads(l) for l in open(f"{a.data}/queries.dev.jsonl")][: a.queries]
    qids = {q["id"] for q in queries}
    qrels = [l.split() for l in open(f"{a.data}/qrels.dev.tsv") if l.split()[0] in qids]
    keep = {d for _, _, d, rel in qrels if int(rel) > 0}
    for line in open(a.bm25_run):
        qid, _, doc, rank, *_ = line.split()
        if qid in qids and int(rank) <= a.hard:
            keep.add(doc)
    corpus = [json.loads(l) for l in open(f"{a.data}/corpus.jsonl")]
    others = [d["id"] for d in corpus if d["id"] not in keep]
    random.Random(a.seed).shuffle(others)
    keep.update(others[: max(0, a.docs - len(keep))])

    os.makedirs(a.out, exist_ok=True)
    with open(f"{a.out}/corpus.jsonl", "w") as f:
        for d in corpus:
            if d["id"] in keep:
                f.write(json.dumps(d) + "\n")
    with open(f"{a.out}/queries.dev.jsonl", "w") as f:
        for q in queries:
            f.write(json.dumps(q) + "\n")
    with open(f"{a.out}/qrels.dev.tsv", "w") as f:
        for row in qrels:
            f.write("\t".join(row) + "\n")
    print(f"{a.out}: {len(queries)} dev queries, {len(keep)} documents")


if __name__ == "__main__":
    main()
