#!/usr/bin/env python3
"""Tables of bench/ray-serve/run.sh from OUT (default target/bench-ray-serve):

1. QPS, p50, p99, errors per layout, mode and concurrency, and each Ray
   Serve layout's QPS as a ratio of the single index's (`hypencoder serve`
   on one index, measured in the same run) at the same mode and concurrency;
2. CPU time per request by role of the server's processes;
3. agreement of each layout's top 10 with the single index's;
4. bytes on disk per shard and memory per layout.
"""

import json
import os
import sys

out = sys.argv[1] if len(sys.argv) > 1 else "target/bench-ray-serve"
rows = [json.loads(line) for line in open(os.path.join(out, "results.jsonl")) if line.strip()]
run = next((r for r in rows if r["kind"] == "run"), {})
end = next((r for r in rows if r["kind"] == "end"), {})
loads = [r for r in rows if r["kind"] == "load"]
layouts = [r for r in rows if r["kind"] == "layout"]
anchor = {(r["mode"], r["c"]): r for r in loads if r["layout"] == "single"}
order = {"single": 0, "ray-1": 1, "ray-2": 2, "ray-4": 3}
label = {
    "single": "single index, `hypencoder serve`",
    "ray-1": "1 shard (the single index), Ray Serve",
    "ray-2": "2 shards, Ray Serve",
    "ray-4": "4 shards, Ray Serve",
}
modes = sorted({r["mode"] for r in loads})


def name(layout):
    return label.get(layout, layout)


print(f"{run.get('start', '?')} to {end.get('end', '?')}, {run.get('cpu', '?')}, {run.get('cores', '?')} cores, "
      f"{run.get('docs', '?')} documents, {run.get('duration_s', '?')} s per point, Ray {run.get('ray', '?')}, "
      f"{run.get('cpus_per_replica', '?')} CPU per reader replica, load average {run.get('loadavg', '?')} at start\n")

print("| layout | mode | c | QPS | p50 ms | p99 ms | errors | non-2xx | QPS / single index |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
for r in sorted(loads, key=lambda r: (r["mode"], r["c"], order.get(r["layout"], 9))):
    a = anchor.get((r["mode"], r["c"]))
    ratio = f"**{r['qps'] / a['qps']:.2f}**" if a and r["layout"] != "single" else "1.00 (anchor)"
    print(f"| {name(r['layout'])} | {r['mode']} | {r['c']} | {r['qps']:.1f} | {r['p50_ms']:.1f} | "
          f"{r['p99_ms']:.1f} | {r['errors']} | {r['non_2xx']} | {ratio} |")

# CPU per request, by role.
roles = ["hypencoder serve", "readers", "coordinator", "proxy", "controller", "driver", "writers", "ray daemons", "other"]
present = [x for x in roles if any(r.get("cpu_s", {}).get(x, 0) > 0 for r in loads)]
print("\nCPU ms per request, by process (the server's tree over each wrk run; 'machine' is every process "
      "on the machine, wrk included, so its excess over the sum is wrk and the rest of the system):\n")
print("| layout | mode | c | " + " | ".join(present) + " | sum | machine | machine busy % |")
print("|---|---|---:|" + "---:|" * (len(present) + 3))
for r in sorted(loads, key=lambda r: (r["mode"], r["c"], order.get(r["layout"], 9))):
    if "cpu_s" not in r or not r["requests"]:
        continue
    per = lambda s: 1e3 * s / r["requests"]  # noqa: E731
    cells = [f"{per(r['cpu_s'].get(x, 0)):.1f}" if r["cpu_s"].get(x, 0) else "-" for x in present]
    total = sum(r["cpu_s"].values())
    busy = 100 * r["machine_busy_s"] / (r["seconds"] * run.get("cores", 2))
    print(f"| {name(r['layout'])} | {r['mode']} | {r['c']} | " + " | ".join(cells)
          + f" | {per(total):.1f} | {per(r['machine_busy_s']):.1f} | {busy:.0f} |")


def answers(layout, mode):
    path = os.path.join(out, f"answers-{layout}-{mode}.jsonl")
    return [json.loads(line) for line in open(path)] if os.path.exists(path) else []


print("\nTop 10 of the first queries (one at a time) against the single index's:\n")
print("| layout | mode | queries | same ids in the same order | mean overlap of top 10 | max score difference (same id) |")
print("|---|---|---:|---:|---:|---:|")
for r in layouts:
    if r["layout"] == "single":
        continue
    for mode in modes:
        ref, got = answers("single", mode), answers(r["layout"], mode)
        if not ref or not got:
            continue
        same = sum(a["ids"] == b["ids"] for a, b in zip(ref, got))
        overlap = sum(len(set(a["ids"]) & set(b["ids"])) / max(1, len(a["ids"])) for a, b in zip(ref, got)) / len(ref)
        diff = 0.0
        for a, b in zip(ref, got):
            sa = dict(zip(a["ids"], a["scores"]))
            for d, s in zip(b["ids"], b["scores"]):
                if d in sa:
                    diff = max(diff, abs(sa[d] - s))
        print(f"| {name(r['layout'])} | {mode} | {len(ref)} | {same} | {overlap:.3f} | {diff:.2g} |")

print("\nBytes on disk (`du -sb`), start-up, and memory of the server's process tree (MiB; PSS shares pages "
      "common to several processes out, so it sums; 'after' is after all the load runs):\n")
print("| layout | bytes per shard | total bytes | ready after s | idle CPU, % of a core | processes | RSS ready | PSS ready | RSS after | PSS after | readers' PSS after | PSS after, rest of Ray |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
def idle_pct(r):
    if "idle_cpu_s" not in r:
        return "-"
    return f"{100 * sum(r['idle_cpu_s'].values()) / r['idle_s']:.1f}"


for r in sorted(layouts, key=lambda r: order.get(r["layout"], 9)):
    m0, m1 = r["memory_ready"], r["memory_after"]
    readers = m1.get("roles", {}).get("readers")
    rd = f"{readers['pss_kib'] / 1024:.0f} ({readers['processes']})" if readers else "-"
    rest = f"{(m1['pss_kib'] - readers['pss_kib']) / 1024:.0f}" if readers else "-"
    print(f"| {name(r['layout'])} | {', '.join(f'{b:,}' for b in r['shard_bytes'])} | {sum(r['shard_bytes']):,} | "
          f"{r['ready_s']} | {idle_pct(r)} | {m1['processes']} | {m0['rss_kib'] / 1024:.0f} | {m0['pss_kib'] / 1024:.0f} | "
          f"{m1['rss_kib'] / 1024:.0f} | {m1['pss_kib'] / 1024:.0f} | {rd} | {rest} |")
