#!/usr/bin/env bash
# How a graph build's time grows with the corpus, ours (GrowingGraph, as
# `graph --construction insert` and merges grow it) against hnswlib's
# (M=16, ef_construction=200) on the same sampled 384-d vectors, one size
# after another in one run, each build on both cores. See bench/graph/build.md.
#
#   bench/graph/run_build_growth.sh        # SIZES=25000,100000,300000 ROUNDS=1 VENV
#
# The vectors are the filter bench's (crates/search/benches/filter.rs:
# embedding-like samples of a 32-dimensional surface plus noise), written
# once per size under WORK. Keep the machine otherwise idle while it runs.
set -euo pipefail
. "$(dirname "$0")/../common/root.sh"
. bench/common/python.sh

sizes="${SIZES:-25000,100000,300000}"
rounds="${ROUNDS:-1}"
work="$(mkdir -p "${WORK:-target/bench-growth}" && realpath "${WORK:-target/bench-growth}")"
venv="${VENV:-$root/target/bench-venv}"
need_venv "$venv" numpy,hnswlib numpy hnswlib
py="$venv/bin/python"
out="$work/growth.jsonl"
: > "$out"

cargo bench -p hypencoder-search --bench filter --no-run --quiet 2>/dev/null
echo "start: $(date -u +%FT%TZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for n in ${sizes//,/ }; do
    for r in $(seq "$rounds"); do
        # Ours: the bench writes the sampled index (first round) and grows
        # the graph afresh (the old index is removed to force it).
        rm -rf "$work/sampled-${n}x384"
        ours=$(BENCH_N="$n" BENCH_BUILD_ONLY=1 BENCH_WORK="$work" RAYON_NUM_THREADS=2 \
            cargo bench -p hypencoder-search --bench filter --quiet 2>&1 \
            | grep -o 'graph grown in [0-9.]* s' | grep -o '[0-9.]*')
        theirs=$("$py" bench/graph/hnswlib_build.py --index "$work/sampled-${n}x384" --threads 2)
        echo "{\"n\": $n, \"round\": $r, \"ours_s\": $ours, \"hnswlib\": $theirs}" | tee -a "$out"
    done
done
echo "end: $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$py" - "$out" <<'PY'
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for r in rows:
    by.setdefault(r["n"], []).append((r["ours_s"], r["hnswlib"]["build_s"]))
print("\n| documents | ours s | hnswlib s | ours / hnswlib |")
print("|---:|---:|---:|---:|")
med = lambda xs: sorted(xs)[len(xs) // 2]
pts = []
for n in sorted(by):
    o, h = med([a for a, _ in by[n]]), med([b for _, b in by[n]])
    pts.append((n, o, h))
    print(f"| {n:,} | {o:.1f} | {h:.1f} | {o / h:.2f} |")
for name, i in (("ours", 1), ("hnswlib", 2)):
    if len(pts) > 1:
        a, b = pts[0], pts[-1]
        print(f"{name}: time grows as n^{math.log(b[i] / a[i]) / math.log(b[0] / a[0]):.2f} from {a[0]:,} to {b[0]:,}")
PY
