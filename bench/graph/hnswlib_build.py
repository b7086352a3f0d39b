#!/usr/bin/env python3
"""Time hnswlib's build over an index's vectors (space='ip', M=16,
ef_construction=200, as bench/graph/hnswlib_compare.py builds it) and print
one JSON line: {"n", "dim", "build_s", "threads"}. bench/graph/run_build_growth.sh
runs it beside our own build on the same vectors."""

import argparse
import json
import os
import sys
import time

import hnswlib
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from vectors_file import load_vectors  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--index", required=True, help="index folder (its vectors.bin)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--M", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=200)
    a = ap.parse_args()
    data = load_vectors(a.index)
    n, dim = data.shape
    idx = hnswlib.Index(space="ip", dim=dim)
    idx.init_index(max_elements=n, ef_construction=a.ef_construction, M=a.M, random_seed=100)
    idx.set_num_threads(a.threads)
    t = time.perf_counter()
    idx.add_items(data, np.arange(n))
    build_s = time.perf_counter() - t
    print(json.dumps({"n": n, "dim": dim, "build_s": round(build_s, 2), "threads": a.threads}))


if __name__ == "__main__":
    main()
