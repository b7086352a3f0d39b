"""Ray's overhead on encoding: documents/s of `hypencoder index` alone, and
of hypencoder.ray.encode_corpus with 1 and 2 actors (each actor one CPU),
on the same corpus and model, in one run. Prints a Markdown table and JSON.

    python bench/ray/ray_encode.py --corpus C.jsonl --bin target/release/hypencoder [--model DIR]
"""

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time

import ray

import hypencoder
from hypencoder.ray import encode_corpus


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--corpus", required=True)
    p.add_argument("--bin", required=True)
    p.add_argument("--model", default="assets/default-model", help="a model folder (default: the shipped default model)")
    p.add_argument("--block-size", type=int, default=1024)
    args = p.parse_args()
    model = os.path.abspath(args.model)
    docs = sum(1 for line in open(args.corpus) if line.strip())
    work = tempfile.mkdtemp(prefix="ray-bench-")
    rows = []
    try:
        t = time.perf_counter()
        subprocess.run(
            [args.bin, "index", "--model", model, "--corpus", args.corpus,
             "--index", f"{work}/cli"],
            check=True, capture_output=True,
        )
        cli_s = time.perf_counter() - t
        rows.append(("hypencoder index (2 cores, rayon)", cli_s))
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        for actors in (1, 2):
            # Each actor's engine uses the CPUs Ray gives it: 2 for one
            # actor, 1 each for two (encode_corpus sets its thread pool).
            cpus = 2 // actors
            t = time.perf_counter()
            encode_corpus(args.corpus, f"{work}/ray{actors}", model, actors=actors,
                          cpus_per_actor=cpus, block_size=args.block_size)
            rows.append((f"hypencoder.ray, {actors} actor(s) x {cpus} CPU", time.perf_counter() - t))
        ray.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{docs} documents, model {model}\n")
    print("| run | seconds | documents/s | ratio to `hypencoder index` |\n|---|---:|---:|---:|")
    for name, s in rows:
        print(f"| {name} | {s:.1f} | {docs / s:.1f} | {cli_s / s:.2f} |")
    print(json.dumps({"docs": docs, "runs": {n: s for n, s in rows}}))


if __name__ == "__main__":
    main()
