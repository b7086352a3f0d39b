"""PyTorch anchor for the training-step benchmark (bench/train/run_step.sh):
time per step and peak memory of one contrastive training step of a
bi-encoder, as a plain autograd loop over a Hugging Face folder
(all-MiniLM-L6-v2).

One step, on the fixed batch from bench/train/make_train_batch.py (B queries, each
with a positive and a hard negative): tokenise the B queries (truncated to
--query-max-length) and the 2B documents (B positives then B negatives,
truncated to --doc-max-length), each set padded to its longest member; encode
both with the same model (shared encoder), masked mean pooling, L2
normalisation; scores = scale * [q . positives^T | q . own negative] (B x
B+1); cross-entropy with target i for query i (in-batch and hard negatives,
as the Rust trainer); backward; gradients clipped
to norm 1 (as the Rust trainer); AdamW step
(weight decay 0.01); zero_grad. Tokenisation is inside the timed step and is
also timed on its own.

Dropout is off by default (its probabilities set to 0 in the config), because
the Rust trainer has none; --dropout keeps the config's (0.1 for MiniLM).
The model is in train mode either way.

Prints one JSON line on stdout ({"impl": "pytorch", ...}) and per-step times
on stderr. loss_first is the loss of the very first step (warm-up included,
so at the initial weights); loss_last that of the last. peak_rss_mb is the
process's maximum resident set (getrusage), model loading included;
load_rss_mb is that maximum just before the first step (imports, tokenizer
and model: ~0.7 GB, 0.55 GB of it the torch and transformers imports alone
with the CUDA wheel).

    python bench/train/train_step_torch.py --model models/all-MiniLM-L6-v2 \
        --batch target/train-step/batch.jsonl [--steps 5 --warmup 1 --threads 2]
"""
import argparse
import json
import resource
import sys
import time

import torch
import torch.nn.functional as F
import transformers
from transformers import AutoModel, AutoTokenizer


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch", required=True)
    ap.add_argument("--steps", type=int, default=5, help="timed steps")
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--query-max-length", type=int, default=64)
    ap.add_argument("--doc-max-length", type=int, default=256)
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument("--scale", type=float, default=20.0)
    ap.add_argument("--attn", choices=["sdpa", "eager"], default="sdpa")
    drop = ap.add_mutually_exclusive_group()
    drop.add_argument("--no-dropout", dest="dropout", action="store_false",
                      help="dropout probabilities 0 (the default)")
    drop.add_argument("--dropout", dest="dropout", action="store_true",
                      help="keep the config's dropout")
    ap.set_defaults(dropout=False)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    transformers.logging.disable_progress_bar()
    torch.manual_seed(0)
    with open(args.batch, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    queries = [r["query"] for r in rows]
    docs = [r["positive"] for r in rows] + [r["negative"] for r in rows]

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    overrides = {} if args.dropout else {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
    model = AutoModel.from_pretrained(args.model, dtype=torch.float32,
                                      attn_implementation=args.attn, **overrides)
    model.train()
    load_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    # The Rust run's schedule: no warm-up, linear decay to 0 after the last step.
    total = args.warmup + args.steps
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: (total - step) / total)
    target = torch.arange(len(queries))

    def encode(batch):
        hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return F.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9), dim=-1)

    times, tok_times, losses = [], [], []
    for step in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        q = tokenizer(queries, padding="longest", truncation=True,
                      max_length=args.query_max_length, return_tensors="pt")
        d = tokenizer(docs, padding="longest", truncation=True,
                      max_length=args.doc_max_length, return_tensors="pt")
        t1 = time.perf_counter()
        # As the Rust trainer: each query against every positive (in-batch)
        # and its own hard negative.
        qv, dv = encode(q), encode(d)
        b = len(queries)
        pos, neg = dv[:b], dv[b:]
        scores = args.scale * torch.cat(
            [qv @ pos.T, (qv * neg).sum(-1, keepdim=True)], dim=1)
        loss = F.cross_entropy(scores, target)
        loss.backward()
        # As the Rust trainer does (max_grad_norm 1.0).
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        t2 = time.perf_counter()
        losses.append(loss.item())
        timed = step >= args.warmup
        if timed:
            times.append((t2 - t0) * 1e3)
            tok_times.append((t1 - t0) * 1e3)
        print(f"step {step}{'' if timed else ' (warm-up)'}: {(t2 - t0) * 1e3:.1f} ms "
              f"(tokenise {(t1 - t0) * 1e3:.1f} ms), loss {losses[-1]:.4f}", file=sys.stderr)

    print(json.dumps({
        "impl": "pytorch",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "attn": model.config._attn_implementation,
        "dropout": args.dropout,
        "threads": args.threads,
        "batch": len(queries),
        "steps": len(times),
        "ms_per_step": sum(times) / len(times) if times else None,
        "ms_min": min(times) if times else None,
        "tokenize_ms": sum(tok_times) / len(tok_times) if tok_times else None,
        "query_tokens": q["input_ids"].numel(),
        "doc_tokens": d["input_ids"].numel(),
        "real_query_tokens": int(q["attention_mask"].sum()),
        "real_doc_tokens": int(d["attention_mask"].sum()),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load_rss_mb": load_rss_mb,
        "loss_first": losses[0],
        "loss_last": losses[-1],
    }))


if __name__ == "__main__":
    main()
