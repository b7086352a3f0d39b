"""Computes expected.json: trec_eval's values for qrels.txt and run.txt.

pytrec_eval runs trec_eval's own C code (ranking, tie-breaking, measures), so
these values are the reference the Rust tests compare against. Regenerate with

    python3 -m venv target/eval-venv
    target/eval-venv/bin/pip install pytrec_eval-terrier==0.5.11
    target/eval-venv/bin/python crates/eval/tests/data/make_expected.py

recip_rank_cut_K (MRR@K) is not a trec_eval measure; trec_eval computes it as
recip_rank with -M K. It equals recip_rank when that is at least 1/K, else 0,
which is how it is derived here, keeping trec_eval's own ranking.

pytrec_eval stores run scores as f32 (trec_eval <= 9.0.7 did; later ones use
f64), so run.txt has no two scores that differ only beyond f32 precision.
"""

import json
from importlib.metadata import version
from pathlib import Path

import pytrec_eval

HERE = Path(__file__).parent
MEASURES = {"map", "recip_rank", "ndcg", "ndcg_cut.5,10,20", "recall.10,100,1000", "P.5,10"}
RR_CUTOFFS = (5, 10)


def read(path, columns, key, value):
    table = {}
    for line in (HERE / path).read_text().splitlines():
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        assert len(fields) == columns, line
        qid, docid = fields[0], fields[2]
        assert docid not in table.get(qid, {}), line
        table.setdefault(qid, {})[docid] = key(fields[value])
    return table


def summarize(per_query):
    metrics = sorted(next(iter(per_query.values())))
    mean = {m: sum(v[m] for v in per_query.values()) / len(per_query) for m in metrics}
    return {"per_query": per_query, "mean": mean}


def main():
    qrels = read("qrels.txt", 4, int, 3)
    run = read("run.txt", 6, float, 4)
    plain = pytrec_eval.RelevanceEvaluator(qrels, MEASURES).evaluate(run)
    for values in plain.values():
        for k in RR_CUTOFFS:
            rr = values["recip_rank"]
            values[f"recip_rank_cut_{k}"] = rr if rr >= 1.0 / k else 0.0
    metrics = sorted(next(iter(plain.values())))

    # trec_eval -c: judged queries missing from the run score 0.
    complete = dict(plain)
    for qid in qrels.keys() - run.keys():
        complete[qid] = {m: 0.0 for m in metrics}
    # Not a trec_eval mode: drop judged queries without a relevant document.
    with_relevant = {q: v for q, v in plain.items() if any(r > 0 for r in qrels[q].values())}

    expected = {
        "generator": f"pytrec_eval-terrier {version('pytrec_eval-terrier')}",
        "metrics": metrics,
        "plain": summarize(plain),
        "complete": summarize(complete),
        "skip_without_relevant": summarize(with_relevant),
    }
    out = HERE / "expected.json"
    out.write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
