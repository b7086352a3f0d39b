#!/usr/bin/env python3
"""PyTorch side of the encoding benchmark: the same measurements as
crates/model/benches/encode.rs, on the same texts, then a table of ratios.

1. Documents/s: transformers AutoModel (all-MiniLM-L6-v2) + masked mean pooling
   + L2 normalisation, batch 32, max length 256, tokenisation included.
   Batching as Model::encode_docs_batched: texts sorted by UTF-8 byte length,
   longest first (stable), then chunks of 32, each padded to its longest.
2. Query -> q-net latency: MiniLM forward + the hyper-head math of
   crates/model/src/hyperhead.rs, on the head-only checkpoints the Rust bench
   wrote (their model.safetensors), single queries (median) and a batch of 32.

    python bench/encode/encode_vs_pytorch.py --model models/all-MiniLM-L6-v2 \
        --docs DOCS.txt --queries QUERIES.txt --rust-json rust.json [--out torch.json]
"""

import argparse
import json
import math
import statistics
import time

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from transformers import AutoModel, AutoTokenizer

BATCH = 32
DOC_MAX_LEN = 256
QUERY_MAX_LEN = 64  # Model's DEFAULT_QUERY_MAX_LENGTH
SINGLE_QUERIES = 50
BATCH_REPS = 5
HEAD_LN_EPS = 1e-5


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [l.rstrip("\n") for l in f if l.strip()]


class Encoder:
    def __init__(self, model_dir):
        self.tok = AutoTokenizer.from_pretrained(model_dir)
        self.bert = AutoModel.from_pretrained(model_dir).eval()

    def hidden(self, texts, max_length):
        b = self.tok(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        out = self.bert(input_ids=b["input_ids"], attention_mask=b["attention_mask"])
        return out.last_hidden_state, b["attention_mask"]

    def docs(self, texts):
        h, mask = self.hidden(texts, DOC_MAX_LEN)
        m = mask.unsqueeze(-1).to(h.dtype)
        pooled = (h * m).sum(1) / m.sum(1).clamp(min=1)
        return F.normalize(pooled, p=2, dim=-1)


def encode_docs_batched(enc, texts):
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i].encode("utf-8")))
    out = [None] * len(texts)
    for s in range(0, len(order), BATCH):
        chunk = order[s : s + BATCH]
        vecs = enc.docs([texts[i] for i in chunk])
        for i, v in zip(chunk, vecs):
            out[i] = v
    return out


class HyperHead:
    """hyperhead.rs in PyTorch: per q-net matrix (and bias) a learned-query
    attention over the query's hidden states, ReLU, LayerNorm, projection, + base."""

    def __init__(self, ckpt_dir, dims):
        t = {k.removeprefix("query_encoder."): v for k, v in load_file(f"{ckpt_dir}/model.safetensors").items()}
        shapes = list(zip(dims[:-1], dims[1:]))
        n_w = len(shapes)
        self.weights = [self._gen(t, "weight_query_embeddings", "hyper_base_matrices", "weight_hyper_projection", i, i, out)
                        for i, (_, out) in enumerate(shapes)]
        self.biases = [self._gen(t, "bias_query_embeddings", "hyper_base_vectors", "bias_hyper_projection", j, n_w + j, 1)
                       for j in range(len(dims) - 2)]

    @staticmethod
    def _gen(t, q, base, proj, i, k, out):
        b = t[f"{base}.{i}"]
        return dict(
            q=t[f"{q}.{i}"], base=b if b.dim() == 3 else b.unsqueeze(0), out=out,
            kw=t[f"key_projections.{k}.weight"], kb=t[f"key_projections.{k}.bias"],
            vw=t[f"value_projections.{k}.weight"], vb=t[f"value_projections.{k}.bias"],
            pw=t[f"{proj}.{i}.weight"], pb=t[f"{proj}.{i}.bias"],
        )

    @staticmethod
    def _run(g, hidden, mask_bias):
        keys = F.linear(hidden, g["kw"], g["kb"])  # (B, L, in)
        values = F.linear(hidden, g["vw"], g["vb"])
        scores = g["q"] @ keys.transpose(1, 2) / math.sqrt(g["out"])  # (B, out, L)
        ctx = torch.softmax(scores + mask_bias, dim=-1) @ values  # (B, out, in)
        normed = F.layer_norm(F.relu(ctx), ctx.shape[-1:], eps=HEAD_LN_EPS)
        return F.linear(normed, g["pw"], g["pb"]) + g["base"]

    def forward(self, hidden, mask):
        mask_bias = ((1.0 - mask.to(hidden.dtype)) * torch.finfo(hidden.dtype).min).unsqueeze(1)
        weights = [self._run(g, hidden, mask_bias).transpose(1, 2).contiguous() for g in self.weights]
        biases = [self._run(g, hidden, mask_bias).squeeze(1) for g in self.biases]
        return weights, biases


def time_ms(f):
    t = time.perf_counter()
    r = f()
    return (time.perf_counter() - t) * 1e3, r


def percentile(v, p):
    v = sorted(v)
    return v[round((len(v) - 1) * p)]


def bench_docs(enc, texts, reps):
    encode_docs_batched(enc, texts[:BATCH])  # warm-up
    best, vecs = math.inf, None
    for _ in range(reps):
        ms, vecs = time_ms(lambda: encode_docs_batched(enc, texts))
        best = min(best, ms / 1e3)
    per_s = len(texts) / best
    print(f"torch: docs {per_s:.1f} docs/s ({len(texts)} docs in {best:.2f} s)")
    return {"n": len(texts), "seconds": best, "docs_per_s": per_s, "sample": [v.tolist() for v in vecs[:4]]}


def bench_qnet(enc, queries, spec):
    dims = spec["vector_dimensions"]
    head = HyperHead(spec["checkpoint"], dims)
    full = lambda qs: head.forward(*enc.hidden(qs, QUERY_MAX_LEN))
    for q in queries[:3]:
        full([q])  # warm-up
    n = min(SINGLE_QUERIES, len(queries))
    bert_ms = statistics.median(time_ms(lambda: enc.hidden([q], QUERY_MAX_LEN))[0] for q in queries[:n])
    single = [time_ms(lambda: full([q]))[0] for q in queries[:n]]
    batch = (queries * BATCH)[:BATCH]
    batch_ms = statistics.median(time_ms(lambda: full(batch))[0] for _ in range(BATCH_REPS))
    med = statistics.median(single)
    print(f"torch: hypencoder q-net {dims}: {med:.2f} ms/query single (p90 {percentile(single, 0.9):.2f}; "
          f"MiniLM alone {bert_ms:.2f}), batch of {BATCH}: {batch_ms:.1f} ms ({batch_ms / BATCH:.2f} ms/query)")
    # Cross-check against the Rust q-net of the first query.
    w, b = full(queries[:1])
    sample = spec.get("sample", {})
    diff = None
    if sample.get("query") == queries[0]:
        diff = max(
            max(abs(x - y) for x, y in zip(w[0][0, 0, :8].tolist(), sample["w0_row0"])),
            max(abs(x - y) for x, y in zip(b[0][0, :8].tolist(), sample["b0"])),
        )
    return {"vector_dimensions": dims, "single_ms_median": med, "bert_only_ms_median": bert_ms,
            "batch": BATCH, "batch_ms_median": batch_ms, "max_abs_diff_vs_rust": diff}


def table(rust, torch_res):
    rd, td = rust["docs"], torch_res["docs"]
    rows = [("docs/s, base model, batch 32, len 256", rd["docs_per_s"], td["docs_per_s"], rd["docs_per_s"] / td["docs_per_s"])]
    for rq, tq in zip(rust["qnet"], torch_res["qnet"]):
        h, w = len(rq["vector_dimensions"]) - 2, rq["vector_dimensions"][0]
        rows.append((f"ms/query single, q-net {h}x{w} (lower=better)", rq["single_ms_median"], tq["single_ms_median"],
                     rq["single_ms_median"] / tq["single_ms_median"]))
        rows.append((f"  of which the transformer alone, ms", rq["bert_only_ms_median"], tq["bert_only_ms_median"],
                     rq["bert_only_ms_median"] / tq["bert_only_ms_median"]))
        rows.append((f"ms per batch of 32, q-net {h}x{w}", rq["batch_ms_median"], tq["batch_ms_median"],
                     rq["batch_ms_median"] / tq["batch_ms_median"]))
    print()
    print(f"{'measure':<46} {'rust':>10} {'pytorch':>10} {'rust/pytorch':>13}")
    for name, r, t, ratio in rows:
        print(f"{name:<46} {r:>10.2f} {t:>10.2f} {ratio:>13.3f}")
    print("(docs/s: ratio > 1 means Rust is faster; ms: ratio < 1 means Rust is faster)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/all-MiniLM-L6-v2")
    ap.add_argument("--docs", required=True)
    ap.add_argument("--queries", required=True)
    ap.add_argument("--rust-json", help="the Rust bench's BENCH_OUT: q-net checkpoints, cross-check, ratio table")
    ap.add_argument("--reps", type=int, default=1, help="timed passes over the documents; best kept")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    docs, queries = read_lines(a.docs), read_lines(a.queries)
    rust = json.load(open(a.rust_json)) if a.rust_json else None
    print(f"torch {torch.__version__}: {len(docs)} docs, {len(queries)} queries, {torch.get_num_threads()} threads")
    with torch.inference_mode():
        enc = Encoder(a.model)
        res = {"side": "pytorch", "torch": torch.__version__, "threads": torch.get_num_threads()}
        res["docs"] = bench_docs(enc, docs, a.reps)
        if rust:
            r = rust["docs"]["sample"]
            # Cosine, not the dot product: a plain BERT folder's vectors are not unit length.
            def cosine(u, v):
                dot = sum(x * y for x, y in zip(u, v))
                return dot / (sum(x * x for x in u) ** 0.5 * sum(y * y for y in v) ** 0.5)
            cos = min(cosine(u, v) for u, v in zip(r, res["docs"]["sample"]))
            res["docs"]["min_cosine_vs_rust"] = cos
            print(f"torch: cross-check, doc vectors vs Rust: min cosine {cos:.6f}")
            res["qnet"] = [bench_qnet(enc, queries, spec) for spec in rust["qnet"]]
            for q in res["qnet"]:
                print(f"torch: cross-check, q-net {q['vector_dimensions']} vs Rust: max |diff| {q['max_abs_diff_vs_rust']}")
    if a.out:
        json.dump(res, open(a.out, "w"), indent=1)
    if rust:
        table(rust, res)


if __name__ == "__main__":
    main()
