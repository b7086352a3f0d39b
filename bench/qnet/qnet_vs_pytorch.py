#!/usr/bin/env python3
"""PyTorch side of the q-net scoring benchmark (crates/search/benches/qnet.rs):
the same shapes and measurements, then a table of Rust/PyTorch ratios.

PyTorch runs the official Hypencoder q-net formulation (hypencoder-paper's
NoTorchLinear / NoTorchDenseBlock): per hidden layer
`y = torch.einsum("qin,qnh->qih", x, W) + b`, relu, `F.layer_norm`,
`y = y + x` (not on the last hidden layer); then the final einsum to one
output. Documents go through in chunks, each chunk expanded to every query
(`x[None].expand(Q, -1, -1)`), scores kept and `torch.topk` at the end, as the
reference's exhaustive scoring does. The chunk size is the fastest of a few
(timed on a slice first). CPU, `torch.inference_mode()`, float32 and (with
`--dtypes f32,bf16`) the same computation in bfloat16 (documents, weights,
biases and every op in torch.bfloat16: PyTorch's own bf16 CPU path, oneDNN
or MKL where they support it),
`torch.set_num_threads(--threads)`. The reference's `y = x.clone()` before
each layer (a no-op without dropout) is left out, in PyTorch's favour.

Peak: MKL's sgemm through `torch.mm`, (m x d)(d x d) with the same threads.
The Rust side measured the `gemm` crate's rate for the same shapes; the
table's "% peak" divides by the higher of the two.

    python bench/qnet/qnet_vs_pytorch.py --rust-json target/bench-qnet/rust.json
"""

import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F

TOP_K = 100


def best_time(min_time, f):
    """Best wall time of f over >= 2 runs and >= min_time seconds in all
    (the Rust side's rule)."""
    best, total, reps = float("inf"), 0.0, 0
    while reps < 2 or total < min_time:
        t = time.perf_counter()
        f()
        s = time.perf_counter() - t
        best, total, reps = min(best, s), total + s, reps + 1
    return best, reps


def parse_shape(s):
    d, h = s.split("x")
    return {"name": s, "dim": int(d), "hidden": int(h)}


def flops(shape):
    d, h = shape["dim"], shape["hidden"]
    return 2.0 * (h * d * d + d)


def sampled_docs(n, dim, seed):
    """Anisotropic Gaussian, L2-normalised: the Rust side's recipe (not its
    values; speed does not depend on them)."""
    rng = np.random.default_rng(seed)
    mean = rng.standard_normal(dim).astype(np.float32) * 0.5
    scale = np.exp(rng.standard_normal(dim) * 0.5).astype(np.float32)
    v = mean + scale * rng.standard_normal((n, dim), dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return torch.from_numpy(v)


def random_qnets(q, shape, seed, dtype=torch.float32):
    weights, biases = random_qnets_f32(q, shape, seed)
    return [w.to(dtype) for w in weights], [b.to(dtype) for b in biases]


def random_qnets_f32(q, shape, seed):
    g = torch.Generator().manual_seed(seed)
    d, h = shape["dim"], shape["hidden"]
    weights = [torch.randn(q, d, d, generator=g) / d**0.5 for _ in range(h)]
    weights.append(torch.randn(q, d, 1, generator=g) / d**0.5)
    # The reference reshapes biases to (Q, 1, out).
    biases = [(torch.randn(q, d, generator=g) * 0.1).view(q, 1, d) for _ in range(h)]
    return weights, biases


def qnet_forward(x, weights, biases):
    """NoTorchSequential of NoTorchDenseBlocks (relu, layer norm before
    residual, no residual on the last hidden layer) + the final NoTorchLinear."""
    hidden = len(biases)
    for j in range(hidden):
        y = torch.einsum("qin,qnh->qih", x, weights[j])
        y += biases[j]
        y = torch.relu(y)
        y = F.layer_norm(y, (y.size(-1),))
        if j < hidden - 1:
            y = y + x
        x = y
    return torch.einsum("qin,qnh->qih", x, weights[-1])


def exhaustive(docs, weights, biases, chunk):
    q = weights[0].shape[0]
    n = docs.shape[0]
    scores = torch.empty(q, n, dtype=docs.dtype)
    for s in range(0, n, chunk):
        x = docs[s : s + chunk].unsqueeze(0).expand(q, -1, -1)
        scores[:, s : s + chunk] = qnet_forward(x, weights, biases).squeeze(-1)
    return torch.topk(scores, min(TOP_K, n), dim=1)


def mkl_rate(m, d, seconds=1.0):
    a, b = torch.randn(m, d), torch.randn(d, d)
    c = torch.empty(m, d)
    torch.mm(a, b, out=c)
    t, count = time.perf_counter(), 0
    while time.perf_counter() - t < seconds:
        torch.mm(a, b, out=c)
        count += 1
    return 2.0 * m * d * d * count / (time.perf_counter() - t)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--docs", type=int, default=100_000)
    p.add_argument("--batch-docs", type=int, default=8192)
    p.add_argument("--queries", default="1,32")
    p.add_argument("--shapes", default="768x2,768x6,384x2")
    p.add_argument("--min-time", type=float, default=3.0)
    p.add_argument("--dtypes", default="f32,bf16", help="q-net number formats to time: f32, bf16")
    p.add_argument("--rust-json", help="results of crates/search/benches/qnet.rs, for the ratio table")
    p.add_argument("--out", help="write PyTorch results here (JSON)")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    shapes = [parse_shape(s) for s in args.shapes.split(",")]
    queries = [int(q) for q in args.queries.split(",")]
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}")

    peaks = {}
    print(f"\nMKL sgemm (m x d)(d x d), {args.threads} threads:")
    for d in sorted({s["dim"] for s in shapes}, reverse=True):
        rows = {}
        for m in (256, 1024, 4096):
            rows[m] = mkl_rate(m, d) / 1e9
            print(f"  d {d:4}  m {m:5}  {rows[m]:7.1f} GFLOP/s")
        peaks[str(d)] = {"gflops": max(rows.values()), "by_rows": rows}

    results = []
    dtypes = {"f32": torch.float32, "bf16": torch.bfloat16}
    print(f"\n{'shape':<8} {'dtype':>5} {'queries':>7} {'docs':>8} {'chunk':>6} {'docs/s/query':>14} "
          f"{'doc-scores/s':>14} {'GFLOP/s':>9} {'runs':>5}")
    with torch.inference_mode():
        for shape in shapes:
            for dtype_name in args.dtypes.split(","):
                dtype = dtypes[dtype_name]
                for q in queries:
                    n = args.docs if q == 1 else min(args.batch_docs, args.docs)
                    docs = sampled_docs(n, shape["dim"], seed=shape["dim"] + n).to(dtype)
                    weights, biases = random_qnets(q, shape, seed=shape["hidden"] * 31 + shape["dim"], dtype=dtype)
                    # The fairest chunk: fastest on a slice (q x chunk x d floats stay < ~400 MB).
                    trial = docs[: min(n, 16384 if q == 1 else 1024)]
                    candidates = [c for c in (64, 256, 1024, 4096, 16384)
                                  if q * c * shape["dim"] * 4 <= 400e6 and c <= len(trial) and (q > 1 or c >= 256)]
                    timing = {}
                    for c in candidates:
                        exhaustive(trial, weights, biases, c)  # warm-up
                        t0 = time.perf_counter()
                        exhaustive(trial, weights, biases, c)
                        timing[c] = time.perf_counter() - t0
                    chunk = min(timing, key=timing.get)
                    secs, reps = best_time(args.min_time, lambda: exhaustive(docs, weights, biases, chunk))
                    scores = n * q / secs
                    gflops = scores * flops(shape) / 1e9
                    print(f"{shape['name']:<8} {dtype_name:>5} {q:>7} {n:>8} {chunk:>6} {n / secs:>14.0f} "
                          f"{scores:>14.0f} {gflops:>9.1f} {reps:>5}")
                    results.append({
                        "kind": "qnet", "shape": shape["name"], "dtype": dtype_name, "queries": q, "docs": n,
                        "chunk": chunk,
                        "chunk_trial_seconds": {str(k): v for k, v in timing.items()},
                        "seconds": secs, "runs": reps, "doc_scores_per_s": scores, "gflops": gflops,
                    })

    report = {"torch": torch.__version__, "threads": args.threads, "mkl_sgemm_peak": peaks, "results": results}
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)

    if not args.rust_json:
        return
    with open(args.rust_json) as f:
        rust = json.load(f)
    print("\nSame run, same shapes; doc-scores/s = (query, document) pairs scored per second.")
    print("% peak = GFLOP/s / best f32 sgemm GFLOP/s at d x d on this machine (max of MKL and the gemm crate).")
    def find(rows, shape, q, dtype, key):
        return next((r for r in rows if r["kind"] == "qnet" and r["shape"] == shape and r["queries"] == q
                     and r.get(key, "f32") == dtype), None)
    print(f"\n{'shape':<8} {'queries':>7} {'Rust f32':>10} {'Rust bf16':>10} {'Torch f32':>10} {'Torch bf16':>11} "
          f"{'f32/Torch f32':>14} {'bf16/Torch f32':>15} {'bf16/Torch bf16':>16} {'bf16 %peak':>11}")
    for r in rust["results"]:
        if r["kind"] != "qnet" or r.get("precision", "f32") != "f32":
            continue
        shape, q = r["shape"], r["queries"]
        rb = find(rust["results"], shape, q, "bf16", "precision")
        tf = find(results, shape, q, "f32", "dtype")
        tb = find(results, shape, q, "bf16", "dtype")
        rate = lambda x: x["doc_scores_per_s"] if x else float("nan")
        d = str(r["dim"])
        peak = max(peaks[d]["gflops"], rust["sgemm_peak"][d]["gflops"])
        print(f"{shape:<8} {q:>7} {rate(r):>10.0f} {rate(rb):>10.0f} {rate(tf):>10.0f} {rate(tb):>11.0f} "
              f"{rate(r) / rate(tf):>13.2f}x {rate(rb) / rate(tf):>14.2f}x {rate(rb) / rate(tb):>15.2f}x "
              f"{100 * (rb['gflops'] if rb else float('nan')) / peak:>10.0f}%")
    for d, v in rust["sgemm_peak"].items():
        print(f"sgemm d={d}: gemm crate {v['gflops']:.0f} GFLOP/s, MKL {peaks[d]['gflops']:.0f} GFLOP/s "
              f"({args.threads} threads)")


if __name__ == "__main__":
    main()
