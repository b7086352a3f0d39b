#!/usr/bin/env python3
"""Table, log-log plot and 8.8M extrapolation of crates/search/benches/scale.rs.

    scale_report.py SCALE.json [--plot OUT.png]

Exhaustive time is fitted as a * n (it scores every document); graph time
and memory as c * n^b (least squares in log-log). The extrapolation to MS
MARCO (8,841,823 passages) is printed beside the paper's GPU latencies
(Killingback et al. 2025, one L40S: 1,769.8 ms exhaustive, 59.6 ms for
efficient-1), which are for a 768-d BERT-base Hypencoder: a q-net layer
costs d^2, so 768-d estimates are 4x the 384-d ones for exhaustive search.
"""
import argparse
import json
import math

MS_MARCO = 8_841_823
PAPER_GPU_MS = {"exhaustive": 1769.8, "efficient-1": 59.6}
SETTINGS = ["2layer_f32", "2layer_bf16", "6layer_f32", "6layer_bf16"]


def fit_power(xs, ys):
    """(c, b) of y = c * x^b by least squares on logs."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    sxx = sum((x - mx) ** 2 for x in lx)
    b = sum((x - mx) * (y - my) for x, y in zip(lx, ly)) / sxx if sxx else 1.0
    return math.exp(my - b * mx), b


def fit_linear(xs, ys):
    """a of y = a * x by least squares through the origin."""
    return sum(x * y for x, y in zip(xs, ys)) / sum(x * x for x in xs)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("json")
    p.add_argument("--plot")
    a = p.parse_args()
    report = json.load(open(a.json))
    rows = report["rows"]
    dim = report["dim"]
    ns = [r["docs"] for r in rows]

    print(f"{dim}-d, {report['threads']} threads, graph degree {report['degree']}, k = {report['k']}\n")
    print("| documents | index write s | graph build s | bytes/doc f32 (vectors + graph + ids) | bytes/doc f16/bf16 | resident MiB | peak MiB |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        b = r["bytes_per_doc"]
        rest = b["graph"] + b["ids"]
        print(f"| {r['docs']:,} | {r['index_write_s']:.1f} | {r['graph_build_s']:.1f} | "
              f"{b['vectors_f32'] + rest:.0f} ({b['vectors_f32']:.0f} + {b['graph']:.0f} + {b['ids']:.0f}) | "
              f"{b['vectors_f16_bf16'] + rest:.0f} | {r['rss_mib']:.0f} | {r['peak_rss_mib']:.0f} |")
    print("\n| documents | q-net | exhaustive ms/query | graph ms/query | graph docs scored/query | graph recall@10 |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        for s in SETTINGS:
            v = r[s]
            print(f"| {r['docs']:,} | {s.replace('layer_', '-layer ')} | {v['exhaustive_ms']:.1f} | "
                  f"{v['graph_ms']:.2f} | {v['graph_scored']:.0f} | {v['graph_recall_at_10']:.2f} |")

    print(f"\nExtrapolated to MS MARCO's {MS_MARCO:,} passages ({dim}-d; 768-d exhaustive = 4x):")
    print("| q-net | exhaustive ms (fit a*n) | 768-d estimate | graph ms (fit c*n^b) | b | paper GPU exhaustive / efficient-1 |")
    print("|---|---|---|---|---|---|")
    fits = {}
    for s in SETTINGS:
        ex = [r[s]["exhaustive_ms"] for r in rows]
        gr = [r[s]["graph_ms"] for r in rows]
        a_ex = fit_linear(ns, ex)
        c_g, b_g = fit_power(ns, gr)
        fits[s] = (a_ex, c_g, b_g)
        print(f"| {s.replace('layer_', '-layer ')} | {a_ex * MS_MARCO:,.0f} | {4 * a_ex * MS_MARCO:,.0f} | "
              f"{c_g * MS_MARCO ** b_g:.1f} | {b_g:.2f} | {PAPER_GPU_MS['exhaustive']} / {PAPER_GPU_MS['efficient-1']} |")

    if not a.plot:
        return
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 5.5))
    xs = ns + [MS_MARCO]
    for s, color in zip(SETTINGS, ["C0", "C1", "C2", "C3"]):
        a_ex, c_g, b_g = fits[s]
        label = s.replace("layer_", "-layer ")
        ax.plot(ns, [r[s]["exhaustive_ms"] for r in rows], "o-", color=color, label=f"exhaustive, {label}")
        ax.plot([ns[-1], MS_MARCO], [a_ex * ns[-1], a_ex * MS_MARCO], ":", color=color)
        ax.plot(ns, [r[s]["graph_ms"] for r in rows], "s--", color=color, label=f"graph, {label}")
        ax.plot([ns[-1], MS_MARCO], [c_g * ns[-1] ** b_g, c_g * MS_MARCO ** b_g], ":", color=color)
    ax.axhline(PAPER_GPU_MS["exhaustive"], color="k", lw=0.8)
    ax.text(xs[0], PAPER_GPU_MS["exhaustive"] * 1.1, "paper, L40S GPU, exhaustive (768-d, 8.8M)", fontsize=8)
    ax.axhline(PAPER_GPU_MS["efficient-1"], color="gray", lw=0.8)
    ax.text(xs[0], PAPER_GPU_MS["efficient-1"] * 1.1, "paper, L40S GPU, efficient-1 (768-d, 8.8M)", fontsize=8)
    ax.axvline(MS_MARCO, color="gray", lw=0.5, ls="--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("documents")
    ax.set_ylabel("ms per query (2 CPU cores)")
    ax.set_title(f"Cost against corpus size, {dim}-d sampled vectors; dotted: extrapolation to 8.8M")
    ax.legend(fontsize=7, loc="upper left", ncol=2)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(a.plot, dpi=120)
    print(f"\nplot: {a.plot}")


if __name__ == "__main__":
    main()
