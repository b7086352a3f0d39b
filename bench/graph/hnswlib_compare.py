#!/usr/bin/env python3
"""Graph search vs hnswlib on the same bi-encoder vectors, at equal recall@10.

Two jobs (bench/graph/run_hnswlib.sh runs both):

  --write-f32 OUT   convert `hypencoder embed` JSONL query vectors to the raw
                    little-endian f32 file crates/search/benches/graph.rs reads,
                    then exit.

  (default)         build an hnswlib index (space='ip', M=16,
                    ef_construction=200) over the index's vectors.bin, sweep
                    ef single-threaded (knn_query over all queries with
                    num_threads=1: one query at a time inside hnswlib, no
                    Python call per query; a per-call loop is also timed),
                    measure recall@10 against exact numpy top-10 and
                    microseconds per query; then read our points (JSON lines
                    of the graph bench, --ours) and compare the two curves at
                    equal recall@10 (log-time interpolation on each curve's
                    Pareto frontier). Prints markdown tables.

See bench/graph/hnswlib.md.
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from vectors_file import load_vectors  # noqa: E402


def load_queries(path):
    ids, rows = [], []
    with open(path) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                ids.append(r["id"])
                rows.append(r["embedding"])
    return ids, np.asarray(rows, dtype=np.float32)


def exact_top(docs, queries, k):
    """Top-k by dot product; ties to the lower document (as the Rust side)."""
    out = np.empty((len(queries), k), dtype=np.int64)
    for s in range(0, len(queries), 256):
        sc = queries[s:s + 256] @ docs.T
        for i, row in enumerate(sc):
            # The k + 8 best (a margin for ties at the k-th score), then
            # sorted by (score desc, doc asc).
            cand = np.argpartition(-row, k + 8)[:k + 8]
            order = sorted(cand.tolist(), key=lambda d: (-row[d], d))
            out[s + i] = order[:k]
    return out


def recall_at(labels, truth, k):
    hits = sum(len(set(l[:k].tolist()) & set(t[:k].tolist())) for l, t in zip(labels, truth))
    return hits / (len(truth) * k)


def best_time(fn, min_time):
    fn()  # warm-up
    start, best, runs = time.perf_counter(), math.inf, 0
    while runs < 2 or time.perf_counter() - start < min_time:
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
        runs += 1
    return best


def frontier(points):
    """Pareto frontier (time ascending, recall strictly rising)."""
    pts = sorted(points, key=lambda p: (p["us"], -p["recall"]))
    out, best = [], -1.0
    for p in pts:
        if p["recall"] > best:
            out.append(p)
            best = p["recall"]
    return out


def time_at(points, target):
    """us/query at recall `target`: log-time interpolation between the two
    frontier points around it. (None, None) if the curve never reaches it."""
    fr = frontier(points)
    for i, p in enumerate(fr):
        if p["recall"] >= target:
            if i == 0 or p["recall"] == target:
                return p["us"], p
            q = fr[i - 1]
            t = (target - q["recall"]) / (p["recall"] - q["recall"])
            return math.exp(math.log(q["us"]) + t * (math.log(p["us"]) - math.log(q["us"]))), p
    return None, None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", default="data/indexes/debian-pkg-minilm")
    ap.add_argument("--query-vectors", required=True, help="JSONL from `hypencoder embed`")
    ap.add_argument("--write-f32", help="write the query vectors as raw f32 and exit")
    ap.add_argument("--ours", help="JSON lines from the graph bench (BENCH_OUT)")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--M", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--ef", default="10,16,24,32,48,64,96,128,192,256,384,512")
    ap.add_argument("--build-threads", type=int, default=2)
    ap.add_argument("--batch-threads", type=int, default=2)
    ap.add_argument("--min-time", type=float, default=1.0)
    ap.add_argument("--targets", default="0.90,0.95,0.98,0.99,0.995")
    ap.add_argument("--cache", help="save/load the hnswlib index here (build time then from the first run)")
    ap.add_argument("--out", help="write all figures as JSON here")
    a = ap.parse_args()

    qids, Q = load_queries(a.query_vectors)
    if a.write_f32:
        Q.astype("<f4").tofile(a.write_f32)
        print(f"wrote {len(Q)} x {Q.shape[1]} query vectors to {a.write_f32}", file=sys.stderr)
        return

    import hnswlib

    k = a.k
    D = load_vectors(a.index)
    n, dim = D.shape
    assert Q.shape[1] == dim, f"queries are {Q.shape[1]}-d, the index {dim}-d"
    t = time.perf_counter()
    truth = exact_top(D, Q, k)
    exact_s = time.perf_counter() - t

    idx = hnswlib.Index(space="ip", dim=dim)
    build_s = None
    if a.cache and os.path.exists(a.cache):
        idx.load_index(a.cache, max_elements=n)
        build_s = json.load(open(a.cache + ".json"))["build_s"]
    else:
        idx.init_index(max_elements=n, ef_construction=a.ef_construction, M=a.M, random_seed=100)
        idx.set_num_threads(a.build_threads)
        t = time.perf_counter()
        idx.add_items(D, np.arange(n))
        build_s = time.perf_counter() - t
        if a.cache:
            idx.save_index(a.cache)
            json.dump({"build_s": build_s}, open(a.cache + ".json", "w"))
    print(f"hnswlib {hnswlib.__version__ if hasattr(hnswlib, '__version__') else ''}: {n} x {dim}, M={a.M}, "
          f"ef_construction={a.ef_construction}, build {build_s:.1f} s on {a.build_threads} threads; "
          f"{len(Q)} queries; exact top-{k} (numpy) {exact_s:.2f} s", file=sys.stderr)

    hn = []
    for ef in [int(x) for x in a.ef.split(",")]:
        if ef < k:
            continue
        idx.set_ef(ef)
        idx.set_num_threads(1)
        labels, _ = idx.knn_query(Q, k=k, num_threads=1)
        rec = recall_at(labels, truth, k)
        s1 = best_time(lambda: idx.knn_query(Q, k=k, num_threads=1), a.min_time)

        def per_call():
            for q in Q:
                idx.knn_query(q, k=k, num_threads=1)
        s_call = best_time(per_call, min(a.min_time, 0.5))
        sb = best_time(lambda: idx.knn_query(Q, k=k, num_threads=a.batch_threads), min(a.min_time, 0.5))
        p = {"ef": ef, "recall": rec, "us": s1 * 1e6 / len(Q), "us_per_call": s_call * 1e6 / len(Q),
             "batch_qps": len(Q) / sb}
        hn.append(p)
        print(json.dumps({"kind": "hnswlib", **p}), file=sys.stderr)

    print(f"\n## hnswlib (M={a.M}, ef_construction={a.ef_construction}; build {build_s:.1f} s, "
          f"{a.build_threads} threads)\n")
    print(f"| ef | recall@10 | us/query (1 thread, batch call) | us/query (1 call each) | "
          f"queries/s ({a.batch_threads} threads) |")
    print("|---:|---:|---:|---:|---:|")
    for p in hn:
        print(f"| {p['ef']} | {p['recall']:.4f} | {p['us']:.1f} | {p['us_per_call']:.1f} | {p['batch_qps']:.0f} |")

    summary = {"hnswlib": hn, "build_s": build_s, "n": n, "dim": dim, "queries": len(Q)}
    if a.ours:
        ours = [json.loads(l) for l in open(a.ours) if l.strip()]
        ours = [o for o in ours if o.get("kind") == "point"]
        for o in ours:
            o["recall"], o["us"] = o["recall10"], o["us_per_query"]
        summary["ours"] = ours

        print("\n## ours (crates/search/benches/graph.rs)\n")
        print("| impl | entries | expand | ef | recall@10 | us/query (1 thread) | scored/query | "
              "queries/s (batch) |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for o in ours:
            qps = f"{o['batch_qps']:.0f}" if o.get("batch_qps") else "-"
            print(f"| {o['impl']} | {o['entries']} | {o['expand']} | {o['ef']} | {o['recall']:.4f} | "
                  f"{o['us']:.1f} | {o['scored']:.0f} | {qps} |")

        curves = {}
        for o in ours:
            curves.setdefault(f"{o['impl']} e{o['entries']} x{o['expand']}", []).append(o)
        impls = sorted({o["impl"] for o in ours})

        targets = [float(x) for x in a.targets.split(",")]
        print("\n## at equal recall@10: us/query, ours / hnswlib (1 thread)\n")
        print("| curve | " + " | ".join(f"@{r:g}" for r in targets) + " |")
        print("|---|" + "---:|" * len(targets))
        hrow = []
        for r in targets:
            h, _ = time_at(hn, r)
            hrow.append(h)
        print("| hnswlib us/query | " + " | ".join("-" if h is None else f"{h:.1f}" for h in hrow) + " |")
        summary["ratios"] = {}
        for name, pts in curves.items():
            cells = []
            for r, h in zip(targets, hrow):
                us, p = time_at(pts, r)
                if us is None or h is None:
                    cells.append("not reached")
                    continue
                cells.append(f"{us:.1f} us = **{us / h:.2f}x** (ef {p['ef']})")
                summary["ratios"].setdefault(name, {})[str(r)] = {"us": us, "hnswlib_us": h, "ratio": us / h}
            print(f"| {name} | " + " | ".join(cells) + " |")
        # Per implementation: the best curve at each target (min over its
        # settings' interpolated times).
        for imp in impls:
            cells = []
            for r, h in zip(targets, hrow):
                best = None
                for name, pts in curves.items():
                    if not name.startswith(imp + " "):
                        continue
                    us, p = time_at(pts, r)
                    if us is not None and (best is None or us < best[0]):
                        best = (us, name, p["ef"])
                if best is None or h is None:
                    cells.append("not reached")
                    continue
                cells.append(f"{best[0]:.1f} us = **{best[0] / h:.2f}x** ({best[1].split(' ', 1)[1]}, ef {best[2]})")
                summary["ratios"].setdefault(f"{imp} best", {})[str(r)] = {
                    "us": best[0], "hnswlib_us": h, "ratio": best[0] / h, "curve": best[1]}
            print(f"| **{imp}, best setting** | " + " | ".join(cells) + " |")
    if a.out:
        json.dump(summary, open(a.out, "w"), indent=1)


if __name__ == "__main__":
    main()
