#!/usr/bin/env python3
"""The serving benchmark's table (bench/serve/run_load.sh): per mode and
concurrency, QPS, p50, p99 and errors of `hypencoder serve`, with its QPS as
a share of the offline batch throughput (anchor a), and in exhaustive mode
against FastAPI + PyTorch at the same concurrency (anchor b); and the p50 at
concurrency 1 against one CLI query's search time.

    python3 bench/serve/serve_table.py target/bench-serve/results.jsonl
"""
import json
import sys


def main():
    rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
    cli = {(r["mode"], r["batch"]): r["ms_per_query"] for r in rows if r["name"] == "cli"}
    torch = {r["c"]: r for r in rows if r["name"] == "torch-exhaustive"}
    print("| mode | c | QPS | p50 ms | p99 ms | errors | QPS / offline batch (a) | QPS / FastAPI+PyTorch (b) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        if not r["name"].startswith("serve-"):
            continue
        mode = r["name"][len("serve-"):]
        ceiling = 1000.0 / cli[(mode, 64)] if (mode, 64) in cli else None
        vs_a = f"{r['qps'] / ceiling:.2f}" if ceiling else "-"
        vs_b = f"{r['qps'] / torch[r['c']]['qps']:.1f}x" if mode == "exhaustive" and r["c"] in torch else "-"
        errors = r["errors"] + r["non_2xx"]
        print(f"| {mode} | {r['c']} | {r['qps']:.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {errors} | {vs_a} | {vs_b} |")
    for c, r in sorted(torch.items()):
        errors = r["errors"] + r["non_2xx"]
        print(f"| FastAPI+PyTorch exhaustive | {c} | {r['qps']:.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {errors} | - | 1.0x |")
    print()
    print("| mode | offline batch 64: QPS (a) | one CLI query: ms | serve c=1 p50: ms | difference ms |")
    print("|---|---|---|---|---|")
    for r in rows:
        if r["name"].startswith("serve-") and r["c"] == 1:
            mode = r["name"][len("serve-"):]
            single = cli.get((mode, 1))
            batch = cli.get((mode, 64))
            if single is None or batch is None:
                continue
            print(f"| {mode} | {1000.0 / batch:.1f} | {single:.1f} | {r['p50_ms']:.1f} | {r['p50_ms'] - single:+.1f} |")


if __name__ == "__main__":
    main()
