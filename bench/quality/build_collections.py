#!/usr/bin/env python3
"""Builds out-of-domain retrieval collections from Debian's archive, each a
different kind from debian-pkg (one-line synopsis -> package description):

- ``pydoc``: the Python 3.11 standard library reference (``python3.11-doc``):
  an entry's summary sentence -> the rest of its description (natural-language
  descriptions of functions, classes and attributes);
- ``info``: GNU info manuals (coreutils, grep, sed, find, diffutils, gzip,
  wget, gettext, gnupg, texinfo, bc, ed, time): a node's title -> its text
  (short, keyword-like queries against long manual sections).

Not man pages and no question-and-answer or FAQ documents: those are held out.
Queries are split train/dev/test (60/20/20) by a hash of the document id; tune
on dev only. Output under OUT (default data/quality): per collection
``corpus.jsonl``, ``queries.{train,dev,test}.jsonl``, ``qrels.{train,dev,test}.tsv``.

    bench/quality/build_collections.py [--out data/quality] [--work target/quality-debs] [--debian data/debian-pkg]

It also slices debian-pkg (``debian-slice``: a quarter of its documents and
the queries they answer) so the table holds the new collections against the
one the shipped defaults were chosen on.
"""

import argparse
import gzip
import hashlib
import html.parser
import json
import re
import subprocess
from pathlib import Path

INFO_PACKAGES = ["coreutils", "grep", "sed", "findutils", "diffutils", "gzip", "wget",
                 "gettext", "gnupg", "texinfo", "bc", "ed", "time"]
PYDOC_PACKAGE = "python3.11-doc"
MIN_DOC_CHARS = 60
SENTENCE = re.compile(r"^(.{20,400}?[.!?])(\s|$)", re.S)


def fetch(packages, work: Path) -> Path:
    """Downloads and unpacks `packages` into work/root (apt-get download:
    the user's apt state is left alone)."""
    work.mkdir(parents=True, exist_ok=True)
    root = work / "root"
    missing = [p for p in packages if not list(work.glob(f"{p}_*.deb"))]
    if missing:
        subprocess.run(["apt-get", "download", *missing], cwd=work, check=True)
    for deb in sorted(work.glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root


def split_of(doc_id: str) -> str:
    bucket = int(hashlib.sha1(doc_id.encode()).hexdigest(), 16) % 10
    return "train" if bucket < 6 else "dev" if bucket < 8 else "test"


def clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


# ---------------------------------------------------------------- info manuals

def info_nodes(root: Path):
    """(manual, node title, text) of every node of the info manuals."""
    info = root / "usr/share/info"
    for main in sorted(info.glob("*.info.gz")):
        manual = main.name[: -len(".info.gz")]
        if manual.startswith("python"):
            continue
        parts = [main] + sorted(info.glob(f"{manual}.info-*.gz"),
                                key=lambda p: int(p.name.split("-")[-1].split(".")[0]))
        raw = "".join(gzip.open(p, "rt", errors="replace").read() for p in parts)
        for chunk in raw.split("\x1f\n"):
            head, _, body = chunk.partition("\n")
            m = re.search(r"Node: ([^,\t\n]+)", head)
            if not m or not head.startswith("File:"):
                continue
            title = m.group(1).strip()
            body = body.split("* Menu:")[0]
            body = re.sub(r"\n[*=.-]{3,}\n", "\n", body)
            lines = body.strip().split("\n")
            # The section heading repeats the title: the query would be in
            # the document word for word.
            if lines and title.lower() in lines[0].lower():
                lines = lines[1:]
            yield manual, title, clean("\n".join(lines))


def build_info(root: Path):
    nodes = [(m, t, x) for m, t, x in info_nodes(root)
             if t != "Top" and "index" not in t.lower() and len(x) >= 200]
    counts = {}
    for _, t, _ in nodes:
        counts[t.lower()] = counts.get(t.lower(), 0) + 1
    docs, queries = [], []
    for manual, title, text in nodes:
        doc_id = f"{manual}:{title}".replace(" ", "_")
        docs.append({"id": doc_id, "text": text})
        # A title shared by several nodes (Overview, Invoking) has no one answer.
        if counts[title.lower()] == 1:
            queries.append((doc_id, title))
    return docs, queries


# ---------------------------------------------------------- Python reference

class Entries(html.parser.HTMLParser):
    """Sphinx's `<dl class="py ...">` entries: their id and the text of their
    `<dd>`, nested entries left out."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []        # open tags that matter: ("dl", is_py) / ("dd", entry) / ("dt", entry)
        self.entries = []      # [id, [text pieces]]
        self.pending = None    # id of the dt just read, for the next dd
        self.skip = 0          # inside a nested py dl of the current dd, or a pre/code block

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "dl":
            py = (a.get("class") or "").startswith("py ")
            self.stack.append(("dl", py))
            if py and self.current() is not None:
                self.skip += 1
        elif tag == "dt" and self.stack and self.stack[-1] == ("dl", True) and a.get("id"):
            if self.skip <= (1 if self.current() is not None else 0):
                self.pending = a["id"]
        elif tag == "dd" and self.stack and self.stack[-1][0] == "dl" and self.stack[-1][1]:
            if self.pending and self.skip <= (1 if self.current() is not None else 0):
                entry = [self.pending, []]
                self.entries.append(entry)
                self.stack.append(("dd", entry))
                self.skip = 0
                self.pending = None
                return
            self.stack.append(("dd", None))
        elif tag in ("pre", "table"):
            self.stack.append((tag, None))
            self.skip += 1

    def handle_endtag(self, tag):
        if tag in ("pre", "table") and self.stack and self.stack[-1][0] == tag:
            self.stack.pop()
            self.skip -= 1
        elif tag == "dd":
            while self.stack and self.stack[-1][0] != "dd":
                self.stack.pop()
            if self.stack:
                self.stack.pop()
        elif tag == "dl":
            while self.stack and self.stack[-1][0] != "dl":
                self.stack.pop()
            if self.stack:
                _, py = self.stack.pop()
                if py and self.skip > 0 and self.current() is not None:
                    self.skip -= 1

    def current(self):
        for kind, entry in reversed(self.stack):
            if kind == "dd":
                return entry
        return None

    def handle_data(self, data):
        entry = self.current()
        if entry is not None and self.skip == 0:
            entry[1].append(data)


def build_pydoc(root: Path):
    library = root / "usr/share/doc/python3.11/html/library"
    docs, queries, seen = [], [], set()
    for page in sorted(library.glob("*.html")):
        parser = Entries()
        parser.feed(page.read_text(errors="replace"))
        for entry_id, pieces in parser.entries:
            text = clean(" ".join(pieces)).replace("¶", "")
            m = SENTENCE.match(text)
            if not m or entry_id in seen:
                continue
            summary, rest = clean(m.group(1)), clean(text[m.end():])
            if len(rest) < MIN_DOC_CHARS or len(summary.split()) < 4:
                continue
            seen.add(entry_id)
            docs.append({"id": entry_id, "text": f"{entry_id}: {rest}"})
            queries.append((entry_id, summary))
    # A summary shared by several entries ("Return the value.") has no one answer.
    counts = {}
    for _, q in queries:
        counts[q.lower()] = counts.get(q.lower(), 0) + 1
    return docs, [(d, q) for d, q in queries if counts[q.lower()] == 1]


def write(out: Path, name: str, docs, queries):
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "corpus.jsonl", "w") as f:
        for d in docs:
            f.write(json.dumps(d) + "\n")
    by_split = {"train": [], "dev": [], "test": []}
    for n, (doc_id, text) in enumerate(queries):
        by_split[split_of(doc_id)].append((f"{name}-q{n}", doc_id, text))
    for split, rows in by_split.items():
        with open(folder / f"queries.{split}.jsonl", "w") as q, open(folder / f"qrels.{split}.tsv", "w") as r:
            for qid, doc_id, text in rows:
                q.write(json.dumps({"id": qid, "text": text}) + "\n")
                r.write(f"{qid} 0 {doc_id} 1\n")
    sizes = {s: len(r) for s, r in by_split.items()}
    print(f"{name}: {len(docs)} documents, queries {sizes}")


def debian_slice(source: Path, out: Path, share: int = 25):
    """An in-domain slice of debian-pkg (built by scripts/build-debian-pkg):
    the documents whose id hashes into the first `share` percent, and the
    queries of each split whose answer is among them, so the table holds the
    new collections against the one the defaults were chosen on at a size
    that indexes in minutes."""
    keep = {}
    for line in open(source / "corpus.jsonl"):
        doc = json.loads(line)
        if int(hashlib.sha1(doc["id"].encode()).hexdigest(), 16) % 100 < share:
            keep[doc["id"]] = doc
    folder = out / "debian-slice"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "corpus.jsonl", "w") as f:
        for doc in keep.values():
            f.write(json.dumps(doc) + "\n")
    sizes = {}
    for split in ("train", "dev", "test"):
        answer = {}
        for line in open(source / f"qrels.{split}.tsv"):
            qid, _, doc, _ = line.split()
            answer[qid] = doc
        n = 0
        with open(folder / f"queries.{split}.jsonl", "w") as q, open(folder / f"qrels.{split}.tsv", "w") as r:
            for line in open(source / f"queries.{split}.jsonl"):
                query = json.loads(line)
                if answer.get(query["id"]) in keep:
                    q.write(line if line.endswith("\n") else line + "\n")
                    r.write(f"{query['id']} 0 {answer[query['id']]} 1\n")
                    n += 1
        sizes[split] = n
    print(f"debian-slice: {len(keep)} documents, queries {sizes}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="data/quality", type=Path)
    ap.add_argument("--work", default="target/quality-debs", type=Path)
    ap.add_argument("--debian", default="data/debian-pkg", type=Path,
                    help="debian-pkg as scripts/build-debian-pkg writes it (sliced to debian-slice)")
    args = ap.parse_args()
    if (args.debian / "corpus.jsonl").exists():
        debian_slice(args.debian, args.out)
    else:
        print(f"{args.debian} missing: run scripts/build-debian-pkg first for the in-domain slice")
    root = fetch(INFO_PACKAGES + [PYDOC_PACKAGE], args.work)
    write(args.out, "info", *build_info(root))
    write(args.out, "pydoc", *build_pydoc(root))


if __name__ == "__main__":
    main()
