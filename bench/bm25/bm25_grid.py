"""BM25 (k1, b) grid on a debian-pkg split: what tantivy's fixed k1=1.2, b=0.75 costs.

    python3 bench/bm25/bm25_grid.py --data data/debian-pkg --split dev --out target/bm25-grid

Needs a venv with `bm25s PyStemmer numpy tantivy` (see bench/bm25/README.md).
Tune on dev only: the test split stays untouched.

Three scorers, one query at a time, every document scored:

- `bm25s`: bm25s's Lucene BM25 (`method="lucene"`) on bm25s's own analysis,
  exactly as bench/common/bm25_run.py indexes (regex `\\b\\w\\w+\\b`, lowercase, the
  33 Lucene English stop words, Snowball English via PyStemmer).
- `tantivy-analysis`: the same bm25s scorer on tokens from tantivy's own
  analyzer (tantivy-py): SimpleTokenizer, RemoveLongFilter(40), LowerCaser,
  StopWordFilter(English, the same 33 words), Stemmer(English).
- `tantivy-fieldnorm`: the tantivy tokens again, scored here with tantivy's
  BM25 as tantivy computes it: document lengths rounded down to tantivy's
  one-byte fieldnorm table, average length = total tokens / documents. This is
  "your own k1 and b on tantivy's postings".

`--tantivy-check` also indexes the corpus with tantivy itself and searches it
(k1=1.2, b=0.75 are fixed there), to check the `tantivy-fieldnorm` scorer.

Metrics follow `hypencoder eval` (trec_eval): documents ranked by score,
ties broken by document id in decreasing byte order (`--ties docid`: smaller
id first, tantivy's own order), only documents with a score above 0 retrieved. Every query here has exactly one relevant document,
so MRR@10 = 1/rank, nDCG@10 = 1/log2(rank + 1) (rank <= 10), R@100 = rank <= 100.
`all` averages over every query (trec_eval -c); `run` over the queries that
retrieve at least one document (plain `hypencoder eval` on a TREC run).

Writes `grid.<split>.json` (metrics per cell) and `ranks.<split>.npz` (the
relevant document's rank per query and cell) in --out.
"""
import argparse
import json
import time
from pathlib import Path

import bm25s
import numpy as np
import Stemmer
from bm25s.tokenization import Tokenized

K1S = [0.3, 0.5, 0.7, 0.9, 1.2, 1.5, 2.0]
BS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.75, 0.9, 1.0]


def read_jsonl(path):
    with open(path) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [r["id"] for r in rows], [r["text"] for r in rows]


def read_qrels(path):
    rel = {}
    with open(path) as f:
        for line in f:
            qid, _, did, grade = line.split()
            if int(grade) > 0:
                assert qid not in rel, f"{qid}: more than one relevant document"
                rel[qid] = did
    return rel


def bm25s_tokens(texts):
    stemmer = Stemmer.Stemmer("english")
    return bm25s.tokenize(texts, stopwords="en", stemmer=stemmer,
                          return_ids=False, show_progress=False)


def tantivy_analyzer():
    import tantivy as tv
    return (tv.TextAnalyzerBuilder(tv.Tokenizer.simple())
            .filter(tv.Filter.remove_long(40))
            .filter(tv.Filter.lowercase())
            .filter(tv.Filter.stopword("english"))
            .filter(tv.Filter.stemmer("english"))
            .build())


def tantivy_tokens(texts):
    analyzer = tantivy_analyzer()
    return [analyzer.analyze(t) for t in texts]


class Postings:
    """The corpus as term -> (doc, tf) postings, sorted by term then doc."""

    def __init__(self, doc_tokens):
        self.vocab = {}
        ids = [[self.vocab.setdefault(t, len(self.vocab)) for t in toks] for toks in doc_tokens]
        self.ids = ids
        self.n_docs = len(ids)
        lens = np.array([len(x) for x in ids], dtype=np.int64)
        term = np.fromiter((t for x in ids for t in x), dtype=np.int64, count=int(lens.sum()))
        doc = np.repeat(np.arange(self.n_docs, dtype=np.int64), lens)
        code, tf = np.unique(term * self.n_docs + doc, return_counts=True)
        self.term, self.doc, self.tf = code // self.n_docs, code % self.n_docs, tf
        self.indptr = np.searchsorted(self.term, np.arange(len(self.vocab) + 1))
        self.doc_len = lens
        self.df = np.diff(self.indptr)

    def query_ids(self, tokens):
        return [self.vocab[t] for t in tokens if t in self.vocab]


# tantivy's fieldnorm table (src/fieldnorm/code.rs): a length is stored as the
# largest entry not above it.
def _fieldnorm(code):
    if code < 24:
        return code
    b = code - 24
    bits, shift = b & 7, b >> 3
    return 24 + (bits if shift == 0 else (bits | 8) << (shift - 1))


FIELDNORMS = np.array([_fieldnorm(c) for c in range(256)], dtype=np.int64)


def tantivy_weights(p, k1, b):
    """Per-posting BM25 weights as tantivy computes them, with any k1 and b."""
    n = np.float32(p.n_docs)
    avg = np.float32(p.doc_len.sum()) / n
    df = p.df.astype(np.float32)
    idf = np.log1p((n - df + np.float32(0.5)) / (df + np.float32(0.5))).astype(np.float32)
    q_len = FIELDNORMS[np.searchsorted(FIELDNORMS, p.doc_len, side="right") - 1]
    norm = (np.float32(k1) * (np.float32(1 - b) + np.float32(b) * q_len.astype(np.float32) / avg))
    tf = p.tf.astype(np.float32)
    w = idf[p.term] * np.float32(k1 + 1) * tf / (tf + norm[p.doc])
    return w.astype(np.float32), p.doc, p.indptr


def bm25s_weights(p, k1, b):
    """bm25s's Lucene BM25 index over the same postings, as (data, docs, indptr) by term."""
    r = bm25s.BM25(method="lucene", k1=k1, b=b)
    r.index(Tokenized(ids=p.ids, vocab=p.vocab), show_progress=False, create_empty_token=False)
    s = r.scores
    return s["data"], s["indices"], s["indptr"]


def ranks(weights, queries, rel_doc, n_docs, ties="trec"):
    """Rank of each query's relevant document (inf if not retrieved); whether it retrieved any.

    Equal scores: `trec` puts the larger document id first (trec_eval, `hypencoder
    eval`), `docid` the smaller (tantivy's own order: corpus order here)."""
    data, docs, indptr = weights
    out = np.full(len(queries), np.inf)
    any_hit = np.zeros(len(queries), dtype=bool)
    n_tied = 0
    for i, (q, r) in enumerate(zip(queries, rel_doc)):
        if not q:
            continue
        sl = [slice(indptr[t], indptr[t + 1]) for t in q]
        d = np.concatenate([docs[s] for s in sl])
        if len(d) == 0:
            continue
        any_hit[i] = True
        s = np.bincount(d, weights=np.concatenate([data[s] for s in sl]),
                        minlength=n_docs).astype(np.float32)
        sr = s[r]
        if sr <= 0:
            continue
        tied = int(np.count_nonzero((s[r + 1:] if ties == "trec" else s[:r]) == sr))
        n_tied += tied > 0
        out[i] = 1 + np.count_nonzero(s > sr) + tied
    return out, any_hit, n_tied


def metrics(rk, any_hit):
    rr = np.where(rk <= 10, 1 / rk, 0.0)
    nd = np.where(rk <= 10, 1 / np.log2(rk + 1), 0.0)
    r100 = (rk <= 100).astype(float)
    res = {}
    for name, mask in (("all", np.ones_like(any_hit)), ("run", any_hit)):
        res[name] = {"mrr@10": rr[mask].mean(), "ndcg@10": nd[mask].mean(),
                     "recall@100": r100[mask].mean(), "queries": int(mask.sum())}
    return res


def tantivy_check(doc_ids, docs, qids, queries_tokens, rel_doc, workdir):
    """Index and search with tantivy itself (k1=1.2, b=0.75 built in).

    Also writes its top 1000 as a TREC run (`tantivy.trec` in --out), for
    `hypencoder eval`, which re-breaks ties by trec_eval's rule."""
    import tantivy as tv
    sb = tv.SchemaBuilder()
    sb.add_text_field("text", stored=False, tokenizer_name="en_bm25", index_option="freq")
    schema = sb.build()
    path = Path(workdir) / "tantivy-index"
    path.mkdir(parents=True, exist_ok=True)
    for f in path.iterdir():
        f.unlink()
    index = tv.Index(schema, path=str(path))
    index.register_tokenizer("en_bm25", tantivy_analyzer())
    writer = index.writer(heap_size=1_000_000_000, num_threads=1)
    for text in docs:
        writer.add_document(tv.Document(text=text))
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    searcher = index.searcher()
    assert searcher.num_segments == 1, "doc ids must follow corpus order"
    rk = np.full(len(queries_tokens), np.inf)
    any_hit = np.zeros(len(queries_tokens), dtype=bool)
    run = open(Path(workdir) / "tantivy.trec", "w")
    for i, (toks, r) in enumerate(zip(queries_tokens, rel_doc)):
        if not toks:
            continue
        q = tv.Query.boolean_query(
            [(tv.Occur.Should, tv.Query.term_query(schema, "text", t)) for t in toks])
        hits = searcher.search(q, limit=1000).hits
        any_hit[i] = bool(hits)
        for j, (score, addr) in enumerate(hits):
            run.write(f"{qids[i]} Q0 {doc_ids[addr.doc]} {j + 1} {score!r} tantivy\n")
            if addr.doc == r and j < 100:
                rk[i] = j + 1
    run.close()
    return rk, any_hit


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="data/debian-pkg")
    p.add_argument("--split", default="dev")
    p.add_argument("--out", default="target/bm25-grid")
    p.add_argument("--scorers", default="bm25s,tantivy-analysis,tantivy-fieldnorm")
    p.add_argument("--k1", default=",".join(map(str, K1S)), help="comma-separated k1 values")
    p.add_argument("--b", default=",".join(map(str, BS)), help="comma-separated b values")
    p.add_argument("--ties", choices=["trec", "docid"], default="trec")
    p.add_argument("--tantivy-check", action="store_true")
    a = p.parse_args()
    assert a.split != "test", "tune on dev, not test"
    data, out = Path(a.data), Path(a.out)
    out.mkdir(parents=True, exist_ok=True)

    doc_ids, docs = read_jsonl(data / "corpus.jsonl")
    assert doc_ids == sorted(doc_ids, key=lambda s: s.encode()), "corpus must be sorted by id"
    doc_index = {d: i for i, d in enumerate(doc_ids)}
    qids, queries = read_jsonl(data / f"queries.{a.split}.jsonl")
    rel = read_qrels(data / f"qrels.{a.split}.tsv")
    assert set(rel) == set(qids)
    rel_doc = [doc_index[rel[q]] for q in qids]

    k1s, bs = [float(x) for x in a.k1.split(",")], [float(x) for x in a.b.split(",")]
    results, all_ranks = {}, {}
    analyses = {}
    for scorer in a.scorers.split(","):
        analysis = "bm25s" if scorer == "bm25s" else "tantivy"
        if analysis not in analyses:
            t0 = time.time()
            tok = bm25s_tokens if analysis == "bm25s" else tantivy_tokens
            post = Postings(tok(docs))
            qtok = tok(queries)
            analyses[analysis] = (post, qtok, [post.query_ids(t) for t in qtok])
            print(f"{analysis} analysis: {len(post.vocab)} terms, mean doc length "
                  f"{post.doc_len.mean():.1f}, {time.time() - t0:.1f} s", flush=True)
        post, _, qids_tok = analyses[analysis]
        weigh = tantivy_weights if scorer == "tantivy-fieldnorm" else bm25s_weights
        for k1 in k1s:
            for b in bs:
                rk, any_hit, ties = ranks(weigh(post, k1, b), qids_tok, rel_doc, post.n_docs,
                                         a.ties)
                m = metrics(rk, any_hit)
                m["ties"] = ties
                results[f"{scorer} k1={k1} b={b}"] = m
                all_ranks[f"{scorer} k1={k1} b={b}"] = rk
                print(f"{scorer:18s} k1={k1:<4} b={b:<5} MRR@10 {m['all']['mrr@10']:.4f} "
                      f"nDCG@10 {m['all']['ndcg@10']:.4f} R@100 {m['all']['recall@100']:.4f} "
                      f"(run: {m['run']['mrr@10']:.4f} over {m['run']['queries']}) ties {ties}",
                      flush=True)
    if a.tantivy_check:
        if "tantivy" not in analyses:
            analyses["tantivy"] = (None, tantivy_tokens(queries), None)
        rk, any_hit = tantivy_check(doc_ids, docs, qids, analyses["tantivy"][1], rel_doc, out)
        m = metrics(rk, any_hit)
        results["tantivy itself k1=1.2 b=0.75"] = m
        print(f"tantivy itself     k1=1.2  b=0.75  (its own tie order) MRR@10 {m['all']['mrr@10']:.4f} "
              f"nDCG@10 {m['all']['ndcg@10']:.4f} R@100 {m['all']['recall@100']:.4f}", flush=True)
        all_ranks["tantivy itself k1=1.2 b=0.75"] = rk
    tag = f"{a.split}" + ("" if a.ties == "trec" else f".ties-{a.ties}")
    np.savez(out / f"ranks.{tag}.npz", qids=np.array(qids), **all_ranks)
    with open(out / f"grid.{tag}.json", "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
