#!/usr/bin/env python3
"""The table of one bench/million/run.sh run, from the files it left in its
folder: index.log and graph.log (the commands' phase lines), index.time and
graph.time (GNU time -v),
disk.txt (du -sb per part), results.jsonl and search-*.log.

    python3 bench/million/report.py target/million/docs-N

Below a million documents it adds what a million would take at the
measured rates: encoding and writing grow linearly, the graph as n^1.40
(its growth measured from 25k to 1M in bench/graph/build.md).
"""

import json
import re
import sys
from pathlib import Path

GRAPH_GROWTH = 1.40
MILLION = 1_000_000


def clock_seconds(text):
    h, m, s = (int(x) for x in text.split(":"))
    return 3600 * h + 60 * m + s


def clock(seconds):
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02}:{s % 60:02}"


def phases(log):
    """(name, seconds, rate) of each 'NAME: done in H:MM:SS (R docs/s)' line."""
    found = []
    for line in log.splitlines():
        m = re.match(r"^(\w+): done in (\d+:\d\d:\d\d)(?: \(([\d.]+) docs/s\))?", line)
        if m:
            found.append((m.group(1), clock_seconds(m.group(2)), m.group(3)))
    return found


def gnu_time(text):
    fields = dict(line.strip().rsplit(": ", 1) for line in text.splitlines() if ": " in line)
    return {
        "peak_rss_gib": int(fields["Maximum resident set size (kbytes)"]) / 2**20,
        "wall": fields["Elapsed (wall clock) time (h:mm:ss or m:ss)"],
        "cpu_percent": fields["Percent of CPU this job got"],
        "cpu_seconds": float(fields["User time (seconds)"]) + float(fields["System time (seconds)"]),
    }


def main():
    out = Path(sys.argv[1])
    docs = sum(1 for _ in (out / "corpus.jsonl").open("rb"))
    manifest = json.loads((out / "index" / "manifest.json").read_text())
    done = phases((out / "index.log").read_text()) + phases((out / "graph.log").read_text())
    timing = [gnu_time((out / f"{step}.time").read_text()) for step in ("index", "graph")]
    scale = MILLION / docs
    print(f"## {docs:,} documents ({manifest['dim']} dims, {manifest['dtype']} vectors, "
          f"encoded at {manifest['model'].get('doc_precision', 'f32')})\n")
    print("| phase | time | docs/s | projected to 1M |")
    print("|---|---:|---:|---:|")
    total = projected = 0
    for name, seconds, rate in done:
        grow = scale ** GRAPH_GROWTH if name == "graph" else scale
        total += seconds
        projected += seconds * grow
        print(f"| {name} | {clock(seconds)} | {rate or '-'} | {clock(seconds * grow)} |")
    print(f"| **all** | **{clock(total)}** | {docs / max(total, 1):.1f} | **{clock(projected)}** |\n")
    for step, t in zip(("index", "graph"), timing):
        print(f"- `{step}`: wall clock {t['wall']} (loading included), {t['cpu_percent']} CPU "
              f"({docs / max(t['cpu_seconds'], 0.01):.1f} documents per CPU second), "
              f"peak memory {t['peak_rss_gib']:.2f} GiB")
    parts = [line.split("\t") for line in (out / "disk.txt").read_text().splitlines()]
    size = sum(int(b) for b, _ in parts)
    print(f"- on disk {size / 2**30:.2f} GiB, {size / docs:,.0f} bytes/document: " + ", ".join(
        f"{Path(p).name} {int(b) / docs:,.0f}" for b, p in sorted(parts, key=lambda x: -int(x[0]))
        if int(b) / docs >= 1))
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    print("\n| mode | known-item MRR@10 | recall@10 | CLI ms/query | QPS c=1 | p50 ms | QPS c=8 | p99 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in [r for r in results if r["name"] == "known-items"]:
        mode = r["mode"]
        log = (out / f"search-{mode}.log").read_text()
        ms = re.search(r"([\d.]+) ms/query", log)
        serve = {x["c"]: x for x in results if x["name"] == "serve" and x["mode"] == mode}
        one, eight = serve.get(1, {}), serve.get(8, {})
        print(f"| {mode} | {r['recip_rank_cut_10']:.4f} | {r['recall_10']:.4f} | {ms.group(1) if ms else '-'} "
              f"| {one.get('qps', 0):.1f} | {one.get('p50_ms', 0):.1f} "
              f"| {eight.get('qps', 0):.1f} | {eight.get('p99_ms', 0):.1f} |")


if __name__ == "__main__":
    main()
