#!/usr/bin/env python3
"""Documents/s of all-MiniLM-L6-v2 under PyTorch f32, ONNX Runtime fp32 and
ONNX Runtime int8: anchors for the Rust encoder's figure (bench/encode/README.md).

Same workload as encode_vs_pytorch.py: texts sorted by UTF-8 byte length,
longest first (stable), chunks of --batch, each padded to its longest member,
tokenisation (HF tokenizer) inside the timed loop, masked mean pooling + L2
normalisation. One warm-up batch, then one timed pass per system.

The ONNX file is exported once (torch.onnx.export) into --work, and the int8
copies made from it with onnxruntime's quantize_dynamic, at its defaults
(per_channel=False) and with per_channel=True. Each system's vectors are
saved as WORK/vectors-NAME.npy, rows in docs.txt order.

    python bench/encode/encode_onnx.py --model models/all-MiniLM-L6-v2 \
        --texts target/bench-encode --out target/bench-encode/onnx.json [--limit 96]
"""

import argparse
import collections
import json
import os
import time
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F
import transformers
from onnxruntime.quantization import QuantType, quantize_dynamic
from transformers import AutoModel, AutoTokenizer

INPUTS = ["input_ids", "attention_mask", "token_type_ids"]
OPSET = 17  # first opset with a LayerNormalization op


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [l.rstrip("\n") for l in f if l.strip()]


class LastHidden(torch.nn.Module):
    """BertModel with the three inputs by keyword and one output: transformers
    5's forward takes other arguments positionally, which tracing would feed."""

    def __init__(self, bert):
        super().__init__()
        self.bert = bert

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                         token_type_ids=token_type_ids).last_hidden_state


def export(bert, tok, path):
    """The TorchScript exporter (dynamo=False): it is the one that takes
    dynamic_axes, and the default dynamo exporter needs onnxscript too.
    Returns the export's warnings, de-duplicated, for the JSON."""
    # A padded sample, so the traced graph carries a real attention mask.
    sample = tok(["a short text", "a somewhat longer text, so that the first one is padded"],
                 padding=True, return_tensors="pt")
    axes = {n: {0: "batch", 1: "sequence"} for n in INPUTS + ["last_hidden_state"]}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # .eval() matters: export restores the wrapper's own mode afterwards, and a
        # fresh module is in training mode, which would switch dropout on in bert.
        torch.onnx.export(LastHidden(bert).eval(), tuple(sample[n] for n in INPUTS), path, dynamo=False,
                          input_names=INPUTS, output_names=["last_hidden_state"],
                          dynamic_axes=axes, opset_version=OPSET)
    for w in caught:
        warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    return sorted({f"{w.category.__name__}: {str(w.message).splitlines()[0][:200]}" for w in caught})


def quantize(src, dst, per_channel):
    """quantize_dynamic as a new user calls it; only the per_channel flag varies."""
    settings = dict(weight_type="QInt8", per_channel=per_channel, reduce_range=False,
                    op_types_to_quantize="default (all onnxruntime supports)", pre_process="none")
    if not os.path.exists(dst):
        quantize_dynamic(src, dst, weight_type=QuantType.QInt8, per_channel=per_channel)
    return settings


def op_counts(path):
    """Op types of a graph: shows what quantize_dynamic actually quantised."""
    c = collections.Counter(n.op_type for n in onnx.load(path, load_external_data=False).graph.node)
    return dict(sorted(c.items()))


def mean_pool(h, mask):
    """Masked mean pooling + L2 normalisation, numpy (ONNX Runtime side)."""
    m = mask[..., None].astype(h.dtype)
    pooled = (h * m).sum(1) / np.maximum(m.sum(1), 1)
    return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)


class TorchEncoder:
    def __init__(self, tok, bert, max_length):
        self.tok, self.bert, self.max_length = tok, bert, max_length

    def __call__(self, texts):
        b = self.tok(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        with torch.inference_mode():
            h = self.bert(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).last_hidden_state
            m = b["attention_mask"].unsqueeze(-1).to(h.dtype)
            return F.normalize((h * m).sum(1) / m.sum(1).clamp(min=1), p=2, dim=-1).numpy()


class OrtEncoder:
    def __init__(self, tok, path, max_length, threads):
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        self.tok, self.max_length = tok, max_length

    def __call__(self, texts):
        b = self.tok(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="np")
        feed = {n: b[n].astype(np.int64) for n in INPUTS}
        (h,) = self.sess.run(["last_hidden_state"], feed)
        return mean_pool(h, b["attention_mask"])


def encode_sorted(enc, texts, batch):
    """encode_docs_batched's order: longest (UTF-8 bytes) first, stable.
    Returns the order and the vectors in that order."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i].encode("utf-8")))
    vecs = [enc([texts[i] for i in order[s : s + batch]]) for s in range(0, len(order), batch)]
    return order, np.concatenate(vecs)


def bench(name, enc, texts, batch, work):
    enc(texts[:batch])  # warm-up batch
    t = time.perf_counter()
    order, vecs = encode_sorted(enc, texts, batch)
    seconds = time.perf_counter() - t
    in_file_order = np.empty_like(vecs)
    in_file_order[order] = vecs
    path = os.path.join(work, f"vectors-{name}.npy")
    np.save(path, in_file_order.astype(np.float32))
    print(f"{name}: {len(texts) / seconds:.2f} docs/s ({len(texts)} docs in {seconds:.2f} s)", flush=True)
    return {"docs_per_s": len(texts) / seconds, "seconds": seconds, "vectors": path}, vecs


def cosines(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    c = (a.astype(np.float64) * b).sum(1)
    return float(c.min()), float(c.mean())


def ref_in_file_order(work):
    return np.load(os.path.join(work, "vectors-torch-f32.npy"))


def rust_systems(path, docs, ref):
    """The Rust bench's documents/s per precision, and its vectors (raw f32,
    docs.txt order) against PyTorch f32's."""
    with open(path) as f:
        rust = json.load(f)
    out = {}
    for r in rust["docs_by_precision"]:
        if r["n"] != len(docs) or "vectors" not in r:
            raise SystemExit(f"{path}: {r['precision']} covers {r['n']} docs without vectors or not {len(docs)}")
        vecs = np.fromfile(r["vectors"], dtype="<f4").reshape(len(docs), -1)
        res = {"docs_per_s": r["docs_per_s"], "seconds": r["seconds"], "vectors": r["vectors"]}
        res["min_cosine_vs_torch"], res["mean_cosine_vs_torch"] = cosines(vecs, ref)
        out[f"rust-{r['precision']}"] = res
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/all-MiniLM-L6-v2")
    ap.add_argument("--texts", default="target/bench-encode", help="folder with docs.txt (make_texts.py)")
    ap.add_argument("--work", default="target/bench-encode/onnx", help="ONNX files and vectors")
    ap.add_argument("--out", help="JSON results")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--limit", type=int, help="only the first N docs (a quick check)")
    ap.add_argument("--rust-json", help="the Rust bench's JSON (BENCH_OUT, with BENCH_VECTORS): its "
                    "systems join the table, their vectors compared with PyTorch's")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    os.makedirs(a.work, exist_ok=True)
    docs = read_lines(os.path.join(a.texts, "docs.txt"))[: a.limit]
    tok = AutoTokenizer.from_pretrained(a.model)
    bert = AutoModel.from_pretrained(a.model).eval()
    versions = {"torch": torch.__version__, "onnxruntime": ort.__version__, "onnx": onnx.__version__,
                "transformers": transformers.__version__, "numpy": np.__version__}
    print(f"{len(docs)} docs, batch {a.batch}, max length {a.max_length}, {a.threads} threads; "
          + ", ".join(f"{k} {v}" for k, v in versions.items()), flush=True)

    fp32 = os.path.join(a.work, "model.onnx")
    exp = {"exporter": "torch.onnx.export, dynamo=False (TorchScript)", "opset": OPSET, "path": fp32}
    if os.path.exists(fp32):
        exp["reused"] = True
    else:
        exp["reused"], exp["warnings"] = False, export(bert, tok, fp32)
    variants = {"ort-int8": False, "ort-int8-per-channel": True}  # name -> per_channel
    quant = {}
    for name, per_channel in variants.items():
        path = os.path.join(a.work, f"model-{name.removeprefix('ort-')}.onnx")
        quant[name] = quantize(fp32, path, per_channel) | {"path": path, "ops": op_counts(path),
                                                           "bytes": os.path.getsize(path)}

    systems, ref = {}, None
    runs = [("torch-f32", lambda: TorchEncoder(tok, bert, a.max_length)),
            ("ort-fp32", lambda: OrtEncoder(tok, fp32, a.max_length, a.threads))]
    runs += [(n, lambda p=q["path"]: OrtEncoder(tok, p, a.max_length, a.threads)) for n, q in quant.items()]
    for name, make in runs:
        res, vecs = bench(name, make(), docs, a.batch, a.work)
        ref = vecs if ref is None else ref
        res["min_cosine_vs_torch"], res["mean_cosine_vs_torch"] = cosines(vecs, ref)
        systems[name] = res

    if a.rust_json and not a.limit:  # the Rust side always encodes every document
        systems.update(rust_systems(a.rust_json, docs, ref_in_file_order(a.work)))

    print(f"\n{'system':<22} {'docs/s':>8} {'seconds':>8} {'min cos':>9} {'mean cos':>9}")
    for name, r in systems.items():
        print(f"{name:<22} {r['docs_per_s']:>8.2f} {r['seconds']:>8.2f} "
              f"{r['min_cosine_vs_torch']:>9.6f} {r['mean_cosine_vs_torch']:>9.6f}")
    print("(cosines: each document's vector against PyTorch f32's)")
    if a.out:
        res = {"n_docs": len(docs), "batch": a.batch, "max_length": a.max_length, "threads": a.threads,
               "model": os.path.abspath(a.model), "versions": versions, "export": exp,
               "quantization": quant, "systems": systems}
        with open(a.out, "w") as f:
            json.dump(res, f, indent=1)
        print(f"results: {a.out}")


if __name__ == "__main__":
    main()
