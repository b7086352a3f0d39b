#!/usr/bin/env python3
"""Builds a real-text English corpus of about 1,000,000 ~200-word documents
from Debian bookworm's archive, for an end-to-end indexing benchmark.

Sources, in this order, until --target documents are written:

1. ``description``: long package descriptions from the apt lists'
   ``Translation-en`` files (no download);
2. the files of a fixed list of documentation-heavy packages (DOC_PACKAGES,
   fetched with ``apt-get download`` into --cache and read through
   ``dpkg-deb --fsys-tarfile``, so nothing is installed): ``html`` and ``text``
   (prose under /usr/share/doc), ``info`` (GNU info manuals under
   /usr/share/info) and ``changelog`` (changelog.Debian.gz, changelog.gz).

Man pages (anything under /usr/share/man, roff sources, and HTML or text
renderings of man pages) and FAQ / question-and-answer documents are never
included: they are held out for independent evaluation.

Each text is split into paragraphs; repeated paragraphs (navigation,
boilerplate, licences) are dropped; the rest is packed into ~200-word chunks
(never over 250, none under 30); chunks that do not look English and exact
duplicate chunks are dropped.

Output (under --out): ``corpus.jsonl`` (one {"id", "text", "source"} per line,
written as ``corpus.jsonl.partial`` and renamed when done) and ``stats.json``.

Usage (from the repository root):

    nice -n 19 ionice -c3 python3 bench/million/build_corpus.py \\
        [--out data/million] [--cache target/million-debs] [--target 1000000] \\
        [--packages-limit N] [--packages a,b,c] [--list-packages]
"""

import argparse
import concurrent.futures
import glob
import gzip
import html.parser
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

# Documentation packages measured in a pilot run (documents per downloaded MB
# and per CPU second, see README.md), used first.
MEASURED_PACKAGES = [
    "linux-doc-6.1", "openjdk-17-doc", "racket-doc", "python3.11-doc",
    "erlang-doc", "postgresql-doc-15",
]
# The rest is chosen by rule from the apt lists (select_packages): packages
# named like documentation, mostly text (installed >= 3x download), at least
# 2 MB installed, at most 150 MB to download, newest of each versioned family,
# without these families (generated API references that yield little prose for
# their size, other languages, PDF-only TeX documentation, huge image sets).
EXCLUDED_FAMILIES = re.compile(
    r"^(libghc-|ghc-|rust-|cargo-|scala-|texlive-|libreoffice-|lilypond-doc-html-|"
    r"castle-game-engine|fp-docs|lazarus-doc|agda|gnucash-docs|sumo-|vtk|qgis|trilinos)"
    r"|-(help|l10n|examples|data|src|dbgsym)(-|$)"
    r"|-(de|fr|es|it|ja|ru|zh|pt|pl|nl|cs|hu|ca|ko|zh-cn|zh-tw)$")
DOC_NAME_ENDINGS = ("-doc", "-docs", "-doc-html", "-manual", "-handbook")
MAX_DEB_BYTES = 150_000_000
MIN_INSTALLED_BYTES = 2_000_000

TRANSLATION_GLOBS = [
    "/var/lib/apt/lists/*_i18n_Translation-en*",
    "data/debian-pkg/apt-lists/*_i18n_Translation-en*",
]

TARGET_WORDS = 200
MAX_WORDS = 250
MIN_WORDS = 30
MAX_FILE_BYTES = 8_000_000  # larger files are generated listings, not prose
PROGRESS_SECONDS = 5.0

STOPWORDS = frozenset(
    "the of and to a in is it that for as with be on by this are or an not "
    "from at which can you if but all will has have was its these their "
    "there they one when also more other than may used use only into should "
    "each any so such how we no must been would then what".split())

TEXT_SUFFIXES = (".txt", ".rst", ".md", ".markdown", ".text", ".asciidoc", ".adoc")
HTML_SUFFIXES = (".html", ".htm", ".xhtml")
# Source code rendered as HTML (rustdoc src/, doxygen *_source.html).
SOURCE_HTML = re.compile(r"(\.(rs|c|h|cc|cpp|hpp|py|java|js|go)\.html?|_source\.html?)(\.gz)?$")
# Roff sources and their HTML renderings (foo.1.html, foo.3pm.html).
ROFF_NAME = re.compile(r"((?<![0-9])\.[0-9][a-z]*|\.(man|roff|mdoc|ms|me|pod))(\.html?)?(\.gz)?$")
ROFF_TEXT = re.compile(r"^(\.(TH|SH|Dd|Dt|Nm)\b|\.\\\"|'\\\")", re.M)
MAN_NAME_HEADING = re.compile(r"^[\W\d]*(NAME|Name)\W*$", re.M)
MAN_SYNOPSIS_HEADING = re.compile(r"^[\W\d]*(SYNOPSIS|Synopsis)\W*$", re.M)
MAN_TITLE = re.compile(r"\b[\w.+-]+\(\d[a-z]*\)")
FAQ_PATH = re.compile(r"faq|q&a|qanda|question")
FAQ_TITLE = re.compile(r"faq|frequently asked|q\s*&\s*a\b|questions and answers", re.I)
FAQ_TEXT = re.compile(r"\bFAQs?\b|frequently asked|questions and answers", re.I)
QA_LINE = re.compile(r"^\s*(Q|A|Question|Answer)\s*\d*\s*[:.)]\s", re.M)
GENERATED_API = re.compile(r'content="(Doxygen|rustdoc)|haddock-util', re.I)
# DocBook reference entries are the man pages of their manuals.
DOCBOOK_REFENTRY = re.compile(r'class="(refentry|refnamediv|refsynopsisdiv)"')
RST_MARKUP = re.compile(r":[a-z:]+:(?=`)|``|`_*|\*\*")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\"'])")
NOT_LETTERS = re.compile(r"[^A-Za-z]+")
NOT_ALNUM = re.compile(r"[\W_]+")
RULE_LINE = re.compile(r"^\s*([=\-~^*#+_.`:'\"]\s*){3,}$")
CHANGELOG_HEADER = re.compile(r"^(\S.*;\s*urgency=|\s*-- .*<.*>|\d{4}-\d\d-\d\d\s|\s*\[ .* \]\s*$)")
INFO_NOISE = re.compile(r"^(File: .*Node: |Tag Table:|End Tag Table|Local Variables:|\* Menu:|\*\s.*::)")


# ------------------------------------------------------------ package index

def read_package_index():
    """{package: record} of every package apt knows (apt-cache dumpavail)."""
    out = subprocess.run(["apt-cache", "dumpavail"], capture_output=True,
                         text=True, check=True).stdout
    index = {}
    for record in out.split("\n\n"):
        fields = dict(re.findall(r"^([A-Za-z0-9-]+): ?(.*)$", record, re.M))
        if "Package" in fields:
            index[fields["Package"]] = fields
    return index


def select_packages(index):
    """The documentation packages to use, best expected yield first."""
    newest = {}
    for name, record in index.items():
        if name in MEASURED_PACKAGES or not is_candidate(record):
            continue
        family = re.sub(r"[0-9.]+", "#", name)
        if family not in newest or natural_key(name) > natural_key(newest[family]["Package"]):
            newest[family] = record
    rest = sorted(newest.values(),
                  key=lambda r: (candidate_tier(r["Package"]), -int(r.get("Installed-Size", 0))))
    return [index[n] for n in MEASURED_PACKAGES if n in index] + rest


def is_candidate(record):
    name, section = record["Package"], record.get("Section", "")
    size = int(record.get("Size", 0))
    installed = int(record.get("Installed-Size", 0)) * 1024
    return ((section.endswith("doc") or name.endswith(DOC_NAME_ENDINGS))
            and not EXCLUDED_FAMILIES.search(name)
            and installed >= max(MIN_INSTALLED_BYTES, 3 * size) and size <= MAX_DEB_BYTES)


def candidate_tier(name):
    """Sphinx-built Python manuals, then other manuals, then Javadoc, then C/C++
    library references (often Doxygen, skipped page by page)."""
    if name.startswith(("python-", "python3-")):
        return 0
    if name.endswith("-java-doc") or "api" in name:
        return 2
    return 3 if name.startswith("lib") or "-dev-doc" in name else 1


def natural_key(name):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def read_translations(read_file):
    """(package, long description) from the Translation-en files found."""
    paths = sorted({p for g in TRANSLATION_GLOBS for p in glob.glob(g)})
    seen_md5 = set()
    for path in paths:
        for record in read_file(path).split("\n\n"):
            package = re.search(r"^Package: (.*)$", record, re.M)
            md5 = re.search(r"^Description-md5: (.*)$", record, re.M)
            body = record.split("\nDescription-en: ", 1)
            if not (package and md5 and len(body) == 2) or md5.group(1) in seen_md5:
                continue
            seen_md5.add(md5.group(1))
            yield package.group(1), body[1]


def read_apt_list(path):
    """Text of an apt list file, whatever apt compressed it with."""
    if path.endswith(".lz4") or path.endswith(".zst"):
        cmd = ["/usr/lib/apt/apt-helper", "cat-file", path]
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
        return handle.read()


def description_paragraphs(text):
    """Paragraphs of a Debian long description (continuation-line format)."""
    lines = text.split("\n")[1:]  # the first line is the synopsis
    paragraphs, current = [], []
    for line in lines:
        line = line[1:] if line.startswith(" ") else line
        if line.strip() == ".":
            paragraphs.append(" ".join(current))
            current = []
        else:
            current.append(line.strip())
    paragraphs.append(" ".join(current))
    return paragraphs


# ------------------------------------------------------------ downloading

def cached_deb(cache, package):
    """A .deb of the package already in the cache (any version), or None."""
    found = sorted(cache.glob(f"{glob.escape(package)}_*.deb"))
    return found[-1] if found else None


def download(cache, package):
    """Path of the package's .deb (None if it cannot be fetched) and the bytes
    fetched now. The lists may be older than the mirror (a superseded security
    update answers 404), so older versions are tried next."""
    if cached_deb(cache, package):
        return cached_deb(cache, package), 0
    madison = subprocess.run(["apt-cache", "madison", package], capture_output=True,
                             text=True).stdout
    versions = dict.fromkeys(line.split("|")[1].strip() for line in madison.splitlines())
    for spec in [package] + [f"{package}={v}" for v in versions]:
        cmd = ["nice", "-n", "19", "ionice", "-c3", "apt-get", "download", "-q", spec]
        done = subprocess.run(cmd, cwd=cache, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
        if done.returncode == 0 and cached_deb(cache, package):
            deb = cached_deb(cache, package)
            return deb, deb.stat().st_size
    print(f"warning: could not download {package}, skipped", file=sys.stderr)
    return None, 0


def deb_files(deb):
    """(path, bytes) of the regular files in a .deb that may hold prose."""
    cmd = ["dpkg-deb", "--fsys-tarfile", str(deb)]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE) as proc:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                path = member.name.lstrip("./")
                if member.isfile() and member.size <= MAX_FILE_BYTES and classify(path):
                    yield path, tar.extractfile(member).read()
        proc.stdout.read()  # let dpkg-deb finish writing


# ------------------------------------------------------------ classifying

def classify(path):
    """Source kind of a file by its path, or None to skip it."""
    lower = path.lower()
    name = lower.rsplit("/", 1)[-1]
    if lower.startswith("usr/share/man/") or "/man/" in lower or FAQ_PATH.search(lower):
        return None
    if lower.startswith("usr/share/info/") and ".info" in name:
        return "info"
    if not lower.startswith("usr/share/doc/") or ROFF_NAME.search(name):
        return None
    if "/_sources/" in lower or SOURCE_HTML.search(name):  # copies of other pages
        return None
    if name.startswith("changelog"):
        return "changelog"
    if is_html(name):
        return "html"
    bare = name[:-3] if name.endswith(".gz") else name
    if bare.endswith(TEXT_SUFFIXES) or bare.startswith(("readme", "news")):
        return "text"
    return None


def is_html(path):
    return path.lower().removesuffix(".gz").endswith(HTML_SUFFIXES)


def is_held_out(text, title=""):
    """Man pages and FAQ / Q&A documents, which must never be included."""
    head = text[:5000]
    if ROFF_TEXT.search(head) or MAN_TITLE.search(title):
        return True
    if MAN_NAME_HEADING.search(head) and MAN_SYNOPSIS_HEADING.search(head):
        return True
    if MAN_SYNOPSIS_HEADING.search(head[:1500]) or "=head1 NAME" in head:
        return True
    if "linkgit:" in head:  # AsciiDoc source of git's man pages
        return True
    if FAQ_TITLE.search(title) or FAQ_TEXT.search(text[:1000]):
        return True
    return len(QA_LINE.findall(text)) >= 3


# ------------------------------------------------------------ text extraction

class HtmlText(html.parser.HTMLParser):
    """Paragraphs and title of an HTML page, without code and navigation."""

    SKIP_TAGS = {"script", "style", "pre", "nav", "noscript", "svg", "math",
                 "button", "select", "textarea", "header", "footer"}
    SKIP_CLASSES = ("sidebar", "related", "navheader", "navfooter", "breadcrumb",
                    "navbar", "toc", "footer", "header", "menu", "search")
    BLOCK_TAGS = {"p", "div", "li", "br", "tr", "td", "th", "dt", "dd", "h1", "h2",
                  "h3", "h4", "h5", "h6", "blockquote", "section", "article", "table",
                  "ul", "ol", "dl", "hr", "caption", "figcaption", "summary"}
    VOID_TAGS = {"br", "hr", "img", "meta", "link", "input", "area", "base", "col",
                 "embed", "source", "track", "wbr", "param"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.paragraphs, self.current, self.title = [], [], ""
        self.skip_tag, self.skip_depth, self.in_title = None, 0, False

    def handle_starttag(self, tag, attrs):
        if tag == "title":
            self.in_title = True
        if self.skip_tag:
            self.skip_depth += tag == self.skip_tag
        elif tag not in self.VOID_TAGS and self._is_skipped(tag, dict(attrs)):
            self.skip_tag, self.skip_depth = tag, 1
        elif tag in self.BLOCK_TAGS:
            self._break()

    def _is_skipped(self, tag, attrs):
        classes = (attrs.get("class") or "").lower()
        return (tag in self.SKIP_TAGS or attrs.get("role") == "navigation"
                or any(word in classes for word in self.SKIP_CLASSES))

    def handle_endtag(self, tag):
        if tag == "title":
            self.in_title = False
        if self.skip_tag:
            self.skip_depth -= tag == self.skip_tag
            if self.skip_depth <= 0:
                self.skip_tag = None
        elif tag in self.BLOCK_TAGS:
            self._break()

    def handle_data(self, data):
        if self.in_title:
            self.title += data
        elif not self.skip_tag:
            self.current.append(data)

    def _break(self):
        if self.current:
            self.paragraphs.append("".join(self.current))
            self.current = []

    def result(self):
        self._break()
        return self.paragraphs, self.title


def html_paragraphs(text):
    parser = HtmlText()
    try:
        parser.feed(text)
        parser.close()
    except (AssertionError, ValueError):  # badly broken markup: keep what we have
        pass
    paragraphs, title = parser.result()
    return paragraphs, " ".join(title.split())


def blank_line_paragraphs(lines):
    """Paragraphs separated by blank lines, markup rules and headings dropped."""
    paragraphs, current = [], []
    for line in lines:
        if not line.strip() or RULE_LINE.match(line):
            if current:
                paragraphs.append(" ".join(current))
            current = []
        else:
            current.append(line.strip().lstrip("#*").strip())
    if current:
        paragraphs.append(" ".join(current))
    return paragraphs


def file_paragraphs(kind, path, text):
    """Paragraphs of one file, or None when it is held out."""
    if is_html(path):
        if GENERATED_API.search(text[:4000]) or DOCBOOK_REFENTRY.search(text[:50000]):
            return None
        paragraphs, title = html_paragraphs(text)
        held_out = is_held_out("\n".join(paragraphs[:200]), title)
        return None if held_out else paragraphs
    if kind != "changelog" and is_held_out(text):
        return None
    lines = text.split("\n")
    if kind == "changelog":
        lines = [line for line in lines if not CHANGELOG_HEADER.match(line)]
    elif kind == "info":
        lines = [line.replace("\x1f", "") for line in lines if not INFO_NOISE.match(line)]
    else:  # reStructuredText / Markdown: drop directives, keep the words of roles
        lines = [RST_MARKUP.sub("", line) for line in lines if not line.startswith(".. ")]
    return blank_line_paragraphs(lines)


def decode(path, data):
    if path.endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError):
            return None
    if b"\x00" in data[:4096]:
        return None
    return data.decode("utf-8", errors="replace")


# ------------------------------------------------------------ chunking

def split_long(words):
    """Pieces of at most ~TARGET_WORDS words, at sentence ends where possible."""
    pieces, current = [], []
    for sentence in SENTENCE_END.split(" ".join(words)):
        sentence_words = sentence.split()
        if current and len(current) + len(sentence_words) > TARGET_WORDS:
            pieces.append(current)
            current = []
        current.extend(sentence_words)
        while len(current) > MAX_WORDS:
            pieces.append(current[:TARGET_WORDS])
            current = current[TARGET_WORDS:]
    if current:
        pieces.append(current)
    return pieces


def chunks(paragraphs):
    """Word lists of ~TARGET_WORDS, packing whole paragraphs where they fit."""
    buffer = []
    for paragraph in paragraphs:
        words = paragraph.split()
        if len(words) > MAX_WORDS:
            if buffer:
                yield buffer
            buffer = []
            yield from split_long(words)
            continue
        if len(buffer) + len(words) > MAX_WORDS:
            yield buffer
            buffer = []
        buffer.extend(words)
        if len(buffer) >= TARGET_WORDS:
            yield buffer
            buffer = []
    if buffer:
        yield buffer


def looks_english(words, text):
    """Cheap test: mostly ASCII letters, and enough common English words."""
    letters = len(NOT_LETTERS.sub("", text))
    if letters < 0.7 * (len(text) - len(words) + 1):
        return False
    common = sum(word.lower() in STOPWORDS for word in words)
    return common >= 0.12 * len(words)


# ------------------------------------------------------------ the corpus writer

class CorpusWriter:
    """Streams deduplicated chunks to corpus.jsonl.partial and keeps stats."""

    def __init__(self, out_dir, target):
        self.partial = out_dir / "corpus.jsonl.partial"
        self.final = out_dir / "corpus.jsonl"
        self.handle = open(self.partial, "w", encoding="utf-8")
        self.target = target
        self.seen_paragraphs, self.seen_chunks = set(), set()
        self.documents = self.words = 0
        self.by_kind, self.by_package = {}, {}
        self.started = time.monotonic()
        self.last_progress = 0.0
        self.current = ""

    def full(self):
        return self.documents >= self.target

    def add_text(self, package, path, kind, paragraphs):
        """Writes the chunks of one source text; returns documents written."""
        fresh = []
        for paragraph in paragraphs:
            paragraph = " ".join(paragraph.split())
            # Letters and digits only, so that the reStructuredText and the HTML
            # of the same paragraph (linux-doc ships both) count as one.
            key = hash(NOT_ALNUM.sub("", paragraph).lower())
            if paragraph and key not in self.seen_paragraphs:
                self.seen_paragraphs.add(key)
                fresh.append(paragraph)
        written = 0
        for number, words in enumerate(chunks(fresh)):
            if self.full():
                break
            written += self._write(f"{package}/{path}#{number}", kind, package, words)
        return written

    def _write(self, doc_id, kind, package, words):
        if len(words) < MIN_WORDS:
            return 0
        text = " ".join(words)
        key = hash(text)
        if key in self.seen_chunks or not looks_english(words, text):
            return 0
        self.seen_chunks.add(key)
        self.handle.write(json.dumps({"id": doc_id, "text": text, "source": kind},
                                     ensure_ascii=False) + "\n")
        self.documents += 1
        self.words += len(words)
        for table, name in ((self.by_kind, kind), (self.by_package, package)):
            entry = table.setdefault(name, {"documents": 0, "words": 0})
            entry["documents"] += 1
            entry["words"] += len(words)
        self.progress()
        return 1

    def progress(self, force=False):
        now = time.monotonic()
        if not force and now - self.last_progress < PROGRESS_SECONDS:
            return
        self.last_progress = now
        elapsed = now - self.started
        rate = self.documents / elapsed if elapsed else 0
        eta = (self.target - self.documents) / rate / 60 if rate else float("nan")
        print(f"[{elapsed / 60:6.1f} min] {self.documents:,}/{self.target:,} documents "
              f"({rate:,.0f}/s, ETA {eta:.0f} min at this rate) - {self.current}",
              file=sys.stderr, flush=True)

    def close(self, rename):
        self.handle.close()
        if rename:
            os.replace(self.partial, self.final)


# ------------------------------------------------------------ the run

def add_descriptions(writer, stats):
    writer.current = "package descriptions"
    count = 0
    for package, text in read_translations(read_apt_list):
        if writer.full():
            break
        count += writer.add_text(package, "description", "description",
                                 description_paragraphs(text))
    stats["description_documents"] = count


def add_package(writer, package, deb):
    """Writes the chunks of every usable file of one .deb; returns the number
    of files used. Plain-text files come last and are skipped when an HTML
    page of the same name exists (linux-doc and git-doc ship both)."""
    files, text_files, html_stems = 0, [], set()
    for path, data in deb_files(deb):
        kind = classify(path)
        if kind == "html":
            html_stems.add(stem(path))
        if kind == "text":
            text_files.append((path, data))
        else:
            files += add_file(writer, package, path, kind, data)
    for path, data in text_files:
        if stem(path) not in html_stems:
            files += add_file(writer, package, path, "text", data)
    return files


def add_file(writer, package, path, kind, data):
    if writer.full():
        return 0
    text = decode(path, data)
    paragraphs = file_paragraphs(kind, path, text) if text else None
    if paragraphs:
        writer.add_text(package, path, kind, paragraphs)
    return 1 if paragraphs else 0


def stem(path):
    return path.rsplit("/", 1)[-1].split(".", 1)[0]


def package_records(index, names):
    records = []
    for name in names:
        if name in index:
            records.append(index[name])
        else:
            print(f"warning: {name} is not in the apt lists, skipped", file=sys.stderr)
    return records


def add_packages(writer, records, cache, stats):
    """Downloads (one package ahead) and reads each package until full."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        futures = [pool.submit(download, cache, r["Package"]) for r in records[:2]]
        for i, record in enumerate(records):
            if writer.full():
                break
            if i + 2 < len(records):
                futures.append(pool.submit(download, cache, records[i + 2]["Package"]))
            deb, fetched = futures[i].result()
            if deb is None:
                continue
            stats["bytes_downloaded"] += fetched
            stats["deb_bytes_used"] += deb.stat().st_size
            writer.current = f"package {i + 1}/{len(records)} {record['Package']}"
            before, started = writer.documents, time.monotonic()
            files = add_package(writer, record["Package"], deb)
            stats["packages"].append({
                "package": record["Package"], "deb_bytes": deb.stat().st_size,
                "files": files, "documents": writer.documents - before,
                "seconds": round(time.monotonic() - started, 1)})
            writer.progress(force=True)
            write_stats(writer, stats, complete=False)
        for future in futures:
            future.cancel()


def write_stats(writer, stats, complete):
    """stats.json beside the corpus (rewritten after every package, so that a
    stopped run still tells how far it got)."""
    stats.update({
        "complete": complete, "target": writer.target,
        "documents": writer.documents, "words": writer.words,
        "seconds": round(time.monotonic() - writer.started, 1),
        "by_source_kind": writer.by_kind,
        "by_package": dict(sorted(writer.by_package.items(),
                                  key=lambda item: -item[1]["documents"])),
    })
    (writer.final.parent / "stats.json").write_text(json.dumps(stats, indent=1) + "\n")


def list_packages(records):
    total = 0
    for record in records:
        total += int(record["Size"])
        print(f"{record['Package']:40} {int(record['Size']) / 1e6:9.1f} MB download "
              f"{int(record.get('Installed-Size', 0)) / 1e3:9.1f} MB installed "
              f"{total / 1e9:7.2f} GB so far")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("data/million"))
    parser.add_argument("--cache", type=Path, default=Path("target/million-debs"))
    parser.add_argument("--target", type=int, default=1_000_000)
    parser.add_argument("--packages-limit", type=int, default=None,
                        help="use only the first N documentation packages")
    parser.add_argument("--packages", default=None,
                        help="comma-separated packages to use instead of the selected ones")
    parser.add_argument("--no-descriptions", action="store_true",
                        help="skip the package descriptions (for measuring packages)")
    parser.add_argument("--list-packages", action="store_true",
                        help="print the packages that would be used, with sizes, and exit")
    return parser.parse_args()


def main():
    args = parse_args()
    index = read_package_index()
    if args.packages:
        records = package_records(index, args.packages.split(","))
    else:
        records = select_packages(index)
    records = records[:args.packages_limit]
    if args.list_packages:
        list_packages(records)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    args.cache.mkdir(parents=True, exist_ok=True)
    writer = CorpusWriter(args.out, args.target)
    stats = {"bytes_downloaded": 0, "deb_bytes_used": 0, "packages": []}
    # A stop (Ctrl-C, kill) keeps corpus.jsonl.partial and writes the stats.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        if not args.no_descriptions:
            add_descriptions(writer, stats)
        add_packages(writer, records, args.cache.resolve(), stats)
    except KeyboardInterrupt:
        writer.close(rename=False)
        write_stats(writer, stats, complete=False)
        sys.exit("stopped: corpus.jsonl.partial and stats.json hold what was written")
    writer.progress(force=True)
    writer.close(rename=True)
    write_stats(writer, stats, complete=writer.full())
    print(f"wrote {writer.documents:,} documents, {writer.words:,} words to "
          f"{writer.final}", file=sys.stderr)


if __name__ == "__main__":
    main()
