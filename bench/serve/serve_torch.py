#!/usr/bin/env python3
"""Anchor (b) of the serving benchmark (bench/serve/run_load.sh): the search
server a user would otherwise write, FastAPI + PyTorch, computing the same
scores the way the reference code does: the query through the transformer
and the hyper-head (bench/encode/encode_vs_pytorch.py's HyperHead, the math of
crates/model/src/hyperhead.rs), then the q-net as einsums
(bench/qnet/qnet_vs_pytorch.py's qnet_forward, the reference's NoTorch blocks)
over every document vector of the same index, in chunks, and torch.topk.

It reads the index folder itself (vectors.bin: 64-byte header then row-major
f32/f16; ids.bin: a HYPSTR string table) and a Hypencoder folder whose
model.safetensors holds the transformer under query_encoder.transformer.*
(the shipped default model: shared transformer, f16 weights, computed here
in f32 like the Rust side).

    python bench/serve/serve_torch.py --index DIR --model assets/default-model \
        --base models/all-MiniLM-L6-v2 [--port 8401 --threads 2]

POST /search {"query": "...", "k": 10} -> {"hits": [{"id", "score", "rank"}]}
"""
import argparse
import json
import os
import struct
import sys

import numpy as np
import torch
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModel, AutoTokenizer

_bench = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(_bench, "encode"), os.path.join(_bench, "qnet")]
from encode_vs_pytorch import HyperHead  # noqa: E402
from qnet_vs_pytorch import qnet_forward  # noqa: E402

QUERY_MAX_LEN = 64
CHUNK = 8192


def read_vectors(index):
    with open(os.path.join(index, "manifest.json")) as f:
        manifest = json.load(f)
    n, dim = manifest["count"], manifest["dim"]
    dtype = {"f32": np.float32, "f16": np.float16}[manifest["dtype"]]
    raw = np.fromfile(os.path.join(index, "vectors.bin"), dtype=np.uint8, offset=64)
    return torch.from_numpy(raw.view(dtype).reshape(n, dim).astype(np.float32))


def read_ids(index):
    data = open(os.path.join(index, "ids.bin"), "rb").read()
    assert data[:8] == b"HYPSTR\0\x01", "not a string table"
    (count,) = struct.unpack("<Q", data[-16:-8])
    start = len(data) - 16 - 8 * (count + 1)
    offsets = struct.unpack(f"<{count + 1}Q", data[start : start + 8 * (count + 1)])
    body = data[8:start]
    return [body[offsets[i] : offsets[i + 1]].decode() for i in range(count)]


class Searcher:
    def __init__(self, index, model, base):
        with open(os.path.join(model, "config.json")) as f:
            config = json.load(f)
        dims = config["query_encoder_kwargs"]["converter_kwargs"]["vector_dimensions"]
        self.tok = AutoTokenizer.from_pretrained(base)
        self.bert = AutoModel.from_config(AutoConfig.from_pretrained(base)).eval()
        tensors = load_file(os.path.join(model, "model.safetensors"))
        prefix = "query_encoder.transformer."
        state = {k[len(prefix):]: v.float() for k, v in tensors.items() if k.startswith(prefix)}
        missing, _ = self.bert.load_state_dict(state, strict=False)
        assert not [m for m in missing if "position_ids" not in m and "pooler" not in m], missing
        self.head = HyperHead(model, dims)
        for group in self.head.weights + self.head.biases:
            for key, value in group.items():
                if torch.is_tensor(value):
                    group[key] = value.float()
        self.docs = read_vectors(index)
        self.ids = read_ids(index)

    @torch.inference_mode()
    def search(self, query, k):
        b = self.tok([query], padding=True, truncation=True, max_length=QUERY_MAX_LEN,
                     return_tensors="pt")
        hidden = self.bert(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).last_hidden_state
        weights, biases = self.head.forward(hidden, b["attention_mask"])
        biases = [bias.unsqueeze(1) for bias in biases]  # (Q, 1, out), as the reference
        n = self.docs.shape[0]
        scores = torch.empty(n)
        for s in range(0, n, CHUNK):
            x = self.docs[s : s + CHUNK].unsqueeze(0)
            scores[s : s + CHUNK] = qnet_forward(x, weights, biases).view(-1)
        top = torch.topk(scores, min(k, n))
        return [
            {"id": self.ids[i], "score": float(v), "rank": r + 1}
            for r, (v, i) in enumerate(zip(top.values.tolist(), top.indices.tolist()))
        ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--base", required=True)
    ap.add_argument("--port", type=int, default=8401)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    import uvicorn
    from fastapi import FastAPI
    from pydantic import BaseModel

    searcher = Searcher(args.index, args.model, args.base)

    class Request(BaseModel):
        query: str
        k: int = 10

    app = FastAPI()

    # A plain `def` endpoint: FastAPI runs it on its thread pool, as a user
    # would write it.
    @app.post("/search")
    def search(request: Request):
        return {"hits": searcher.search(request.query, request.k)}

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    print(f"listening on http://127.0.0.1:{args.port}", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
