#!/usr/bin/env python3
"""Recall versus cost of graph search, against exhaustive search, on one index.

Runs `hypencoder search` once exhaustively (the reference) and once per
setting with --mode graph, all in this run, and prints a table: recall@10 and
recall@100 of the graph results against the exhaustive ones, documents scored
per query (and % of the corpus), ms per query (query encoding included; the
exhaustive row is the anchor).

    python3 bench/common/graph_recall.py --index data/indexes/debian-pkg-minilm \
        --queries data/debian-pkg/queries.test.jsonl [--limit 500]
Settings are `name=flags` pairs; defaults compare the paper's parameters with ours.
"""
import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections import defaultdict

DEFAULT_SETTINGS = [
    ("paper (10000 entries, 50 cand, 16 iter)", "--entry-points 10000 --ncandidates 50 --max-iter 16"),
    ("paper, 1000 entries", "--entry-points 1000 --ncandidates 50 --max-iter 16"),
    ("paper, 256 entries", "--entry-points 256 --ncandidates 50 --max-iter 16"),
]


def run(binary, index, queries, k, flags):
    with tempfile.NamedTemporaryFile(suffix=".trec", delete=False) as f:
        out = f.name
    cmd = [binary, "search", "--index", index, "--queries", queries, "--k", str(k), "--output", out] + flags.split()
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stderr}")
    m = re.search(r"([\d.]+) ms/query.*?([\d.]+) documents scored per query \(([\d.]+)%\)", p.stderr)
    ranking = defaultdict(list)
    for line in open(out):
        qid, _, doc, rank, score, _ = line.split()
        ranking[qid].append(doc)
    return ranking, float(m.group(1)), float(m.group(2)), float(m.group(3))


def recall(approx, exact, depth):
    vals = []
    for qid, docs in exact.items():
        want = set(docs[:depth])
        got = set(approx.get(qid, [])[:depth])
        vals.append(len(want & got) / max(1, len(want)))
    return sum(vals) / max(1, len(vals))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", required=True)
    ap.add_argument("--queries", required=True)
    ap.add_argument("--limit", type=int, default=500)
    ap.add_argument("--bin", default="target/release/hypencoder")
    ap.add_argument("--setting", action="append", help="name=flags; repeatable")
    ap.add_argument("--k", type=int, default=100, help="results per query asked of graph search (cost grows with it)")
    ap.add_argument("--json", help="also write the rows here")
    args = ap.parse_args()
    settings = [tuple(s.split("=", 1)) for s in args.setting] if args.setting else DEFAULT_SETTINGS

    lines = open(args.queries).read().splitlines()[: args.limit]
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        f.write("\n".join(lines) + "\n")
        qfile = f.name
    exact, ms0, scored0, _ = run(args.bin, args.index, qfile, 100, "--mode exhaustive")
    rows = [("exhaustive", 1.0, 1.0, scored0, 100.0, ms0)]
    for name, flags in settings:
        approx, ms, scored, pct = run(args.bin, args.index, qfile, args.k, "--mode graph " + flags)
        r100 = recall(approx, exact, 100) if args.k >= 100 else float("nan")
        rows.append((name, recall(approx, exact, 10), r100, scored, pct, ms))
    print(f"{len(lines)} queries, index {args.index}, graph search asked for k={args.k}")
    print(f"{'setting':<44} {'R@10':>6} {'R@100':>6} {'scored/q':>9} {'% docs':>7} {'ms/q':>7} {'vs exh.':>7}")
    for name, r10, r100, scored, pct, ms in rows:
        print(f"{name:<44} {r10:6.3f} {r100:6.3f} {scored:9.0f} {pct:7.2f} {ms:7.1f} {ms / ms0:7.2f}")
    if args.json:
        json.dump([dict(zip(["setting", "recall@10", "recall@100", "scored", "pct", "ms"], r)) for r in rows],
                  open(args.json, "w"), indent=1)


if __name__ == "__main__":
    main()
