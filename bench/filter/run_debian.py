#!/usr/bin/env python3
"""Filtered search on debian-pkg's real fields: for filters of decreasing
selectivity, the recall@10 of filtered graph search against filtered
exhaustive search (the exact answer), and each one's ms/query against
unfiltered search, all in one run.

    bench/filter/run_debian.py --index data/idx/debian-default [--queries N]

The index must hold debian-pkg with its fields (scripts/build-debian-pkg,
format 2) and a graph (`--graph-degree 32`). Queries are the first N of the
test split (default 1000). Prints a Markdown table; the command line is the
one to cite.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

BIN = "target/release/hypencoder"


def search(index, queries, mode, flt, k=10):
    with tempfile.NamedTemporaryFile("r", suffix=".jsonl") as out:
        args = [BIN, "search", "--index", index, "--queries", queries, "--k", str(k),
                "--mode", mode, "--format", "jsonl", "--output", out.name]
        if flt is not None:
            args += ["--filter", json.dumps(flt)]
        started = time.perf_counter()
        done = subprocess.run(args, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(done.stderr)
        # The CLI reports its own ms/query (model load excluded).
        ms = float(done.stderr.split(" ms/query")[0].split(": ")[-1])
        scored = int(done.stderr.split(" documents scored per query")[0].split(", ")[-1])
        runs = [json.loads(l) for l in open(out.name)]
    return {r["qid"]: [h["id"] for h in r["hits"]] for r in runs}, ms, scored


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", required=True)
    ap.add_argument("--corpus", default="data/debian-pkg/corpus.jsonl")
    ap.add_argument("--queries", type=int, default=1000)
    args = ap.parse_args()
    docs = [json.loads(l) for l in open(args.corpus)]
    sections = Counter(d.get("section") for d in docs)
    n = len(docs)
    # Filters from about half the documents down to a handful.
    by_share = sorted(sections.items(), key=lambda kv: -kv[1])
    pick = lambda share: min(by_share, key=lambda kv: abs(kv[1] / n - share))[0]
    filters = [
        ("none", None),
        ("installed_size >= 1000 KiB", {"installed_size": {"gte": 1000}}),
        (f"section {pick(0.10)}", {"section": pick(0.10)}),
        (f"section {pick(0.01)}", {"section": pick(0.01)}),
        (f"section {pick(0.001)}", {"section": pick(0.001)}),
        ("priority required", {"priority": "required"}),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        queries = Path(tmp) / "queries.jsonl"
        lines = open("data/debian-pkg/queries.test.jsonl").read().splitlines()[: args.queries]
        queries.write_text("\n".join(lines) + "\n")
        rows = []
        base = {}
        for label, flt in filters:
            kept = sum(1 for d in docs if matches(flt, d))
            exact, ms_exact, _ = search(args.index, queries, "exhaustive", flt)
            walked, ms_graph, scored = search(args.index, queries, "graph", flt)
            found = sum(len(set(walked[q]) & set(exact[q])) for q in exact)
            total = sum(len(exact[q]) for q in exact)
            recall = found / max(total, 1)
            if flt is None:
                base = {"exhaustive": ms_exact, "graph": ms_graph}
            rows.append((label, kept / n, recall, scored, ms_graph, ms_graph / base["graph"],
                         ms_exact, ms_exact / base["exhaustive"]))
    print(f"debian-pkg: {n} documents, {args.queries} test queries, k 10\n")
    print("| filter | share kept | graph recall@10 vs exhaustive | graph scored/query | graph ms/query | x unfiltered graph | exhaustive ms/query | x unfiltered exhaustive |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, share, recall, scored, mg, rg, me, re_ in rows:
        print(f"| {label} | {share:.2%} | {recall:.4f} | {scored} | {mg:.2f} | {rg:.2f} | {me:.2f} | {re_:.2f} |")


def matches(flt, doc):
    if flt is None:
        return True
    for key, cond in flt.items():
        value = doc.get(key)
        if isinstance(cond, dict):
            lo = cond.get("gte")
            if lo is not None and not (isinstance(value, (int, float)) and value >= lo):
                return False
        elif value != cond:
            return False
    return True


if __name__ == "__main__":
    main()
