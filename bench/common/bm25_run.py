"""BM25 baseline run for debian-pkg (or any JSONL corpus and queries).

bm25s (Lucene's BM25 variant, k1=0.9, b=0.4 as in Anserini's defaults)
with English stop words and the Snowball English stemmer (PyStemmer), the
usual strong lexical baseline. Writes a TREC run that `hypencoder eval` scores.

    python3 bench/common/bm25_run.py --corpus data/debian-pkg/corpus.jsonl \
        --queries data/debian-pkg/queries.test.jsonl --output runs/bm25.test.trec

Run through bench/train/run_table.sh, which makes the virtualenv.
"""
import argparse
import json
import time

import bm25s
import Stemmer


def read(path):
    with open(path) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [r["id"] for r in rows], [r["text"] for r in rows]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--corpus", required=True)
    p.add_argument("--queries", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--k", type=int, default=1000)
    p.add_argument("--k1", type=float, default=0.9)
    p.add_argument("--b", type=float, default=0.4)
    a = p.parse_args()

    doc_ids, docs = read(a.corpus)
    qids, queries = read(a.queries)
    stemmer = Stemmer.Stemmer("english")
    t0 = time.time()
    retriever = bm25s.BM25(method="lucene", k1=a.k1, b=a.b)
    retriever.index(bm25s.tokenize(docs, stopwords="en", stemmer=stemmer, show_progress=False),
                    show_progress=False)
    t1 = time.time()
    tokens = bm25s.tokenize(queries, stopwords="en", stemmer=stemmer, show_progress=False)
    results, scores = retriever.retrieve(tokens, k=min(a.k, len(docs)), show_progress=False)
    t2 = time.time()
    with open(a.output, "w") as out:
        for qi, qid in enumerate(qids):
            for rank, (d, s) in enumerate(zip(results[qi], scores[qi])):
                if s <= 0:
                    break  # no query term in the document: not retrieved
                out.write(f"{qid} Q0 {doc_ids[d]} {rank + 1} {s:.6f} bm25\n")
    print(f"bm25: indexed {len(docs)} documents in {t1 - t0:.1f} s, "
          f"searched {len(qids)} queries in {t2 - t1:.1f} s")


if __name__ == "__main__":
    main()
