#!/usr/bin/env python3
"""Builds the benchmark's text set from real English text that every Debian
machine has offline: /usr/share/common-licenses/* and /usr/share/doc/*/copyright.

Writes, one text per line (whitespace collapsed, so a line is a document):
  docs.txt     chunks of ~175 words (never spanning two source files)
  queries.txt  the first 10 words of evenly spaced chunks

Standard library only; deterministic (sorted sources, no randomness), so the
Rust and PyTorch sides read the exact same texts.

    python3 bench/encode/make_texts.py OUT_DIR [--docs 1024] [--queries 64]
"""

import argparse
import glob
import hashlib
import os
import re

CHUNK_WORDS = 175
MIN_LAST_CHUNK = 100
QUERY_WORDS = 10

# DEP-5 copyright-file headers are metadata, not prose.
FIELD = re.compile(r"^(Format|Files|Copyright|License|Upstream-[A-Za-z]+|Source|Disclaimer|Comment):")


def sources():
    seen = set()
    files = sorted(glob.glob("/usr/share/common-licenses/*")) + sorted(
        glob.glob("/usr/share/doc/*/copyright")
    )
    for path in files:
        real = os.path.realpath(path)
        if real in seen or not os.path.isfile(real):
            continue
        seen.add(real)
        yield path


def paragraphs(text):
    """Blank lines (or DEP-5's lone ' .') separate paragraphs."""
    para = []
    for line in text.splitlines():
        s = line.strip()
        if not s or s == ".":
            if para:
                yield " ".join(para)
            para = []
        elif FIELD.match(line):
            # The value after "License: GPL-2+" etc. is a name, not prose.
            if para:
                yield " ".join(para)
            para = []
        else:
            para.append(s)
    if para:
        yield " ".join(para)


def is_prose(p):
    words = p.split()
    if len(words) < 8:
        return False
    chars = [c for c in p if not c.isspace()]
    letters = sum(c.isalpha() for c in chars)
    # Lists of names/years/e-mails and ASCII art have few letters per char.
    return letters / len(chars) > 0.75 and "@" not in p


def build(n_docs):
    seen_paras = set()
    docs = []
    for path in sources():
        try:
            text = open(path, encoding="utf-8", errors="strict").read()
        except (UnicodeDecodeError, OSError):
            continue
        words = []
        for p in paragraphs(text):
            p = " ".join(p.split())
            key = hashlib.sha1(p.lower().encode()).digest()
            # Copyright files repeat the same licences hundreds of times.
            if key in seen_paras or not is_prose(p):
                continue
            seen_paras.add(key)
            words.extend(p.split())
        for i in range(0, len(words), CHUNK_WORDS):
            chunk = words[i : i + CHUNK_WORDS]
            if len(chunk) >= MIN_LAST_CHUNK:
                docs.append(" ".join(chunk))
            if len(docs) >= n_docs:
                return docs
    return docs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--docs", type=int, default=1024)
    ap.add_argument("--queries", type=int, default=64)
    a = ap.parse_args()
    docs = build(a.docs)
    if len(docs) < a.docs:
        print(f"warning: only {len(docs)} documents of real text found (asked for {a.docs})")
    step = max(1, len(docs) // a.queries)
    queries = [" ".join(d.split()[:QUERY_WORDS]) for d in docs[::step][: a.queries]]
    os.makedirs(a.out_dir, exist_ok=True)
    with open(os.path.join(a.out_dir, "docs.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(docs) + "\n")
    with open(os.path.join(a.out_dir, "queries.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(queries) + "\n")
    n_words = sum(len(d.split()) for d in docs)
    print(f"texts: {len(docs)} docs ({n_words / len(docs):.0f} words avg), {len(queries)} queries -> {a.out_dir}")


if __name__ == "__main__":
    main()
