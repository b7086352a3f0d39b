#!/usr/bin/env python3
"""Recall@10 gap at equal cost between graph-search settings and a reference.

    live_gap.py A.json [B.json ...] REF.json

Each file is bench/common/graph_recall.py's --json output. For every beam setting of
A, B, ... the reference's recall@10 is interpolated (linearly in documents
scored per query) at that setting's cost, and the gap printed as a Markdown
table. Outside the reference's measured range the gap is a bound, marked.
"""
import json
import math
import sys


def curve(path):
    rows = [r for r in json.load(open(path)) if r["setting"] != "exhaustive"]
    return sorted((r["scored"], r["recall@10"], r["setting"]) for r in rows)


def at_cost(ref, scored):
    """Reference recall at `scored` documents, and '' or a bound marker."""
    if scored <= ref[0][0]:
        return ref[0][1], "<="
    if scored >= ref[-1][0]:
        return ref[-1][1], ">="
    for (x0, y0, _), (x1, y1, _) in zip(ref, ref[1:]):
        if x0 <= scored <= x1:
            return y0 + (y1 - y0) * (scored - x0) / (x1 - x0), ""
    return math.nan, ""


def main():
    *runs, ref_path = sys.argv[1:]
    ref = curve(ref_path)
    print("| index | setting | scored/q | R@10 | reference R@10 at that cost | gap |")
    print("|---|---|---|---|---|---|")
    for path in runs:
        name = path.rsplit("/", 1)[-1].removeprefix("recall-").removesuffix(".json")
        for scored, recall, setting in curve(path):
            ref_recall, mark = at_cost(ref, scored)
            gap = ref_recall - recall
            bound = {"<=": " (ref. at its cheapest)", ">=": " (ref. at its dearest)"}.get(mark, "")
            print(f"| {name} | {setting} | {scored:.0f} | {recall:.3f} | {ref_recall:.4f}{bound} | {gap:+.4f} |")


if __name__ == "__main__":
    main()
