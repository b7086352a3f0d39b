#!/usr/bin/env python3
"""Every system's MRR@10 and nDCG@10 on every collection's queries of one
split, in one table: BM25, the default model alone (exhaustive), hybrid at
several fusions, and all-MiniLM-L6-v2 alone, each on the collection's own
index (built here if missing, with `hypencoder index`).

    bench/quality/table.py [--split dev] [--collections debian-slice,pydoc,info] [--data data/quality] [--only LABEL,...]
                           [--model DIR --tag NAME]

Indexes go to data/idx/quality-<collection>-{default,minilm}. Runs and the
table go to target/quality/. Tune on dev only; test is for the final table.
`--model DIR --tag NAME` puts a candidate model in the default model's place
(its indexes are data/idx/quality-<collection>-NAME).
"""

import argparse
import json
import subprocess
from pathlib import Path

BIN = "target/release/hypencoder"
MINILM = "models/all-MiniLM-L6-v2"

# (label, index kind, search flags)
SYSTEMS = [
    ("BM25", "default", ["--mode", "bm25"]),
    ("neural (default model)", "default", ["--mode", "exhaustive"]),
    ("hybrid linear a=0.3", "default", ["--mode", "hybrid", "--neural", "exhaustive", "--alpha", "0.3"]),
    ("hybrid linear a=0.5", "default", ["--mode", "hybrid", "--neural", "exhaustive", "--alpha", "0.5"]),
    ("hybrid linear a=0.7 (default)", "default", ["--mode", "hybrid", "--neural", "exhaustive", "--alpha", "0.7"]),
    ("hybrid linear a=0.8", "default", ["--mode", "hybrid", "--neural", "exhaustive", "--alpha", "0.8"]),
    ("hybrid rrf k=60", "default", ["--mode", "hybrid", "--neural", "exhaustive", "--fusion", "rrf"]),
    ("hybrid zscore a=0.5", "default", ["--mode", "hybrid", "--neural", "exhaustive", "--fusion", "zscore", "--alpha", "0.5"]),
    ("hybrid zscore a=0.7", "default", ["--mode", "hybrid", "--neural", "exhaustive", "--fusion", "zscore", "--alpha", "0.7"]),
    ("hybrid dbsf a=0.5", "default", ["--mode", "hybrid", "--neural", "exhaustive", "--fusion", "dbsf", "--alpha", "0.5"]),
    ("hybrid dbsf a=0.7", "default", ["--mode", "hybrid", "--neural", "exhaustive", "--fusion", "dbsf", "--alpha", "0.7"]),
    ("hybrid adaptive", "default", ["--mode", "hybrid", "--neural", "exhaustive", "--fusion", "adaptive"]),
    ("all-MiniLM-L6-v2", "minilm", ["--mode", "exhaustive"]),
]


def run(*args):
    return subprocess.run([BIN, *map(str, args)], check=True, capture_output=True, text=True).stdout


# A candidate model in the default's place: (folder, tag), from --model/--tag.
CANDIDATE = None


def index(collection: Path, name: str, kind: str) -> Path:
    if kind == "default" and CANDIDATE:
        kind = CANDIDATE[1]
    out = Path(f"data/idx/quality-{name}-{kind}")
    if not (out / "manifest.json").exists():
        if kind == "minilm":
            model = ["--model", MINILM]
        elif CANDIDATE:
            model = ["--model", CANDIDATE[0]]
        else:
            model = []
        lexical = ["--no-lexical"] if kind == "minilm" else []
        print(f"indexing {name} with the {kind} model ...", flush=True)
        subprocess.run([BIN, "index", *model, "--corpus", collection / "corpus.jsonl",
                        "--index", out, *lexical], check=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", default="dev")
    ap.add_argument("--collections", default="debian-slice,pydoc,info")
    ap.add_argument("--data", default="data/quality", type=Path)
    ap.add_argument("--only", help="comma-separated system labels (default: every one)")
    ap.add_argument("--model", help="a candidate model folder in the default model's place")
    ap.add_argument("--tag", help="the candidate's name (its indexes and runs)")
    args = ap.parse_args()
    global CANDIDATE
    if args.model:
        if not args.tag:
            ap.error("--model needs --tag")
        CANDIDATE = (args.model, args.tag)
    systems = [s for s in SYSTEMS if not args.only or s[0] in args.only.split(",")]
    names = args.collections.split(",")
    work = Path("target/quality")
    work.mkdir(parents=True, exist_ok=True)
    scores = {}
    for name in names:
        folder = args.data / name
        queries, qrels = folder / f"queries.{args.split}.jsonl", folder / f"qrels.{args.split}.tsv"
        for label, kind, flags in systems:
            idx = index(folder, name, kind)
            tag = f"-{args.tag}" if CANDIDATE else ""
            out = work / f"{name}-{args.split}{tag}-{label.split(' (')[0].replace(' ', '_').replace('=', '')}.trec"
            run("search", "--index", idx, "--queries", queries, "--k", "100", *flags, "--output", out)
            m = json.loads(run("eval", "--qrels", qrels, "--run", out, "--metrics", "mrr@10,ndcg@10", "--json"))
            scores[(label, name)] = (m["mean"]["recip_rank_cut_10"], m["mean"]["ndcg_cut_10"])
    # A hybrid should never lose to the better of its two sides: its worst
    # margin over them across collections, and its mean, choose defaults.
    sides = ("BM25", "neural (default model)")
    table = [f"| system | " + " | ".join(f"{n} MRR@10 | {n} nDCG@10" for n in names)
             + " | mean MRR@10 | worst margin over the better side |",
             "|---|" + "---:|---:|" * len(names) + "---:|---:|"]
    for label, _, _ in systems:
        cells = []
        for n in names:
            mrr, ndcg = scores[(label, n)]
            cells += [f"{mrr:.4f}", f"{ndcg:.4f}"]
        mean = sum(scores[(label, n)][0] for n in names) / len(names)
        if all((s, n) in scores for s in sides for n in names):
            margin = min(scores[(label, n)][0] - max(scores[(s, n)][0] for s in sides) for n in names)
            table.append(f"| {label} | " + " | ".join(cells) + f" | {mean:.4f} | {margin:+.4f} |")
        else:
            table.append(f"| {label} | " + " | ".join(cells) + f" | {mean:.4f} | - |")
    text = "\n".join(table)
    suffix = f"-{args.tag}" if CANDIDATE else ""
    (work / f"table-{args.split}{suffix}.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
