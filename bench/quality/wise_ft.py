#!/usr/bin/env python3
"""WiSE-FT (Wortsman et al., CVPR 2022) for a Hypencoder: the shared
transformer's weights interpolated between the start it was fine-tuned from
and the fine-tuned model, theta = (1 - w) * start + w * fine-tuned; the
hyper-head (which has no start) kept as trained.

    bench/quality/wise_ft.py --tuned assets/default-model --start models/all-MiniLM-L6-v2 --weight 0.5 --out runs/wise-0.5

Needs numpy only: safetensors are read and written here (an 8-byte header
length, a JSON header, raw little-endian tensors). The output folder is the
fine-tuned one's files with the new weights, in the fine-tuned one's dtype.
"""

import argparse
import json
import shutil
import struct
from pathlib import Path

import numpy as np

DTYPES = {"F16": np.float16, "F32": np.float32, "I64": np.int64, "BF16": None}
PREFIX = "query_encoder.transformer."


def read(path: Path) -> dict:
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = DTYPES[info["dtype"]]
        if dtype is None:
            raise SystemExit(f"{path}: {name} is {info['dtype']}, not read here")
        start, end = info["data_offsets"]
        tensors[name] = np.frombuffer(data[start:end], dtype=dtype).reshape(info["shape"])
    return tensors


def write(path: Path, tensors: dict) -> None:
    names = {np.dtype(np.float16): "F16", np.dtype(np.float32): "F32", np.dtype(np.int64): "I64"}
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        t = np.ascontiguousarray(tensors[name])
        blob = t.astype(t.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)
    tmp.replace(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tuned", type=Path, required=True, help="the fine-tuned Hypencoder folder")
    ap.add_argument("--start", type=Path, required=True, help="the transformer it started from")
    ap.add_argument("--weight", type=float, required=True, help="w: 1 is the fine-tuned model, 0 the start")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    tuned = read(args.tuned / "model.safetensors")
    start = read(args.start / "model.safetensors")
    mixed, moved = {}, 0
    for name, t in tuned.items():
        base = start.get(name[len(PREFIX):]) if name.startswith(PREFIX) else None
        if base is None or not np.issubdtype(t.dtype, np.floating):
            mixed[name] = t
            continue
        if base.shape != t.shape:
            raise SystemExit(f"{name}: {t.shape} here, {base.shape} in the start")
        w = args.weight
        mixed[name] = ((1 - w) * base.astype(np.float32) + w * t.astype(np.float32)).astype(t.dtype)
        moved += 1
    if moved == 0:
        raise SystemExit(f"no tensor of {args.tuned} matches {args.start} under {PREFIX}")
    if args.out.exists():
        shutil.rmtree(args.out)
    shutil.copytree(args.tuned, args.out)
    write(args.out / "model.safetensors", mixed)
    info = json.loads((args.out / "training.json").read_text()) if (args.out / "training.json").exists() else {}
    info["wise_ft"] = {"start": str(args.start), "tuned": str(args.tuned), "weight": args.weight}
    (args.out / "training.json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"{args.out}: {moved} transformer tensors at w={args.weight}, {len(mixed) - moved} kept")


if __name__ == "__main__":
    main()
