#!/usr/bin/env python3
"""Checks `hypencoder search` (exhaustive) against a brute-force reference.

For a bi-encoder index: query vectors come from `hypencoder embed`, document
vectors straight from the index's vectors.bin; numpy computes every dot
product in float64 and takes the top k. The engine's top-k must match, up to
documents whose scores are within `--tol` of the k-th score (float ties).

    target/bench-venv/bin/python bench/common/verify_exhaustive.py \
        --index data/indexes/debian-pkg-minilm --queries data/debian-pkg/queries.test.jsonl
"""
import argparse
import json
import struct
import subprocess
import sys
import tempfile

import numpy as np


def string_table(path):
    data = open(path, "rb").read()
    count = struct.unpack_from("<Q", data, len(data) - 16)[0]
    offsets_at = len(data) - 16 - 8 * (count + 1)
    offsets = struct.unpack_from(f"<{count + 1}Q", data, offsets_at)
    return [data[8 + offsets[i]:8 + offsets[i + 1]].decode() for i in range(count)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", required=True)
    ap.add_argument("--queries", required=True)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--limit", type=int, default=500, help="queries to check")
    ap.add_argument("--tol", type=float, default=1e-5)
    ap.add_argument("--bin", default="target/release/hypencoder")
    args = ap.parse_args()

    manifest = json.load(open(f"{args.index}/manifest.json"))
    if manifest["model"]["kind"] != "bi-encoder":
        sys.exit("this check needs a bi-encoder index")
    raw = open(f"{args.index}/vectors.bin", "rb").read()
    dtype = np.float32 if manifest["dtype"] == "f32" else np.float16
    docs = np.frombuffer(raw, dtype=dtype, offset=64).reshape(manifest["count"], manifest["dim"]).astype(np.float64)
    ids = string_table(f"{args.index}/ids.bin")

    lines = open(args.queries).read().splitlines()[: args.limit]
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        f.write("\n".join(lines) + "\n")
        qfile = f.name
    model = manifest["model"]["path"]
    emb = subprocess.run([args.bin, "embed", "--model", model, "--input", qfile, "--max-length", "64"],
                         check=True, capture_output=True, text=True).stdout.splitlines()
    qvec = np.array([json.loads(l)["embedding"] for l in emb], dtype=np.float64)
    qids = [json.loads(l)["id"] for l in emb]
    out = subprocess.run([args.bin, "search", "--index", args.index, "--queries", qfile, "--k", str(args.k),
                          "--format", "jsonl"], check=True, capture_output=True, text=True).stdout.splitlines()
    engine = {r["qid"]: r["hits"] for r in map(json.loads, out)}

    row_of = {d: i for i, d in enumerate(ids)}
    scores = qvec @ docs.T
    mismatched = 0
    worst = 0.0
    for qi, qid in enumerate(qids):
        s = scores[qi]
        top = np.argsort(-s, kind="stable")[: args.k]
        kth = s[top[-1]]
        want = {ids[d] for d in top}
        got = [h["id"] for h in engine[qid]]
        # Documents within tol of the k-th score may swap in or out.
        near = {ids[d] for d in np.nonzero(np.abs(s - kth) <= args.tol)[0]}
        if set(got) - want - near or want - set(got) - near:
            mismatched += 1
        for h in engine[qid]:
            worst = max(worst, abs(h["score"] - s[row_of[h["id"]]]))
    print(f"{len(qids)} queries, top-{args.k}: {len(qids) - mismatched} identical to brute force "
          f"(up to ties within {args.tol}), {mismatched} differ; max |score - reference| {worst:.2e}")
    sys.exit(1 if mismatched else 0)


if __name__ == "__main__":
    main()
