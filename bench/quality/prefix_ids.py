#!/usr/bin/env python3
"""Gives one collection's document ids a prefix, so that several collections
can share one index without two documents under one id.

    prefix_ids.py --prefix pydoc: --corpus corpus.jsonl --qrels qrels.tsv --out DIR

writes DIR/corpus.jsonl (each ``id`` prefixed) and DIR/qrels.tsv (each
document column prefixed), each whole or not at all.
"""

import argparse
import json
import os
import sys
from pathlib import Path


def write_whole(path: Path, lines):
    tmp = path.with_suffix(path.suffix + ".partial")
    with open(tmp, "w") as out:
        out.writelines(lines)
    os.replace(tmp, path)


def corpus(path: str, prefix: str):
    for n, line in enumerate(open(path), 1):
        doc = json.loads(line)
        if "id" not in doc:
            sys.exit(f"{path}:{n}: no \"id\" field")
        doc["id"] = prefix + str(doc["id"])
        yield json.dumps(doc) + "\n"


def qrels(path: str, prefix: str):
    for n, line in enumerate(open(path), 1):
        cols = line.split()
        if len(cols) != 4:
            sys.exit(f"{path}:{n}: expected 4 columns (qid 0 docid grade), found {len(cols)}")
        cols[2] = prefix + cols[2]
        yield " ".join(cols) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--qrels", required=True)
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    write_whole(args.out / "qrels.tsv", qrels(args.qrels, args.prefix))
    write_whole(args.out / "corpus.jsonl", corpus(args.corpus, args.prefix))


if __name__ == "__main__":
    main()
